//! Submissions in the database (SPEC §6.4, §6.5): gather what is known about a file's people, decide,
//! and record the submission, its rows, new candidates and ownerships in one transaction.
//!
//! Every file is decided and written under one write lock (an advisory lock on Postgres, `BEGIN
//! IMMEDIATE` on SQLite), reading the database after taking it; the unique indexes on email and phone
//! keys and on the current ownership of a person in a scope make a second `new` impossible even if
//! that were bypassed. Work is batched: lookups and inserts go in chunks, never a round trip per row.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use sqlx::{QueryBuilder, Row};

use super::{on_pool, Store, StoreError, WritePool};
use crate::decide::{self, Decision, Known, KnownPeople, Owner, Person, Policy, RowInput, Take};
use crate::outcome::Outcome;
use crate::rows::PreparedRow;
use crate::settings::Scope;
use crate::who_is_who::{self, Identity};

const LOCK: &str = "agency-portal:submissions";

/// Bound parameters per statement, under SQLite's and Postgres' limits.
const MAX_PARAMS: usize = 30_000;

/// How a submission arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Drop,
    Cli,
    /// `import-existing`: the company's own pipeline.
    Import,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Drop => "drop",
            Channel::Cli => "cli",
            Channel::Import => "import",
        }
    }
}

/// What is recorded about a submission besides its rows.
#[derive(Debug, Clone)]
pub struct SubmissionMeta {
    pub channel: Channel,
    pub sender: String,
    /// Empty for the company's own pipeline (`import-existing`): its people are owned by nobody's
    /// agency, and agencies' rows for them are `blocked`.
    pub agency_id: String,
    pub user_email: Option<String>,
    pub file_name: String,
    pub sha256: String,
    pub received_at: DateTime<Utc>,
    /// What the file is part of (`mail:<ledger id>:<attachment>`), recorded once; see migration 0004.
    pub source_ref: Option<String>,
}

/// The rules a submission is decided under (from `[policy]`).
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub scope: Scope,
    pub ownership_days: u32,
    pub name_similarity: f64,
}

/// One row's outcome as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RowOutcome {
    pub number: u32,
    pub outcome: Outcome,
    pub reason: String,
    /// The person the row created, updated or was matched to (none for `invalid`).
    pub candidate_id: Option<i64>,
    pub same_as_row: Option<u32>,
}

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

/// Counts per outcome, in the order of [`Outcome::ALL`].
pub fn counts(rows: &[RowOutcome]) -> [u64; 7] {
    let mut n = [0u64; 7];
    for r in rows {
        let i = Outcome::ALL
            .iter()
            .position(|o| *o == r.outcome)
            .unwrap_or(0);
        n[i] += 1;
    }
    n
}

pub fn identity(row: &PreparedRow) -> Identity {
    let c = &row.candidate;
    Identity {
        first: c.first_name.key.clone(),
        last: c.last_name.key.clone(),
        email_key: c.email_key.clone(),
        phone_key: c.phone_key.clone(),
    }
}

fn inputs(rows: &[PreparedRow]) -> Vec<RowInput> {
    rows.iter()
        .map(|r| RowInput {
            number: r.number,
            invalid: r.invalid.clone(),
            identity: identity(r),
            campaign_id: r.candidate.campaign_id.clone(),
        })
        .collect()
}

/// The exact keys to look people up by, for the valid rows.
struct LookupKeys {
    emails: Vec<String>,
    phones: Vec<String>,
}

fn lookup_keys(inputs: &[RowInput]) -> LookupKeys {
    let mut emails = BTreeSet::new();
    let mut phones = BTreeSet::new();
    for r in inputs.iter().filter(|r| r.invalid.is_none()) {
        emails.extend(r.identity.email_key.clone());
        phones.extend(r.identity.phone_key.clone());
    }
    LookupKeys {
        emails: emails.into_iter().collect(),
        phones: phones.into_iter().collect(),
    }
}

/// A block shared by more people than this says too little to compare on (a very common name with a
/// common address pattern): it is left out, so that no row ever compares against thousands. Such
/// people are still caught by an equal email or phone.
pub const MAX_BLOCK: usize = 64;

