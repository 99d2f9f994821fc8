"""End-to-end tests of the MCP gateway over Streamable HTTP, with the official MCP SDK (PyPI `mcp`)
on both sides: tests/mcp/server.py serves Streamable HTTP, `warden mcp` (config `server.url`)
serves its own endpoint in front of it, and the SDK's Streamable HTTP client talks to Warden.

usage: e2e_http.py --warden target/debug/warden
"""
import argparse
import asyncio
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from harness import HERE, SERVER, calls, check, refused, summary


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what):
    for _ in range(200):
        if proc.poll() is not None:
            sys.exit(f"{what} exited early")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not start")


async def run(d, direct_url, warden_url):
    async with streamable_http_client(direct_url) as (r, w, *_):
        async with ClientSession(r, w) as direct:
            await direct.initialize()
            want = await direct.call_tool("echo", {"text": "hello"})
    async with streamable_http_client(warden_url) as (r, w, *_):
        async with ClientSession(r, w) as s:
            await s.initialize()
            tools = sorted(t.name for t in (await s.list_tools()).tools)
            check(tools == ["crash", "echo", "lookup", "pay", "read_file", "slow"],
                  f"tools/list through Warden hides admin_reset: {tools}")
            got = await s.call_tool("echo", {"text": "hello"})
            check(got.model_dump() == want.model_dump(), "an allowed call returns the server's result unchanged")
            prompts = sorted(p.name for p in (await s.list_prompts()).prompts)
            err = await refused(s.read_resource("file:///etc/shadow"))
            check(prompts == ["greeting", "summarize"] and err is not None and err.code == -32001
                  and not calls(d, "resource:shadow"),
                  f"prompts and resources the policy names are filtered and decided over HTTP too: {prompts}")
            err = await refused(s.call_tool("read_file", {"path": "/etc/passwd"}))
            check(err is not None and err.code == -32001 and err.data["warden"]["reasons"] == ["path_not_allowed"],
                  f"a denied call gets a readable error: {err and err.message}")
            check(not any(c["args"]["path"] == "/etc/passwd" for c in calls(d, "read_file")),
                  "the denied call never reached the server")
            res = await s.call_tool("lookup", {"email": "jane@example.com"})
            check(calls(d, "lookup")[-1]["args"]["email"] == "[REDACTED:email]",
                  "sanitize rewrites arguments over HTTP too")
            check("123-45-6789" not in json.dumps(res.model_dump()),
                  "PII in the tool's result is masked inside the SSE stream")
            results = await asyncio.gather(*[s.call_tool("echo", {"text": f"m{i}"}) for i in range(300)],
                                           return_exceptions=True)
            ok = sum(1 for x in results if not isinstance(x, BaseException))
            limited = sum(1 for x in results if isinstance(x, MCPError) and x.error.code == -32003)
            # One echo was used above: 99 of the 100 remain.
            check(ok == 99 and limited == 201 and len(calls(d, "echo")) == 101,
                  f"300 concurrent calls with 99 left of a limit of 100: {ok} forwarded, {limited} rate limited")
    # A new HTTP session for the same agent keeps the count.
    async with streamable_http_client(warden_url) as (r, w, *_):
        async with ClientSession(r, w) as s:
            await s.initialize()
            err = await refused(s.call_tool("echo", {"text": "again"}))
            check(err is not None and err.code == -32003, "a new session does not reset the limit")


