#!/usr/bin/env bash
# Browser end-to-end tests: installs the pinned playwright-core and runs node --test.
# Needs /usr/bin/chromium (Debian package "chromium") and the server binary
# ($SEALROOM_BIN, default ../target/debug/sealroom).
set -euo pipefail
cd "$(dirname "$0")" && npm ci --no-audit --no-fund && npm test
