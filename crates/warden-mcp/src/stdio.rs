//! The stdio proxy: Warden launches the MCP server as a child process and speaks stdio to the
//! client in its place, so it drops into an existing `mcp.json` (`"command": "warden", "args":
//! ["mcp", "--config", "…"]`).
//!
//! Written as a message pump over newline-delimited JSON-RPC rather than with `rmcp`'s typed
//! server/client pair: the proxy must forward every message verbatim (initialize, capabilities,
//! notifications, progress, server→client requests, any protocol version, methods added later)
//! and only looks inside `tools/call`, `tools/list` and `notifications/cancelled`. A typed SDK
//! would re-encode each message and drop what its version does not model.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::gate::{codes, error, Gate, Session, Verdict};

/// The MCP server to launch, and the proxy's limits.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Executable.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: Option<std::path::PathBuf>,
    /// How long a forwarded `tools/call` may take before the client gets an error.
    pub call_timeout: Duration,
    /// Largest message accepted from either side, in bytes.
    pub max_message_bytes: usize,
}

/// A client request in flight. Every request the client sends is tracked until it is
/// answered, and an answer from the server is relayed only as the answer to one of them: an
/// answer to an id not in flight (a second answer, an id echoed in another JSON type, a late
/// answer to a call that timed out or was cancelled) would reach the client uninspected.
enum Pending {
    /// A call being decided (or held for a person's approval): not yet forwarded, so nothing
    /// may answer it. Notified when the client cancels it, so a held call stops waiting.
    Deciding(Arc<tokio::sync::Notify>),
    /// A forwarded call: its charges are settled and its result inspected when it is answered.
    Call {
        reservation: Option<String>,
        input: Value,
        /// The call's `_meta.progressToken`: progress about it is masked like its result.
        progress: Option<Value>,
        /// The client cancelled it. Its answer is then not relayed (MCP: the side that
        /// cancelled ignores it), but a server may finish the call anyway, so its charges are
        /// kept if the answer says it succeeded (as over HTTP, where the answer still comes
        /// back on the call's stream) and released otherwise, or when no answer comes in time.
        cancelled: bool,
    },
    /// A `tools/list`, `prompts/list` or `resources/list` whose answer is filtered.
    List(&'static str),
    /// Any other request: its answer passes unchanged.
    Other,
}

/// An entry of [`Pump::pending`]: which request it is (ids may be reused once answered), and
/// its state.
struct InFlight {
    seq: u64,
    state: Pending,
}

/// Shared state of one proxied session.
struct Pump {
    gate: Arc<Gate>,
    session: Session,
    pending: Mutex<HashMap<String, InFlight>>,
    /// Numbers the requests in flight.
    seq: AtomicU64,
    to_client: mpsc::UnboundedSender<String>,
    /// Lines for the server; `None` closes its stdin.
    to_server: mpsc::UnboundedSender<Option<String>>,
    timeout: Duration,
}

/// The key of a request id: its exact JSON text, so `12` and `"12"` are different requests.
fn key(id: &Value) -> String {
    id.to_string()
}

/// Reads one line of at most `max` bytes. `Ok(None)` at end of input; `Err(n)` when the line
/// was longer (it is consumed and discarded, `n` bytes).
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> std::io::Result<Option<Result<Vec<u8>, usize>>> {
    let mut line = Vec::new();
    let mut over = 0usize;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(match (line.is_empty(), over) {
                (true, 0) => None,
                (_, 0) => Some(Ok(line)),
                (_, n) => Some(Err(n)),
            });
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if over > 0 || line.len() + chunk.len() > max {
            over += line.len() + chunk.len();
            line.clear();
        } else {
            line.extend_from_slice(chunk);
        }
        let used = done.unwrap_or(buf.len());
        r.consume(used);
        if done.is_some() {
            return Ok(Some(if over > 0 { Err(over) } else { Ok(line) }));
        }
    }
}

impl Pump {
    fn reply(&self, v: Value) {
        let _ = self.to_client.send(v.to_string());
    }

