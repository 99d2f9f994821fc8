//! Appending records: the writer's SQLite connection, signed checkpoints, and the WAL
//! checkpointer that runs beside it.

use std::path::Path;

use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer, SigningKey};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::{checkpoint_message, AuditError, CanonicalEntry, Entry, GENESIS};

/// SQLite page size of a new log.
pub(crate) const PAGE_SIZE: i64 = 16 * 1024;

/// WAL pages after which a commit checkpoints the WAL into the database.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 64;

/// An open log that appends records.
pub struct AuditLog {
    conn: Connection,
    seq: u64,
    head: String,
    key: Option<SigningKey>,
}

impl AuditLog {
    /// Opens (or creates) the log at `path`; `key_pem` (Ed25519 PKCS#8) signs checkpoints. Every
    /// commit is fsynced (`synchronous=FULL`): records survive a power loss.
    pub fn open(path: &Path, key_pem: Option<&str>) -> Result<AuditLog, AuditError> {
        Self::open_with(path, key_pem, true)
    }

    /// Like [`AuditLog::open`]; with `fsync_each_commit = false` (WAL `synchronous=NORMAL`),
    /// committed records survive a process crash (SIGKILL) but the last ones may be lost if the
    /// machine loses power. Faster.
    pub fn open_with(
        path: &Path,
        key_pem: Option<&str>,
        fsync_each_commit: bool,
    ) -> Result<AuditLog, AuditError> {
        let conn = Connection::open(path)?;
        // Before the first table is created (a database that exists keeps its page size). A
        // record is ~2 KB, so a 4 KiB page held one (the second did not fit): every record cost
        // a page, and two pwrites in the WAL. 16 KiB pages hold ~7 (bench: `wrk -c32` on
        // `/v1/decide`, fsync every commit, 3 interleaved runs each on 2026-12-05: 18.0–19.0k
        // decisions/s with 4 KiB, 20.4–20.9k with 16 KiB, 18.3–20.6k with 32 KiB; 3.7× fewer
        // pwrites; p99 at 5,000/s unchanged). The cost is bytes: at 5,000/s a commit holds 2–3
        // records and rewrites its page, ~26.5 KB written per decision (WAL and database)
        // against ~19.8 KB with 4 KiB pages. 8 KiB pages (3 records) wrote ~20 KB but gained
        // less and less steadily (15.9–19.0k/s against 18.2–18.5k for 16 KiB, same runs).
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(
            None,
            "synchronous",
            if fsync_each_commit { "FULL" } else { "NORMAL" },
        )?;
        // The writer checkpoints the WAL inside a commit, stalling every decision waiting on it.
        // Small, frequent checkpoints keep that stall short: with SQLite's default (1,000 pages)
        // p99 at 5,000 decisions/s was 3–6 ms, with 64 pages 1.3–2.7 ms (bench/load.sh).
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, hash TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS checkpoints (seq INTEGER NOT NULL, head TEXT NOT NULL, signature TEXT NOT NULL, time TEXT NOT NULL);",
        )?;
        let last: Option<(i64, String)> = conn
            .query_row(
                "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (seq, head) = last
            .map(|(s, h)| (s.max(0) as u64, h))
            .unwrap_or((0, GENESIS.to_string()));
        let key = key_pem
            .map(SigningKey::from_pkcs8_pem)
            .transpose()
            .map_err(|e| AuditError::Key(e.to_string()))?;
        Ok(AuditLog {
            conn,
            seq,
            head,
            key,
        })
    }

    /// Sequence number of the last record.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Hash of the last record (the chain head).
    pub fn head(&self) -> &str {
        &self.head
    }

    /// Appends `entries` in one transaction (group commit); returns when they are durable.
    pub fn append(&mut self, entries: &[Entry]) -> Result<u64, AuditError> {
        let canonical = entries
            .iter()
            .map(Entry::canonical)
            .collect::<Result<Vec<_>, _>>()?;
        self.append_canonical(&canonical)
    }

