#!/usr/bin/env bash
# `warden eval --inputs` throughput on N FinTech inputs, and the same inputs through real OPA
# (in-process Go via opa-golib-python-bindings) in the same run. Usage: bench/eval-throughput.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cargo build --release --locked -p warden >/dev/null 2>&1
bash tests/differential/setup_venv.sh
python3 - "$N" > "$tmp/inputs.jsonl" <<'PY'
import json, sys
n = int(sys.argv[1])
for i in range(n):
    amount = [120, 4999, 7500, 25000, 0.5, 19999.99][i % 6]
    print(json.dumps({"tenant": "acme", "agent": {"id": "finance-agent", "scope": "payments"},
        "user": {"id": f"u{i}", "groups": ["finance"]},
        "action": {"type": "create_payment", "tool": "stripe-payments",
                   "args": {"amount": amount, "currency": "EUR" if i % 10 == 9 else "USD", "recipient": f"acct_{i}"}},
        "context": {"turn_count": i % 30}, "environment": {"region": "us-east", "time": "2026-11-23T15:00:00Z"}}))
PY
./target/release/warden compile examples/fintech -o "$tmp/bundle" >/dev/null
echo "warden (compiled project, decide per line):"
./target/release/warden eval examples/fintech --inputs "$tmp/inputs.jsonl" > "$tmp/warden.jsonl"
echo "warden (same bundle via --bundle --engine rvm):"
./target/release/warden eval --bundle "$tmp/bundle" --query data.warden.main.decision --engine rvm --inputs "$tmp/inputs.jsonl" > "$tmp/warden-raw.jsonl"
echo "real OPA (same bundle, same inputs):"
.venv/bin/python tests/differential/opa_eval.py --bundle "$tmp/bundle" --query data.warden.main.decision --inputs "$tmp/inputs.jsonl" --out "$tmp/opa.jsonl"
python3 - "$tmp" <<'PY'
import json, sys
t = sys.argv[1]
a = [json.loads(l)["result"] for l in open(f"{t}/warden-raw.jsonl")]
b = [json.loads(l)["result"] for l in open(f"{t}/opa.jsonl")]
same = sum(x == y for x, y in zip(a, b))
print(f"decisions identical in Warden and OPA: {same} of {len(b)}")
PY