    /// One JSON value from the client: a message when it is an object, else refused.
    fn on_client_value(self: &Arc<Self>, msg: Value) {
        if msg.is_object() {
            return self.on_client_message(msg);
        }
        self.reply(error(
            &Value::Null,
            codes::INVALID_REQUEST,
            "a JSON-RPC message must be an object",
            None,
        ));
    }

    /// One message from the client.
    fn on_client_message(self: &Arc<Self>, msg: Value) {
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let method = method.as_str();
        let id = msg.get("id").cloned();
        let params = msg.get("params").cloned().unwrap_or(Value::Null);
        if msg.get("method").is_none() {
            // The client's answer to a request of the server's (sampling, elicitation, roots).
            let _ = self.to_server.send(Some(msg.to_string()));
            return;
        }
        let Some(id) = id else {
            return self.on_client_notification(method, msg);
        };
        let (seq, stop) = match self.track(&id) {
            Ok(t) => t,
            Err(why) => return self.reply(error(&id, codes::INVALID_REQUEST, why, None)),
        };
        if let Some(call) = self.gate.as_call(&self.session, method, &params) {
            let pump = self.clone();
            let method = method.to_string();
            tokio::spawn(async move { pump.call(id, seq, stop, msg, &method, call).await });
            return;
        }
        let state = match crate::gate::listed(method) {
            Some(m) => Pending::List(m),
            None => Pending::Other,
        };
        // No timeout: `initialize` may wait on a server that is still being downloaded or
        // started, and other requests can legitimately run long; only calls have one.
        self.set_state_and_send(&id, seq, state, msg.to_string());
    }

    /// A notification from the client (a message with a method and no id).
    fn on_client_notification(self: &Arc<Self>, method: &str, msg: Value) {
        if crate::gate::decided_method(method) {
            tracing::warn!(
                method,
                "dropped a request without an id: Warden forwards only calls it decided"
            );
            return;
        }
        if method == "notifications/cancelled" {
            if let Some(rid) = msg.pointer("/params/requestId") {
                self.cancelled(rid);
            }
        }
        let _ = self.to_server.send(Some(msg.to_string()));
    }

    /// The client cancelled request `rid`. A forwarded call waits for its answer (or its
    /// timeout) to settle its charges, see [`Pending::Call`]; anything else is forgotten
    /// (a call still being decided is then never sent). No answer to it reaches the client.
    fn cancelled(&self, rid: &Value) {
        let Ok(mut p) = self.pending.lock() else {
            return;
        };
        let k = key(rid);
        let Some(entry) = p.get_mut(&k) else { return };
        match &mut entry.state {
            Pending::Call { cancelled, .. } => *cancelled = true,
            Pending::Deciding(stop) => {
                // A call held for approval stops waiting: it will not be made, and the
                // approval is not used up for it.
                stop.notify_one();
                p.remove(&k);
            }
            _ => {
                p.remove(&k);
            }
        }
    }

