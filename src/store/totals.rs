//! Totals for `/metrics` and `/healthz` (src/daemon/health.rs): submissions, rows by outcome, the outbox and
//! the email intake's ledger, counted by the database, so several daemons report the same figures.

use sqlx::Row;

use super::{on_pool, Store, StoreError};

/// Totals for `/metrics` and `/healthz`, read in one go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// (status, submissions): processed | failed.
    pub submissions: Vec<(String, i64)>,
    /// Rows by the outcome they were decided with, in [`crate::outcome::Outcome::ALL`] order: a
    /// `review` row an owner accepted or rejected is still counted as `review` (a counter never
    /// goes down).
    pub rows: [i64; 7],
    /// Review rows owners accepted, rejected, and still waiting.
    pub reviews_accepted: i64,
    pub reviews_rejected: i64,
    pub reviews_pending: i64,
    /// (status, outbox rows): pending | sending | sent | failed.
    pub outbox: Vec<(String, i64)>,
    /// (final status, messages) of the email intake's ledger: a message still `pending` is not
    /// counted yet (it leaves that state, and a counter never goes down).
    pub mail: Vec<(String, i64)>,
}

impl Store {
    pub async fn totals(&self) -> Result<Totals, StoreError> {
        on_pool!(self, |pool| {
            let mut t = Totals::default();
            for r in sqlx::query(
                "SELECT status, COUNT(*) AS n FROM submissions GROUP BY status ORDER BY status",
            )
            .fetch_all(pool)
            .await?
            {
                t.submissions.push((r.try_get("status")?, r.try_get("n")?));
            }
            let r = sqlx::query(
                "SELECT CAST(COALESCE(SUM(n_new), 0) AS BIGINT) AS a, CAST(COALESCE(SUM(n_previously_submitted), 0) AS BIGINT) AS b,
                   CAST(COALESCE(SUM(n_duplicate), 0) AS BIGINT) AS c, CAST(COALESCE(SUM(n_blocked), 0) AS BIGINT) AS d,
                   CAST(COALESCE(SUM(n_review), 0) AS BIGINT) AS e, CAST(COALESCE(SUM(n_repeated), 0) AS BIGINT) AS f,
                   CAST(COALESCE(SUM(n_invalid), 0) AS BIGINT) AS g
                 FROM submissions WHERE status = 'processed'",
            )
            .fetch_one(pool)
            .await?;
            for (i, c) in ["a", "b", "c", "d", "e", "f", "g"].iter().enumerate() {
                t.rows[i] = r.try_get::<i64, _>(*c)?;
            }
            for r in sqlx::query(
                "SELECT review_state, COUNT(*) AS n FROM submission_rows
                 WHERE review_state IS NOT NULL GROUP BY review_state",
            )
            .fetch_all(pool)
            .await?
            {
                let n: i64 = r.try_get("n")?;
                match r.try_get::<String, _>("review_state")?.as_str() {
                    "accepted" => t.reviews_accepted = n,
                    "rejected" => t.reviews_rejected = n,
                    "pending" => t.reviews_pending = n,
                    _ => {}
                }
            }
            // A decided review moved its submission's count from review to new or duplicate:
            // counted here as it was decided (new 0, duplicate 2, review 4 in Outcome::ALL).
            t.rows[0] -= t.reviews_accepted;
            t.rows[2] -= t.reviews_rejected;
            t.rows[4] += t.reviews_accepted + t.reviews_rejected;
            for r in sqlx::query(
                "SELECT status, COUNT(*) AS n FROM outbox GROUP BY status ORDER BY status",
            )
            .fetch_all(pool)
            .await?
            {
                t.outbox.push((r.try_get("status")?, r.try_get("n")?));
            }
            for r in sqlx::query(
                "SELECT status, COUNT(*) AS n FROM mail_ledger WHERE status <> 'pending'
                 GROUP BY status ORDER BY status",
            )
            .fetch_all(pool)
            .await?
            {
                t.mail.push((r.try_get("status")?, r.try_get("n")?));
            }
            Ok(t)
        })
    }
}
