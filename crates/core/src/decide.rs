//! The decision for every row (SPEC §6.4): exactly one outcome, from the row, the rows before it in the
//! file, and what the database knows. Pure: the store gathers [`Known`] people, this decides, the store
//! writes what was decided.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

use chrono::{DateTime, Utc};

use crate::hash_runs::HashRuns;
use crate::i18n::{Part, Reason};
use crate::outcome::Outcome;
use crate::settings::Scope;
use crate::who_is_who::{self, Identity};

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

/// Earlier valid rows of the file, for `repeated` and in-file `review`: the first row of each
/// (scope key, email key) and (scope key, phone key).
struct Earlier {
    by_email: RowIndex,
    by_phone: RowIndex,
    by_block: RowBlocks,
    /// First row of each email and phone key in any scope: under scope "campaign" the same person
    /// may be submitted to two campaigns in one file, and is still one person. An entry of a phone
    /// key has [`PHONE`] set.
    any_scope: RowIndex,
}

/// In [`Earlier::any_scope`], an entry of a row's phone key (else of its email key).
const PHONE: u32 = 1 << 31;

/// Rows by a key of theirs: each entry is a row's position, its key read back from the row to
/// compare (4 bytes an entry, hashed with foldhash, where a map of the keys borrowed from the rows
/// took 24 to 40: 30 MB of a 199,000-row file's peak, issue 10).
struct RowIndex {
    table: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl RowIndex {
    fn with_capacity(n: usize) -> RowIndex {
        RowIndex {
            table: hashbrown::HashTable::with_capacity(n),
            hasher: Default::default(),
        }
    }

    /// Keeps `entry` under `key` unless an entry of that key is there already (`key_of`: an entry's
    /// key).
    fn insert_first<K: Hash + Eq>(&mut self, key: K, entry: u32, key_of: impl Fn(u32) -> K) {
        let RowIndex { table, hasher } = self;
        let h = hasher.hash_one(&key);
        if let hashbrown::hash_table::Entry::Vacant(v) =
            table.entry(h, |&e| key_of(e) == key, |&e| hasher.hash_one(key_of(e)))
        {
            v.insert(entry);
        }
    }

    /// The entry of `key`, if any.
    fn get<K: Hash + Eq>(&self, key: K, key_of: impl Fn(u32) -> K) -> Option<u32> {
        let h = self.hasher.hash_one(&key);
        self.table.find(h, |&e| key_of(e) == key).copied()
    }
}

/// A row's (scope key, email key) and (scope key, phone key), for [`Earlier`].
fn email_of<'r, S: AsRef<str>>(
    rows: &'r [RowInput<S>],
    scope: Scope,
) -> impl Fn(u32) -> (&'r str, &'r str) + 'r {
    move |j| {
        let r = &rows[j as usize];
        (row_scope(scope, r), r.identity.email().unwrap_or_default())
    }
}

fn phone_of<'r, S: AsRef<str>>(
    rows: &'r [RowInput<S>],
    scope: Scope,
) -> impl Fn(u32) -> (&'r str, &'r str) + 'r {
    move |j| {
        let r = &rows[j as usize];
        (row_scope(scope, r), r.identity.phone().unwrap_or_default())
    }
}

/// The key of an [`Earlier::any_scope`] entry.
fn contact_of<'r, S: AsRef<str>>(rows: &'r [RowInput<S>]) -> impl Fn(u32) -> &'r str + 'r {
    move |e| {
        let id = &rows[(e & !PHONE) as usize].identity;
        if e & PHONE == 0 {
            id.email().unwrap_or_default()
        } else {
            id.phone().unwrap_or_default()
        }
    }
}

/// Every valid row of the file under each of its block keys, as (hash of (scope key, block key), row)
/// sorted: the rows before row `i` under a key are a run of it. A file of 100,000 rows has some
/// 700,000 block keys; a map of them to lists of rows was the largest thing decide held (28 MB, five
/// times this). The hash is 32 bits (8 bytes an entry: a 199,000-row file's took 11 MB less than
/// with 64): a hash collision merely puts one more earlier row to compare; the comparison is exact.
struct RowBlocks {
    entries: Vec<(u32, u32)>,
    runs: HashRuns,
}

