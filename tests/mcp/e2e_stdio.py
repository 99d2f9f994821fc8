"""End-to-end tests of `warden mcp` (the stdio MCP gateway) with the official MCP SDK (PyPI `mcp`)
on both sides: the SDK's client launches `warden mcp --config …`, which launches an MCP server
written with the SDK (tests/mcp/server.py). The server appends every call it receives to a log,
so a test can prove what reached it.

usage: e2e_stdio.py --warden target/debug/warden
Exits non-zero on the first failed check.
"""
import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

from harness import HERE, SERVER, calls, check, refused, summary, text

WARDEN = None


def config(dirname, **extra):
    cfg = {
        "tenant": "acme",
        "agent": "test-agent",
        "server": {"name": "testsrv", "command": sys.executable, "args": [SERVER],
                   "env": {"CALL_LOG": os.path.join(dirname, "calls.jsonl")}},
        "policies": HERE,
        "data_dir": os.path.join(dirname, "state"),
        "call_timeout_seconds": 3,
        "max_message_bytes": 65536,
    }
    cfg.update(extra)
    path = os.path.join(dirname, "mcp.yaml")
    with open(path, "w") as f:
        json.dump(cfg, f)  # JSON is YAML
    return path


def gateway(cfg):
    return stdio_client(StdioServerParameters(command=WARDEN, args=["mcp", "--config", cfg]))


async def session(cfg):
    ctx = gateway(cfg)
    r, w = await ctx.__aenter__()
    s = ClientSession(r, w)
    await s.__aenter__()
    await s.initialize()
    return ctx, s


async def close(ctx, s):
    await s.__aexit__(None, None, None)
    await ctx.__aexit__(None, None, None)


async def basics(d):
    cfg = config(d)
    # The same call made directly against the server, for comparison.
    async with stdio_client(StdioServerParameters(command=sys.executable, args=[SERVER])) as (r, w):
        async with ClientSession(r, w) as direct:
            await direct.initialize()
            want = await direct.call_tool("echo", {"text": "hello"})
    ctx, s = await session(cfg)
    tools = sorted(t.name for t in (await s.list_tools()).tools)
    check(tools == ["crash", "echo", "lookup", "pay", "read_file", "slow"],
          f"tools/list hides the never-granted admin_reset: {tools}")
    got = await s.call_tool("echo", {"text": "hello"})
    check(got.model_dump() == want.model_dump(), "an allowed call returns the server's result unchanged")

    err = await refused(s.call_tool("read_file", {"path": "/etc/passwd"}))
    check(err is not None and err.code == -32001, f"a denied call is a JSON-RPC error -32001: {err}")
    w = err.data["warden"]
    check(w["reasons"] == ["path_not_allowed"] and "under /srv/data/" in err.message
          and w["remediation"] == "Use a path under /srv/data/.",
          f"the denial is readable and carries reasons and remediation: {err.message}")
    check(not any(c["args"].get("path") == "/etc/passwd" for c in calls(d, "read_file")),
          "the denied call never reached the server (its log proves it)")
    ok = await s.call_tool("read_file", {"path": "/srv/data/a.txt"})
    check(text(ok) == "contents of /srv/data/a.txt", "an allowed read goes through")

    err = await refused(s.call_tool("pay", {"amount": 10, "currency": "EUR"}))
    check(err is not None and err.data["warden"]["reasons"] == ["currency_not_allowed"],
          "argument-level rules match the call's real arguments")

    res = await s.call_tool("lookup", {"email": "jane@example.com"})
    sent = calls(d, "lookup")[-1]["args"]["email"]
    check(sent == "[REDACTED:email]", f"sanitize rewrites the arguments before forwarding: {sent}")
    check("customer [REDACTED:email]" in text(res), "the server saw only the redacted argument")
    check("123-45-6789" not in json.dumps(res.model_dump()) and "[REDACTED:ssn]" in text(res),
          f"PII in the tool's result is masked before the client sees it: {text(res)}")

    err = await refused(s.call_tool("admin_reset", {}))
    check(err is not None and err.code == -32001, "a hidden tool is also refused when called by name")
    check(not calls(d, "admin_reset"), "and never reaches the server")
    await close(ctx, s)


