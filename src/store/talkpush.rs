//! The Talkpush push queue (SPEC §11 (r2)), on both backends: one row per candidate and campaign,
//! written in the transaction that makes the candidate `new` (or accepts a `review` row), pushed by
//! [`crate::talkpush::worker`].
//!
//! Claiming is the outbox's (see [`super::outbox`]): one due row at a time becomes `pushing` with a
//! lease; Postgres picks it `FOR UPDATE SKIP LOCKED`, SQLite in a `BEGIN IMMEDIATE` transaction.
//! Before it creates a lead the worker renews its lease ([`Store::push_renew`]), so a create is
//! only ever sent by the one worker that holds the row; a worker that dies leaves a lease that
//! expires, and the next claim searches Talkpush before creating anything.

use std::future::Future;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::outbox::{active_owners, enqueue as enqueue_mail};
use super::{on_pool, Db, Store, StoreError, WritePool};
use crate::mail::message::Address;
use crate::mail::Outgoing;

/// Which ownerships to queue pushes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Of {
    /// The `new` rows of a submission.
    Submission(i64),
    /// A candidate's current ownerships (a `review` row accepted; `talkpush push`).
    Candidate(i64),
}

/// A connection (or a transaction, through `&mut *tx`) pushes can be queued on.
pub trait PushConn: Send {
    fn enqueue_pushes(
        &mut self,
        of: Of,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + '_;
}

/// Every current, agency-owned ownership with a campaign gets a push, once per candidate and
/// campaign (a lead exists per campaign in Talkpush).
fn enqueue_sql(of: Of) -> String {
    let column = match of {
        Of::Submission(_) => "o.submission_id",
        Of::Candidate(_) => "o.candidate_id",
    };
    format!(
        "INSERT INTO talkpush_pushes (candidate_id, campaign_id, agency_id, user_email,
           submission_id, row_number, status, next_attempt_at, created_at)
         SELECT o.candidate_id, o.campaign_id, o.agency_id, o.user_email, o.submission_id,
           o.row_number, 'pending', $2, $2
         FROM ownerships o
         WHERE {column} = $1 AND o.superseded_at IS NULL AND o.agency_id IS NOT NULL
           AND o.campaign_id IS NOT NULL
         ON CONFLICT (candidate_id, campaign_id) DO NOTHING"
    )
}

macro_rules! impl_push_conn {
    ($conn:ty) => {
        impl PushConn for $conn {
            fn enqueue_pushes(
                &mut self,
                of: Of,
                now: DateTime<Utc>,
            ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + '_ {
                async move {
                    let id = match of {
                        Of::Submission(id) | Of::Candidate(id) => id,
                    };
                    let done = sqlx::query(&enqueue_sql(of))
                        .bind(id)
                        .bind(now)
                        .execute(&mut *self)
                        .await?;
                    Ok(done.rows_affected())
                }
            }
        }
    };
}
impl_push_conn!(sqlx::SqliteConnection);
impl_push_conn!(sqlx::PgConnection);

/// Queues the pushes of `of` on `conn` (typically `&mut *tx` of the transaction that made the
/// candidates). Returns how many were queued.
pub async fn enqueue<C: PushConn + ?Sized>(
    conn: &mut C,
    of: Of,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    conn.enqueue_pushes(of, now).await
}

/// A push a worker claimed, with what the lead is made of.
#[derive(Debug, Clone, Default)]
pub struct ClaimedPush {
    pub id: i64,
    pub candidate_id: i64,
    pub campaign_id: String,
    pub agency_id: String,
    pub agency_name: String,
    pub user_email: String,
    pub submission_id: Option<i64>,
    pub row_number: Option<i64>,
    /// Claims so far, this one included.
    pub attempts: i64,
    /// Creates sent before this claim (a lead may exist).
    pub creates: i64,
    pub created_at: DateTime<Utc>,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// `[[header, value], …]` as stored.
    pub custom: Vec<(String, String)>,
    /// The person's data was erased (nothing to push).
    pub erased: bool,
}

