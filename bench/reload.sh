#!/usr/bin/env bash
# Hot reload under load: p99 of POST /v1/decide at a fixed rate while a 10,000-agent bundle is
# replaced every second, against the same run without reloads; RSS with that bundle loaded.
# Usage: bench/reload.sh [RATE] [SECONDS] [AUDIT: on|off] [ROUNDS]. Needs curl and python3.
# RATE 0: memory only, no requests: RSS each second while the bundle is replaced every second
# for SECONDS, then once it has settled. SIGNED=1: the bundles are signed (ES256) and the server
# verifies them.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-5000}
SECS=${2:-20}
AUDIT=${3:-off}
ROUNDS=${4:-2}
cargo build --release --locked -p warden >/dev/null 2>&1
cargo build --release --locked -p warden-server --example loadgen >/dev/null 2>&1
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
W=./target/release/warden
LOADGEN=./target/release/examples/loadgen

# Two versions of a 10,000-agent FinTech tenant (they differ in one agent's ceiling).
for v in a b; do
  mkdir -p "$tmp/$v/policies"
  printf 'name: agents\nversion: 1.0.0\n' > "$tmp/$v/warden.yaml"
  cp examples/fintech/policies/catalog.yaml "$tmp/$v/policies/"
  python3 - "$tmp/$v/policies" "$v" <<'PY'
import sys
out, v = sys.argv[1], sys.argv[2]
for f in range(20):
    lines = ["warden: 1", "tenant: acme", "agents:"]
    for i in range(f * 500, (f + 1) * 500):
        cap = 5001 if (v == "b" and i == 0) else 5000
        lines.append(f"""  agent-{i}:
    tools:
      stripe-payments:
        list_payments: {{}}
        create_payment:
          rules:
            - id: currency
              require: {{ args.currency: {{ in: [USD] }} }}
              reason: currency_not_allowed
            - id: amount
              require: {{ args.amount: {{ max: {cap} }} }}
              on_violation: approval_needed
              reason: amount_requires_approval""")
    open(f"{out}/agents-{f:02}.yaml", "w").write("\n".join(lines) + "\n")
PY
  $W bundle build "$tmp/$v" -o "$tmp/$v.tar.gz" >/dev/null
done
verify_args=()
if [ -n "${SIGNED:-}" ]; then
  $W keygen --alg es256 -o "$tmp/key" >/dev/null
  for v in a b; do $W bundle sign "$tmp/$v.tar.gz" --signing-key "$tmp/key.key.pem" --signing-alg ES256 >/dev/null; done
  verify_args=(--verification-key "$tmp/key.pub.pem" --alg ES256)
fi
ls -la "$tmp"/*.tar.gz | awk '{print "bundle", $NF, $5, "bytes"}'
sed 's/"finance-agent"/"agent-4321"/' examples/fintech/request.json > "$tmp/body.json"
cp "$tmp/a.tar.gz" "$tmp/serve.tar.gz"
audit_args=(--audit-db none)
[ "$AUDIT" = on ] && audit_args=(--audit-db "$tmp/audit.db")
$W serve --bundle "main=$tmp/serve.tar.gz" --poll-seconds 0.2 --addr 127.0.0.1:18182 \
  --data-dir "$tmp/state" "${audit_args[@]}" "${verify_args[@]}" >"$tmp/server.log" 2>&1 &
pid=$!
for _ in $(seq 300); do curl -sf 'http://127.0.0.1:18182/health?bundles' >/dev/null && break; sleep 0.1; done
activations() { curl -s localhost:18182/v1/status | python3 -c 'import json,sys; print(json.load(sys.stdin)["bundles"]["main"]["activations"])'; }
rss_mb() { ps -o rss= -p $pid | awk '{printf "%.1f", $1/1024}'; }
rss() { echo "$(rss_mb) MB"; }
sleep 2   # the loader hands the pages of the unpacked bundle back right after activating it
echo "loaded: RSS $(rss)"
swap() { cp "$tmp/$1.tar.gz" "$tmp/next.tar.gz"; mv "$tmp/next.tar.gz" "$tmp/serve.tar.gz"; }
if [ "$RATE" = 0 ]; then
  series=""
  for i in $(seq "$SECS"); do
    swap "$([ $((i % 2)) = 1 ] && echo b || echo a)"
    sleep 1
    series="$series $(rss_mb)"
  done
  echo "RSS each second while reloading (MB):$series"
  sleep 5
  echo "settled after reloading: RSS $(rss); activations: $(activations)"
  exit 0
fi
$LOADGEN http://127.0.0.1:18182/v1/decide "$tmp/body.json" "$RATE" 3 >/dev/null   # warm-up
# Quiet and reloading phases alternate, ROUNDS times, so drift on a shared machine hits both.
for round in $(seq "$ROUNDS"); do
  echo "== round $round: no reload ($RATE/s, ${SECS}s, audit $AUDIT)"
  $LOADGEN http://127.0.0.1:18182/v1/decide "$tmp/body.json" "$RATE" "$SECS"
  before=$(activations)
  ( while true; do for v in b a; do swap $v; sleep 1; done; done ) &
  swapper=$!
  echo "== round $round: bundle replaced every second"
  $LOADGEN http://127.0.0.1:18182/v1/decide "$tmp/body.json" "$RATE" "$SECS"
  kill $swapper
  echo "activations during the run: $(( $(activations) - before )); RSS $(rss)"
  sleep 3
done
echo "settled after reloading: RSS $(rss)"
for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1; printf "%s " "$(rss_mb)"; done; echo "(MB, each second after)"
grep -c "bundle rejected" "$tmp/server.log" | sed 's/^/rejected loads: /' || true
