#!/usr/bin/env bash
# Rebuild the second edition's transfer tables from the committed run files. Each zero-shot row is
# followed by the same learner trained on each target map: the transfer runs for grid4x4 and
# cologne8, the tuned RESCO comparison (results/resco_tuned/runs) for the other RESCO maps.
# Run from the repository root: bash results/transfer/regenerate.sh
set -euo pipefail
out=results/transfer
fmat table --transfer $out/runs results/resco_tuned/runs --out $out/delay.md
fmat table --transfer $out/runs results/resco_tuned/runs --format csv --out $out/delay.csv
fmat plot $out/runs --out $out/curves.png --log-y