async def prompts_and_resources(d):
    """Prompts and resources the policy names (prompt:NAME, resource:URI) are filtered from the
    lists and decided on get/read like tool calls; ones it does not name pass through."""
    ctx, s = await session(config(d))
    prompts = sorted(p.name for p in (await s.list_prompts()).prompts)
    check(prompts == ["greeting", "summarize"],
          f"prompts/list hides incident_plan (named, granted only to oncall-agent): {prompts}")
    resources = sorted(str(r.uri) for r in (await s.list_resources()).resources)
    check(resources == ["file:///srv/data/notes.txt"], f"resources/list hides /etc/shadow: {resources}")
    got = await s.get_prompt("summarize", {"topic": "Q4 revenue"})
    check("Summarize Q4 revenue" in got.messages[0].content.text, "a granted prompt is served")
    err = await refused(s.get_prompt("summarize", {"topic": "the admin password"}))
    check(err is not None and err.code == -32001 and err.data["warden"]["reasons"] == ["topic_not_allowed"],
          f"a prompt's arguments are decided like a tool call's: {err and err.message}")
    err = await refused(s.get_prompt("incident_plan", {}))
    check(err is not None and err.code == -32001, f"a named prompt not granted is refused: {err and err.message}")
    got = await s.get_prompt("greeting", {})
    check(got.messages[0].content.text == "Hello!", "a prompt the policy does not name passes through")
    text_of = lambda r: r.contents[0].text
    res = await s.read_resource("file:///srv/data/notes.txt")
    check(text_of(res) == "team notes", "a granted resource is read")
    err = await refused(s.read_resource("file:///etc/shadow"))
    check(err is not None and err.code == -32001, f"a named resource not granted is refused: {err and err.message}")
    logged = [c["tool"] for c in calls(d)]
    check("prompt:incident_plan" not in logged and "resource:shadow" not in logged
          and logged.count("prompt:summarize") == 1,
          f"refused prompts and reads never reached the server: {logged}")
    await close(ctx, s)


async def rate_limit_exact(d):
    cfg = config(d)
    ctx, s = await session(cfg)
    results = await asyncio.gather(*[s.call_tool("echo", {"text": f"m{i}"}) for i in range(500)],
                                   return_exceptions=True)
    ok = [r for r in results if not isinstance(r, Exception)]
    limited = [r for r in results if isinstance(r, MCPError) and r.error.code == -32003]
    check(len(ok) == 100 and len(limited) == 400,
          f"500 concurrent calls against a limit of 100: {len(ok)} forwarded, {len(limited)} rate limited")
    check(len(calls(d, "echo")) == 100, "exactly 100 reached the server")
    data = limited[0].error.data["warden"]
    check(data["reasons"] == ["rate_limit_exceeded"] and data["retry_after"] > 0
          and data["rate_limit_remaining"] == 0,
          f"rate_limited carries retry_after and rate_limit_remaining: {data}")
    await close(ctx, s)
    # A new session (and a new gateway process on the same state) does not reset the count.
    ctx, s = await session(cfg)
    err = await refused(s.call_tool("echo", {"text": "again"}))
    check(err is not None and err.code == -32003, "restart mid-window: the count continues")
    await close(ctx, s)


async def budget_exact(d):
    cfg = config(d)
    ctx, s = await session(cfg)
    rng = random.Random(7)
    amounts = [round(rng.uniform(1, 400), 2) for _ in range(60)]
    results = await asyncio.gather(*[s.call_tool("pay", {"amount": a, "currency": "USD"}) for a in amounts],
                                   return_exceptions=True)
    paid = sum(c["args"]["amount"] for c in calls(d, "pay"))
    ok = sum(1 for r in results if not isinstance(r, Exception))
    check(paid <= 5000 and ok == len(calls(d, "pay")) and sum(amounts) > 5000,
          f"budget 5,000 under {len(amounts)} concurrent payments totalling {sum(amounts):.2f}: forwarded {paid:.2f}")
    check(5000 - paid < 400, "and the budget was used up, not left idle")
    await close(ctx, s)


