"""The approvals web page in headless Chromium (Debian `chromium` + `chromedriver`, driven with
Selenium): an MCP client (official SDK) calls a payment through `warden mcp` in waiting mode;
the call is held; an approver signs in on the page, sees the full call, the rule and the
reasons, and presses Approve; the held call completes with the server's result. A second call
is denied from the page and fails with who denied it and why. Every step is then in the audit
log, linked by the approval id.

usage: e2e_approvals_web.py --warden target/debug/warden
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

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from e2e_stdio import close, config, session
import e2e_stdio
from harness import calls, check, refused, summary, text

KEY = "alice-approver-key-3f9c"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BINARY = os.environ.get("CHROMIUM", "/usr/bin/chromium")
DRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = BINARY
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1200,1600"]:
        opts.add_argument(a)
    service = Service(DRIVER)
    return webdriver.Chrome(options=opts, service=service)


def card_for(drv, amount, timeout=20):
    """The pending card whose arguments show `amount` (the page refreshes every 3 s)."""
    def find(d):
        for c in d.find_elements(By.CSS_SELECTOR, "#pending .approval"):
            args = json.loads(c.find_element(By.CSS_SELECTOR, ".arguments").text)
            if args.get("amount") == amount:
                return c
        return False
    return WebDriverWait(drv, timeout).until(find)


def decide_on_page(drv, base, amount, button, note):
    """Signs in (first time), finds the card and presses `button`; returns what the card shows."""
    if not drv.current_url.startswith(base):
        drv.get(base + "/approvals")
        WebDriverWait(drv, 10).until(EC.visibility_of_element_located((By.ID, "key")))
        drv.find_element(By.ID, "key").send_keys(KEY)
        drv.find_element(By.ID, "sign-in-button").click()
        WebDriverWait(drv, 10).until(EC.text_to_be_present_in_element((By.ID, "approver"), "alice"))
    card = card_for(drv, amount)
    shown = {cls: card.find_element(By.CSS_SELECTOR, "." + cls).text
             for cls in ["action", "agent", "rule", "reasons", "policy", "digest", "arguments", "state"]}
    card.find_element(By.CSS_SELECTOR, ".note").send_keys(note)
    card.find_element(By.CSS_SELECTOR, "." + button).click()
    WebDriverWait(drv, 10).until(lambda d: card.find_element(By.CSS_SELECTOR, ".outcome").text)
    shown["outcome"] = card.find_element(By.CSS_SELECTOR, ".outcome").text
    shown["state_after"] = card.find_element(By.CSS_SELECTOR, ".state").text
    return shown


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--warden", required=True)
    warden = os.path.abspath(ap.parse_args().warden)
    e2e_stdio.WARDEN = warden
    with tempfile.TemporaryDirectory() as d:
        keys = os.path.join(d, "approver-keys.json")
        with open(keys, "w") as f:
            json.dump([{"key_sha256": hashlib.sha256(KEY.encode()).hexdigest(), "approver": "alice"}], f)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cfg = config(d, approvals={"approvers": {"acme": ["alice"]}, "wait_seconds": 60,
                                   "listen": f"127.0.0.1:{port}", "approver_keys": keys})
        ctx, s = await session(cfg)
        drv = await asyncio.to_thread(browser)
        try:
            # Approve from the page: the held call completes.
            call = asyncio.create_task(s.call_tool("pay", {"amount": 3000, "currency": "USD"}))
            shown = await asyncio.to_thread(decide_on_page, drv, base, 3000, "approve", "invoice 77 checked")
            check(shown["action"] == "testsrv / pay" and shown["agent"] == "acme / test-agent",
                  f"the page shows the call: {shown['action']}, {shown['agent']}")
            check(json.loads(shown["arguments"]) == {"amount": 3000, "currency": "USD"},
                  f"with its full arguments: {shown['arguments']}")
            check("big-payment" in shown["rule"] and shown["reasons"] == "amount_requires_approval"
                  and len(shown["digest"]) == 64,
                  f"the rule, reasons and action digest: {shown['rule']}, {shown['reasons']}")
            check(shown["outcome"] == "Approved by alice." and shown["state_after"] == "approved",
                  f"pressing Approve records it: {shown['outcome']}")
            res = await asyncio.wait_for(call, 30)
            check(text(res) == "paid 3000.0 USD" and len(calls(d, "pay")) == 1,
                  f"the held MCP call completes with the server's result: {text(res)}")

            # Deny from the page: the held call fails with who and why.
            call = asyncio.create_task(refused(s.call_tool("pay", {"amount": 1500, "currency": "USD"})))
            shown = await asyncio.to_thread(decide_on_page, drv, base, 1500, "deny", "over budget")
            check(shown["outcome"] == "Denied by alice.", f"pressing Deny records it: {shown['outcome']}")
            err = await asyncio.wait_for(call, 30)
            check(err is not None and err.code == -32001 and "alice denied" in err.message
                  and "over budget" in err.message, f"the held call is refused: {err and err.message}")
            check(len(calls(d, "pay")) == 1, "the denied call never reached the server")

            # A wrong key is refused and asked to sign in again.
            await asyncio.to_thread(drv.execute_script,
                                    "sessionStorage.setItem('warden-approver-key', 'wrong'); location.reload()")
            await asyncio.to_thread(WebDriverWait(drv, 10).until,
                                    EC.visibility_of_element_located((By.ID, "sign-in")))
            msg = await asyncio.to_thread(lambda: drv.find_element(By.ID, "message").text)
            check("not accepted" in msg, f"a wrong approver key gets the sign-in form back: {msg}")
        finally:
            await asyncio.to_thread(drv.quit)
        await close(ctx, s)

        # Every step in the audit log (the relay copies them about twice a second).
        audit_db = os.path.join(d, "state", "audit.db")
        await asyncio.sleep(1.5)
        out = subprocess.run([warden, "audit", "export", audit_db, "--format", "jsonl"],
                             capture_output=True, text=True)
        records = [json.loads(l)["entry"] for l in out.stdout.splitlines() if l.strip()]
        steps = [(r.get("outcome"), r.get("input", {}).get("actor")) for r in records
                 if r.get("path") == "warden/approvals"]
        approved = [st for st in steps if st[0] == "approval_decided" and st[1] == "alice"]
        check(("approval_requested", "test-agent") in steps and len(approved) == 2
              and ("approval_consumed", "test-agent") in steps,
              f"requested, decided (by alice) and consumed are in the audit log: {steps}")
        verify = subprocess.run([warden, "audit", "verify", audit_db], capture_output=True, text=True)
        check(verify.returncode == 0, f"and the log verifies: {verify.stdout.strip()}")
    summary()


if __name__ == "__main__":
    for path in (BINARY, DRIVER):
        # Without them Selenium goes looking for a driver to download, and waits.
        if not os.path.exists(path):
            sys.exit(f"FAIL {path} not found: install Debian's chromium and chromium-driver "
                     "(.ci/run does), or set CHROMIUM and CHROMEDRIVER")
    try:
        asyncio.run(main())
    except BaseException as e:  # a failed check or a timeout: exit now, not after SDK cleanup hangs
        if not isinstance(e, SystemExit):
            import traceback
            traceback.print_exc()
        sys.stdout.flush()
        os._exit(1 if not isinstance(e, SystemExit) or e.code else 0)
