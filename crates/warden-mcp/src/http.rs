//! The Streamable HTTP proxy: Warden exposes one MCP endpoint (`POST|GET|DELETE /mcp`) in front of
//! an upstream Streamable HTTP MCP server and decides every `tools/call` on the way through.
//!
//! Like the stdio proxy this is a pass-through, not an MCP peer: requests, session headers
//! (`Mcp-Session-Id`, `MCP-Protocol-Version`, `Last-Event-ID`) and responses travel unchanged,
//! whether the upstream answers with JSON or a server-sent event stream, except that a refused
//! `tools/call` is answered by Warden (never reaching the upstream), a forwarded one may carry
//! redacted arguments, `tools/list` results are filtered, and limit reservations are settled when
//! the call's response passes (or released if the stream ends or the client goes away first).
//! The client's own `Authorization` header is not passed upstream (no token pass-through).
//! With API keys or JWTs configured, the caller's credential names the agent (as on `warden
//! serve`), and an MCP session stays bound to the identity that opened it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures_util::StreamExt;
use serde_json::Value;

use crate::gate::{codes, error, Gate, Record, Session, Verdict};
use crate::relay::{charge, relay, sse_messages, upstream_failed, Tracked, Watch};
use crate::upstream::Upstream;

/// The HTTP proxy's state.
pub struct HttpProxy {
    pub(crate) gate: Arc<Gate>,
    /// Caller credentials (API keys, JWTs); when configured, every request needs one and the
    /// caller's identity decides (not the configuration's).
    auth: Arc<warden_server::auth::AuthConfig>,
    /// This worker's connections to the upstream (see [`HttpProxy::worker`]).
    pub(crate) upstream: Upstream,
    /// Shared by every worker: a session opened through one is known to all.
    sessions: Arc<Mutex<HashMap<String, Arc<Session>>>>,
    pub(crate) call_timeout: Duration,
    pub(crate) limits: ProxyLimits,
}

/// How many MCP sessions the proxy keeps and for how long without a request, and how large an
/// answer from the MCP server may be.
#[derive(Debug, Clone, Copy)]
pub struct ProxyLimits {
    /// A session without a request for this long is forgotten (its id then gets 404, and the
    /// client initializes a new one, as the MCP specification says).
    pub idle: Duration,
    /// At most this many sessions; an `initialize` beyond it gets 503.
    pub max: usize,
    /// An answer from the MCP server (a JSON body, or one event of an event stream) larger than
    /// this is not relayed: the request it answers gets an error (as stdio drops a message
    /// over `max_message_bytes`).
    pub max_answer_bytes: usize,
}

impl Default for ProxyLimits {
    fn default() -> Self {
        ProxyLimits {
            idle: Duration::from_secs(3600),
            max: 10_000,
            max_answer_bytes: 4 * 1024 * 1024,
        }
    }
}

impl HttpProxy {
    /// A proxy for the MCP endpoint at `upstream` (an error when it is not a URL).
    pub fn new(
        gate: Arc<Gate>,
        auth: Arc<warden_server::auth::AuthConfig>,
        upstream: &str,
        call_timeout: Duration,
    ) -> Result<Arc<Self>, String> {
        Self::with_limits(gate, auth, upstream, call_timeout, ProxyLimits::default())
    }

    /// A proxy with explicit session limits; starts the sweeper that evicts idle sessions.
    pub fn with_limits(
        gate: Arc<Gate>,
        auth: Arc<warden_server::auth::AuthConfig>,
        upstream: &str,
        call_timeout: Duration,
        limits: ProxyLimits,
    ) -> Result<Arc<Self>, String> {
        let upstream = Upstream::new(upstream)?;
        let p = Arc::new(HttpProxy {
            gate,
            auth,
            upstream,
            sessions: Arc::new(Mutex::new(HashMap::new())),
            call_timeout,
            limits,
        });
        sweep(&p, limits, HttpProxy::evict_idle);
        Ok(p)
    }

