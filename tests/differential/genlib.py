"""Helpers for corpus gen.py files: pools of awkward JSON values and small random builders.

Every helper takes the case's `random.Random` so generation is deterministic. `Decimal` values
are written verbatim into the JSONL (e.g. Decimal("1e400"), Decimal("1.0"), Decimal("-0")).
"""
from decimal import Decimal

# Numbers that engines disagree on most often.
NUMBERS = [
    0, 1, -1, 7, 100, 2**31 - 1, 2**31, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 2**64 + 1,
    -(2**63), 10**20, 10**30, -(10**25), 0.1, 0.2, 0.1 + 0.2, 0.3, 1.5, 2.5, -2.5, -0.5, 0.5,
    1e-7, 123.456, 99.995, 1e15, 1e16, 1.7976931348623157e308, 5e-324, -0.0, 3.0,
    Decimal("1.0"), Decimal("-0"), Decimal("1e2"), Decimal("1E400"), Decimal("0.30000000000000000001"),
]
STRINGS = [
    "", " ", "a", "A", "admin", "Admin", "ADMIN", "  padded  ", "\t\n", "null", "true", "0", "-1", "1e3",
    "0x1F", "ünïcødé", "日本語テキスト", "emoji 🚀🔥", "e\u0301", "Ω≈ç√", "zero\u200bwidth", "🙂" * 10,
    "a" * 300, "line1\nline2", "quote\"back\\slash", "%s %d %v", "../../etc/passwd", "*", "?", "[abc]",
]
ODDS = [None, True, False, [], {}, [None], {"": None}, "", 0, -0.0, [[[]]], {"a": {"b": {}}}]
UNICODE_WORDS = ["naïve", "café", "straße", "İstanbul", "ǅ", "ﬁ", "Ωmega", "ß", "ῼ", "mañana", "Ⅻ", "𝔘𝔫𝔦"]


def chance(rng, p):
    return rng.random() < p


def odd(rng):
    """A value of a random, probably wrong, type."""
    return rng.choice(ODDS + NUMBERS[:10] + STRINGS[:10])


def number(rng):
    return rng.choice(NUMBERS)


def weird_string(rng):
    return rng.choice(STRINGS + UNICODE_WORDS)


def nested(rng, depth, leaf=None):
    """An object nested `depth` levels deep: {"n": {"n": ... leaf}}."""
    v = leaf if leaf is not None else rng.choice(["x", 1, None, [1, 2]])
    for _ in range(depth):
        v = {"n": v} if chance(rng, 0.7) else [v]
    return v


def mutate(rng, obj, p=0.25):
    """Randomly damage a flat dict: drop a key, null it, retype it, or blank a string."""
    obj = dict(obj)
    for k in list(obj):
        if not chance(rng, p / max(1, len(obj) // 3)):
            continue
        r = rng.random()
        if r < 0.3:
            del obj[k]
        elif r < 0.5:
            obj[k] = None
        elif r < 0.8:
            obj[k] = odd(rng)
        else:
            obj[k] = "" if isinstance(obj[k], str) else weird_string(rng)
    return obj


def rfc3339(rng, year_range=(2023, 2026)):
    """A random RFC 3339 timestamp with a random offset and sometimes fractional seconds."""
    y = rng.randint(*year_range)
    mo, d = rng.randint(1, 12), rng.randint(1, 28)
    h, mi, s = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    frac = rng.choice(["", "", ".5", ".123456789", ".000001"])
    off = rng.choice(["Z", "Z", "+00:00", "+01:00", "+02:00", "-05:00", "-04:00", "+05:30", "+14:00", "-12:00"])
    return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{off}"


BAD_TIMES = ["", "yesterday", "2024-13-01T00:00:00Z", "2024-02-30T10:00:00Z", "2024-01-01", "2024-01-01 10:00:00Z",
             "2024-01-01T24:00:00Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
             "2024-03-31T01:59:59+01:00", "2024-03-10T02:30:00-05:00", "2024-11-03T01:30:00-04:00",
             "2024-02-29T23:59:60Z", "2024-06-15T12:00:00.999999999+00:00", "2024-06-15t12:00:00z"]


def timestamp(rng):
    return rng.choice(BAD_TIMES) if chance(rng, 0.15) else rfc3339(rng)