/// The block keys worth looking up: those of valid rows that are nobody the database knows by email
/// or phone and that repeat no earlier row of the file (those are decided without the review rule).
fn block_keys(inputs: &[RowInput], found: &[KnownRow]) -> Vec<String> {
    let known_emails: BTreeSet<&str> = found
        .iter()
        .filter_map(|k| k.identity.email_key.as_deref())
        .collect();
    let known_phones: BTreeSet<&str> = found
        .iter()
        .filter_map(|k| k.identity.phone_key.as_deref())
        .collect();
    let mut earlier: BTreeSet<&str> = BTreeSet::new();
    let mut blocks = BTreeSet::new();
    for r in inputs.iter().filter(|r| r.invalid.is_none()) {
        let id = &r.identity;
        let e = id.email_key.as_deref();
        let p = id.phone_key.as_deref();
        let known = e.is_some_and(|e| known_emails.contains(e))
            || p.is_some_and(|p| known_phones.contains(p));
        let repeats =
            e.is_some_and(|e| earlier.contains(e)) || p.is_some_and(|p| earlier.contains(p));
        earlier.extend(e);
        earlier.extend(p);
        if !known && !repeats {
            blocks.extend(who_is_who::lookup_keys(id));
        }
    }
    blocks.into_iter().collect()
}

/// Candidate rows as read for deciding.
struct KnownRow {
    id: i64,
    identity: Identity,
}

fn chunk_len(params_per_item: usize) -> usize {
    (MAX_PARAMS / params_per_item.max(1)).max(1)
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
            for $row in qb.build().fetch_all(&mut *$conn).await? {
                out.push($map);
            }
        }
        out
    }};
}

fn known_row<R: Row>(row: &R) -> Result<KnownRow, sqlx::Error>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
{
    Ok(KnownRow {
        id: row.try_get("id")?,
        identity: Identity {
            first: row.try_get("first_key")?,
            last: row.try_get("last_key")?,
            email_key: row.try_get("email_key")?,
            phone_key: row.try_get("phone_key")?,
        },
    })
}

const KNOWN_COLUMNS: &str =
    "SELECT id, first_key, last_key, email_key, phone_key FROM candidates WHERE ";

