from decimal import Decimal

from genlib import NUMBERS, chance, odd

BIG = [2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**64 + 1, 2**100, -(2**64), 10**18, 10**30, -(10**30)]
DEC = [0.1, 0.2, 0.30000000000000004, 1.005, 2.675, 0.5, 1.5, 2.5, -2.5, -0.5, 1e-9, 123456789.123456789, 1e300,
       Decimal("0.1"), Decimal("1.10"), Decimal("-0.0"), Decimal("3.0"), Decimal("1E+2"), Decimal("0.000000000000000000001")]
LIMITS = ["1000000", "1e20", "18446744073709551616", "0.5", "-1", "9007199254740993", "0", "1e308", "1e400", "abc", ""]


def amount(rng):
    r = rng.random()
    if r < 0.35:
        return rng.randint(-100000, 100000)
    if r < 0.55:
        return rng.choice(BIG)
    if r < 0.85:
        return rng.choice(DEC)
    if r < 0.95:
        return rng.choice(NUMBERS)
    return odd(rng)


def generate(n, rng):
    out = []
    for _ in range(n):
        entries = [{"id": i, "amount": amount(rng)} for i in range(rng.choice([0, 1, 2, 2, 3, 5]))]
        if chance(rng, 0.1):
            entries = [{"amount": 0.1}, {"amount": 0.2}]
        x = {"account": {"balance": amount(rng) if chance(rng, 0.5) else rng.choice(BIG + [0, 100]),
                         "limit": rng.choice(LIMITS[:8]) if chance(rng, 0.95) else rng.choice(LIMITS[8:])},
             "entries": entries}
        if chance(rng, 0.03):
            x["account"]["balance"] = odd(rng)
        out.append(x)
    return out
