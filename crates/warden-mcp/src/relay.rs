//! The upstream's answer on its way back to the client: which request the proxy is waiting on
//! ([`Tracked`]), the charges a forwarded call holds until its answer is seen ([`charge`],
//! released and cancelled upstream if the call is abandoned), and the relay that passes JSON and
//! server-sent event answers back, inspecting (and, when policy says so, rewriting) the tracked
//! response.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::Value;

use crate::gate::{codes, Canceller, Charge, Gate, Session};
use crate::http::{json_response, HttpProxy};

/// Response headers passed back.
const BACK: [&str; 3] = ["content-type", "mcp-session-id", "cache-control"];

/// What the proxy watches for in the upstream's answer.
pub(crate) enum Tracked {
    /// A forwarded call: its id, its charges, its decision input.
    Call(Value, Charge, Value),
    /// A list request (`tools/list`, `prompts/list`, `resources/list`): its id, the method
    /// and the session whose agent's grants filter it.
    List(Value, &'static str, Arc<Session>),
}

/// A forwarded call's charges ([`Charge`]): dropped before its answer is seen, the call is
/// cancelled upstream on the session (`Mcp-Session-Id`, protocol version) it was sent on; only
/// these two headers of the client's request are kept.
pub(crate) fn charge(
    p: &Arc<HttpProxy>,
    headers: &HeaderMap,
    id: &Value,
    reservation: Option<String>,
) -> Charge {
    let mut sent = HeaderMap::new();
    sent.insert("content-type", HeaderValue::from_static("application/json"));
    sent.insert(
        "accept",
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    for name in ["mcp-session-id", "mcp-protocol-version"] {
        if let Some(v) = headers.get(name) {
            sent.insert(name, v.clone());
        }
    }
    let proxy = p.clone();
    let cancel: Canceller = Box::new(move |note| {
        Box::pin(async move {
            let body = note.to_string().into();
            let sent = proxy.upstream.send(Method::POST, &sent, body).await;
            sent.map(drop).map_err(|e| e.to_string())
        })
    });
    Charge::new(p.gate.clone(), id, reservation, cancel, p.call_timeout)
}

/// What one upstream answer may carry back to the client. Only the answer to the request the
/// client posted is relayed, once, and inspected when it is a call's or a list's: any other
/// answer (to an id the client did not post here, the same id in another JSON type, a second
/// answer, or any answer on the `GET` stream, which MCP keeps for server requests and
/// notifications) is dropped, since a client could take it for the answer to one of its calls.
/// Server requests and notifications pass.
pub(crate) struct Watch {
    /// The id of the request posted (`None`: a notification's `POST`, or the `GET` stream).
    expect: Option<Value>,
    /// Its answer has been relayed.
    answered: bool,
    /// The call or list whose answer is inspected.
    tracked: Option<Tracked>,
}

impl Watch {
    /// Watching for the answer to request `expect` (and inspecting it when `tracked`).
    pub(crate) fn new(expect: Option<Value>, tracked: Option<Tracked>) -> Self {
        Watch {
            expect,
            answered: false,
            tracked,
        }
    }

    /// The request whose answer has not come back yet, if any.
    fn due(&self) -> Option<&Value> {
        self.expect.as_ref().filter(|_| !self.answered)
    }
}

/// What became of one message from upstream.
#[derive(PartialEq, Eq)]
pub(crate) enum Seen {
    /// Relayed as it came.
    Unchanged,
    /// Relayed, rewritten.
    Changed,
    /// Not relayed.
    Dropped,
}

/// The answer for a request the MCP server failed (`code`: [`codes::UPSTREAM_TIMEOUT`] or
/// [`codes::UPSTREAM_FAILED`]): a JSON-RPC error for the request (counted against the server
/// when it was a call or a list), a bare 502 when no request awaits an answer.
pub(crate) fn upstream_failed(gate: &Gate, w: Watch, code: i64, why: &str) -> Response {
    let due = w.due().cloned();
    match (w.tracked, due) {
        (Some(Tracked::Call(id, _, _)) | Some(Tracked::List(id, _, _)), _) => {
            json_response(&gate.upstream_error(&id, code, why), None)
        }
        (None, Some(id)) => json_response(&crate::gate::error(&id, code, why, None), None),
        (None, None) => (StatusCode::BAD_GATEWAY, why.to_string()).into_response(),
    }
}

/// Looks at one JSON-RPC message (or batch) from upstream, rewriting it when it had to change.
pub(crate) fn inspect(gate: &Gate, w: &mut Watch, msg: &mut Value) -> Seen {
    if let Value::Array(batch) = msg {
        let mut out = Vec::with_capacity(batch.len());
        let mut changed = false;
        for mut m in std::mem::take(batch) {
            match inspect(gate, w, &mut m) {
                Seen::Dropped => changed = true,
                seen => {
                    changed |= seen == Seen::Changed;
                    out.push(m);
                }
            }
        }
        if out.is_empty() {
            return Seen::Dropped;
        }
        *msg = Value::Array(out);
        return if changed {
            Seen::Changed
        } else {
            Seen::Unchanged
        };
    }
    if !msg.is_object() {
        return Seen::Dropped;
    }
    if let Some(method) = msg.get("method").and_then(Value::as_str) {
        // The server's request or notification; progress on a call is masked like its result.
        if let (Some(Tracked::Call(_, _, input)), "notifications/progress") = (&w.tracked, method) {
            if gate.on_progress(input, msg) {
                return Seen::Changed;
            }
        }
        return Seen::Unchanged;
    }
    let id = msg.get("id");
    if w.due().is_none() || id != w.due() {
        // JSON-RPC's answer to a message whose id could not be read: matches no request. While
        // a call is upstream it could still carry the call's data, so it is masked as the
        // call's own error would be.
        if matches!(id, None | Some(Value::Null)) && msg.get("result").is_none() {
            if let (Some(Tracked::Call(_, _, input)), Some(e)) = (&w.tracked, msg.get_mut("error"))
            {
                if gate.on_error(input, e) {
                    return Seen::Changed;
                }
            }
            return Seen::Unchanged;
        }
        let id = id.map(Value::to_string).unwrap_or_default();
        tracing::warn!(
            id,
            "dropped an answer from the MCP server to no request it was asked here"
        );
        return Seen::Dropped;
    }
    w.answered = true;
    match w.tracked.take() {
        Some(Tracked::Call(_, charge, input)) => match charge.answered(&input, msg) {
            true => Seen::Changed,
            false => Seen::Unchanged,
        },
        Some(Tracked::List(_, method, session)) => {
            if let Some(r) = msg.get_mut("result") {
                gate.filter_list(method, &session, r);
            }
            Seen::Changed
        }
        None => Seen::Unchanged,
    }
}

/// Passes the upstream's answer back: its status, the headers in `BACK`, and its body, with
/// the messages in it inspected on the way (see [`Watch`]). An event stream that still owes a
/// call's or list's answer `timeout` after it began gets a -32005 error for it and ends; so does
/// a JSON body not read in full by then. An answer (a JSON body, or one event) over
/// `max_answer_bytes` is not relayed: the request it answers gets a -32006 error.
pub(crate) async fn relay(p: &Arc<HttpProxy>, resp: Response, mut w: Watch) -> Response {
    let (head, body) = resp.into_parts();
    let mut back = HeaderMap::new();
    for h in BACK {
        if let Some(v) = head.headers.get(h) {
            back.insert(HeaderName::from_static(h), v.clone());
        }
    }
    let kind = header_str(&head.headers, "content-type");
    if kind.starts_with("text/event-stream") {
        let deadline = tokio::time::Instant::now() + p.call_timeout;
        let s = Stream {
            chunks: Box::pin(body.into_data_stream()),
            buf: Vec::new(),
            w,
            gate: p.gate.clone(),
            deadline,
            max: p.limits.max_answer_bytes,
            scanned: 0,
            started: false,
            ended: false,
        };
        let stream = futures_util::stream::unfold(s, |mut s| async move {
            s.next().await.map(|b| (Ok::<_, std::io::Error>(b), s))
        });
        let mut r = Response::new(Body::from_stream(stream));
        *r.status_mut() = head.status;
        *r.headers_mut() = back;
        return r;
    }
    let max = p.limits.max_answer_bytes;
    let read = axum::body::to_bytes(body, max);
    let bytes = match tokio::time::timeout(p.call_timeout, read).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            let why = match over {
                true => format!(
                    "the MCP server's answer is larger than {max} bytes (`max_message_bytes`)"
                ),
                false => format!("the MCP server's answer broke off: {e}"),
            };
            return upstream_failed(&p.gate, w, codes::UPSTREAM_FAILED, &why);
        }
        Err(_) => {
            let why = "the MCP server did not finish its answer in time";
            return upstream_failed(&p.gate, w, codes::UPSTREAM_TIMEOUT, why);
        }
    };
    // Whatever content type it claims (so an answer cannot slip past as `text/plain`), a JSON
    // body is inspected; a request's answer that is not JSON becomes the client's error. So
    // does a body that does not answer the request: with the upstream's status when that is
    // an HTTP error (a client may act on it, as on 404 for a session gone), and then only when
    // nothing in it could be relayed (an error for no id, such as a 400's, passes).
    let body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(mut v) => match inspect(&p.gate, &mut w, &mut v) {
            Seen::Unchanged if w.tracked.is_none() => bytes,
            Seen::Changed if w.tracked.is_none() => Bytes::from(v.to_string()),
            seen if w.due().is_some() && (head.status.is_success() || seen == Seen::Dropped) => {
                let status = head.status;
                let why = match status.is_success() {
                    true => "the MCP server's answer did not answer the request".to_string(),
                    false => format!("the MCP server answered HTTP {}", status.as_u16()),
                };
                let mut r = upstream_failed(&p.gate, w, codes::UPSTREAM_FAILED, &why);
                if !status.is_success() {
                    *r.status_mut() = status;
                }
                return r;
            }
            Seen::Dropped => Bytes::new(),
            _ => Bytes::from(v.to_string()),
        },
        Err(e) if w.tracked.is_some() => {
            let why = format!(
                "the MCP server's answer was not JSON-RPC (HTTP {}, `{kind}`): {e}",
                head.status.as_u16()
            );
            return upstream_failed(&p.gate, w, codes::UPSTREAM_FAILED, &why);
        }
        _ => bytes,
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = head.status;
    *r.headers_mut() = back;
    r
}