impl Store {
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
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO submissions (channel, sender, agency_id, user_email, file_name, sha256,
                   received_at, status, reason, source_ref)
                 VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, $7, 'failed', $8, $9)
                 ON CONFLICT (source_ref) WHERE source_ref IS NOT NULL DO NOTHING
                 RETURNING id",
            )
            .bind(meta.channel.as_str())
            .bind(&meta.sender)
            .bind(&meta.agency_id)
            .bind(&meta.user_email)
            .bind(&meta.file_name)
            .bind(&meta.sha256)
            .bind(meta.received_at)
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
    /// the rows are decided against the database but nothing is written.
    pub async fn record_submission(
        &self,
        meta: &SubmissionMeta,
        rows: &[PreparedRow],
        rules: Rules,
        check_only: bool,
        receipt: Option<&ReceiptMaker<'_>>,
    ) -> Result<Recorded, StoreError> {
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

            // Gather: exact matches, then block matches, then their current owners.
            let mut found: Vec<KnownRow> = Vec::new();
            found.extend(fetch_in!(
                tx,
                format!("{KNOWN_COLUMNS}email_key"),
                keys.emails,
                |r| known_row(&r)?
            ));
            found.extend(fetch_in!(
                tx,
                format!("{KNOWN_COLUMNS}phone_key"),
                keys.phones,
                |r| known_row(&r)?
            ));
            let seen: BTreeSet<i64> = found.iter().map(|k| k.id).collect();
            let blocks = block_keys(&inputs, &found);
            let block_ids: BTreeSet<i64> = tx
                .capped_blocks(&blocks, MAX_BLOCK)
                .await?
                .into_iter()
                .flatten()
                .filter(|id| !seen.contains(id))
                .collect();
            let block_ids: Vec<i64> = block_ids.into_iter().collect();
            found.extend(fetch_in!(
                tx,
                format!("{KNOWN_COLUMNS}id"),
                block_ids,
                |r| known_row(&r)?
            ));
            let ids: Vec<i64> = found
                .iter()
                .map(|k| k.id)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let mut owners: HashMap<i64, HashMap<String, Owner>> = HashMap::new();
            for (cid, scope_key, owner) in fetch_in!(
                tx,
                "SELECT candidate_id, scope_key, agency_id, expires_at FROM ownerships
                 WHERE superseded_at IS NULL AND candidate_id",
                ids,
                |r| (
                    r.try_get::<i64, _>("candidate_id")?,
                    r.try_get::<String, _>("scope_key")?,
                    Owner {
                        agency_id: r.try_get("agency_id")?,
                        expires_at: r.try_get("expires_at")?,
                    }
                )
            ) {
                owners.entry(cid).or_default().insert(scope_key, owner);
            }
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

            let decisions = decide::decide(&inputs, &known, &policy);

            if check_only {
                tx.rollback().await?;
                return Ok(Recorded::Decided {
                    submission_id: None,
                    rows: outcomes(rows, &decisions, &HashMap::new()),
                });
            }

            // New candidates get their ids first, so every row can name its candidate.
            let creators: Vec<usize> = decisions
                .iter()
                .enumerate()
                .filter(|(_, d)| d.take == Some(Take::Create))
                .map(|(i, _)| i)
                .collect();
            let first_id: i64 = if creators.is_empty() {
                0
            } else {
                tx.reserve_candidate_ids(creators.len()).await?
            };
            let new_ids: HashMap<usize, i64> = creators
                .iter()
                .enumerate()
                .map(|(k, &i)| (i, first_id + k as i64))
                .collect();
            let results = outcomes(rows, &decisions, &new_ids);
            let n = counts(&results);

            let submission_id: i64 = sqlx::query_scalar(
                "INSERT INTO submissions (channel, sender, agency_id, user_email, file_name, sha256,
                   received_at, status, rows, n_new, n_previously_submitted, n_duplicate, n_blocked,
                   n_review, n_repeated, n_invalid, source_ref)
                 VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, $7, 'processed', $8, $9, $10, $11, $12,
                   $13, $14, $15, $16)
                 RETURNING id",
            )
            .bind(meta.channel.as_str())
            .bind(&meta.sender)
            .bind(&meta.agency_id)
            .bind(&meta.user_email)
            .bind(&meta.file_name)
            .bind(&meta.sha256)
            .bind(meta.received_at)
            .bind(results.len() as i64)
            .bind(n[0] as i64)
            .bind(n[1] as i64)
            .bind(n[2] as i64)
            .bind(n[3] as i64)
            .bind(n[4] as i64)
            .bind(n[5] as i64)
            .bind(n[6] as i64)
            .bind(&meta.source_ref)
            .fetch_one(&mut *tx)
            .await?;

            // Candidates and their block keys.
            for chunk in creators.chunks(chunk_len(13)) {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO candidates (id, first_name, last_name, first_key, last_key, email,
                       email_key, phone, phone_key, custom, source, created_at, updated_at) ",
                );
                qb.push_values(chunk, |mut b, &i| {
                    let c = &rows[i].candidate;
                    b.push_bind(new_ids[&i])
                        .push_bind(c.first_name.display.clone())
                        .push_bind(c.last_name.display.clone())
                        .push_bind(c.first_name.key.clone())
                        .push_bind(c.last_name.key.clone())
                        .push_bind(c.email.clone())
                        .push_bind(c.email_key.clone())
                        .push_bind(c.phone.clone())
                        .push_bind(c.phone_key.clone())
                        .push_bind(serde_json::to_string(&c.custom).unwrap_or_default())
                        .push_bind(if meta.agency_id.is_empty() {
                            "company"
                        } else {
                            "agency"
                        })
                        .push_bind(meta.received_at)
                        .push_bind(meta.received_at);
                });
                qb.build().execute(&mut *tx).await?;
            }
            let blocks: Vec<(String, i64)> = creators
                .iter()
                .flat_map(|&i| {
                    who_is_who::block_keys(&inputs[i].identity)
                        .into_iter()
                        .map(move |k| (k, i))
                })
                .map(|(k, i)| (k, new_ids[&i]))
                .collect();
            for chunk in blocks.chunks(chunk_len(2)) {
                let mut qb = QueryBuilder::new("INSERT INTO candidate_blocks (key, candidate_id) ");
                qb.push_values(chunk, |mut b, (k, id)| {
                    b.push_bind(k.clone()).push_bind(*id);
                });
                qb.build().execute(&mut *tx).await?;
            }

            // Ownerships of every `new` row; an expired one in the same scope is superseded.
            let owned: Vec<(usize, i64, String)> = decisions
                .iter()
                .enumerate()
                .filter(|(_, d)| d.outcome == Outcome::New)
                .filter_map(|(i, _)| {
                    results[i].candidate_id.map(|cid| {
                        let sk = decide::scope_key(rules.scope, inputs[i].campaign_id.as_deref());
                        (i, cid, sk)
                    })
                })
                .collect();
            for (_, cid, sk) in owned
                .iter()
                .filter(|(i, _, _)| decisions[*i].take == Some(Take::Own))
            {
                sqlx::query(
                    "UPDATE ownerships SET superseded_at = $3
                     WHERE candidate_id = $1 AND scope_key = $2 AND superseded_at IS NULL",
                )
                .bind(cid)
                .bind(sk)
                .bind(meta.received_at)
                .execute(&mut *tx)
                .await?;
            }
            for chunk in owned.chunks(chunk_len(10)) {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO ownerships (candidate_id, scope_key, agency_id, user_email, channel,
                       submission_id, row_number, campaign_id, started_at, expires_at) ",
                );
                qb.push_values(chunk, |mut b, (i, cid, sk)| {
                    b.push_bind(*cid)
                        .push_bind(sk.clone())
                        .push_bind((!meta.agency_id.is_empty()).then(|| meta.agency_id.clone()))
                        .push_bind(meta.user_email.clone())
                        .push_bind(meta.channel.as_str())
                        .push_bind(submission_id)
                        .push_bind(i64::from(rows[*i].number))
                        .push_bind(inputs[*i].campaign_id.clone())
                        .push_bind(meta.received_at)
                        .push_bind(expires_at);
                });
                qb.build().execute(&mut *tx).await?;
            }

            // `previously_submitted`: new non-empty values update the record.
            for (i, d) in decisions.iter().enumerate() {
                if d.outcome != Outcome::PreviouslySubmitted {
                    continue;
                }
                let Some(cid) = results[i].candidate_id else {
                    continue;
                };
                let c = &rows[i].candidate;
                sqlx::query(
                    "UPDATE candidates SET
                       first_name = CASE WHEN $2 <> '' THEN $2 ELSE first_name END,
                       first_key = CASE WHEN $3 <> '' THEN $3 ELSE first_key END,
                       last_name = CASE WHEN $4 <> '' THEN $4 ELSE last_name END,
                       last_key = CASE WHEN $5 <> '' THEN $5 ELSE last_key END,
                       email = COALESCE(email, $6), email_key = COALESCE(email_key, $7),
                       phone = COALESCE(phone, $8), phone_key = COALESCE(phone_key, $9),
                       updated_at = $10
                     WHERE id = $1",
                )
                .bind(cid)
                .bind(&c.first_name.display)
                .bind(&c.first_name.key)
                .bind(&c.last_name.display)
                .bind(&c.last_name.key)
                .bind(&c.email)
                .bind(&c.email_key)
                .bind(&c.phone)
                .bind(&c.phone_key)
                .bind(meta.received_at)
                .execute(&mut *tx)
                .await?;
            }

            // Every row's outcome.
            let order: Vec<usize> = (0..results.len()).collect();
            for chunk in order.chunks(chunk_len(10)) {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO submission_rows (submission_id, row_number, outcome, reason,
                       candidate_id, same_as_row, campaign_id, cells, person, review_state) ",
                );
                qb.push_values(chunk, |mut b, &i| {
                    let r = &results[i];
                    b.push_bind(submission_id)
                        .push_bind(i64::from(r.number))
                        .push_bind(r.outcome.as_str())
                        .push_bind(r.reason.clone())
                        .push_bind(r.candidate_id)
                        .push_bind(r.same_as_row.map(i64::from))
                        .push_bind(inputs[i].campaign_id.clone())
                        .push_bind(serde_json::to_string(&rows[i].cells).unwrap_or_default())
                        .push_bind(
                            (r.outcome == Outcome::Review).then(|| {
                                serde_json::to_string(&rows[i].candidate).unwrap_or_default()
                            }),
                        )
                        .push_bind((r.outcome == Outcome::Review).then_some("pending"));
                });
                qb.build().execute(&mut *tx).await?;
            }

            // The receipt, in the same transaction (SPEC §7).
            if let Some(make) = receipt {
                if let Some(message) = make(submission_id, &results).map_err(StoreError::Receipt)? {
                    super::outbox::enqueue(&mut *tx, &message, meta.received_at).await?;
                }
            }

            tx.commit().await?;
            Ok(Recorded::Decided {
                submission_id: Some(submission_id),
                rows: results,
            })
        })
    }
}

