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

use super::blocks;
use super::copy::CopyIn;
use super::{on_pool, Store, StoreError, WritePool};
use crate::decide::{self, Decision, Known, KnownPeople, Owner, Person, Policy, RowInput, Take};
use crate::hash_runs::HashRuns;
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
    /// Stored in English; worded in the agency's language for its receipt and workbooks.
    pub reason: crate::i18n::Reason,
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
fn inputs(rows: &[PreparedRow]) -> Vec<Input<'_>> {
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
type Input<'a> = RowInput<&'a str>;

/// The exact keys to look people up by, for the valid rows: sorted, each once, borrowed from the
/// rows.
struct LookupKeys<'a> {
    emails: Vec<&'a str>,
    phones: Vec<&'a str>,
}

fn lookup_keys<'a>(inputs: &[Input<'a>]) -> LookupKeys<'a> {
    let valid = || inputs.iter().filter(|r| r.invalid.is_none());
    let sorted = |mut keys: Vec<&'a str>| {
        keys.sort_unstable();
        keys.dedup();
        keys
    };
    LookupKeys {
        emails: sorted(valid().filter_map(|r| r.identity.email_key).collect()),
        phones: sorted(valid().filter_map(|r| r.identity.phone_key).collect()),
    }
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

/// The rows whose block keys are worth looking up, in order: valid rows that are nobody the database
/// knows by email or phone and that repeat no earlier row of the file (those are decided without the
/// review rule).
fn review_candidates(inputs: &[Input], exact: &ExactKeys) -> Vec<usize> {
    let mut earlier: foldhash::HashSet<&str> = Default::default();
    let mut out = Vec::new();
    for (i, r) in inputs.iter().enumerate() {
        if r.invalid.is_some() {
            continue;
        }
        let id = &r.identity;
        let e = id.email();
        let p = id.phone();
        let repeats =
            e.is_some_and(|e| earlier.contains(e)) || p.is_some_and(|p| earlier.contains(p));
        earlier.extend(e);
        earlier.extend(p);
        if !exact.knows(id) && !repeats {
            out.push(i);
        }
    }
    out
}

/// The email and phone keys of the people found by the rows' own keys: a row with one of them is
/// decided without the review rule.
struct ExactKeys<'a> {
    emails: foldhash::HashSet<&'a str>,
    phones: foldhash::HashSet<&'a str>,
}

impl<'a> ExactKeys<'a> {
    fn new(found: &'a [KnownRow]) -> ExactKeys<'a> {
        ExactKeys {
            emails: found.iter().filter_map(|k| k.identity.email()).collect(),
            phones: found.iter().filter_map(|k| k.identity.phone()).collect(),
        }
    }

    /// Whether someone found has this row's email or phone.
    fn knows(&self, id: &Identity<&str>) -> bool {
        id.email().is_some_and(|e| self.emails.contains(e))
            || id.phone().is_some_and(|p| self.phones.contains(p))
    }
}

/// The block keys to look up for those rows, sorted, each once: as Postgres keeps them, hashed
/// ([`stored_block_hash`]), or, for SQLite, their text in one buffer (a file has some 1,300,000 of
/// them: one string each cost twice the memory, and Postgres needs none of the text).
struct LookupList {
    hashed: bool,
    hashes: Vec<i64>,
    text: String,
    spans: Vec<(u32, u32)>,
    /// For the text: the first span pushed under each hash (its low 32 bits), so that a key already
    /// in it (rows share most of their keys: a 199,000-row file pushed 2.8 million for 0.9 million
    /// different ones) is not pushed again. A key whose hash is another's is pushed: `finish`
    /// leaves each key once.
    first: foldhash::HashMap<u32, u32>,
}

impl LookupList {
    /// Keys kept hashed (Postgres) or as text (SQLite).
    fn new(hashed: bool) -> LookupList {
        LookupList {
            hashed,
            hashes: Vec::new(),
            text: String::new(),
            spans: Vec::new(),
            first: Default::default(),
        }
    }

    /// A row's key (`hash`: its [`stored_block_hash`]), kept as the backend asks for it.
    fn push(&mut self, key: &str, hash: i64) {
        if self.hashed {
            self.hashes.push(hash);
        } else {
            let same = |&(a, b): &(u32, u32)| &self.text[a as usize..b as usize] == key;
            let short = hash as u32;
            if let Some(&k) = self.first.get(&short) {
                if same(&self.spans[k as usize]) {
                    return;
                }
            }
            let start = self.text.len() as u32;
            self.text.push_str(key);
            self.first.entry(short).or_insert(self.spans.len() as u32);
            self.spans.push((start, self.text.len() as u32));
        }
    }

    /// Sorted, each key once.
    fn finish(&mut self) {
        self.first = Default::default();
        self.hashes.sort_unstable();
        self.hashes.dedup();
        let text = &self.text;
        let at = |&(a, b): &(u32, u32)| &text[a as usize..b as usize];
        self.spans.sort_unstable_by(|x, y| at(x).cmp(at(y)));
        self.spans.dedup_by(|x, y| at(x) == at(y));
        // Held while the people are read: without the growth slack (up to half of it).
        self.hashes.shrink_to_fit();
        self.text.shrink_to_fit();
        self.spans.shrink_to_fit();
    }
}

/// The block lookup keys of the rows the review rule may be applied to, hashed, with their rows.
///
/// [`decide::decide`] applies the review rule only to valid rows that nobody in the database has
/// by email or phone, comparing each with the people under the row's lookup keys
/// ([`who_is_who::lookup_keys`]) among the people gathered, a person being under the keys of
/// [`who_is_who::block_keys`]. So a gathered person changes a decision only when, under one of its
/// block keys, some such row finds it a possible same person: [`ReviewRows::may_pick`] keeps
/// exactly those (and, on a hash collision, a few more, which change nothing either).
///
/// Under a phone block key only the phones of a row and a person are compared, under an email block
/// key the emails (and phones that share no phone block, of different lengths): when the other
/// contact is the near one, the two also share a block of that contact (they share name initials,
/// which every key carries), and are compared there. So the same people are kept as by comparing
/// both contacts under every key, with less work per pair.
struct ReviewRows<'a> {
    /// One per (lookup key, row), sorted by the key's hash: the rows under a key are a run, and
    /// what each is compared on is in `text`, a buffer small enough to stay in the processor's
    /// cache (half a million people are each compared with some 50 rows: reaching each row's
    /// contact through the row cost 4 s).
    entries: Vec<Entry>,
    /// Where each hash's run starts, found without a binary search.
    runs: HashRuns,
    /// The rows' email local parts and phones, each row's once.
    text: String,
    /// Where each row's contacts are in `text`, by the row's position in `inputs` (rows without
    /// keys have none).
    contacts: Vec<Contacts>,
    inputs: &'a [Input<'a>],
}

