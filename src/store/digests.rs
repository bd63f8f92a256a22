//! What the digests read (SPEC §8), as plain rows, and the claim of one (digest, fire time) that
//! makes each scheduled digest sent exactly once (table `digest_runs`, migration 0005).
//!
//! Every query takes the period as `(since, until]` and, where a digest is about one agency, filters
//! by that agency **in SQL**: an agency's digest never even reads another agency's rows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{on_pool, outbox, Store, StoreError, WritePool};
use crate::mail::Outgoing;

/// One submission in a digest's period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubmissionRow {
    pub id: i64,
    pub agency_id: Option<String>,
    pub user_email: Option<String>,
    pub channel: String,
    pub file_name: String,
    pub received_at: DateTime<Utc>,
    /// `processed` | `failed`
    pub status: String,
    pub reason: String,
    pub rows: i64,
    /// Rows per outcome, in [`crate::outcome::Outcome::ALL`] order.
    pub counts: [i64; 7],
}

/// How many rows of one agency had one outcome for one campaign in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignOutcome {
    pub agency_id: Option<String>,
    pub campaign_id: Option<String>,
    pub outcome: String,
    pub rows: i64,
}

/// An ownership (a candidate credited to an agency) with the candidate's display values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnershipRow {
    pub candidate_id: i64,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub agency_id: String,
    pub user_email: Option<String>,
    pub campaign_id: Option<String>,
    pub started_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub erased: bool,
}

/// A review row an owner decided (SPEC §7 (r2)), for the agency digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewDecisionRow {
    pub agency_id: String,
    pub user_email: Option<String>,
    pub file_name: String,
    pub row_number: i64,
    /// The person's name as the agency sent it.
    pub name: String,
    /// `new` (accepted) or `duplicate` (rejected).
    pub outcome: String,
    pub reviewed_at: DateTime<Utc>,
}

/// A message of the intake mailbox that was rejected (unknown or unauthenticated sender) or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerRow {
    pub sender: String,
    pub subject: String,
    /// `rejected` | `failed`
    pub status: String,
    pub reason: String,
    pub finished_at: DateTime<Utc>,
}

/// A message we could not deliver (permanent failure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedSend {
    pub id: i64,
    pub kind: String,
    pub recipients: Vec<String>,
    pub error: String,
    pub failed_at: DateTime<Utc>,
}

/// An active user of an active agency, as the database has it (the directory's users and the ones
/// invited by email).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyUserRow {
    pub email: String,
    pub name: String,
    /// `admin` | `editor`
    pub role: String,
    pub agency_id: String,
}

/// Who a digest's rows are limited to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope<'a> {
    /// Only this agency's rows.
    pub agency: Option<&'a str>,
    /// Only this submitting user's rows (an editor's own digest).
    pub user: Option<&'a str>,
}

const LOCK: &str = "agency-portal:digests";