    /// Starts tracking a request: its id must be a string or an integer (MCP) and not used by
    /// another request in flight. Returns the request's number and what tells a call being
    /// decided that it was cancelled.
    fn track(&self, id: &Value) -> Result<(u64, Arc<tokio::sync::Notify>), String> {
        if let Some(why) = crate::gate::bad_request_id(id) {
            return Err(why);
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut p = self
            .pending
            .lock()
            .map_err(|_| "the proxy's request table is unavailable".to_string())?;
        match p.entry(key(id)) {
            std::collections::hash_map::Entry::Occupied(_) => Err(format!(
                "request id {id} is already used by a request in flight; MCP request ids are \
                 unique within a session"
            )),
            std::collections::hash_map::Entry::Vacant(v) => {
                let stop = Arc::new(tokio::sync::Notify::new());
                v.insert(InFlight {
                    seq,
                    state: Pending::Deciding(stop.clone()),
                });
                Ok((seq, stop))
            }
        }
    }

    /// Sets the state of request `seq` if it is still in flight (not cancelled), and then
    /// sends `msg` to the server; says whether. Both happen under the request table's lock,
    /// which a cancellation takes before it is passed on: the server never gets a call's
    /// cancellation before the call.
    fn set_state_and_send(&self, id: &Value, seq: u64, state: Pending, msg: String) -> bool {
        let mut p = match self.pending.lock() {
            Ok(p) => p,
            Err(_) => return false,
        };
        match p.get_mut(&key(id)) {
            Some(e) if e.seq == seq => {
                e.state = state;
                let _ = self.to_server.send(Some(msg));
                true
            }
            _ => false,
        }
    }

    /// Forgets request `seq` if it is still in flight; returns its state.
    fn take(&self, id: &Value, seq: u64) -> Option<Pending> {
        let mut p = self.pending.lock().ok()?;
        let k = key(id);
        if p.get(&k).is_some_and(|e| e.seq == seq) {
            return p.remove(&k).map(|e| e.state);
        }
        None
    }

    /// Decides a request that is a call (`call`: its tool-call form, see [`Gate::as_call`]).
    async fn call(
        self: Arc<Self>,
        id: Value,
        seq: u64,
        stop: Arc<tokio::sync::Notify>,
        mut msg: Value,
        method: &str,
        call: Value,
    ) {
        let original = msg.get("params").cloned().unwrap_or(Value::Null);
        let params = call;
        // Waiting mode holds an approval_needed call here, telling the client it is waiting;
        // a cancellation from the client ends the wait.
        let pump = self.clone();
        let Some(verdict) = self
            .gate
            .call_waiting_until(
                &self.session,
                &id,
                &params,
                |n| pump.reply(n),
                stop.notified(),
            )
            .await
        else {
            return;
        };
        match verdict {
            Verdict::Reply(r) => {
                // Not answered when it was cancelled (or the server went away) meanwhile.
                if self.take(&id, seq).is_some() {
                    self.reply(r)
                }
            }
            Verdict::Forward {
                params,
                reservation,
                input,
                record,
            } => {
                // Committed before the call goes out: the server's answer is relayed by the
                // reader task as soon as it arrives, so it could not wait for the record.
                record.commit().await;
                msg["params"] = Gate::forwarded(method, &original, &params);
                let reserved = reservation.clone();
                let progress = msg.pointer("/params/_meta/progressToken").cloned();
                let call = Pending::Call {
                    reservation,
                    input,
                    progress,
                    cancelled: false,
                };
                if !self.set_state_and_send(&id, seq, call, msg.to_string()) {
                    // Cancelled while it was decided: never sent.
                    self.gate.settle(reserved.as_deref(), false);
                    return;
                }
                self.expire_after(id, seq);
            }
        }
    }

    /// Answers request `seq` with a timeout error if the server has not answered it by then.
    fn expire_after(self: &Arc<Self>, id: Value, seq: u64) {
        let pump = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(pump.timeout).await;
            pump.expire(&id, seq);
        });
    }

    fn expire(&self, id: &Value, seq: u64) {
        let Some(state) = self.take(id, seq) else {
            return;
        };
        if let Pending::Call {
            reservation,
            cancelled,
            ..
        } = state
        {
            self.gate.settle(reservation.as_deref(), false);
            if cancelled {
                return; // nothing to tell the client
            }
        }
        self.reply(self.gate.upstream_error(
            id,
            codes::UPSTREAM_TIMEOUT,
            format!(
                "the MCP server `{}` did not answer in time",
                self.gate.server
            ),
        ));
    }

    /// One message from the server. A batch is taken apart and each message handled alone.
    fn on_server_message(&self, mut msg: Value) {
        if let Value::Array(batch) = msg {
            return batch.into_iter().for_each(|m| self.on_server_message(m));
        }
        if !msg.is_object() {
            tracing::warn!("dropped a message from the MCP server that is not a JSON object");
            return;
        }
        if msg.get("method").and_then(Value::as_str) == Some("notifications/progress") {
            self.mask_progress(&mut msg);
        }
        if msg.get("method").is_none() {
            // An answer: relayed only as the answer to a request in flight.
            let k = msg.get("id").map(key).unwrap_or_default();
            let state = self.pending.lock().ok().and_then(|mut p| match p.get(&k) {
                Some(e) if !matches!(e.state, Pending::Deciding(_)) => {
                    p.remove(&k).map(|e| e.state)
                }
                _ => None,
            });
            match state {
                Some(Pending::Call {
                    reservation,
                    cancelled: true,
                    ..
                }) => {
                    // Settled as the answer says, but not relayed.
                    self.gate
                        .settle(reservation.as_deref(), crate::gate::succeeded(&msg));
                    return;
                }
                Some(Pending::Call {
                    reservation, input, ..
                }) => {
                    self.gate.answered(reservation.as_deref(), &input, &mut msg);
                }
                Some(Pending::List(method)) => {
                    if let Some(r) = msg.get_mut("result") {
                        self.gate.filter_list(method, &self.session, r);
                    }
                }
                Some(Pending::Other) => {}
                Some(Pending::Deciding(_)) | None => {
                    tracing::warn!(
                        id = %k,
                        "dropped an answer from the MCP server to no request in flight"
                    );
                    return;
                }
            }
        }
        self.reply(msg);
    }

    /// Masks a progress notification about a call in flight (by its progress token) as the
    /// call's result would be.
    fn mask_progress(&self, note: &mut Value) {
        let Some(token) = note.pointer("/params/progressToken").cloned() else {
            return;
        };
        // Matched as text, so a token echoed in another JSON type (`"7"` for 7) still matches;
        // a cancelled call the server keeps working on is still masked.
        let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
        let token = text(&token);
        let input = self.pending.lock().ok().and_then(|p| {
            p.values().find_map(|e| match &e.state {
                Pending::Call {
                    input,
                    progress: Some(t),
                    ..
                } if text(t) == token => Some(input.clone()),
                _ => None,
            })
        });
        if let Some(input) = input {
            self.gate.on_progress(&input, note);
        }
    }

    /// Forgets every request in flight and releases the charges of the calls among them;
    /// returns the ids (as keys) of those the client still waits on.
    fn release_all(&self) -> Vec<String> {
        let pending: Vec<(String, InFlight)> = self
            .pending
            .lock()
            .map(|mut p| p.drain().collect())
            .unwrap_or_default();
        pending
            .into_iter()
            .filter_map(|(k, p)| match p.state {
                Pending::Call {
                    reservation,
                    cancelled,
                    ..
                } => {
                    self.gate.settle(reservation.as_deref(), false);
                    // A cancelled call's client expects no answer.
                    (!cancelled).then_some(k)
                }
                Pending::Deciding(stop) => {
                    stop.notify_one(); // a held call stops waiting
                    Some(k)
                }
                _ => Some(k),
            })
            .collect()
    }

    /// The server is gone: every call in flight gets an error and releases its charges.
    fn upstream_gone(&self, why: &str) {
        for k in self.release_all() {
            let id: Value = serde_json::from_str(&k).unwrap_or(Value::Null);
            self.reply(self.gate.upstream_error(&id, codes::UPSTREAM_FAILED, why));
        }
    }
}

