#!/usr/bin/env bash
# Instructions per decision, counted by valgrind's callgrind on the decision benchmark in its
# quick mode (`--test`: FinTech mix, 10 and 1,000 agents). Unlike wall-clock figures these do
# not move with the shared VM's noise, so two builds can be compared run against run.
# Usage: bench/decision-instructions.sh [OUT.callgrind]   (needs valgrind: apt-get install valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed: apt-get install -y valgrind" >&2; exit 1; }
out=${1:-$(mktemp /tmp/decision.XXXX.callgrind)}
bin=$(cargo bench -p warden-engine --bench decision --no-run --locked 2>&1 | sed -n 's/.*Executable .* (\(.*\))$/\1/p' | tail -n 1)
[ -x "$bin" ] || { echo "could not build the decision benchmark" >&2; exit 1; }
(cd crates/warden-engine && valgrind --tool=callgrind --callgrind-out-file="$out" "../../$bin" --test >/dev/null 2>&1)
python3 - "$out" <<'PY'
import re, subprocess, sys
tree = subprocess.run(["callgrind_annotate", "--tree=caller", "--threshold=100", sys.argv[1]],
                      capture_output=True, text=True, check=True).stdout
blocks, cur = [], []
for line in tree.splitlines():
    if line.strip():
        cur.append(line)
    elif cur:
        blocks.append(cur)
        cur = []
targets = [
    ("Engine::decide (all of it)", "warden_engine::Engine::decide"),
    ("  check + convert the input", "warden_engine::decision_input"),
    ("  evaluate on the RVM", "regorus::rvm::vm::execution::<impl regorus::rvm::vm::machine::RegoVM>::execute"),
    ("  build the typed decision", "warden_engine::decision_from_value"),
]
for label, fn in targets:
    ir = calls = 0
    for b in blocks:
        if not any(re.search(r"\*  \S*:" + re.escape(fn) + r" \[", l) for l in b):
            continue
        for l in b:  # callers of fn: inclusive cost and call count per caller
            m = re.match(r"\s*([\d,]+) \(.*?\)\s+<.*\(([\d,]+)x\)", l)
            if m:
                ir += int(m.group(1).replace(",", ""))
                calls += int(m.group(2).replace(",", ""))
    if calls:
        print(f"{label:30s} {ir / calls:9.0f} instructions per call ({calls} calls)")
    else:
        print(f"{label:30s} not found (inlined?)")
PY
echo "callgrind profile: $out (callgrind_annotate $out)"