impl Store {
    /// Submissions received in `(since, until]` (agencies' only: not the company's own imports).
    pub async fn digest_submissions(
        &self,
        scope: Scope<'_>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<SubmissionRow>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT * FROM submissions
                 WHERE agency_id IS NOT NULL AND received_at > $1 AND received_at <= $2
                   AND ($3 IS NULL OR agency_id = $3) AND ($4 IS NULL OR user_email = $4)
                 ORDER BY received_at, id",
            )
            .bind(since)
            .bind(until)
            .bind(scope.agency)
            .bind(scope.user)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let mut counts = [0i64; 7];
                for (n, o) in counts.iter_mut().zip(crate::outcome::Outcome::ALL) {
                    *n = r.try_get(format!("n_{}", o.as_str()).as_str())?;
                }
                out.push(SubmissionRow {
                    id: r.try_get("id")?,
                    agency_id: r.try_get("agency_id")?,
                    user_email: r.try_get("user_email")?,
                    channel: r.try_get("channel")?,
                    file_name: r.try_get("file_name")?,
                    received_at: r.try_get("received_at")?,
                    status: r.try_get("status")?,
                    reason: r.try_get("reason")?,
                    rows: r.try_get("rows")?,
                    counts,
                });
            }
            Ok(out)
        })
    }

    /// Rows per (agency, campaign, outcome) of the submissions received in `(since, until]`.
    pub async fn digest_campaign_outcomes(
        &self,
        scope: Scope<'_>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<CampaignOutcome>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT s.agency_id, r.campaign_id, r.outcome, COUNT(*) AS n
                 FROM submission_rows r JOIN submissions s ON s.id = r.submission_id
                 WHERE s.agency_id IS NOT NULL AND s.received_at > $1 AND s.received_at <= $2
                   AND ($3 IS NULL OR s.agency_id = $3) AND ($4 IS NULL OR s.user_email = $4)
                 GROUP BY s.agency_id, r.campaign_id, r.outcome
                 ORDER BY s.agency_id, r.campaign_id, r.outcome",
            )
            .bind(since)
            .bind(until)
            .bind(scope.agency)
            .bind(scope.user)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(CampaignOutcome {
                        agency_id: r.try_get("agency_id")?,
                        campaign_id: r.try_get("campaign_id")?,
                        outcome: r.try_get("outcome")?,
                        rows: r.try_get("n")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    /// Review rows of an agency decided by an owner in `(since, until]`, oldest first.
    pub async fn digest_review_decisions(
        &self,
        scope: Scope<'_>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<ReviewDecisionRow>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT s.agency_id, s.user_email, s.file_name, r.row_number, r.person, r.outcome,
                   r.reviewed_at
                 FROM submission_rows r JOIN submissions s ON s.id = r.submission_id
                 WHERE r.reviewed_at IS NOT NULL AND r.reviewed_at > $1 AND r.reviewed_at <= $2
                   AND s.agency_id IS NOT NULL
                   AND ($3 IS NULL OR s.agency_id = $3) AND ($4 IS NULL OR s.user_email = $4)
                 ORDER BY r.reviewed_at, r.id",
            )
            .bind(since)
            .bind(until)
            .bind(scope.agency)
            .bind(scope.user)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let person: Option<String> = r.try_get("person")?;
                    Ok(ReviewDecisionRow {
                        agency_id: r.try_get("agency_id")?,
                        user_email: r.try_get("user_email")?,
                        file_name: r.try_get("file_name")?,
                        row_number: r.try_get("row_number")?,
                        name: super::review::name_sent(person.as_deref()),
                        outcome: r.try_get("outcome")?,
                        reviewed_at: r.try_get("reviewed_at")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    /// Candidates credited to an agency whose ownership started in `(since, until]` (the new
    /// candidates), or — with `expiring` — current ownerships that end in `(since, until]`.
    pub async fn digest_ownerships(
        &self,
        scope: Scope<'_>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        expiring: bool,
    ) -> Result<Vec<OwnershipRow>, StoreError> {
        let sql = format!(
            "SELECT o.candidate_id, c.first_name, c.last_name, c.email, c.phone, c.erased_at,
               o.agency_id, o.user_email, o.campaign_id, o.started_at, o.expires_at
             FROM ownerships o JOIN candidates c ON c.id = o.candidate_id
             WHERE o.agency_id IS NOT NULL AND {}
               AND ($3 IS NULL OR o.agency_id = $3) AND ($4 IS NULL OR o.user_email = $4)
             ORDER BY {}, o.id",
            if expiring {
                "o.superseded_at IS NULL AND o.expires_at > $1 AND o.expires_at <= $2"
            } else {
                "o.started_at > $1 AND o.started_at <= $2"
            },
            if expiring {
                "o.expires_at"
            } else {
                "o.started_at"
            }
        );
        on_pool!(self, |pool| {
            let rows = sqlx::query(&sql)
                .bind(since)
                .bind(until)
                .bind(scope.agency)
                .bind(scope.user)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    let erased: Option<DateTime<Utc>> = r.try_get("erased_at")?;
                    Ok(OwnershipRow {
                        candidate_id: r.try_get("candidate_id")?,
                        first_name: r.try_get("first_name")?,
                        last_name: r.try_get("last_name")?,
                        email: r.try_get("email")?,
                        phone: r.try_get("phone")?,
                        agency_id: r.try_get("agency_id")?,
                        user_email: r.try_get("user_email")?,
                        campaign_id: r.try_get("campaign_id")?,
                        started_at: r.try_get("started_at")?,
                        expires_at: r.try_get("expires_at")?,
                        erased: erased.is_some(),
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    /// When each agency's candidates were credited, from `since` on (the chart; no personal data).
    pub async fn digest_new_times(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT agency_id, started_at FROM ownerships
                 WHERE agency_id IS NOT NULL AND started_at > $1 AND started_at <= $2",
            )
            .bind(since)
            .bind(until)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("agency_id")?, r.try_get("started_at")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    /// Intake mail that finished `rejected` or `failed` in `(since, until]`.
    pub async fn digest_mail_problems(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<LedgerRow>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT sender, subject, status, reason, finished_at FROM mail_ledger
                 WHERE status IN ('rejected', 'failed') AND finished_at > $1 AND finished_at <= $2
                 ORDER BY finished_at, id",
            )
            .bind(since)
            .bind(until)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(LedgerRow {
                        sender: r.try_get("sender")?,
                        subject: r.try_get("subject")?,
                        status: r.try_get("status")?,
                        reason: r.try_get("reason")?,
                        finished_at: r.try_get("finished_at")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    /// Messages that failed permanently in `(since, until]`.
    pub async fn digest_failed_sends(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<FailedSend>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT id, kind, recipients, last_error, next_attempt_at FROM outbox
                 WHERE status = 'failed' AND next_attempt_at > $1 AND next_attempt_at <= $2
                 ORDER BY next_attempt_at, id",
            )
            .bind(since)
            .bind(until)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let recipients: String = r.try_get("recipients")?;
                    Ok(FailedSend {
                        id: r.try_get("id")?,
                        kind: r.try_get("kind")?,
                        recipients: serde_json::from_str(&recipients).unwrap_or_default(),
                        error: r.try_get("last_error")?,
                        failed_at: r.try_get("next_attempt_at")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    /// Active users of active agencies (directory and invited), by agency then email.
    pub async fn digest_agency_users(&self) -> Result<Vec<AgencyUserRow>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT u.email, u.name, u.role, u.agency_id FROM agency_users u
                 JOIN agencies a ON a.id = u.agency_id
                 WHERE u.active AND a.active ORDER BY u.agency_id, u.email",
            )
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(AgencyUserRow {
                        email: r.try_get("email")?,
                        name: r.try_get("name")?,
                        role: r.try_get("role")?,
                        agency_id: r.try_get("agency_id")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    /// The addresses that turned the digest `kind` off (`unsubscribe`, migration 0016).
    pub async fn digest_unsubscribed(
        &self,
        kind: &str,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        on_pool!(self, |pool| {
            let rows: Vec<String> =
                sqlx::query_scalar("SELECT email FROM digest_unsubscribes WHERE kind = $1")
                    .bind(kind)
                    .fetch_all(pool)
                    .await?;
            Ok(rows.into_iter().collect())
        })
    }

    /// The latest fire time of `digest_key` that was sent, at or before `at`.
    pub async fn digest_last_fire(
        &self,
        digest_key: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_scalar(
                "SELECT fire_time FROM digest_runs WHERE digest_key = $1 AND fire_time <= $2
                 ORDER BY fire_time DESC LIMIT 1",
            )
            .bind(digest_key)
            .bind(at)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// How many times each fire of `digest_key` was claimed (tests, `digest` tools): (fire, messages).
    pub async fn digest_runs(
        &self,
        digest_key: &str,
    ) -> Result<Vec<(DateTime<Utc>, i64)>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT fire_time, messages FROM digest_runs WHERE digest_key = $1 ORDER BY fire_time",
            )
            .bind(digest_key)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("fire_time")?, r.try_get("messages")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    /// Claims `(digest_key, fire)` and writes `messages` to the outbox, in one transaction.
    /// `Ok(None)`: another daemon claimed this fire first; nothing was written.
    /// `Ok(Some(n))`: claimed; `n` messages enqueued (a message whose dedupe key exists is skipped).
    pub async fn claim_digest(
        &self,
        digest_key: &str,
        fire: DateTime<Utc>,
        since: DateTime<Utc>,
        claimed_by: &str,
        messages: &[Outgoing],
        now: DateTime<Utc>,
    ) -> Result<Option<usize>, StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write(LOCK).await?;
            let claimed: Option<i64> = sqlx::query_scalar(
                "INSERT INTO digest_runs (digest_key, fire_time, since, claimed_at, claimed_by, messages)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (digest_key, fire_time) DO NOTHING
                 RETURNING id",
            )
            .bind(digest_key)
            .bind(fire)
            .bind(since)
            .bind(now)
            .bind(claimed_by)
            .bind(messages.len() as i64)
            .fetch_optional(&mut *tx)
            .await?;
            if claimed.is_none() {
                tx.rollback().await?;
                return Ok(None);
            }
            let mut n = 0;
            for msg in messages {
                if outbox::enqueue(&mut *tx, msg, now).await?.is_some() {
                    n += 1;
                }
            }
            tx.commit().await?;
            Ok(Some(n))
        })
    }
}
