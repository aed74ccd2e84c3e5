#!/usr/bin/env bash
# Rebuild the transfer tables and training curves in this folder from the committed run directories.
# Run from the repository root: bash results/transfer_v1/regenerate.sh
set -euo pipefail
runs=results/transfer_v1/runs
out=results/transfer_v1
fmat table $runs --transfer --out $out/delay.md
fmat table $runs --transfer --format csv --out $out/delay.csv
fmat table $runs --out $out/own_map_delay.md
fmat table $runs --format csv --out $out/own_map_delay.csv
fmat plot $runs --out $out/curves.png --log-y
