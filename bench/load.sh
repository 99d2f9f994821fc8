#!/usr/bin/env bash
# Load test of `POST /v1/decide` and OPA's Data API over loopback (server and load generators on
# this machine). Usage: bench/load.sh [SECONDS] [CONNECTIONS] [RATE]. For each audit setting, on
# the decision API and on OPA's Data API: latency at a fixed RATE with examples/loadgen.rs (open
# loop, measured from each request's scheduled send time), then throughput with wrk (closed loop,
# CONNECTIONS connections).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${2:-32}
RATE=${3:-5000}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked -p warden >/dev/null 2>&1
cargo build --release --locked -p warden-server --example loadgen >/dev/null 2>&1
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
cat > "$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("WARDEN_BODY"), "r")
wrk.body = f:read("*a")
f:close()
LUA
export WARDEN_BODY="$PWD/examples/fintech/request.json"
python3 -c 'import json,sys; print(json.dumps({"input": json.load(open(sys.argv[1]))}))' "$WARDEN_BODY" > "$tmp/data.json"
run() {
  local name=$1; shift
  ./target/release/warden serve --policies examples/fintech --addr 127.0.0.1:18181 --data-dir "$tmp/state-$name" "$@" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf 'http://127.0.0.1:18181/health?bundles' >/dev/null && break; sleep 0.1; done
  echo "== $name"
  # Latency first, on a fresh server: a saturation run leaves the disk a backlog of writes (an
  # audited decision writes ~20–27 KB) that slows fsyncs for seconds after it.
  echo "decide at $RATE/s: $(./target/release/examples/loadgen http://127.0.0.1:18181/v1/decide "$WARDEN_BODY" "$RATE" "$SECS")"
  echo "data API at $RATE/s: $(./target/release/examples/loadgen http://127.0.0.1:18181/v1/data/warden/main/decision "$tmp/data.json" "$RATE" "$SECS")"
  echo "decide, $CONNS connections:"
  wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$tmp/post.lua" http://127.0.0.1:18181/v1/decide | grep -E "Requests/sec|50%|99%|Non-2xx"
  sleep 3
  echo "data API, $CONNS connections:"
  WARDEN_BODY="$tmp/data.json" wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$tmp/post.lua" http://127.0.0.1:18181/v1/data/warden/main/decision | grep -E "Requests/sec|50%|99%|Non-2xx"
  echo "RSS: $(ps -o rss= -p $pid | awk '{printf "%.1f MB", $1/1024}')"
  kill $pid; wait $pid 2>/dev/null || true
  sleep 5   # let the disk write back what this server left before the next one starts
}
run "audit on (fsync every commit)" --audit-db "$tmp/audit.db"
run "audit on (--audit-sync normal)" --audit-db "$tmp/audit2.db" --audit-sync normal
run "audit off" --audit-db none
