//! Recording every decision before it is returned: a writer thread commits whatever has queued up
//! in one transaction (group commit), then releases the waiting requests. Without an fsync per
//! commit, a record arriving while nothing else is being written is committed on the caller's
//! thread instead (cheaper than two thread hand-offs). A separate thread checkpoints the WAL, so
//! commits carry no full checkpoint; only the short catch-up that lets the WAL restart (see
//! [`wal_thread`]).
//! A decision whose record could not be written is not returned as if nothing happened: the
//! caller's fail mode decides (closed: 503).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use warden_audit::{AuditLog, CanonicalEntry, Entry};

/// Audit settings.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// The SQLite database.
    pub path: PathBuf,
    /// Ed25519 private key (PKCS#8 PEM) that signs checkpoints.
    pub key_pem: Option<String>,
    /// Write a signed checkpoint after this many records…
    pub checkpoint_every: u64,
    /// …or this much time, whichever comes first.
    pub checkpoint_interval: Duration,
    /// JSON pointers into the input whose values are replaced before recording.
    pub mask: Vec<String>,
    /// Fsync every commit (survives power loss); otherwise survives process crashes only.
    pub fsync_each_commit: bool,
}

type Job = (CanonicalEntry, oneshot::Sender<Result<u64, String>>);

/// The log and its checkpoint bookkeeping, shared by the writer thread and the inline path.
struct Shared {
    log: AuditLog,
    /// Set by the WAL thread: after the next commit, checkpoint what it left behind, so the
    /// following commit starts the WAL over (see [`wal_thread`]).
    catch_up: Arc<AtomicBool>,
    since_checkpoint: u64,
    last_checkpoint: Instant,
    every: u64,
    interval: Duration,
}

impl Shared {
    /// Appends `entries` in one transaction; returns the last sequence number.
    fn append(&mut self, entries: &[CanonicalEntry]) -> Result<u64, String> {
        let last = self
            .log
            .append_canonical(entries)
            .map_err(|e| e.to_string());
        match &last {
            Ok(_) => {
                if self.catch_up.swap(false, Ordering::AcqRel) {
                    if let Err(e) = self.log.checkpoint_wal() {
                        tracing::debug!(error = %e, "WAL catch-up checkpoint deferred");
                    }
                }
                self.since_checkpoint += entries.len() as u64;
                if self.since_checkpoint >= self.every
                    || self.last_checkpoint.elapsed() >= self.interval
                {
                    self.sign();
                }
            }
            Err(e) => tracing::error!(error = %e, "audit write failed"),
        }
        last
    }

    /// Signs a checkpoint of the head (nothing without a key).
    fn sign(&mut self) {
        let now = warden_engine::now_rfc3339();
        if let Err(e) = self.log.checkpoint(&now) {
            tracing::error!(error = %e, "audit checkpoint failed");
        }
        self.since_checkpoint = 0;
        self.last_checkpoint = Instant::now();
    }

    /// Signs the head when records came after the last checkpoint and a whole interval has
    /// passed without an append signing it: [`Shared::append`] checkpoints only when a record
    /// arrives, so without this the last records of a log that went quiet were never signed.
    fn sign_if_idle(&mut self) {
        if self.since_checkpoint > 0 && self.last_checkpoint.elapsed() >= self.interval {
            self.sign();
        }
    }
}

impl Auditor {
    /// Signs a checkpoint of the head now if records came after the last one (nothing without a
    /// key): a server stopping cleanly leaves no unsigned tail behind.
    pub fn sign_head(&self) {
        if let Ok(mut sh) = self.shared.lock() {
            if sh.since_checkpoint > 0 {
                sh.sign();
            }
        }
    }
}

/// Handle to the writer thread.
#[derive(Clone)]
pub struct Auditor {
    tx: mpsc::SyncSender<Job>,
    mask: Vec<String>,
    shared: Arc<Mutex<Shared>>,
    /// Records waiting for the writer thread.
    queued: Arc<AtomicUsize>,
    /// Whether a record may be committed on the caller's thread when nothing else is being
    /// written (only without an fsync per commit: a commit is then tens of microseconds).
    inline: bool,
    /// When the last record arrived, in nanoseconds after `epoch`.
    last_arrival: Arc<AtomicU64>,
    epoch: Instant,
}

