// Warden approvals page. Signs in with the approver's API key (kept in sessionStorage for this
// tab) and talks to the approver API: GET /v1/approvals, GET /v1/approvals/{id},
// POST /v1/approvals/{id}/approve|deny. Everything shown is set with textContent: call
// arguments come from agents and are never interpreted as HTML.
"use strict";

const KEY = "warden-approver-key";
const $ = (id) => document.getElementById(id);
const cards = new Map(); // approval id -> card element in the pending list

function key() {
  return sessionStorage.getItem(KEY);
}

function say(text) {
  $("message").textContent = text || "";
}

async function api(method, path, body) {
  const init = { method, headers: { Authorization: "Bearer " + key() } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  let data = null;
  try {
    data = await r.json();
  } catch (_) {
    data = null;
  }
  if (r.status === 401) {
    sessionStorage.removeItem(KEY);
    showSignIn("That key was not accepted. Sign in again.");
    throw new Error("unauthorized");
  }
  if (!r.ok) {
    const msg = data && data.error && data.error.message ? data.error.message : r.statusText;
    throw new Error(msg);
  }
  return data;
}

function when(secs) {
  return secs ? new Date(secs * 1000).toISOString().replace(".000Z", "Z") : "";
}

function fill(card, a) {
  const set = (cls, text) => {
    card.querySelector("." + cls).textContent = text;
  };
  card.dataset.id = a.id;
  set("action", a.call.tool + " / " + a.call.action);
  const state = card.querySelector(".state");
  state.textContent = a.state;
  state.className = "state " + a.state;
  set("id", a.id);
  set("agent", a.call.tenant + " / " + a.call.agent);
  set("rule", a.rule || "(none)");
  set("reasons", (a.reasons || []).join(", "));
  set("policy", a.policy_version);
  set("created", when(a.created));
  set("expires", when(a.expires));
  set("digest", a.digest);
  set("requester", JSON.stringify(a.requester, null, 2));
  set("arguments", JSON.stringify(a.call.arguments, null, 2));
  set(
    "decided",
    a.decided_by ? a.decided_by + " at " + when(a.decided_at) + (a.note ? " (" + a.note + ")" : "") : ""
  );
  const open = a.state === "pending";
  card.querySelector(".decide").hidden = !open;
}

function newCard(a) {
  const card = $("card").content.firstElementChild.cloneNode(true);
  fill(card, a);
  card.querySelector(".approve").addEventListener("click", () => decide(card, "approve"));
  card.querySelector(".deny").addEventListener("click", () => decide(card, "deny"));
  return card;
}

async function decide(card, what) {
  const buttons = card.querySelectorAll("button");
  buttons.forEach((b) => (b.disabled = true));
  const note = card.querySelector(".note").value || undefined;
  try {
    const a = await api("POST", "/v1/approvals/" + encodeURIComponent(card.dataset.id) + "/" + what, { note });
    fill(card, a);
    card.querySelector(".outcome").textContent =
      (a.state === "approved" ? "Approved" : "Denied") + " by " + a.decided_by + ".";
  } catch (e) {
    card.querySelector(".outcome").textContent = "Not recorded: " + e.message;
    buttons.forEach((b) => (b.disabled = false));
  }
}

async function refresh() {
  const data = await api("GET", "/v1/approvals");
  $("approver").textContent = data.approver;
  $("who").hidden = false;
  $("pending-section").hidden = false;
  const list = $("pending");
  const seen = new Set();
  for (const a of data.approvals) {
    seen.add(a.id);
    if (!cards.has(a.id)) {
      const card = newCard(a);
      cards.set(a.id, card);
      list.appendChild(card);
    }
  }
  // Cards decided here stay (with their outcome) until the next sign-in; others that left the
  // pending list (decided elsewhere, expired) go.
  for (const [id, card] of cards) {
    if (!seen.has(id) && !card.querySelector(".outcome").textContent) {
      card.remove();
      cards.delete(id);
    }
  }
  $("count").textContent = "(" + data.approvals.length + ")";
  $("empty").hidden = data.approvals.length > 0;
}

async function focusOn(id) {
  $("focus").hidden = false;
  const a = await api("GET", "/v1/approvals/" + encodeURIComponent(id));
  const box = $("focused");
  box.replaceChildren(newCard(a));
}

function showSignIn(msg) {
  $("sign-in").hidden = false;
  $("who").hidden = true;
  $("pending-section").hidden = true;
  $("focus").hidden = true;
  say(msg);
}

async function start() {
  if (!key()) {
    showSignIn("");
    return;
  }
  $("sign-in").hidden = true;
  say("");
  const m = location.pathname.match(/^\/approvals\/([^/]+)$/);
  try {
    if (m) {
      await focusOn(decodeURIComponent(m[1]));
    }
    await refresh();
  } catch (e) {
    if (e.message !== "unauthorized") say(e.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $("key").value.trim());
    $("key").value = "";
    start();
  });
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    cards.clear();
    $("pending").replaceChildren();
    showSignIn("Signed out.");
  });
  start();
  setInterval(() => {
    if (key()) refresh().catch((e) => e.message !== "unauthorized" && say(e.message));
  }, 3000);
});
