//! Cooperative pacing of background threads: a bundle loader (or the thread that frees a
//! replaced policy set) never holds a core for more than about [`RUN`] at a time.
//!
//! Why the scheduler alone does not do it: Linux's EEVDF scheduler owes a task that waited
//! while runnable ("lag") and lets it run that debt off before a newly woken task is eligible,
//! whatever its niceness; the debt is capped at about a scheduler tick (4 ms here). A loader at
//! nice 19 that had waited on a busy core, or moved to another one, therefore ran 3.6–4 ms
//! without a break while a decision's thread (or the caller's) sat runnable behind it: `perf
//! sched timehist` during `bench/reload.sh` showed request and load-generator threads with 1.5–4
//! ms scheduling delays, each behind a `warden-load` run of the same length, dozens of times per
//! second of reloading. A short nap every [`RUN`] of work takes the loader off the run queue, so
//! whatever waits behind it runs. Pause points sit where the work is: the JSON reader
//! (`warden_engine::share::Sharer::with_pause_point`), decompression
//! (`warden_bundle::read_archive_with`), signature verification's canonical JSON and hashing
//! (`warden_bundle::verify_with`) and freeing (`warden_engine::share::drop_in_pieces`).
//!
//! The price is wall time: a nap asked for 50 µs lasts ~0.2 ms on this VM, so a load takes about
//! twice its CPU time (the 10,000-agent bundle: ~0.3 s of CPU unsigned, `examples/loadtime.rs`;
//! ~0.2 s more to verify its signature).

use std::cell::Cell;
use std::time::{Duration, Instant};

/// Longest run of background work between two naps.
pub const RUN: Duration = Duration::from_micros(200);

/// How long a nap lasts (asked for: timers oversleep): about one request's work (~60–100 µs of
/// CPU), so a request waiting behind the loader runs before the loader can preempt it again.
const NAP: Duration = Duration::from_micros(50);

thread_local! {
    /// When the current run of work began, on threads that pace themselves (`None` elsewhere).
    static RUN_START: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Naps taken on this thread (read by tests).
    static NAPS: Cell<u64> = const { Cell::new(0) };
}

/// Makes the calling thread pace itself at every [`point`] from now on, and asks the kernel
/// for timer slack no larger than the nap (the default 50 µs slack would double it).
pub fn enable() {
    RUN_START.set(Some(Instant::now()));
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer (ns) and affects only the calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 10_000u64);
    }
}

/// Stops pacing on the calling thread.
pub fn disable() {
    RUN_START.set(None);
}

/// A pause point: on a pacing thread whose current run of work has lasted [`RUN`], naps for
/// [`NAP`]; elsewhere (request threads, the CLI, tests) does nothing but read a thread-local.
pub fn point() {
    let Some(start) = RUN_START.get() else {
        return;
    };
    if start.elapsed() >= RUN {
        std::thread::sleep(NAP);
        NAPS.set(NAPS.get() + 1);
        RUN_START.set(Some(Instant::now()));
    }
}

/// Naps taken so far on the calling thread.
pub fn naps() -> u64 {
    NAPS.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(d: Duration) {
        let t = Instant::now();
        while t.elapsed() < d {
            point();
        }
    }

    #[test]
    fn only_threads_that_enabled_pacing_nap() {
        busy(Duration::from_millis(5));
        assert_eq!(naps(), 0, "a thread that did not enable pacing never naps");
        let taken = std::thread::spawn(|| {
            enable();
            busy(Duration::from_millis(5));
            naps()
        })
        .join()
        .unwrap();
        // 5 ms of work in runs of 200 µs: at most 25 naps, fewer when naps oversleep.
        assert!((1..=25).contains(&taken), "{taken} naps");
        let after_disable = std::thread::spawn(|| {
            enable();
            disable();
            busy(Duration::from_millis(2));
            naps()
        })
        .join()
        .unwrap();
        assert_eq!(after_disable, 0);
    }
}
