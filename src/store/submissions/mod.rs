//! Submissions in the database (SPEC §6.4, §6.5): gather what is known about a file's people, decide,
//! and record the submission, its rows, new candidates and ownerships in one transaction.
//!
//! Every file is decided and written under one write lock (an advisory lock on Postgres, `BEGIN
//! IMMEDIATE` on SQLite), reading the database after taking it; the unique indexes on email and phone
//! keys and on the current ownership of a person in a scope make a second `new` impossible even if
//! that were bypassed. Work is batched: lookups and inserts go in chunks, never a round trip per row.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sqlx::Row;

use super::{on_pool, Store, StoreError, WritePool};
use crate::decide::{self, Policy};
use crate::rows::PreparedRow;
use crate::submission::{counts, RowOutcome, Rules, SubmissionMeta};
use crate::submission::{inputs, outcomes};

const LOCK: &str = "agency-portal:submissions";

/// Bound parameters per statement, under SQLite's and Postgres' limits.
const MAX_PARAMS: usize = 30_000;

/// What became of a submission.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// Decided (and, unless it was a check, written).
    Decided {
        submission_id: Option<i64>,
        rows: Vec<RowOutcome>,
    },
    /// The same file was already processed for this agency: nothing changed.
    AlreadyProcessed { submission_id: i64 },
}

/// Builds the receipt of a submission inside its transaction, from its id and outcomes; `Ok(None)`:
/// no receipt. An error rolls the submission back (nothing is recorded without its receipt).
pub type ReceiptMaker<'a> =
    dyn Fn(i64, &[RowOutcome]) -> Result<Option<crate::mail::Outgoing>, String> + Send + Sync + 'a;

/// Told every row's outcome (candidate ids included) as soon as they are known, before they are
/// written: the caller may start work of its own with them meanwhile (the results workbook), sharing
/// them rather than copying; they are handed back at the end (a copy only if still shared then).
pub type OnDecided<'a> = dyn Fn(&Arc<Vec<RowOutcome>>) + Send + Sync + 'a;

/// One ownership of a person, current or superseded (SPEC §6.5: attribution is never overwritten).
#[derive(Debug, Clone, PartialEq)]
pub struct OwnershipRecord {
    pub scope_key: String,
    /// `None`: the company's own pipeline.
    pub agency_id: Option<String>,
    pub user_email: Option<String>,
    pub channel: String,
    pub submission_id: Option<i64>,
    pub row_number: Option<i64>,
    pub started_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub superseded_at: Option<DateTime<Utc>>,
}

/// Rows written per statement: big enough that a statement's overhead is nothing, small enough
/// that a file's copy for the database never exists whole.
const WRITE_CHUNK: usize = 10_000;

/// Rows whose review-rule keys are made and looked up at a time: a 100,000-row file's (the
/// benchmark's) at once, a 199,000-row file's in two shares. The keys of a share take some 0.5 kB a
/// row (21 lookup keys and their text); all of a 199,000-row file's at once were 105 MB of its
/// peak. A later share reads again the stored blocks an earlier one read (the block index of
/// Postgres a bucket at a time), so shares are few.
const REVIEW_SHARE: usize = 100_000;

/// People read by id in one statement (a statement's array of ids is 0.8 MB).
const PEOPLE_CHUNK: usize = 100_000;

/// Logs how long each phase of recording a submission took (debug level; counts only, no row data).
struct Phases {
    start: std::time::Instant,
    last: std::time::Instant,
}

impl Phases {
    fn new() -> Phases {
        let now = std::time::Instant::now();
        Phases {
            start: now,
            last: now,
        }
    }

    fn done(&mut self, phase: &str, items: usize) {
        let now = std::time::Instant::now();
        tracing::debug!(
            phase,
            items,
            ms = (now - self.last).as_millis() as u64,
            total_ms = (now - self.start).as_millis() as u64,
            rss_mib = crate::memory::resident_mib(),
            "record_submission"
        );
        self.last = now;
    }
}

/// `$query` with a submission's own columns ([`SubmissionMeta`]) bound as `$1` to `$7`: channel,
/// sender, agency (`NULLIF($3, '')` in the statement: none for the company's own import), user,
/// file name, SHA-256 and time received. A macro: each backend's query type is its own.
macro_rules! bind_meta {
    ($query:expr, $meta:expr) => {
        $query
            .bind($meta.channel.as_str())
            .bind(&$meta.sender)
            .bind(&$meta.agency_id)
            .bind(&$meta.user_email)
            .bind(&$meta.file_name)
            .bind(&$meta.sha256)
            .bind($meta.received_at)
    };
}

