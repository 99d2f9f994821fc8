#!/usr/bin/env python3
"""Bundles Warden signs with ES256 and RS256 verify in real OPA.

    opa_signatures.py --warden target/debug/warden

For each algorithm: `warden keygen`, `warden bundle build --signing-key` on examples/fintech, then
real OPA (opa-golib-python-bindings) checks the token in `.signatures.json` with its own
`io.jwt.verify_es256` / `io.jwt.verify_rs256` and decodes the payload, whose file list must be
exactly the bundle's files (the file digests themselves are checked against OPA's golden vectors in
crates/warden-bundle/tests). Last line: `N passed, M failed`.
"""
import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
from opa_bindings import OpaEngine  # noqa: E402

POLICY = """package check
verified := io.jwt.verify_es256(input.token, input.key) if input.alg == "ES256"
verified := io.jwt.verify_rs256(input.token, input.key) if input.alg == "RS256"
payload := io.jwt.decode(input.token)[1]
"""


def opa_eval(engine, query, inp):
    import ctypes
    ptr = engine._lib.OpaEvalQuery(engine._handle, query.encode(), json.dumps(inp).encode(), 0, 0)
    try:
        env = json.loads(ctypes.string_at(ptr))
    finally:
        engine._lib.OpaFreeString(ptr)
    if env.get("error"):
        raise RuntimeError(env["error"])
    rs = env.get("result") or []
    return rs[0]["expressions"][0]["value"] if rs else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--warden", required=True)
    a = ap.parse_args()
    warden = os.path.abspath(a.warden)
    engine = OpaEngine()
    engine.add_policy("check.rego", POLICY)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for alg in ("ES256", "RS256"):
            prefix = os.path.join(tmp, alg.lower())
            bundle = os.path.join(tmp, f"{alg}.tar.gz")
            subprocess.run([warden, "keygen", "--alg", alg.lower(), "-o", prefix], check=True, capture_output=True)
            subprocess.run([warden, "bundle", "build", os.path.join(ROOT, "examples", "fintech"), "-o", bundle,
                            "--signing-key", prefix + ".key.pem", "--signing-alg", alg, "--key-id", "warden",
                            "--scope", "prod"], check=True, capture_output=True)
            with tarfile.open(bundle, "r:gz") as t:
                files = {m.name.lstrip("/"): t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
            token = json.loads(files[".signatures.json"])["signatures"][0]
            with open(prefix + ".pub.pem") as f:
                key = f.read()
            inp = {"token": token, "key": key, "alg": alg}
            verified = opa_eval(engine, "data.check.verified", inp)
            payload = opa_eval(engine, "data.check.payload", inp)
            signed = sorted(x["name"] for x in payload["files"])
            expected = sorted(n for n in files if n != ".signatures.json")
            ok = verified is True and signed == expected and payload.get("scope") == "prod"
            # A tampered token must fail in OPA too.
            bad = dict(inp, token=token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
            ok = ok and opa_eval(engine, "data.check.verified", bad) is False
            print(f"{alg}: OPA verifies Warden's signature: {verified}; signed files {signed}")
            results.append(ok)
    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
