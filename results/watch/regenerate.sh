#!/usr/bin/env bash
# Redraw the per-signal maps from the committed run files (eval.json of each run); nothing is simulated.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=results/watch/runs
for metric in queue waiting switches; do
    fmat map $runs/ingolstadt21__fmat__s0 --against $runs/ingolstadt21__greedy__s0 --metric $metric \
        --out results/watch/fmat_vs_greedy_$metric.png
done
fmat map $runs/ingolstadt21__fmat__s0 --metric queue --out results/watch/fmat_queue.png
