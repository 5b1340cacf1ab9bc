#!/usr/bin/env bash
# Sealroom benchmarks. Release build; bounded in time and count; loopback only.
# Prints every figure and writes them to bench/results/<UTC time>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
out="bench/results/$(date -u +%Y%m%dT%H%M%SZ).txt"
main() {

for p in wrk argon2; do
  command -v "$p" >/dev/null || { apt-get update -qq && apt-get install -y --no-install-recommends wrk argon2; break; }
done

tools/python-deps.sh  # aiosmtpd, the SMTP server of the e-mail comparison
cargo build --release -p sealroom-bench --bins
bin=target/release

echo "## machine"; nproc; grep -m1 'model name' /proc/cpuinfo || true; date -u

echo; echo "## session check, in process"
$bin/session_check

echo; echo "## argon2id cost"
$bin/argon2_cost

echo; echo "## sign-in load and failure timing"
$bin/signin_load

echo; echo "## HTTPS throughput, keep-alive, loopback (wrk: 2 threads, 32 connections, 10 s each, 3 rounds)"
$bin/serve_fixture > /tmp/sealroom-fixture.out 2>/dev/null &
fixture=$!
for _ in $(seq 1 100); do grep -q READY /tmp/sealroom-fixture.out 2>/dev/null && break; sleep 0.2; done
port=$(sed -n 's/^PORT=//p' /tmp/sealroom-fixture.out)
cookie=$(sed -n 's/^COOKIE=//p' /tmp/sealroom-fixture.out)
url="https://127.0.0.1:$port"
rps() { wrk -t2 -c32 -d10s "$@" | awk '/Requests\/sec/ {print $2}'; }
ratios=()
for round in 1 2 3; do
  h=$(rps "$url/healthz")
  a=$(rps -H "Cookie: $cookie" "$url/api/v1/me")
  r=$(awk -v h="$h" -v a="$a" 'BEGIN { printf "%.3f", a / h }')
  ratios+=("$r")
  echo "round $round: /healthz $h req/s, authenticated /api/v1/me $a req/s, ratio $r"
done
kill -INT "$fixture"
wait "$fixture" 2>/dev/null || true
m=$(printf '%s\n' "${ratios[@]}" | sort -n | sed -n '2p')
awk -v r="$m" 'BEGIN { c = (1 - r) * 100; printf "median of per-round ratios authenticated/healthz: %.3f; authentication costs %.1f%% of throughput (target < 25%%: %s)\n", r, c, (c < 25 ? "MET" : "NOT MET") }'

echo; echo "## secure messaging: send -> delivered to a connected recipient (1 000 messages/s for 60 s)"
# E-mail is the comparison: the same messages submitted over SMTP to a local SMTP server.
target/py/bin/python -m aiosmtpd -n -l 127.0.0.1:2526 -c aiosmtpd.handlers.Sink >/dev/null 2>&1 &
smtpd=$!
sleep 1
echo "SQLite:"
$bin/message_delivery --rate 1000 --seconds 60 --smtp 127.0.0.1:2526
kill "$smtpd" 2>/dev/null || true
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS sealroom_bench_messages" -c "CREATE DATABASE sealroom_bench_messages"
echo "PostgreSQL:"
SEALROOM_DATABASE__URL=postgres://postgres@127.0.0.1:5432/sealroom_bench_messages $bin/message_delivery --rate 1000 --seconds 60

echo; echo "## secure messaging: 10 000 idle live connections (target: server memory < 512 MiB)"
ulimit -n "$(ulimit -Hn)"  # 10 000 connections need 10 000 descriptors in each process
$bin/serve_fixture > /tmp/sealroom-fixture.out 2>/dev/null &
fixture=$!
for _ in $(seq 1 100); do grep -q READY /tmp/sealroom-fixture.out 2>/dev/null && break; sleep 0.2; done
$bin/idle_connections --url "$(sed -n 's/^URL=//p' /tmp/sealroom-fixture.out)" \
  --cookie "$(sed -n 's/^COOKIE=//p' /tmp/sealroom-fixture.out)" \
  --cert "$(sed -n 's/^CERT=//p' /tmp/sealroom-fixture.out)" --pid "$fixture" --count 10000
kill -INT "$fixture"
wait "$fixture" 2>/dev/null || true

echo; echo "## document store"
bench/documents.sh

echo; echo "## access policy decision, in process"
$bin/policy_decision

echo; echo "## synthetic organization: 50 departments, 5 000 staff, 1 000 000 patients, 5 000 000 episodes"
# Generated once per data directory (about 16 minutes on SQLite, 4 on PostgreSQL, on 2 cores),
# then reused; delete bench/data/ or drop the database to rebuild.
mkdir -p bench/data
if [ ! -f bench/data/org-sqlite/.generated ]; then
  rm -rf bench/data/org-sqlite
  $bin/org_scale generate --data-dir bench/data/org-sqlite && touch bench/data/org-sqlite/.generated
fi
echo "SQLite:"
sync  # earlier benchmarks' writes reach the disk before this one times fsyncs
$bin/org_scale measure --data-dir bench/data/org-sqlite
pg=postgres://postgres@127.0.0.1:5432/sealroom_bench_org
if [ ! -f bench/data/org-pg/.generated ]; then
  rm -rf bench/data/org-pg
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS sealroom_bench_org" -c "CREATE DATABASE sealroom_bench_org"
  $bin/org_scale generate --data-dir bench/data/org-pg --db "$pg" && touch bench/data/org-pg/.generated
fi
echo "PostgreSQL:"
sync
$bin/org_scale measure --data-dir bench/data/org-pg --db "$pg"
}

# A plain pipe (not a process substitution) so the last lines reach the terminal and the file.
main 2>&1 | tee "$out"
echo "results written to $out"