    /// The same proxy (policy, sessions, limits) with connections of its own to the upstream,
    /// for a worker thread that serves its share of the clients on a runtime of its own: a
    /// call's path (client, decision, upstream, answer) then stays on one thread, with no
    /// cross-thread wake-ups (the connection-per-worker model of Envoy and linkerd).
    pub fn worker(&self) -> Arc<Self> {
        Arc::new(HttpProxy {
            gate: self.gate.clone(),
            auth: self.auth.clone(),
            upstream: self.upstream.fresh(),
            sessions: self.sessions.clone(),
            call_timeout: self.call_timeout,
            limits: self.limits,
        })
    }

    /// Forgets sessions idle longer than the limit; returns how many.
    pub fn evict_idle(&self) -> usize {
        let Ok(mut m) = self.sessions.lock() else {
            return 0;
        };
        let before = m.len();
        m.retain(|_, s| s.idle() < self.limits.idle);
        before - m.len()
    }

    /// Sessions currently known.
    pub fn session_count(&self) -> usize {
        self.sessions.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Who is calling: the credential's identity when authentication is configured (401
    /// without a valid one), else the configured tenant and agent.
    fn caller(&self, headers: &HeaderMap) -> Result<(String, String), Refused> {
        caller(&self.auth, headers, (&self.gate.tenant, &self.gate.agent))
    }

    /// The session `id` of `who` (a new one when there is no id: `initialize`). A session belongs
    /// to the caller that opened it: another identity presenting its id gets 403; an id Warden
    /// does not know (never opened here, ended, or evicted when idle) gets 404.
    fn session(&self, id: Option<&str>, who: &(String, String)) -> Result<Arc<Session>, Refused> {
        let Some(id) = id else {
            if self.session_count() >= self.limits.max {
                return Err(Refused(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many open MCP sessions; try again later".into(),
                ));
            }
            return Ok(Arc::new(Session::new(&who.0, &who.1)));
        };
        let found = self.sessions.lock().ok().and_then(|m| m.get(id).cloned());
        let Some(s) = found else {
            return Err(Refused(
                StatusCode::NOT_FOUND,
                "unknown or expired MCP session; initialize a new one".into(),
            ));
        };
        if (s.tenant.as_str(), s.agent.as_str()) != (who.0.as_str(), who.1.as_str()) {
            return Err(Refused(
                StatusCode::FORBIDDEN,
                "this MCP session belongs to another caller".into(),
            ));
        }
        s.touch();
        Ok(s)
    }

    /// Records the upstream's new session `id` as belonging to `who`.
    fn register(&self, id: &str, who: &(String, String)) {
        if let Ok(mut m) = self.sessions.lock() {
            m.entry(id.to_string())
                .or_insert_with(|| Arc::new(Session::with_id(id, &who.0, &who.1)));
        }
    }
}

/// Who is calling: the credential's identity when `auth` is configured (401 without a valid
/// one), else `default` (the configured tenant and agent).
pub(crate) fn caller(
    auth: &warden_server::auth::AuthConfig,
    headers: &HeaderMap,
    default: (&str, &str),
) -> Result<(String, String), Refused> {
    if !auth.enabled() {
        return Ok((default.0.to_string(), default.1.to_string()));
    }
    auth.authenticate(headers)
        .map(|id| (id.tenant, id.agent))
        .map_err(|e| {
            Refused(
                StatusCode::UNAUTHORIZED,
                format!("authentication failed: {e}"),
            )
        })
}

/// Runs `evict(owner)` every quarter of the idle limit (between 0.1 s and a minute) for as long
/// as `owner` lives; `evict` returns how many sessions it forgot.
pub(crate) fn sweep<T: Send + Sync + 'static>(
    owner: &Arc<T>,
    limits: ProxyLimits,
    evict: fn(&T) -> usize,
) {
    let weak = Arc::downgrade(owner);
    let every = (limits.idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(60));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(o) = weak.upgrade() else { return };
            let evicted = evict(&o);
            if evicted > 0 {
                tracing::info!(evicted, "idle MCP sessions forgotten");
            }
        }
    });
}

/// A request refused before it reached the upstream: its status and why.
pub(crate) struct Refused(pub(crate) StatusCode, pub(crate) String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let r = error(&Value::Null, codes::DENIED, self.1, None);
        (self.0, axum::Json(r)).into_response()
    }
}

