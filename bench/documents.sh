#!/usr/bin/env bash
# Document store (issue 4): Sealroom's encrypt-and-store (upload) and decrypt-download through
# the HTTPS API, on one 1 GiB random file, against age (X25519 recipient) and openssl cms
# (AES-256-GCM to a self-signed certificate), with `openssl speed -evp aes-256-gcm` as the
# machine's ceiling; medians of 5 rounds, interleaved. Then the server's peak resident memory
# (VmHWM) after the 1 GiB rounds and after a 4 GiB upload and download.
#
# Called from run.sh; runs alone too. Loopback only; every step under `timeout`; the work
# directory (files, keys, the server's data directory) is on disk and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release

if ! command -v age >/dev/null || ! command -v jq >/dev/null || [ ! -x /usr/bin/time ]; then
  apt-get update -qq && apt-get install -y --no-install-recommends age jq time
fi
timeout 1800 cargo build --release -q -p sealroom-bench --bin documents_fixture

gib=$((1024 * 1024 * 1024))
mb_per_gib=1073.741824 # MB are 10^6 bytes, as openssl speed counts them
work=$(mktemp -d "${SEALROOM_BENCH_TMP:-/var/tmp}/sealroom-documents.XXXXXX")
fixture=
cleanup() {
  if [ -n "$fixture" ]; then
    kill -INT "$fixture" 2>/dev/null || true
    timeout 60 tail --pid="$fixture" -f /dev/null || kill -KILL "$fixture" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Space: the source files (1 + 4 GiB), one tool's output and its decryption at a time (2 GiB,
# 8 GiB for the 4 GiB round), and the server's ciphertext (3 × 1 + 4 GiB).
need=$((20 * gib / 1024))
free=$(df -Pk "$work" | awk 'NR == 2 { print $4 }')
if [ "$free" -lt "$need" ]; then
  echo "documents: needs 20 GiB free under $work, has $((free / 1024 / 1024)) GiB" >&2
  exit 1
fi

# Seconds taken by a command, after writing back what earlier steps left in the page cache
# and, when the bench may (root), emptying it: every tool then reads its input from disk and
# writes into the same empty cache, whatever ran before it.
# Its standard output goes to $work/stdout, its peak RSS in KiB to $work/maxrss.
drop_caches=no
[ -w /proc/sys/vm/drop_caches ] && drop_caches=yes
seconds() {
  local t0 t1
  sync
  [ "$drop_caches" = yes ] && echo 3 >/proc/sys/vm/drop_caches
  t0=$(date +%s.%N)
  /usr/bin/time -f %M -o "$work/maxrss" "$@" >"$work/stdout" || return 1
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
mbps() { awk -v t="$1" -v g="${2:-1}" -v m="$mb_per_gib" 'BEGIN { printf "%.0f", g * m / t }'; }
median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
hwm_mib() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
rss_mib() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
maxrss_mib() { awk '{ printf "%.0f", $1 / 1024 }' "$work/maxrss"; }

echo "generating a 1 GiB random file in $work"
timeout 300 head -c "$gib" /dev/urandom >"$work/plain"

# age to an X25519 recipient; openssl cms to an RSA-2048 self-signed certificate (key
# transport costs the same microseconds whatever the file size).
timeout 60 age-keygen -o "$work/age.key" 2>/dev/null
recipient=$(age-keygen -y "$work/age.key")
timeout 60 openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=sealroom-bench \
  -keyout "$work/cms.key" -out "$work/cms.crt" 2>/dev/null
cms_cipher=-aes-256-gcm
head -c 4096 "$work/plain" >"$work/probe"
if ! timeout 60 openssl cms -encrypt -binary "$cms_cipher" -outform DER -in "$work/probe" \
  -out "$work/probe.cms" "$work/cms.crt" 2>/dev/null; then
  cms_cipher=-aes256 # AES-256-CBC: this OpenSSL refuses GCM (AuthEnvelopedData) for CMS
fi
echo "openssl cms cipher: ${cms_cipher#-} ($(openssl version | cut -d' ' -f1-2))"

# The server, in its own process, with its data directory inside the work directory.
mkdir "$work/server"
TMPDIR="$work/server" "$bin/documents_fixture" >"$work/fixture.out" 2>"$work/fixture.err" &
fixture=$!
for _ in $(seq 1 300); do
  grep -q '^READY' "$work/fixture.out" 2>/dev/null && break
  kill -0 "$fixture" 2>/dev/null || break
  sleep 0.2
done
if ! grep -q '^READY' "$work/fixture.out"; then
  echo "documents: the fixture did not start:" >&2
  cat "$work/fixture.err" >&2
  exit 1
fi
val() { sed -n "s/^$1=//p" "$work/fixture.out"; }
url=$(val URL)
port=$(val PORT)
token=$(val TOKEN)
patient=$(val PATIENT)
cert=$(val CERT)
pid=$(val PID)
echo '{"category":"results","kind":"report","title":"Bench imaging study"}' >"$work/metadata.json"
# HTTP/1.1, as a client uploading a file usually speaks; no "Expect: 100-continue" pause.
curl_args=(-sS --http1.1 --cacert "$cert" --resolve "localhost:$port:127.0.0.1"
  -H "Authorization: Bearer $token")
# The upload: the metadata part, then the file part, which curl reads from disk as it sends.
upload_args=(-H 'Expect:' -o "$work/answer.json" -w '%{http_code}'
  -F "metadata=<$work/metadata.json;type=application/json"
  "$url/api/v1/patients/$patient/documents")
upload_file() { echo "file=@$1;type=application/octet-stream;filename=study.bin"; }
download_args() { echo "$url/api/v1/documents/$(jq -r .id "$work/answer.json")/content"; }
# Fails unless the last curl answered $1; $2 holds the body.
answered() {
  local code
  code=$(cat "$work/stdout")
  [ "$code" = "$1" ] || {
    echo "documents: the server answered $code, not $1: $(head -c 2000 "$2")" >&2
    return 1
  }
}
# Fails unless the download is byte for byte the original and its signature verified.
same() {
  cmp "$1" "$2" || {
    echo "documents: the download differs from the original" >&2
    return 1
  }
  grep -qi '^x-sealroom-signature: verified' "$work/headers" || {
    echo "documents: the signature was not reported verified" >&2
    return 1
  }
}

baseline=$(hwm_mib "$pid")
echo "server (pid $pid) peak RSS after start-up: $baseline MiB; page cache emptied before each timing: $drop_caches"
echo
printf '%-6s %10s %10s %10s %10s %10s %10s %10s\n' "" "ceiling" "age enc" "age dec" \
  "cms enc" "cms dec" "sealroom" "sealroom"
printf '%-6s %10s %10s %10s %10s %10s %10s %10s\n' "round" "MB/s" "s" "s" "s" "s" "up s" \
  "down s"
declare -a speed age_enc age_enc_durable age_dec cms_enc cms_dec up down
for round in 1 2 3 4 5; do
  speed+=("$(timeout 120 openssl speed -evp aes-256-gcm -bytes 16384 -seconds 3 2>/dev/null |
    awk '/^AES-256-GCM/ { sub(/k$/, "", $2); printf "%.0f", $2 / 1000 }')")
  age_enc+=("$(seconds timeout 600 age -r "$recipient" -o "$work/out.age" "$work/plain")")
  age_enc_rss=$(maxrss_mib)
  rm -f "$work/out.age"
  # The same, with its output made durable (fsync) before it counts as done, as the server
  # does with every blob before it answers: a reference, not the target.
  age_enc_durable+=("$(seconds timeout 600 sh -c 'age -r "$1" -o "$2" "$3" && sync "$2"' _ \
    "$recipient" "$work/out.age" "$work/plain")")
  age_dec+=("$(seconds timeout 600 age -d -i "$work/age.key" -o "$work/out" "$work/out.age")")
  age_dec_rss=$(maxrss_mib)
  cmp "$work/plain" "$work/out"
  rm -f "$work/out.age" "$work/out"
  cms_enc+=("$(seconds timeout 600 openssl cms -encrypt -binary "$cms_cipher" -outform DER \
    -in "$work/plain" -out "$work/out.cms" "$work/cms.crt")")
  cms_enc_rss=$(maxrss_mib)
  cms_dec+=("$(seconds timeout 600 openssl cms -decrypt -binary -inform DER -in "$work/out.cms" \
    -inkey "$work/cms.key" -recip "$work/cms.crt" -out "$work/out")")
  cms_dec_rss=$(maxrss_mib)
  cmp "$work/plain" "$work/out"
  rm -f "$work/out.cms" "$work/out"
  up+=("$(seconds timeout 600 curl "${curl_args[@]}" "${upload_args[@]}" \
    -F "$(upload_file "$work/plain")")")
  curl_up_rss=$(maxrss_mib)
  answered 201 "$work/answer.json"
  down+=("$(seconds timeout 600 curl "${curl_args[@]}" -o "$work/out" -D "$work/headers" \
    -w '%{http_code}' "$(download_args)")")
  curl_down_rss=$(maxrss_mib)
  answered 200 "$work/out"
  same "$work/plain" "$work/out"
  rm -f "$work/out"
  printf '%-6s %10s %10s %10s %10s %10s %10s %10s\n' "$round" "${speed[-1]}" "${age_enc[-1]}" \
    "${age_dec[-1]}" "${cms_enc[-1]}" "${cms_dec[-1]}" "${up[-1]}" "${down[-1]}"
done
hwm_1g=$(hwm_mib "$pid")

ceiling=$(median "${speed[@]}")
m_age_enc=$(mbps "$(median "${age_enc[@]}")")
m_age_dec=$(mbps "$(median "${age_dec[@]}")")
m_age_durable=$(mbps "$(median "${age_enc_durable[@]}")")
m_cms_enc=$(mbps "$(median "${cms_enc[@]}")")
m_cms_dec=$(mbps "$(median "${cms_dec[@]}")")
m_up=$(mbps "$(median "${up[@]}")")
m_down=$(mbps "$(median "${down[@]}")")
echo
echo "1 GiB file, medians of 5 rounds (MB = 10^6 bytes; peak RSS of the client tool, last round):"
echo "  ceiling, openssl speed -evp aes-256-gcm, 16384-byte blocks, one core: $ceiling MB/s"
echo "  age encrypt (X25519):             $m_age_enc MB/s  (age RSS $age_enc_rss MiB)"
echo "  age encrypt, then fsync its output: $m_age_durable MB/s  (reference: the server fsyncs each blob)"
echo "  age decrypt:                      $m_age_dec MB/s  (age RSS $age_dec_rss MiB)"
echo "  openssl cms -encrypt ${cms_cipher#-}:   $m_cms_enc MB/s  (openssl RSS $cms_enc_rss MiB)"
echo "  openssl cms -decrypt:             $m_cms_dec MB/s  (openssl RSS $cms_dec_rss MiB)"
echo "  Sealroom upload (HTTPS, store):   $m_up MB/s  (curl RSS $curl_up_rss MiB)"
echo "  Sealroom download (HTTPS):        $m_down MB/s  (curl RSS $curl_down_rss MiB)"
awk -v u="$m_up" -v d="$m_down" -v ae="$m_age_enc" -v ad="$m_age_dec" -v ad2="$m_age_durable" 'BEGIN {
  ru = u / ae; rd = d / ad
  printf "  ratio Sealroom upload / age encrypt:   %.2f (target >= 1.0: %s)\n", ru, (ru >= 1 ? "MET" : "NOT MET")
  printf "  ratio Sealroom download / age decrypt: %.2f (target >= 1.0: %s)\n", rd, (rd >= 1 ? "MET" : "NOT MET")
  printf "  ratio Sealroom upload / age encrypt with fsync (reference): %.2f\n", u / ad2
}'
echo "  server peak RSS (VmHWM) after the 1 GiB rounds: $hwm_1g MiB (after start-up: $baseline MiB)"

echo
echo "4 GiB: the 1 GiB file four times over, one upload and one download"
rm -f "$work/answer.json"
timeout 600 cat "$work/plain" "$work/plain" "$work/plain" "$work/plain" >"$work/plain4"
t_up4=$(seconds timeout 1800 curl "${curl_args[@]}" "${upload_args[@]}" \
  -F "$(upload_file "$work/plain4")")
answered 201 "$work/answer.json"
t_down4=$(seconds timeout 1800 curl "${curl_args[@]}" -o "$work/out" -D "$work/headers" \
  -w '%{http_code}' "$(download_args)")
answered 200 "$work/out"
same "$work/plain4" "$work/out"
rm -f "$work/out" "$work/plain4"
hwm_4g=$(hwm_mib "$pid")
echo "  upload $(mbps "$t_up4" 4) MB/s ($t_up4 s), download $(mbps "$t_down4" 4) MB/s ($t_down4 s)"
echo "  server peak RSS (VmHWM) after the 4 GiB round: $hwm_4g MiB (current RSS $(rss_mib "$pid") MiB)"
awk -v a="$hwm_1g" -v b="$hwm_4g" -v s="$baseline" 'BEGIN {
  g = b - a
  printf "  peak memory the same for 1 GiB and 4 GiB: growth %d MiB from the 1 GiB rounds to the 4 GiB round (target < 64 MiB: %s); %d MiB above the idle server\n", g, (g < 64 ? "MET" : "NOT MET"), b - s
}'
