from genlib import chance, odd, weird_string

LABELS = ["finance", "hr", "legal", "security", "m&a", "pii", "", "FINANCE", "ünï", 3, None]
LEVELS = ["public", "internal", "confidential", "restricted", "secret", "", None, 2]
CHANNELS = ["slack-public", "slack-internal", "email-external", "dashboard", "vault", "sms", None]


def generate(n, rng):
    out = []
    for _ in range(n):
        docs = []
        for i in range(rng.choice([0, 1, 2, 3, 5, 10])):
            d = {"id": f"doc-{i if chance(rng, 0.95) else 0}" if chance(rng, 0.9) else weird_string(rng),
                 "level": rng.choice(LEVELS), "labels": rng.sample(LABELS, rng.randint(0, 4))}
            if chance(rng, 0.05):
                d["labels"] = odd(rng) if chance(rng, 0.5) else "finance"
            docs.append(d if chance(rng, 0.97) else odd(rng))
        x = {"user": {"id": "u", "clearances": rng.sample(["finance", "hr", "legal", "security", "m&a", "FINANCE", ""], rng.randint(0, 4))},
             "channel": rng.choice(CHANNELS), "documents": docs}
        if chance(rng, 0.03):
            x["user"]["clearances"] = odd(rng)
        out.append(x)
    return out
