//! What an intake needs to finish, after a restart, a file whose submission was already recorded
//! (SPEC §4.2: "a crash between the two is finished on restart, never redone").

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{on_pool, Store, StoreError};
use crate::outcome::Outcome;
use crate::submission::{Channel, RowOutcome};

/// A failed submission as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedSubmission {
    pub id: i64,
    pub reason: String,
    pub received_at: DateTime<Utc>,
}

impl Store {
    /// The row outcomes recorded for a submission, in input order (as review decisions left them).
    pub async fn recorded_outcomes(
        &self,
        submission_id: i64,
    ) -> Result<Vec<RowOutcome>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT row_number, outcome, reason, candidate_id, same_as_row
                 FROM submission_rows WHERE submission_id = $1 ORDER BY id",
            )
            .bind(submission_id)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let outcome: String = r.try_get("outcome")?;
                let number: i64 = r.try_get("row_number")?;
                let same: Option<i64> = r.try_get("same_as_row")?;
                out.push(RowOutcome {
                    number: number as u32,
                    outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Invalid),
                    reason: crate::i18n::Reason::stored(r.try_get("reason")?),
                    candidate_id: r.try_get("candidate_id")?,
                    same_as_row: same.map(|n| n as u32),
                });
            }
            Ok(out)
        })
    }

    /// The latest failed submission of this agency's file (same name and bytes) received at or
    /// after `since` — for an upload, the last change of the file: such a record was made for this
    /// very upload, by a run that stopped before moving it.
    pub async fn failed_submission_since(
        &self,
        channel: Channel,
        agency_id: &str,
        file_name: &str,
        sha256: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<FailedSubmission>, StoreError> {
        let found: Vec<FailedSubmission> = on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT id, reason, received_at FROM submissions
                 WHERE channel = $1 AND agency_id = $2 AND file_name = $3 AND sha256 = $4
                   AND status = 'failed'
                 ORDER BY id DESC LIMIT 20",
            )
            .bind(channel.as_str())
            .bind(agency_id)
            .bind(file_name)
            .bind(sha256)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(FailedSubmission {
                    id: r.try_get("id")?,
                    reason: r.try_get("reason")?,
                    received_at: r.try_get("received_at")?,
                });
            }
            Ok::<_, StoreError>(out)
        })?;
        Ok(found.into_iter().find(|f| f.received_at >= since))
    }
}
