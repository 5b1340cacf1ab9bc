#!/usr/bin/env bash
# Sealroom benchmarks. Release build; bounded in time and count; loopback only.
# Prints every figure and writes them to bench/results/<UTC time>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
out="bench/results/$(date -u +%Y%m%dT%H%M%SZ).txt"
exec > >(tee "$out") 2>&1

for p in wrk argon2; do
  command -v "$p" >/dev/null || { apt-get update -qq && apt-get install -y --no-install-recommends wrk argon2; break; }
done

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
fifo=$(mktemp -u); mkfifo "$fifo"
exec 3<> "$fifo"
$bin/serve_fixture < "$fifo" > /tmp/sealroom-fixture.out 2>/dev/null &
fixture=$!
for _ in $(seq 1 100); do grep -q READY /tmp/sealroom-fixture.out 2>/dev/null && break; sleep 0.2; done
port=$(sed -n 's/^PORT=//p' /tmp/sealroom-fixture.out)
cookie=$(sed -n 's/^COOKIE=//p' /tmp/sealroom-fixture.out)
url="https://127.0.0.1:$port"
rps() { wrk -t2 -c32 -d10s "$@" | tee /dev/stderr | awk '/Requests\/sec/ {print $2}'; }
declare -a H A
for round in 1 2 3; do
  H+=("$(rps "$url/healthz" 2>/dev/null)")
  A+=("$(rps -H "Cookie: $cookie" "$url/api/v1/me" 2>/dev/null)")
  echo "round $round: /healthz ${H[-1]} req/s, authenticated /api/v1/me ${A[-1]} req/s"
done
exec 3>&-; rm -f "$fifo"; wait "$fixture" 2>/dev/null || true
median() { printf '%s\n' "$@" | sort -n | sed -n '2p'; }
mh=$(median "${H[@]}"); ma=$(median "${A[@]}")
awk -v h="$mh" -v a="$ma" 'BEGIN { c = (1 - a / h) * 100; printf "median: healthz %.0f req/s, authenticated %.0f req/s, ratio %.3f, authentication costs %.1f%% of throughput (target < 25%%: %s)\n", h, a, a / h, c, (c < 25 ? "MET" : "NOT MET") }'
echo; echo "results written to $out"