/// An upstream event stream on its way to the client, event by event.
struct Stream {
    chunks: std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, axum::Error>> + Send>>,
    buf: Vec<u8>,
    w: Watch,
    gate: Arc<Gate>,
    /// When a call's or list's answer still due is given up on.
    deadline: tokio::time::Instant,
    /// The largest event relayed, in bytes.
    max: usize,
    /// How much of `buf` is known to hold no event's end.
    scanned: usize,
    /// The stream's first bytes were seen (a byte-order mark there is dropped, as SSE says).
    started: bool,
    ended: bool,
}

impl Stream {
    /// The next bytes for the client; `None` once the stream is over.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if self.ended {
                return None;
            }
            // Only bytes not searched before are (an event's end is up to 4 bytes long), so a
            // large event costs one pass, not one per chunk.
            let from = self.scanned.saturating_sub(3);
            let end = event_end(&self.buf[from..]).map(|e| e + from);
            if end.unwrap_or(self.buf.len()) > self.max {
                return self.oversized();
            }
            if let Some(end) = end {
                self.scanned = 0;
                let event: Vec<u8> = self.buf.drain(..end).collect();
                let out = rewrite_event(&self.gate, &mut self.w, &event);
                if out.is_empty() {
                    continue;
                }
                return Some(Bytes::from(out));
            }
            self.scanned = self.buf.len();
            let next = if self.w.tracked.is_some() {
                match tokio::time::timeout_at(self.deadline, self.chunks.next()).await {
                    Ok(n) => n,
                    Err(_) => {
                        return self.give_up(
                            codes::UPSTREAM_TIMEOUT,
                            "the MCP server did not answer in time",
                        )
                    }
                }
            } else {
                self.chunks.next().await
            };
            match next {
                Some(Ok(c)) => {
                    self.buf.extend_from_slice(&c);
                    if !self.started && self.buf.len() >= 3 {
                        self.started = true;
                        if self.buf.starts_with(b"\xEF\xBB\xBF") {
                            self.buf.drain(..3);
                            self.scanned = 0;
                        }
                    }
                }
                // The stream ended (an event cut off by its end is not dispatched, as SSE
                // says). A call's or list's answer still due gets the client an error (and
                // the call's charge is released as its `Charge` drops).
                _ => {
                    self.buf.clear();
                    if self.w.tracked.is_some() {
                        return self.give_up(
                            codes::UPSTREAM_FAILED,
                            "the MCP server's event stream ended without the answer",
                        );
                    }
                    return None;
                }
            }
        }
    }

    /// An event too large to relay: the answer it may hold is not given (the request still due
    /// gets an error) and the stream ends, as what follows it cannot be told apart from it.
    fn oversized(&mut self) -> Option<Bytes> {
        tracing::warn!(
            bytes = self.buf.len(),
            "dropped an event from the MCP server over `max_message_bytes`"
        );
        self.buf.clear();
        let why = "an event from the MCP server is larger than `max_message_bytes`";
        self.give_up(codes::UPSTREAM_FAILED, why)
    }

    /// Ends the stream with an error event for the answer still due, if any: a call's or list's
    /// (counted against the server), or any other request's (`resources/read`, `initialize`).
    fn give_up(&mut self, code: i64, why: &str) -> Option<Bytes> {
        self.ended = true;
        let e = match self.w.tracked.take() {
            Some(Tracked::Call(id, _, _) | Tracked::List(id, _, _)) => {
                self.gate.upstream_error(&id, code, why)
            }
            None => crate::gate::error(self.w.due()?, code, why, None),
        };
        Some(sse_event(&e))
    }
}

