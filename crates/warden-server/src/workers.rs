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

use std::net::TcpListener;
use std::sync::Arc;

/// How many workers [`serve`] starts: one per core the process may use.
pub fn count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Serves the routers `app` makes (one per worker) on `listener` with [`count`] worker threads
/// until one of them stops; returns that worker's error, if it had one.
pub async fn serve(
    listener: TcpListener,
    app: impl Fn() -> axum::Router + Send + Sync + 'static,
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