/// A row under one of its lookup keys (see [`ReviewRows`]): 8 bytes, of which a 199,000-row file
/// has four million (they were 16, with the contact's place: issue 10's memory budget).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    /// The key's hash, cut to 32 bits: a collision among a file's keys only has a person compared
    /// with one row more.
    hash: u32,
    /// The row's position in `inputs`, its top bit set under a phone key (the row's contact under
    /// the key is then its phone's digits, else its email's local part).
    row: u32,
}

const PHONE_KEY: u32 = 1 << 31;

impl Entry {
    fn row(self) -> usize {
        (self.row & !PHONE_KEY) as usize
    }
}

/// Where a row's email local part and phone digits are in [`ReviewRows`]' text, one after the
/// other.
#[derive(Clone, Copy, Default)]
struct Contacts {
    start: u32,
    local_len: u16,
    phone_len: u16,
}

/// A key's hash in [`ReviewRows`]: the top half of the hash Postgres stores ([`stored_block_hash`]),
/// so that a stored key's row finds the file's rows under it.
fn short_hash(key: &str) -> u32 {
    short_of(stored_block_hash(key))
}

fn short_of(stored: i64) -> u32 {
    (stored as u64 >> 32) as u32
}

fn split_email(email_key: Option<&str>) -> Option<(&str, &str)> {
    email_key.and_then(|e| e.rsplit_once('@'))
}

/// The entries of [`ReviewRows`] and the [`LookupList`] of a share of its rows (see
/// [`ReviewRows::with_lookups`]).
struct MadeKeys {
    entries: Vec<Entry>,
    text: String,
    /// Of the share's rows, in order: (row, its contacts in `text`).
    contacts: Vec<(u32, Contacts)>,
    lookups: LookupList,
}

impl MadeKeys {
    /// Of `rows` (ascending), those in `lookup` (ascending) looked up; arrays sized for `room` rows.
    fn of(
        inputs: &[Input],
        rows: &[usize],
        lookup: &[usize],
        hashed: bool,
        room: usize,
    ) -> MadeKeys {
        let mut lookups = LookupList::new(hashed);
        let from = rows
            .first()
            .map_or(0, |&i| lookup.partition_point(|&j| j < i));
        let mut lookup = lookup[from..].iter().peekable();
        // Each row's contacts once (a row is under up to 15 keys); sized for the most keys a row
        // has, so that the array is never copied to grow.
        let most = 3 * who_is_who::EMAIL_PARTS + 3 * who_is_who::PHONE_PARTS;
        let mut entries: Vec<Entry> = Vec::with_capacity(room * most);
        let mut text = String::new();
        let mut contacts = Vec::with_capacity(rows.len());
        for &i in rows {
            let id = &inputs[i].identity;
            let local = split_email(id.email()).map_or("", |(local, _)| local);
            let phone = id.phone().unwrap_or_default();
            // A contact longer than u16 (no valid email or phone is) is kept as none: it can be
            // near nothing anyway.
            fn fit(s: &str) -> (&str, u16) {
                u16::try_from(s.len()).map_or(("", 0), |n| (s, n))
            }
            let ((local, local_len), (phone, phone_len)) = (fit(local), fit(phone));
            let start = text.len() as u32;
            text.push_str(local);
            text.push_str(phone);
            contacts.push((
                i as u32,
                Contacts {
                    start,
                    local_len,
                    phone_len,
                },
            ));
            let looked_up = lookup.next_if_eq(&&i).is_some();
            for key in who_is_who::lookup_keys(id) {
                let hash = stored_block_hash(&key);
                if looked_up {
                    lookups.push(&key, hash);
                }
                let kind = if who_is_who::is_email_key(&key) {
                    0
                } else {
                    PHONE_KEY
                };
                entries.push(Entry {
                    hash: short_of(hash),
                    row: i as u32 | kind,
                });
            }
        }
        MadeKeys {
            entries,
            text,
            contacts,
            lookups,
        }
    }

    /// `other`'s, of later rows, after these.
    fn append(&mut self, other: MadeKeys) {
        let shift = self.text.len() as u32;
        self.entries.extend(other.entries);
        self.contacts
            .extend(other.contacts.into_iter().map(|(row, c)| {
                let start = c.start + shift;
                (row, Contacts { start, ..c })
            }));
        self.text.push_str(&other.text);
        let shift = self.lookups.text.len() as u32;
        self.lookups.hashes.extend(other.lookups.hashes);
        self.lookups.spans.extend(
            other
                .lookups
                .spans
                .into_iter()
                .map(|(a, b)| (a + shift, b + shift)),
        );
        self.lookups.text.push_str(&other.lookups.text);
        // Keys of both shares may repeat: `finish` leaves each once.
        self.lookups.first = Default::default();
    }
}

impl<'a> ReviewRows<'a> {
    #[cfg(test)]
    fn new(inputs: &'a [Input<'a>], exact: &ExactKeys) -> ReviewRows<'a> {
        Self::with_lookups(inputs, 0..inputs.len(), exact, &[], false).0
    }

    /// The rows of `range` and, from the same keys (each made and hashed once), the
    /// [`LookupList`] of those of them in `lookup` (ascending, each one of the rows), as the
    /// backend asks for them (`hashed`).
    fn with_lookups(
        inputs: &'a [Input<'a>],
        range: std::ops::Range<usize>,
        exact: &ExactKeys,
        lookup: &[usize],
        hashed: bool,
    ) -> (ReviewRows<'a>, LookupList) {
        let rows: Vec<usize> = range
            .filter(|&i| inputs[i].invalid.is_none() && !exact.knows(&inputs[i].identity))
            .collect();
        // The keys made on every processor, a share of the rows each, then put together in order:
        // the first share's arrays are sized for all rows, the others are appended in place.
        let mut shares = crate::parallel::in_shares(rows.len(), |share| {
            let room = if share.start == 0 {
                rows.len()
            } else {
                share.len()
            };
            MadeKeys::of(inputs, &rows[share], lookup, hashed, room)
        })
        .into_iter();
        let mut made = shares.next().expect("in_shares makes at least one share");
        for other in shares {
            made.append(other);
        }
        let MadeKeys {
            mut entries,
            mut text,
            contacts: made_contacts,
            mut lookups,
        } = made;
        entries.sort_unstable();
        entries.dedup();
        entries.shrink_to_fit();
        text.shrink_to_fit();
        let mut contacts = vec![Contacts::default(); inputs.len()];
        for (row, c) in made_contacts {
            contacts[row as usize] = c;
        }
        let runs = HashRuns::new(&entries, |e| e.hash);
        lookups.finish();
        let rows = ReviewRows {
            entries,
            runs,
            text,
            contacts,
            inputs,
        };
        (rows, lookups)
    }

    /// The row's contact under the entry's key.
    fn contact(&self, e: &Entry) -> &str {
        let c = self.contacts[e.row()];
        let local_end = c.start as usize + usize::from(c.local_len);
        let (start, end) = if e.row & PHONE_KEY == 0 {
            (c.start as usize, local_end)
        } else {
            (local_end, local_end + usize::from(c.phone_len))
        };
        self.text.get(start..end).unwrap_or_default()
    }

    /// Whether some row may find `person` a possible same person under one of its block keys.
    fn may_pick(&self, person: &Identity, threshold: f64) -> bool {
        let local = split_email(person.email()).map(|(local, _)| local);
        let phone = person.phone();
        who_is_who::block_keys(person).iter().any(|key| {
            // The key names the contact it is of (and, of an email, the domain: both have it,
            // but for a hash collision, which keeps one person too many and changes nothing).
            let contact = if who_is_who::is_email_key(key) {
                local
            } else {
                phone
            };
            let Some(contact) = contact else {
                return false;
            };
            let h = short_hash(key);
            self.entries[self.runs.bucket(h)]
                .iter()
                .filter(|e| e.hash == h)
                .any(|e| {
                    let mine = self.contact(e);
                    !mine.is_empty()
                        && who_is_who::within_one_edit(mine, contact)
                        && who_is_who::possible_same_person(
                            &self.inputs[e.row()].identity,
                            person,
                            threshold,
                        )
                })
        })
    }

    /// Whether some row under the stored key of hash `stored` has its contact under that key within
    /// one edit of `near`, the contact Postgres keeps with the key (migration 0011). It holds for
    /// every person [`ReviewRows::may_pick`] keeps (every possible same person has a contact
    /// within one edit, and shares a key of it), so a lookup reads only these people, and for few
    /// others: those near by contact only.
    fn near_under(&self, stored: i64, near: &str) -> bool {
        let h = short_of(stored);
        self.entries[self.runs.bucket(h)]
            .iter()
            .filter(|e| e.hash == h)
            .any(|e| who_is_who::within_one_edit(self.contact(e), near))
    }
}

