from genlib import chance, nested, odd, weird_string

SECRETS = ["AKIAIOSFODNN7EXAMPLE", "akiaiosfodnn7example", "AKIA1234", "sk-abcdefghijklmnopqrstuvwxyz123456",
           "sk-short", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "bearer abc==", "BEARER   x",
           "alice@example.com", "ALICE@EXAMPLE.CO.UK", "bob+tag@sub.domain.io", "not@an", "@x.com",
           "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "411111111111", "12345678901234567890",
           "josé@exämple.com", "用户@例子.公司", "<b>x&y</b> a@b.io", "\u2028sep"]
KEYS = ["query", "body", "note", "password", "secret", "token", "api_key", "headers", "to", "cc", "ünï", ""]


def text(rng):
    k = rng.randint(0, 3)
    words = [rng.choice(SECRETS) if chance(rng, 0.5) else weird_string(rng) for _ in range(k)]
    return rng.choice([" ", "\n", ", ", "\t"]).join(words)


def value(rng, depth=0):
    r = rng.random()
    if depth < 3 and r < 0.15:
        return {rng.choice(KEYS): value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    if depth < 3 and r < 0.25:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if r < 0.85:
        return text(rng)
    return odd(rng)


def generate(n, rng):
    out = []
    for _ in range(n):
        args = {rng.choice(KEYS): value(rng) for _ in range(rng.randint(0, 5))}
        if chance(rng, 0.03):
            args["deep"] = nested(rng, rng.choice([10, 40, 140]), leaf="AKIAIOSFODNN7EXAMPLE")
        x = {"call": {"tool": rng.choice(["email.send", "sql.query", "http.post"]), "args": args}}
        if chance(rng, 0.04):
            x["call"]["args"] = odd(rng)
        if chance(rng, 0.02):
            x = {}
        out.append(x)
    return out