impl RowBlocks {
    fn new<S: AsRef<str> + Sync>(rows: &[RowInput<S>], scope: Scope) -> RowBlocks {
        // Made on every processor, a share of the rows each, appended in order.
        let mut shares = crate::parallel::in_shares(rows.len(), |share| {
            let mut entries = Vec::new();
            for i in share {
                let row = &rows[i];
                if row.invalid.is_some() {
                    continue;
                }
                let sk = row_scope(scope, row);
                for key in who_is_who::block_keys(&row.identity) {
                    entries.push((block_hash(sk, &key), i as u32));
                }
            }
            entries
        })
        .into_iter();
        let mut entries = shares.next().unwrap_or_default();
        for more in shares {
            entries.extend(more);
        }
        entries.sort_unstable();
        let runs = HashRuns::new(&entries, |&(h, _)| h);
        RowBlocks { entries, runs }
    }

    /// The valid rows before row `i` under block hash `h`, in order.
    fn before(&self, h: u32, i: usize) -> impl ExactSizeIterator<Item = usize> + '_ {
        let bucket = &self.entries[self.runs.bucket(h)];
        let from = bucket.partition_point(|&(k, _)| k < h);
        let to = bucket.partition_point(|&(k, r)| (k, r as usize) < (h, i));
        bucket[from..to].iter().map(|&(_, j)| j as usize)
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

fn remember<S: AsRef<str>>(earlier: &mut Earlier, rows: &[RowInput<S>], i: usize, scope: Scope) {
    let row = &rows[i];
    let sk = row_scope(scope, row);
    // Positions fit in 31 bits: a file has at most `max_rows` rows.
    let at = i as u32;
    if let Some(e) = row.identity.email() {
        earlier
            .by_email
            .insert_first((sk, e), at, email_of(rows, scope));
        earlier.any_scope.insert_first(e, at, contact_of(rows));
    }
    if let Some(p) = row.identity.phone() {
        earlier
            .by_phone
            .insert_first((sk, p), at, phone_of(rows, scope));
        earlier
            .any_scope
            .insert_first(p, at | PHONE, contact_of(rows));
    }
}

/// What the review rule finds for a row (§6.3's possible same person): the first person in the
/// database, by id, and the first row before it in the file. Who is compared with whom depends only
/// on the rows and the people known, never on earlier decisions, so every row's is worked out
/// before deciding, on every processor at once ([`similar_all`]).
#[derive(Debug, Clone, Copy, Default)]
struct Similar {
    known: Option<i64>,
    row: Option<usize>,
}

/// [`Similar`] of the rows of `run`, for each valid row nobody in the database has by email or
/// phone (the others are decided before the rule), in threads taking the rows a slice at a time.
fn similar_all<S: AsRef<str> + Sync>(
    rows: &[RowInput<S>],
    run: std::ops::Range<usize>,
    by_block: &RowBlocks,
    known: &KnownPeople,
    policy: &Policy,
) -> Vec<Similar> {
    const SLICE: usize = 1024;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done: Vec<(usize, Vec<Similar>)> = Vec::new();
        loop {
            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let from = run.start + k * SLICE;
            if from >= run.end {
                return done;
            }
            let to = (from + SLICE).min(run.end);
            let slice = (from..to)
                .map(|i| {
                    let row = &rows[i];
                    let id = &row.identity;
                    let exact = id.email().is_some_and(|e| known.by_email.contains_key(e))
                        || id.phone().is_some_and(|p| known.by_phone.contains_key(p));
                    if row.invalid.is_some() || exact {
                        Similar::default()
                    } else {
                        similar(i, rows, by_block, known, policy)
                    }
                })
                .collect();
            done.push((k, slice));
        }
    };
    let mut slices: Vec<(usize, Vec<Similar>)> = crate::parallel::on_every_thread(work)
        .into_iter()
        .flatten()
        .collect();
    slices.sort_unstable_by_key(|(k, _)| *k);
    slices.into_iter().flat_map(|(_, s)| s).collect()
}