/// Runs the proxy between `client_in`/`client_out` and a freshly launched `upstream` until the
/// client closes its input or the server exits. Returns the server's exit code.
pub async fn run<I, O>(
    gate: Arc<Gate>,
    upstream: Upstream,
    client_in: I,
    client_out: O,
) -> std::io::Result<i32>
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin + Send + 'static,
{
    let mut cmd = tokio::process::Command::new(&upstream.command);
    cmd.args(&upstream.args)
        .envs(upstream.env.iter().cloned())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if let Some(d) = &upstream.cwd {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().map_err(|e| {
        std::io::Error::other(format!(
            "cannot start the MCP server `{}`: {e}",
            upstream.command
        ))
    })?;
    let (Some(mut child_in), Some(child_out)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(std::io::Error::other(
            "the MCP server's stdio is not available",
        ));
    };
    let (to_client, mut client_rx) = mpsc::unbounded_channel::<String>();
    let (to_server, mut server_rx) = mpsc::unbounded_channel::<Option<String>>();
    let session = Session::new(&gate.tenant, &gate.agent);
    let pump = Arc::new(Pump {
        gate,
        session,
        pending: Mutex::new(HashMap::new()),
        seq: AtomicU64::new(0),
        to_client,
        to_server,
        timeout: upstream.call_timeout,
    });

    // Writers: one task per direction keeps each message's line intact.
    let client_writer = tokio::spawn(async move {
        let mut out = client_out;
        while let Some(line) = client_rx.recv().await {
            if out.write_all(line.as_bytes()).await.is_err()
                || out.write_all(b"\n").await.is_err()
                || out.flush().await.is_err()
            {
                break;
            }
        }
    });
    let server_writer = tokio::spawn(async move {
        while let Some(Some(line)) = server_rx.recv().await {
            if child_in.write_all(line.as_bytes()).await.is_err()
                || child_in.write_all(b"\n").await.is_err()
                || child_in.flush().await.is_err()
            {
                break;
            }
        }
        // Dropping child_in closes the server's stdin: it exits as MCP's stdio shutdown says.
    });

    // Server → client.
    let max = upstream.max_message_bytes;
    let p = pump.clone();
    let server_reader = tokio::spawn(async move {
        let mut r = BufReader::new(child_out);
        loop {
            match read_line(&mut r, max).await {
                Ok(Some(Ok(line))) => match serde_json::from_slice::<Value>(&line) {
                    Ok(msg) => p.on_server_message(msg),
                    Err(e) => {
                        tracing::warn!(error = %e, "dropped a malformed message from the MCP server")
                    }
                },
                Ok(Some(Err(n))) => {
                    tracing::warn!(
                        bytes = n,
                        "dropped an oversized message from the MCP server"
                    )
                }
                Ok(None) | Err(_) => break,
            }
        }
        p.upstream_gone(&format!("the MCP server `{}` exited", p.gate.server));
    });

    // Client → server.
    let p = pump.clone();
    let client_reader = tokio::spawn(async move {
        let mut r = BufReader::new(client_in);
        loop {
            match read_line(&mut r, max).await {
                Ok(Some(Ok(line))) if line.iter().all(u8::is_ascii_whitespace) => {}
                Ok(Some(Ok(line))) => match serde_json::from_slice::<Value>(&line) {
                    // A batch's messages are taken one by one; one that is not an object (a
                    // nested batch included) is refused, never passed on undecided.
                    Ok(Value::Array(batch)) => batch.into_iter().for_each(|m| p.on_client_value(m)),
                    Ok(msg) => p.on_client_value(msg),
                    Err(e) => p.reply(error(
                        &Value::Null,
                        codes::PARSE_ERROR,
                        format!("not JSON: {e}"),
                        None,
                    )),
                },
                Ok(Some(Err(n))) => p.reply(error(
                    &Value::Null,
                    codes::INVALID_REQUEST,
                    format!("message of {n} bytes is over the limit of {max}"),
                    None,
                )),
                Ok(None) | Err(_) => break,
            }
        }
    });

    tokio::select! {
        _ = client_reader => {
            // The client is done (or gone): calls it left in flight release their charges,
            // then the server's stdin is closed and it gets a moment to exit.
            pump.release_all();
            let _ = pump.to_server.send(None);
            let _ = tokio::time::timeout(Duration::from_secs(5), server_writer).await;
        }
        _ = server_reader => {}
    }
    let status = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
        Ok(Ok(s)) => s.code().unwrap_or(1),
        _ => {
            let _ = child.kill().await;
            1
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), client_writer).await;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::read_line;

    #[tokio::test]
    async fn lines_over_the_limit_are_discarded_whole() {
        let data = b"{\"a\":1}\n0123456789abcdef\n{}\n".to_vec();
        let mut r = tokio::io::BufReader::with_capacity(4, &data[..]);
        assert_eq!(
            read_line(&mut r, 10).await.unwrap(),
            Some(Ok(b"{\"a\":1}".to_vec()))
        );
        assert_eq!(read_line(&mut r, 10).await.unwrap(), Some(Err(16)));
        assert_eq!(
            read_line(&mut r, 10).await.unwrap(),
            Some(Ok(b"{}".to_vec()))
        );
        assert_eq!(read_line(&mut r, 10).await.unwrap(), None);
    }
}
