//! The review queue (SPEC §6.4 `review`, §9 `agency-portal review`): rows that are possibly the same
//! person as someone known wait for an owner. `accept` makes the row `new` (a new candidate owned by
//! the submitting agency from the submission's time); `reject` makes it `duplicate`.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::Row;

use super::submissions::WriteBlocks;
use super::{on_pool, Store, StoreError, WritePool};
use crate::decide::scope_key;
use crate::submission::Rules;
use crate::validation::Candidate;
use crate::who_is_who;

const LOCK: &str = "agency-portal:submissions";

/// A row's values as a [`ReviewSide`] (its agency, campaign and time filled in by the caller).
fn side_of_candidate(c: &Candidate) -> ReviewSide {
    ReviewSide {
        name: display_name(c),
        email: c.email.clone(),
        phone: c.phone.clone(),
        agency: None,
        campaign: None,
        when: None,
        identity: who_is_who::Identity {
            first: c.first_name.key.clone(),
            last: c.last_name.key.clone(),
            email_key: c.email_key.clone(),
            phone_key: c.phone_key.clone(),
        },
    }
}

/// "First Last" as written, either left out when empty.
fn display_name(c: &Candidate) -> String {
    format!("{} {}", c.first_name.display, c.last_name.display)
        .trim()
        .to_string()
}

/// The person's name as the agency sent it, from a review row's stored values (`person`).
pub fn name_sent(person: Option<&str>) -> String {
    person
        .and_then(|p| serde_json::from_str::<Candidate>(p).ok())
        .map(|c| display_name(&c))
        .unwrap_or_default()
}

/// A review decision to tell the user who submitted the row (SPEC §7 (r2)), made inside the
/// decision's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewTold {
    pub row_id: i64,
    pub submission_id: i64,
    pub agency_id: Option<String>,
    /// The submitting user; `None` for a drop-folder file (its receipt went to the admins).
    pub user_email: Option<String>,
    pub file_name: String,
    pub row_number: i64,
    /// The person's name as the agency sent it.
    pub name: String,
    /// `new` or `duplicate`.
    pub outcome: &'static str,
    /// The submission's receipt (its Message-ID and subject), to answer in its thread; `None` when
    /// it has none on record.
    pub receipt: Option<crate::mail::receipt::ReplyTo>,
}

/// Makes the message telling a decision (`Ok(None)`: nobody to tell); an error rolls the decision
/// back.
pub type ReviewTeller<'a> =
    dyn Fn(&ReviewTold) -> Result<Option<crate::mail::Outgoing>, String> + Send + Sync + 'a;

/// A pending review row: what `review list` shows, the values it holds, and its campaign.
struct Pending {
    item: ReviewItem,
    person: Candidate,
    campaign: Option<String>,
}

/// Which parts of SPEC §6.3 two people meet, in words.
fn rule_met(a: &who_is_who::Identity, b: &who_is_who::Identity, threshold: f64) -> Vec<String> {
    let same = |x: Option<&str>, y: Option<&str>| x.is_some() && x == y;
    [
        (same(a.email(), b.email()), "the same email"),
        (same(a.phone(), b.phone()), "the same phone"),
        (
            !same(a.email(), b.email()) && who_is_who::emails_near(a, b),
            "emails within one edit",
        ),
        (
            !same(a.phone(), b.phone()) && who_is_who::phones_near(a, b),
            "phones within one edit",
        ),
        (who_is_who::names_similar(a, b, threshold), "names similar"),
    ]
    .into_iter()
    .filter(|(met, _)| *met)
    .map(|(_, words)| words.to_string())
    .collect()
}

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
    #[error(
        "the message telling the decision could not be written: {0}; nothing was decided, fix the \
         review-decision template and decide again"
    )]
    Tell(String),
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

/// One side of `review show` (JSON keys of `review show --json`): the row, or the candidate it may
/// be with its current owner.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewSide {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The submitting agency (the row), or the current owner (the candidate; `None`: nobody, or the
    /// company's own pipeline when `source` says `import`).
    pub agency: Option<String>,
    pub campaign: Option<String>,
    /// When the row was received, or since when the owner has the candidate.
    pub when: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub identity: who_is_who::Identity,
}

