#!/usr/bin/env bash
# Rebuild every RESCO table and figure in this folder from the committed run directories.
# Run from the repository root: bash results/resco_v1/regenerate.sh
set -euo pipefail
runs=results/resco_v1/runs
out=results/resco_v1
fmat table $runs --out $out/delay.md
fmat table $runs --format csv --out $out/delay.csv
fmat table $runs --last-episodes 10 --out $out/delay_last10.md
fmat table $runs --last-episodes 10 --format csv --out $out/delay_last10.csv
fmat table $runs --best-episode --with-resco --out $out/delay_best_with_resco.md
fmat table $runs --best-episode --with-resco --format csv --out $out/delay_best_with_resco.csv
for metric in travel_time waiting_time throughput; do
  fmat table $runs --metric $metric --out $out/$metric.md
  fmat table $runs --metric $metric --format csv --out $out/$metric.csv
done
fmat plot $runs --out $out/curves.png --log-y
