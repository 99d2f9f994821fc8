//! The aggregated Streamable HTTP endpoint: one MCP server (`/mcp`) in front of several upstream
//! Streamable HTTP MCP servers, whose tools and prompts appear namespaced as `<server>__<name>`
//! (e.g. `github__create_issue`). Unlike the pass-through proxy in [`crate::http`], Warden is the
//! MCP peer here: it answers `initialize` itself, opens one session on every upstream per client
//! session, merges and filters `tools/list`, `prompts/list` and `resources/list`, and routes each
//! `tools/call`, `prompts/get` and `resources/read` to its upstream through that upstream's
//! [`Gate`] (the server name is the policy's `tool`, as everywhere). Resources keep their URIs
//! (they are the resources' identities): a read goes to the first server, in configuration order,
//! whose list showed this client that URI, or else whose resource template (from
//! `resources/templates/list`) matches it.
//!
//! Lists are complete: Warden follows each upstream's `nextCursor` and answers with every page
//! merged, without a cursor of its own (so a `cursor` from the client is invalid).
//!
//! Answers are JSON (`application/json`); the upstreams may answer with JSON or an event stream.
//! Server-initiated requests and subscriptions are not aggregated; connect to an upstream's own
//! endpoint for those.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::gate::{codes, error, Canceller, Charge, Gate, Record, Session, Verdict};
use crate::http::{ProxyLimits, Refused};
use crate::uri_template::UriTemplate;

/// Pages read from one upstream for one list, at most (a server whose cursors never end would
/// otherwise hold the request forever).
const MAX_PAGES: usize = 100;

/// Separator between a server's name and its tool's name.
pub const SEP: &str = "__";

/// One upstream of the aggregated endpoint.
pub struct Upstream {
    /// Its gate (its name is the server name in policies and in the tool namespace).
    pub gate: Arc<Gate>,
    /// Its Streamable HTTP endpoint.
    pub url: String,
}

/// Why an upstream failed a request: the JSON-RPC error code the client gets
/// ([`codes::UPSTREAM_TIMEOUT`] or [`codes::UPSTREAM_FAILED`]) and what happened, worded to follow
/// "the MCP server `NAME`".
struct Failed(i64, String);

impl Failed {
    fn new(why: String) -> Failed {
        Failed(codes::UPSTREAM_FAILED, why)
    }
}

/// A client session: who opened it, and the session opened on each upstream.
struct Client {
    session: Arc<Session>,
    upstream_sessions: HashMap<String, Option<String>>,
    /// The server of each resource URI this client was shown: the first server, in
    /// configuration order, that lists it (URIs are not namespaced; they are the resources'
    /// identities, and clients match them against the `uri` of what they read).
    resources: Mutex<HashMap<String, String>>,
    /// The resource templates this client was shown, each with its server, in configuration
    /// order: a URI no list showed goes to the first server with a matching template.
    templates: Mutex<Vec<(String, UriTemplate)>>,
}

/// The aggregated endpoint's state.
pub struct Aggregate {
    upstreams: Arc<Vec<Upstream>>,
    auth: Arc<warden_server::auth::AuthConfig>,
    /// This worker's connections to the upstreams (see [`Aggregate::worker`]).
    client: reqwest::Client,
    /// Shared by every worker.
    sessions: Arc<Mutex<HashMap<String, Arc<Client>>>>,
    call_timeout: Duration,
    limits: ProxyLimits,
    /// Tenant and agent of callers without a credential (when no auth is configured).
    default_identity: (String, String),
}