/// Rows' outcomes with candidate ids resolved (`new_ids`: ids of the candidates rows create).
fn outcomes(
    rows: &[PreparedRow],
    decisions: &[Decision],
    new_ids: &HashMap<usize, i64>,
) -> Vec<RowOutcome> {
    let resolve = |p: Option<Person>| match p {
        Some(Person::Known(id)) => Some(id),
        Some(Person::NewFromRow(i)) => new_ids.get(&i).copied(),
        None => None,
    };
    rows.iter()
        .zip(decisions)
        .map(|(r, d)| RowOutcome {
            number: r.number,
            outcome: d.outcome,
            reason: d.reason.clone(),
            candidate_id: resolve(d.person),
            same_as_row: d.same_as_row,
        })
        .collect()
}

/// The candidates of each block key, leaving out keys with more than `cap` candidates (read with a
/// per-key `LIMIT`, so an oversized block costs `cap + 1` index entries, not all of them).
pub(crate) trait CappedBlocks {
    async fn capped_blocks(
        &mut self,
        keys: &[String],
        cap: usize,
    ) -> Result<Vec<Vec<i64>>, sqlx::Error>;
}

fn parse_ids(ids: Option<String>, cap: usize) -> Option<Vec<i64>> {
    let ids: Vec<i64> = ids?
        .split(',')
        .filter_map(|i| i.trim().parse().ok())
        .collect();
    (ids.len() <= cap).then_some(ids)
}