/// Runs `$body` once per chunk of `$items`, with `$qb` a query builder started with `$sql` and
/// followed by `IN (…chunk…)`; rows of every chunk are appended to the returned vector.
macro_rules! fetch_in {
    ($conn:expr, $sql:expr, $items:expr, |$row:ident| $map:expr) => {{
        let mut out = Vec::new();
        for chunk in $items.chunks(chunk_len(1)) {
            let mut qb = QueryBuilder::new($sql);
            qb.push(" IN (");
            let mut sep = qb.separated(", ");
            for item in chunk {
                sep.push_bind(item.clone());
            }
            qb.push(")");
            // Not kept in the connection's statement cache: one statement per chunk size.
            for $row in qb.build().persistent(false).fetch_all(&mut *$conn).await? {
                out.push($map);
            }
        }
        out
    }};
}
mod backend;
mod gather;
mod postgres;
mod records;
mod sqlite;
mod updates;
mod write;

pub(super) use backend::WriteBlocks;
use backend::{known_row, KNOWN_COLUMNS};
use gather::gather;

/// Candidates whose block keys are made per statement when the index is made again.
const REBUILD_CHUNK: i64 = 100_000;

impl Store {
    /// Makes the review rule's block index again from every candidate, once, when a migration
    /// asked for it (0015: the keys changed): under the submissions' write lock, in one transaction
    /// with the removal of the request, so that a second process waits and then finds it done.
    pub(super) async fn rebuild_blocks_if_pending(&self) -> Result<(), StoreError> {
        const PENDING: &str = "SELECT count(*) FROM block_index_rebuild";
        on_pool!(self, |pool| {
            let pending: i64 = sqlx::query_scalar(PENDING).fetch_one(pool).await?;
            if pending == 0 {
                return Ok(());
            }
            let mut tx = pool.begin_write(LOCK).await?;
            let pending: i64 = sqlx::query_scalar(PENDING).fetch_one(&mut *tx).await?;
            if pending == 0 {
                tx.rollback().await?;
                return Ok(());
            }
            tracing::info!("making the review rule's block index again (once, after an upgrade)");
            let (mut after, mut people) = (0i64, 0usize);
            loop {
                let chunk = sqlx::query(&format!(
                    "{KNOWN_COLUMNS}id > $1 ORDER BY id LIMIT {REBUILD_CHUNK}"
                ))
                .bind(after)
                .fetch_all(&mut *tx)
                .await?;
                let Some(last) = chunk.last() else { break };
                after = last.try_get(0)?;
                let mut blocks = tx.new_blocks();
                for row in &chunk {
                    let k = known_row(row)?;
                    blocks.push(&k.identity, k.id);
                }
                people += chunk.len();
                tx.insert_blocks(&mut blocks).await?;
            }
            sqlx::query("DELETE FROM block_index_rebuild")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(candidates = people, "block index made again");
            Ok(())
        })
    }