/// One JSON-RPC message as a server-sent event.
pub(crate) fn sse_event(msg: &Value) -> Bytes {
    Bytes::from(format!("event: message\ndata: {msg}\n\n"))
}

pub(crate) fn header_str(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// End (exclusive) of the first complete server-sent event in `buf`, blank line included.
pub(crate) fn event_end(buf: &[u8]) -> Option<usize> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The JSON messages in an event stream's `data` fields.
pub(crate) fn sse_messages(body: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(body).replace("\r\n", "\n");
    text.split("\n\n").filter_map(event_message).collect()
}

/// The JSON message in one server-sent event's `data` lines, if it carries one.
pub(crate) fn event_message(event: &str) -> Option<Value> {
    let data: Vec<&str> = event
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    if data.is_empty() {
        return None;
    }
    serde_json::from_str(&data.join("\n")).ok()
}

/// An event whose data Warden cannot read (not UTF-8, not JSON, or JSON serde_json refuses, such
/// as `NaN`, that a lenient client might still accept) is dropped: it could be an answer.
fn unreadable(event: &[u8]) -> Vec<u8> {
    tracing::warn!(
        bytes = event.len(),
        "dropped an event from the MCP server whose data is not JSON"
    );
    Vec::new()
}

/// One event, with its `data` (a JSON-RPC message) rewritten when the proxy had to change it;
/// empty when it is dropped.
pub(crate) fn rewrite_event(gate: &Gate, w: &mut Watch, event: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(event) else {
        return unreadable(event);
    };
    let Some(mut msg) = event_message(text) else {
        if text.lines().any(|l| l.starts_with("data:")) {
            return unreadable(event);
        }
        return event.to_vec(); // a comment, a keep-alive, an `id:` or `retry:` line
    };
    match inspect(gate, w, &mut msg) {
        Seen::Unchanged => return event.to_vec(),
        Seen::Dropped => return Vec::new(),
        Seen::Changed => {}
    }
    let mut out = String::new();
    for l in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("data:"))
    {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(&format!("data: {msg}\n\n"));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::event_end;

    #[test]
    fn events_end_at_a_blank_line() {
        assert_eq!(event_end(b"event: message\ndata: {}\n\nrest"), Some(25));
        assert_eq!(event_end(b"data: {}\r\n\r\n"), Some(12));
        assert_eq!(event_end(b"data: {"), None);
    }
}