/// The review rule for row `i`: see [`Similar`].
fn similar<S: AsRef<str>>(
    i: usize,
    rows: &[RowInput<S>],
    by_block: &RowBlocks,
    known: &KnownPeople,
    policy: &Policy,
) -> Similar {
    let row = &rows[i];
    let id = &row.identity;
    let sk = row_scope(policy.scope, row);
    let keys = who_is_who::lookup_keys(id);
    let mut in_db: Vec<i64> = keys
        .iter()
        .filter_map(|k| known.by_block.get(&who_is_who::key_hash(k)))
        .flatten()
        .copied()
        .collect();
    in_db.sort_unstable();
    in_db.dedup();
    let known = in_db.into_iter().find(|cid| {
        known.people.get(cid).is_some_and(|p| {
            who_is_who::possible_same_person(id, &p.identity, policy.name_similarity)
        })
    });
    // Each earlier row once (rows of nearly the same contact share several blocks), in order: the
    // first possible same person is the answer. Every block whole: the rule is applied exactly.
    let mut before: Vec<usize> = keys
        .iter()
        .flat_map(|k| by_block.before(block_hash(sk, k), i))
        .collect();
    before.sort_unstable();
    before.dedup();
    let row = before
        .into_iter()
        .find(|&j| who_is_who::possible_same_person(id, &rows[j].identity, policy.name_similarity));
    Similar { known, row }
}

/// What deciding a row looks at besides the row itself: the file's rows, the decisions of the rows
/// before it, those rows by key, the people the database knows, and the rules.
struct Cx<'c, S> {
    rows: &'c [RowInput<S>],
    decided: &'c [Decision],
    earlier: &'c Earlier,
    known: &'c KnownPeople,
    policy: &'c Policy,
}

/// The same person (SPEC §6.3: an equal email or phone key, whatever the other field says) earlier
/// in this file, else in the database, and the outcome that gives: `repeated`, or the outcome of
/// the person's current owner in scope (`new` taking it over when there is none). When the email
/// names one person and the phone another, `review`. `None`: nobody has the row's email or phone.
fn same_person<S: AsRef<str>>(row: &RowInput<S>, cx: &Cx<'_, S>) -> Option<Decision> {
    let Cx {
        rows,
        decided,
        earlier,
        known,
        policy,
    } = cx;
    let id = &row.identity;
    let sk = row_scope(policy.scope, row);

    // 1. Earlier in this file.
    let by_email = id
        .email()
        .and_then(|e| earlier.by_email.get((sk, e), email_of(rows, policy.scope)))
        .map(|j| j as usize);
    let by_phone = id
        .phone()
        .and_then(|p| earlier.by_phone.get((sk, p), phone_of(rows, policy.scope)))
        .map(|j| j as usize);
    if let (Some(a), Some(b)) = (by_email, by_phone) {
        // Two earlier rows of two people (not one that repeated the other).
        let (pa, pb) = (decided[a].person, decided[b].person);
        if a != b && !(pa.is_some() && pa == pb) {
            let (first, second) = (rows[a.min(b)].number, rows[a.max(b)].number);
            return Some(Decision {
                outcome: Outcome::Review,
                reason: Part::ReviewTwoRows { first, second }.into(),
                person: None,
                same_as_row: Some(rows[a].number),
                take: None,
            });
        }
    }
    if let Some(j) = by_email.into_iter().chain(by_phone).min() {
        let number = rows[j].number;
        // An earlier row waiting for review names only a possible match: not this row's person.
        let person = match decided[j].outcome {
            Outcome::Review => None,
            _ => decided[j].person,
        };
        return Some(Decision {
            outcome: Outcome::Repeated,
            reason: Part::Repeated { row: number }.into(),
            person,
            same_as_row: Some(number),
            take: None,
        });
    }

    // 2. In the database.
    let by_email = id.email().and_then(|e| known.by_email.get(e));
    let by_phone = id.phone().and_then(|p| known.by_phone.get(p));
    let cid = match (by_email, by_phone) {
        (Some(&a), Some(&b)) if a != b => {
            return Some(Decision {
                outcome: Outcome::Review,
                reason: Part::ReviewConflict.into(),
                person: Some(Person::Known(a)),
                same_as_row: None,
                take: None,
            });
        }
        (Some(&cid), _) | (None, Some(&cid)) => cid,
        (None, None) => return None,
    };
    let owner = known
        .people
        .get(&cid)
        .and_then(|p| p.owners.get(sk))
        .filter(|o| o.expires_at > policy.now);
    let (outcome, reason, take) = match owner {
        Some(Owner {
            agency_id: None, ..
        }) => (Outcome::Blocked, Part::Blocked.into(), None),
        Some(Owner {
            agency_id: Some(a), ..
        }) if *a == policy.agency_id => (
            Outcome::PreviouslySubmitted,
            Part::PreviouslySubmitted.into(),
            None,
        ),
        Some(_) => (Outcome::Duplicate, Part::Duplicate.into(), None),
        None => (Outcome::New, Reason::default(), Some(Take::Own)),
    };
    Some(Decision {
        outcome,
        reason,
        person: Some(Person::Known(cid)),
        same_as_row: None,
        take,
    })
}