/// Candidate rows as read for deciding.
struct KnownRow {
    id: i64,
    identity: Identity,
}

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

fn chunk_len(params_per_item: usize) -> usize {
    (MAX_PARAMS / params_per_item.max(1)).max(1)
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
            let exact_keys = ExactKeys::new(&found);
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

/// Rows' outcomes of a check (nothing written): a row that would create its candidate names none.
fn outcomes(rows: &[PreparedRow], decisions: &[Decision]) -> Vec<RowOutcome> {
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
fn candidate_of(person: Option<Person>, new_ids: &[Option<i64>]) -> Option<i64> {
    match person {
        Some(Person::Known(id)) => Some(id),
        Some(Person::NewFromRow(i)) => new_ids.get(i).copied().flatten(),
        None => None,
    }
}

/// The people whose `column` (`email_key` or `phone_key`) is one of `values`: `= ANY` of one array
/// on Postgres (one statement, planned once), `IN` lists in chunks on SQLite.
trait KnownBy {
    async fn known_by(
        &mut self,
        column: &'static str,
        values: &[&str],
    ) -> Result<Vec<KnownRow>, sqlx::Error>;
}

impl KnownBy for sqlx::SqliteConnection {
    async fn known_by(
        &mut self,
        column: &'static str,
        values: &[&str],
    ) -> Result<Vec<KnownRow>, sqlx::Error> {
        Ok(fetch_in!(
            self,
            format!("{KNOWN_COLUMNS}{column}"),
            values,
            |r| known_row(&r)?
        ))
    }
}

impl KnownBy for sqlx::PgConnection {
    async fn known_by(
        &mut self,
        column: &'static str,
        values: &[&str],
    ) -> Result<Vec<KnownRow>, sqlx::Error> {
        let sql = format!("{KNOWN_COLUMNS}{column} = ANY($1)");
        let rows = sqlx::query(&sql).bind(values).fetch_all(&mut *self).await?;
        rows.iter().map(known_row).collect()
    }
}

/// The people under block keys, in two steps: first their ids (every block whole, however many
/// people share it: the review rule is applied exactly), then, each person once, who they are, by
/// id in id order. Reading people key by key
/// fetched a person once per key they were found under, in no order; by sorted id, the candidates'
/// index and table are walked once from end to end (half the time on Postgres).
///
/// Postgres keeps with each key the contact it is a key of (migration 0011), and asks `near` of each
/// person found, as (key hash, contact): only those it accepts are read (a tenth, or less, of the people under the keys). SQLite keeps only the
/// keys: it reads everyone under them.
trait BlockPeople {
    /// A second connection of the same database, which `block_ids` may read on too.
    type Helper;

    /// The ids under `keys`, added to `ids`.
    async fn block_ids(
        &mut self,
        keys: &LookupList,
        near: &(dyn Fn(i64, &str) -> bool + Sync),
        ids: &mut IdSet,
        helper: &mut Self::Helper,
    ) -> Result<(), sqlx::Error>;

    /// Of the people with these ids (ascending), those `keep` accepts, added to `kept`. Their rows
    /// are streamed and judged as they arrive: the people not kept (nearly all) are never held.
    async fn people(
        &mut self,
        ids: &[i64],
        keep: &(dyn Fn(&Identity) -> bool + Sync),
        kept: &mut Vec<KnownRow>,
    ) -> Result<(), sqlx::Error>;
}

/// A set of candidate ids as one bit per id up to the largest: ids come from one sequence, so half a
/// million of them take some 100 KB instead of the 14 MB of a hash set. Ids from 2^27 on (a database
/// of more than a hundred million candidates) go to a hash set, so the bits never take more than 16 MB.
#[derive(Default)]
struct IdSet {
    bits: Vec<u64>,
    others: HashSet<i64>,
}

impl IdSet {
    /// An id kept as a bit: from the sequence's first 2^27.
    fn as_bit(id: i64) -> Option<u32> {
        u32::try_from(id).ok().filter(|&id| id < 1 << 27)
    }

    fn insert(&mut self, id: i64) {
        let Some(id) = Self::as_bit(id) else {
            self.others.insert(id);
            return;
        };
        let (word, bit) = ((id / 64) as usize, id % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        self.bits[word] |= 1 << bit;
    }

    /// The ids, ascending.
    fn sorted(&self) -> Vec<i64> {
        let mut out: Vec<i64> = self
            .bits
            .iter()
            .enumerate()
            .flat_map(|(w, &word)| {
                (0..64)
                    .filter(move |b| word & (1 << b) != 0)
                    .map(move |b| (w * 64 + b) as i64)
            })
            .collect();
        if !self.others.is_empty() {
            out.extend(&self.others);
            out.sort_unstable();
        }
        out
    }
}

impl BlockPeople for sqlx::Transaction<'static, sqlx::Sqlite> {
    type Helper = sqlx::SqliteConnection;

    async fn block_ids(
        &mut self,
        keys: &LookupList,
        _near: &(dyn Fn(i64, &str) -> bool + Sync),
        ids: &mut IdSet,
        _helper: &mut sqlx::SqliteConnection,
    ) -> Result<(), sqlx::Error> {
        use futures::TryStreamExt;
        for chunk in keys.spans.chunks(chunk_len(1)) {
            let mut qb = QueryBuilder::new("WITH k(key) AS (");
            qb.push_values(chunk, |mut b, &(from, to)| {
                b.push_bind(&keys.text[from as usize..to as usize]);
            });
            qb.push(") SELECT b.candidate_id FROM k JOIN candidate_blocks b ON b.key = k.key");
            let mut rows = qb.build().persistent(false).fetch(&mut **self);
            while let Some(row) = rows.try_next().await? {
                ids.insert(row.try_get(0)?);
            }
        }
        Ok(())
    }

    async fn people(
        &mut self,
        ids: &[i64],
        keep: &(dyn Fn(&Identity) -> bool + Sync),
        kept: &mut Vec<KnownRow>,
    ) -> Result<(), sqlx::Error> {
        use futures::TryStreamExt;
        for chunk in ids.chunks(chunk_len(1)) {
            let mut qb = QueryBuilder::new(format!("{KNOWN_COLUMNS}id IN ("));
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            qb.push(")");
            let mut rows = qb.build().persistent(false).fetch(&mut **self);
            while let Some(row) = rows.try_next().await? {
                let k = known_row(&row)?;
                if keep(&k.identity) {
                    kept.push(k);
                }
            }
        }
        Ok(())
    }
}

/// Reads the blocks of `hashes` (sorted) on `conn`: the ids `near` accepts under them.
///
/// The buckets of the block index that hold them are read whole, in bucket order (see
/// [`blocks`]), and each asked-for key's entries found in its bucket by merging the two sorted
/// lists.
async fn scan_blocks(
    conn: &mut sqlx::PgConnection,
    hashes: &[i64],
    near: &(dyn Fn(i64, &str) -> bool + Sync),
) -> Result<IdSet, sqlx::Error> {
    let mut near_some = IdSet::default();
    let mut buckets: Vec<i32> = hashes.iter().map(|&h| blocks::bucket_of(h)).collect();
    buckets.dedup();
    let mut wanted = hashes;
    blocks::read_buckets(conn, &buckets, |bucket, runs| {
        // The asked-for keys of this bucket (those of buckets without runs are passed over).
        while wanted
            .first()
            .is_some_and(|&h| blocks::bucket_of(h) < bucket)
        {
            wanted = &wanted[1..];
        }
        let n = wanted
            .iter()
            .take_while(|&&h| blocks::bucket_of(h) == bucket)
            .count();
        let (here, rest) = wanted.split_at(n);
        wanted = rest;
        let entries = blocks::live_entries(runs, Some(here))?;
        let mut at = 0;
        for &key in here {
            while entries.get(at).is_some_and(|e| e.hash < key) {
                at += 1;
            }
            let size = entries[at..].iter().take_while(|e| e.hash == key).count();
            for e in &entries[at..at + size] {
                if near(key, e.near) {
                    near_some.insert(e.candidate_id);
                }
            }
        }
        Ok(())
    })
    .await?;
    Ok(near_some)
}

impl BlockPeople for sqlx::Transaction<'static, sqlx::Postgres> {
    type Helper = sqlx::PgConnection;

    async fn block_ids(
        &mut self,
        keys: &LookupList,
        near: &(dyn Fn(i64, &str) -> bool + Sync),
        ids: &mut IdSet,
        helper: &mut sqlx::PgConnection,
    ) -> Result<(), sqlx::Error> {
        // Half the keys are asked for on the helper connection, at the same time, and judged on a
        // thread of their own: judging the entries found is most of the work (the server only
        // reads the buckets out). On a single-threaded runtime (tests) both halves take turns
        // on it. (The helper sees what the transaction sees: the write lock taken, nobody else
        // commits candidates meanwhile.)
        let (first, second) = keys.hashes.split_at(keys.hashes.len() / 2);
        let conn: &mut sqlx::PgConnection = self;
        let halves = match crate::parallel::threaded_runtime() {
            Some(handle) => tokio::task::block_in_place(|| {
                crate::parallel::each(vec![(conn, first), (helper, second)], &|(c, hashes)| {
                    handle.block_on(scan_blocks(c, hashes, near))
                })
            }),
            None => {
                let (a, b) = futures::join!(
                    scan_blocks(conn, first, near),
                    scan_blocks(helper, second, near),
                );
                vec![a, b]
            }
        };
        // A person is read when under some block `near` a row: every person `may_pick` accepts,
        // and few more.
        for half in halves {
            for id in half?.sorted() {
                ids.insert(id);
            }
        }
        Ok(())
    }

    async fn people(
        &mut self,
        ids: &[i64],
        keep: &(dyn Fn(&Identity) -> bool + Sync),
        kept: &mut Vec<KnownRow>,
    ) -> Result<(), sqlx::Error> {
        use futures::TryStreamExt;
        if ids.is_empty() {
            return Ok(());
        }
        let mut rows = sqlx::query(
            "SELECT c.id, c.first_key, c.last_key, c.email_key, c.phone_key
             FROM unnest($1::bigint[]) AS i(id) JOIN candidates c ON c.id = i.id",
        )
        .bind(ids)
        .fetch(&mut **self);
        while let Some(row) = rows.try_next().await? {
            let k = known_row(&row)?;
            if keep(&k.identity) {
                kept.push(k);
            }
        }
        Ok(())
    }
}

/// The current ownerships of these people (ascending ids): (candidate, scope key, owner).
pub(crate) trait CurrentOwners {
    async fn current_owners(
        &mut self,
        ids: &[i64],
    ) -> Result<Vec<(i64, String, Owner)>, sqlx::Error>;
}

fn owner_row<R: Row>(r: &R) -> Result<(i64, String, Owner), sqlx::Error>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    DateTime<Utc>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok((
        r.try_get("candidate_id")?,
        r.try_get("scope_key")?,
        Owner {
            agency_id: r.try_get("agency_id")?,
            expires_at: r.try_get("expires_at")?,
        },
    ))
}

