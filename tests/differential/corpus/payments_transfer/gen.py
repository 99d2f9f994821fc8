from decimal import Decimal

from genlib import chance, mutate, number, odd, timestamp, weird_string

TIERS = ["basic", "standard", "treasury", "gold", "", None, 7, "BASIC"]
CURRENCIES = ["EUR", "USD", "GBP", "CHF", "eur", "JPY", "", None, 1]
COUNTRIES = ["DE", "FR", "kp", "KP", "IR", "us", "ir", "Sy", "", None, 42, "ÇU"]
AMOUNTS = [0.01, 1, 499.99, 500, 500.0001, 0.1 + 0.2, 9999.995, 10000.5, 10000.51, 123456.789, 1000000,
           1000000.01, -5, 0, -0.0, 2**53 + 1, 2**64, 10**25, Decimal("1e400"), Decimal("500.000"), "100", None]


def generate(n, rng):
    out = []
    for _ in range(n):
        x = {
            "agent": {"id": f"agent-{rng.randint(1, 50)}", "tier": rng.choice(TIERS)},
            "transfer": {
                "amount": rng.choice(AMOUNTS) if chance(rng, 0.6) else round(rng.uniform(0, 20000), rng.choice([0, 2, 3])),
                "currency": rng.choice(CURRENCIES),
                "country": rng.choice(COUNTRIES),
            },
            "request": {"time": timestamp(rng)},
            "usage": {"today": rng.choice([0, 100, 1999.99, 49000, 2**53, number(rng)])},
        }
        if chance(rng, 0.1):
            x["transfer"] = mutate(rng, x["transfer"], 0.8)
        if chance(rng, 0.05):
            x["agent"] = odd(rng)
        if chance(rng, 0.05):
            x["request"]["time"] = odd(rng)
        if chance(rng, 0.03):
            del x["usage"]
        if chance(rng, 0.03):
            x["transfer"]["currency"] = weird_string(rng)
        out.append(x)
    return out
