import base64
import json

from genlib import chance, number, odd, weird_string

DOCS = [{"event": "push", "ref": "main"}, [1, 2, 3], "str", 42, 1.5, True, None, {}, {"nested": {"a": [None, {"b": "ü"}]}},
        {"big": 2**64, "neg0": -0.0, "dec": 0.1}, {"html": "<b>&</b>"}, {"emoji": "🚀"}, {"script": "<script>x</script>"}]


def enc(raw: bytes, how: str) -> str:
    if how == "base64":
        return base64.b64encode(raw).decode()
    if how == "base64url":
        return base64.urlsafe_b64encode(raw).decode().rstrip("=") if chance_pad[0] else base64.urlsafe_b64encode(raw).decode()
    if how == "hex":
        return raw.hex()
    return raw.decode("utf-8", "replace")


chance_pad = [False]


def generate(n, rng):
    out = []
    for _ in range(n):
        how = rng.choice(["base64", "base64", "base64url", "hex", "plain", "rot13", None])
        doc = rng.choice(DOCS) if chance(rng, 0.8) else {"n": float(number(rng)), "s": weird_string(rng)}
        text = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
        if chance(rng, 0.1):
            text = rng.choice(["{bad json", "", "null", " {\"a\":1} ", "{\"a\":1}{\"b\":2}", "\ufeff{}", "[1,]", "NaN"])
        raw = text.encode("utf-8")
        if chance(rng, 0.05):
            raw = bytes([0xff, 0xfe, 0x00, 0x41])  # not UTF-8
        chance_pad[0] = chance(rng, 0.5)
        data = enc(raw, how) if how in ("base64", "base64url", "hex", "plain") else enc(raw, "base64")
        r = rng.random()
        if r < 0.05:
            data = data[:-1]  # truncated
        elif r < 0.08:
            data = data.upper() if how == "hex" else "!!" + data
        elif r < 0.11:
            data = "  " + data
        att = {"name": "a.json", "data": data}
        if how is not None:
            att["encoding"] = how
        if chance(rng, 0.04):
            att["data"] = odd(rng)
        out.append({"attachment": att if not chance(rng, 0.02) else odd(rng)})
    return out
