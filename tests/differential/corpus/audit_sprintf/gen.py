from genlib import NUMBERS, STRINGS, UNICODE_WORDS, chance, odd

VALUES = NUMBERS + STRINGS[:15] + UNICODE_WORDS[:4] + [None, True, False, [], [1, "a", None], {}, {"b": 1, "a": [2]},
                                                        {"nested": {"x": 0.1}}, [0.1, 0.2], "1.50"]


def generate(n, rng):
    out = []
    for _ in range(n):
        ev = {"agent": rng.choice(["planner", "coder", "ünï", "", None, 7]), "tool": rng.choice(["sql.query", "fs.read", "http.get"]),
              "value": rng.choice(VALUES), "args": rng.choice([{"q": "x"}, [], "a", 1, None, {"n": 2**70}]),
              "ts": rng.choice(["2024-01-01T00:00:00Z", 1700000000, 1.7e9, None])}
        if chance(rng, 0.6):
            ev["tags"] = rng.sample(["pii", "finance", "external", "ünï", "", "1"], rng.randint(0, 4))
        if chance(rng, 0.6):
            ev["duration_ms"] = rng.choice([0, 15, 255, 1000.5, -3, 2**64, 1e21, "12", None])
        if chance(rng, 0.5):
            ev["ok"] = rng.choice([True, False, "yes", None])
        if chance(rng, 0.03):
            ev["tags"] = odd(rng)
        out.append({"event": ev})
    return out