impl Aggregate {
    /// An endpoint over `upstreams` (names must not contain `__`).
    pub fn new(
        upstreams: Vec<Upstream>,
        auth: Arc<warden_server::auth::AuthConfig>,
        call_timeout: Duration,
        limits: ProxyLimits,
        default_identity: (String, String),
    ) -> Result<Arc<Self>, String> {
        if let Some(u) = upstreams.iter().find(|u| u.gate.server.contains(SEP)) {
            return Err(format!(
                "server name `{}` contains `{SEP}`, the namespace separator",
                u.gate.server
            ));
        }
        let a = Arc::new(Aggregate {
            upstreams: Arc::new(upstreams),
            auth,
            client: reqwest::Client::new(),
            sessions: Arc::new(Mutex::new(HashMap::new())),
            call_timeout,
            limits,
            default_identity,
        });
        crate::http::sweep(&a, limits, Aggregate::evict_idle);
        Ok(a)
    }

    /// The same endpoint (upstreams, sessions) with connections of its own, for a worker thread
    /// with a runtime of its own (as [`crate::http::HttpProxy::worker`]).
    pub fn worker(&self) -> Arc<Self> {
        Arc::new(Aggregate {
            upstreams: self.upstreams.clone(),
            auth: self.auth.clone(),
            client: reqwest::Client::new(),
            sessions: self.sessions.clone(),
            call_timeout: self.call_timeout,
            limits: self.limits,
            default_identity: self.default_identity.clone(),
        })
    }

    /// Forgets client sessions idle longer than the limit; returns how many.
    fn evict_idle(&self) -> usize {
        let Ok(mut m) = self.sessions.lock() else {
            return 0;
        };
        let before = m.len();
        m.retain(|_, c| c.session.idle() < self.limits.idle);
        before - m.len()
    }

    fn caller(&self, headers: &HeaderMap) -> Result<(String, String), Refused> {
        let (tenant, agent) = &self.default_identity;
        crate::http::caller(&self.auth, headers, (tenant, agent))
    }

