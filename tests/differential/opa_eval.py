#!/usr/bin/env python3
"""Evaluate a Rego query over a JSON Lines file of inputs with real OPA (Go, in-process).

    opa_eval.py --bundle DIR --query data.x.y --inputs FILE.jsonl --out FILE.jsonl

DIR: every `.rego` file at any depth is a module; a `data.json` in DIR/a/b/ is mounted at
data.a.b (DIR/data.json at data), as in OPA bundles. Everything is loaded into one engine once.
Each output line is `{"result": v}`, `{}` (undefined) or `{"error": "..."}`.

Inputs are handed to OPA as the raw JSON text of each line (no Python round trip), so big
integers, -0.0 and decimals reach OPA exactly as written; OPA's numbers are written back verbatim.
"""
import argparse
import ctypes
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jsonutil import dumps, loads  # noqa: E402

from opa_bindings import OpaEngine, OpaError  # noqa: E402


def load_bundle(engine, root):
    modules = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if name.endswith(".rego"):
                with open(path, encoding="utf-8") as f:
                    engine.add_policy(rel, f.read())
                modules += 1
            elif name == "data.json":
                parts = [p for p in os.path.dirname(rel).split(os.sep) if p]
                with open(path, "rb") as f:
                    raw = f.read()
                # Raw bytes straight to Go (OpaAddData deep-merges at a dotted path).
                engine._call(engine._lib.OpaAddData, ".".join(parts).encode(), raw)
    if modules == 0:
        sys.exit(f"opa_eval: no .rego files under {root}")


def evaluate(engine, query, raw_input):
    """One decision; returns the output object. Uses the bridge's native OpaEvalQuery directly
    so the input is the line's own JSON text and the result keeps OPA's number text."""
    lib, handle = engine._lib, engine._handle
    ptr = lib.OpaEvalQuery(handle, query, raw_input, 0, 0)
    if not ptr:
        return {"error": "native call returned NULL"}
    try:
        env = loads(ctypes.string_at(ptr))
    finally:
        lib.OpaFreeString(ptr)
    if env.get("error"):
        err = env["error"]
        return {"error": f"{err.get('code', 'unknown')}: {err.get('message', '')}"}
    rs = env.get("result") or []
    if not rs or not rs[0].get("expressions"):
        return {}
    return {"result": rs[0]["expressions"][0]["value"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--query", required=True)
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    engine = OpaEngine()
    try:
        load_bundle(engine, a.bundle)
    except OpaError as e:
        sys.exit(f"opa_eval: cannot load {a.bundle}: {e}")
    with open(a.inputs, "rb") as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    query = a.query.encode()
    # Warm-up: the first eval prepares (compiles) the query; keep that out of the timing.
    warm = evaluate(engine, query, lines[0] if lines else b"{}")
    if warm.get("error", "").startswith("prepare_error"):  # a compile error: nothing can be evaluated
        sys.exit(f"opa_eval: cannot compile {a.bundle}: {warm['error']}")

    out = []
    start = time.perf_counter()
    for raw in lines:
        out.append(evaluate(engine, query, raw))
    secs = time.perf_counter() - start

    with open(a.out, "w", encoding="utf-8") as f:
        for o in out:
            f.write(dumps(o) + "\n")
    n = len(lines)
    errors = sum(1 for o in out if "error" in o)
    print(f"opa: {n} input(s), {errors} error(s), {secs:.3f}s, {n / max(secs, 1e-9):.0f} decisions/s", file=sys.stderr)


if __name__ == "__main__":
    main()
