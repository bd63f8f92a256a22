//! The outbox table (SPEC §7): messages are written here in the same transaction as their cause
//! and delivered by [`crate::mail::sender::Sender`].
//!
//! **Enqueueing inside a store transaction** (either backend, inside an [`on_pool!`] body):
//!
//! ```text
//! let msg = composer.receipt(&input)?;          // or invitation, alert, …
//! outbox::enqueue(&mut *tx, &msg, now).await?;   // tx: Transaction<'_, Sqlite | Postgres>
//! ```
//!
//! Claiming: a worker takes one due row at a time and marks it `sending` with a lease
//! (`lease_owner`, `lease_until`). Postgres picks the row with `FOR UPDATE SKIP LOCKED`, so several
//! daemons never take the same row; SQLite runs the claim as one `UPDATE … RETURNING` in a
//! `BEGIN IMMEDIATE` transaction. A worker that dies mid-send leaves a lease that expires, and the
//! row is sent again — the same bytes, so the same Message-ID.

use std::future::Future;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{on_pool, Db, Store, StoreError, WritePool};
use crate::mail::message::Address;
use crate::mail::Outgoing;

/// A connection (or a transaction, through `&mut *tx`) the outbox can be written on.
pub trait OutboxConn: Send {
    /// Inserts the message as `pending`, due now. Returns its outbox id, or `None` when a row with
    /// the same dedupe key already exists (nothing is written then).
    fn enqueue_message<'a>(
        &'a mut self,
        msg: &'a Outgoing,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<i64>, sqlx::Error>> + Send + 'a;

    /// The active owners (alert recipients).
    fn active_owners(
        &mut self,
    ) -> impl Future<Output = Result<Vec<Address>, sqlx::Error>> + Send + '_;
}

const INSERT: &str =
    "INSERT INTO outbox (message_id, kind, dedupe_key, sender, recipients, message,
       status, attempts, next_attempt_at, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)
     ON CONFLICT (dedupe_key) DO NOTHING
     RETURNING id";

const OWNERS: &str = "SELECT email, name FROM owners WHERE active ORDER BY email";

macro_rules! impl_outbox_conn {
    ($conn:ty) => {
        impl OutboxConn for $conn {
            fn enqueue_message<'a>(
                &'a mut self,
                msg: &'a Outgoing,
                now: DateTime<Utc>,
            ) -> impl Future<Output = Result<Option<i64>, sqlx::Error>> + Send + 'a {
                async move {
                    sqlx::query_scalar(INSERT)
                        .bind(&msg.message_id)
                        .bind(msg.kind.as_str())
                        .bind(&msg.dedupe_key)
                        .bind(&msg.sender)
                        .bind(serde_json::to_string(&msg.recipients).unwrap_or_default())
                        .bind(&msg.bytes)
                        .bind(now)
                        .fetch_optional(&mut *self)
                        .await
                }
            }

            fn active_owners(
                &mut self,
            ) -> impl Future<Output = Result<Vec<Address>, sqlx::Error>> + Send + '_ {
                async move {
                    let rows = sqlx::query(OWNERS).fetch_all(&mut *self).await?;
                    let mut out = Vec::new();
                    for row in rows {
                        let email: String = row.try_get("email")?;
                        let name: String = row.try_get("name")?;
                        out.extend(Address::new(&email, &name));
                    }
                    Ok(out)
                }
            }
        }
    };
}

impl_outbox_conn!(sqlx::SqliteConnection);
impl_outbox_conn!(sqlx::PgConnection);

/// Writes `msg` to the outbox on `conn` — typically `&mut *tx` inside the transaction that caused it.
/// `None`: a message with the same dedupe key exists already, nothing written.
pub async fn enqueue<C: OutboxConn + ?Sized>(
    conn: &mut C,
    msg: &Outgoing,
    now: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    conn.enqueue_message(msg, now).await
}

/// The active owners, read on `conn` (alerts go to them).
pub async fn active_owners<C: OutboxConn + ?Sized>(
    conn: &mut C,
) -> Result<Vec<Address>, sqlx::Error> {
    conn.active_owners().await
}

/// A row a worker claimed: it holds the lease until `lease_until`.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub message_id: String,
    pub kind: String,
    pub sender: String,
    pub recipients: Vec<String>,
    pub bytes: Vec<u8>,
    /// Claims so far (since the last `outbox resend`), this one included.
    pub attempts: i64,
    /// When it was written, or last resent: the worker gives up on temporary failures counted
    /// from here.
    pub tried_since: DateTime<Utc>,
    /// How often `outbox resend` sent it again.
    pub resends: i64,
}

/// One outbox row, as `outbox` listings and tests see it (no message bytes); the objects of
/// `outbox list --json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub message_id: String,
    pub kind: String,
    pub dedupe_key: Option<String>,
    pub recipients: Vec<String>,
    pub status: String,
    pub attempts: i64,
    pub last_error: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// How often `outbox resend` sent it again, and when last.
    pub resends: i64,
    pub resent_at: Option<DateTime<Utc>>,
}

