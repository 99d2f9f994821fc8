#!/usr/bin/env bash
# Added latency of the MCP gateway (stdio) against calling the same trivial MCP server directly,
# with a policy decision and the audit log on every call, at a fixed rate; then the gateway's
# throughput with 64 calls in flight. Usage: bench/mcp.sh [RATE] [SECONDS] [AUDIT: full|normal|none].
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-1000}
SECS=${2:-10}
AUDIT=${3:-full}
cargo build --release --locked -p warden >/dev/null 2>&1
cargo build --release --locked -p warden-mcp --example echo_server --example mcp_bench >/dev/null 2>&1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/mcp_common.sh"
write_bench_policy "$tmp"
cat > "$tmp/mcp.yaml" <<YAML
tenant: acme
agent: bench-agent
server: { name: bench, command: $PWD/target/release/examples/echo_server }
policies: $tmp/p
data_dir: $tmp/state
YAML
if [ "$AUDIT" = none ]; then echo "audit_db: none" >> "$tmp/mcp.yaml"; else echo "audit_sync: $AUDIT" >> "$tmp/mcp.yaml"; fi
./target/release/examples/mcp_bench ./target/release/warden ./target/release/examples/echo_server "$tmp/mcp.yaml" "$RATE" "$SECS"
[ "$AUDIT" = none ] || echo "audit records written: $(./target/release/warden audit query "$tmp/state/audit.db" | wc -l)"