async def disconnect_releases(d):
    cfg = config(d)
    ctx, s = await session(cfg)
    task = asyncio.create_task(s.call_tool("slow", {"seconds": 30}))
    for _ in range(100):
        if calls(d, "slow"):
            break
        await asyncio.sleep(0.05)
    check(len(calls(d, "slow")) == 1, "the slow call reached the server")
    task.cancel()
    try:
        await task
    except BaseException:
        pass
    try:
        await close(ctx, s)  # the client goes away mid-call
    except BaseException:
        pass
    # slow allows 2 per hour: the abandoned call's charge was released, so two more fit.
    ctx, s = await session(cfg)
    r1 = await s.call_tool("slow", {"seconds": 0})
    r2 = await s.call_tool("slow", {"seconds": 0})
    check(text(r1) == "done" and text(r2) == "done",
          "a client that disconnects mid-call releases its reservation")
    err = await refused(s.call_tool("slow", {"seconds": 0}))
    check(err is not None and err.code == -32003, "and the limit still holds after that")
    await close(ctx, s)


async def timeout_and_crash(d):
    cfg = config(d)
    ctx, s = await session(cfg)
    t = time.monotonic()
    err = await refused(s.call_tool("slow", {"seconds": 20}))
    check(err is not None and err.code == -32005 and time.monotonic() - t < 10,
          f"a hanging server: the client gets a timeout error: {err}")
    check(text(await s.call_tool("echo", {"text": "still here"})) == "still here",
          "the gateway keeps serving after a timeout")
    err = await refused(s.call_tool("crash", {}))
    check(err is not None and err.code == -32006, f"a crashing server: the call gets an error: {err}")
    try:
        await close(ctx, s)
    except BaseException:
        pass


