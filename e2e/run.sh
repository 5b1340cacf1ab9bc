#!/usr/bin/env bash
# Browser end-to-end tests: installs the pinned playwright-core and @axe-core/playwright, runs node --test.
# Needs /usr/bin/chromium (Debian package "chromium") and the server binary
# ($SEALROOM_BIN, default ../target/debug/sealroom); the patient-space test also needs
# ../target/py/bin/python with aiosmtpd (tools/python-deps.sh) for its SMTP sink.
set -euo pipefail
cd "$(dirname "$0")" && npm ci --no-audit --no-fund && npm test
