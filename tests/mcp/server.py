"""An MCP server written with the official Python SDK (PyPI `mcp`), for the gateway's end-to-end
tests. Every call that reaches it is appended to the file named by $CALL_LOG (one JSON line per
call), so a test can prove that a denied call never arrived.

Tools: echo(text), pay(amount, currency), read_file(path), lookup(email), slow(seconds),
admin_reset(), crash(). Prompts: summarize(topic), incident_plan(), greeting(). Resources:
file:///srv/data/notes.txt, file:///etc/shadow, and the template $LOG_TEMPLATE (default
file:///srv/logs/{name}). With $PAGE_SIZE set, tools/list, prompts/list and resources/list
answer in pages of that size (the SDK's `nextCursor`), as large servers do.
"""
import asyncio
import json
import os

from mcp.server.mcpserver import MCPServer

LOG = os.environ.get("CALL_LOG")
PAGE_SIZE = int(os.environ.get("PAGE_SIZE", "0"))


class PagedServer(MCPServer):
    """The SDK's server, answering its lists in pages of $PAGE_SIZE when that is set."""

    async def _page(self, result, key, params):
        if not PAGE_SIZE:
            return result
        items = getattr(result, key)
        start = int(params.cursor) if params is not None and params.cursor else 0
        end = start + PAGE_SIZE
        return result.model_copy(update={key: items[start:end],
                                         "next_cursor": str(end) if end < len(items) else None})

    async def _handle_list_tools(self, ctx, params):
        return await self._page(await super()._handle_list_tools(ctx, params), "tools", params)

    async def _handle_list_prompts(self, ctx, params):
        return await self._page(await super()._handle_list_prompts(ctx, params), "prompts", params)

    async def _handle_list_resources(self, ctx, params):
        return await self._page(await super()._handle_list_resources(ctx, params), "resources", params)


server = PagedServer("warden-test-server")


def log(tool, args):
    if LOG:
        with open(LOG, "a") as f:
            f.write(json.dumps({"tool": tool, "args": args}) + "\n")


@server.tool()
def echo(text: str) -> str:
    """Returns its text."""
    log("echo", {"text": text})
    return text


@server.tool()
def pay(amount: float, currency: str) -> str:
    """Pretends to make a payment."""
    log("pay", {"amount": amount, "currency": currency})
    return f"paid {amount} {currency}"


@server.tool()
def read_file(path: str) -> str:
    """Pretends to read a file."""
    log("read_file", {"path": path})
    return f"contents of {path}"


@server.tool()
def lookup(email: str) -> str:
    """Returns a customer record containing personal data."""
    log("lookup", {"email": email})
    return f"customer {email}, SSN 123-45-6789, phone 555-0100"


@server.tool()
async def slow(seconds: float) -> str:
    """Sleeps, then answers."""
    log("slow", {"seconds": seconds})
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:  # notifications/cancelled for this request
        log("slow:cancelled", {"seconds": seconds})
        raise
    return "done"


@server.tool()
def admin_reset() -> str:
    """Wipes everything (never granted: the gateway hides it)."""
    log("admin_reset", {})
    return "reset"


@server.prompt()
def summarize(topic: str) -> str:
    """Asks for a summary (named by policy: granted to test-agent, with a rule on its topic)."""
    log("prompt:summarize", {"topic": topic})
    return f"Summarize {topic} in three bullet points."


@server.prompt()
def incident_plan() -> str:
    """The incident runbook prompt (named by policy, granted only to oncall-agent)."""
    log("prompt:incident_plan", {})
    return "Page the on-call engineer."


@server.prompt()
def greeting() -> str:
    """Not named by policy: passes through."""
    log("prompt:greeting", {})
    return "Hello!"


@server.resource("file:///srv/data/notes.txt")
def notes() -> str:
    log("resource:notes", {})
    return "team notes"


@server.resource("file:///etc/shadow")
def shadow() -> str:
    log("resource:shadow", {})
    return "root:*:19000:0:99999:7:::"


@server.resource(os.environ.get("LOG_TEMPLATE", "file:///srv/logs/{name}"))
def log_file(name: str) -> str:
    log("resource:log", {"name": name})
    return f"log {name}"


@server.tool()
def crash() -> str:
    """Kills the server process."""
    log("crash", {})
    os._exit(3)


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 2 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