/// One queue row, as `talkpush status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PushRow {
    pub id: i64,
    pub candidate_id: i64,
    pub campaign_id: String,
    pub agency_id: Option<String>,
    pub status: String,
    pub result: Option<String>,
    pub lead_id: Option<String>,
    pub attempts: i64,
    pub last_error: String,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub synced_at: Option<DateTime<Utc>>,
}

impl PushRow {
    /// `pending`, `synced <lead id>` or `failed <reason>` (SPEC §11).
    pub fn state(&self) -> String {
        state_text(&self.status, self.lead_id.as_deref(), &self.last_error)
    }
}

/// The Talkpush state as `candidates` shows it.
pub fn state_text(status: &str, lead_id: Option<&str>, last_error: &str) -> String {
    match status {
        "synced" => format!("synced {}", lead_id.unwrap_or("(no id)")),
        "failed" => format!("failed {last_error}"),
        _ => "pending".to_string(),
    }
}

/// Counts for `talkpush status` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushTotals {
    /// (status, rows): pending | pushing | synced | failed.
    pub by_status: Vec<(String, i64)>,
    /// (result, rows) of synced rows: created | found | duplicate.
    pub by_result: Vec<(String, i64)>,
    /// Permanent failures ever (a counter: a failed row retried stays counted).
    pub failures: i64,
}

const CLAIM_WHERE: &str = "(status = 'pending' AND next_attempt_at <= $3)
        OR (status = 'pushing' AND lease_until < $3)";

/// What `talkpush push --candidate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushRequest {
    /// No current agency ownership with a campaign: nothing to push.
    Nothing,
    /// Rows (new or put back) due now, and rows already synced.
    Queued { due: u64, synced: u64 },
}

