from genlib import chance, odd

AGENTS = ["orchestrator", "planner", "coder", "reviewer", "deployer", "ünïcode-agent", "rogue", "", "Planner", 7, None]
SCOPES = ["read", "write", "plan", "deploy", "admin", "", None]


def generate(n, rng):
    out = []
    for _ in range(n):
        length = rng.choice([0, 1, 2, 3, 3, 4, 5, 6, 12, 40])
        node = None
        names = ["orchestrator", "planner", "coder", "reviewer"] if chance(rng, 0.4) else [rng.choice(AGENTS) for _ in range(length)]
        names = names[:length] if length <= len(names) else names + [rng.choice(AGENTS) for _ in range(length - len(names))]
        for name in reversed(names):
            hop = {"agent": name}
            if chance(rng, 0.6):
                hop["scope"] = rng.choice(SCOPES)
            if node is not None:
                hop["on_behalf_of"] = node if chance(rng, 0.9) else [node]
            node = hop
        req = {"action": "deploy", "on_behalf_of": node}
        if chance(rng, 0.05):
            req["extra"] = {"agent": rng.choice(AGENTS)}
        if chance(rng, 0.03):
            req = odd(rng)
        out.append({"request": req})
    return out
