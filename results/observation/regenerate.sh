#!/usr/bin/env bash
# Tables and figure of the observation ablation, from the committed run files, beside the classical
# controllers of the RESCO study on the same maps (3 seeds, 3 evaluation episodes per run there;
# 10 per run here). Zero-shot transfer: the phases-layout f-MAT trained on grid4x4, evaluated on
# cologne8 and ingolstadt7 (RUN/transfer/*.json, written by transfer.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=results/observation
controllers=$(ls -d results/resco_v1/runs/{grid4x4,cologne8,ingolstadt7}__{greedy,max_pressure,fixed_time}__s*)
# IDQN's lanes arm is the off-policy pilot's runs (the same budget and evaluation).
runs="results/observation/runs $(ls -d results/offpolicy/runs/*__idqn__s*)"
for fmt in md csv; do
    fmat table $runs $controllers --format $fmt --out $out/delay.$fmt
    fmat table $runs $controllers --format $fmt --eval sampled --out $out/delay_sampled.$fmt
done
fmat plot $runs $controllers --out $out/curves.png
if ls results/observation/runs/phases/grid4x4__fmat__s*/transfer/*.json >/dev/null 2>&1; then
    fmat table results/observation/runs/phases/grid4x4__fmat__s* --transfer --out $out/transfer.md
fi