/// What `outbox resend ID` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resend {
    /// Back to `pending`, due now, the same bytes (so the same Message-ID).
    Resent,
    NotFound,
    /// Only a `failed` message is sent again; this one is `pending`, `sending` or `sent`.
    NotFailed(String),
}

/// Back to `pending` and due now; attempts and the give-up clock start again.
const RESEND: &str = "UPDATE outbox SET status = 'pending', next_attempt_at = $1, attempts = 0,
       resends = resends + 1, resent_at = $1";

const CLAIM_WHERE: &str = "(status = 'pending' AND next_attempt_at <= $3)
        OR (status = 'sending' AND lease_until < $4)";
const CLAIM_RETURNING: &str =
    "RETURNING id, message_id, kind, sender, recipients, message, attempts,
       COALESCE(resent_at, created_at) AS tried_since, resends";

fn claimed(row: &impl ClaimRow) -> Result<Claimed, sqlx::Error> {
    row.claimed()
}

trait ClaimRow {
    fn claimed(&self) -> Result<Claimed, sqlx::Error>;
}

macro_rules! impl_claim_row {
    ($row:ty) => {
        impl ClaimRow for $row {
            fn claimed(&self) -> Result<Claimed, sqlx::Error> {
                let recipients: String = self.try_get("recipients")?;
                let attempts: i32 = self.try_get("attempts")?;
                let resends: i32 = self.try_get("resends")?;
                Ok(Claimed {
                    id: self.try_get("id")?,
                    message_id: self.try_get("message_id")?,
                    kind: self.try_get("kind")?,
                    sender: self.try_get("sender")?,
                    recipients: serde_json::from_str(&recipients).unwrap_or_default(),
                    bytes: self.try_get("message")?,
                    attempts: attempts.into(),
                    tried_since: self.try_get("tried_since")?,
                    resends: resends.into(),
                })
            }
        }
    };
}
impl_claim_row!(sqlx::sqlite::SqliteRow);
impl_claim_row!(sqlx::postgres::PgRow);