    /// Every ownership a person has had, oldest first.
    pub async fn ownership_history(
        &self,
        candidate_id: i64,
    ) -> Result<Vec<OwnershipRecord>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT scope_key, agency_id, user_email, channel, submission_id, row_number,
                   started_at, expires_at, superseded_at
                 FROM ownerships WHERE candidate_id = $1 ORDER BY started_at, id",
            )
            .bind(candidate_id)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(OwnershipRecord {
                    scope_key: r.try_get("scope_key")?,
                    agency_id: r.try_get("agency_id")?,
                    user_email: r.try_get("user_email")?,
                    channel: r.try_get("channel")?,
                    submission_id: r.try_get("submission_id")?,
                    row_number: r.try_get("row_number")?,
                    started_at: r.try_get("started_at")?,
                    expires_at: r.try_get("expires_at")?,
                    superseded_at: r.try_get("superseded_at")?,
                });
            }
            Ok(out)
        })
    }

    /// Records a file that could not be read (SPEC: every input ends in one recorded state).
    pub async fn record_failed_submission(
        &self,
        meta: &SubmissionMeta,
        reason: &str,
    ) -> Result<i64, StoreError> {
        on_pool!(self, |pool| {
            let id: Option<i64> = bind_meta!(
                sqlx::query_scalar(
                    "INSERT INTO submissions (channel, sender, agency_id, user_email, file_name,
                       sha256, received_at, status, reason, source_ref)
                     VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, $7, 'failed', $8, $9)
                     ON CONFLICT (source_ref) WHERE source_ref IS NOT NULL DO NOTHING
                     RETURNING id",
                ),
                meta
            )
            .bind(reason)
            .bind(&meta.source_ref)
            .fetch_optional(pool)
            .await?;
            match id {
                Some(id) => Ok(id),
                // This part was recorded before (a retry after a crash): that record stands.
                None => Ok(
                    sqlx::query_scalar("SELECT id FROM submissions WHERE source_ref = $1")
                        .bind(&meta.source_ref)
                        .fetch_one(pool)
                        .await?,
                ),
            }
        })
    }

    /// Decides a submission's rows and records everything in one transaction. With `check_only`
    /// the rows are decided against the database but nothing is written. `decided` hears the
    /// outcomes before they are written, `receipt` makes the receipt the transaction enqueues.
    pub async fn record_submission(
        &self,
        meta: &SubmissionMeta,
        rows: &[PreparedRow],
        rules: Rules,
        check_only: bool,
        decided: Option<&OnDecided<'_>>,
        receipt: Option<&ReceiptMaker<'_>>,
    ) -> Result<Recorded, StoreError> {
        let mut phases = Phases::new();
        let inputs = inputs(rows);
        let policy = Policy {
            scope: rules.scope,
            name_similarity: rules.name_similarity,
            agency_id: meta.agency_id.clone(),
            now: meta.received_at,
        };
        let expires_at = meta.received_at + Duration::days(i64::from(rules.ownership_days));
        on_pool!(self, |pool| {
            let mut tx = if check_only {
                pool.begin().await?
            } else {
                pool.begin_write(LOCK).await?
            };
            if let (false, Some(source_ref)) = (check_only, &meta.source_ref) {
                let done: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM submissions WHERE source_ref = $1")
                        .bind(source_ref)
                        .fetch_optional(&mut *tx)
                        .await?;
                if let Some(submission_id) = done {
                    tx.rollback().await?;
                    return Ok(Recorded::AlreadyProcessed { submission_id });
                }
            }
            if !check_only {
                let done: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM submissions WHERE agency_id = $1 AND sha256 = $2
                       AND status = 'processed'",
                )
                .bind(&meta.agency_id)
                .bind(&meta.sha256)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(submission_id) = done {
                    tx.rollback().await?;
                    return Ok(Recorded::AlreadyProcessed { submission_id });
                }
            }

            phases.done("lock", rows.len());
            // A second connection reads beside the transaction.
            let mut helper = pool.acquire().await?;
            let mut known = gather(&mut tx, &mut helper, &inputs, rules, &mut phases).await?;
            drop(helper);

            if check_only {
                let decisions = decide::decide(&inputs, &known, &policy);
                tx.rollback().await?;
                return Ok(Recorded::Decided {
                    submission_id: None,
                    rows: outcomes(rows, &decisions),
                });
            }
            // The submission first: what its rows lead to points at it. Its counts are set once
            // every row is decided.
            let submission_id: i64 = bind_meta!(
                sqlx::query_scalar(
                    "INSERT INTO submissions (channel, sender, agency_id, user_email, file_name,
                       sha256, received_at, status, rows, source_ref)
                     VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, $7, 'processed', $8, $9)
                     RETURNING id",
                ),
                meta
            )
            .bind(rows.len() as i64)
            .bind(&meta.source_ref)
            .fetch_one(&mut *tx)
            .await?;
            phases.done("submission", 1);

            let context = write::Context {
                rows,
                inputs: &inputs,
                known: &known,
                policy: &policy,
                rules,
                meta,
                submission_id,
                expires_at,
            };
            let (results, written) = write::decide_and_write(&mut tx, &context).await?;
            // Of what the database said only the people are needed from here on (the old keys of
            // a record that takes new ones). Deciding's own indexes of the file are free too: their
            // pages go back before the rest of the writes (and the results workbook, made meanwhile
            // on another thread) take more.
            known.by_email = HashMap::new();
            known.by_phone = HashMap::new();
            known.by_block = HashMap::new();
            crate::memory::give_back();
            phases.done("decided and written", rows.len());

            let results = Arc::new(results);
            if let Some(decided) = decided {
                decided(&results);
            }
            let n = counts(&results);
            sqlx::query(
                "UPDATE submissions SET n_new = $2, n_previously_submitted = $3, n_duplicate = $4,
                   n_blocked = $5, n_review = $6, n_repeated = $7, n_invalid = $8
                 WHERE id = $1",
            )
            .bind(submission_id)
            .bind(n[0] as i64)
            .bind(n[1] as i64)
            .bind(n[2] as i64)
            .bind(n[3] as i64)
            .bind(n[4] as i64)
            .bind(n[5] as i64)
            .bind(n[6] as i64)
            .execute(&mut *tx)
            .await?;
            phases.done("counts", 1);
            let at = meta.received_at;
            updates::keys_and_updates(&mut tx, written, &results, rows, &known, at, &mut phases)
                .await?;
            // The Talkpush pushes of its `new` candidates, in the same transaction (SPEC §11).
            if self.queues_talkpush() {
                super::talkpush::enqueue(
                    &mut *tx,
                    super::talkpush::Of::Submission(submission_id),
                    meta.received_at,
                )
                .await?;
            }
            // The receipt, in the same transaction (SPEC §7).
            if let Some(make) = receipt {
                if let Some(message) = make(submission_id, &results).map_err(StoreError::Receipt)? {
                    super::outbox::enqueue(&mut *tx, &message, meta.received_at).await?;
                }
            }
            tx.commit().await?;
            phases.done("receipt and commit", 0);
            Ok(Recorded::Decided {
                submission_id: Some(submission_id),
                rows: Arc::try_unwrap(results).unwrap_or_else(|shared| (*shared).clone()),
            })
        })
    }
}