async def aggregated(d, mirror_dir, warden_url):
    """One endpoint over two upstreams: tools namespaced <server>__<tool>, each call decided with
    its server's policy and routed to it."""
    async with streamable_http_client(warden_url) as (r, w, *_):
        async with ClientSession(r, w) as s:
            init = await s.initialize()
            check(init.server_info.name == "warden", f"Warden answers initialize itself: {init.server_info.name}")
            tools = sorted(t.name for t in (await s.list_tools()).tools)
            check("testsrv__echo" in tools and "mirror__echo" in tools and "testsrv__admin_reset" not in tools
                  and "mirror__pay" not in tools,
                  f"tools/list merges both servers, namespaced and filtered per server: {tools}")
            got = await s.call_tool("mirror__echo", {"text": "via mirror"})
            check(got.content[0].text == "via mirror" and calls(mirror_dir, "echo")[-1]["args"]["text"] == "via mirror",
                  "a namespaced call reaches its own server (its log proves it)")
            err = await refused(s.call_tool("mirror__pay", {"amount": 1, "currency": "USD"}))
            check(err is not None and err.code == -32001 and not calls(mirror_dir, "pay"),
                  f"a tool not granted on that server is refused and never reaches it: {err and err.message}")
            err = await refused(s.call_tool("testsrv__read_file", {"path": "/etc/passwd"}))
            check(err is not None and err.data["warden"]["reasons"] == ["path_not_allowed"],
                  "argument rules of the other server apply to its namespaced tools")
            err = await refused(s.call_tool("nowhere__echo", {"text": "x"}))
            check(err is not None and err.code == -32602 and "no MCP server `nowhere`" in err.message,
                  f"an unknown namespace is a clear error: {err and err.message}")

            # Prompts: namespaced like tools, filtered and decided with each server's policy.
            prompts = sorted(p.name for p in (await s.list_prompts()).prompts)
            check("testsrv__summarize" in prompts and "testsrv__greeting" in prompts
                  and "testsrv__incident_plan" not in prompts and "mirror__incident_plan" in prompts
                  and "mirror__greeting" in prompts,
                  f"prompts/list merges both servers; a prompt testsrv's policy names but does not grant "
                  f"is hidden, mirror's (not named there) passes: {prompts}")
            got = await s.get_prompt("testsrv__summarize", {"topic": "the weather"})
            check("the weather" in json.dumps(got.model_dump()) and calls(d, "prompt:summarize")
                  and not calls(mirror_dir, "prompt:summarize"),
                  "a namespaced prompt comes from its own server")
            err = await refused(s.get_prompt("testsrv__summarize", {"topic": "the admin password"}))
            check(err is not None and err.code == -32001 and err.data["warden"]["reasons"] == ["topic_not_allowed"]
                  and len(calls(d, "prompt:summarize")) == 1,
                  f"a prompt's argument rule refuses it before the server sees it: {err and err.message}")
            err = await refused(s.get_prompt("testsrv__incident_plan", {}))
            check(err is not None and err.code == -32001 and not calls(d, "prompt:incident_plan"),
                  f"a prompt not granted is refused: {err and err.message}")

            # Resources: listed under their own URIs, each read routed to the server that listed it.
            uris = sorted(str(r.uri) for r in (await s.list_resources()).resources)
            check(uris == ["file:///etc/shadow", "file:///srv/data/notes.txt"],
                  f"resources/list merges both servers, a URI both list shown once; testsrv's "
                  f"/etc/shadow hidden, mirror's (not named there) listed: {uris}")
            got = await s.read_resource("file:///srv/data/notes.txt")
            check(calls(d, "resource:notes") and not calls(mirror_dir, "resource:notes")
                  and got.contents and "notes" in json.dumps(got.model_dump()).lower(),
                  "a resource both servers have is read from the first in the configuration")
            await s.read_resource("file:///etc/shadow")
            check(calls(mirror_dir, "resource:shadow") and not calls(d, "resource:shadow"),
                  "a resource only mirror lists is read from mirror, under mirror's policy")
            err = await refused(s.read_resource("file:///nowhere.txt"))
            check(err is not None and err.code == -32602 and "list resources or templates first" in err.message,
                  f"a URI no server listed is a clear error: {err and err.message}")

            # Resource templates: merged; a URI made from one is read from the server that listed it.
            templates = sorted(t.uri_template for t in (await s.list_resource_templates()).resource_templates)
            check(templates == ["file:///mirror/logs/{name}", "file:///srv/logs/{name}"],
                  f"resources/templates/list merges both servers' templates: {templates}")
            await s.read_resource("file:///mirror/logs/app.log")
            await s.read_resource("file:///srv/logs/db.log")
            check([c["args"]["name"] for c in calls(mirror_dir, "resource:log")] == ["app.log"]
                  and [c["args"]["name"] for c in calls(d, "resource:log")] == ["db.log"],
                  "a URI matching a server's resource template is read from that server (the logs prove it)")
            err = await refused(s.read_resource("file:///srv/logs/a/b.log"))
            check(err is not None and err.code == -32602,
                  f"a URI that a template's {{name}} cannot expand to matches no template: {err and err.message}")
    # Lists are answered whole: mirror pages every list (PAGE_SIZE=1) and its later pages were
    # merged above (mirror__greeting, /etc/shadow); a cursor from the client is invalid.
    status, sid, _ = raw_post(warden_url, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}})
    status, _, answer = raw_post(warden_url, {"jsonrpc": "2.0", "id": 2, "method": "tools/list",
                                              "params": {"cursor": "1"}}, sid)
    check(status == 200 and answer.get("error", {}).get("code") == -32602 and "cursor" in answer["error"]["message"],
          f"a cursor on the aggregated endpoint's single-page lists is -32602: {answer}")


