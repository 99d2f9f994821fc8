"""JSON helpers shared by the differential harness.

Numbers are kept exact: floats parse as `decimal.Decimal` (so OPA's arbitrary-precision
results such as 0.33333333333333333334 survive), and `dumps` writes a Decimal's text verbatim.
Otherwise `dumps` matches `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.
"""
import json
import math
import sys
from decimal import Decimal

sys.set_int_max_str_digits(0)  # OPA may print 1e400 as a 401-digit integer


def loads(text):
    return json.loads(text, parse_float=Decimal)


def dumps(v, sort_keys=True):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Decimal):
        if not v.is_finite():
            raise ValueError(f"not a JSON number: {v}")
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"not a JSON number: {v}")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(dumps(x, sort_keys) for x in v) + "]"
    if isinstance(v, dict):
        items = sorted(v.items()) if sort_keys else v.items()
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + dumps(x, sort_keys) for k, x in items) + "}"
    raise TypeError(f"not JSON-serialisable: {type(v).__name__}")
