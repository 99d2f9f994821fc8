//! A forwarded call's charges until its answer is seen, shared by the HTTP endpoints (one
//! upstream, or aggregated): dropped unanswered (the client went away, the stream broke off, the
//! server failed or did not answer in time) it releases them and tells the server the call is
//! cancelled, so the server can stop the work (an SDK server cancels the tool's task).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::Gate;

/// Sends a `notifications/cancelled` message (given) to the server the call went to.
pub(crate) type Canceller = Box<dyn FnOnce(Value) -> BoxFuture<'static, Result<(), String>> + Send>;

/// A forwarded call's reservation, released unless the call's success is seen (drop = release
/// and cancel upstream).
pub(crate) struct Charge {
    gate: Arc<Gate>,
    reservation: Option<String>,
    /// The call's JSON-RPC id, for the cancellation.
    id: Value,
    /// Until the answer is seen: how to tell the server the call was abandoned, and how long
    /// to try.
    cancel: Option<(Canceller, Duration)>,
}

impl Charge {
    /// Call `id`'s charges (`reservation`), cancelled with `cancel` (tried for up to `timeout`)
    /// if it is abandoned.
    pub(crate) fn new(
        gate: Arc<Gate>,
        id: &Value,
        reservation: Option<String>,
        cancel: Canceller,
        timeout: Duration,
    ) -> Self {
        Charge {
            gate,
            reservation,
            id: id.clone(),
            cancel: Some((cancel, timeout)),
        }
    }

    /// The answer came back: the charges are kept or released as it says, and the result (or
    /// error) is inspected and masked for the call's decision `input`. Says whether `msg`
    /// changed.
    pub(crate) fn answered(mut self, input: &Value, msg: &mut Value) -> bool {
        self.cancel = None; // answered: nothing to cancel
        let reservation = self.reservation.take();
        self.gate.answered(reservation.as_deref(), input, msg)
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.gate.settle(self.reservation.take().as_deref(), false);
        let (Some((cancel, timeout)), Ok(rt)) =
            (self.cancel.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let sent = cancel(super::cancelled_note(&self.id, "the call was abandoned"));
        rt.spawn(async move {
            if let Ok(Err(e)) = tokio::time::timeout(timeout, sent).await {
                tracing::warn!(error = %e, "could not cancel an abandoned call upstream");
            }
        });
    }
}
