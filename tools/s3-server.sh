#!/usr/bin/env bash
# Local S3-compatible server (s3s-fs) for integration tests.
#
#   tools/s3-server.sh install          # cargo install s3s-fs (skipped if present)
#   tools/s3-server.sh start DIR PORT   # serve DIR on 127.0.0.1:PORT, pid -> DIR/../s3.pid
#   tools/s3-server.sh stop DIR         # kill the pid in DIR/../s3.pid
#
# The binary goes to $S3S_ROOT/bin (default: ${CARGO_HOME:-$HOME/.cargo}/bin).
# Buckets are plain directories under DIR (CreateBucket works too).
# Clients must use path-style requests; any region is accepted.
set -euo pipefail

S3S_VERSION=0.14.1 # 0.15+ needs rustc >= 1.96
if [[ -n "${S3S_ROOT:-}" ]]; then
  BIN_DIR="$S3S_ROOT/bin"
else
  BIN_DIR="${CARGO_HOME:-$HOME/.cargo}/bin"
fi
S3S_BIN="$BIN_DIR/s3s-fs"
ACCESS_KEY=s3test-access
SECRET_KEY=s3test-secret-key

install() {
  if [[ -x "$S3S_BIN" ]]; then
    echo "s3s-fs already installed: $S3S_BIN"
    return
  fi
  local root_args=()
  [[ -n "${S3S_ROOT:-}" ]] && root_args=(--root "$S3S_ROOT")
  # Own target dir so the project's target/ is left alone (~2.5 min on 2 cores).
  CARGO_TARGET_DIR="${S3S_TARGET_DIR:-${TMPDIR:-/tmp}/s3s-target}" \
    cargo install --locked s3s-fs --version "$S3S_VERSION" --features binary "${root_args[@]}"
}

start() {
  local dir=$1 port=$2
  [[ -x "$S3S_BIN" ]] || { echo "s3s-fs not found at $S3S_BIN; run: $0 install" >&2; exit 1; }
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is already in use" >&2
    exit 1
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local log="$dir/../s3.log" pidfile="$dir/../s3.pid"
  "$S3S_BIN" --host 127.0.0.1 --port "$port" \
    --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" "$dir" >"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do # 100 x 0.2 s = 20 s
    kill -0 "$pid" 2>/dev/null || break
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$pid" >"$pidfile"
      cat <<EOF
AWS_ACCESS_KEY_ID=$ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$SECRET_KEY
AWS_REGION=us-east-1
AWS_ENDPOINT=http://127.0.0.1:$port
AWS_ALLOW_HTTP=true
AWS_VIRTUAL_HOSTED_STYLE_REQUEST=false
S3_SERVER_PID=$pid
EOF
      return
    fi
    sleep 0.2
  done
  echo "s3s-fs did not come up on 127.0.0.1:$port; log:" >&2
  cat "$log" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
}

stop() {
  local pidfile="$1/../s3.pid"
  [[ -f "$pidfile" ]] || return 0
  kill "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile"
}

case "${1:-}" in
  install) install ;;
  start) [[ $# -eq 3 ]] || { echo "usage: $0 start DIR PORT" >&2; exit 2; }; start "$2" "$3" ;;
  stop) [[ $# -eq 2 ]] || { echo "usage: $0 stop DIR" >&2; exit 2; }; stop "$2" ;;
  *) echo "usage: $0 install | start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