    fn client_session(
        &self,
        headers: &HeaderMap,
        who: &(String, String),
    ) -> Result<Arc<Client>, Refused> {
        let id = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Refused(
                    StatusCode::BAD_REQUEST,
                    "Mcp-Session-Id is required after initialize".into(),
                )
            })?;
        let c = self
            .sessions
            .lock()
            .ok()
            .and_then(|m| m.get(id).cloned())
            .ok_or_else(|| {
                Refused(
                    StatusCode::NOT_FOUND,
                    "unknown or expired MCP session; initialize a new one".into(),
                )
            })?;
        if (c.session.tenant.as_str(), c.session.agent.as_str()) != (who.0.as_str(), who.1.as_str())
        {
            return Err(Refused(
                StatusCode::FORBIDDEN,
                "this MCP session belongs to another caller".into(),
            ));
        }
        c.session.touch();
        Ok(c)
    }

    /// Sends one JSON-RPC request to an upstream; returns its response message and, for
    /// `initialize`, the session it opened.
    async fn send(
        &self,
        url: &str,
        session: Option<&str>,
        msg: &Value,
    ) -> Result<(Option<Value>, Option<String>), Failed> {
        let late = || {
            Failed(
                codes::UPSTREAM_TIMEOUT,
                "did not answer in time".to_string(),
            )
        };
        let mut req = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(msg.to_string());
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        warden_server::workers::kick(); // the answer is due: poll for it (when configured)
        let resp = tokio::time::timeout(self.call_timeout, req.send())
            .await
            .map_err(|_| late())?
            .map_err(|e| Failed::new(format!("is unreachable: {e}")))?;
        let opened = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let kind = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !resp.status().is_success() {
            return Err(Failed::new(format!("answered HTTP {}", resp.status())));
        }
        let max = self.limits.max_answer_bytes;
        let body = tokio::time::timeout(self.call_timeout, capped(resp, max))
            .await
            .map_err(|_| late())??;
        let Some(id) = msg.get("id") else {
            return Ok((None, opened));
        };
        let found = if kind.starts_with("text/event-stream") {
            crate::relay::sse_messages(&body)
                .into_iter()
                .find(|m| is_response_to(m, id))
        } else {
            serde_json::from_slice::<Value>(&body)
                .ok()
                .filter(|m| is_response_to(m, id))
        };
        found
            .map(|m| (Some(m), opened))
            .ok_or_else(|| Failed::new("answered with no JSON-RPC response".into()))
    }

    async fn initialize(&self, who: (String, String), msg: &Value) -> Response {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        if self.sessions.lock().map(|m| m.len()).unwrap_or(0) >= self.limits.max {
            return Refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many open MCP sessions; try again later".into(),
            )
            .into_response();
        }
        let mut upstream_sessions = HashMap::new();
        let mut protocol = msg
            .pointer("/params/protocolVersion")
            .cloned()
            .unwrap_or(json!("2025-06-18"));
        for u in self.upstreams.iter() {
            match self.send(&u.url, None, msg).await {
                Ok((Some(r), opened)) if r.get("result").is_some() => {
                    if let Some(v) = r.pointer("/result/protocolVersion") {
                        protocol = v.clone();
                    }
                    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
                    if let Err(Failed(_, why)) = self.send(&u.url, opened.as_deref(), &note).await {
                        tracing::warn!(
                            server = u.gate.server,
                            error = why,
                            "initialized notification failed"
                        );
                    }
                    upstream_sessions.insert(u.gate.server.clone(), opened);
                }
                // One server down or hanging does not keep clients from the others: the
                // session goes on without it (its tools are not listed, calls to it fail).
                failed => {
                    let timed_out = matches!(failed, Err(Failed(codes::UPSTREAM_TIMEOUT, _)));
                    let why = match failed {
                        Err(Failed(_, why)) => why,
                        _ => "did not accept initialize".into(),
                    };
                    tracing::warn!(
                        server = u.gate.server,
                        error = why,
                        "an MCP server could not be initialized: the session goes on without it"
                    );
                    u.gate.svc.count_upstream_error(&u.gate.server, timed_out);
                }
            }
        }
        if upstream_sessions.is_empty() {
            let why = "no MCP server behind this endpoint could be initialized";
            return Json(error(&id, codes::UPSTREAM_FAILED, why, None)).into_response();
        }
        let session = Arc::new(Session::new(&who.0, &who.1));
        let sid = session.id.clone();
        if let Ok(mut m) = self.sessions.lock() {
            m.insert(
                sid.clone(),
                Arc::new(Client {
                    session,
                    upstream_sessions,
                    resources: Mutex::new(HashMap::new()),
                    templates: Mutex::new(Vec::new()),
                }),
            );
        }
        let result = json!({
            "protocolVersion": protocol,
            "capabilities": {"tools": {"listChanged": false}, "prompts": {"listChanged": false},
                             "resources": {"listChanged": false}},
            "serverInfo": {"name": "warden", "version": env!("CARGO_PKG_VERSION")},
            "instructions": format!("Tools and prompts of {} MCP servers, named <server>{SEP}<name>, and their resources; every call is decided by policy.",
                self.upstreams.len()),
        });
        let mut r = Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response();
        if let Ok(v) = sid.parse() {
            r.headers_mut().insert("mcp-session-id", v);
        }
        r
    }

    /// Answers `tools/list`, `prompts/list`, `resources/list` or `resources/templates/list`:
    /// every upstream's whole list (all its pages), filtered by its gate; tools and prompts
    /// named `<server>__<name>`, resources and templates under their own URI (one two servers
    /// list is shown once, from the first). An upstream whose list fails is left out.
    async fn list(&self, c: &Client, id: &Value, method: &'static str) -> Value {
        let (key, field, _) = crate::gate::list_shape(method).unwrap_or(match method {
            "resources/templates/list" => ("resourceTemplates", "uriTemplate", ""),
            _ => ("tools", "name", ""),
        });
        let mut items = Vec::new();
        let mut owners = HashMap::new();
        let mut templates = Vec::new();
        for u in self.upstreams.iter() {
            let server = &u.gate.server;
            if !c.upstream_sessions.contains_key(server) {
                continue; // not initialized when this session began
            }
            for mut t in self.pages(c, u, method, key).await {
                let name = t
                    .get(field)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                match key {
                    "resources" | "resourceTemplates" => {
                        if owners.contains_key(&name) {
                            continue;
                        }
                        if key == "resourceTemplates" {
                            if let Some(tpl) = UriTemplate::new(&name) {
                                templates.push((server.clone(), tpl));
                            }
                        }
                        owners.insert(name, server.clone());
                    }
                    _ => t[field] = json!(format!("{server}{SEP}{name}")),
                }
                items.push(t);
            }
        }
        if key == "resources" {
            if let Ok(mut m) = c.resources.lock() {
                m.extend(owners);
            }
        } else if key == "resourceTemplates" {
            if let Ok(mut m) = c.templates.lock() {
                *m = templates;
            }
        }
        json!({"jsonrpc": "2.0", "id": id, "result": {key: items}})
    }

    /// Every entry of one upstream's list `method`, following `nextCursor` (at most
    /// [`MAX_PAGES`] pages; a cursor seen before ends it), each page filtered by the gate.
    async fn pages(&self, c: &Client, u: &Upstream, method: &'static str, key: &str) -> Vec<Value> {
        let server = &u.gate.server;
        let sid = c.upstream_sessions.get(server).cloned().flatten();
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let mut req = json!({"jsonrpc": "2.0", "id": 1, "method": method});
            if let Some(cur) = &cursor {
                req["params"] = json!({"cursor": cur});
            }
            let Ok((Some(mut r), _)) = self.send(&u.url, sid.as_deref(), &req).await else {
                tracing::warn!(server, method, "list failed; its entries are left out");
                return out;
            };
            // An error (a server without prompts or resources) contributes nothing.
            let Some(res) = r.get_mut("result") else {
                return out;
            };
            if crate::gate::list_shape(method).is_some() {
                u.gate.filter_list(method, &c.session, res);
            }
            cursor = res
                .get("nextCursor")
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(list) = res.get_mut(key).and_then(Value::as_array_mut) {
                out.append(list);
            }
            match &cursor {
                Some(cur) if seen.insert(cur.clone()) => {}
                Some(_) => {
                    tracing::warn!(
                        server,
                        method,
                        "the server repeated a list cursor; list cut"
                    );
                    return out;
                }
                None => return out,
            }
        }
        tracing::warn!(server, method, "list longer than {MAX_PAGES} pages; cut");
        out
    }

    /// The upstream a `tools/call`, `prompts/get` or `resources/read` goes to, and its params
    /// as that server knows them (the name without its namespace); or the error to answer.
    fn route(
        &self,
        c: &Client,
        id: &Value,
        method: &str,
        params: &Value,
    ) -> Result<(&Upstream, Value), Value> {
        let unknown = |what: String| Err(error(id, codes::INVALID_PARAMS, what, None));
        if method == "resources/read" {
            let uri = params.get("uri").and_then(Value::as_str).unwrap_or("");
            let owner = c
                .resources
                .lock()
                .ok()
                .and_then(|m| m.get(uri).cloned())
                .or_else(|| {
                    let t = c.templates.lock().ok()?;
                    t.iter()
                        .find(|(_, t)| t.matches(uri))
                        .map(|(s, _)| s.clone())
                });
            return match owner.and_then(|s| self.upstreams.iter().find(|u| u.gate.server == s)) {
                Some(u) => Ok((u, params.clone())),
                None => unknown(format!(
                    "unknown resource `{uri}`: it is in no server's resources/list and matches no \
                     template of resources/templates/list (list resources or templates first)"
                )),
            };
        }
        let kind = if method == "tools/call" {
            "tool"
        } else {
            "prompt"
        };
        let name = params.get("name").and_then(Value::as_str).unwrap_or("");
        let Some((server, bare)) = name.split_once(SEP) else {
            return unknown(format!(
                "unknown {kind} `{name}`: {kind}s are named <server>{SEP}<{kind}>"
            ));
        };
        let Some(u) = self.upstreams.iter().find(|u| u.gate.server == server) else {
            return unknown(format!("unknown {kind} `{name}`: no MCP server `{server}`"));
        };
        let mut local = params.clone();
        local["name"] = json!(bare);
        Ok((u, local))
    }

    /// Decides and forwards a `tools/call`, `prompts/get` or `resources/read` to its server, as
    /// the single-upstream proxy does: tool calls always, prompts and resources when the policy
    /// names them (others pass through).
    async fn call(&self, c: &Client, id: &Value, method: &str, params: &Value) -> Value {
        let (u, local) = match self.route(c, id, method, params) {
            Ok(r) => r,
            Err(e) => return e,
        };
        let server = &u.gate.server;
        let Some(sid) = c.upstream_sessions.get(server).cloned() else {
            let why = format!(
                "the MCP server `{server}` was unavailable when this session began; initialize \
                 a new session to reach it"
            );
            return u.gate.upstream_error(id, codes::UPSTREAM_FAILED, why);
        };
        let mut held = None;
        let mut record = Record::done();
        let forward = match u.gate.as_call(&c.session, method, &local) {
            None => local,
            Some(call) => match u.gate.call_waiting(&c.session, id, &call, |_| {}).await {
                Verdict::Reply(r) => return r,
                Verdict::Forward {
                    params,
                    reservation,
                    input,
                    record: r,
                } => {
                    let to = (u.url.as_str(), sid.as_deref());
                    let c = charge(
                        &u.gate,
                        &self.client,
                        to,
                        id,
                        reservation,
                        self.call_timeout,
                    );
                    held = Some((c, input));
                    record = r;
                    Gate::forwarded(method, &local, &params)
                }
            },
        };
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": forward});
        // The record (of a fail-open call) is committed while the call is upstream. Dropped
        // before the answer (the client went away), `held` releases the call's charges and
        // asks the server to cancel it.
        let (answer, ()) = tokio::join!(
            self.send(&u.url, sid.as_deref(), &req),
            record.commit_beside_send()
        );
        match answer {
            Ok((Some(mut msg), _)) => {
                if let Some((charge, input)) = held {
                    charge.answered(&input, &mut msg);
                }
                msg
            }
            Ok((None, _)) | Err(_) => {
                drop(held); // released, and the server asked to cancel (a timeout)
                let Failed(code, why) = answer
                    .err()
                    .unwrap_or_else(|| Failed::new("did not answer the request".into()));
                u.gate
                    .upstream_error(id, code, format!("the MCP server `{server}` {why}"))
            }
        }
    }
}

