//! Exact rate limits and budgets: the counters behind a policy's `consume` list.
//!
//! A call is charged in two steps. [`LimitStore::reserve`] adds its charges *atomically and only
//! if every enforced charge still fits* (`used + cost <= max` in the current window), so calls in
//! flight count and no interleaving of concurrent calls can overshoot a limit. When the call
//! finishes, [`LimitStore::commit`] keeps the charge (it succeeded) or [`LimitStore::release`]
//! removes it (it failed, was cancelled, or its client went away). Counters are keyed by the
//! policy's counter keys, which name the authenticated agent (not a session), so reconnecting
//! does not reset them.
//!
//! [`SqliteLimits`] is the embedded default and survives restarts. The trait is what a shared
//! store (Redis, for several replicas) implements: one atomic check-and-add, plus commit/release.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use warden_core::contract::Consume;

/// Why the store could not answer. Callers fail closed on it.
#[derive(Debug, thiserror::Error)]
#[error("limit store: {0}")]
pub struct StoreError(pub String);

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// A reservation that did not fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Exceeded {
    /// The counter key that was full.
    pub key: String,
    /// Used in the window, reservations included.
    pub used: f64,
    /// Seconds until that window ends.
    pub retry_after: u64,
}

/// The counters.
pub trait LimitStore: Send + Sync {
    /// Amount used in the current window of each `(key, window_seconds)`, reservations included.
    fn usage(&self, counters: &[(String, u64)], now: u64) -> Result<Vec<f64>, StoreError>;
    /// Adds every charge under reservation `id`, all or none: fails with [`Exceeded`] when an
    /// enforced (non-shadow) charge would take its counter above `max`.
    fn reserve(
        &self,
        id: &str,
        charges: &[Consume],
        now: u64,
    ) -> Result<Result<(), Exceeded>, StoreError>;
    /// Keeps reservation `id` (the call succeeded).
    fn commit(&self, id: &str) -> Result<(), StoreError>;
    /// Drops reservation `id` (the call failed or was cancelled).
    fn release(&self, id: &str) -> Result<(), StoreError>;
}

/// Fixed windows: the window a time falls in, and when it ends.
fn window(now: u64, seconds: u64) -> (i64, u64) {
    let s = seconds.max(1);
    let w = now / s;
    (w as i64, (w + 1) * s - now)
}

/// Counters in SQLite (WAL): one row per charge, summed per key and window.
pub struct SqliteLimits {
    conn: Mutex<Connection>,
}

impl SqliteLimits {
    /// Opens or creates the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS charges (
                 reservation TEXT NOT NULL, key TEXT NOT NULL, window_seconds INTEGER NOT NULL,
                 window INTEGER NOT NULL, cost REAL NOT NULL, committed INTEGER NOT NULL DEFAULT 0);
             CREATE INDEX IF NOT EXISTS charges_key ON charges (key, window_seconds, window);
             CREATE INDEX IF NOT EXISTS charges_reservation ON charges (reservation);",
        )?;
        Ok(SqliteLimits {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.conn
            .lock()
            .map_err(|_| StoreError("poisoned lock".into()))
    }

    /// Deletes charges of windows that ended (call it now and then).
    pub fn prune(&self, now: u64) -> Result<usize, StoreError> {
        let conn = self.lock()?;
        Ok(conn.execute(
            "DELETE FROM charges WHERE (window + 1) * window_seconds <= ?1",
            params![now as i64],
        )?)
    }
}

fn used(conn: &Connection, key: &str, seconds: u64, now: u64) -> Result<f64, StoreError> {
    let (w, _) = window(now, seconds);
    let v: Option<f64> = conn
        .query_row(
            "SELECT SUM(cost) FROM charges WHERE key = ?1 AND window_seconds = ?2 AND window = ?3",
            params![key, seconds as i64, w],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    Ok(v.unwrap_or(0.0))
}

impl LimitStore for SqliteLimits {
    fn usage(&self, counters: &[(String, u64)], now: u64) -> Result<Vec<f64>, StoreError> {
        let conn = self.lock()?;
        counters
            .iter()
            .map(|(k, s)| used(&conn, k, *s, now))
            .collect()
    }

    fn reserve(
        &self,
        id: &str,
        charges: &[Consume],
        now: u64,
    ) -> Result<Result<(), Exceeded>, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        for c in charges {
            let (w, left) = window(now, c.window_seconds);
            if !c.shadow {
                let u = used(&tx, &c.key, c.window_seconds, now)?;
                if u + c.cost > c.max {
                    return Ok(Err(Exceeded {
                        key: c.key.clone(),
                        used: u,
                        retry_after: left,
                    }));
                }
            }
            tx.execute(
                "INSERT INTO charges (reservation, key, window_seconds, window, cost) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, c.key, c.window_seconds as i64, w, c.cost],
            )?;
        }
        tx.commit()?;
        Ok(Ok(()))
    }

    fn commit(&self, id: &str) -> Result<(), StoreError> {
        self.lock()?.execute(
            "UPDATE charges SET committed = 1 WHERE reservation = ?1",
            params![id],
        )?;
        Ok(())
    }

    fn release(&self, id: &str) -> Result<(), StoreError> {
        self.lock()?
            .execute("DELETE FROM charges WHERE reservation = ?1", params![id])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(key: &str, cost: f64, max: f64) -> Consume {
        Consume {
            key: key.into(),
            limit: "l".into(),
            kind: "rate".into(),
            cost,
            max,
            window_seconds: 60,
            used: 0.0,
            shadow: false,
        }
    }

    #[test]
    fn reservations_count_until_released_and_never_overshoot() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteLimits::open(&dir.path().join("s.db")).unwrap();
        let now = 1_000_040; // 20 s into a 60 s window
        assert!(s
            .reserve("a", &[charge("k", 3.0, 5.0)], now)
            .unwrap()
            .is_ok());
        // In flight, a's 3 count: 3 + 3 > 5.
        let e = s
            .reserve("b", &[charge("k", 3.0, 5.0)], now)
            .unwrap()
            .unwrap_err();
        assert_eq!((e.used, e.retry_after), (3.0, 40));
        // Exactly reaching max fits.
        assert!(s
            .reserve("c", &[charge("k", 2.0, 5.0)], now)
            .unwrap()
            .is_ok());
        s.release("a").unwrap();
        assert_eq!(s.usage(&[("k".into(), 60)], now).unwrap(), vec![2.0]);
        s.commit("c").unwrap();
        // All or nothing: the second charge does not fit, so the first is not kept either.
        let r = s
            .reserve(
                "d",
                &[charge("other", 1.0, 9.0), charge("k", 4.0, 5.0)],
                now,
            )
            .unwrap();
        assert!(r.is_err());
        assert_eq!(s.usage(&[("other".into(), 60)], now).unwrap(), vec![0.0]);
        // A new window starts empty; pruning removes ended windows.
        assert_eq!(s.usage(&[("k".into(), 60)], now + 60).unwrap(), vec![0.0]);
        assert_eq!(s.prune(now + 60).unwrap(), 1);
    }
}