    /// Appends entries already serialized with [`Entry::canonical`] (so the expensive part runs
    /// on the callers' threads and the single writer only chains, hashes and inserts).
    pub fn append_canonical(&mut self, entries: &[CanonicalEntry]) -> Result<u64, AuditError> {
        let tx = self.conn.transaction()?;
        let (mut seq, mut head) = (self.seq, self.head.clone());
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO records (seq, body, hash) VALUES (?1, ?2, ?3)")?;
            for e in entries {
                seq += 1;
                let body = e.record(seq, &head);
                head = hex::encode(Sha256::digest(body.as_bytes()));
                insert.execute(params![seq as i64, body, head])?;
            }
        }
        tx.commit()?;
        self.seq = seq;
        self.head = head;
        Ok(seq)
    }

    /// Stops SQLite from checkpointing the WAL inside this log's commits; a
    /// [`WalCheckpointer`] on another thread must then do it (so no commit waits for one).
    pub fn disable_autocheckpoint(&self) -> Result<(), AuditError> {
        self.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(())
    }

    /// A passive WAL checkpoint on the writer's own connection, between commits: it copies
    /// everything, so the next commit starts the WAL over.
    pub fn checkpoint_wal(&self) -> Result<(), AuditError> {
        passive_checkpoint(&self.conn).map(|_| ())
    }

    /// The last record a stored checkpoint covers (0 when there is none); the records after it
    /// are not signed yet. The signatures are not checked here (see [`crate::verify`]).
    pub fn signed_through(&self) -> Result<u64, AuditError> {
        let seq: i64 =
            self.conn
                .query_row("SELECT COALESCE(MAX(seq), 0) FROM checkpoints", [], |r| {
                    r.get(0)
                })?;
        Ok((seq.max(0) as u64).min(self.seq))
    }

    /// Signs and stores a checkpoint of the current head; `None` without a key or records.
    pub fn checkpoint(&mut self, time: &str) -> Result<Option<u64>, AuditError> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        if self.seq == 0 {
            return Ok(None);
        }
        let sig = key.sign(&checkpoint_message(self.seq, &self.head));
        self.conn.execute(
            "INSERT INTO checkpoints (seq, head, signature, time) VALUES (?1, ?2, ?3, ?4)",
            params![
                self.seq as i64,
                self.head,
                hex::encode(sig.to_bytes()),
                time
            ],
        )?;
        Ok(Some(self.seq))
    }
}

/// Copies the WAL back into the database from its own connection, so the writer's commits never
/// carry a checkpoint (and, with `synchronous=NORMAL`, its fsync): a checkpoint inside a commit
/// stalls every decision waiting on that commit.
pub struct WalCheckpointer {
    conn: Connection,
    /// The database file, flushed after each checkpoint (see [`WalCheckpointer::run`]).
    db: std::fs::File,
    /// The WAL's path, and the file once it exists.
    wal: (std::path::PathBuf, Option<std::fs::File>),
    /// What the last checkpoint reported: unchanged means nothing new to flush (an idle log).
    last: (i64, i64),
}

impl WalCheckpointer {
    /// Opens a second connection to the log at `path`.
    pub fn open(path: &Path) -> Result<WalCheckpointer, AuditError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_millis(100))?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(WalCheckpointer {
            conn,
            db: std::fs::File::open(path)?,
            wal: (wal.into(), None),
            last: (-1, -1),
        })
    }

    /// One passive checkpoint (never blocks the writer); returns the WAL's length in frames
    /// and how many of them are now in the database. Then flushes the database and the WAL to
    /// disk: SQLite syncs the database only when a checkpoint copied the whole WAL, so under
    /// steady load the fsyncs of [`AuditLog::checkpoint_wal`] (which decisions wait for) would
    /// otherwise flush everything copied since the WAL last started over. When the WAL has not
    /// changed since the last call there is nothing to flush, and nothing is.
    pub fn run(&mut self) -> Result<(i64, i64), AuditError> {
        let counts = passive_checkpoint(&self.conn)?;
        if counts == self.last {
            return Ok(counts);
        }
        self.db.sync_data()?;
        if self.wal.1.is_none() {
            self.wal.1 = std::fs::File::open(&self.wal.0).ok();
        }
        if let Some(wal) = &self.wal.1 {
            wal.sync_data()?;
        }
        self.last = counts;
        Ok(counts)
    }
}

fn passive_checkpoint(conn: &Connection) -> Result<(i64, i64), AuditError> {
    let (_, frames, copied): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok((frames, copied))
}