impl Store {
    /// Claims the next due push (or one whose lease expired by `now`) for `worker` until
    /// `lease_until`. `None`: nothing to push.
    pub async fn claim_push(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<ClaimedPush>, StoreError> {
        let id: Option<i64> = match &self.db {
            Db::Postgres(pool) => {
                let sql = format!(
                    "UPDATE talkpush_pushes SET status = 'pushing', lease_owner = $1,
                       lease_until = $2, attempts = attempts + 1
                     WHERE id = (SELECT id FROM talkpush_pushes WHERE {CLAIM_WHERE}
                                 ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                     RETURNING id"
                );
                sqlx::query_scalar(&sql)
                    .bind(worker)
                    .bind(lease_until)
                    .bind(now)
                    .fetch_optional(pool)
                    .await?
            }
            Db::Sqlite(pool) => {
                let sql = format!(
                    "UPDATE talkpush_pushes SET status = 'pushing', lease_owner = $1,
                       lease_until = $2, attempts = attempts + 1
                     WHERE id = (SELECT id FROM talkpush_pushes WHERE {CLAIM_WHERE}
                                 ORDER BY next_attempt_at, id LIMIT 1)
                     RETURNING id"
                );
                let mut tx = pool.begin_write("agency-portal:talkpush").await?;
                let id = sqlx::query_scalar(&sql)
                    .bind(worker)
                    .bind(lease_until)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                id
            }
        };
        match id {
            Some(id) => self.push_payload(id).await,
            None => Ok(None),
        }
    }

    /// A queue row with its candidate and agency.
    async fn push_payload(&self, id: i64) -> Result<Option<ClaimedPush>, StoreError> {
        on_pool!(self, |pool| {
            let Some(r) = sqlx::query(
                "SELECT p.id, p.candidate_id, p.campaign_id, p.agency_id, p.user_email,
                   p.submission_id, p.row_number, p.attempts, p.creates, p.created_at,
                   c.first_name, c.last_name, c.email, c.phone, c.custom, c.erased_at,
                   a.name AS agency_name
                 FROM talkpush_pushes p
                 LEFT JOIN candidates c ON c.id = p.candidate_id
                 LEFT JOIN agencies a ON a.id = p.agency_id
                 WHERE p.id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
            else {
                return Ok(None);
            };
            let attempts: i32 = r.try_get("attempts")?;
            let creates: i32 = r.try_get("creates")?;
            let custom: Option<String> = r.try_get("custom")?;
            let custom: Vec<(String, String)> = custom
                .and_then(|c| serde_json::from_str(&c).ok())
                .unwrap_or_default();
            let erased: Option<DateTime<Utc>> = r.try_get("erased_at")?;
            let first: Option<String> = r.try_get("first_name")?;
            Ok(Some(ClaimedPush {
                id: r.try_get("id")?,
                candidate_id: r.try_get("candidate_id")?,
                campaign_id: r.try_get("campaign_id")?,
                agency_id: r
                    .try_get::<Option<String>, _>("agency_id")?
                    .unwrap_or_default(),
                agency_name: r
                    .try_get::<Option<String>, _>("agency_name")?
                    .unwrap_or_default(),
                user_email: r
                    .try_get::<Option<String>, _>("user_email")?
                    .unwrap_or_default(),
                submission_id: r.try_get("submission_id")?,
                row_number: r.try_get("row_number")?,
                attempts: attempts.into(),
                creates: creates.into(),
                created_at: r.try_get("created_at")?,
                erased: erased.is_some() || first.is_none(),
                first_name: first.unwrap_or_default(),
                last_name: r
                    .try_get::<Option<String>, _>("last_name")?
                    .unwrap_or_default(),
                email: r.try_get("email")?,
                phone: r.try_get("phone")?,
                custom,
            }))
        })
    }

    /// Right before a create: extends the lease to `lease_until` and counts the create. `false`
    /// when `worker` no longer holds the row (then it must not create).
    pub async fn push_renew(
        &self,
        id: i64,
        worker: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            let done = sqlx::query(
                "UPDATE talkpush_pushes SET lease_until = $3, creates = creates + 1
                 WHERE id = $1 AND lease_owner = $2 AND status = 'pushing'",
            )
            .bind(id)
            .bind(worker)
            .bind(lease_until)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// The lead is in Talkpush: `result` created | found | duplicate.
    pub async fn push_synced(
        &self,
        id: i64,
        worker: &str,
        result: &str,
        lead_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            let done = sqlx::query(
                "UPDATE talkpush_pushes SET status = 'synced', result = $3, lead_id = $4,
                   synced_at = $5, lease_owner = NULL, lease_until = NULL, last_error = ''
                 WHERE id = $1 AND lease_owner = $2 AND status = 'pushing'",
            )
            .bind(id)
            .bind(worker)
            .bind(result)
            .bind(lead_id)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// A temporary failure: back to `pending`, due again at `next_attempt_at`.
    pub async fn push_retry(
        &self,
        id: i64,
        worker: &str,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            let done = sqlx::query(
                "UPDATE talkpush_pushes SET status = 'pending', next_attempt_at = $3,
                   lease_owner = NULL, lease_until = NULL, last_error = $4
                 WHERE id = $1 AND lease_owner = $2 AND status = 'pushing'",
            )
            .bind(id)
            .bind(worker)
            .bind(next_attempt_at)
            .bind(error)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// A permanent failure: the row is `failed` with `error` (the API's answer) and, in the same
    /// transaction, the alert `make_alert(active owners)` returns is enqueued. `false` when the
    /// lease was lost.
    pub async fn push_failed<F>(
        &self,
        id: i64,
        worker: &str,
        now: DateTime<Utc>,
        error: &str,
        make_alert: F,
    ) -> Result<bool, StoreError>
    where
        F: FnOnce(&[Address]) -> Option<Outgoing>,
    {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE talkpush_pushes SET status = 'failed', lease_owner = NULL,
                   lease_until = NULL, last_error = $3, next_attempt_at = $4,
                   failures = failures + 1
                 WHERE id = $1 AND lease_owner = $2 AND status = 'pushing'",
            )
            .bind(id)
            .bind(worker)
            .bind(error)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            let owners = active_owners(&mut *tx).await?;
            if let Some(alert) = make_alert(&owners) {
                enqueue_mail(&mut *tx, &alert, now).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Queue rows, oldest first; only `status` ones when given.
    pub async fn push_rows(&self, status: Option<&str>) -> Result<Vec<PushRow>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT id, candidate_id, campaign_id, agency_id, status, result, lead_id,
                   attempts, last_error, created_at, next_attempt_at, synced_at
                 FROM talkpush_pushes WHERE ($1 IS NULL OR status = $1) ORDER BY id",
            )
            .bind(status)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let attempts: i32 = r.try_get("attempts")?;
                out.push(PushRow {
                    id: r.try_get("id")?,
                    candidate_id: r.try_get("candidate_id")?,
                    campaign_id: r.try_get("campaign_id")?,
                    agency_id: r.try_get("agency_id")?,
                    status: r.try_get("status")?,
                    result: r.try_get("result")?,
                    lead_id: r.try_get("lead_id")?,
                    attempts: attempts.into(),
                    last_error: r.try_get("last_error")?,
                    created_at: r.try_get("created_at")?,
                    next_attempt_at: r.try_get("next_attempt_at")?,
                    synced_at: r.try_get("synced_at")?,
                });
            }
            Ok(out)
        })
    }

    /// Pushes that failed in `(since, until]` and are still failed (the owner digest).
    pub async fn failed_pushes(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<PushRow>, StoreError> {
        let mut rows = self.push_rows(Some("failed")).await?;
        rows.retain(|r| r.next_attempt_at > since && r.next_attempt_at <= until);
        Ok(rows)
    }

    /// Counts by status and result, and permanent failures ever.
    pub async fn push_totals(&self) -> Result<PushTotals, StoreError> {
        on_pool!(self, |pool| {
            let mut t = PushTotals::default();
            for r in sqlx::query(
                "SELECT status, COUNT(*) AS n FROM talkpush_pushes GROUP BY status ORDER BY status",
            )
            .fetch_all(pool)
            .await?
            {
                t.by_status.push((r.try_get("status")?, r.try_get("n")?));
            }
            for r in sqlx::query(
                "SELECT result, COUNT(*) AS n FROM talkpush_pushes WHERE status = 'synced'
                 GROUP BY result ORDER BY result",
            )
            .fetch_all(pool)
            .await?
            {
                let result: Option<String> = r.try_get("result")?;
                t.by_result
                    .push((result.unwrap_or_default(), r.try_get("n")?));
            }
            t.failures = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(failures), 0) AS BIGINT) FROM talkpush_pushes",
            )
            .fetch_one(pool)
            .await?;
            Ok(t)
        })
    }

