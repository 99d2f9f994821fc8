#!/usr/bin/env bash
# Added latency of the MCP gateway over Streamable HTTP against calling the same trivial MCP
# server directly, with a policy decision and the audit log on every call, at a fixed rate; then
# the gateway's throughput with 64 calls in flight. Usage: bench/mcp_http.sh [RATE] [SECONDS]
# [AUDIT: full|normal|none] [BUSY_POLL_US: the gateway's `busy_poll_us`, default 0 = off].
# FAIL_OPEN_READS=1 declares reads fail-open (records committed while the call is upstream).
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-1000}
SECS=${2:-10}
AUDIT=${3:-full}
BUSY=${4:-0}
cargo build --release --locked -p warden >/dev/null 2>&1
cargo build --release --locked -p warden-mcp --example mcp_http_bench >/dev/null 2>&1
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.1; done; echo "port $1 not up" >&2; exit 1; }
UP=$(port); GW=$(port)
. "$(dirname "$0")/mcp_common.sh"
write_bench_policy "$tmp"
cat > "$tmp/mcp.yaml" <<YAML
tenant: acme
agent: bench-agent
server: { name: bench, url: "http://127.0.0.1:$UP/mcp" }
listen: 127.0.0.1:$GW
policies: $tmp/p
data_dir: $tmp/state
busy_poll_us: $BUSY
YAML
if [ "$AUDIT" = none ]; then echo "audit_db: none" >> "$tmp/mcp.yaml"; else echo "audit_sync: $AUDIT" >> "$tmp/mcp.yaml"; fi
./target/release/examples/mcp_http_bench serve "$UP" & pids+=($!)
./target/release/warden mcp --config "$tmp/mcp.yaml" 2>/dev/null & pids+=($!)
wait_port "$UP"; wait_port "$GW"
./target/release/examples/mcp_http_bench run "http://127.0.0.1:$UP/mcp" "http://127.0.0.1:$GW/mcp" "$RATE" "$SECS"
[ "$AUDIT" = none ] || echo "audit records written: $(./target/release/warden audit query "$tmp/state/audit.db" | wc -l)"