def raw_post(url, body, session=None):
    """POSTs `body` (any JSON) as an MCP client would; returns (status, session id, JSON answer)."""
    import urllib.error
    import urllib.request
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if session:
        headers["Mcp-Session-Id"] = session
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
            status, sid = r.status, r.headers.get("mcp-session-id")
    except urllib.error.HTTPError as e:
        text, status, sid = e.read().decode(), e.code, None
    try:
        answer = json.loads(text) if text.strip() else None
    except ValueError:  # an event stream
        answer = [json.loads(l[5:]) for l in text.splitlines() if l.startswith("data:")]
    return status, sid, answer


def batches(d, warden_url):
    """A JSON-RPC batch (MCP 2025-03-26) cannot carry a call past its decision: each message is
    decided as if sent alone. A call sent as a notification (no id) is refused, never forwarded."""
    status, sid, _ = raw_post(warden_url, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
    raw_post(warden_url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
    call = lambda i, path: {"jsonrpc": "2.0", "id": i, "method": "tools/call",
                            "params": {"name": "read_file", "arguments": {"path": path}}}
    status, _, answer = raw_post(warden_url, [call(7, "/etc/passwd"), call(8, "/srv/data/batch.txt"),
                                              {"jsonrpc": "2.0", "method": "notifications/progress",
                                               "params": {"progressToken": "t", "progress": 1}}], sid)
    by_id = {m.get("id"): m for m in answer or []}
    check(status == 200 and len(answer or []) == 2 and by_id.get(7, {}).get("error", {}).get("code") == -32001
          and "result" in by_id.get(8, {}),
          f"a batch is answered message by message: the denied call refused, the allowed one answered: {answer}")
    paths = [c["args"]["path"] for c in calls(d, "read_file")]
    check("/srv/data/batch.txt" in paths and "/etc/passwd" not in paths,
          f"the denied call in the batch never reached the server: {paths}")
    status, _, answer = raw_post(warden_url, [[call(9, "/etc/shadow")]], sid)
    check(status == 200 and answer[0]["error"]["code"] == -32600
          and "/etc/shadow" not in [c["args"]["path"] for c in calls(d, "read_file")],
          f"a batch nested in a batch is refused, not passed on: {answer}")
    status, _, answer = raw_post(warden_url, {"jsonrpc": "2.0", "method": "tools/call", "params": {
        "name": "read_file", "arguments": {"path": "/etc/hosts"}}}, sid)
    check(status == 400 and answer["error"]["code"] == -32600
          and "/etc/hosts" not in [c["args"]["path"] for c in calls(d, "read_file")],
          f"a tools/call without an id is refused and not forwarded: {status} {answer}")


def disconnect_cancels(d, warden_url):
    """A client that hangs up mid-call: its charge is released and the upstream is told to stop
    (notifications/cancelled), which the SDK server does (its log shows the tool cancelled)."""
    import http.client
    import urllib.parse
    _, sid, _ = raw_post(warden_url, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
    raw_post(warden_url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
    u = urllib.parse.urlparse(warden_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("POST", u.path, json.dumps({"jsonrpc": "2.0", "id": 77, "method": "tools/call",
                                             "params": {"name": "slow", "arguments": {"seconds": 30}}}),
                 {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                  "Mcp-Session-Id": sid})
    for _ in range(100):
        if calls(d, "slow"):
            break
        time.sleep(0.05)
    check(len(calls(d, "slow")) == 1, "the slow call reached the server")
    conn.close()  # the client goes away mid-call
    for _ in range(100):
        if calls(d, "slow:cancelled"):
            break
        time.sleep(0.05)
    check(len(calls(d, "slow:cancelled")) == 1, "the server is told the abandoned call is cancelled, and stops it")
    # slow allows 2 per hour: the abandoned call's charge was released, so two more fit.
    answers = [raw_post(warden_url, {"jsonrpc": "2.0", "id": 80 + i, "method": "tools/call",
                                     "params": {"name": "slow", "arguments": {"seconds": 0}}}, sid)[2]
               for i in range(3)]
    codes = ["result" if "result" in (a[0] if isinstance(a, list) else a)
             else (a[0] if isinstance(a, list) else a)["error"]["code"] for a in answers]
    check(codes == ["result", "result", -32003], f"its reservation was released, and the limit holds: {codes}")


def approver_api(base, method, path, body=None):
    import urllib.request
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer alice-key", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


async def held_then_abandoned(d, warden_url, base):
    """A held call whose client goes away is not made when it is approved later."""
    import http.client
    from urllib.parse import urlparse
    u = urlparse(warden_url)
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-06-18"}

    def post(msg):
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        c.request("POST", u.path, body=json.dumps(msg), headers=headers)
        return c, c.getresponse()

    c, r = post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
    headers["Mcp-Session-Id"] = r.getheader("mcp-session-id")
    r.read()
    c.close()
    c, r = post({"jsonrpc": "2.0", "method": "notifications/initialized"})
    r.read()
    c.close()
    c, r = post({"jsonrpc": "2.0", "id": 99, "method": "tools/call",
                 "params": {"name": "pay", "arguments": {"amount": 2100, "currency": "USD"}}})
    check(r.status == 200 and r.getheader("content-type", "").startswith("text/event-stream"),
          "a call needing approval is held on an event stream")
    c.close()  # the client gives up
    pending = []
    for _ in range(50):
        pending = (await asyncio.to_thread(approver_api, base, "GET", "/v1/approvals"))["approvals"]
        if pending:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    await asyncio.to_thread(approver_api, base, "POST", f"/v1/approvals/{pending[0]['id']}/approve", {"note": "late"})
    await asyncio.sleep(1.5)
    check(not calls(d, "pay"), "approved after its client went away, the held call is not made")


async def waiting(d, warden_url):
    """Waiting mode over Streamable HTTP: the held call streams progress notifications (SSE) while
    a person decides over the approver API served beside /mcp, then carries the server's result."""
    base = warden_url.rsplit("/mcp", 1)[0]
    progress = []

    async def on_progress(p, total, message):
        progress.append(message)

    async def approve_when_pending():
        for _ in range(100):
            pending = (await asyncio.to_thread(approver_api, base, "GET", "/v1/approvals"))["approvals"]
            if pending:
                await asyncio.sleep(2.5)  # long enough for a progress notification
                return await asyncio.to_thread(approver_api, base, "POST",
                                               f"/v1/approvals/{pending[0]['id']}/approve", {"note": "ok"})
            await asyncio.sleep(0.1)

    await held_then_abandoned(d, warden_url, base)
    async with streamable_http_client(warden_url) as (r, w, *_):
        async with ClientSession(r, w) as s:
            await s.initialize()
            approver = asyncio.create_task(approve_when_pending())
            res = await s.call_tool("pay", {"amount": 2000, "currency": "USD"}, progress_callback=on_progress)
            decided = await approver
            check(decided and decided["state"] == "approved" and decided["decided_by"] == "alice",
                  "alice approves over the approver API beside /mcp")
            check(res.content[0].text == "paid 2000.0 USD" and len(calls(d, "pay")) == 1,
                  "the held HTTP call completes with the server's result once approved")
            check(progress and "waiting for a person to approve apr_" in progress[0],
                  f"progress notifications streamed while it waited: {progress[:1]}")


async def credentials(warden_url):
    """With api_keys and a JWT key configured, each caller's credential names its agent."""
    def client(key):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return streamable_http_client(warden_url, http_client=httpx2.AsyncClient(headers=headers))

    try:
        async with client(None) as (r, w, *_):
            async with ClientSession(r, w) as s:
                await asyncio.wait_for(s.initialize(), 10)
        anonymous = "accepted"
    except BaseException as e:  # the SDK surfaces the 401 as an error
        anonymous = f"refused ({type(e).__name__})"
    check(anonymous.startswith("refused"), f"a caller without a credential is refused: {anonymous}")
    import urllib.error
    import urllib.request
    req = urllib.request.Request(warden_url, data=b'{"jsonrpc":"2.0","id":1,"method":"ping"}', method="POST",
                                 headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"})
    try:
        urllib.request.urlopen(req, timeout=5)
        status = 200
    except urllib.error.HTTPError as e:
        status = e.code
    check(status == 401, f"with HTTP status 401: {status}")
    async with client("key-of-test-agent") as (r, w, *_):
        async with ClientSession(r, w) as s:
            await s.initialize()
            tools = sorted(t.name for t in (await s.list_tools()).tools)
            check("echo" in tools, "test-agent's key sees its tools")
    async with client("key-of-intern") as (r, w, *_):
        async with ClientSession(r, w) as s:
            await s.initialize()
            tools = [t.name for t in (await s.list_tools()).tools]
            check(tools == [], f"the intern's key names an agent with no grants: every tool hidden {tools}")
            err = await refused(s.call_tool("echo", {"text": "hi"}))
            check(err is not None and err.code == -32001 and err.data["warden"]["reasons"] == ["unknown_agent"],
                  f"and its calls are decided as that agent (unknown to the policy): {err and err.data['warden']['reasons']}")
    # A JWT (HS256, issuer and audience checked) names the agent too.
    async with client(jwt({"sub": "test-agent", "tenant": "acme"})) as (r, w, *_):
        async with ClientSession(r, w) as s:
            await s.initialize()
            tools = sorted(t.name for t in (await s.list_tools()).tools)
            check("echo" in tools and "admin_reset" not in tools, f"a JWT for test-agent sees its tools: {tools}")
    for what, token in [("a JWT signed with another secret", jwt({"sub": "test-agent", "tenant": "acme"}, b"wrong")),
                        ("a JWT for another audience", jwt({"sub": "test-agent", "tenant": "acme", "aud": "other"}))]:
        try:
            async with client(token) as (r, w, *_):
                async with ClientSession(r, w) as s:
                    await asyncio.wait_for(s.initialize(), 10)
            outcome = "accepted"
        except BaseException as e:
            outcome = f"refused ({type(e).__name__})"
        check(outcome.startswith("refused"), f"{what} is refused: {outcome}")


def idle_sessions_expire(warden_url):
    """An MCP session unused for session_idle_seconds is forgotten: its id gets 404 (the MCP
    specification's signal to initialize again), so the session table cannot grow without bound."""
    import urllib.error
    import urllib.request

    def post(body, session=None):
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                   "Authorization": "Bearer key-of-test-agent"}
        if session:
            headers["Mcp-Session-Id"] = session
        req = urllib.request.Request(warden_url, data=json.dumps(body).encode(), method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers.get("mcp-session-id")
        except urllib.error.HTTPError as e:
            return e.code, None

    status, sid = post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
    check(status == 200 and sid, f"initialize opens a session: {sid}")
    status, _ = post({"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
    check(status in (200, 202), f"the session is known while in use: {status}")
    # Each request here is a new connection, accepted by whichever of the gateway's worker
    # threads (one per core) gets to it first: the session is known to all of them.
    statuses = [post({"jsonrpc": "2.0", "id": 10 + i, "method": "tools/list"}, sid)[0] for i in range(20)]
    check(statuses == [200] * 20, f"on 20 new connections, whichever worker takes them: {statuses}")
    status, _ = post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, "made-up-session-id")
    check(status == 404, f"an id Warden never saw gets 404: {status}")
    time.sleep(4.5)
    status, _ = post({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, sid)
    check(status == 404, f"after 3 s idle the session is forgotten (404, initialize again): {status}")


JWT_SECRET = b"mcp-jwt-test-secret-0123456789abcdef"


def jwt(claims, secret=JWT_SECRET):
    """An HS256 JWT, made here with the standard library (independent of Warden's code)."""
    import base64
    import hmac
    enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    body = {"iss": "test-idp", "aud": "warden-mcp", "exp": int(time.time()) + 300, **claims}
    head = enc(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + enc(json.dumps(body).encode())
    return head + "." + enc(hmac.new(secret, head.encode(), hashlib.sha256).digest())


def operations(base, aggregated_base):
    """Beside /mcp, each endpoint serves /health, /v1/status and /metrics over its decision
    service, as `warden serve` does; the metrics count the MCP calls decided above."""
    import urllib.request
    for b in (base, aggregated_base):
        with urllib.request.urlopen(b + "/health?bundles", timeout=10) as r:
            check(r.status == 200, f"{b}/health?bundles is 200 once the policy is active")
    with urllib.request.urlopen(base + "/v1/status", timeout=10) as r:
        st = json.load(r)
    check(all(s.get("active_revision") for s in st["bundles"].values()),
          f"/v1/status names the active revision: {st}")
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    denied = [l for l in text.splitlines()
              if l.startswith('warden_decisions_total{outcome="deny",tenant="acme"')]
    check(denied and float(denied[0].rsplit(" ", 1)[1]) >= 1,
          "/metrics counts the gateway's denied calls by tenant")
    check('warden_decision_reasons_total{reason="path_not_allowed",tenant="acme"}' in text,
          "and their reasons")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--warden", required=True)
    warden = os.path.abspath(ap.parse_args().warden)
    with tempfile.TemporaryDirectory() as d:
        up_port, gw_port = free_port(), free_port()
        env = dict(os.environ, CALL_LOG=os.path.join(d, "calls.jsonl"))
        up = subprocess.Popen([sys.executable, SERVER, "--http", str(up_port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        approver_keys = os.path.join(d, "approvers.json")
        with open(approver_keys, "w") as f:
            json.dump([{"key_sha256": hashlib.sha256(b"alice-key").hexdigest(), "approver": "alice"}], f)
        cfg = os.path.join(d, "mcp.yaml")
        with open(cfg, "w") as f:
            json.dump({"tenant": "acme", "agent": "test-agent",
                       "server": {"name": "testsrv", "url": f"http://127.0.0.1:{up_port}/mcp"},
                       "policies": HERE, "data_dir": os.path.join(d, "state"),
                       "listen": f"127.0.0.1:{gw_port}",
                       "approvals": {"approvers": {"acme": ["alice"]}, "wait_seconds": 30,
                                     "approver_keys": approver_keys}}, f)
        gw = subprocess.Popen([warden, "mcp", "--config", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # A second gateway on the same upstream that identifies callers by API key.
        auth_port = free_port()
        keys = os.path.join(d, "keys.json")
        with open(keys, "w") as f:
            json.dump([{"key_sha256": hashlib.sha256(k.encode()).hexdigest(), "tenant": "acme", "agent": a}
                       for k, a in [("key-of-test-agent", "test-agent"), ("key-of-intern", "intern")]], f)
        secret = os.path.join(d, "jwt-secret")
        with open(secret, "wb") as f:
            f.write(JWT_SECRET)
        cfg2 = os.path.join(d, "mcp-auth.yaml")
        with open(cfg2, "w") as f:
            json.dump({"tenant": "acme", "agent": "nobody",
                       "server": {"name": "testsrv", "url": f"http://127.0.0.1:{up_port}/mcp"},
                       "policies": HERE, "data_dir": os.path.join(d, "state2"),
                       "listen": f"127.0.0.1:{auth_port}", "api_keys": keys,
                       "jwt": {"key_file": secret, "algorithm": "HS256", "issuer": "test-idp",
                               "audience": "warden-mcp"},
                       "session_idle_seconds": 3,
                       # This gateway and the aggregated one poll for answers (busy_poll_us),
                       # so both worker modes serve the same SDK clients.
                       "busy_poll_us": 200}, f)
        gw2 = subprocess.Popen([warden, "mcp", "--config", cfg2], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # A second upstream and an aggregated gateway over both.
        mirror_dir = os.path.join(d, "mirror")
        os.makedirs(mirror_dir)
        mirror_port, agg_port = free_port(), free_port()
        mirror = subprocess.Popen([sys.executable, SERVER, "--http", str(mirror_port)],
                                  env=dict(os.environ, CALL_LOG=os.path.join(mirror_dir, "calls.jsonl"),
                                           PAGE_SIZE="1", LOG_TEMPLATE="file:///mirror/logs/{name}"),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cfg3 = os.path.join(d, "mcp-aggregated.yaml")
        with open(cfg3, "w") as f:
            json.dump({"tenant": "acme", "agent": "test-agent",
                       "servers": [{"name": "testsrv", "url": f"http://127.0.0.1:{up_port}/mcp"},
                                   {"name": "mirror", "url": f"http://127.0.0.1:{mirror_port}/mcp"}],
                       "policies": HERE, "data_dir": os.path.join(d, "state3"),
                       "listen": f"127.0.0.1:{agg_port}", "busy_poll_us": 200}, f)
        agg = None
        try:
            wait_port(up_port, up, "the MCP server")
            wait_port(mirror_port, mirror, "the second MCP server")
            agg = subprocess.Popen([warden, "mcp", "--config", cfg3], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_port(agg_port, agg, "warden mcp (aggregated)")
            asyncio.run(aggregated(d, mirror_dir, f"http://127.0.0.1:{agg_port}/mcp"))
            wait_port(gw_port, gw, "warden mcp")
            asyncio.run(run(d, f"http://127.0.0.1:{up_port}/mcp", f"http://127.0.0.1:{gw_port}/mcp"))
            asyncio.run(waiting(d, f"http://127.0.0.1:{gw_port}/mcp"))
            batches(d, f"http://127.0.0.1:{gw_port}/mcp")
            operations(f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{agg_port}")
            disconnect_cancels(d, f"http://127.0.0.1:{gw_port}/mcp")
            wait_port(auth_port, gw2, "warden mcp with api_keys")
            asyncio.run(credentials(f"http://127.0.0.1:{auth_port}/mcp"))
            idle_sessions_expire(f"http://127.0.0.1:{auth_port}/mcp")
        finally:
            gw.kill()
            gw2.kill()
            up.kill()
            mirror.kill()
            if agg:
                agg.kill()
    summary()


if __name__ == "__main__":
    main()