/// SPEC §6.4 (r2), step 2 for a row with missing or malformed fields: the identity outcome its
/// well-formed email or phone gives (`repeated`, `previously_submitted`, `duplicate`, `blocked`),
/// its reason naming the row's problems too; else `invalid`.
fn identified<S: AsRef<str>>(row: &RowInput<S>, cx: &Cx<'_, S>, problems: &Reason) -> Decision {
    match same_person(row, cx) {
        Some(mut d)
            if matches!(
                d.outcome,
                Outcome::Repeated
                    | Outcome::PreviouslySubmitted
                    | Outcome::Duplicate
                    | Outcome::Blocked
            ) =>
        {
            d.reason = d.reason.and(problems);
            d
        }
        _ => Decision::new(Outcome::Invalid, problems.clone()),
    }
}

fn decide_row<S: AsRef<str>>(
    i: usize,
    row: &RowInput<S>,
    cx: &Cx<'_, S>,
    similar: &Similar,
) -> Decision {
    if let Some(d) = same_person(row, cx) {
        return d;
    }
    let Cx {
        rows,
        decided,
        earlier,
        ..
    } = cx;
    let id = &row.identity;

    // 2b. The same person earlier in this file, in another scope (another campaign): one person,
    //     owned in this scope by nobody yet.
    let other_scope = [id.email(), id.phone()]
        .into_iter()
        .flatten()
        .filter_map(|k| earlier.any_scope.get(k, contact_of(rows)))
        .map(|e| (e & !PHONE) as usize)
        .min();
    if let Some(j) = other_scope {
        if let Some(person) = decided[j].person {
            return Decision {
                outcome: Outcome::New,
                reason: Reason::default(),
                person: Some(person),
                same_as_row: None,
                take: Some(Take::Own),
            };
        }
    }

    // 3. A possible same person: in the database, then earlier in the file.
    if let Some(cid) = similar.known {
        return Decision {
            outcome: Outcome::Review,
            reason: Part::ReviewSimilar.into(),
            person: Some(Person::Known(cid)),
            same_as_row: None,
            take: None,
        };
    }
    if let Some(j) = similar.row {
        let number = rows[j].number;
        return Decision {
            outcome: Outcome::Review,
            reason: Part::ReviewSimilarRow { row: number }.into(),
            person: decided[j].person,
            same_as_row: Some(number),
            take: None,
        };
    }

    // 4. Nobody: a new person.
    Decision {
        outcome: Outcome::New,
        reason: Reason::default(),
        person: Some(Person::NewFromRow(i)),
        same_as_row: None,
        take: Some(Take::Create),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap()
    }

    fn policy(scope: Scope) -> Policy {
        Policy {
            scope,
            name_similarity: 0.92,
            agency_id: "acme".into(),
            now: now(),
        }
    }

    fn ident(first: &str, last: &str, email: Option<&str>, phone: Option<&str>) -> Identity {
        Identity {
            first: first.into(),
            last: last.into(),
            email_key: email.map(Into::into),
            phone_key: phone.map(Into::into),
        }
    }

    fn row(number: u32, id: Identity) -> RowInput {
        RowInput {
            number,
            invalid: None,
            fields_only: false,
            identity: id,
            campaign_id: Some("40123".into()),
        }
    }

    fn known_with(owner: Option<&str>, expires_in_days: i64) -> KnownPeople {
        let mut k = KnownPeople::default();
        let mut owners = HashMap::new();
        if let Some(o) = owner {
            owners.insert(
                String::new(),
                Owner {
                    agency_id: (o != "company").then(|| o.to_string()),
                    expires_at: now() + Duration::days(expires_in_days),
                },
            );
        }
        k.insert(Known {
            id: 7,
            identity: ident("ana", "cruz", Some("ana@gmail.com"), Some("639171234567")),
            owners,
        });
        k
    }

    fn outcomes(d: &[Decision]) -> Vec<&'static str> {
        d.iter().map(|d| d.outcome.as_str()).collect()
    }

    #[test]
    fn every_outcome_against_the_database() {
        let p = policy(Scope::Company);
        let r = [row(2, ident("ana", "cruz", Some("ana@gmail.com"), None))];
        let cases = [
            (None, 10, "new"),
            (Some("acme"), 10, "previously_submitted"),
            (Some("rival"), 10, "duplicate"),
            (Some("company"), 10, "blocked"),
            (Some("rival"), -1, "new"),
            (Some("company"), -1, "new"),
        ];
        for (owner, days, want) in cases {
            let d = decide(&r, &known_with(owner, days), &p);
            assert_eq!(d[0].outcome.as_str(), want, "{owner:?} {days}");
            assert_eq!(d[0].person, Some(Person::Known(7)));
            if want == "new" {
                assert_eq!(d[0].take, Some(Take::Own));
            }
            assert!(!d[0].reason.english().contains("rival"));
        }
    }

    #[test]
    fn in_file_repeated_and_invalid() {
        let p = policy(Scope::Company);
        let mut bad = row(3, ident("x", "y", None, None));
        bad.invalid = Some("email: missing".into());
        let rows = [
            row(2, ident("ana", "cruz", Some("ana@gmail.com"), None)),
            bad,
            row(4, ident("ana", "c", None, Some("639171234567"))),
            row(
                5,
                ident("ana", "cruz", Some("ana@gmail.com"), Some("639171234567")),
            ),
        ];
        let d = decide(&rows, &KnownPeople::default(), &p);
        // Row 5's email is row 2's person's, its phone row 4's: two people of this file.
        assert_eq!(outcomes(&d), ["new", "invalid", "new", "review"]);
        assert_eq!(d[3].same_as_row, Some(2));
        assert_eq!(d[3].person, None);
    }

    #[test]
    fn conflicting_contacts_and_similar_people_go_to_review() {
        let p = policy(Scope::Company);
        let mut k = known_with(Some("other"), 10);
        k.insert(Known {
            id: 8,
            identity: ident("ben", "reyes", Some("ben@gmail.com"), Some("639181111111")),
            owners: HashMap::new(),
        });
        let rows = [
            row(
                2,
                ident("ana", "cruz", Some("ana@gmail.com"), Some("639181111111")),
            ),
            row(3, ident("ana", "cruz", Some("anna@gmail.com"), None)),
            row(
                4,
                ident("ana", "cruz", Some("ana@yahoo.com"), Some("639999999999")),
            ),
        ];
        let d = decide(&rows, &k, &p);
        assert_eq!(outcomes(&d), ["review", "review", "new"]);
        assert_eq!(d[1].person, Some(Person::Known(7)));
    }

    #[test]
    fn campaign_scope_owns_per_campaign() {
        let p = policy(Scope::Campaign);
        let mut k = KnownPeople::default();
        k.insert(Known {
            id: 7,
            identity: ident("ana", "cruz", Some("ana@gmail.com"), None),
            owners: HashMap::from([(
                "40123".to_string(),
                Owner {
                    agency_id: Some("other".into()),
                    expires_at: now() + Duration::days(30),
                },
            )]),
        });
        let mut r2 = row(3, ident("ana", "cruz", Some("ana@gmail.com"), None));
        r2.campaign_id = Some("40124".into());
        let rows = [
            row(2, ident("ana", "cruz", Some("ana@gmail.com"), None)),
            r2,
        ];
        let d = decide(&rows, &k, &p);
        assert_eq!(outcomes(&d), ["duplicate", "new"]);
        assert_eq!(d[1].take, Some(Take::Own));

        // A person new to the database, submitted to two campaigns in one file: one candidate.
        let mut b2 = row(3, ident("ben", "reyes", Some("ben@gmail.com"), None));
        b2.campaign_id = Some("40124".into());
        let rows = [
            row(2, ident("ben", "reyes", Some("ben@gmail.com"), None)),
            b2,
        ];
        let d = decide(&rows, &k, &p);
        assert_eq!(outcomes(&d), ["new", "new"]);
        assert_eq!(d[1].person, Some(Person::NewFromRow(0)));
        assert_eq!(d[1].take, Some(Take::Own));
    }

    /// SPEC §6.3 (r2): an equal email is the same person whatever the phone says (a changed
    /// number), in the database and earlier in the file; only an email naming one person and a phone
    /// another goes to an owner.
    #[test]
    fn one_email_with_another_phone_is_the_same_person() {
        let p = policy(Scope::Company);
        let mut k = known_with(Some("rival"), 10); // 7: ana@gmail.com, 639171234567
        k.insert(Known {
            id: 8,
            identity: ident("ben", "reyes", Some("ben@gmail.com"), Some("639181111111")),
            owners: HashMap::new(),
        });
        let rows = [
            row(
                2,
                ident("ana", "cruz", Some("ana@gmail.com"), Some("639998887766")),
            ),
            row(
                3,
                ident("bo", "lim", Some("bo@gmail.com"), Some("639181112222")),
            ),
            row(
                4,
                ident("bo", "lim", Some("bo@gmail.com"), Some("639182222222")),
            ),
            row(
                5,
                ident("cy", "tan", Some("cy@gmail.com"), Some("639183333333")),
            ),
            // The email of row 3, the phone of row 5: two people of this file.
            row(
                6,
                ident("bo", "lim", Some("bo@gmail.com"), Some("639183333333")),
            ),
            // The email of row 4's person, the phone row 4 gave: one person.
            row(
                7,
                ident("bo", "lim", Some("bo@gmail.com"), Some("639182222222")),
            ),
        ];
        let d = decide(&rows, &k, &p);
        assert_eq!(
            outcomes(&d),
            ["duplicate", "new", "repeated", "new", "review", "repeated"]
        );
        assert_eq!(d[0].person, Some(Person::Known(7)));
        assert_eq!(d[2].same_as_row, Some(3));
        assert_eq!(d[2].person, Some(Person::NewFromRow(1)));
        assert!(
            d[4].reason.english().contains("(3 and 5)"),
            "{}",
            d[4].reason
        );
        // Ana's email, Ben's phone: two registered people.
        let both = row(
            8,
            ident("ana", "cruz", Some("ana@gmail.com"), Some("639181111111")),
        );
        let d = decide(&[both], &k, &p);
        assert_eq!(outcomes(&d), ["review"]);
        assert_eq!(d[0].reason, Reason::from(Part::ReviewConflict));
    }

    fn incomplete(mut r: RowInput, problems: &str) -> RowInput {
        r.invalid = Some(problems.into());
        r.fields_only = true;
        r
    }

    /// SPEC §6.4 (r2): a row with a missing or malformed field whose well-formed email or phone
    /// identifies someone gets that identity outcome, its reason naming the problem too; else, or
    /// when the whole row is unacceptable, `invalid`.
    #[test]
    fn identity_before_completeness() {
        let p = policy(Scope::Company);
        for (owner, days, want) in [
            (Some("rival"), 10, "duplicate"),
            (Some("acme"), 10, "previously_submitted"),
            (Some("company"), 10, "blocked"),
            // The person is free to take: a new candidate needs a complete row.
            (Some("rival"), -1, "invalid"),
            (None, 10, "invalid"),
        ] {
            let k = known_with(owner, days);
            let rows = [incomplete(
                row(2, ident("", "cruz", None, Some("639171234567"))),
                "first name: missing; email: not a valid address",
            )];
            let d = decide(&rows, &k, &p);
            assert_eq!(d[0].outcome.as_str(), want, "{owner:?} {days}");
            if want == "invalid" {
                assert_eq!(
                    d[0].reason,
                    "first name: missing; email: not a valid address"
                );
                assert_eq!(d[0].person, None);
            } else {
                assert!(
                    d[0].reason
                        .english()
                        .ends_with("; first name: missing; email: not a valid address"),
                    "{}",
                    d[0].reason
                );
                assert_eq!(d[0].person, Some(Person::Known(7)));
            }
        }
        // Unacceptable whoever the person is (a closed campaign, say): invalid.
        let k = known_with(Some("rival"), 10);
        let mut closed = row(2, ident("ana", "cruz", Some("ana@gmail.com"), None));
        closed.invalid = Some("campaign: closed".into());
        assert_eq!(outcomes(&decide(&[closed], &k, &p)), ["invalid"]);
        // Email naming one person and phone another: not an identity outcome.
        let mut k = known_with(Some("rival"), 10);
        k.insert(Known {
            id: 8,
            identity: ident("ben", "reyes", None, Some("639181111111")),
            owners: HashMap::new(),
        });
        let both = incomplete(
            row(
                2,
                ident("", "", Some("ana@gmail.com"), Some("639181111111")),
            ),
            "first name: missing",
        );
        assert_eq!(outcomes(&decide(&[both], &k, &p)), ["invalid"]);
    }

    /// In a file: a row with a missing name after the same person's complete row repeats it; a
    /// complete row after an incomplete one of the same person is the person's first.
    #[test]
    fn incomplete_rows_of_a_person_in_one_file() {
        let p = policy(Scope::Company);
        let rows = [
            row(
                4,
                ident("ana", "cruz", Some("ana@gmail.com"), Some("639171234567")),
            ),
            incomplete(
                row(5, ident("", "cruz", Some("ana@gmail.com"), None)),
                "first name: missing",
            ),
            incomplete(
                row(6, ident("ben", "", None, Some("639181111111"))),
                "last name: missing",
            ),
            row(
                7,
                ident("ben", "reyes", Some("ben@gmail.com"), Some("639181111111")),
            ),
        ];
        let d = decide(&rows, &KnownPeople::default(), &p);
        assert_eq!(outcomes(&d), ["new", "repeated", "invalid", "new"]);
        assert_eq!(
            d[1].reason,
            "the same person as row 4 of this file; first name: missing"
        );
        assert_eq!(d[1].person, Some(Person::NewFromRow(0)));
        assert_eq!(d[3].person, Some(Person::NewFromRow(3)));
    }

    /// SPEC §6.3 (r2): both contacts within one edit is a possible same person whatever the
    /// names; and the rule is exact however many people share a block: among 100 people (in the
    /// database, or earlier rows) of one name whose addresses differ only in their last digits
    /// (`…aabb`: any two at least two edits apart), the one a row is near to is found.
    #[test]
    fn review_rule_is_exact_at_any_block_size() {
        let p = policy(Scope::Company);
        let person = |n: u32| {
            let (a, b) = (n / 10, n % 10);
            ident(
                "maria",
                "santos",
                Some(&format!("maria.santos.{a}{a}{b}{b}@gmail.com")),
                Some(&format!("639175{a}{a}{b}{b}00")),
            )
        };
        let mut k = KnownPeople::default();
        for n in 0..100 {
            k.insert(Known {
                id: i64::from(n),
                identity: person(n),
                owners: HashMap::new(),
            });
        }
        // Every person stored under one email block key: more than 64.
        let key = &who_is_who::block_keys(&person(0))[0];
        let sharing = k
            .people
            .values()
            .filter(|p| who_is_who::block_keys(&p.identity).contains(key))
            .count();
        assert_eq!(sharing, 100);
        // Person 13's address with one letter typed over, its phone's last digits swapped,
        // another name.
        let typo = ident(
            "jose",
            "rizal",
            Some("maria.sangos.1133@gmail.com"),
            Some("639175113030"),
        );
        let d = decide(&[row(2, typo.clone())], &k, &p);
        assert_eq!(outcomes(&d), ["review"]);
        assert_eq!(d[0].person, Some(Person::Known(13)));
        // The same among the rows of one file.
        let mut rows: Vec<RowInput> = (0..100).map(|n| row(n + 2, person(n))).collect();
        rows.push(row(200, typo));
        let d = decide(&rows, &KnownPeople::default(), &p);
        assert!(d[..100].iter().all(|d| d.outcome == Outcome::New));
        assert_eq!(d[100].outcome, Outcome::Review);
        assert_eq!(d[100].same_as_row, Some(15));
    }

    #[test]
    fn rows_decided_a_run_at_a_time_are_decided_as_all_at_once() {
        // Rows that repeat, look like or are invalid beside rows of earlier runs: every run size
        // hands on each row once, in order, with the decision of the whole file at once.
        let p = policy(Scope::Company);
        let k = known_with(Some("rival"), 10);
        let mut rows = vec![
            row(2, ident("ana", "cruz", Some("ana@gmail.com"), None)),
            row(3, ident("maria", "santos", Some("maria.santos@x.ph"), None)),
            row(4, ident("jo", "reyes", None, Some("639170000001"))),
            row(5, ident("maria", "santos", Some("maria.santo@x.ph"), None)),
            row(
                6,
                ident("jo", "reyes", Some("jo@x.ph"), Some("639170000001")),
            ),
            row(7, ident("lee", "tan", Some("lee@x.ph"), None)),
            row(8, ident("ana", "cruz", None, Some("639171234567"))),
        ];
        rows[5].invalid = Some("email: not an address".into());
        let whole = decide_in_runs(&rows, &k, &p, usize::MAX, |_, _| {});
        assert_eq!(
            outcomes(&whole),
            [
                "duplicate",
                "new",
                "new",
                "review",
                "repeated",
                "invalid",
                "duplicate"
            ]
        );
        for run_len in [1, 2, 3, 7] {
            let mut handed = Vec::new();
            let d = decide_in_runs(&rows, &k, &p, run_len, |run, ds| {
                assert_eq!(run.len(), ds.len());
                assert!(run.len() <= run_len);
                handed.extend(run.zip(ds.iter().cloned()));
            });
            assert_eq!(d, whole, "runs of {run_len}");
            let (at, ds): (Vec<usize>, Vec<Decision>) = handed.into_iter().unzip();
            assert_eq!(at, (0..rows.len()).collect::<Vec<_>>(), "runs of {run_len}");
            assert_eq!(ds, whole, "runs of {run_len}");
        }
    }
}
