#!/usr/bin/env bash
# SCIM 2.0 conformance: starts the real server (SQLite, self-signed TLS, loopback), creates a
# service token with the scim scope as an operator would, and runs every check of the
# independent scim2-tester against /scim/v2. Fails unless every check reports SUCCESS.
#
#   tools/scim-conformance.sh            # uses target/debug/sealroom (SEALROOM_BIN to override)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/python-deps.sh
bin="${SEALROOM_BIN:-$PWD/target/debug/sealroom}"
[ -x "$bin" ] || { echo "no server binary at $bin; run cargo build -p sealroom-server first" >&2; exit 1; }
dir=$(mktemp -d)
out="$dir/server.out"
: > "$out"
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
env -u SEALROOM_BIN "$bin" serve --listen 127.0.0.1:0 --data-dir "$dir/data" > "$out" 2>&1 &
pid=$!
for _ in $(seq 1 150); do grep -q '^open https://' "$out" && break; sleep 0.2; done
url=$(sed -n 's|^open \(https://localhost:[0-9]*\)/$|\1|p' "$out")
[ -n "$url" ] || { echo "the server did not start:" >&2; cat "$out" >&2; exit 1; }
token=$(env -u SEALROOM_BIN "$bin" admin token create --data-dir "$dir/data" --service hr --scope scim --days 1 | tail -n1)
report="$dir/report.txt"
set +e
SSL_CERT_FILE="$dir/data/tls/localhost.crt" SCIM_CLI_HEADERS="Authorization: Bearer $token" \
  timeout 600 target/py/bin/scim2 --url "$url/scim/v2" test > "$report" 2>&1
cp "$report" "${SCIM_REPORT:-/dev/null}" 2>/dev/null || true
status=$?
set -e
total=$(grep -cE '^(SUCCESS|COMPLIANT|ACCEPTABLE|DEVIATION|ERROR|CRITICAL|SKIPPED) ' "$report" || true)
passed=$(grep -cE '^SUCCESS ' "$report" || true)
if [ "$status" -ne 0 ] || [ "$total" -eq 0 ] || [ "$passed" -ne "$total" ]; then
  grep -vE '^SUCCESS ' "$report" | head -n 200
  echo "scim2-tester: $passed of $total checks SUCCESS (exit $status)" >&2
  exit 1
fi
echo "scim2-tester: $passed of $total checks SUCCESS"
