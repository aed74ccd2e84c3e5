#!/usr/bin/env bash
# Rebuild the second edition's RESCO tables and figure from the committed run files.
# Run from the repository root: bash results/resco/regenerate.sh
# (results/resco_tuned/regenerate.sh runs it on the tuned study: RUNS_DIR OUT_DIR)
set -euo pipefail
runs=${1:-results/resco/runs}
out=${2:-results/resco}
# headline: greedy final-policy evaluation, RESCO's published delays beside ours (labelled as theirs)
fmat table $runs --with-resco --out $out/delay.md
fmat table $runs --with-resco --format csv --out $out/delay.csv
# the PPO learners' sampled evaluation (the others act the same way in both)
fmat table $runs --eval sampled --out $out/delay_sampled.md
fmat table $runs --eval sampled --format csv --out $out/delay_sampled.csv
# each run's median over its 10 evaluation episodes: one gridlocked episode cannot decide a cell
fmat table $runs --episode-median --out $out/delay_median.md
fmat table $runs --episode-median --format csv --out $out/delay_median.csv
for metric in travel_time waiting_time throughput; do
  fmat table $runs --metric $metric --out $out/$metric.md
  fmat table $runs --metric $metric --format csv --out $out/$metric.csv
done
fmat plot $runs --out $out/curves.png --log-y