/// A forwarded call's charges ([`Charge`]): dropped before its answer is seen, the call is
/// cancelled on the server's session `session` at `url`.
fn charge(
    gate: &Arc<Gate>,
    client: &reqwest::Client,
    (url, session): (&str, Option<&str>),
    id: &Value,
    reservation: Option<String>,
    timeout: Duration,
) -> Charge {
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    let cancel: Canceller = Box::new(move |note| {
        Box::pin(async move {
            let sent = req.body(note.to_string()).send().await;
            sent.map(drop).map_err(|e| e.to_string())
        })
    });
    Charge::new(gate.clone(), id, reservation, cancel, timeout)
}

fn is_response_to(m: &Value, id: &Value) -> bool {
    m.get("method").is_none() && m.get("id") == Some(id)
}

/// An upstream's answer body, read to its end; over `max` bytes it is an error (as over stdio a
/// message over `max_message_bytes` is not relayed), before more of it is read.
async fn capped(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, Failed> {
    let mut body = Vec::new();
    while let Some(c) = resp
        .chunk()
        .await
        .map_err(|e| Failed::new(format!("broke off its answer: {e}")))?
    {
        if body.len() + c.len() > max {
            let why = format!("answered with more than {max} bytes (`max_message_bytes`)");
            return Err(Failed::new(why));
        }
        body.extend_from_slice(&c);
    }
    Ok(body)
}

/// The router: the aggregated MCP endpoint at `/mcp`; `body_limit` bytes per request.
pub fn router(a: Arc<Aggregate>, body_limit: usize) -> Router {
    Router::new()
        .route("/mcp", post(on_post).get(on_get).delete(on_delete))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .with_state(a)
}

async fn on_post(
    State(a): State<Arc<Aggregate>>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match crate::http::body_of(body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let who = match a.caller(&headers) {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    let msg: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            let e = error(
                &Value::Null,
                codes::INVALID_REQUEST,
                "a JSON-RPC message must be an object",
                None,
            );
            return (StatusCode::BAD_REQUEST, Json(e)).into_response();
        }
        Err(e) => {
            let e = error(
                &Value::Null,
                codes::PARSE_ERROR,
                format!("not JSON: {e}"),
                None,
            );
            return (StatusCode::BAD_REQUEST, Json(e)).into_response();
        }
    };
    let method = msg.get("method").and_then(Value::as_str).unwrap_or("");
    if let Some(why) = msg
        .get("id")
        .filter(|_| msg.get("method").is_some())
        .and_then(crate::gate::bad_request_id)
    {
        let e = error(&Value::Null, codes::INVALID_REQUEST, why, None);
        return (StatusCode::BAD_REQUEST, Json(e)).into_response();
    }
    if method == "initialize" {
        return a.initialize(who, &msg).await;
    }
    let c = match a.client_session(&headers, &who) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let Some(id) = msg.get("id").cloned() else {
        // Notifications (initialized, cancelled, progress) and responses: accepted.
        return StatusCode::ACCEPTED.into_response();
    };
    let params = msg.get("params").cloned().unwrap_or(Value::Null);
    let answer = match method {
        "ping" => json!({"jsonrpc": "2.0", "id": id, "result": {}}),
        m @ ("tools/list" | "prompts/list" | "resources/list" | "resources/templates/list")
            if params.get("cursor").is_some() =>
        {
            // Warden answers every list whole and never hands out a cursor.
            error(
                &id,
                codes::INVALID_PARAMS,
                format!("invalid cursor: Warden's {m} has a single page"),
                None,
            )
        }
        "tools/list" => a.list(&c, &id, "tools/list").await,
        "prompts/list" => a.list(&c, &id, "prompts/list").await,
        "resources/list" => a.list(&c, &id, "resources/list").await,
        "resources/templates/list" => a.list(&c, &id, "resources/templates/list").await,
        m @ ("tools/call" | "prompts/get" | "resources/read") => a.call(&c, &id, m, &params).await,
        other => error(
            &id,
            -32601,
            format!("method `{other}` is not available on Warden's aggregated endpoint"),
            None,
        ),
    };
    Json(answer).into_response()
}

async fn on_get() -> Response {
    // No server-initiated messages on the aggregated endpoint.
    StatusCode::METHOD_NOT_ALLOWED.into_response()
}

async fn on_delete(State(a): State<Arc<Aggregate>>, headers: HeaderMap) -> Response {
    let who = match a.caller(&headers) {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    let c = match a.client_session(&headers, &who) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    if let Ok(mut m) = a.sessions.lock() {
        m.remove(&c.session.id);
    }
    for u in a.upstreams.iter() {
        if let Some(Some(sid)) = c.upstream_sessions.get(&u.gate.server) {
            let sent = a.client.delete(&u.url).header("mcp-session-id", sid).send();
            // A server that hangs does not hold the client's DELETE past the call timeout.
            let _ = tokio::time::timeout(a.call_timeout, sent).await;
        }
    }
    StatusCode::OK.into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_streams_yield_their_messages() {
        let body = b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}}\r\n\r\n";
        let m = crate::relay::sse_messages(body);
        assert_eq!(m.len(), 2);
        assert!(super::is_response_to(&m[1], &serde_json::json!(4)));
        assert!(!super::is_response_to(&m[0], &serde_json::json!(4)));
    }
}