const OWNERS: &str = "SELECT candidate_id, scope_key, agency_id, expires_at FROM ownerships
     WHERE superseded_at IS NULL AND candidate_id";

impl CurrentOwners for sqlx::Transaction<'static, sqlx::Sqlite> {
    async fn current_owners(
        &mut self,
        ids: &[i64],
    ) -> Result<Vec<(i64, String, Owner)>, sqlx::Error> {
        let conn: &mut sqlx::SqliteConnection = self;
        Ok(fetch_in!(conn, OWNERS, ids, |r| owner_row(&r)?))
    }
}

impl CurrentOwners for sqlx::Transaction<'static, sqlx::Postgres> {
    async fn current_owners(
        &mut self,
        ids: &[i64],
    ) -> Result<Vec<(i64, String, Owner)>, sqlx::Error> {
        // One array, behind a sub-select: the planner then walks the index of current ownerships
        // by id (30 ms for 10,000 people) instead of estimating each id and scanning the table
        // (130 ms).
        let rows = sqlx::query(&format!("{OWNERS} = ANY((SELECT $1)::bigint[])"))
            .bind(ids)
            .fetch_all(&mut **self)
            .await?;
        rows.iter().map(owner_row).collect()
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

/// Candidate records' values, column by column (for the bulk statements): of candidates to create
/// ([`NewCandidates`], with their other columns) or of records to update ([`Updates`]: the
/// `previously_submitted` rows, in row order; a candidate may come twice, under scope "campaign",
/// and the updates apply in that order).
#[derive(Default)]
struct Records {
    id: Vec<i64>,
    first_name: Vec<String>,
    last_name: Vec<String>,
    first_key: Vec<String>,
    last_key: Vec<String>,
    email: Vec<Option<String>>,
    email_key: Vec<Option<String>>,
    phone: Vec<Option<String>>,
    phone_key: Vec<Option<String>>,
    /// The other columns as JSON (new candidates only).
    custom: Vec<String>,
}

type NewCandidates = Records;
type Updates = Records;

impl Records {
    /// Record `id` takes the names and contacts of `c`.
    fn push(&mut self, id: i64, c: &crate::candidate::PackedCandidate) {
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
pub(super) struct NewBlocks {
    hashed: bool,
    hashes: Vec<StoredKey>,
    text: String,
    ends: Vec<u32>,
    candidate_id: Vec<i64>,
}

/// A block key as Postgres keeps it (see [`stored_blocks`]), its contact in [`NewBlocks`]' text.
#[derive(Clone, Copy)]
struct StoredKey {
    hash: i64,
    candidate_id: i64,
    near_start: u32,
    near_len: u16,
    phone_len: i16,
}

impl NewBlocks {
    fn new(hashed: bool) -> NewBlocks {
        NewBlocks {
            hashed,
            hashes: Vec::new(),
            text: String::new(),
            ends: Vec::new(),
            candidate_id: Vec::new(),
        }
    }

    /// Every block key of this person ([`who_is_who::block_keys`]), for candidate `id`.
    pub(super) fn push(&mut self, identity: &Identity<impl AsRef<str>>, id: i64) {
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

    fn len(&self) -> usize {
        self.hashes.len() + self.ends.len()
    }

    /// The keys' candidates renumbered by `id`.
    fn renumber(&mut self, id: impl Fn(i64) -> i64) {
        for k in &mut self.hashes {
            k.candidate_id = id(k.candidate_id);
        }
        for c in &mut self.candidate_id {
            *c = id(*c);
        }
    }

    /// Makes the hashed keys removals (the phone length of a removal, see [`blocks::Entry`]).
    fn mark_removals(&mut self) {
        for k in &mut self.hashes {
            *k = StoredKey {
                phone_len: blocks::REMOVED,
                near_start: 0,
                near_len: 0,
                ..*k
            };
        }
    }

    fn key(&self, k: usize) -> &str {
        let start = if k == 0 { 0 } else { self.ends[k - 1] as usize };
        &self.text[start..self.ends[k] as usize]
    }

    fn near(&self, k: &StoredKey) -> &str {
        let start = k.near_start as usize;
        self.text
            .get(start..start + k.near_len as usize)
            .unwrap_or_default()
    }
}

/// What Postgres keeps for each block key of a person ([`who_is_who::block_keys`]): the key's hash
/// ([`stored_block_hash`]), the contact it is a key of ([`who_is_who::key_contact`], migration
/// 0011) and the person's phone length in bytes (0 without one).
pub fn stored_blocks<'a>(
    identity: &'a Identity<impl AsRef<str>>,
) -> impl Iterator<Item = (i64, &'a str, i16)> + 'a {
    let phone_len = identity
        .phone()
        .map_or(0, |p| i16::try_from(p.len()).unwrap_or(i16::MAX));
    who_is_who::block_keys(identity)
        .into_iter()
        .map(move |key| {
            (
                stored_block_hash(&key),
                who_is_who::key_contact(identity, &key),
                phone_len,
            )
        })
}

/// A block key as Postgres stores it (`candidate_blocks.key_hash`, migration 0009): the first eight
/// bytes of its MD5, big-endian, as SQL's `('x' || left(md5(key), 16))::bit(64)::bigint` makes it.
/// Two keys of one hash only put a person more to compare; comparisons are exact. SQLite keeps the
/// keys' text.
pub fn stored_block_hash(key: &str) -> i64 {
    use md5::{Digest, Md5};
    let digest = Md5::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Current ownerships to supersede (an expired one taken over).
#[derive(Default)]
struct Superseded {
    candidate_id: Vec<i64>,
    scope_key: Vec<String>,
}

/// Ownerships to start, column by column; the rest is [`OwnershipMeta`].
#[derive(Default)]
struct NewOwnerships {
    candidate_id: Vec<i64>,
    scope_key: Vec<String>,
    row_number: Vec<i64>,
    campaign_id: Vec<Option<String>>,
}

/// What every ownership of a submission shares.
struct OwnershipMeta {
    agency_id: Option<String>,
    user_email: Option<String>,
    channel: &'static str,
    submission_id: i64,
    started_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// Every row's outcome, as the rows and their outcomes hold it: each backend writes it as it goes
/// ([`OutcomeRows::record`]), no copy of all of it is made.
struct OutcomeRows<'r> {
    results: &'r [RowOutcome],
    rows: &'r [PreparedRow],
    inputs: &'r [Input<'r>],
}

/// One row's outcome record (`submission_rows`); `cells` and `person` are stored as JSON.
struct OutcomeRecord<'r> {
    row_number: i64,
    outcome: &'static str,
    /// In English (owners read it).
    reason: String,
    candidate_id: Option<i64>,
    same_as_row: Option<i64>,
    campaign_id: Option<&'r str>,
    cells: &'r crate::rows::Cells,
    /// Review rows: the normalised values with the custom fields, for `review accept`.
    person: Option<crate::validation::Candidate>,
    /// Review rows: `pending`.
    review_state: Option<&'static str>,
}

impl<'r> OutcomeRows<'r> {
    fn len(&self) -> usize {
        self.results.len()
    }

    fn record(&self, i: usize) -> OutcomeRecord<'r> {
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
fn waves(ids: &[i64]) -> Vec<Vec<usize>> {
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
const UPDATE_SET: &str =
    "first_name = CASE WHEN u.first_name <> '' THEN u.first_name ELSE c.first_name END,
       first_key = CASE WHEN u.first_key <> '' THEN u.first_key ELSE c.first_key END,
       last_name = CASE WHEN u.last_name <> '' THEN u.last_name ELSE c.last_name END,
       last_key = CASE WHEN u.last_key <> '' THEN u.last_key ELSE c.last_key END,
       email = CASE WHEN u.email_key IS NOT NULL THEN u.email ELSE c.email END,
       email_key = COALESCE(u.email_key, c.email_key),
       phone = CASE WHEN u.phone_key IS NOT NULL THEN u.phone ELSE c.phone END,
       phone_key = COALESCE(u.phone_key, c.phone_key)";

/// Writing block keys (also by `review accept`).
pub(super) trait WriteBlocks {
    /// Whether this backend keeps block keys as hashes ([`stored_block_hash`]) or as text.
    fn keeps_hashes(&self) -> bool;
    /// Keys to write or remove, kept as this backend keeps them.
    fn new_blocks(&self) -> NewBlocks {
        NewBlocks::new(self.keeps_hashes())
    }
    async fn insert_blocks(&mut self, b: &mut NewBlocks) -> Result<(), sqlx::Error>;
    /// Removes `removed`'s keys and writes `added`'s (people whose keys were made again). Postgres
    /// writes both in one run per bucket (a key of a person both removed and added stays, with
    /// what `added` holds); SQLite deletes, then inserts.
    async fn replace_blocks(
        &mut self,
        removed: &mut NewBlocks,
        added: &mut NewBlocks,
    ) -> Result<(), sqlx::Error>;
    /// Removes every block key of these candidates.
    async fn delete_blocks_of(&mut self, ids: &[i64]) -> Result<(), sqlx::Error>;
}

/// The writes of a submission, in bulk: binary `COPY` on Postgres (one per table and chunk; see
/// [`CopyIn`]), multi-row `VALUES` in chunks on SQLite. Never a statement per row.
trait BulkWrite {
    async fn insert_candidates(
        &mut self,
        c: &NewCandidates,
        source: &str,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error>;
    async fn supersede_ownerships(
        &mut self,
        s: &Superseded,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error>;
    async fn insert_ownerships(
        &mut self,
        o: &NewOwnerships,
        meta: &OwnershipMeta,
    ) -> Result<(), sqlx::Error>;
    async fn update_candidates(
        &mut self,
        u: &Updates,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error>;
    async fn insert_rows(
        &mut self,
        r: &OutcomeRows<'_>,
        submission_id: i64,
    ) -> Result<(), sqlx::Error>;
}

impl WriteBlocks for sqlx::Transaction<'static, sqlx::Postgres> {
    fn keeps_hashes(&self) -> bool {
        true
    }

    async fn replace_blocks(
        &mut self,
        removed: &mut NewBlocks,
        added: &mut NewBlocks,
    ) -> Result<(), sqlx::Error> {
        // Removals, newer than what they remove (see `blocks`), beside the additions.
        removed.mark_removals();
        added.hashes.append(&mut removed.hashes);
        write_runs(self, added).await
    }

    async fn delete_blocks_of(&mut self, ids: &[i64]) -> Result<(), sqlx::Error> {
        blocks::remove_candidates(self, ids).await
    }

    async fn insert_blocks(&mut self, b: &mut NewBlocks) -> Result<(), sqlx::Error> {
        write_runs(self, b).await
    }
}

/// Writes `b`'s keys and removals (see [`NewBlocks::mark_removals`]) to the block index, in hash
/// order, some 80,000 at a time (whole buckets each): what is made for the database is never the
/// whole file's. Of a key both added and removed, the addition is kept ([`blocks::write`]).
async fn write_runs(conn: &mut sqlx::PgConnection, b: &mut NewBlocks) -> Result<(), sqlx::Error> {
    b.hashes.sort_unstable_by_key(|k| (k.hash, k.candidate_id));
    let keys = &b.hashes;
    let mut start = 0;
    while start < keys.len() {
        let mut end = (start + WRITE_CHUNK * 8).min(keys.len());
        while end < keys.len()
            && blocks::bucket_of(keys[end].hash) == blocks::bucket_of(keys[end - 1].hash)
        {
            end += 1;
        }
        let mut entries: Vec<blocks::Entry<'_>> = keys[start..end]
            .iter()
            .map(|k| {
                if k.phone_len == blocks::REMOVED {
                    blocks::Entry::removal(k.hash, k.candidate_id)
                } else {
                    blocks::Entry {
                        hash: k.hash,
                        candidate_id: k.candidate_id,
                        phone_len: k.phone_len,
                        near: b.near(k),
                    }
                }
            })
            .collect();
        blocks::write(conn, &mut entries).await?;
        start = end;
    }
    Ok(())
}

impl BulkWrite for sqlx::Transaction<'static, sqlx::Postgres> {
    async fn insert_candidates(
        &mut self,
        c: &NewCandidates,
        source: &str,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        if c.id.is_empty() {
            return Ok(());
        }
        let mut copy = CopyIn::begin(
            self,
            "candidates (id, first_name, last_name, first_key, last_key, email, email_key, phone,
               phone_key, custom, source, created_at, updated_at)",
        )
        .await?;
        for k in 0..c.id.len() {
            copy.row(13)
                .await?
                .bigint(c.id[k])
                .text(&c.first_name[k])
                .text(&c.last_name[k])
                .text(&c.first_key[k])
                .text(&c.last_key[k])
                .opt_text(c.email[k].as_deref())
                .opt_text(c.email_key[k].as_deref())
                .opt_text(c.phone[k].as_deref())
                .opt_text(c.phone_key[k].as_deref())
                .text(&c.custom[k])
                .text(source)
                .timestamptz(at)
                .timestamptz(at);
        }
        copy.finish().await?;
        Ok(())
    }

    async fn supersede_ownerships(
        &mut self,
        s: &Superseded,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        if s.candidate_id.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE ownerships o SET superseded_at = $3
             FROM UNNEST($1::bigint[], $2::text[]) AS u(candidate_id, scope_key)
             WHERE o.candidate_id = u.candidate_id AND o.scope_key = u.scope_key
               AND o.superseded_at IS NULL",
        )
        .bind(&s.candidate_id)
        .bind(&s.scope_key)
        .bind(at)
        .execute(&mut **self)
        .await?;
        Ok(())
    }

    async fn insert_ownerships(
        &mut self,
        o: &NewOwnerships,
        meta: &OwnershipMeta,
    ) -> Result<(), sqlx::Error> {
        if o.candidate_id.is_empty() {
            return Ok(());
        }
        let mut copy = CopyIn::begin(
            self,
            "ownerships (candidate_id, scope_key, agency_id, user_email, channel, submission_id,
               row_number, campaign_id, started_at, expires_at)",
        )
        .await?;
        for k in 0..o.candidate_id.len() {
            copy.row(10)
                .await?
                .bigint(o.candidate_id[k])
                .text(&o.scope_key[k])
                .opt_text(meta.agency_id.as_deref())
                .opt_text(meta.user_email.as_deref())
                .text(meta.channel)
                .bigint(meta.submission_id)
                .bigint(o.row_number[k])
                .opt_text(o.campaign_id[k].as_deref())
                .timestamptz(meta.started_at)
                .timestamptz(meta.expires_at);
        }
        copy.finish().await?;
        Ok(())
    }

    async fn update_candidates(
        &mut self,
        u: &Updates,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        for wave in waves(&u.id) {
            let pick =
                |v: &[String]| -> Vec<String> { wave.iter().map(|&k| v[k].clone()).collect() };
            let pick_opt = |v: &[Option<String>]| -> Vec<Option<String>> {
                wave.iter().map(|&k| v[k].clone()).collect()
            };
            let ids: Vec<i64> = wave.iter().map(|&k| u.id[k]).collect();
            sqlx::query(&format!(
                "UPDATE candidates c SET {UPDATE_SET}, updated_at = $10
                 FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                   $6::text[], $7::text[], $8::text[], $9::text[])
                   AS u(id, first_name, first_key, last_name, last_key, email, email_key, phone,
                     phone_key)
                 WHERE c.id = u.id"
            ))
            .bind(ids)
            .bind(pick(&u.first_name))
            .bind(pick(&u.first_key))
            .bind(pick(&u.last_name))
            .bind(pick(&u.last_key))
            .bind(pick_opt(&u.email))
            .bind(pick_opt(&u.email_key))
            .bind(pick_opt(&u.phone))
            .bind(pick_opt(&u.phone_key))
            .bind(at)
            .execute(&mut **self)
            .await?;
        }
        Ok(())
    }

    async fn insert_rows(
        &mut self,
        r: &OutcomeRows<'_>,
        submission_id: i64,
    ) -> Result<(), sqlx::Error> {
        if r.len() == 0 {
            return Ok(());
        }
        // One copy, each row made into it as it goes: the server stores a piece while the next
        // is made.
        let mut copy = CopyIn::begin(
            self,
            "submission_rows (submission_id, row_number, outcome, reason, candidate_id,
               same_as_row, campaign_id, cells, person, review_state)",
        )
        .await?;
        for k in 0..r.len() {
            let o = r.record(k);
            let mut row = copy.row(10).await?;
            row.bigint(submission_id)
                .bigint(o.row_number)
                .text(o.outcome)
                .text(o.reason.as_str())
                .opt_bigint(o.candidate_id)
                .opt_bigint(o.same_as_row)
                .opt_text(o.campaign_id)
                .json(o.cells);
            match &o.person {
                Some(p) => row.json(p),
                None => row.null(),
            }
            .opt_text(o.review_state);
        }
        copy.finish().await?;
        Ok(())
    }
}

impl WriteBlocks for sqlx::Transaction<'static, sqlx::Sqlite> {
    fn keeps_hashes(&self) -> bool {
        false
    }

    async fn delete_blocks_of(&mut self, ids: &[i64]) -> Result<(), sqlx::Error> {
        for chunk in ids.chunks(chunk_len(1)) {
            let mut qb = QueryBuilder::new("DELETE FROM candidate_blocks WHERE candidate_id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            qb.push(")");
            qb.build().persistent(false).execute(&mut **self).await?;
        }
        Ok(())
    }

    async fn replace_blocks(
        &mut self,
        removed: &mut NewBlocks,
        added: &mut NewBlocks,
    ) -> Result<(), sqlx::Error> {
        let all: Vec<usize> = (0..removed.len()).collect();
        for chunk in all.chunks(chunk_len(2)) {
            let mut qb = QueryBuilder::new("WITH d(key, candidate_id) AS (");
            qb.push_values(chunk, |mut q, &k| {
                q.push_bind(removed.key(k))
                    .push_bind(removed.candidate_id[k]);
            });
            qb.push(
                ") DELETE FROM candidate_blocks WHERE (key, candidate_id) IN
                   (SELECT key, candidate_id FROM d)",
            );
            qb.build().persistent(false).execute(&mut **self).await?;
        }
        self.insert_blocks(added).await
    }

    async fn insert_blocks(&mut self, b: &mut NewBlocks) -> Result<(), sqlx::Error> {
        // A statement's keys at a time, by position (a list of every position was 10 MB of a
        // 199,000-row file's peak).
        let per = chunk_len(2);
        for from in (0..b.len()).step_by(per) {
            let chunk = from..(from + per).min(b.len());
            let mut qb = QueryBuilder::new("INSERT INTO candidate_blocks (key, candidate_id) ");
            qb.push_values(chunk, |mut q, k| {
                q.push_bind(b.key(k)).push_bind(b.candidate_id[k]);
            });
            qb.build().persistent(false).execute(&mut **self).await?;
        }
        Ok(())
    }
}

