from decimal import Decimal

from genlib import NUMBERS, STRINGS, UNICODE_WORDS, chance, odd

TOOLS = ["web.search", "sql.query", "kv.put", "unknown", None]
ANY = NUMBERS + STRINGS + UNICODE_WORDS + [None, True, False, [], [1, "a"], {}, {"a": 1}, {"b": [None]}]


def val(rng, key):
    good = {
        "query": ["rust", "a" * 64, "a" * 65, "é" * 64, "🚀" * 33, "<script>", "SELECT 1", ""],
        "limit": [1, 50, 0, 51, 10.0, 10.5, Decimal("1.0"), Decimal("5E+1"), -0.0, 2**64],
        "safe": [True, False],
        "lang": ["en", "de", "日本語", "EN", "", "fr "],
        "params": [[], [1, 2], list(range(11)), "x"],
        "timeout": [0.5, 0.49999999999999994, 30, 30.000000000000004, 1, Decimal("0.50")],
        "key": ["a/b.c", "A/b", "x" * 128, "x" * 129, "ü", "", "ok_key-1"],
        "value": ANY,
        "ttl": [60, 60.0, 3600, Decimal("3.6e3"), 86400, 1, "60"],
        "tags": [{}, {"a": "b"}, [], None],
    }
    if key in good and chance(rng, 0.8):
        return rng.choice(good[key])
    return rng.choice(ANY) if chance(rng, 0.9) else odd(rng)


def generate(n, rng):
    out = []
    keys = ["query", "limit", "safe", "lang", "params", "timeout", "key", "value", "ttl", "tags", "extra", ""]
    for _ in range(n):
        args = {k: val(rng, k) for k in rng.sample(keys, rng.randint(0, 5))}
        x = {"tool": rng.choice(TOOLS), "args": args if chance(rng, 0.96) else odd(rng)}
        if chance(rng, 0.15):
            x["last_args"] = dict(args) if chance(rng, 0.6) and isinstance(args, dict) else {"query": "rust"}
        out.append(x)
    return out
