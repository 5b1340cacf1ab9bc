#!/usr/bin/env bash
# The node modules of tools/fhir (the independent FHIR R4 validator the end-to-end tests run on
# every resource the server emits), pinned by tools/fhir/package-lock.json, in
# tools/fhir/node_modules. Prints nothing when they are already there for this lockfile.
set -euo pipefail
cd "$(dirname "$0")/fhir"
stamp=node_modules/.sealroom-installed
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "fhir-deps.sh: node and npm are needed" >&2; exit 1; }
# npm ci empties node_modules first, so a stale or half-done install is replaced whole.
timeout 300 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
echo "$want" > "$stamp"
