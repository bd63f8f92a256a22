//! What a submission writes, column by column, before a backend writes it in bulk.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::super::blocks;
use crate::outcome::Outcome;
use crate::review_prefilter::stored_blocks;
use crate::rows::PreparedRow;
use crate::submission::{Input, RowOutcome};
use crate::who_is_who::{self, Identity};

/// Candidate records' values, column by column (for the bulk statements): of candidates to create
/// ([`NewCandidates`], with their other columns) or of records to update ([`Updates`]: the
/// `previously_submitted` rows, in row order; a candidate may come twice, under scope "campaign",
/// and the updates apply in that order).
#[derive(Default)]
pub(super) struct Records {
    pub(super) id: Vec<i64>,
    pub(super) first_name: Vec<String>,
    pub(super) last_name: Vec<String>,
    pub(super) first_key: Vec<String>,
    pub(super) last_key: Vec<String>,
    pub(super) email: Vec<Option<String>>,
    pub(super) email_key: Vec<Option<String>>,
    pub(super) phone: Vec<Option<String>>,
    pub(super) phone_key: Vec<Option<String>>,
    /// The other columns as JSON (new candidates only).
    pub(super) custom: Vec<String>,
}

pub(super) type NewCandidates = Records;
pub(super) type Updates = Records;

impl Records {
    /// Record `id` takes the names and contacts of `c`.
    pub(super) fn push(&mut self, id: i64, c: &crate::candidate::PackedCandidate) {
        let owned = |s: Option<&str>| s.map(str::to_string);
        self.id.push(id);
        self.first_name.push(c.first_name().display.to_string());
        self.last_name.push(c.last_name().display.to_string());
        self.first_key.push(c.first_name().key.to_string());
        self.last_key.push(c.last_name().key.to_string());
        self.email.push(owned(c.email()));
        self.email_key.push(owned(c.email_key()));
        self.phone.push(owned(c.phone()));
        self.phone_key.push(owned(c.phone_key()));
    }
}

/// Block keys of candidates to write or remove: as Postgres keeps them ([`StoredKey`], their
/// contacts in `text`), or, for SQLite, their text one after another (a file's 400,000 keys as
/// Strings took twice the memory). Made by [`WriteBlocks::new_blocks`], which knows which.
pub(crate) struct NewBlocks {
    pub(super) hashed: bool,
    pub(super) hashes: Vec<StoredKey>,
    pub(super) text: String,
    pub(super) ends: Vec<u32>,
    pub(super) candidate_id: Vec<i64>,
}

/// A block key as Postgres keeps it (see [`stored_blocks`]), its contact in [`NewBlocks`]' text.
#[derive(Clone, Copy)]
pub(super) struct StoredKey {
    pub(super) hash: i64,
    pub(super) candidate_id: i64,
    pub(super) near_start: u32,
    pub(super) near_len: u16,
    pub(super) phone_len: i16,
}

impl NewBlocks {
    pub(super) fn new(hashed: bool) -> NewBlocks {
        NewBlocks {
            hashed,
            hashes: Vec::new(),
            text: String::new(),
            ends: Vec::new(),
            candidate_id: Vec::new(),
        }
    }

