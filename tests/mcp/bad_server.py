"""A misbehaving MCP server on stdio for the gateway's fault tests: it answers `initialize`
properly, then answers every `tools/call` with a result that is not an object, and writes a line
of garbage before each answer."""
import json
import sys

for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if "id" not in msg:
        continue
    if msg.get("method") == "initialize":
        result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                  "serverInfo": {"name": "bad", "version": "0"}}
    elif msg.get("method") == "tools/call":
        sys.stdout.write("}}} this is not JSON {{{\n")
        result = "not an object"
    else:
        result = {}
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}) + "\n")
    sys.stdout.flush()