def approvals_cli(cfg, *args):
    r = subprocess.run([WARDEN, "approvals", *args, "--config", cfg], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


async def approvals(d):
    cfg = config(d, approvals={"approvers": {"acme": ["alice"]}, "ttl_seconds": 600})
    ctx, s = await session(cfg)
    call = {"amount": 2000, "currency": "USD"}
    err = await refused(s.call_tool("pay", call))
    aid = err.data["warden"].get("approval_id", "") if err else ""
    check(err is not None and err.code == -32002 and aid.startswith("apr_"),
          f"a payment above 1,000 needs approval and gets an approval id: {aid}")
    err2 = await refused(s.call_tool("pay", call))
    check(err2.data["warden"]["approval_id"] == aid, "an identical pending request is joined, not duplicated")
    check(not calls(d, "pay"), "nothing reached the server while waiting")
    code, out, _ = approvals_cli(cfg, "list")
    check(code == 0 and aid in out, "warden approvals list shows it")
    code, _, errtext = approvals_cli(cfg, "approve", aid, "--as", "test-agent")
    check(code != 0 and "cannot decide" in errtext, "the requesting agent cannot approve its own request")
    code, _, errtext = approvals_cli(cfg, "approve", aid, "--as", "mallory")
    check(code != 0 and "may not decide" in errtext, "only configured approvers decide")
    code, out, _ = approvals_cli(cfg, "approve", aid, "--as", "alice", "--note", "invoice checked")
    approved = json.loads(out)
    token = approved["token"]
    check(code == 0 and approved["state"] == "approved" and approved["decided_by"] == "alice",
          "alice approves, and the record says who and why")
    meta = {"warden/approval_token": token}
    err = await refused(s.call_tool("pay", {"amount": 2001, "currency": "USD"}, meta=meta))
    check(err is not None and "different call" in err.message, f"the token does not work for other arguments: {err and err.message}")
    res = await s.call_tool("pay", call, meta=meta)
    check(text(res) == "paid 2000.0 USD" and len(calls(d, "pay")) == 1, "the approved call goes through, once")
    err = await refused(s.call_tool("pay", call, meta=meta))
    check(err is not None and "consumed" in err.message, f"a replayed token is refused: {err and err.message}")
    check(len(calls(d, "pay")) == 1, "and the replay never reached the server")
    await close(ctx, s)
    code, out, _ = approvals_cli(cfg, "show", aid)
    check(json.loads(out)["state"] == "consumed", "the record ends consumed")


async def waiting_mode(d):
    """Waiting mode: the call is held (with progress notifications) until a person decides."""
    cfg = config(d, approvals={"approvers": {"acme": ["alice"]}, "wait_seconds": 30})
    ctx, s = await session(cfg)
    progress = []

    async def on_progress(p, total, message):
        progress.append(message)

    async def approve_when_pending(decision):
        for _ in range(200):
            code, out, _ = approvals_cli(cfg, "list")
            line = next((l for l in out.splitlines() if "pending" in l), None)
            if line:
                await asyncio.sleep(2.5)  # long enough for a progress notification
                return approvals_cli(cfg, decision, line.split()[0], "--as", "alice", "--note", "checked")
            await asyncio.sleep(0.1)
        return None

    t0 = time.monotonic()
    approver = asyncio.create_task(approve_when_pending("approve"))
    res = await s.call_tool("pay", {"amount": 3000, "currency": "USD"}, progress_callback=on_progress)
    await approver
    check(text(res) == "paid 3000.0 USD" and len(calls(d, "pay")) == 1,
          f"the held call completes the moment it is approved ({time.monotonic() - t0:.1f} s)")
    check(progress and "waiting for a person to approve apr_" in progress[0],
          f"the client got progress notifications while waiting: {progress[:1]}")
    denier = asyncio.create_task(approve_when_pending("deny"))
    err = await refused(s.call_tool("pay", {"amount": 1500, "currency": "USD"}))
    await denier
    check(err is not None and err.code == -32001 and "alice denied" in err.message and "checked" in err.message,
          f"a denial ends the held call with who and why: {err and err.message}")
    check(len(calls(d, "pay")) == 1, "the denied call never reached the server")
    await close(ctx, s)


def raw_protocol(d):
    """Malformed and oversized messages, straight over stdio without an SDK."""
    cfg = config(d)
    p = subprocess.Popen([WARDEN, "mcp", "--config", cfg], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)

    def send(line):
        p.stdin.write(line + "\n")
        p.stdin.flush()

    def recv():
        return json.loads(p.stdout.readline())

    send("this is not json")
    r = recv()
    check(r["error"]["code"] == -32700 and r["id"] is None, f"malformed JSON gets a parse error: {r}")
    send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"pad": "x" * 100000}}))
    r = recv()
    check(r["error"]["code"] == -32600 and "over the limit" in r["error"]["message"],
          f"an oversized message is refused: {r['error']['message']}")
    send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}))
    r = recv()
    check(r["id"] == 2 and "serverInfo" in r["result"], "the next request is served (initialize passes through)")
    send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
    send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": 5}}))
    r = recv()
    check(r["error"]["code"] == -32602, f"a tools/call without a string name gets invalid params: {r}")
    # A call sent as a notification (no id) is dropped, never forwarded undecided; a batch is
    # split into its messages, each decided on its own.
    send(json.dumps({"jsonrpc": "2.0", "method": "tools/call",
                     "params": {"name": "read_file", "arguments": {"path": "/etc/hosts"}}}))
    send(json.dumps([{"jsonrpc": "2.0", "id": 31, "method": "tools/call",
                      "params": {"name": "read_file", "arguments": {"path": "/etc/passwd"}}},
                     {"jsonrpc": "2.0", "id": 32, "method": "tools/call",
                      "params": {"name": "read_file", "arguments": {"path": "/srv/data/raw.txt"}}}]))
    got = {m["id"]: m for m in (recv(), recv())}
    send(json.dumps([[{"jsonrpc": "2.0", "id": 33, "method": "tools/call",
                       "params": {"name": "read_file", "arguments": {"path": "/etc/shadow"}}}]]))
    nested = recv()
    check(nested["error"]["code"] == -32600, f"a batch nested in a batch is refused: {nested}")
    paths = [c["args"]["path"] for c in calls(d, "read_file")]
    check(got[31]["error"]["code"] == -32001 and "result" in got[32] and "/srv/data/raw.txt" in paths
          and not {"/etc/passwd", "/etc/hosts", "/etc/shadow"} & set(paths),
          f"a batch is decided message by message and an id-less call is dropped: {paths}")
    send(json.dumps({"jsonrpc": "2.0", "id": 4, "method": "no/such/method"}))
    r = recv()
    check(r["id"] == 4 and r["error"]["code"] == -32601, f"unknown methods reach the server and its answer comes back: {r}")
    # A client that floods: 2,000 calls written without waiting. Each is answered (the first 100
    # by the server, the rest rate limited by policy) and the gateway stays responsive.
    for i in range(2000):
        p.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 1000 + i, "method": "tools/call",
                                  "params": {"name": "echo", "arguments": {"text": "x"}}}) + "\n")
    p.stdin.flush()
    answers = [recv() for _ in range(2000)]
    ok = sum(1 for a in answers if "result" in a)
    limited = sum(1 for a in answers if a.get("error", {}).get("code") == -32003)
    check(ok == 100 and limited == 1900 and len({a["id"] for a in answers}) == 2000,
          f"a flooding client: 2,000 calls answered ({ok} forwarded, {limited} rate limited)")
    send(json.dumps({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}))
    r = recv()
    check(r["id"] == 5 and "tools" in r["result"], "and the next request is served")
    p.stdin.close()
    p.wait(timeout=10)


