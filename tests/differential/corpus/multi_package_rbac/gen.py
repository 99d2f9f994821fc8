from genlib import chance, odd, weird_string

ROLES = ["admin", "operator", "analyst", "viewer", "auditor", "billing", "ghost", "", "ADMIN", 5, None]
TOOLS = ["docs.search", "docs.read", "sql.query", "charts.render", "deploy.plan", "deploy.apply", "users.invite",
         "audit.export", "invoices.read", "payments.refund", "shell.exec", "", "DOCS.READ", None, 1]
TENANTS = ["acme", "acme-eu", "globex", "initech", "ACME", "", "ünï"]


def principal(rng):
    r = rng.random()
    roles = [rng.choice(ROLES) for _ in range(rng.randint(0, 3))]
    if r < 0.6:
        p = {"id": "agent-1", "tenant": rng.choice(TENANTS), "roles": roles}
    elif r < 0.8:
        p = f"bot@{rng.choice(TENANTS)}"
    elif r < 0.9:
        p = f"urn:agent:{rng.choice(TENANTS)}:x"
    else:
        p = odd(rng)
    if isinstance(p, dict) and chance(rng, 0.1):
        p["suspended"] = rng.choice([True, False, "true"])
    if isinstance(p, dict) and chance(rng, 0.05):
        p["roles"] = odd(rng)
    return p


def generate(n, rng):
    out = []
    for _ in range(n):
        res = rng.choice([{"tenant": rng.choice(TENANTS), "id": "doc-1"}, f"urn:doc:{rng.choice(TENANTS)}:1",
                          f"owner@{rng.choice(TENANTS)}", "urn:broken", weird_string(rng), None])
        out.append({"principal": principal(rng), "tool": rng.choice(TOOLS), "resource": res})
    return out
