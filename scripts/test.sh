#!/usr/bin/env bash
# The whole check, as CI runs it: set-up, typecheck, lint (zero warnings), then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
npm run --silent typecheck
npm run --silent lint
npx jest --ci
