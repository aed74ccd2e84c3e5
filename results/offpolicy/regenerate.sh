#!/usr/bin/env bash
# Tables of the off-policy pilot beside the RESCO study's learners and controllers on the same maps,
# from the committed run files. Classical controllers and PPO learners come from results/resco_v1/runs
# (3 evaluation episodes per run there; 10 in the pilot).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=results/offpolicy
maps=grid4x4,cologne8,ingolstadt7
present=$(ls results/offpolicy/runs | sed 's/.*__\(.*\)__s[0-9]*/\1/' | sort -u | paste -sd, -)
algorithms=fmat,ippo,$present,greedy,max_pressure,fixed_time
for fmt in md csv; do
    fmat table results/offpolicy/runs results/resco_v1/runs --scenarios $maps --algorithms $algorithms --with-resco \
        --format $fmt --out $out/delay.$fmt
done
fmat plot results/offpolicy/runs results/resco_v1/runs --scenarios $maps --algorithms $algorithms --out $out/curves.png
