//! The decision for every row (SPEC §6.4): exactly one outcome, from the row, the rows before it in the
//! file, and what the database knows. Pure: the store gathers [`Known`] people, this decides, the store
//! writes what was decided.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::i18n::Reason;
use crate::outcome::Outcome;
use crate::settings::Scope;
use crate::who_is_who::{self, Identity};

mod earlier;
mod row;
mod similar;
#[cfg(test)]
mod tests;

use earlier::{remember, Earlier, RowBlocks, RowIndex};
use row::{decide_row, identified, Cx};
use similar::similar_all;

// Reasons never name another agency (SPEC §2): see the catalogue's `reason.*` texts.

/// One row to decide: owned (`String`), or borrowed from the prepared row (`&str`), as the store does
/// so that deciding a file copies none of its rows.
#[derive(Debug, Clone)]
pub struct RowInput<S = String> {
    /// The row number as the spreadsheet shows it.
    pub number: u32,
    /// `Some(reason)`: the row failed validation.
    pub invalid: Option<Reason>,
    /// For an invalid row: only missing or malformed fields, so that a well-formed email or phone
    /// may still give it an identity outcome (SPEC §6.4 (r2)).
    pub fields_only: bool,
    pub identity: Identity<S>,
    pub campaign_id: Option<S>,
}

impl<S: AsRef<str>> RowInput<S> {
    fn campaign(&self) -> Option<&str> {
        self.campaign_id.as_ref().map(AsRef::as_ref)
    }
}

/// Who currently owns a person in one scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    /// `None`: the company's own pipeline (`import-existing`).
    pub agency_id: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// A person the database knows, found by exact keys or by blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    pub id: i64,
    pub identity: Identity,
    /// Current owners by scope key (see [`scope_key`]).
    pub owners: HashMap<String, Owner>,
}

/// Everything the database said about the rows' people.
#[derive(Debug, Clone, Default)]
pub struct KnownPeople {
    pub people: HashMap<i64, Known>,
    pub by_email: HashMap<String, i64>,
    pub by_phone: HashMap<String, i64>,
    /// Candidates found through block keys, per block key's [`who_is_who::key_hash`] (a collision
    /// only puts one more person to compare; the comparison is exact).
    pub by_block: HashMap<u64, Vec<i64>>,
}

impl KnownPeople {
    pub fn insert(&mut self, known: Known) {
        if let Some(e) = &known.identity.email_key {
            self.by_email.insert(e.clone(), known.id);
        }
        if let Some(p) = &known.identity.phone_key {
            self.by_phone.insert(p.clone(), known.id);
        }
        for key in who_is_who::block_keys(&known.identity) {
            let ids = self.by_block.entry(who_is_who::key_hash(&key)).or_default();
            if !ids.contains(&known.id) {
                ids.push(known.id);
            }
        }
        self.people.insert(known.id, known);
    }
}

/// The rules a submission is decided under.
#[derive(Debug, Clone)]
pub struct Policy {
    pub scope: Scope,
    pub name_similarity: f64,
    pub agency_id: String,
    pub now: DateTime<Utc>,
}

/// The scope key of an ownership: '' under scope "company", the campaign under scope "campaign".
pub fn scope_key(scope: Scope, campaign_id: Option<&str>) -> String {
    scope_str(scope, campaign_id).to_string()
}

/// [`scope_key`], borrowed from the campaign.
fn scope_str(scope: Scope, campaign_id: Option<&str>) -> &str {
    match scope {
        Scope::Company => "",
        Scope::Campaign => campaign_id.unwrap_or_default(),
    }
}

/// The person a row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Person {
    /// Already in the database.
    Known(i64),
    /// Created by the row with this index (into the decided rows) of this file.
    NewFromRow(usize),
}

/// What to do with the person of a `new` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Nobody had this person: create the candidate.
    Create,
    /// The person exists (in the database, or created by an earlier row) with no current owner in
    /// scope, or an expired one: own it, superseding the expired ownership.
    Own,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub outcome: Outcome,
    pub reason: Reason,
    pub person: Option<Person>,
    /// For `repeated` (and in-file `review`): the earlier row's number.
    pub same_as_row: Option<u32>,
    /// For `new`: create or take over.
    pub take: Option<Take>,
}

impl Decision {
    fn new(outcome: Outcome, reason: Reason) -> Decision {
        Decision {
            outcome,
            reason,
            person: None,
            same_as_row: None,
            take: None,
        }
    }
}
/// The scope key of a row's ownership ([`scope_key`]), borrowed from the row.
fn row_scope(scope: Scope, row: &RowInput<impl AsRef<str>>) -> &str {
    scope_str(scope, row.campaign())
}

fn block_hash(scope_key: &str, block_key: &str) -> u32 {
    (who_is_who::key_hash((scope_key, block_key)) >> 32) as u32
}

/// Decides every row in input order.
pub fn decide<S: AsRef<str> + Sync>(
    rows: &[RowInput<S>],
    known: &KnownPeople,
    policy: &Policy,
) -> Vec<Decision> {
    decide_then(rows, known, policy, |_, _| {})
}

/// Rows decided at a time by [`decide_then`]: each run's review rule worked out on every processor,
/// then its rows decided in order and handed on.
pub const DECIDED_RUN: usize = 8192;

/// [`decide`], handing each run of [`DECIDED_RUN`] rows to `decided` (their positions and
/// decisions) as soon as they are decided, so that what follows from them (the store writes the
/// candidates they create) goes on while the next are decided. A row's decision depends only on the
/// rows before it, so none changes once handed on; of the rows before, only their outcomes and
/// persons: `decided` may take the reasons (the decisions returned then have what it left).
pub fn decide_then<S: AsRef<str> + Sync>(
    rows: &[RowInput<S>],
    known: &KnownPeople,
    policy: &Policy,
    decided: impl FnMut(std::ops::Range<usize>, &mut [Decision]),
) -> Vec<Decision> {
    decide_in_runs(rows, known, policy, DECIDED_RUN, decided)
}

fn decide_in_runs<S: AsRef<str> + Sync>(
    rows: &[RowInput<S>],
    known: &KnownPeople,
    policy: &Policy,
    run_len: usize,
    mut decided: impl FnMut(std::ops::Range<usize>, &mut [Decision]),
) -> Vec<Decision> {
    let mut out: Vec<Decision> = Vec::with_capacity(rows.len());
    // Sized for every row at once: growing them row by row held the old and the new table together.
    let valid = rows.iter().filter(|r| r.invalid.is_none()).count();
    let mut earlier = Earlier {
        by_email: RowIndex::with_capacity(valid),
        by_phone: RowIndex::with_capacity(valid),
        by_block: RowBlocks::new(rows, policy.scope),
        any_scope: RowIndex::with_capacity(2 * valid),
    };
    for from in (0..rows.len()).step_by(run_len) {
        let run = from..from.saturating_add(run_len).min(rows.len());
        let similar = similar_all(rows, run.clone(), &earlier.by_block, known, policy);
        for (i, similar) in run.clone().zip(&similar) {
            let row = &rows[i];
            let cx = Cx {
                rows,
                decided: &out,
                earlier: &earlier,
                known,
                policy,
            };
            let decision = match &row.invalid {
                Some(reason) if row.fields_only => identified(row, &cx, reason),
                Some(reason) => Decision::new(Outcome::Invalid, reason.clone()),
                None => decide_row(i, row, &cx, similar),
            };
            if row.invalid.is_none() {
                remember(&mut earlier, rows, i, policy.scope);
            }
            out.push(decision);
        }
        decided(run.clone(), &mut out[run]);
    }
    out
}
