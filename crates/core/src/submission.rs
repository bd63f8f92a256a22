//! A submission as the core sees it (SPEC §4, §6.4, §6.5): how it arrived, the rules it is decided
//! under, its rows as inputs to deciding, and each row's outcome. No I/O: the store records these.

use chrono::{DateTime, Utc};

use crate::decide::{Decision, Person, RowInput};
use crate::outcome::Outcome;
use crate::rows::PreparedRow;
use crate::settings::Scope;
use crate::who_is_who::Identity;

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
    /// Stored in English; worded in the agency's language for its receipt and workbooks.
    pub reason: crate::i18n::Reason,
    /// The person the row created, updated or was matched to (none for `invalid`).
    pub candidate_id: Option<i64>,
    pub same_as_row: Option<u32>,
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

/// A prepared row's identity, borrowed from it.
pub fn identity(row: &PreparedRow) -> Identity<&str> {
    let c = &row.candidate;
    Identity {
        first: c.first_name().key,
        last: c.last_name().key,
        email_key: c.email_key(),
        phone_key: c.phone_key(),
    }
}

/// The rows to decide, borrowed from the prepared rows (a copy was 20 MB of a 100,000-row file).
pub fn inputs(rows: &[PreparedRow]) -> Vec<Input<'_>> {
    rows.iter()
        .map(|r| RowInput {
            number: r.number,
            invalid: r.invalid.clone(),
            fields_only: r.fields_only,
            identity: identity(r),
            campaign_id: r.candidate.campaign_id(),
        })
        .collect()
}

/// A row to decide, borrowed from its prepared row.
pub type Input<'a> = RowInput<&'a str>;

/// Rows' outcomes of a check (nothing written): a row that would create its candidate names none.
pub fn outcomes(rows: &[PreparedRow], decisions: &[Decision]) -> Vec<RowOutcome> {
    rows.iter()
        .zip(decisions)
        .map(|(r, d)| RowOutcome {
            number: r.number,
            outcome: d.outcome,
            reason: d.reason.clone(),
            candidate_id: candidate_of(d.person, &[]),
            same_as_row: d.same_as_row,
        })
        .collect()
}

/// The candidate a row's decision names: a known person's, or the one an earlier row (or the row
/// itself) created, by `new_ids` (each row's created candidate; none yet when not at hand).
pub fn candidate_of(person: Option<Person>, new_ids: &[Option<i64>]) -> Option<i64> {
    match person {
        Some(Person::Known(id)) => Some(id),
        Some(Person::NewFromRow(i)) => new_ids.get(i).copied().flatten(),
        None => None,
    }
}
