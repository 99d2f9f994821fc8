"""What the MCP end-to-end tests share: checks that stop at the first failure, the test server's
call log, and reading a refused call's JSON-RPC error."""
import json
import os
import sys

from mcp.shared.exceptions import MCPError

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "server.py")
passed = 0


def check(cond, what):
    global passed
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    passed += 1
    print(f"ok: {what}")


def calls(dirname, tool=None):
    """The calls tests/mcp/server.py received (it logs them to <dirname>/calls.jsonl)."""
    path = os.path.join(dirname, "calls.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        out = [json.loads(line) for line in f if line.strip()]
    return [c for c in out if tool is None or c["tool"] == tool]


def text(result):
    return "".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def refused(coro):
    """The JSON-RPC error a call was refused with, or None if it succeeded."""
    try:
        await coro
    except MCPError as e:
        return e.error
    return None


def summary():
    print(f"{passed} checks passed")
