#!/usr/bin/env bash
# Rebuild the second edition's transfer tables from the committed run files. Each zero-shot row is
# followed by the same learner trained on each target map: the transfer runs for grid4x4 and
# cologne8, the tuned RESCO comparison (results/resco_tuned/runs) for the other RESCO maps. Each
# classical controller gets a row on each target: from results/resco_tuned/runs on the RESCO maps,
# from results/transfer/controllers (experiments/transfer_controllers.yaml) on grid-8x8 and grid-16x16,
# where each learner trained on the target comes from results/transfer/targets (experiments/transfer_targets.yaml).
# Run from the repository root: bash results/transfer/regenerate.sh
set -euo pipefail
out=results/transfer
fmat table --transfer $out/runs results/resco_tuned/runs $out/controllers $out/targets --out $out/delay.md
fmat table --transfer $out/runs results/resco_tuned/runs $out/controllers $out/targets --format csv --out $out/delay.csv
# The reward every run trains on (`wait`, waiting time) beside the delay the tables rank by: on the
# synthetic targets the two disagree (README, "Transfer, second edition").
fmat table $out/targets $out/controllers --scenarios grid-8x8,grid-16x16 --metric waiting_time --out $out/targets_waiting_time.md
fmat plot $out/runs --out $out/curves.png --log-y
