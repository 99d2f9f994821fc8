#!/usr/bin/env python3
"""Differential test: Warden (regorus) against real OPA on the Rego corpus.

    compare.py --warden target/debug/warden [--case NAME ...] [--update-known] [--show N]
    compare.py --opa-only                       # only check that OPA loads and evaluates every case

For each corpus/<case>/: generate the inputs (deterministic), evaluate them with opa_eval.py and
with `WARDEN eval --bundle corpus/<case>/policy --query Q --inputs FILE`, compare line by line.
A difference not covered by known_differences.json fails the case. Last line: `N passed, M failed`.
"""
import argparse
import importlib.util
import json
import os
import random
import re
import subprocess
import sys
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from jsonutil import dumps, loads  # noqa: E402

CORPUS = os.path.join(HERE, "corpus")
KNOWN = os.path.join(HERE, "known_differences.json")
OUT = os.path.join(ROOT, "out", "differential")
VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")


# ---------------------------------------------------------------- inputs

def load_case(name):
    d = os.path.join(CORPUS, name)
    with open(os.path.join(d, "case.json"), encoding="utf-8") as f:
        case = json.load(f)
    spec = importlib.util.spec_from_file_location(f"gen_{name}", os.path.join(d, "gen.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    case.update(name=name, dir=d, bundle=os.path.join(d, "policy"), gen=mod.generate)
    return case


def write_inputs(case, path):
    rng = random.Random(f"{case['name']}:{case.get('seed', 1)}")  # str seeds are stable across runs
    inputs = case["gen"](case.get("n", 500), rng)
    with open(path, "w", encoding="utf-8") as f:
        for x in inputs:
            f.write(dumps(x, sort_keys=False) + "\n")
    return len(inputs)


def budget(rule, engine):
    """How many lines `rule` may cover on `engine` (unlimited without `max_diffs`)."""
    m = rule.get("max_diffs", float("inf"))
    return m.get(engine, 0) if isinstance(m, dict) else m


# ---------------------------------------------------------------- running

def run(cmd, stdout_path=None):
    out = open(stdout_path, "w", encoding="utf-8") if stdout_path else subprocess.DEVNULL
    try:
        p = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True, timeout=900)
    finally:
        if stdout_path:
            out.close()
    return p.returncode, p.stderr.strip()


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [ln.rstrip("\n") for ln in f if ln.strip()]


def rate(stderr):
    m = re.search(r"([0-9.]+) decisions/s", stderr or "")
    return float(m.group(1)) if m else None


# ---------------------------------------------------------------- comparing

def is_num(v):
    return isinstance(v, (int, Decimal)) and not isinstance(v, bool)


def value_diffs(a, b, path, notes):
    """Differences between OPA value `a` and Warden value `b`, as (path, kind) pairs."""
    if is_num(a) and is_num(b):
        da, db = Decimal(a), Decimal(b)
        if da == db:
            if type(a) is not type(b) or str(a) != str(b):
                notes.append(path)  # e.g. 1 vs 1.0: equal, but reported
            return []
        scale = max(abs(da), abs(db))
        return [(path, "number_precision" if abs(da - db) <= scale * Decimal("1e-12") else "number")]
    if type(a) is not type(b):
        return [(path, "type")]
    if isinstance(a, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            p = f"{path}.{k}"
            if k not in b:
                out.append((p, "key_only_in_opa"))
            elif k not in a:
                out.append((p, "key_only_in_warden"))
            else:
                out.extend(value_diffs(a[k], b[k], p, notes))
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return [(path, "length")]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out.extend(value_diffs(x, y, f"{path}[{i}]", notes))
        if out and sorted(map(dumps, a)) == sorted(map(dumps, b)):
            return [(path, "order")]
        return out
    return [] if a == b else [(path, "value")]


def at(out, path):
    """The value at a compare path like `.reasons[1]` inside an output line (the whole line for root)."""
    if not path or "result" not in out:
        return out
    v = out["result"]
    for key, idx in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        try:
            v = v[int(idx)] if idx else v[key]
        except (KeyError, IndexError, TypeError):
            return "<absent>"
    return v


def status(o):
    return "error" if "error" in o else ("result" if "result" in o else "undefined")


def line_diffs(opa, warden, notes):
    so, sw = status(opa), status(warden)
    if so == sw == "result":
        return value_diffs(opa["result"], warden["result"], "", notes)
    if so == sw:
        return []  # both undefined, or both errors (messages differ between engines)
    return [("", f"opa_{so}_warden_{sw}")]


def covered(rule, item, raw_input, opa_line, warden_line):
    path, kind = item
    if "kinds" in rule and kind not in rule["kinds"]:
        return False
    if "paths" in rule and not any(path == p or path.startswith(p + ".") or path.startswith(p + "[") for p in rule["paths"]):
        return False
    for key, text in (("input_contains", raw_input), ("opa_contains", opa_line), ("warden_contains", warden_line)):
        if key in rule and not any(s in text for s in rule[key]):
            return False
    return True


def compare_case(case, args, known):
    name = case["name"]
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    inputs = os.path.join(d, "inputs.jsonl")
    n = write_inputs(case, inputs)
    opa_out, warden_out = os.path.join(d, "opa.jsonl"), os.path.join(d, "warden.jsonl")
    for stale in (opa_out, warden_out):
        if os.path.exists(stale):
            os.remove(stale)
    py = VENV_PY if os.path.exists(VENV_PY) else sys.executable
    rc, err = run([py, os.path.join(HERE, "opa_eval.py"), "--bundle", case["bundle"], "--query", case["query"],
                   "--inputs", inputs, "--out", opa_out])
    if rc != 0:
        print(f"FAIL {name}: opa_eval failed ({rc}): {err}")
        return False
    opa_rate = rate(err)
    opa_lines = read_lines(opa_out)
    opa = [loads(x) for x in opa_lines]
    if args.opa_only:
        counts = {s: sum(1 for o in opa if status(o) == s) for s in ("result", "undefined", "error")}
        print(f"ok   {name}: {n} inputs; OPA {counts['result']} result, {counts['undefined']} undefined, "
              f"{counts['error']} error; {opa_rate or 0:.0f} decisions/s")
        return True

    rc, err = run([args.warden, "eval", "--bundle", case["bundle"], "--query", case["query"], "--inputs", inputs,
                   "--engine", args.engine], warden_out)
    if rc != 0:
        print(f"FAIL {name}: warden exited {rc}: {err[-2000:]}")
        return False
    warden_rate = rate(err)
    raw_inputs = read_lines(inputs)
    wlines = read_lines(warden_out)
    if len(wlines) != n:
        print(f"FAIL {name}: warden wrote {len(wlines)} lines for {n} inputs")
        return False

    # A rule may hold for one evaluator only (`"engine"`), and its budget may differ by evaluator
    # (`"max_diffs": {"interpreter": N, "rvm": M}`): where the interpreter stops at an error, the
    # RVM often evaluates on and shows a difference further along.
    rules = [r for r in known.get(name, []) + known.get("*", []) if r.get("engine", args.engine) == args.engine]
    used = [0] * len(rules)
    differ, unexplained, notes, kinds = [], [], [], {}
    flips = {"fail-open": 0, "fail-closed": 0}  # Warden allows where OPA denies / the reverse
    for i, (o, wl) in enumerate(zip(opa, wlines)):
        try:
            w = loads(wl)
        except ValueError:
            w = {"error": f"unparseable warden output: {wl[:200]}"}
            items = [("", "bad_output")]
        else:
            items = line_diffs(o, w, notes)
        if not items:
            continue
        differ.append(i)
        ra, rw = o.get("result"), w.get("result")
        if isinstance(ra, dict) and isinstance(rw, dict) and isinstance(ra.get("allow"), bool) \
                and isinstance(rw.get("allow"), bool) and ra["allow"] != rw["allow"]:
            flips["fail-open" if rw["allow"] else "fail-closed"] += 1
        for _, k in items:
            kinds[k] = kinds.get(k, 0) + 1
        # A line is covered when every one of its differences is covered by some rule that still has
        # budget (max_diffs counts the lines a rule helped cover).
        live = [j for j, r in enumerate(rules) if used[j] < budget(r, args.engine)]
        chosen = set()
        for it in items:
            j = next((j for j in live if covered(rules[j], it, raw_inputs[i], opa_lines[i], wl)), None)
            if j is None:
                unexplained.append((i, o, w, items))
                break
            chosen.add(j)
        else:
            for j in chosen:
                used[j] += 1

    ok = not unexplained
    rates = f"OPA {opa_rate or 0:.0f}/s, Warden {warden_rate or 0:.0f}/s"
    kind_s = ", ".join(f"{k}×{v}" for k, v in sorted(kinds.items()))
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {n} inputs, {n - len(differ)} agree, {len(differ)} differ"
          f" ({len(differ) - len(unexplained)} known, {len(unexplained)} unexplained)"
          f"{'; ' + kind_s if kind_s else ''}{f'; {len(notes)} int/float-only' if notes else ''}; {rates}")
    if any(flips.values()):
        print(f"     allow differs: {flips['fail-open']} fail-open (Warden allows, OPA denies), "
              f"{flips['fail-closed']} fail-closed (Warden denies, OPA allows)")
    if notes and args.verbose:
        print(f"     numerically equal but written differently at: {sorted(set(notes))[:8]}")
    # Group unexplained differences by signature (kind + path with indices elided); one example each.
    groups = {}
    for u in unexplained:
        sig = tuple(sorted({(re.sub(r"\[\d+\]", "[]", p), k) for p, k in u[3]}))
        groups.setdefault(sig, []).append(u)
    for sig, us in sorted(groups.items(), key=lambda g: -len(g[1]))[: args.show]:
        i, o, w, items = us[0]
        where = ", ".join(f"{k} at {p or '(root)'}" for p, k in sig[:4])
        print(f"  [{len(us)}×] {where}")
        print(f"    e.g. input #{i + 1}: {raw_inputs[i][:300]}")
        p = items[0][0]
        print(f"      opa:    {dumps(at(o, p))[:300]}")
        print(f"      warden: {dumps(at(w, p))[:300]}")
    if unexplained and args.update_known:
        ks = sorted({k for _, _, _, items in unexplained for _, k in items})
        known.setdefault(name, []).append({"reason": "TODO: explain", "engine": args.engine, "kinds": ks,
                                           "max_diffs": len(unexplained)})
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warden", help="path to the warden binary")
    ap.add_argument("--opa-only", action="store_true", help="only run OPA (checks the corpus itself)")
    ap.add_argument("--case", action="append", help="run only this case (repeatable)")
    ap.add_argument("--update-known", action="store_true",
                    help="add a TODO entry to known_differences.json for every unexplained difference")
    ap.add_argument("--show", type=int, default=6, help="kinds of difference to print per case (one example each)")
    ap.add_argument("--engine", choices=["interpreter", "rvm"], default="interpreter",
                    help="Warden's evaluator (what `warden eval --engine` takes)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if not args.opa_only and not args.warden:
        ap.error("--warden PATH is required (or --opa-only)")
    if args.warden and not os.path.exists(args.warden):
        ap.error(f"no warden binary at {args.warden}")

    with open(KNOWN, encoding="utf-8") as f:
        known = json.load(f)
    names = args.case or sorted(n for n in os.listdir(CORPUS) if os.path.isfile(os.path.join(CORPUS, n, "case.json")))
    passed = failed = 0
    for name in names:
        try:
            ok = compare_case(load_case(name), args, known)
        except Exception as e:  # a broken case must not hide the others
            print(f"FAIL {name}: {type(e).__name__}: {e}")
            ok = False
        passed, failed = passed + ok, failed + (not ok)
    if args.update_known:
        with open(KNOWN, "w", encoding="utf-8") as f:
            json.dump(known, f, indent=2, ensure_ascii=False)
            f.write("\n")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