    /// `talkpush retry`: pending rows waiting out a backoff are due now; with `failed`, failed
    /// rows too (their claims counted afresh). Returns how many rows were made due.
    pub async fn push_retry_now(
        &self,
        failed: bool,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        on_pool!(self, |pool| {
            let mut n = sqlx::query(
                "UPDATE talkpush_pushes SET next_attempt_at = $1
                 WHERE status = 'pending' AND next_attempt_at > $1",
            )
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected();
            if failed {
                n += sqlx::query(
                    "UPDATE talkpush_pushes SET status = 'pending', next_attempt_at = $1,
                       attempts = 0
                     WHERE status = 'failed'",
                )
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected();
            }
            Ok(n)
        })
    }

    /// `talkpush push --candidate ID`: queues the candidate's pushes (whether or not `[talkpush]`
    /// queued them when it was made) and makes its pending or failed ones due now.
    pub async fn push_candidate(
        &self,
        candidate_id: i64,
        now: DateTime<Utc>,
    ) -> Result<PushRequest, StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            enqueue(&mut *tx, Of::Candidate(candidate_id), now).await?;
            let due = sqlx::query(
                "UPDATE talkpush_pushes SET status = 'pending', next_attempt_at = $2
                 WHERE candidate_id = $1 AND status IN ('pending', 'failed')",
            )
            .bind(candidate_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let synced: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM talkpush_pushes WHERE candidate_id = $1
                   AND status IN ('synced', 'pushing')",
            )
            .bind(candidate_id)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(if due == 0 && synced == 0 {
                PushRequest::Nothing
            } else {
                PushRequest::Queued {
                    due,
                    synced: synced as u64,
                }
            })
        })
    }
}
