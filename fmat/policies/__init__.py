"""fmat's own policies (f-MAT). Baselines live in fmat.baselines."""
