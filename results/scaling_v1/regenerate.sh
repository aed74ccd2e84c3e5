#!/usr/bin/env bash
# Rebuild the scaling tables and training curves in this folder from the committed run directories.
# Run from the repository root: bash results/scaling_v1/regenerate.sh
set -euo pipefail
runs=results/scaling_v1/runs
out=results/scaling_v1
fmat table $runs --out $out/delay.md
fmat table $runs --format csv --out $out/delay.csv
fmat table $runs --metric episode_seconds --out $out/episode_seconds.md
fmat table $runs --metric episode_seconds --format csv --out $out/episode_seconds.csv
fmat plot $runs --x seconds --out $out/curves.png --log-y