/// The most records one transaction takes.
const MAX_BATCH: usize = 1024;
/// A batch at least this big means load: the next batch lingers to gather more.
const LINGER_FROM: usize = 4;
/// How long a batch under load waits for more records.
const LINGER: Duration = Duration::from_micros(100);
/// Records arriving closer together than this go to the writer thread's group commit rather
/// than committing on the caller's thread (bench/load.sh: at saturation ~+5% decisions/s).
const INLINE_GAP: Duration = Duration::from_micros(100);
/// How often the WAL thread copies the WAL into the database and flushes both. Often enough that
/// each round has little to copy and flush (`examples/loadgen` at 5,000 decisions/s against a
/// fresh server, `synchronous=NORMAL`, p99 over 3–4 runs each: every 10 ms 0.59–0.71 ms; 20 ms
/// 0.8–1.0 ms; 100 ms 1.4–2.0 ms). An idle log's rounds flush nothing.
const WAL_EVERY: Duration = Duration::from_millis(10);
/// A WAL at least this long (16 MiB in the 16 KiB frames of a log made since 2026-12-05; 4 MiB
/// in an older log's 4 KiB frames) is started over: the WAL thread checkpoints
/// once more at once (copying only what landed during its last checkpoint), then the next commit
/// checkpoints the few frames left and the commit after it writes from the WAL's start.
/// That catch-up holds up the commits behind it for two fsyncs; because the WAL thread has
/// already flushed everything it copied, they flush only the last few frames (~0.3–0.9 ms at
/// 5,000 decisions/s; ~2 ms before the WAL thread flushed the database itself, p99 2.0–2.5 ms).
const WAL_RESTART_FRAMES: i64 = 1024;
/// A catch-up is skipped while more than this many frames could not be copied (a reader, such
/// as `warden audit query`, still uses them): it could not start the WAL over anyway.
const WAL_CATCH_UP_FRAMES: i64 = 128;
/// The WAL thread's niceness: its copying and fsyncs yield the CPU to decisions.
const WAL_NICE: i32 = 10;

/// Copies the WAL into the database on its own connection, so that no commit (which decisions
/// wait for) carries a full checkpoint and its fsyncs. A passive checkpoint never completes
/// under steady load (commits keep landing while it copies), so SQLite would never start the
/// WAL over and it would grow without end; once it is long, the next commit is asked to
/// checkpoint the few frames left (`catch_up`), after which the WAL restarts.
///
/// Each round it also signs the head of a log that went idle with unsigned records
/// ([`Shared::sign_if_idle`]), so every record is signed within about one checkpoint interval.
/// It only tries the lock: a commit in progress means the log is not idle, and the appends never
/// wait for this thread. (Signing on shutdown instead would miss every crash and SIGKILL.)
fn wal_thread(
    mut ckpt: warden_audit::WalCheckpointer,
    in_use: std::sync::Weak<Mutex<Shared>>,
    catch_up: Arc<AtomicBool>,
) {
    crate::lower_priority(WAL_NICE);
    while in_use.strong_count() > 0 {
        std::thread::sleep(WAL_EVERY);
        if let Some(shared) = in_use.upgrade() {
            if let Ok(mut sh) = shared.try_lock() {
                sh.sign_if_idle();
            }
        }
        let restart = match ckpt.run() {
            Ok((frames, _)) => frames >= WAL_RESTART_FRAMES,
            Err(e) => {
                tracing::debug!(error = %e, "WAL checkpoint deferred");
                false
            }
        };
        if !restart {
            continue;
        }
        match ckpt.run() {
            Ok((frames, copied)) if frames - copied <= WAL_CATCH_UP_FRAMES => {
                catch_up.store(true, Ordering::Release);
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "WAL checkpoint deferred"),
        }
    }
}