    /// Every block key of this person ([`who_is_who::block_keys`]), for candidate `id`.
    pub(crate) fn push(&mut self, identity: &Identity<impl AsRef<str>>, id: i64) {
        if self.hashed {
            // Each contact once: a person's keys are of two contacts at most.
            let mut last: Option<(&str, u32)> = None;
            for (hash, near, phone_len) in stored_blocks(identity) {
                let near_start = match last {
                    Some((s, at)) if s == near => at,
                    _ => {
                        let at = self.text.len() as u32;
                        self.text.push_str(near);
                        last = Some((near, at));
                        at
                    }
                };
                self.hashes.push(StoredKey {
                    hash,
                    candidate_id: id,
                    near_start,
                    near_len: u16::try_from(near.len()).unwrap_or(u16::MAX),
                    phone_len,
                });
            }
            return;
        }
        for key in who_is_who::block_keys(identity) {
            self.text.push_str(&key);
            self.ends.push(self.text.len() as u32);
            self.candidate_id.push(id);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.hashes.len() + self.ends.len()
    }

    /// The keys' candidates renumbered by `id`.
    pub(super) fn renumber(&mut self, id: impl Fn(i64) -> i64) {
        for k in &mut self.hashes {
            k.candidate_id = id(k.candidate_id);
        }
        for c in &mut self.candidate_id {
            *c = id(*c);
        }
    }

    /// Makes the hashed keys removals (the phone length of a removal, see [`blocks::Entry`]).
    pub(super) fn mark_removals(&mut self) {
        for k in &mut self.hashes {
            *k = StoredKey {
                phone_len: blocks::REMOVED,
                near_start: 0,
                near_len: 0,
                ..*k
            };
        }
    }

    pub(super) fn key(&self, k: usize) -> &str {
        let start = if k == 0 { 0 } else { self.ends[k - 1] as usize };
        &self.text[start..self.ends[k] as usize]
    }

    pub(super) fn near(&self, k: &StoredKey) -> &str {
        let start = k.near_start as usize;
        self.text
            .get(start..start + k.near_len as usize)
            .unwrap_or_default()
    }
}

/// Current ownerships to supersede (an expired one taken over).
#[derive(Default)]
pub(super) struct Superseded {
    pub(super) candidate_id: Vec<i64>,
    pub(super) scope_key: Vec<String>,
}

/// Ownerships to start, column by column; the rest is [`OwnershipMeta`].
#[derive(Default)]
pub(super) struct NewOwnerships {
    pub(super) candidate_id: Vec<i64>,
    pub(super) scope_key: Vec<String>,
    pub(super) row_number: Vec<i64>,
    pub(super) campaign_id: Vec<Option<String>>,
}

/// What every ownership of a submission shares.
pub(super) struct OwnershipMeta {
    pub(super) agency_id: Option<String>,
    pub(super) user_email: Option<String>,
    pub(super) channel: &'static str,
    pub(super) submission_id: i64,
    pub(super) started_at: DateTime<Utc>,
    pub(super) expires_at: DateTime<Utc>,
}

/// Every row's outcome, as the rows and their outcomes hold it: each backend writes it as it goes
/// ([`OutcomeRows::record`]), no copy of all of it is made.
pub(super) struct OutcomeRows<'r> {
    pub(super) results: &'r [RowOutcome],
    pub(super) rows: &'r [PreparedRow],
    pub(super) inputs: &'r [Input<'r>],
}

/// One row's outcome record (`submission_rows`); `cells` and `person` are stored as JSON.
pub(super) struct OutcomeRecord<'r> {
    pub(super) row_number: i64,
    pub(super) outcome: &'static str,
    /// In English (owners read it).
    pub(super) reason: String,
    pub(super) candidate_id: Option<i64>,
    pub(super) same_as_row: Option<i64>,
    pub(super) campaign_id: Option<&'r str>,
    pub(super) cells: &'r crate::rows::Cells,
    /// Review rows: the normalised values with the custom fields, for `review accept`.
    pub(super) person: Option<crate::validation::Candidate>,
    /// Review rows: `pending`.
    pub(super) review_state: Option<&'static str>,
}

impl<'r> OutcomeRows<'r> {
    pub(super) fn len(&self) -> usize {
        self.results.len()
    }

    pub(super) fn record(&self, i: usize) -> OutcomeRecord<'r> {
        let r = &self.results[i];
        let review = r.outcome == Outcome::Review;
        OutcomeRecord {
            row_number: i64::from(r.number),
            outcome: r.outcome.as_str(),
            reason: r.reason.english(),
            candidate_id: r.candidate_id,
            same_as_row: r.same_as_row.map(i64::from),
            campaign_id: self.inputs[i].campaign_id,
            cells: &self.rows[i].cells,
            person: review.then(|| self.rows[i].full_candidate()),
            review_state: review.then_some("pending"),
        }
    }
}

/// Positions `0..ids.len()` in waves, each holding an id at most once, in order: one bulk statement
/// per wave applies repeated updates of one row in their order.
pub(super) fn waves(ids: &[i64]) -> Vec<Vec<usize>> {
    let mut seen: HashMap<i64, usize> = HashMap::new();
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (k, id) in ids.iter().enumerate() {
        let n = seen.entry(*id).or_insert(0);
        if out.len() <= *n {
            out.push(Vec::new());
        }
        out[*n].push(k);
        *n += 1;
    }
    out
}

/// What a `previously_submitted` row changes in its record (SPEC §6.4): each new non-empty value,
/// a valid email or phone with its key (a changed number is recorded, SPEC §6.3 (r2)); a malformed
/// one changes nothing.
pub(super) const UPDATE_SET: &str =
    "first_name = CASE WHEN u.first_name <> '' THEN u.first_name ELSE c.first_name END,
       first_key = CASE WHEN u.first_key <> '' THEN u.first_key ELSE c.first_key END,
       last_name = CASE WHEN u.last_name <> '' THEN u.last_name ELSE c.last_name END,
       last_key = CASE WHEN u.last_key <> '' THEN u.last_key ELSE c.last_key END,
       email = CASE WHEN u.email_key IS NOT NULL THEN u.email ELSE c.email END,
       email_key = COALESCE(u.email_key, c.email_key),
       phone = CASE WHEN u.phone_key IS NOT NULL THEN u.phone ELSE c.phone END,
       phone_key = COALESCE(u.phone_key, c.phone_key)";
