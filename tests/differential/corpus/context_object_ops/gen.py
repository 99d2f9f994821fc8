from genlib import chance, nested, number, odd, weird_string

PATCH_OPS = [
    {"op": "replace", "path": "/temperature", "value": 0.9},
    {"op": "add", "path": "/tools/browser", "value": True},
    {"op": "remove", "path": "/tools/web"},
    {"op": "add", "path": "/limits/tokens", "value": 64000},
    {"op": "test", "path": "/model", "value": "gpt-4o"},
    {"op": "test", "path": "/model", "value": "claude"},
    {"op": "copy", "from": "/model", "path": "/fallback_model"},
    {"op": "move", "from": "/temperature", "path": "/temp"},
    {"op": "remove", "path": "/nope"},
    {"op": "add", "path": "/ssn", "value": "123-45-6789"},
    {"op": "add", "path": "/a~1b", "value": 1},
    {"op": "add", "path": "/tags/-", "value": "x"},
    {"op": "replace", "path": "", "value": {"model": "local"}},
    {"op": "bogus", "path": "/x"},
]


def settings(rng):
    s = {}
    if chance(rng, 0.5):
        s["model"] = rng.choice(["claude", "local", "", None, 3])
    if chance(rng, 0.4):
        s["tools"] = rng.choice([{"web": False}, {"code": True}, {"code": "true"}, {}, None, ["web"]])
    if chance(rng, 0.4):
        s["limits"] = {"tokens": rng.choice([4000, 32000, 32001, 2**64, 1e10, -1, 0.5, "lots", number(rng)])}
    if chance(rng, 0.2):
        s["temperature"] = rng.choice([0, 0.7, 1.0, 2, -0.0])
    if chance(rng, 0.1):
        s[weird_string(rng)] = odd(rng)
    return s


def generate(n, rng):
    out = []
    for _ in range(n):
        profile = {k: weird_string(rng) for k in rng.sample(["name", "email", "team", "locale", "ssn", "salary", "phone"], rng.randint(0, 5))}
        if chance(rng, 0.3):
            profile["prefs"] = {"ui": {"theme": rng.choice(["dark", "light", None, 1])}} if chance(rng, 0.7) else nested(rng, 20)
        x = {"user": {"id": "u1", "settings": settings(rng), "profile": profile, "groups": rng.choice([["eng"], [], None, "eng"])},
             "team": {"settings": settings(rng)}}
        if chance(rng, 0.5):
            x["overrides"] = [rng.choice(PATCH_OPS) for _ in range(rng.randint(0, 3))]
        if chance(rng, 0.05):
            x["user"] = odd(rng)
        if chance(rng, 0.03):
            x["team"]["settings"] = odd(rng)
        out.append(x)
    return out
