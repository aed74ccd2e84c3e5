#!/usr/bin/env bash
# Tables and figure of the reward ablation (experiments/reward.yaml and reward_8x8.yaml), from the
# committed run files, beside the scaling study's controllers (3 seeds, 10 evaluation episodes, as
# here). The `wait` arm of CoLight and MPLight on rush-4x4, and of f-MAT, IPPO, IDQN, MAPPO, MAT and
# MPLight on rush-8x8, is the scaling study's own runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=results/reward
runs="results/reward/runs $(ls -d results/scaling/runs/rush-4x4__{colight,mplight,greedy,max_pressure,fixed_time}__s*)
      $(ls -d results/scaling/runs/rush-8x8__{fmat,ippo,idqn,mappo,mat,mplight,greedy,max_pressure,fixed_time}__s*)"
for fmt in md csv; do
    fmat table $runs --format $fmt --out $out/delay.$fmt
    fmat table $runs --format $fmt --eval sampled --out $out/delay_sampled.$fmt
    fmat table $runs --format $fmt --metric waiting_time --out $out/waiting_time.$fmt
    fmat table $runs --format $fmt --metric episode_seconds --out $out/episode_seconds.$fmt
done
fmat plot $runs --out $out/curves.png --log-y