/// What `review show` puts side by side (SPEC §9 (r2)).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewPair {
    pub row_id: i64,
    pub file: String,
    pub row: i64,
    pub reason: String,
    pub this_row: ReviewSide,
    pub candidate_id: Option<i64>,
    /// The registered candidate it may be (`None` for two rows of one file naming two people).
    pub may_be: Option<ReviewSide>,
    /// Which parts of SPEC §6.3's rule the two meet.
    pub rule: Vec<String>,
}

impl Store {
    /// The pending review row `row_id` and the candidate it may be, side by side.
    pub async fn review_pair(
        &self,
        row_id: i64,
        threshold: f64,
    ) -> Result<Option<ReviewPair>, StoreError> {
        let Some(Pending {
            item,
            person,
            campaign,
        }) = self.pending_reviews(Some(row_id)).await?.pop()
        else {
            return Ok(None);
        };
        let this_row = ReviewSide {
            agency: item.agency.clone(),
            campaign,
            when: Some(item.received_at),
            ..side_of_candidate(&person)
        };
        let may_be = match item.candidate_id {
            Some(id) => self.review_candidate(id).await?,
            None => None,
        };
        let rule = may_be
            .as_ref()
            .map(|m| rule_met(&this_row.identity, &m.identity, threshold))
            .unwrap_or_default();
        Ok(Some(ReviewPair {
            row_id,
            file: item.file,
            row: item.row,
            reason: item.reason,
            this_row,
            candidate_id: item.candidate_id,
            may_be,
            rule,
        }))
    }

    /// A candidate as `review show` shows it, with its current owner.
    async fn review_candidate(&self, id: i64) -> Result<Option<ReviewSide>, StoreError> {
        on_pool!(self, |pool| {
            let Some(r) = sqlx::query(
                "SELECT c.first_name, c.last_name, c.first_key, c.last_key, c.email, c.email_key,
                   c.phone, c.phone_key, o.agency_id, o.campaign_id, o.started_at
                 FROM candidates c LEFT JOIN ownerships o
                   ON o.candidate_id = c.id AND o.superseded_at IS NULL
                 WHERE c.id = $1 ORDER BY o.started_at DESC LIMIT 1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
            else {
                return Ok(None);
            };
            let name = |a: &str, b: &str| -> Result<String, sqlx::Error> {
                let (a, b): (Option<String>, Option<String>) = (r.try_get(a)?, r.try_get(b)?);
                Ok(
                    format!("{} {}", a.unwrap_or_default(), b.unwrap_or_default())
                        .trim()
                        .to_string(),
                )
            };
            Ok(Some(ReviewSide {
                name: name("first_name", "last_name")?,
                email: r.try_get("email")?,
                phone: r.try_get("phone")?,
                agency: r.try_get("agency_id")?,
                campaign: r.try_get("campaign_id")?,
                when: r.try_get("started_at")?,
                identity: who_is_who::Identity {
                    first: r
                        .try_get::<Option<String>, _>("first_key")?
                        .unwrap_or_default(),
                    last: r
                        .try_get::<Option<String>, _>("last_key")?
                        .unwrap_or_default(),
                    email_key: r.try_get("email_key")?,
                    phone_key: r.try_get("phone_key")?,
                },
            }))
        })
    }

    pub async fn review_queue(&self) -> Result<Vec<ReviewItem>, StoreError> {
        Ok(self
            .pending_reviews(None)
            .await?
            .into_iter()
            .map(|p| p.item)
            .collect())
    }

    /// The pending review rows (only `only` when given), in row order, with what each holds.
    async fn pending_reviews(&self, only: Option<i64>) -> Result<Vec<Pending>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT r.id, r.submission_id, s.agency_id, s.file_name, r.row_number, r.reason,
                   r.candidate_id, r.person, r.campaign_id, s.received_at
                 FROM submission_rows r JOIN submissions s ON s.id = r.submission_id
                 WHERE r.review_state = 'pending' AND ($1 IS NULL OR r.id = $1) ORDER BY r.id",
            )
            .bind(only)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let person: Option<String> = r.try_get("person")?;
                let c: Candidate = person
                    .and_then(|p| serde_json::from_str(&p).ok())
                    .unwrap_or_default();
                out.push(Pending {
                    item: ReviewItem {
                        row_id: r.try_get("id")?,
                        submission_id: r.try_get("submission_id")?,
                        agency: r.try_get("agency_id")?,
                        file: r.try_get("file_name")?,
                        row: r.try_get("row_number")?,
                        reason: r.try_get("reason")?,
                        candidate_id: r.try_get("candidate_id")?,
                        name: display_name(&c),
                        email: c.email.clone(),
                        phone: c.phone.clone(),
                        received_at: r.try_get("received_at")?,
                    },
                    campaign: r.try_get("campaign_id")?,
                    person: c,
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
        tell: Option<&ReviewTeller<'_>>,
    ) -> Result<Verdict, ReviewError> {
        let talkpush = self.queues_talkpush();
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write(LOCK).await?;
            let row = tx
                .pending_row(row_id)
                .await?
                .ok_or(ReviewError::NotPending(row_id))?;
            let verdict = if accept {
                let candidate_id = accept_row(&mut tx, row_id, &row, rules, now, talkpush).await?;
                Verdict::Accepted { candidate_id }
            } else {
                Verdict::Rejected
            };
            tx.close_row(row_id, row.submission_id, accept, now).await?;
            // The user who submitted the row is told, in the same transaction (SPEC §7 (r2)).
            if let Some(tell) = tell {
                tell_submitter(&mut tx, row_id, &row, accept, tell, now).await?;
            }
            tx.commit().await?;
            Ok(verdict)
        })
    }
}