def raw_gateway(cfg):
    """`warden mcp` on `cfg`, driven line by line: the process and a function that sends it one
    JSON-RPC message."""
    p = subprocess.Popen([WARDEN, "mcp", "--config", cfg], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)

    def send(m):
        p.stdin.write(json.dumps(m) + "\n")
        p.stdin.flush()
    return p, send


def malformed_server(d):
    """A server that writes garbage and answers tools/call with a non-object result."""
    cfg = config(d, server={"name": "testsrv", "command": sys.executable,
                            "args": [os.path.join(HERE, "bad_server.py")]})
    p, send = raw_gateway(cfg)
    send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
    send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
          "params": {"name": "echo", "arguments": {"text": "hi"}}})
    first = json.loads(p.stdout.readline())
    second = json.loads(p.stdout.readline())
    check(first["id"] == 1 and "result" in first, "the garbage line is dropped, not passed to the client")
    check(second["id"] == 2 and second["error"]["code"] == -32006,
          f"a malformed tool result becomes a clear error: {second['error']['message']}")
    p.stdin.close()
    p.wait(timeout=10)


def leaky_server(d):
    """A server that tries to slip an unmasked result past the gateway through the answer's
    framing (tests/mcp/leaky_server.py): none of it reaches the client."""
    import queue
    import threading
    cfg = config(d, server={"name": "testsrv", "command": sys.executable,
                            "args": [os.path.join(HERE, "leaky_server.py")]})
    p, send = raw_gateway(cfg)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in p.stdout], daemon=True).start()
    seen = []

    def answer(rid, wait=5.0):
        """The next line answering `rid` (other lines are kept in `seen`), or None."""
        end = time.monotonic() + wait
        while time.monotonic() < end:
            try:
                line = lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                break
            seen.append(line)
            m = json.loads(line)
            if isinstance(m, dict) and m.get("id") == rid:
                return m
        return None

    def lookup(rid, mode):
        send({"jsonrpc": "2.0", "id": rid, "method": "tools/call",
              "params": {"name": "lookup", "arguments": {"email": f"mode:{mode}"}}})

    send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
    check(answer(1) is not None, "leaky server: initialized through the gateway")
    lookup(2, "text")
    m = answer(2)
    check(m is not None and "123-45-6789" not in json.dumps(m), "a plain result is masked")
    lookup(3, "strid")
    m = answer(3)
    check(m is not None and m.get("error", {}).get("code") == -32005
          and not any('"id": "3"' in l or '"id":"3"' in l for l in seen),
          "an answer whose id comes back as a string is dropped; the call times out")
    lookup(4, "dup")
    m = answer(4)
    check(m is not None and "clean" in json.dumps(m), "the first answer to a call is relayed")
    lookup(5, "batch")
    m = answer(5)
    check(m is not None and isinstance(m, dict), "an answer inside a batch is taken out and inspected")
    lookup(6, "stray")
    m = answer(6)
    check(m is not None and "clean" in json.dumps(m), "an answer to an id nobody sent is dropped")
    lookup(7, "error")
    m = answer(7)
    check(m is not None and "error" in m and "123-45-6789" not in json.dumps(m),
          f"an error answer is masked like a result: {m and m['error']['message']}")
    send({"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {
        "name": "lookup", "arguments": {"email": "mode:progress"}, "_meta": {"progressToken": "p10"}}})
    m = answer(10)
    notes = [json.loads(l) for l in seen if '"notifications/progress"' in l]
    check(m is not None and len(notes) == 1 and "[REDACTED" in notes[0]["params"]["message"],
          f"progress about a call is masked like its result: {notes}")
    lookup(8, "late")
    send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 8}})
    check(answer(8, wait=2.5) is None, "a cancelled call's late answer is dropped")
    # Client ids: not a string or an integer, or one still in flight, are refused.
    for bad in [None, {"x": 1}, True, 1.5]:
        send({"jsonrpc": "2.0", "id": bad, "method": "tools/call",
              "params": {"name": "echo", "arguments": {"text": "hi"}}})
        m = answer(bad)
        check(m is not None and m.get("error", {}).get("code") == -32600, f"request id {bad!r} is refused")
    lookup(9, "late")
    lookup(9, "text")
    first = answer(9)
    check(first is not None and first.get("error", {}).get("code") == -32600,
          "a second request with an id in flight is refused")
    check(answer(9) is not None, "the first request with that id is still answered")
    # `slow` allows 2 calls an hour. A server may finish a cancelled call anyway; when it answers
    # with a success, the call is charged (over HTTP alike), so cancelling cannot lift a limit.
    for rid in (20, 21):
        send({"jsonrpc": "2.0", "id": rid, "method": "tools/call",
              "params": {"name": "slow", "arguments": {"text": "mode:late"}}})
        time.sleep(0.3)  # decided and forwarded (a call cancelled before that is never sent)
        send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": rid}})
    time.sleep(2.5)
    send({"jsonrpc": "2.0", "id": 22, "method": "tools/call", "params": {"name": "slow", "arguments": {}}})
    m = answer(22)
    check(m is not None and m.get("error", {}).get("code") == -32003,
          f"cancelled calls the server finished still count against the limit: {m}")
    check(not any("123-45-6789" in l for l in seen), f"no SSN reached the client in {len(seen)} lines")
    p.stdin.close()
    p.wait(timeout=10)


