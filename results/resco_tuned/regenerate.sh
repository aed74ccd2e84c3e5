#!/usr/bin/env bash
# Rebuild the second edition's tuned RESCO tables and figure from the committed run files: the same
# tables as the untuned study's. Run from the repository root: bash results/resco_tuned/regenerate.sh
set -euo pipefail
exec bash results/resco/regenerate.sh results/resco_tuned/runs results/resco_tuned
