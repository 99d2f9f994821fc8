#!/usr/bin/env python3
"""Every example's test inputs, decided by real OPA and by Warden on the same compiled output.

    compare_examples.py --warden target/debug/warden [--examples examples]

For each example project: `warden compile` writes the OPA bundle directory (data.json plus the
shared library), `warden test --emit-inputs` writes each test's input exactly as Warden evaluates
it, then OPA (opa_eval.py) and Warden (`warden eval --bundle`) evaluate data.warden.main.decision
on every input and the decisions must be identical. The shared library's own Rego unit tests run
on OPA too. Last line: `N passed, M failed` (one per example, plus the library tests).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from jsonutil import loads  # noqa: E402

QUERY = "data.warden.main.decision"


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return p


def norm(v):
    """JSON value with numbers compared by value (OPA may print 5000 where Warden prints 5000.0)."""
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    try:
        f = float(str(v))
        return int(f) if f.is_integer() and abs(f) < 2**53 else f
    except ValueError:
        return str(v)


def opa(bundle, inputs, out):
    run([sys.executable, os.path.join(HERE, "opa_eval.py"), "--bundle", bundle, "--query", QUERY, "--inputs", inputs, "--out", out])
    with open(out, encoding="utf-8") as f:
        return [loads(l) for l in f if l.strip()]


def compare_example(warden, ex, tmp):
    name = os.path.basename(ex)
    bundle = os.path.join(tmp, name, "bundle")
    inputs = os.path.join(tmp, name, "inputs.jsonl")
    os.makedirs(os.path.dirname(inputs), exist_ok=True)
    run([warden, "compile", ex, "-o", bundle])
    run([warden, "test", ex, "--emit-inputs", inputs])
    theirs = opa(bundle, inputs, os.path.join(tmp, name, "opa.jsonl"))
    p = run([warden, "eval", "--bundle", bundle, "--query", QUERY, "--inputs", inputs, "--engine", "rvm"])
    ours = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    with open(inputs, encoding="utf-8") as f:
        ins = [l.strip() for l in f if l.strip()]
    assert len(ours) == len(theirs) == len(ins), (len(ours), len(theirs), len(ins))
    bad = [(i, o, t) for i, (o, t) in enumerate(zip(ours, theirs)) if norm(o) != norm(t) or "result" not in o]
    print(f"{name}: {len(ins)} inputs, {len(ins) - len(bad)} identical, {len(bad)} differ")
    for i, o, t in bad[:3]:
        print(f"  input: {ins[i]}\n  warden: {json.dumps(o, sort_keys=True)}\n  opa:    {json.dumps(t, sort_keys=True)}")
    return not bad and len(ins) > 0


def library_tests(tmp):
    bundle = os.path.join(tmp, "library")
    os.makedirs(os.path.join(bundle, "warden"), exist_ok=True)
    src = os.path.join(ROOT, "crates", "warden-core", "rego", "warden")
    for f in ("main.rego", "main_test.rego"):
        with open(os.path.join(src, f), encoding="utf-8") as a, open(os.path.join(bundle, "warden", f), "w", encoding="utf-8") as b:
            b.write(a.read())
    inputs = os.path.join(tmp, "library-input.jsonl")
    with open(inputs, "w") as f:
        f.write("{}\n")
    out = os.path.join(tmp, "library-opa.jsonl")
    run([sys.executable, os.path.join(HERE, "opa_eval.py"), "--bundle", bundle, "--query", "data.warden.main_test", "--inputs", inputs, "--out", out])
    with open(out) as f:
        res = loads(f.readline()).get("result", {})
    tests = {k: v for k, v in res.items() if k.startswith("test_")}
    with open(os.path.join(src, "main_test.rego")) as f:
        declared = {l.split()[0] for l in f if l.startswith("test_")}
    failed = sorted(declared - {k for k, v in tests.items() if v is True})
    print(f"library unit tests on OPA: {len(declared)} declared, {len(declared) - len(failed)} passed" + (f", failed: {failed}" if failed else ""))
    return not failed and len(declared) > 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warden", required=True)
    ap.add_argument("--examples", default=os.path.join(ROOT, "examples"))
    a = ap.parse_args()
    warden = os.path.abspath(a.warden)
    exs = sorted(os.path.join(a.examples, d) for d in os.listdir(a.examples) if os.path.isdir(os.path.join(a.examples, d, "policies")))
    with tempfile.TemporaryDirectory() as tmp:
        results = [compare_example(warden, ex, tmp) for ex in exs] + [library_tests(tmp)]
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    sys.exit(0 if passed == len(results) else 1)


if __name__ == "__main__":
    main()
