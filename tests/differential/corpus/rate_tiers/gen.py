from genlib import chance, odd

PLANS = ["enterprise", "team", "business", "free", "", None, "ENTERPRISE"]
TOOLS = ["web.search", "code.exec", "llm.call", "fs.read", "shell", None]
COUNTS = ["0", "1", "7", "8", "9", "10", "11", "12", "15", "96", "120", "150", "180", "181", "5999", "7500", "7501",
          "1.5", "0.1", "-1", "1e2", "99999999999999999999", " 5", "", "abc", "0x1A", "1_0"]


def generate(n, rng):
    out = []
    for _ in range(n):
        c = rng.choice(COUNTS) if chance(rng, 0.85) else rng.choice([5, 7.5, None, True])
        x = {"org": {"plan": rng.choice(PLANS), "seats": rng.choice([0, 1, 5, -1, None, "3"])}, "tool": rng.choice(TOOLS),
             "headers": {"x-requests-last-minute": c}}
        if chance(rng, 0.05):
            del x["headers"]["x-requests-last-minute"]
        if chance(rng, 0.03):
            x["org"] = odd(rng)
        out.append(x)
    return out
