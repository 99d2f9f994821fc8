//! Open-loop load generator for the decision APIs: sends POSTs at a fixed rate and reports latency
//! measured from each request's *scheduled* send time, so a stalled server cannot hide its stall
//! by slowing the sender (no coordinated omission; wrk, which sends as fast as answers come back,
//! cannot measure p99 at a given rate).
//!
//! usage: loadgen URL BODY_FILE RATE SECONDS [CONNECTIONS]
//! prints one JSON line: {"rate", "sent", "ok", "errors", "p50_us", "p90_us", "p99_us", "p999_us", "max_us"}

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
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<u64>>();
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
            let _ = tx.send(ok.then(|| scheduled.elapsed().as_micros() as u64));
            drop(permit);
        });
    }
    drop(tx);
    let mut lat = Vec::with_capacity(total);
    let mut errors = 0usize;
    while let Some(r) = rx.recv().await {
        match r {
            Some(us) => lat.push(us),
            None => errors += 1,
        }
    }
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
