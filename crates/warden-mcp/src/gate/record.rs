//! The audit record of a forwarded fail-open call, committed while the call is upstream.

use warden_server::audit::Auditor;

/// The audit record of a forwarded call. A call whose decision fails closed (every write, and
/// reads unless the tenant declares `fail_mode: { read: open }`) is recorded before it is
/// forwarded: it is never made unrecorded. A fail-open read would be forwarded even if its record
/// could not be written, so its record is committed while the call is upstream instead, and the
/// transport answers the client only once both are done: the client still never sees an answer
/// whose decision is not on disk, and the commit's latency hides behind the upstream's.
pub struct Record(pub(super) Option<Box<(Auditor, warden_audit::Entry)>>);

impl Record {
    /// Nothing left to commit.
    pub fn done() -> Self {
        Record(None)
    }

    /// Commits the record now, if it is still to be written. A failure is logged (only
    /// fail-open calls are recorded this way).
    pub async fn commit(mut self) {
        if let Some(pending) = self.0.take() {
            // Cancellation-safe: the first poll commits or queues the record.
            Self::write(*pending).await;
        }
    }

    /// [`Record::commit`] while the forwarded request is on its way: it first yields once, so
    /// that the connection task (on this thread, on a worker's single-threaded runtime) writes
    /// the request before the commit takes the thread.
    pub async fn commit_beside_send(self) {
        if self.0.is_some() {
            // Dropped here (the client went away), the record is still written: see `Drop`.
            tokio::task::yield_now().await;
        }
        self.commit().await;
    }

    async fn write((audit, entry): (Auditor, warden_audit::Entry)) {
        if let Err(e) = audit.record(entry).await {
            tracing::error!(
                error = e,
                "a fail-open MCP call's audit record could not be written"
            );
        }
    }
}

impl Drop for Record {
    /// A record dropped before it was committed (its call abandoned while it was upstream) is
    /// still written: the call may have reached the server.
    fn drop(&mut self) {
        let Some(pending) = self.0.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(Self::write(*pending));
            }
            Err(_) => tracing::error!("an MCP call's audit record was dropped outside a runtime"),
        }
    }
}