impl Auditor {
    /// Opens the log and starts the writer thread.
    pub fn start(cfg: AuditConfig) -> Result<Auditor, String> {
        let log = AuditLog::open_with(&cfg.path, cfg.key_pem.as_deref(), cfg.fsync_each_commit)
            .map_err(|e| e.to_string())?;
        // WAL checkpoints run on their own thread and connection, never inside a commit.
        log.disable_autocheckpoint().map_err(|e| e.to_string())?;
        let ckpt = warden_audit::WalCheckpointer::open(&cfg.path).map_err(|e| e.to_string())?;
        let catch_up = Arc::new(AtomicBool::new(false));
        // Records a previous run left unsigned (killed before it signed them) are signed by the
        // WAL thread's first round, and the first append signs at once: a log with records
        // always has a signed checkpoint, which `warden audit verify --public-key` requires.
        let unsigned = log.seq() - log.signed_through().map_err(|e| e.to_string())?;
        let long_ago = Instant::now()
            .checked_sub(cfg.checkpoint_interval)
            .unwrap_or_else(Instant::now);
        let shared = Arc::new(Mutex::new(Shared {
            log,
            catch_up: catch_up.clone(),
            since_checkpoint: unsigned,
            last_checkpoint: long_ago,
            every: cfg.checkpoint_every,
            interval: cfg.checkpoint_interval,
        }));
        // Runs while the log is in use (the writer thread and every Auditor hold it).
        let in_use = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("warden-audit-wal".into())
            .spawn(move || wal_thread(ckpt, in_use, catch_up))
            .map_err(|e| e.to_string())?;
        let (tx, rx) = mpsc::sync_channel::<Job>(64 * 1024);
        let queued = Arc::new(AtomicUsize::new(0));
        let mask = cfg.mask.clone();
        let (writer_shared, writer_queued) = (shared.clone(), queued.clone());
        std::thread::Builder::new()
            .name("warden-audit".into())
            .spawn(move || {
                let mut last_batch = 0usize;
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    // Under load (the last batch was not tiny) wait briefly so more records share
                    // one commit: fewer commits and thread wake-ups (+15–25% throughput measured
                    // with bench/load.sh). Idle servers commit at once.
                    if last_batch >= LINGER_FROM {
                        std::thread::sleep(LINGER);
                    }
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(j) => batch.push(j),
                            Err(_) => break,
                        }
                    }
                    last_batch = batch.len();
                    let (entries, waiters): (Vec<CanonicalEntry>, Vec<_>) =
                        batch.into_iter().unzip();
                    let result = match writer_shared.lock() {
                        Ok(mut sh) => sh.append(&entries),
                        Err(_) => Err("audit log lock poisoned".to_string()),
                    };
                    writer_queued.fetch_sub(entries.len(), Ordering::AcqRel);
                    match result {
                        Ok(last) => {
                            let first = last + 1 - entries.len() as u64;
                            for (i, w) in waiters.into_iter().enumerate() {
                                let _ = w.send(Ok(first + i as u64));
                            }
                        }
                        Err(e) => {
                            for w in waiters {
                                let _ = w.send(Err(e.clone()));
                            }
                        }
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(Auditor {
            tx,
            mask,
            shared,
            queued,
            inline: !cfg.fsync_each_commit,
            last_arrival: Arc::new(AtomicU64::new(0)),
            epoch: Instant::now(),
        })
    }

    /// Masks the configured paths of an input; returns the pointers that were present.
    pub fn mask(&self, input: &mut serde_json::Value) -> Vec<String> {
        let mut masked = Vec::new();
        for p in &self.mask {
            if let Some(v) = input.pointer_mut(p) {
                *v = serde_json::Value::String("**MASKED**".into());
                masked.push(p.clone());
            }
        }
        masked
    }

    /// Records `entry`; resolves once it is committed to disk. The entry is serialized here, on
    /// the caller's thread; the writer thread only chains, hashes and inserts.
    pub async fn record(&self, entry: Entry) -> Result<u64, String> {
        let entry = entry.into_canonical().map_err(|e| e.to_string())?;
        // Idle log, no fsync per commit: commit right here. Two thread hand-offs (to the writer
        // and back) cost more than the commit itself (bench/mcp.sh). Under load (records closer
        // together than INLINE_GAP, records queued, or the lock busy) the writer thread's group
        // commit takes over: one-record commits would each rewrite a leaf and its parents.
        let now = self.epoch.elapsed().as_nanos() as u64;
        let gap = now.saturating_sub(self.last_arrival.swap(now, Ordering::Relaxed));
        if self.inline
            && gap >= INLINE_GAP.as_nanos() as u64
            && self.queued.load(Ordering::Acquire) == 0
        {
            if let Ok(mut sh) = self.shared.try_lock() {
                return sh.append(std::slice::from_ref(&entry));
            }
        }
        self.queued.fetch_add(1, Ordering::AcqRel);
        let (done, wait) = oneshot::channel();
        if let Err(e) = self.tx.try_send((entry, done)) {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(format!("audit queue: {e}"));
        }
        wait.await.map_err(|_| "audit writer stopped".to_string())?
    }
}

/// What one audited call was, for [`Auditor::entry`].
pub struct Call<'a> {
    /// The decision id returned to the caller.
    pub decision_id: &'a str,
    /// The input as received (masked here before it is stored).
    pub input: serde_json::Value,
    /// The result as returned.
    pub result: serde_json::Value,
    /// The policy set that answered.
    pub set: &'a warden_engine::Prepared,
    /// Time to answer, microseconds.
    pub latency_us: u64,
    /// W3C trace id from the caller's `traceparent`, if any.
    pub trace_id: Option<String>,
    /// Data API path (`None` for the decision API).
    pub path: Option<String>,
}