impl Store {
    /// Claims the next row due by `due_by` (or whose lease expired by `now`) for `worker`, until
    /// `lease_until`. `None`: nothing to send.
    pub async fn claim_outbox(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        due_by: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<Claimed>, StoreError> {
        match &self.db {
            Db::Postgres(pool) => {
                let sql = format!(
                    "UPDATE outbox SET status = 'sending', lease_owner = $1, lease_until = $2,
                       attempts = attempts + 1
                     WHERE id = (SELECT id FROM outbox WHERE {CLAIM_WHERE}
                                 ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                     {CLAIM_RETURNING}"
                );
                let row = sqlx::query(&sql)
                    .bind(worker)
                    .bind(lease_until)
                    .bind(due_by)
                    .bind(now)
                    .fetch_optional(pool)
                    .await?;
                Ok(row.as_ref().map(claimed).transpose()?)
            }
            Db::Sqlite(pool) => {
                let sql = format!(
                    "UPDATE outbox SET status = 'sending', lease_owner = $1, lease_until = $2,
                       attempts = attempts + 1
                     WHERE id = (SELECT id FROM outbox WHERE {CLAIM_WHERE}
                                 ORDER BY next_attempt_at, id LIMIT 1)
                     {CLAIM_RETURNING}"
                );
                let mut tx = pool.begin_write("agency-portal:outbox").await?;
                let row = sqlx::query(&sql)
                    .bind(worker)
                    .bind(lease_until)
                    .bind(due_by)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(row.as_ref().map(claimed).transpose()?)
            }
        }
    }

    /// Marks a claimed row sent. `false` when `worker` no longer held the lease.
    pub async fn outbox_sent(
        &self,
        id: i64,
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            let done = sqlx::query(
                "UPDATE outbox SET status = 'sent', sent_at = $3, lease_owner = NULL,
                   lease_until = NULL, last_error = ''
                 WHERE id = $1 AND lease_owner = $2 AND status = 'sending'",
            )
            .bind(id)
            .bind(worker)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// A temporary failure: back to `pending`, due again at `next_attempt_at`.
    pub async fn outbox_retry(
        &self,
        id: i64,
        worker: &str,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            let done = sqlx::query(
                "UPDATE outbox SET status = 'pending', next_attempt_at = $3, lease_owner = NULL,
                   lease_until = NULL, last_error = $4
                 WHERE id = $1 AND lease_owner = $2 AND status = 'sending'",
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

    /// A permanent failure: the row is marked `failed` and, in the same transaction, the alert
    /// `make_alert(active owners)` returns (if any) is enqueued. `false` when the lease was lost.
    pub async fn outbox_failed<F>(
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
                "UPDATE outbox SET status = 'failed', lease_owner = NULL, lease_until = NULL,
                   last_error = $3, sent_at = NULL, next_attempt_at = $4
                 WHERE id = $1 AND lease_owner = $2 AND status = 'sending'",
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
                enqueue(&mut *tx, &alert, now).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Enqueues one alert to the active owners for an invalid directory file (SPEC §3.2 "Reload"),
    /// once per file content: `Ok(false)` when this content was alerted before or there is no owner.
    pub async fn alert_invalid_directory(
        &self,
        composer: &crate::mail::Composer,
        file: &str,
        sha256: &str,
        problems: &crate::check::Problems,
        now: DateTime<Utc>,
    ) -> Result<bool, crate::mail::MailError> {
        let told = self
            .alert_owners(now, |owners| {
                composer.directory_alert(owners, file, sha256, problems)
            })
            .await?;
        if told.is_none() {
            tracing::warn!("the directory file {file} is invalid and no owner is known to tell");
        }
        Ok(told == Some(true))
    }

    /// Enqueues one alert to the active owners for a drop folder that cannot be used (SPEC §4.2
    /// (r2)), once per folder: `Ok(false)` when it was alerted before or there is no owner.
    pub async fn alert_broken_drop_folder(
        &self,
        composer: &crate::mail::Composer,
        folder: &str,
        why: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, crate::mail::MailError> {
        let told = self
            .alert_owners(now, |owners| {
                composer.drop_folder_alert(owners, folder, why)
            })
            .await?;
        Ok(told == Some(true))
    }

    /// Enqueues the alert `make` writes to the active owners: `None` when there is no owner,
    /// `Some(false)` when its dedupe key was enqueued before.
    async fn alert_owners(
        &self,
        now: DateTime<Utc>,
        make: impl FnOnce(&[Address]) -> Result<Outgoing, crate::mail::MailError>,
    ) -> Result<Option<bool>, crate::mail::MailError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let owners = active_owners(&mut *tx).await?;
            if owners.is_empty() {
                tx.rollback().await?;
                return Ok(None);
            }
            let msg = make(&owners)?;
            let id = enqueue(&mut *tx, &msg, now).await?;
            tx.commit().await?;
            Ok(Some(id.is_some()))
        })
    }

    /// Every outbox row, oldest first (no message bytes).
    pub async fn outbox_rows(&self) -> Result<Vec<OutboxRow>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT id, message_id, kind, dedupe_key, recipients, status, attempts, last_error,
                   created_at, sent_at, resends, resent_at
                 FROM outbox ORDER BY id",
            )
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let recipients: String = row.try_get("recipients")?;
                let attempts: i32 = row.try_get("attempts")?;
                let resends: i32 = row.try_get("resends")?;
                out.push(OutboxRow {
                    id: row.try_get("id")?,
                    message_id: row.try_get("message_id")?,
                    kind: row.try_get("kind")?,
                    dedupe_key: row.try_get("dedupe_key")?,
                    recipients: serde_json::from_str(&recipients).unwrap_or_default(),
                    status: row.try_get("status")?,
                    attempts: attempts.into(),
                    last_error: row.try_get("last_error")?,
                    created_at: row.try_get("created_at")?,
                    sent_at: row.try_get("sent_at")?,
                    resends: resends.into(),
                    resent_at: row.try_get("resent_at")?,
                });
            }
            Ok(out)
        })
    }

    /// `outbox resend ID` (SPEC §9 (r2)): a failed message back to `pending`, due at `now`.
    pub async fn outbox_resend(&self, id: i64, now: DateTime<Utc>) -> Result<Resend, StoreError> {
        on_pool!(self, |pool| {
            let done = sqlx::query(&format!("{RESEND} WHERE id = $2 AND status = 'failed'"))
                .bind(now)
                .bind(id)
                .execute(pool)
                .await?;
            if done.rows_affected() == 1 {
                return Ok(Resend::Resent);
            }
            let status: Option<String> =
                sqlx::query_scalar("SELECT status FROM outbox WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
            Ok(match status {
                None => Resend::NotFound,
                Some(s) => Resend::NotFailed(s),
            })
        })
    }

    /// `outbox resend --failed`: every failed message back to `pending`; their ids, in order.
    pub async fn outbox_resend_failed(&self, now: DateTime<Utc>) -> Result<Vec<i64>, StoreError> {
        on_pool!(self, |pool| {
            let mut ids: Vec<i64> =
                sqlx::query_scalar(&format!("{RESEND} WHERE status = 'failed' RETURNING id"))
                    .bind(now)
                    .fetch_all(pool)
                    .await?;
            ids.sort_unstable();
            Ok(ids)
        })
    }

    /// The stored bytes of one message (what the worker sends).
    pub async fn outbox_message(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        on_pool!(self, |pool| {
            Ok(
                sqlx::query_scalar("SELECT message FROM outbox WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    /// Enqueues one message in a transaction of its own (tools, tests, digests sent now).
    pub async fn enqueue_now(
        &self,
        msg: &Outgoing,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let id = enqueue(&mut *tx, msg, now).await?;
            tx.commit().await?;
            Ok(id)
        })
    }
}
