#!/usr/bin/env bash
# The main job on embedded defaults: set-up, then `lung-triage demo` (embedded PostgreSQL, a local worker, the gateway,
# a study sent through STOW-RS, results written to a local folder).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/src/cli.js demo "$@"
