//! The review rule's prefilter (SPEC §6.3): of the people a store finds under the block keys of a
//! file's rows, those that some row may find a possible same person. Pure: the store hands it what
//! it read, and asks it which keys to look up and whom to keep.

use crate::hash_runs::HashRuns;
use crate::submission::Input;
use crate::who_is_who::{self, Identity};

/// The rows whose block keys are worth looking up, in order: valid rows that are nobody the database
/// knows by email or phone and that repeat no earlier row of the file (those are decided without the
/// review rule).
pub fn review_candidates(inputs: &[Input], exact: &ExactKeys) -> Vec<usize> {
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
pub struct ExactKeys<'a> {
    pub emails: foldhash::HashSet<&'a str>,
    pub phones: foldhash::HashSet<&'a str>,
}

impl<'a> ExactKeys<'a> {
    pub fn new(found: impl Iterator<Item = &'a Identity> + Clone) -> ExactKeys<'a> {
        ExactKeys {
            emails: found.clone().filter_map(|k| k.email()).collect(),
            phones: found.filter_map(|k| k.phone()).collect(),
        }
    }

    /// Whether someone found has this row's email or phone.
    pub fn knows(&self, id: &Identity<&str>) -> bool {
        id.email().is_some_and(|e| self.emails.contains(e))
            || id.phone().is_some_and(|p| self.phones.contains(p))
    }
}

/// The block keys to look up for those rows, sorted, each once: as Postgres keeps them, hashed
/// ([`stored_block_hash`]), or, for SQLite, their text in one buffer (a file has some 1,300,000 of
/// them: one string each cost twice the memory, and Postgres needs none of the text).
pub struct LookupList {
    pub hashed: bool,
    pub hashes: Vec<i64>,
    pub text: String,
    pub spans: Vec<(u32, u32)>,
    /// For the text: the first span pushed under each hash (its low 32 bits), so that a key already
    /// in it (rows share most of their keys: a 199,000-row file pushed 2.8 million for 0.9 million
    /// different ones) is not pushed again. A key whose hash is another's is pushed: `finish`
    /// leaves each key once.
    pub first: foldhash::HashMap<u32, u32>,
}

impl LookupList {
    /// Keys kept hashed (Postgres) or as text (SQLite).
    pub fn new(hashed: bool) -> LookupList {
        LookupList {
            hashed,
            hashes: Vec::new(),
            text: String::new(),
            spans: Vec::new(),
            first: Default::default(),
        }
    }

    /// A row's key (`hash`: its [`stored_block_hash`]), kept as the backend asks for it.
    pub fn push(&mut self, key: &str, hash: i64) {
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
    pub fn finish(&mut self) {
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
pub struct ReviewRows<'a> {
    /// One per (lookup key, row), sorted by the key's hash: the rows under a key are a run, and
    /// what each is compared on is in `text`, a buffer small enough to stay in the processor's
    /// cache (half a million people are each compared with some 50 rows: reaching each row's
    /// contact through the row cost 4 s).
    pub entries: Vec<Entry>,
    /// Where each hash's run starts, found without a binary search.
    pub runs: HashRuns,
    /// The rows' email local parts and phones, each row's once.
    pub text: String,
    /// Where each row's contacts are in `text`, by the row's position in `inputs` (rows without
    /// keys have none).
    pub contacts: Vec<Contacts>,
    pub inputs: &'a [Input<'a>],
}

/// A row under one of its lookup keys (see [`ReviewRows`]): 8 bytes, of which a 199,000-row file
/// has four million (they were 16, with the contact's place: issue 10's memory budget).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// The key's hash, cut to 32 bits: a collision among a file's keys only has a person compared
    /// with one row more.
    pub hash: u32,
    /// The row's position in `inputs`, its top bit set under a phone key (the row's contact under
    /// the key is then its phone's digits, else its email's local part).
    pub row: u32,
}

pub const PHONE_KEY: u32 = 1 << 31;

impl Entry {
    pub fn row(self) -> usize {
        (self.row & !PHONE_KEY) as usize
    }
}

/// Where a row's email local part and phone digits are in [`ReviewRows`]' text, one after the
/// other.
#[derive(Clone, Copy, Default)]
pub struct Contacts {
    pub start: u32,
    pub local_len: u16,
    pub phone_len: u16,
}

/// A key's hash in [`ReviewRows`]: the top half of the hash Postgres stores ([`stored_block_hash`]),
/// so that a stored key's row finds the file's rows under it.
pub fn short_hash(key: &str) -> u32 {
    short_of(stored_block_hash(key))
}

pub fn short_of(stored: i64) -> u32 {
    (stored as u64 >> 32) as u32
}

pub fn split_email(email_key: Option<&str>) -> Option<(&str, &str)> {
    email_key.and_then(|e| e.rsplit_once('@'))
}

/// The entries of [`ReviewRows`] and the [`LookupList`] of a share of its rows (see
/// [`ReviewRows::with_lookups`]).
pub struct MadeKeys {
    pub entries: Vec<Entry>,
    pub text: String,
    /// Of the share's rows, in order: (row, its contacts in `text`).
    pub contacts: Vec<(u32, Contacts)>,
    pub lookups: LookupList,
}

impl MadeKeys {
    /// Of `rows` (ascending), those in `lookup` (ascending) looked up; arrays sized for `room` rows.
    pub fn of(
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
    pub fn append(&mut self, other: MadeKeys) {
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
    pub fn new(inputs: &'a [Input<'a>], exact: &ExactKeys) -> ReviewRows<'a> {
        Self::with_lookups(inputs, 0..inputs.len(), exact, &[], false).0
    }

    /// The rows of `range` and, from the same keys (each made and hashed once), the
    /// [`LookupList`] of those of them in `lookup` (ascending, each one of the rows), as the
    /// backend asks for them (`hashed`).
    pub fn with_lookups(
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
    pub fn contact(&self, e: &Entry) -> &str {
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
    pub fn may_pick(&self, person: &Identity, threshold: f64) -> bool {
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
    pub fn near_under(&self, stored: i64, near: &str) -> bool {
        let h = short_of(stored);
        self.entries[self.runs.bucket(h)]
            .iter()
            .filter(|e| e.hash == h)
            .any(|e| who_is_who::within_one_edit(self.contact(e), near))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::RowInput;

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
        let review = ReviewRows::new(&rows, &ExactKeys::new(std::iter::empty()));
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