/// A pending review row and its submission, as deciding it needs them.
struct PendingRow {
    submission_id: i64,
    row_number: i64,
    campaign: Option<String>,
    /// The row's values (a [`Candidate`] as JSON).
    person: Option<String>,
    agency_id: Option<String>,
    user_email: Option<String>,
    channel: String,
    received_at: DateTime<Utc>,
    file_name: String,
}

/// (outcome, review state, counter of the submission) of a decision.
fn decided(accept: bool) -> (&'static str, &'static str, &'static str) {
    if accept {
        ("new", "accepted", "n_new")
    } else {
        ("duplicate", "rejected", "n_duplicate")
    }
}

/// Makes an accepted row a new candidate, owned by the submitting agency from the submission's
/// time, with its block keys (and its Talkpush push when `talkpush`). Returns the candidate's id.
async fn accept_row<T: DecideTx + WriteBlocks>(
    tx: &mut T,
    row_id: i64,
    row: &PendingRow,
    rules: Rules,
    now: DateTime<Utc>,
    talkpush: bool,
) -> Result<i64, sqlx::Error> {
    let c: Candidate = row
        .person
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    let keys = tx.free_keys(&c).await?;
    let candidate_id = tx.insert_candidate(&c, &keys, now).await?;
    let [email_key, phone_key] = keys;
    let identity = who_is_who::Identity {
        first: c.first_name.key.clone(),
        last: c.last_name.key.clone(),
        email_key,
        phone_key,
    };
    let mut blocks = tx.new_blocks();
    blocks.push(&identity, candidate_id);
    tx.insert_blocks(&mut blocks).await?;
    tx.insert_ownership(candidate_id, row, rules).await?;
    tx.link_row(row_id, candidate_id).await?;
    // Its Talkpush push, in the same transaction (SPEC §11).
    if talkpush {
        tx.queue_push(candidate_id, now).await?;
    }
    Ok(candidate_id)
}

/// Tells the user who submitted the row of the decision: the message `tell` makes, in the
/// submission's receipt thread, into the outbox.
async fn tell_submitter<T: DecideTx>(
    tx: &mut T,
    row_id: i64,
    row: &PendingRow,
    accept: bool,
    tell: &ReviewTeller<'_>,
    now: DateTime<Utc>,
) -> Result<(), ReviewError> {
    let told = ReviewTold {
        row_id,
        submission_id: row.submission_id,
        agency_id: row.agency_id.clone(),
        user_email: row.user_email.clone(),
        file_name: row.file_name.clone(),
        row_number: row.row_number,
        name: name_sent(row.person.as_deref()),
        outcome: decided(accept).0,
        receipt: tx.receipt_of(row.submission_id).await?,
    };
    if let Some(message) = tell(&told).map_err(ReviewError::Tell)? {
        tx.queue_message(&message, now).await?;
    }
    Ok(())
}

