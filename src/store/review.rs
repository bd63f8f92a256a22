//! The review queue (SPEC §6.4 `review`, §9 `agency-portal review`): rows that are possibly the same
//! person as someone known wait for an owner. `accept` makes the row `new` (a new candidate owned by
//! the submitting agency from the submission's time); `reject` makes it `duplicate`.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::Row;

use super::submissions::{Rules, WriteBlocks};
use super::{on_pool, Store, StoreError, WritePool};
use crate::decide::scope_key;
use crate::validation::Candidate;
use crate::who_is_who;

const LOCK: &str = "agency-portal:submissions";

/// One pending review item (JSON keys of `review list --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewItem {
    /// The ROW-ID to accept or reject.
    pub row_id: i64,
    pub submission_id: i64,
    pub agency: Option<String>,
    pub file: String,
    pub row: i64,
    pub reason: String,
    /// The registered candidate this row may be.
    pub candidate_id: Option<i64>,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("row {0} is not waiting for review: see `agency-portal review list`")]
    NotPending(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ReviewError {
    fn from(e: sqlx::Error) -> Self {
        ReviewError::Store(StoreError::Sql(e))
    }
}

/// How a review ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A different person: the row becomes `new`; the new candidate's id.
    Accepted { candidate_id: i64 },
    /// The same person: the row becomes `duplicate`.
    Rejected,
}

impl Store {
    pub async fn review_queue(&self) -> Result<Vec<ReviewItem>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT r.id, r.submission_id, s.agency_id, s.file_name, r.row_number, r.reason,
                   r.candidate_id, r.person, s.received_at
                 FROM submission_rows r JOIN submissions s ON s.id = r.submission_id
                 WHERE r.review_state = 'pending' ORDER BY r.id",
            )
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let person: Option<String> = r.try_get("person")?;
                let c: Candidate = person
                    .and_then(|p| serde_json::from_str(&p).ok())
                    .unwrap_or_default();
                out.push(ReviewItem {
                    row_id: r.try_get("id")?,
                    submission_id: r.try_get("submission_id")?,
                    agency: r.try_get("agency_id")?,
                    file: r.try_get("file_name")?,
                    row: r.try_get("row_number")?,
                    reason: r.try_get("reason")?,
                    candidate_id: r.try_get("candidate_id")?,
                    name: format!("{} {}", c.first_name.display, c.last_name.display)
                        .trim()
                        .to_string(),
                    email: c.email,
                    phone: c.phone,
                    received_at: r.try_get("received_at")?,
                });
            }
            Ok(out)
        })
    }

    /// Accepts (`new`) or rejects (`duplicate`) a pending review row.
    pub async fn decide_review(
        &self,
        row_id: i64,
        accept: bool,
        rules: Rules,
        now: DateTime<Utc>,
    ) -> Result<Verdict, ReviewError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write(LOCK).await?;
            let row = sqlx::query(
                "SELECT r.submission_id, r.row_number, r.campaign_id, r.person, s.agency_id,
                   s.user_email, s.channel, s.received_at
                 FROM submission_rows r JOIN submissions s ON s.id = r.submission_id
                 WHERE r.id = $1 AND r.review_state = 'pending'",
            )
            .bind(row_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(ReviewError::NotPending(row_id))?;
            let submission_id: i64 = row.try_get("submission_id")?;
            let (outcome, state, counter) = if accept {
                ("new", "accepted", "n_new")
            } else {
                ("duplicate", "rejected", "n_duplicate")
            };
            let verdict = if accept {
                let person: Option<String> = row.try_get("person")?;
                let c: Candidate = person
                    .and_then(|p| serde_json::from_str(&p).ok())
                    .unwrap_or_default();
                // A key another candidate already has stays with them (the contact is kept for
                // display only): the accepted row is a different person.
                let mut keys = [c.email_key.clone(), c.phone_key.clone()];
                for (key, column) in keys.iter_mut().zip(["email_key", "phone_key"]) {
                    if let Some(k) = key.as_ref() {
                        let sql = format!("SELECT COUNT(*) FROM candidates WHERE {column} = $1");
                        let n: i64 = sqlx::query_scalar(&sql).bind(k).fetch_one(&mut *tx).await?;
                        if n > 0 {
                            *key = None;
                        }
                    }
                }
                let [email_key, phone_key] = keys;
                let candidate_id: i64 = sqlx::query_scalar(
                    "INSERT INTO candidates (first_name, last_name, first_key, last_key, email,
                       email_key, phone, phone_key, custom, source, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'agency', $10, $10) RETURNING id",
                )
                .bind(&c.first_name.display)
                .bind(&c.last_name.display)
                .bind(&c.first_name.key)
                .bind(&c.last_name.key)
                .bind(&c.email)
                .bind(&email_key)
                .bind(&c.phone)
                .bind(&phone_key)
                .bind(serde_json::to_string(&c.custom).unwrap_or_default())
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                let identity = who_is_who::Identity {
                    first: c.first_name.key.clone(),
                    last: c.last_name.key.clone(),
                    email_key,
                    phone_key,
                };
                let mut blocks = tx.new_blocks();
                blocks.push(&identity, candidate_id);
                tx.insert_blocks(&mut blocks).await?;
                let received_at: DateTime<Utc> = row.try_get("received_at")?;
                let campaign: Option<String> = row.try_get("campaign_id")?;
                sqlx::query(
                    "INSERT INTO ownerships (candidate_id, scope_key, agency_id, user_email, channel,
                       submission_id, row_number, campaign_id, started_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(candidate_id)
                .bind(scope_key(rules.scope, campaign.as_deref()))
                .bind(row.try_get::<Option<String>, _>("agency_id")?)
                .bind(row.try_get::<Option<String>, _>("user_email")?)
                .bind(row.try_get::<String, _>("channel")?)
                .bind(submission_id)
                .bind(row.try_get::<i64, _>("row_number")?)
                .bind(&campaign)
                .bind(received_at)
                .bind(received_at + Duration::days(i64::from(rules.ownership_days)))
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE submission_rows SET candidate_id = $2 WHERE id = $1")
                    .bind(row_id)
                    .bind(candidate_id)
                    .execute(&mut *tx)
                    .await?;
                Verdict::Accepted { candidate_id }
            } else {
                Verdict::Rejected
            };
            sqlx::query(
                "UPDATE submission_rows SET outcome = $2, review_state = $3, reason = $4 WHERE id = $1",
            )
            .bind(row_id)
            .bind(outcome)
            .bind(state)
            .bind(if accept {
                ""
            } else {
                crate::decide::reasons::DUPLICATE
            })
            .execute(&mut *tx)
            .await?;
            let sql = format!(
                "UPDATE submissions SET n_review = n_review - 1, {counter} = {counter} + 1 WHERE id = $1"
            );
            sqlx::query(&sql)
                .bind(submission_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(verdict)
        })
    }
}
