"""Benchmarks (`fmat perf ...`): speed measured side by side in one run, reported as ratios."""