/// The statements of a review decision, on a transaction of either backend.
trait DecideTx {
    /// The row `row_id` when it is waiting for review.
    async fn pending_row(&mut self, row_id: i64) -> Result<Option<PendingRow>, sqlx::Error>;
    /// The row's (email key, phone key), each `None` when another candidate already has it: it
    /// stays with them (the contact is kept for display only), the accepted row is a different
    /// person.
    async fn free_keys(&mut self, c: &Candidate) -> Result<[Option<String>; 2], sqlx::Error>;
    /// Inserts the candidate with these (email key, phone key); returns its id.
    async fn insert_candidate(
        &mut self,
        c: &Candidate,
        keys: &[Option<String>; 2],
        now: DateTime<Utc>,
    ) -> Result<i64, sqlx::Error>;
    /// The submitting agency's ownership of the new candidate, from the submission's time.
    async fn insert_ownership(
        &mut self,
        candidate_id: i64,
        row: &PendingRow,
        rules: Rules,
    ) -> Result<(), sqlx::Error>;
    /// The row names the candidate made of it.
    async fn link_row(&mut self, row_id: i64, candidate_id: i64) -> Result<(), sqlx::Error>;
    /// Queues the candidate's Talkpush push.
    async fn queue_push(
        &mut self,
        candidate_id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error>;
    /// Gives the row its outcome and moves its submission's count from `review` to it.
    async fn close_row(
        &mut self,
        row_id: i64,
        submission_id: i64,
        accept: bool,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error>;
    /// The submission's receipt on record (to answer in its thread).
    async fn receipt_of(
        &mut self,
        submission_id: i64,
    ) -> Result<Option<crate::mail::receipt::ReplyTo>, sqlx::Error>;
    /// Puts a message in the outbox.
    async fn queue_message(
        &mut self,
        message: &crate::mail::Outgoing,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error>;
}

macro_rules! impl_decide_tx {
    ($db:ty) => {
        impl<'c> DecideTx for sqlx::Transaction<'c, $db> {
            async fn pending_row(&mut self, row_id: i64) -> Result<Option<PendingRow>, sqlx::Error> {
                let Some(row) = sqlx::query(
                    "SELECT r.submission_id, r.row_number, r.campaign_id, r.person, s.agency_id,
                       s.user_email, s.channel, s.received_at, s.file_name
                     FROM submission_rows r JOIN submissions s ON s.id = r.submission_id
                     WHERE r.id = $1 AND r.review_state = 'pending'",
                )
                .bind(row_id)
                .fetch_optional(&mut **self)
                .await?
                else {
                    return Ok(None);
                };
                Ok(Some(PendingRow {
                    submission_id: row.try_get("submission_id")?,
                    row_number: row.try_get("row_number")?,
                    campaign: row.try_get("campaign_id")?,
                    person: row.try_get("person")?,
                    agency_id: row.try_get("agency_id")?,
                    user_email: row.try_get("user_email")?,
                    channel: row.try_get("channel")?,
                    received_at: row.try_get("received_at")?,
                    file_name: row.try_get("file_name")?,
                }))
            }

            async fn free_keys(&mut self, c: &Candidate) -> Result<[Option<String>; 2], sqlx::Error> {
                let mut keys = [c.email_key.clone(), c.phone_key.clone()];
                for (key, column) in keys.iter_mut().zip(["email_key", "phone_key"]) {
                    if let Some(k) = key.as_ref() {
                        let sql = format!("SELECT COUNT(*) FROM candidates WHERE {column} = $1");
                        let n: i64 = sqlx::query_scalar(&sql).bind(k).fetch_one(&mut **self).await?;
                        if n > 0 {
                            *key = None;
                        }
                    }
                }
                Ok(keys)
            }

            async fn insert_candidate(
                &mut self,
                c: &Candidate,
                keys: &[Option<String>; 2],
                now: DateTime<Utc>,
            ) -> Result<i64, sqlx::Error> {
                let [email_key, phone_key] = keys;
                sqlx::query_scalar(
                    "INSERT INTO candidates (first_name, last_name, first_key, last_key, email,
                       email_key, phone, phone_key, custom, source, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'agency', $10, $10) RETURNING id",
                )
                .bind(&c.first_name.display)
                .bind(&c.last_name.display)
                .bind(&c.first_name.key)
                .bind(&c.last_name.key)
                .bind(&c.email)
                .bind(email_key)
                .bind(&c.phone)
                .bind(phone_key)
                .bind(serde_json::to_string(&c.custom).unwrap_or_default())
                .bind(now)
                .fetch_one(&mut **self)
                .await
            }

            async fn insert_ownership(
                &mut self,
                candidate_id: i64,
                row: &PendingRow,
                rules: Rules,
            ) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "INSERT INTO ownerships (candidate_id, scope_key, agency_id, user_email, channel,
                       submission_id, row_number, campaign_id, started_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(candidate_id)
                .bind(scope_key(rules.scope, row.campaign.as_deref()))
                .bind(&row.agency_id)
                .bind(&row.user_email)
                .bind(&row.channel)
                .bind(row.submission_id)
                .bind(row.row_number)
                .bind(&row.campaign)
                .bind(row.received_at)
                .bind(row.received_at + Duration::days(i64::from(rules.ownership_days)))
                .execute(&mut **self)
                .await?;
                Ok(())
            }

            async fn link_row(&mut self, row_id: i64, candidate_id: i64) -> Result<(), sqlx::Error> {
                sqlx::query("UPDATE submission_rows SET candidate_id = $2 WHERE id = $1")
                    .bind(row_id)
                    .bind(candidate_id)
                    .execute(&mut **self)
                    .await?;
                Ok(())
            }

            async fn queue_push(
                &mut self,
                candidate_id: i64,
                now: DateTime<Utc>,
            ) -> Result<(), sqlx::Error> {
                let of = super::talkpush::Of::Candidate(candidate_id);
                super::talkpush::enqueue(&mut **self, of, now).await?;
                Ok(())
            }

            async fn close_row(
                &mut self,
                row_id: i64,
                submission_id: i64,
                accept: bool,
                now: DateTime<Utc>,
            ) -> Result<(), sqlx::Error> {
                let (outcome, state, counter) = decided(accept);
                sqlx::query(
                    "UPDATE submission_rows SET outcome = $2, review_state = $3, reason = $4,
                       reviewed_at = $5 WHERE id = $1",
                )
                .bind(row_id)
                .bind(outcome)
                .bind(state)
                .bind(if accept {
                    String::new()
                } else {
                    crate::i18n::Reason::from(crate::i18n::Part::Duplicate).english()
                })
                .bind(now)
                .execute(&mut **self)
                .await?;
                let sql = format!(
                    "UPDATE submissions SET n_review = n_review - 1, {counter} = {counter} + 1 WHERE id = $1"
                );
                sqlx::query(&sql)
                    .bind(submission_id)
                    .execute(&mut **self)
                    .await?;
                Ok(())
            }

            async fn receipt_of(
                &mut self,
                submission_id: i64,
            ) -> Result<Option<crate::mail::receipt::ReplyTo>, sqlx::Error> {
                let receipt =
                    sqlx::query("SELECT message_id, message FROM outbox WHERE dedupe_key = $1")
                        .bind(crate::mail::receipt::dedupe_key(submission_id))
                        .fetch_optional(&mut **self)
                        .await?;
                let Some(r) = receipt else {
                    return Ok(None);
                };
                let bytes: Vec<u8> = r.try_get("message")?;
                Ok(Some(crate::mail::receipt::ReplyTo {
                    message_id: r.try_get("message_id")?,
                    subject: crate::mail::receipt::subject_of(&bytes),
                }))
            }

            async fn queue_message(
                &mut self,
                message: &crate::mail::Outgoing,
                now: DateTime<Utc>,
            ) -> Result<(), sqlx::Error> {
                super::outbox::enqueue(&mut **self, message, now).await?;
                Ok(())
            }
        }
    };
}

impl_decide_tx!(sqlx::Sqlite);
impl_decide_tx!(sqlx::Postgres);