/// The router: the MCP endpoint at `/mcp`; `body_limit` bytes per request.
pub fn router(proxy: Arc<HttpProxy>, body_limit: usize) -> Router {
    Router::new()
        .route("/mcp", post(on_post).get(on_get).delete(on_delete))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .with_state(proxy)
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub(crate) fn json_response(v: &Value, session: Option<&str>) -> Response {
    let mut r = (
        StatusCode::OK,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response();
    if let Some(s) = session.and_then(|s| s.parse().ok()) {
        r.headers_mut().insert("mcp-session-id", s);
    }
    r
}

/// The body of a `POST`, or the JSON-RPC error for one that could not be read (over
/// `max_message_bytes`: 413 with -32600).
pub(crate) fn body_of(
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, (StatusCode, axum::Json<Value>)> {
    body.map_err(|r| {
        let status = r.status();
        let e = error(
            &Value::Null,
            codes::INVALID_REQUEST,
            format!("the message could not be read: {}", r.body_text()),
            None,
        );
        (status, axum::Json(e))
    })
}

async fn on_post(
    State(p): State<Arc<HttpProxy>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body_of(body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let who = match p.caller(&headers) {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    let session_id = header(&headers, "mcp-session-id");
    let session = match p.session(session_id.as_deref(), &who) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let ctx = Ctx {
        p: &p,
        headers: &headers,
        who: &who,
        session_id: session_id.as_deref(),
        session: &session,
    };
    match serde_json::from_slice(&body) {
        Ok(Value::Array(batch)) => on_batch(&ctx, batch).await,
        Ok(msg) => on_message(&ctx, msg).await,
        Err(e) => {
            let r = error(
                &Value::Null,
                codes::PARSE_ERROR,
                format!("not JSON: {e}"),
                None,
            );
            (StatusCode::BAD_REQUEST, axum::Json(r)).into_response()
        }
    }
}

/// One `POST`'s caller, session and headers.
struct Ctx<'a> {
    p: &'a Arc<HttpProxy>,
    headers: &'a HeaderMap,
    who: &'a (String, String),
    session_id: Option<&'a str>,
    session: &'a Arc<Session>,
}

/// A JSON-RPC batch (MCP 2025-03-26 allows them; 2025-06-18 dropped them): each message goes
/// through the gateway on its own, exactly as if it had been posted alone, so none is forwarded
/// undecided; their answers come back as one JSON array (202 when there are none).
async fn on_batch(ctx: &Ctx<'_>, batch: Vec<Value>) -> Response {
    if batch.is_empty() {
        let r = error(&Value::Null, codes::INVALID_REQUEST, "an empty batch", None);
        return (StatusCode::BAD_REQUEST, axum::Json(r)).into_response();
    }
    let mut answers = Vec::new();
    for msg in batch {
        let r = on_message(ctx, msg).await;
        answers.extend(messages_of(r).await);
    }
    if answers.is_empty() {
        return StatusCode::ACCEPTED.into_response();
    }
    json_response(&Value::Array(answers), ctx.session_id)
}

/// The JSON-RPC messages in an answer: a JSON body (one message or an array) or an event stream.
async fn messages_of(r: Response) -> Vec<Value> {
    let streamed = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let Ok(bytes) = axum::body::to_bytes(r.into_body(), usize::MAX).await else {
        return Vec::new();
    };
    if streamed {
        return sse_messages(&bytes);
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Array(v)) => v,
        Ok(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    }
}

/// One JSON-RPC message: decided when it is a call, then forwarded (or answered by Warden).
///
/// What goes upstream is always Warden's own serialization of the message it looked at, never
/// the client's bytes: a body with a key given twice (`method` or `params`) reads one way to
/// serde_json, which keeps the last, and another to a parser that keeps the first, which the
/// upstream may use; re-serializing leaves one reading.
async fn on_message(ctx: &Ctx<'_>, mut msg: Value) -> Response {
    let Ctx {
        p,
        headers,
        who,
        session_id,
        session,
    } = *ctx;
    if !msg.is_object() {
        // Not a message (a nested batch included): refused, never passed on undecided.
        let why = "a JSON-RPC message must be an object";
        let r = error(&Value::Null, codes::INVALID_REQUEST, why, None);
        return (StatusCode::BAD_REQUEST, axum::Json(r)).into_response();
    }
    let method = msg
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let id = msg.get("id").cloned();
    if let Some(why) = id
        .as_ref()
        .filter(|_| msg.get("method").is_some())
        .and_then(crate::gate::bad_request_id)
    {
        let r = error(&Value::Null, codes::INVALID_REQUEST, why, None);
        return (StatusCode::BAD_REQUEST, axum::Json(r)).into_response();
    }
    if id.is_none() && crate::gate::decided_method(&method) {
        let why = format!("`{method}` without an id: Warden forwards only calls it can answer");
        let r = error(&Value::Null, codes::INVALID_REQUEST, why, None);
        return (StatusCode::BAD_REQUEST, axum::Json(r)).into_response();
    }
    let mut tracked = None;
    let mut record = Record::done();
    let original = msg.get("params").cloned().unwrap_or(Value::Null);
    let call = id
        .as_ref()
        .and_then(|_| p.gate.as_call(session, &method, &original));
    let listed = crate::gate::listed(&method);
    match (call, id) {
        (Some(params), Some(id)) => {
            let mut verdict = p.gate.call(session, &id, &params).await;
            if let Some(aid) = match &verdict {
                Verdict::Reply(r) => p.gate.waits_on(r),
                _ => None,
            } {
                // Waiting mode: a client that takes an event stream gets progress notifications
                // while a person decides; others are simply held open.
                let accept = header(headers, "accept").unwrap_or_default();
                if accept.contains("text/event-stream") {
                    return waiting_stream(
                        p.clone(),
                        headers.clone(),
                        session.clone(),
                        id,
                        msg,
                        &method,
                        params,
                        aid,
                    );
                }
                verdict = p.gate.resume(session, &id, &params, &aid, |_| {}).await;
            }
            match verdict {
                Verdict::Reply(r) => return json_response(&r, session_id),
                Verdict::Forward {
                    params,
                    reservation,
                    input,
                    record: r,
                } => {
                    msg["params"] = Gate::forwarded(&method, &original, &params);
                    let charge = charge(p, headers, &id, reservation);
                    tracked = Some(Tracked::Call(id, charge, input));
                    record = r;
                }
            }
        }
        (None, Some(id)) => {
            if let Some(m) = listed {
                tracked = Some(Tracked::List(id, m, session.clone()));
            }
        }
        _ => {}
    }
    let watch = Watch::new(msg.get("id").cloned(), tracked);
    let r = exchange(p, headers, Bytes::from(msg.to_string()), watch, record).await;
    if let (Some(s), "initialize") = (r.headers().get("mcp-session-id"), method.as_str()) {
        if let Ok(s) = s.to_str() {
            // The upstream's new session belongs to this caller.
            p.register(s, who);
        }
    }
    r
}

/// Sends `body` upstream with the client's MCP headers and relays the answer (watching it for
/// `tracked`); an upstream that cannot be reached or does not answer in time gets the tracked
/// request a JSON-RPC error. The call's `record` is committed while it is upstream; nothing is
/// relayed before it is.
async fn exchange(
    p: &Arc<HttpProxy>,
    headers: &HeaderMap,
    body: Bytes,
    watch: Watch,
    record: Record,
) -> Response {
    let sent = tokio::time::timeout(p.call_timeout, p.upstream.send(Method::POST, headers, body));
    warden_server::workers::kick(); // the answer is due: poll for it (when configured)
    let (answer, ()) = tokio::join!(sent, record.commit_beside_send());
    match answer {
        Ok(Ok(resp)) => relay(p, resp, watch).await,
        Ok(Err(e)) => upstream_failed(
            &p.gate,
            watch,
            codes::UPSTREAM_FAILED,
            &format!("the MCP server is unreachable: {e}"),
        ),
        Err(_) => upstream_failed(
            &p.gate,
            watch,
            codes::UPSTREAM_TIMEOUT,
            "the MCP server did not answer in time",
        ),
    }
}

/// Waiting mode over an event stream: answers at once with `text/event-stream`, sends
/// `notifications/progress` (when the call has a `progressToken`) while a person decides, then
/// the call's answer: Warden's refusal, or the upstream's response to the retried call.
#[allow(clippy::too_many_arguments)]
fn waiting_stream(
    p: Arc<HttpProxy>,
    headers: HeaderMap,
    session: Arc<Session>,
    id: Value,
    mut msg: Value,
    method: &str,
    call: Value,
    aid: String,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let event = crate::relay::sse_event;
    let session_id = header(&headers, "mcp-session-id");
    let method = method.to_string();
    tokio::spawn(async move {
        let original = msg.get("params").cloned().unwrap_or(Value::Null);
        let params = call;
        let notify = |n: Value| {
            let _ = tx.send(event(&n));
        };
        // A client that goes away while the call is held has given up on it: the call is not
        // made when the approval comes (it would be made with nobody to answer, and the agent
        // would likely ask again), and the approval is left unused.
        let closed = tx.clone();
        let Some(verdict) = p
            .gate
            .resume_until(&session, &id, &params, &aid, notify, closed.closed())
            .await
        else {
            tracing::info!(approval = aid, "a held call's client went away: not made");
            return;
        };
        let (params, reservation, input, record) = match verdict {
            Verdict::Reply(r) => {
                let _ = tx.send(event(&r));
                return;
            }
            Verdict::Forward {
                params,
                reservation,
                input,
                record,
            } => (params, reservation, input, record),
        };
        msg["params"] = Gate::forwarded(&method, &original, &params);
        let tracked = Some(Tracked::Call(
            id.clone(),
            charge(&p, &headers, &id, reservation),
            input,
        ));
        let watch = Watch::new(Some(id.clone()), tracked);
        let r = exchange(&p, &headers, Bytes::from(msg.to_string()), watch, record).await;
        let streamed = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let mut body = r.into_body().into_data_stream();
        if streamed {
            // The upstream's events, already rewritten by `relay`.
            while let Some(Ok(chunk)) = body.next().await {
                let _ = tx.send(chunk);
            }
            return;
        }
        let mut bytes = Vec::new();
        while let Some(Ok(chunk)) = body.next().await {
            bytes.extend_from_slice(&chunk);
        }
        // `relay` answers a call with JSON (an upstream's failure already turned into an error
        // and counted there), so this is only a guard.
        let answer = serde_json::from_slice::<Value>(&bytes).unwrap_or_else(|e| {
            error(
                &id,
                codes::UPSTREAM_FAILED,
                format!("the MCP server's answer was not JSON-RPC: {e}"),
                None,
            )
        });
        let _ = tx.send(event(&answer));
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-cache"));
    if let Some(s) = session_id.and_then(|s| s.parse().ok()) {
        r.headers_mut().insert("mcp-session-id", s);
    }
    r
}

/// `GET` (the server's event stream) and `DELETE` (end of session) pass through once the caller
/// is authenticated and owns the session.
async fn pass_through(p: &Arc<HttpProxy>, headers: &HeaderMap, method: Method) -> Response {
    let session = header(headers, "mcp-session-id");
    if let Err(r) = p
        .caller(headers)
        .and_then(|who| p.session(session.as_deref(), &who))
    {
        return r.into_response();
    }
    if method == Method::DELETE {
        if let (Some(s), Ok(mut m)) = (session, p.sessions.lock()) {
            m.remove(&s);
        }
    }
    match p.upstream.send(method, headers, Bytes::new()).await {
        Ok(resp) => relay(p, resp, Watch::new(None, None)).await,
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            format!("the MCP server is unreachable: {e}"),
        )
            .into_response(),
    }
}

async fn on_get(State(p): State<Arc<HttpProxy>>, headers: HeaderMap) -> Response {
    pass_through(&p, &headers, Method::GET).await
}

async fn on_delete(State(p): State<Arc<HttpProxy>>, headers: HeaderMap) -> Response {
    pass_through(&p, &headers, Method::DELETE).await
}
