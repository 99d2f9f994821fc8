//! The upstream's answer on its way back to the client: which request the proxy is waiting on
//! ([`Tracked`]), the reservation a forwarded call holds until its answer is seen ([`Settle`],
//! released and cancelled upstream if the call is abandoned), and the relay that passes JSON and
//! server-sent event answers back, inspecting (and, when policy says so, rewriting) the tracked
//! response.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::gate::{codes, Gate, Session};
use crate::http::{json_response, HttpProxy};

/// Response headers passed back.
const BACK: [&str; 3] = ["content-type", "mcp-session-id", "cache-control"];

/// What the proxy watches for in the upstream's answer.
pub(crate) enum Tracked {
    /// A forwarded call: its id, its reservation, its decision input.
    Call(Value, Settle, Value),
    /// A list request (`tools/list`, `prompts/list`, `resources/list`): its id, the method
    /// and the session whose agent's grants filter it.
    List(Value, &'static str, Arc<Session>),
}

/// A forwarded call's reservation, released unless the call's success is seen (drop = release).
/// A call dropped before its answer came back (the client went away, the stream broke off, the
/// upstream timed out) is also cancelled upstream with `notifications/cancelled`: its charge is
/// released, so the server is asked to stop the work (an SDK server cancels the tool's task).
pub(crate) struct Settle {
    proxy: Arc<HttpProxy>,
    reservation: Option<String>,
    /// Until the answer is seen: how to tell the upstream the call was abandoned.
    cancel: Option<Cancel>,
}

/// The abandoned call's id, and the upstream session (`Mcp-Session-Id`, protocol version) it
/// was sent on; only these two headers are kept, not the whole request's.
struct Cancel {
    id: Value,
    session: Option<HeaderValue>,
    protocol: Option<HeaderValue>,
}

impl Settle {
    pub(crate) fn new(
        p: &Arc<HttpProxy>,
        headers: &HeaderMap,
        id: &Value,
        reservation: Option<String>,
    ) -> Self {
        let cancel = Cancel {
            id: id.clone(),
            session: headers.get("mcp-session-id").cloned(),
            protocol: headers.get("mcp-protocol-version").cloned(),
        };
        Settle {
            proxy: p.clone(),
            reservation,
            cancel: Some(cancel),
        }
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        let p = &self.proxy;
        p.gate.settle(self.reservation.take().as_deref(), false);
        let (Some(c), Ok(rt)) = (self.cancel.take(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        let note = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                          "params": {"requestId": c.id, "reason": "the client went away"}});
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert(
            "accept",
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        for (name, value) in [
            ("mcp-session-id", c.session),
            ("mcp-protocol-version", c.protocol),
        ] {
            if let Some(v) = value {
                headers.insert(name, v);
            }
        }
        let (p, timeout) = (p.clone(), p.call_timeout);
        rt.spawn(async move {
            let sent = p
                .upstream
                .send(Method::POST, &headers, note.to_string().into());
            if let Ok(Err(e)) = tokio::time::timeout(timeout, sent).await {
                tracing::warn!(error = %e, "could not cancel an abandoned call upstream");
            }
        });
    }
}

/// The answer for a request the MCP server failed (`code`: [`codes::UPSTREAM_TIMEOUT`] or
/// [`codes::UPSTREAM_FAILED`]): a JSON-RPC error for a tracked request (counted against the
/// server), a bare 502 otherwise.
pub(crate) fn upstream_failed(
    gate: &Gate,
    tracked: Option<Tracked>,
    code: i64,
    why: &str,
) -> Response {
    match tracked {
        Some(Tracked::Call(id, _, _)) | Some(Tracked::List(id, _, _)) => {
            json_response(&gate.upstream_error(&id, code, why), None)
        }
        None => (StatusCode::BAD_GATEWAY, why.to_string()).into_response(),
    }
}

/// Looks at one JSON-RPC message from upstream; returns it rewritten when it had to change.
pub(crate) fn inspect(gate: &Gate, tracked: &mut Option<Tracked>, msg: &mut Value) -> bool {
    let is_response = msg.get("method").is_none();
    let matches = |id: &Value| is_response && msg.get("id") == Some(id);
    match tracked {
        Some(Tracked::Call(id, settle, input)) if matches(id) => {
            settle.cancel = None; // answered: nothing to cancel
            let changed = gate.answered(settle.reservation.take().as_deref(), input, msg);
            *tracked = None;
            changed
        }
        Some(Tracked::List(id, method, session)) if matches(id) => {
            if let Some(r) = msg.get_mut("result") {
                gate.filter_list(method, session, r);
            }
            *tracked = None;
            true
        }
        _ => false,
    }
}

/// Passes the upstream's answer back: its status, the headers in `BACK`, and its body, with
/// the tracked response inspected (and rewritten when policy changes it) on the way.
pub(crate) async fn relay(
    p: &Arc<HttpProxy>,
    resp: Response,
    mut tracked: Option<Tracked>,
) -> Response {
    let (head, body) = resp.into_parts();
    let mut back = HeaderMap::new();
    for h in BACK {
        if let Some(v) = head.headers.get(h) {
            back.insert(HeaderName::from_static(h), v.clone());
        }
    }
    let kind = header_str(&head.headers, "content-type");
    if kind.starts_with("text/event-stream") {
        let gate = p.gate.clone();
        let chunks = body.into_data_stream();
        let stream = futures_util::stream::unfold(
            (chunks, Vec::<u8>::new(), tracked, gate),
            |(mut resp, mut buf, mut tracked, gate)| async move {
                loop {
                    if let Some(end) = event_end(&buf) {
                        let event: Vec<u8> = buf.drain(..end).collect();
                        let out = rewrite_event(&gate, &mut tracked, &event);
                        return Some((
                            Ok::<_, std::io::Error>(Bytes::from(out)),
                            (resp, buf, tracked, gate),
                        ));
                    }
                    match resp.next().await {
                        Some(Ok(c)) => buf.extend_from_slice(&c),
                        // An event cut off by the end of the stream is not dispatched (the SSE
                        // rules); passed on only when no answer awaits inspection.
                        _ if !buf.is_empty() && tracked.is_none() => {
                            let rest = std::mem::take(&mut buf);
                            return Some((Ok(Bytes::from(rest)), (resp, buf, tracked, gate)));
                        }
                        // The stream ended before the answer: the client gets an error for it
                        // (and the call's charge is released as `tracked` drops).
                        _ => {
                            buf.clear();
                            let id = match tracked.take()? {
                                Tracked::Call(id, _, _) | Tracked::List(id, _, _) => id,
                            };
                            let e = gate.upstream_error(
                                &id,
                                codes::UPSTREAM_FAILED,
                                "the MCP server's event stream ended without the answer",
                            );
                            let out = Bytes::from(format!("event: message\ndata: {e}\n\n"));
                            return Some((Ok(out), (resp, buf, tracked, gate)));
                        }
                    }
                }
            },
        );
        let mut r = Response::new(Body::from_stream(stream));
        *r.status_mut() = head.status;
        *r.headers_mut() = back;
        return r;
    }
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            return upstream_failed(
                &p.gate,
                tracked,
                codes::UPSTREAM_FAILED,
                &format!("the MCP server's answer broke off: {e}"),
            )
        }
    };
    // The answer to a call or a list is always inspected (whatever content type it claims, so a
    // result cannot slip past redaction as `text/plain`), and one that is not JSON becomes the
    // client's error instead of bytes it cannot read.
    let body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(mut v) if kind.starts_with("application/json") || tracked.is_some() => {
            if inspect(&p.gate, &mut tracked, &mut v) {
                Bytes::from(v.to_string())
            } else {
                bytes
            }
        }
        Err(e) if tracked.is_some() => {
            let why = format!(
                "the MCP server's answer was not JSON-RPC (HTTP {}, `{kind}`): {e}",
                head.status.as_u16()
            );
            return upstream_failed(&p.gate, tracked, codes::UPSTREAM_FAILED, &why);
        }
        _ => bytes,
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = head.status;
    *r.headers_mut() = back;
    r
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
/// as `NaN`, that a lenient client might still accept): while an answer awaits inspection it is
/// dropped, since it could be that answer; otherwise passed on.
fn unreadable(tracked: &Option<Tracked>, event: &[u8]) -> Vec<u8> {
    if tracked.is_none() {
        return event.to_vec();
    }
    tracing::warn!(
        bytes = event.len(),
        "dropped an event from the MCP server whose data is not JSON, while an answer was due"
    );
    Vec::new()
}

/// One event, with its `data` (a JSON-RPC message) rewritten when the proxy had to change it.
pub(crate) fn rewrite_event(gate: &Gate, tracked: &mut Option<Tracked>, event: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(event) else {
        return unreadable(tracked, event);
    };
    let Some(mut msg) = event_message(text) else {
        if text.lines().any(|l| l.starts_with("data:")) {
            return unreadable(tracked, event);
        }
        return event.to_vec(); // a comment, a keep-alive, an `id:` or `retry:` line
    };
    if !inspect(gate, tracked, &mut msg) {
        return event.to_vec();
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
