//! Submissions in the database (SPEC §6.4, §6.5): gather what is known about a file's people, decide,
//! and record the submission, its rows, new candidates and ownerships in one transaction.
//!
//! Every file is decided and written under one write lock (an advisory lock on Postgres, `BEGIN
//! IMMEDIATE` on SQLite), reading the database after taking it; the unique indexes on email and phone
//! keys and on the current ownership of a person in a scope make a second `new` impossible even if
//! that were bypassed. Work is batched: lookups and inserts go in chunks, never a round trip per row.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sqlx::{QueryBuilder, Row};

use super::{on_pool, Store, StoreError, WritePool};
use crate::decide::{self, Decision, Known, KnownPeople, Owner, Policy, Take};
use crate::outcome::Outcome;
use crate::review_prefilter::{review_candidates, ExactKeys, ReviewRows};
use crate::rows::PreparedRow;
use crate::submission::{candidate_of, inputs, outcomes};
use crate::submission::{counts, RowOutcome, Rules, SubmissionMeta};
use crate::who_is_who::Identity;

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

pub(super) use backend::WriteBlocks;
use backend::{
    chunk_len, known_row, BlockPeople, BulkWrite, CurrentOwners, IdSet, KnownBy, KnownRow,
    ReserveIds, KNOWN_COLUMNS,
};
use gather::lookup_keys;
pub(super) use records::NewBlocks;
use records::{NewCandidates, NewOwnerships, OutcomeRows, OwnershipMeta, Superseded, Updates};

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
        let keys = lookup_keys(&inputs);
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
            // Gather: exact matches, then block matches, then their current owners.
            let mut found: Vec<KnownRow> = Vec::new();
            // A second connection reads beside the transaction (under its write lock nobody else
            // commits candidates meanwhile): the exact lookups by email and by phone at once, and
            // half the block keys below.
            let mut helper = pool.acquire().await?;
            let (by_email, by_phone) = futures::try_join!(
                tx.known_by("email_key", &keys.emails),
                helper.known_by("phone_key", &keys.phones),
            )?;
            found.extend(by_email);
            found.extend(by_phone);
            drop(keys);
            phases.done("exact lookups", found.len());
            // Of the people in the blocks, only those the review rule can pick for some row are
            // kept (see `ReviewRows`): a block person similar to no row changes no decision.
            let exact: HashSet<i64> = found.iter().map(|k| k.id).collect();
            let exact_keys = ExactKeys::new(found.iter().map(|k| &k.identity));
            // The lookups are of the rows the review rule is applied to; the rows kept to judge the
            // people found are these and a few more (see ReviewRows): one making of their keys.
            // A share of the rows at a time (see REVIEW_SHARE): a person is kept when some row of
            // some share may pick it, as when all rows are taken at once.
            let review = review_candidates(&inputs, &exact_keys);
            let mut kept = Vec::new();
            let mut kept_ids: HashSet<i64> = HashSet::new();
            for from in (0..inputs.len()).step_by(REVIEW_SHARE) {
                let share = from..(from + REVIEW_SHARE).min(inputs.len());
                let (review_rows, lookups) = ReviewRows::with_lookups(
                    &inputs,
                    share,
                    &exact_keys,
                    &review,
                    tx.keeps_hashes(),
                );
                phases.done("lookup keys", lookups.hashes.len() + lookups.spans.len());
                let near = |key: i64, contact: &str| review_rows.near_under(key, contact);
                let mut in_blocks = IdSet::default();
                tx.block_ids(&lookups, &near, &mut in_blocks, &mut helper)
                    .await?;
                drop(lookups);
                let mut block_ids = in_blocks.sorted();
                drop(in_blocks);
                block_ids.retain(|id| !exact.contains(id) && !kept_ids.contains(id));
                phases.done("block ids", block_ids.len());
                let keep = |person: &Identity| review_rows.may_pick(person, rules.name_similarity);
                let before = kept.len();
                for ids in block_ids.chunks(PEOPLE_CHUNK) {
                    tx.people(ids, &keep, &mut kept).await?;
                }
                kept_ids.extend(kept[before..].iter().map(|k: &KnownRow| k.id));
                drop(review_rows);
                crate::memory::give_back();
                phases.done("block people", kept.len() - before);
            }
            drop(helper);
            drop(kept_ids);
            drop(review);
            drop(exact_keys);
            found.extend(kept);
            let ids: Vec<i64> = found
                .iter()
                .map(|k| k.id)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let mut owners: HashMap<i64, HashMap<String, Owner>> = HashMap::new();
            for (cid, scope_key, owner) in tx.current_owners(&ids).await? {
                owners.entry(cid).or_default().insert(scope_key, owner);
            }
            phases.done("owners", ids.len());
            let mut known = KnownPeople::default();
            for k in found {
                if known.people.contains_key(&k.id) {
                    continue; // found by email and by phone
                }
                let own = owners.remove(&k.id).unwrap_or_default();
                known.insert(Known {
                    id: k.id,
                    identity: k.identity,
                    owners: own,
                });
            }

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

            // What the rows lead to is written while the rows after them are decided (on a thread
            // of its own), a run of decided rows at a time (see `decide_then`): the candidates the
            // run's rows create, the ownerships its `new` rows start, and its rows' outcomes.
            let source = if meta.agency_id.is_empty() {
                "company"
            } else {
                "agency"
            };
            let owner = OwnershipMeta {
                agency_id: (!meta.agency_id.is_empty()).then(|| meta.agency_id.clone()),
                user_email: meta.user_email.clone(),
                channel: meta.channel.as_str(),
                submission_id,
                started_at: meta.received_at,
                expires_at,
            };
            let hashed = tx.keeps_hashes();
            let threaded = crate::parallel::threaded_runtime();
            let ((decisions, mut blocks), written) = {
                // Deciding, on a thread of its own, waits when two runs wait for the writer: the
                // decisions waiting are never many (the writer is the slower). On a single-threaded
                // runtime (tests) all are decided first: room for every run.
                let room = match threaded {
                    Some(_) => 2,
                    None => rows.len().div_ceil(decide::DECIDED_RUN).max(1),
                };
                let blocking = threaded.is_some();
                // Each run: its row positions and decisions, in row order.
                let (send, mut runs) =
                    tokio::sync::mpsc::channel::<(std::ops::Range<usize>, Vec<Decision>)>(room);
                let (inputs, known, policy) = (&inputs, &known, &policy);
                // Called once, it ends the channel when done (`send` is dropped with it): the
                // writer below stops when the last run is written. Then, while the writer writes
                // the last runs, it makes the block keys of the candidates rows create, each under
                // its row's position until the candidates' ids are known.
                let decide_all = move || {
                    let send = send;
                    let decisions = decide::decide_then(inputs, known, policy, |run, decided| {
                        // A writer gone has failed: its error is the submission's. The reasons
                        // are the writer's to keep (deciding needs none of them).
                        let decided: Vec<Decision> = decided
                            .iter_mut()
                            .map(|d| Decision {
                                reason: std::mem::take(&mut d.reason),
                                ..*d
                            })
                            .collect();
                        let run = (run, decided);
                        if blocking {
                            let _ = send.blocking_send(run);
                        } else {
                            let _ = send.try_send(run);
                        }
                    });
                    drop(send);
                    let decided_mib = if tracing::enabled!(tracing::Level::DEBUG) {
                        crate::memory::resident_mib()
                    } else {
                        0
                    };
                    // What deciding held goes back before the keys take more.
                    crate::memory::give_back();
                    let mut blocks = NewBlocks::new(hashed);
                    for (i, d) in decisions.iter().enumerate() {
                        if d.take == Some(Take::Create) {
                            blocks.push(&inputs[i].identity, i as i64);
                        }
                    }
                    tracing::debug!(
                        decided_mib,
                        with_block_keys_mib = crate::memory::resident_mib(),
                        "every row decided"
                    );
                    (decisions, blocks)
                };
                // Each run as `runs` brings it (its row positions and decisions, in row order),
                // until it ends: every row's outcome, and the id of the candidate each row created.
                let (tx, owner) = (&mut tx, &owner);
                let write = async move {
                    let mut results: Vec<RowOutcome> = Vec::with_capacity(rows.len());
                    // The id of the candidate each row created, by row position.
                    let mut new_ids: Vec<Option<i64>> = vec![None; rows.len()];
                    while let Some((run, decided)) = runs.recv().await {
                        let creators: Vec<usize> = run
                            .clone()
                            .zip(&decided)
                            .filter(|(_, d)| d.take == Some(Take::Create))
                            .map(|(i, _)| i)
                            .collect();
                        // The ids reserved are handed out in row order.
                        if !creators.is_empty() {
                            let mut id = tx.reserve_candidate_ids(creators.len()).await?;
                            // A chunk at a time, so what is sent is never a whole run's copy.
                            for chunk in creators.chunks(WRITE_CHUNK) {
                                let mut candidates = NewCandidates::default();
                                for &i in chunk {
                                    let c = &rows[i].candidate;
                                    candidates.push(id, c);
                                    candidates.custom.push(
                                        serde_json::to_string(&rows[i].custom())
                                            .unwrap_or_default(),
                                    );
                                    new_ids[i] = Some(id);
                                    id += 1;
                                }
                                tx.insert_candidates(&candidates, source, meta.received_at)
                                    .await?;
                            }
                        }
                        // The run's outcomes, each naming its candidate, and the ownerships of its
                        // `new` rows (an expired one in the same scope superseded).
                        let mut superseded = Superseded::default();
                        let mut owned = NewOwnerships::default();
                        for (i, d) in run.clone().zip(decided) {
                            let candidate_id = candidate_of(d.person, &new_ids);
                            if let (Outcome::New, Some(cid)) = (d.outcome, candidate_id) {
                                let sk = decide::scope_key(rules.scope, inputs[i].campaign_id);
                                if d.take == Some(Take::Own) {
                                    superseded.candidate_id.push(cid);
                                    superseded.scope_key.push(sk.clone());
                                }
                                owned.candidate_id.push(cid);
                                owned.scope_key.push(sk);
                                owned.row_number.push(i64::from(rows[i].number));
                                owned
                                    .campaign_id
                                    .push(inputs[i].campaign_id.map(str::to_string));
                            }
                            results.push(RowOutcome {
                                number: rows[i].number,
                                outcome: d.outcome,
                                reason: d.reason,
                                candidate_id,
                                same_as_row: d.same_as_row,
                            });
                        }
                        tx.supersede_ownerships(&superseded, meta.received_at)
                            .await?;
                        tx.insert_ownerships(&owned, owner).await?;
                        let outcome_rows = OutcomeRows {
                            results: &results[run.clone()],
                            rows: &rows[run.clone()],
                            inputs: &inputs[run],
                        };
                        tx.insert_rows(&outcome_rows, submission_id).await?;
                    }
                    Ok::<_, StoreError>((results, new_ids))
                };
                match threaded {
                    Some(handle) => tokio::task::block_in_place(|| {
                        std::thread::scope(|scope| {
                            let decider = scope.spawn(decide_all);
                            let written = handle.block_on(write);
                            let decisions = decider
                                .join()
                                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                            (decisions, written)
                        })
                    }),
                    // A single-threaded runtime (tests): deciding, then writing.
                    None => {
                        let decisions = decide_all();
                        (decisions, write.await)
                    }
                }
            };
            let (results, new_ids) = written?;
            // Of what the database said only the people are needed from here on (the old keys of
            // a record that takes new ones). Deciding's own indexes of the file are free too: their
            // pages go back before the rest of the writes (and the results workbook, made meanwhile
            // on another thread) take more.
            known.by_email = HashMap::new();
            known.by_phone = HashMap::new();
            known.by_block = HashMap::new();
            crate::memory::give_back();
            phases.done("decided and written", decisions.len());

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
            // The new candidates' block keys (an index of them, kept by the store: no other record
            // points at them), in the transaction like the rest: made under their rows' positions,
            // given their candidates' ids.
            blocks.renumber(|i| {
                new_ids[i as usize]
                    .expect("the writer gave every row that creates a candidate its id")
            });
            drop(new_ids);
            phases.done("block keys given their ids", blocks.len());
            {
                // `previously_submitted`: new non-empty values update the record (found first, so
                // that the decisions are let go before the block keys are written).
                let mut updates = Updates::default();
                for (i, d) in decisions.iter().enumerate() {
                    if d.outcome != Outcome::PreviouslySubmitted {
                        continue;
                    }
                    let Some(cid) = results[i].candidate_id else {
                        continue;
                    };
                    updates.push(cid, &rows[i].candidate);
                }
                drop(decisions);
                let n_blocks = blocks.len();
                tx.insert_blocks(&mut blocks).await?;
                phases.done("block keys", n_blocks);
                drop(blocks);
                tx.update_candidates(&updates, meta.received_at).await?;
                // A name or a contact the record took changes where the review rule finds it: its
                // block keys are made again from what the record now holds.
                let updated: Vec<i64> = updates
                    .id
                    .iter()
                    .copied()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let now = fetch_in!(tx, format!("{KNOWN_COLUMNS}id"), updated, |r| known_row(
                    &r
                )?);
                let changed: Vec<&KnownRow> = now
                    .iter()
                    .filter(|k| {
                        known
                            .people
                            .get(&k.id)
                            .is_none_or(|p| p.identity != k.identity)
                    })
                    .collect();
                // Their old block keys go by what they were (removals under those keys' hashes: the
                // Postgres index is kept by key, not by candidate); anyone not read before (none
                // expected) by id, which reads the whole index.
                let mut old = tx.new_blocks();
                let mut ids: Vec<i64> = Vec::new();
                for k in &changed {
                    match known.people.get(&k.id) {
                        Some(p) => old.push(&p.identity, k.id),
                        None => ids.push(k.id),
                    }
                }
                tx.delete_blocks_of(&ids).await?;
                let mut blocks = tx.new_blocks();
                for k in changed {
                    blocks.push(&k.identity, k.id);
                }
                tx.replace_blocks(&mut old, &mut blocks).await?;
                phases.done("updates", updates.id.len());
                drop(updates);
            }
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
