from genlib import BAD_TIMES, chance, odd, rfc3339

TEAMS = ["payments", "infra", "support", "core", "tokyo", "local", "unknown", "", None]
DST = ["2024-03-31T00:59:59Z", "2024-03-31T01:00:00Z", "2024-10-27T00:30:00Z", "2024-10-27T01:30:00Z",
       "2024-03-10T06:59:59Z", "2024-03-10T07:00:00Z", "2024-11-03T05:30:00Z", "2024-11-03T06:30:00Z",
       "2024-12-24T23:30:00-05:00", "2024-12-25T04:59:59Z", "2024-01-01T00:00:00+05:30", "2023-12-31T18:30:00Z",
       "2024-02-29T12:00:00Z", "2024-01-31T12:00:00Z", "2025-01-31T08:00:00+01:00", "2024-10-02T09:00:00+05:30",
       "2024-05-01T07:59:59+02:00", "2024-06-15T13:29:59.999999999Z"]
SNOOZE = ["15m", "1h30m", "90s", "2h", "-30m", "1.5h", "300ms", "0", "1µs", "1h0m0.5s", "720h"]
BAD_SNOOZE = ["2562047h", "1d", "", "forever", "1h-5m", None, "9999999h"]


def generate(n, rng):
    out = []
    for _ in range(n):
        now = rng.choice(DST) if chance(rng, 0.35) else rfc3339(rng, (2024, 2025))
        opened = rfc3339(rng, (2023, 2025)) if chance(rng, 0.9) else rng.choice(DST + BAD_TIMES[:4])
        x = {"team": rng.choice(TEAMS), "now": now, "incident": {"id": "INC-1", "opened_at": opened},
             "snooze": rng.choice(BAD_SNOOZE if chance(rng, 0.04) else SNOOZE)}
        if chance(rng, 0.03):
            x["team"] = "broken"  # unknown IANA zone
        if chance(rng, 0.05):
            x["now"] = rng.choice(BAD_TIMES + [None, 1700000000])
        if chance(rng, 0.03):
            x["incident"] = odd(rng)
        out.append(x)
    return out
