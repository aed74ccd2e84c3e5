#!/usr/bin/env bash
# Zero-shot transfer of the phases-layout f-MAT trained on grid4x4 (needs the runs' checkpoints,
# which are not committed): 10 greedy evaluation episodes on each target, into RUN/transfer/.
set -euo pipefail
cd "$(dirname "$0")/../.."
for run in results/observation/runs/phases/grid4x4__fmat__s*; do
    for target in cologne8 ingolstadt7; do
        [ -f "$run/transfer/$target.json" ] && continue
        mkdir -p "$run/transfer"
        fmat evaluate "$run" --scenario "$target" --episodes 10 --out "$run/transfer/$target.json"
    done
done
