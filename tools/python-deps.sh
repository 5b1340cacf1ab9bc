#!/usr/bin/env bash
# The Python tools the test suite runs against the real server, pinned, in target/py:
# aiosmtpd (the SMTP server that receives Sealroom's mail in tests), pypdf (reads the PDFs the
# server makes, independently) and scim2-tester with
# scim2-cli (the SCIM 2.0 conformance checks). Prints nothing when they are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/py
want="aiosmtpd==1.4.6 scim2-cli==0.6.0 scim2-tester==0.5.2 pypdf==7.1.1"
stamp="$venv/.installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check $want
echo "$want" > "$stamp"
