from genlib import chance, number, odd, weird_string

TEAMS = ["payments", "infra", "legal", "marketing", "", "PAYMENTS"]
KINDS = ["transfer", "refund", "export", "deploy", "unknown"]
FLAGS = ["urgent", "urgent-p1", "exec", "low", "URGENT", ""]
FIELDS = ["iban", "amount", "purpose", "reason", "service", "note"]
PEOPLE = ["alice", "bob", "carol"]


def item(rng):
    x = {}
    if chance(rng, 0.8):
        x["sku"] = rng.choice(["A-1", "B-2", "C-3", "D-4"])
    if chance(rng, 0.7):
        x["amount"] = rng.choice([5, 250, 1500, 20000, 99.5]) if chance(rng, 0.85) else number(rng)
    if chance(rng, 0.4):
        x["label"] = rng.choice(["hw", "sw", "svc", weird_string(rng)])
    return x


def generate(n, rng):
    out = []
    for _ in range(n):
        r = {"kind": rng.choice(KINDS)}
        if chance(rng, 0.85):
            r["team"] = rng.choice(TEAMS)
        if chance(rng, 0.8):
            r["flags"] = [rng.choice(FLAGS) for _ in range(rng.choice([0, 0, 1, 2, 3]))]
        if chance(rng, 0.8):
            r["requester"] = rng.choice(PEOPLE)
        if chance(rng, 0.7):
            r["signatures"] = [{"by": rng.choice(PEOPLE)} for _ in range(rng.choice([0, 0, 1, 2]))]
        if chance(rng, 0.8):
            r["fields"] = {f: rng.choice([True, True, "x", False, None]) for f in rng.sample(FIELDS, rng.randint(0, 4))}
        if chance(rng, 0.8):
            r["items"] = [item(rng) for _ in range(rng.choice([0, 1, 2, 3]))]
        if chance(rng, 0.6):
            r["owner"] = rng.choice(["alice", "", None, 7])
        if chance(rng, 0.3):
            r["first_amount"] = rng.choice([50, 5000, 50000, "12", None])
        if chance(rng, 0.05):
            r[rng.choice(["flags", "signatures", "items", "fields"])] = odd(rng)
        out.append({"request": r})
    return out
