#!/usr/bin/env bash
# Rebuild the second edition's scaling tables and figure from the committed run files.
# Run from the repository root: bash results/scaling/regenerate.sh
set -euo pipefail
runs=results/scaling/runs
out=results/scaling
fmat table $runs --out $out/delay.md                    # delay after the budget (greedy evaluation)
fmat table $runs --format csv --out $out/delay.csv
fmat table $runs --eval sampled --out $out/delay_sampled.md
fmat table $runs --eval sampled --format csv --out $out/delay_sampled.csv
fmat table $runs --metric episode_seconds --out $out/episode_seconds.md   # training cost per episode
fmat table $runs --metric episode_seconds --format csv --out $out/episode_seconds.csv
fmat plot $runs --x seconds --out $out/curves.png --log-y
fmat table $runs --metric waiting_time --out $out/waiting_time.md   # what the learners' `wait` reward measures
fmat table $runs --metric waiting_time --format csv --out $out/waiting_time.csv
