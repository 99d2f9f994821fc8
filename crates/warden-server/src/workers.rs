//! Serving HTTP on one worker thread per core (Envoy's worker model), for the MCP gateway's
//! HTTP endpoints.
//!
//! Each worker runs a single-threaded tokio runtime with a router of its own, and all of them
//! accept from the same listening socket. A connection stays on the worker that accepted it, so
//! a proxied call's path (client connection, decision, upstream connection, answer) crosses no
//! thread: two to three context switches per call against three to four on one multi-threaded
//! runtime, and 15-25% more calls/s (docs/mcp.md). What the workers share (the decision
//! service, audit log, limits, sessions) lives behind `Arc`s in the routers' state. The price:
//! connections are not rebalanced, so a few busy ones can load one core while another idles,
//! which is why `warden serve` keeps one multi-threaded runtime.
//!
//! **Busy polling** (opt-in, `busy_poll_us`): a worker that has just sent a request upstream
//! ([`kick`]) keeps polling its sockets, without sleeping, for up to that long instead of parking
//! the thread. On a virtual machine, waking a parked thread on an idle vCPU costs tens of
//! microseconds (the hypervisor has to wake the vCPU), paid once per proxied call when the
//! answer comes back; polling trades CPU for that latency, as a kernel's `busy_poll` or
//! Seastar's poll mode do. It is done with tokio alone: a task that yields in a loop makes the
//! runtime poll its event queue with a zero timeout between turns.

use std::cell::RefCell;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// How many workers [`serve`] starts: one per core the process may use.
pub fn count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Serves the routers `app` makes (one per worker) on `listener` with [`count`] worker threads
/// until one of them stops; returns that worker's error, if it had one. `busy_poll` (zero: off)
/// is how long a worker polls instead of sleeping after a [`kick`].
pub async fn serve(
    listener: TcpListener,
    app: impl Fn() -> axum::Router + Send + Sync + 'static,
    busy_poll: Duration,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let app = Arc::new(app);
    let (done, mut finished) = tokio::sync::mpsc::unbounded_channel::<std::io::Result<()>>();
    for i in 0..count() {
        let socket = listener.try_clone()?;
        let (app, done) = (app.clone(), done.clone());
        let worker = move || {
            let served = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .and_then(|rt| {
                    rt.block_on(async move {
                        if !busy_poll.is_zero() {
                            let spin = Arc::new(Spin::new(busy_poll));
                            SPIN.with(|s| *s.borrow_mut() = Some(spin.clone()));
                            tokio::spawn(spin.run());
                        }
                        let socket = tokio::net::TcpListener::from_std(socket)?;
                        axum::serve(socket, app()).await
                    })
                });
            let _ = done.send(served);
        };
        std::thread::Builder::new()
            .name(format!("warden-http-{i}"))
            .spawn(worker)?;
    }
    drop(done);
    finished.recv().await.unwrap_or(Ok(()))
}

thread_local! {
    /// This worker's spinner, when busy polling is on.
    static SPIN: RefCell<Option<Arc<Spin>>> = const { RefCell::new(None) };
}

/// Tells this thread's worker that an answer is due soon: with busy polling on, it polls for it
/// (for up to the budget) instead of sleeping. Does nothing elsewhere.
pub fn kick() {
    SPIN.with(|s| {
        if let Some(spin) = &*s.borrow() {
            spin.kick();
        }
    });
}

/// A worker's spinner: a task that, while its deadline lies ahead, yields in a loop.
struct Spin {
    /// How long after a kick to poll.
    budget: Duration,
    /// Nanoseconds after `epoch` until which to poll.
    deadline: AtomicU64,
    epoch: Instant,
    kicked: Notify,
}

impl Spin {
    fn new(budget: Duration) -> Self {
        Spin {
            budget,
            deadline: AtomicU64::new(0),
            epoch: Instant::now(),
            kicked: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Polls until `budget` from now (a deadline never moves back), waking the spinner.
    fn kick(&self) {
        let d = self.now() + self.budget.as_nanos() as u64;
        self.deadline.fetch_max(d, Ordering::Relaxed);
        self.kicked.notify_one();
    }

    async fn run(self: Arc<Self>) {
        loop {
            self.kicked.notified().await;
            // Each yield hands the turn back to the runtime, which polls its sockets with a zero
            // timeout before running this task again.
            while self.now() < self.deadline.load(Ordering::Relaxed) {
                tokio::task::yield_now().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kick sets a deadline that only moves forward, and wakes the spinner.
    #[tokio::test]
    async fn a_kick_sets_the_deadline_and_wakes_the_spinner() {
        let long = Arc::new(Spin::new(Duration::from_secs(3600)));
        assert_eq!(long.deadline.load(Ordering::Relaxed), 0);
        long.kick();
        let deadline = long.deadline.load(Ordering::Relaxed);
        assert!(deadline >= 3_600_000_000_000);
        // A later kick with a shorter reach (a deadline already further out) leaves it there.
        long.deadline.fetch_add(1_000_000_000, Ordering::Relaxed);
        long.kick();
        assert_eq!(
            long.deadline.load(Ordering::Relaxed),
            deadline + 1_000_000_000,
            "never moved back"
        );
        // The permit left by `kick` lets the spinner through at once.
        tokio::time::timeout(Duration::from_secs(5), long.kicked.notified())
            .await
            .expect("the kick wakes the spinner");
    }

    /// Without busy polling (no spinner on this thread) a kick does nothing.
    #[test]
    fn a_kick_without_a_spinner_does_nothing() {
        kick();
        assert!(SPIN.with(|s| s.borrow().is_none()));
    }
}