def held_call_cancelled(d):
    """A call held for approval that the client cancels is not made when it is approved, and
    does not use the approval up."""
    cfg = config(d, approvals={"approvers": {"acme": ["alice"]}, "wait_seconds": 30})
    p, send = raw_gateway(cfg)

    send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
    json.loads(p.stdout.readline())
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    send({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
          "params": {"name": "pay", "arguments": {"amount": 3000, "currency": "USD"}}})
    aid = None
    for _ in range(100):
        _, out, _ = approvals_cli(cfg, "list")
        line = next((l for l in out.splitlines() if "pending" in l), None)
        if line:
            aid = line.split()[0]
            break
        time.sleep(0.1)
    send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}})
    time.sleep(0.5)
    approvals_cli(cfg, "approve", aid, "--as", "alice")
    time.sleep(1.5)
    _, out, _ = approvals_cli(cfg, "show", aid)
    check(not calls(d, "pay") and json.loads(out)["state"] == "approved",
          "a held call the client cancelled is not made when approved, and the approval is not used up")
    p.stdin.close()
    p.wait(timeout=10)


async def main():
    global WARDEN
    ap = argparse.ArgumentParser()
    ap.add_argument("--warden", required=True)
    WARDEN = os.path.abspath(ap.parse_args().warden)
    for name, test in [("basics", basics), ("prompts and resources", prompts_and_resources),
                       ("rate limit", rate_limit_exact), ("budget", budget_exact),
                       ("disconnect", disconnect_releases), ("timeout and crash", timeout_and_crash),
                       ("approvals", approvals), ("waiting mode", waiting_mode)]:
        print(f"== {name}")
        with tempfile.TemporaryDirectory() as d:
            await test(d)
    for name, test in [("raw protocol", raw_protocol), ("malformed server", malformed_server),
                       ("held call cancelled", held_call_cancelled), ("leaky server", leaky_server)]:
        print(f"== {name}")
        with tempfile.TemporaryDirectory() as d:
            test(d)
    summary()


if __name__ == "__main__":
    asyncio.run(main())
