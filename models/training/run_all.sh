#!/bin/sh
# Reproduce the shipped models end to end (see README.md). Usage: sh run_all.sh [/tmp/lt_runs/v2]
# 30 epochs of the slice network from the 1.2.0 weights (~18 min on 2 free CPU cores), the evaluation on never-trained-on
# data (operating points, figures), export and the parity checks.
set -e
cd "$(dirname "$0")"
R=${1:-/tmp/lt_runs/v2}
/usr/bin/python3 train_slice.py --out "$R" --epochs 30 --eval-every 5
/usr/bin/python3 finetune_decoder.py --run "$R"
/usr/bin/python3 evaluate.py --run "$R" --figures ../figures
/usr/bin/python3 export.py --run "$R"
/usr/bin/python3 test_parity.py
(cd ../.. && node models/training/check_onnx.js)
