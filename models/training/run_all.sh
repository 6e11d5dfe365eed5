#!/bin/sh
# Reproduce the shipped models end to end (see README.md). Usage: sh run_all.sh [/tmp/lt_runs/clean]
# One clean 20-epoch one-cycle run of the slice network from ImageNet weights (~20 min on 2 free CPU cores),
# then the patient heads (with temperature calibration), the lesion map's location prototype, metrics and figures,
# export and the parity check.
set -e
cd "$(dirname "$0")"
R=${1:-/tmp/lt_runs/clean}
/usr/bin/python3 train_slice.py --out "$R" --epochs 20
/usr/bin/python3 train_patient.py --run "$R" --epochs 6
/usr/bin/python3 fit_location.py --run "$R"
/usr/bin/python3 evaluate.py --run "$R" --figures ../figures
/usr/bin/python3 export.py --run "$R"
/usr/bin/python3 test_parity.py
