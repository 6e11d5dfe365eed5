#!/bin/sh
# Reproduce the shipped models end to end (see README.md). Usage: sh run_all.sh [/tmp/lt_runs]
# Stage 1: the first 7 epochs of a 36-epoch one-cycle schedule from ImageNet weights (the run was stopped there
# because the shared CPU was saturated); stage 2: 6 epochs of a fresh short one-cycle (max lr 1.5e-4) from it.
set -e
cd "$(dirname "$0")"
R=${1:-/tmp/lt_runs}
/usr/bin/python3 train_slice.py --out "$R/stage1" --epochs 36 --stop-after 7
/usr/bin/python3 train_slice.py --out "$R/stage2" --init "$R/stage1/last.pt" --epochs 6 --lr 1.5e-4 --pct-start 0.05
/usr/bin/python3 train_patient.py --run "$R/stage2" --epochs 6
/usr/bin/python3 evaluate.py --run "$R/stage2" --figures ../figures
/usr/bin/python3 export.py --run "$R/stage2"
/usr/bin/python3 test_parity.py