impl CappedBlocks for sqlx::Transaction<'static, sqlx::Sqlite> {
    async fn capped_blocks(
        &mut self,
        keys: &[String],
        cap: usize,
    ) -> Result<Vec<Vec<i64>>, sqlx::Error> {
        let mut out = Vec::new();
        for chunk in keys.chunks(chunk_len(1)) {
            let mut qb = QueryBuilder::new("WITH k(key) AS (");
            qb.push_values(chunk, |mut b, key| {
                b.push_bind(key.clone());
            });
            qb.push(") SELECT (SELECT group_concat(candidate_id) FROM (SELECT candidate_id FROM candidate_blocks b WHERE b.key = k.key LIMIT ");
            qb.push((cap + 1).to_string());
            qb.push(")) AS ids FROM k");
            for row in qb.build().fetch_all(&mut **self).await? {
                out.extend(parse_ids(row.try_get("ids")?, cap));
            }
        }
        Ok(out)
    }
}

impl CappedBlocks for sqlx::Transaction<'static, sqlx::Postgres> {
    async fn capped_blocks(
        &mut self,
        keys: &[String],
        cap: usize,
    ) -> Result<Vec<Vec<i64>>, sqlx::Error> {
        let sql = format!(
            "SELECT (SELECT string_agg(candidate_id::text, ',') FROM (SELECT candidate_id FROM candidate_blocks b
               WHERE b.key = k.key LIMIT {}) s) AS ids FROM unnest($1::text[]) AS k(key)",
            cap + 1
        );
        let rows = sqlx::query(&sql).bind(keys).fetch_all(&mut **self).await?;
        let mut out = Vec::new();
        for row in rows {
            out.extend(parse_ids(row.try_get("ids")?, cap));
        }
        Ok(out)
    }
}

/// Reserving `n` consecutive candidate ids (under the write lock); returns the first.
pub(crate) trait ReserveIds {
    async fn reserve_candidate_ids(&mut self, n: usize) -> Result<i64, sqlx::Error>;
}

impl ReserveIds for sqlx::Transaction<'static, sqlx::Sqlite> {
    async fn reserve_candidate_ids(&mut self, _n: usize) -> Result<i64, sqlx::Error> {
        // One writer at a time (BEGIN IMMEDIATE): the ids after the largest are free.
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM candidates")
            .fetch_one(&mut **self)
            .await?;
        Ok(max.unwrap_or(0) + 1)
    }
}

impl ReserveIds for sqlx::Transaction<'static, sqlx::Postgres> {
    async fn reserve_candidate_ids(&mut self, n: usize) -> Result<i64, sqlx::Error> {
        // Under the write lock no other session creates candidates: move the identity sequence past
        // a block of n and hand out that block.
        let last: i64 = sqlx::query_scalar(
            "SELECT setval(pg_get_serial_sequence('candidates', 'id'),
               nextval(pg_get_serial_sequence('candidates', 'id')) + $1 - 1)",
        )
        .bind(n as i64)
        .fetch_one(&mut **self)
        .await?;
        let first = last - n as i64 + 1;
        Ok(first)
    }
}
