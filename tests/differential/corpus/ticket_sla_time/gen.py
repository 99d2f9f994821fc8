from genlib import chance, odd, rfc3339

OPENED = ["2024-01-31T10:00:00Z", "2024-02-29T23:00:00Z", "2023-02-28T12:00:00+01:00", "2024-03-30T20:00:00-04:00",
          "2024-10-26T22:30:00+02:00", "2024-12-31T23:59:59Z", "2024-04-06T15:45:00+10:00", "2024-08-31T08:00:00+05:45"]
CLOSED = ["2024-02-01 10:00:00 +0000", "2024-03-01 09:00:00 +0100", "2024-02-29 13:59:59 +0000", "2024-03-31 02:30:00 +0200",
          "2024-10-27 02:30:00 +0100", "2025-01-01 00:00:00 +0000", "2024-04-07 03:00:00 +1000", "2024-09-02 17:00:00 +0545",
          "2024-02-03 10:00:00 -0500", "2024-01-31 09:00:00 +0000", "2024-13-01 00:00:00 +0000", "2024-01-01T00:00:00Z", ""]


def closed_from(rng):
    y, mo, d = rng.randint(2023, 2025), rng.randint(1, 12), rng.randint(1, 28)
    off = rng.choice(["+0000", "+0100", "-0500", "+0530", "+0545", "+1000", "-1200"])
    return f"{y}-{mo:02d}-{d:02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} {off}"


def generate(n, rng):
    out = []
    for _ in range(n):
        opened = rng.choice(OPENED) if chance(rng, 0.4) else rfc3339(rng, (2023, 2025))
        closed = rng.choice(CLOSED) if chance(rng, 0.4) else closed_from(rng)
        x = {"ticket": {"id": "T-1", "priority": rng.choice(["p1", "p2", "p3", "p4", "p5", None]), "opened_at": opened, "closed_at": closed},
             "customer": {"region": rng.choice(["us", "de", "in", "au", "np", "utc", "mars", None])}}
        if chance(rng, 0.03):
            x["ticket"]["closed_at"] = odd(rng)
        out.append(x)
    return out
