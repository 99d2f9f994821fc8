from decimal import Decimal

from genlib import NUMBERS, chance, odd

MODELS = ["gpt-4o", "claude", "local", "mystery", "", None]
TOK_STR = ["100", "1e3", "0x10", " 42", "42 ", "-7", "3.5", "1_000", "", "NaN", "Infinity", "0.1", "007",
           "18446744073709551616", "1e400"]


def tok(rng):
    r = rng.random()
    if r < 0.6:
        return rng.randint(0, 50000)
    if r < 0.8:
        return rng.choice(NUMBERS)
    if r < 0.95:
        return rng.choice(TOK_STR)
    return rng.choice([None, True, [1], {"n": 1}, Decimal("1.0")])


def generate(n, rng):
    out = []
    for _ in range(n):
        steps = [{"step": i, "tokens": tok(rng) if chance(rng, 0.3) else rng.randint(0, 40000)}
                 for i in range(rng.choice([0, 1, 2, 3, 5, 8, 20]))]
        if chance(rng, 0.05):
            steps.append(odd(rng))
        x = {"run_id": "r-1", "model": rng.choice(MODELS), "steps": steps}
        if chance(rng, 0.03):
            x["steps"] = odd(rng)
        out.append(x)
    return out
