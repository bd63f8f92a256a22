//! Candidates and submissions as owners see them (SPEC §9), and erasing a person's personal data
//! (§6.5 `erase`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::Row;

use super::submissions::WriteBlocks;
use super::{on_pool, Db, Store, StoreError, WritePool};

/// One candidate with its current owner in one scope (`candidates --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateView {
    pub id: i64,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The owning agency; `None` for the company's own pipeline or nobody.
    pub agency: Option<String>,
    pub campaign: Option<String>,
    pub owned_since: Option<DateTime<Utc>>,
    pub owned_until: Option<DateTime<Utc>>,
    pub source: String,
    pub created_at: DateTime<Utc>,
    /// The Talkpush state of the candidate in its campaign (SPEC §11): `pending`,
    /// `synced <lead id>`, `failed <reason>`; `None` when it was never queued.
    pub talkpush: Option<String>,
}

/// One submission (`submissions --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubmissionView {
    pub id: i64,
    pub channel: String,
    pub sender: String,
    pub agency: Option<String>,
    pub file: String,
    pub sha256: String,
    pub received_at: DateTime<Utc>,
    pub status: String,
    pub reason: String,
    pub rows: i64,
    pub counts: serde_json::Map<String, serde_json::Value>,
}

/// What `erase` found and cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Erased {
    pub candidates: u64,
    pub rows: u64,
}

fn day_start(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

impl Store {
    pub async fn candidates_view(
        &self,
        agency: Option<&str>,
        campaign: Option<&str>,
        since: Option<NaiveDate>,
    ) -> Result<Vec<CandidateView>, StoreError> {
        let since = since.map(day_start);
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT c.id, c.first_name, c.last_name, c.email, c.phone, c.source, c.created_at,
                   o.agency_id, o.campaign_id, o.started_at, o.expires_at,
                   t.status AS t_status, t.lead_id AS t_lead, t.last_error AS t_error
                 FROM candidates c
                 LEFT JOIN ownerships o ON o.candidate_id = c.id AND o.superseded_at IS NULL
                 LEFT JOIN talkpush_pushes t ON t.candidate_id = c.id
                   AND t.campaign_id = o.campaign_id
                 WHERE c.erased_at IS NULL
                   AND ($1 IS NULL OR o.agency_id = $1)
                   AND ($2 IS NULL OR o.campaign_id = $2)
                   AND ($3 IS NULL OR c.created_at >= $3)
                 ORDER BY c.id, o.started_at",
            )
            .bind(agency)
            .bind(campaign)
            .bind(since)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(CandidateView {
                    id: r.try_get("id")?,
                    first_name: r.try_get("first_name")?,
                    last_name: r.try_get("last_name")?,
                    email: r.try_get("email")?,
                    phone: r.try_get("phone")?,
                    agency: r.try_get("agency_id")?,
                    campaign: r.try_get("campaign_id")?,
                    owned_since: r.try_get("started_at")?,
                    owned_until: r.try_get("expires_at")?,
                    source: r.try_get("source")?,
                    created_at: r.try_get("created_at")?,
                    talkpush: r.try_get::<Option<String>, _>("t_status")?.map(|status| {
                        super::talkpush::state_text(
                            &status,
                            r.try_get::<Option<String>, _>("t_lead")
                                .ok()
                                .flatten()
                                .as_deref(),
                            &r.try_get::<Option<String>, _>("t_error")
                                .ok()
                                .flatten()
                                .unwrap_or_default(),
                        )
                    }),
                });
            }
            Ok(out)
        })
    }

    pub async fn submissions_view(
        &self,
        agency: Option<&str>,
        since: Option<NaiveDate>,
    ) -> Result<Vec<SubmissionView>, StoreError> {
        let since = since.map(day_start);
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT * FROM submissions
                 WHERE ($1 IS NULL OR agency_id = $1) AND ($2 IS NULL OR received_at >= $2)
                 ORDER BY received_at, id",
            )
            .bind(agency)
            .bind(since)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let mut counts = serde_json::Map::new();
                for o in crate::outcome::Outcome::ALL {
                    let n: i64 = r.try_get(format!("n_{}", o.as_str()).as_str())?;
                    counts.insert(o.as_str().to_string(), n.into());
                }
                out.push(SubmissionView {
                    id: r.try_get("id")?,
                    channel: r.try_get("channel")?,
                    sender: r.try_get("sender")?,
                    agency: r.try_get("agency_id")?,
                    file: r.try_get("file_name")?,
                    sha256: r.try_get("sha256")?,
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

    /// Removes a person's personal data everywhere: the candidate's names and contacts, its block
    /// keys, and the cells of every row that named it (by candidate, or whose cells contain one of
    /// `needles`: the email or the phone as typed). The candidate row and its ownerships stay as an
    /// anonymous tombstone of the attribution. On SQLite the file is vacuumed so no copy remains on
    /// disk.
    pub async fn erase(
        &self,
        email_key: Option<&str>,
        phone_key: Option<&str>,
        needles: &[String],
        now: DateTime<Utc>,
    ) -> Result<Erased, StoreError> {
        let mut erased = Erased::default();
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write("agency-portal:submissions").await?;
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM candidates WHERE ($1 IS NOT NULL AND email_key = $1)
                   OR ($2 IS NOT NULL AND phone_key = $2)",
            )
            .bind(email_key)
            .bind(phone_key)
            .fetch_all(&mut *tx)
            .await?;
            for id in &ids {
                sqlx::query(
                    "UPDATE candidates SET first_name = '', last_name = '', first_key = '',
                       last_key = '', email = NULL, email_key = NULL, phone = NULL, phone_key = NULL,
                       custom = '[]', erased_at = $2, updated_at = $2
                     WHERE id = $1",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                erased.rows += sqlx::query(
                    "UPDATE submission_rows SET cells = '[]', person = NULL WHERE candidate_id = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            tx.delete_blocks_of(&ids).await?;
            erased.candidates = ids.len() as u64;
            for needle in needles.iter().filter(|n| n.len() >= 5) {
                let pattern = format!("%{}%", needle.to_lowercase());
                erased.rows += sqlx::query(
                    "UPDATE submission_rows SET cells = '[]', person = NULL
                     WHERE cells <> '[]' AND (LOWER(cells) LIKE $1 OR LOWER(COALESCE(person, '')) LIKE $1)",
                )
                .bind(&pattern)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            tx.commit().await?;
            Ok::<(), StoreError>(())
        })?;
        if let Db::Sqlite(pool) = &self.db {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await?;
            sqlx::query("VACUUM").execute(pool).await?;
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await?;
        }
        Ok(erased)
    }
}
