//! Open-loop load generator for the decision APIs: sends POSTs at a fixed rate and reports latency
//! measured from each request's *scheduled* send time, so a stalled server cannot hide its stall
//! by slowing the sender (no coordinated omission; wrk, which sends as fast as answers come back,
//! cannot measure p99 at a given rate).
//!
//! usage: loadgen URL BODY_FILE RATE SECONDS [CONNECTIONS]
//! prints one JSON line: {"rate", "sent", "ok", "errors", "p50_us", "p90_us", "p99_us", "p999_us", "max_us"}
//!
//! With `LOADGEN_SLOW_MS=N` it also prints, on stderr, each stall: a run of requests slower than
//! N ms, with the `CLOCK_MONOTONIC` time of its first scheduled send (what `perf` timestamps
//! use), so a stall can be matched against a scheduler trace.

use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: loadgen URL BODY_FILE RATE SECONDS [CONNECTIONS]");
        std::process::exit(2);
    }
    let url = args[1].clone();
    let body: Arc<[u8]> = std::fs::read(&args[2]).expect("body file").into();
    let rate: f64 = args[3].parse().expect("rate");
    let secs: f64 = args[4].parse().expect("seconds");
    let conns: usize = args.get(5).and_then(|c| c.parse().ok()).unwrap_or(64);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conns)
        .build()
        .expect("client");
    let total = (rate * secs) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let sem = Arc::new(tokio::sync::Semaphore::new(conns * 4));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Option<u64>)>();
    // Pacing runs on its own OS thread: tokio's timer has millisecond resolution, which would
    // add up to 1 ms to every latency at these rates; `thread::sleep` is accurate to ~0.1 ms.
    let (go_tx, mut go) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let start = Instant::now() + Duration::from_millis(50);
    std::thread::spawn(move || {
        for i in 0..total {
            let scheduled = start + interval * i as u32;
            let now = Instant::now();
            if scheduled > now {
                std::thread::sleep(scheduled - now);
            }
            if go_tx.send(scheduled).is_err() {
                break;
            }
        }
    });
    while let Some(scheduled) = go.recv().await {
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        let (client, url, body, tx) = (client.clone(), url.clone(), body.clone(), tx.clone());
        tokio::spawn(async move {
            let r = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send()
                .await;
            let ok = match r {
                Ok(resp) if resp.status().is_success() => resp.bytes().await.is_ok(),
                _ => false,
            };
            let _ = tx.send((
                scheduled,
                ok.then(|| scheduled.elapsed().as_micros() as u64),
            ));
            drop(permit);
        });
    }
    drop(tx);
    let mut lat = Vec::with_capacity(total);
    let mut slow = Vec::new();
    let slow_us = std::env::var("LOADGEN_SLOW_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|ms| ms * 1000);
    let mut errors = 0usize;
    while let Some((scheduled, r)) = rx.recv().await {
        match r {
            Some(us) => {
                if slow_us.is_some_and(|s| us > s) {
                    slow.push((scheduled, us));
                }
                lat.push(us)
            }
            None => errors += 1,
        }
    }
    report_stalls(slow);
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let q = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{{\"rate\":{rate},\"achieved\":{:.0},\"sent\":{total},\"ok\":{},\"errors\":{errors},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{}}}",
        lat.len() as f64 / elapsed,
        lat.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        lat.last().copied().unwrap_or(0)
    );
}

/// Prints runs of slow requests (sends less than 10 ms apart) as stalls: start on the monotonic
/// clock, length of the run, the worst latency in it and how many requests it held.
fn report_stalls(mut slow: Vec<(Instant, u64)>) {
    slow.sort_unstable();
    let now = Instant::now();
    // SAFETY: clock_gettime writes into the timespec it is given; CLOCK_MONOTONIC always exists.
    let mono_now = unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
        ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
    };
    let mono = |t: Instant| mono_now - now.duration_since(t).as_secs_f64();
    let mut i = 0;
    while i < slow.len() {
        let (first, mut worst, mut last, mut n) = (slow[i].0, slow[i].1, slow[i].0, 0);
        while i < slow.len() && slow[i].0.duration_since(last) < Duration::from_millis(10) {
            (last, worst, n, i) = (slow[i].0, worst.max(slow[i].1), n + 1, i + 1);
        }
        eprintln!(
            "stall at {:.6}: {} requests over {:.1} ms, worst {:.1} ms",
            mono(first),
            n,
            last.duration_since(first).as_secs_f64() * 1e3,
            worst as f64 / 1e3
        );
    }
}