impl BulkWrite for sqlx::Transaction<'static, sqlx::Sqlite> {
    async fn insert_candidates(
        &mut self,
        c: &NewCandidates,
        source: &str,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let all: Vec<usize> = (0..c.id.len()).collect();
        for chunk in all.chunks(chunk_len(13)) {
            let mut qb = QueryBuilder::new(
                "INSERT INTO candidates (id, first_name, last_name, first_key, last_key, email,
                   email_key, phone, phone_key, custom, source, created_at, updated_at) ",
            );
            qb.push_values(chunk, |mut b, &k| {
                b.push_bind(c.id[k])
                    .push_bind(&c.first_name[k])
                    .push_bind(&c.last_name[k])
                    .push_bind(&c.first_key[k])
                    .push_bind(&c.last_key[k])
                    .push_bind(&c.email[k])
                    .push_bind(&c.email_key[k])
                    .push_bind(&c.phone[k])
                    .push_bind(&c.phone_key[k])
                    .push_bind(&c.custom[k])
                    .push_bind(source)
                    .push_bind(at)
                    .push_bind(at);
            });
            qb.build().persistent(false).execute(&mut **self).await?;
        }
        Ok(())
    }

    async fn supersede_ownerships(
        &mut self,
        s: &Superseded,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let all: Vec<usize> = (0..s.candidate_id.len()).collect();
        for chunk in all.chunks(chunk_len(2)) {
            let mut qb = QueryBuilder::new("WITH u(candidate_id, scope_key) AS (");
            qb.push_values(chunk, |mut q, &k| {
                q.push_bind(s.candidate_id[k]).push_bind(&s.scope_key[k]);
            });
            qb.push(") UPDATE ownerships SET superseded_at = ");
            qb.push_bind(at);
            qb.push(
                " WHERE superseded_at IS NULL AND EXISTS (SELECT 1 FROM u
                   WHERE u.candidate_id = ownerships.candidate_id
                     AND u.scope_key = ownerships.scope_key)",
            );
            qb.build().persistent(false).execute(&mut **self).await?;
        }
        Ok(())
    }

    async fn insert_ownerships(
        &mut self,
        o: &NewOwnerships,
        meta: &OwnershipMeta,
    ) -> Result<(), sqlx::Error> {
        let all: Vec<usize> = (0..o.candidate_id.len()).collect();
        for chunk in all.chunks(chunk_len(10)) {
            let mut qb = QueryBuilder::new(
                "INSERT INTO ownerships (candidate_id, scope_key, agency_id, user_email, channel,
                   submission_id, row_number, campaign_id, started_at, expires_at) ",
            );
            qb.push_values(chunk, |mut b, &k| {
                b.push_bind(o.candidate_id[k])
                    .push_bind(&o.scope_key[k])
                    .push_bind(&meta.agency_id)
                    .push_bind(&meta.user_email)
                    .push_bind(meta.channel)
                    .push_bind(meta.submission_id)
                    .push_bind(o.row_number[k])
                    .push_bind(&o.campaign_id[k])
                    .push_bind(meta.started_at)
                    .push_bind(meta.expires_at);
            });
            qb.build().persistent(false).execute(&mut **self).await?;
        }
        Ok(())
    }

    async fn update_candidates(
        &mut self,
        u: &Updates,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        for wave in waves(&u.id) {
            for chunk in wave.chunks(chunk_len(9)) {
                let mut qb = QueryBuilder::new(
                    "WITH u(id, first_name, first_key, last_name, last_key, email, email_key, phone,
                       phone_key) AS (",
                );
                qb.push_values(chunk, |mut b, &k| {
                    b.push_bind(u.id[k])
                        .push_bind(&u.first_name[k])
                        .push_bind(&u.first_key[k])
                        .push_bind(&u.last_name[k])
                        .push_bind(&u.last_key[k])
                        .push_bind(&u.email[k])
                        .push_bind(&u.email_key[k])
                        .push_bind(&u.phone[k])
                        .push_bind(&u.phone_key[k]);
                });
                qb.push(format!(
                    ") UPDATE candidates AS c SET {UPDATE_SET}, updated_at = "
                ));
                qb.push_bind(at);
                qb.push(" FROM u WHERE c.id = u.id");
                qb.build().persistent(false).execute(&mut **self).await?;
            }
        }
        Ok(())
    }

    async fn insert_rows(
        &mut self,
        r: &OutcomeRows<'_>,
        submission_id: i64,
    ) -> Result<(), sqlx::Error> {
        let all: Vec<usize> = (0..r.len()).collect();
        for chunk in all.chunks(chunk_len(10)) {
            let records: Vec<(OutcomeRecord, String, Option<String>)> = chunk
                .iter()
                .map(|&k| {
                    let o = r.record(k);
                    let cells = serde_json::to_string(o.cells).unwrap_or_default();
                    let person = o
                        .person
                        .as_ref()
                        .map(|p| serde_json::to_string(p).unwrap_or_default());
                    (o, cells, person)
                })
                .collect();
            let mut qb = QueryBuilder::new(
                "INSERT INTO submission_rows (submission_id, row_number, outcome, reason,
                   candidate_id, same_as_row, campaign_id, cells, person, review_state) ",
            );
            qb.push_values(&records, |mut b, (o, cells, person)| {
                b.push_bind(submission_id)
                    .push_bind(o.row_number)
                    .push_bind(o.outcome)
                    .push_bind(o.reason.as_str())
                    .push_bind(o.candidate_id)
                    .push_bind(o.same_as_row)
                    .push_bind(o.campaign_id)
                    .push_bind(cells)
                    .push_bind(person)
                    .push_bind(o.review_state);
            });
            qb.build().persistent(false).execute(&mut **self).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_set_gives_its_ids_once_in_order() {
        let mut set = IdSet::default();
        for id in [70, 3, 64, 3, 1 << 40, 63, -5, 70, 1 << 27, 1 << 27] {
            set.insert(id);
        }
        assert_eq!(set.sorted(), [-5, 3, 63, 64, 70, 1 << 27, 1 << 40]);
    }

    fn input(
        first: &'static str,
        email: Option<&'static str>,
        phone: Option<&'static str>,
    ) -> Input<'static> {
        RowInput {
            number: 2,
            invalid: None,
            fields_only: false,
            identity: Identity {
                first,
                last: "cruz",
                email_key: email,
                phone_key: phone,
            },
            campaign_id: None,
        }
    }

    fn person(first: &str, email: Option<&str>, phone: Option<&str>) -> Identity {
        Identity {
            first: first.into(),
            last: "cruz".into(),
            email_key: email.map(Into::into),
            phone_key: phone.map(Into::into),
        }
    }

    /// `may_pick` keeps a person exactly when some row is a possible same person sharing a block
    /// with it: checked against the rule itself (`possible_same_person`) on near and far pairs.
    #[test]
    fn review_rows_pick_whom_the_rule_would_find() {
        let rows = [
            input("maria", Some("maria.cruz@gmail.com"), Some("639171234567")),
            input("jose", Some("jose.cruz@yahoo.com"), Some("5215512345678")),
            input("ana", None, Some("14155550123")),
        ];
        let review = ReviewRows::new(&rows, &ExactKeys::new(&[]));
        let people = [
            // email one edit off, other phone
            person("maria", Some("maria.cruzz@gmail.com"), Some("639998887777")),
            // phone one digit off, no email
            person("maria", None, Some("639171234568")),
            // a phone one digit shorter, same email domain, other local part
            person("jose", Some("jose.cruz1@yahoo.com"), Some("521551234567")),
            // both contacts near, names not similar (SPEC §6.3 (r2))
            person("pedro", Some("maria.cruzz@gmail.com"), Some("639171234568")),
            // similar name, contacts far
            person("ana", Some("ana.cruz@gmail.com"), Some("14155559999")),
            // the same email local part at another domain
            person("jose", Some("jose.cruz@gmail.com"), None),
        ];
        // What Postgres keeps with a person's keys lets a lookup pass the person or not.
        let near =
            |p: &Identity| stored_blocks(p).any(|(hash, near, _)| review.near_under(hash, near));
        for p in &people {
            let rule = rows.iter().any(|r| {
                who_is_who::possible_same_person(&r.identity, p, 0.92)
                    && who_is_who::lookup_keys(&r.identity)
                        .iter()
                        .any(|k| who_is_who::block_keys(p).contains(k))
            });
            assert_eq!(review.may_pick(p, 0.92), rule, "{p:?}");
            // Every person kept is passed.
            assert!(near(p) || !rule, "{p:?}");
        }
        assert!(review.may_pick(&people[0], 0.92));
        assert!(review.may_pick(&people[1], 0.92));
        assert!(review.may_pick(&people[2], 0.92));
        assert!(review.may_pick(&people[3], 0.92));
        // Contacts far from every row's: not read at all, whatever the name.
        assert!(!near(&people[4]));
        assert!(near(&people[0]) && near(&people[1]) && near(&people[2]));
    }
}