impl Auditor {
    /// Builds the record of one call: input hash before masking, masked input, and the
    /// tenant/agent/tool/action, outcome, reasons and policy version read from input and result.
    pub fn entry(&self, call: Call<'_>) -> Entry {
        use serde_json::Value;
        let Call {
            decision_id,
            mut input,
            result,
            set,
            latency_us,
            trace_id,
            path,
        } = call;
        // The hash is of the input before masking. With nothing to mask, the input is written
        // only once, and `into_canonical` hashes it there (an empty hash means that).
        let input_hash = if self.mask.iter().any(|p| input.pointer(p).is_some()) {
            warden_audit::value_hash(&input)
        } else {
            String::new()
        };
        let masked = self.mask(&mut input);
        // Field by field rather than `Value::pointer`, which allocates for every segment.
        let text = |v: &Value, path: &[&str]| {
            path.iter()
                .try_fold(v, |v, k| v.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let outcome = match result.get("outcome").and_then(Value::as_str) {
            Some(o) => o.to_string(),
            None if result.is_null() => "undefined".to_string(),
            None => "query".to_string(),
        };
        let reasons = match result.get("reasons") {
            Some(Value::Array(rs)) => rs
                .iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        Entry {
            decision_id: decision_id.to_string(),
            time: warden_engine::now_rfc3339(),
            tenant: text(&input, &["tenant"]),
            agent: text(&input, &["agent", "id"]),
            tool: text(&input, &["action", "tool"]),
            action: text(&input, &["action", "type"]),
            masked,
            outcome,
            reasons,
            bundles: set.bundles().clone(),
            policy_version: text(&result, &["metadata", "policy_version"]),
            latency_us,
            trace_id,
            path,
            candidate: None,
            result,
            input,
            input_hash,
        }
    }
}

/// The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), if well formed
/// and not all zeros.
pub fn trace_id(traceparent: &str) -> Option<String> {
    let parts: Vec<&str> = traceparent.trim().split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    match parts.as_slice() {
        [v, t, s, f, ..]
            if hex(v, 2)
                && *v != "ff"
                && hex(t, 32)
                && hex(s, 16)
                && hex(f, 2)
                && t.bytes().any(|b| b != b'0') =>
        {
            Some(t.to_ascii_lowercase())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn traceparent_headers() {
        let t = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            super::trace_id(t).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(
            super::trace_id("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(super::trace_id("00-xyz-00f067aa0ba902b7-01"), None);
        assert_eq!(
            super::trace_id("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            None
        );
    }
}
