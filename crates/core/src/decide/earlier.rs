//! The file's earlier rows by key: the first row of each email and phone key, and every valid row
//! under each of its block keys, for `repeated` and the in-file review rule.

use std::hash::{BuildHasher, Hash};

use super::{block_hash, row_scope, RowInput};
use crate::hash_runs::HashRuns;
use crate::settings::Scope;
use crate::who_is_who;

/// Earlier valid rows of the file, for `repeated` and in-file `review`: the first row of each
/// (scope key, email key) and (scope key, phone key).
pub(super) struct Earlier {
    pub(super) by_email: RowIndex,
    pub(super) by_phone: RowIndex,
    pub(super) by_block: RowBlocks,
    /// First row of each email and phone key in any scope: under scope "campaign" the same person
    /// may be submitted to two campaigns in one file, and is still one person. An entry of a phone
    /// key has [`PHONE`] set.
    pub(super) any_scope: RowIndex,
}

/// In [`Earlier::any_scope`], an entry of a row's phone key (else of its email key).
pub(super) const PHONE: u32 = 1 << 31;

/// Rows by a key of theirs: each entry is a row's position, its key read back from the row to
/// compare (4 bytes an entry, hashed with foldhash, where a map of the keys borrowed from the rows
/// took 24 to 40: 30 MB of a 199,000-row file's peak, issue 10).
pub(super) struct RowIndex {
    table: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl RowIndex {
    pub(super) fn with_capacity(n: usize) -> RowIndex {
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
    pub(super) fn get<K: Hash + Eq>(&self, key: K, key_of: impl Fn(u32) -> K) -> Option<u32> {
        let h = self.hasher.hash_one(&key);
        self.table.find(h, |&e| key_of(e) == key).copied()
    }
}

/// A row's (scope key, email key) and (scope key, phone key), for [`Earlier`].
pub(super) fn email_of<'r, S: AsRef<str>>(
    rows: &'r [RowInput<S>],
    scope: Scope,
) -> impl Fn(u32) -> (&'r str, &'r str) + 'r {
    move |j| {
        let r = &rows[j as usize];
        (row_scope(scope, r), r.identity.email().unwrap_or_default())
    }
}

pub(super) fn phone_of<'r, S: AsRef<str>>(
    rows: &'r [RowInput<S>],
    scope: Scope,
) -> impl Fn(u32) -> (&'r str, &'r str) + 'r {
    move |j| {
        let r = &rows[j as usize];
        (row_scope(scope, r), r.identity.phone().unwrap_or_default())
    }
}

/// The key of an [`Earlier::any_scope`] entry.
pub(super) fn contact_of<'r, S: AsRef<str>>(
    rows: &'r [RowInput<S>],
) -> impl Fn(u32) -> &'r str + 'r {
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
pub(super) struct RowBlocks {
    entries: Vec<(u32, u32)>,
    runs: HashRuns,
}

impl RowBlocks {
    pub(super) fn new<S: AsRef<str> + Sync>(rows: &[RowInput<S>], scope: Scope) -> RowBlocks {
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
    pub(super) fn before(&self, h: u32, i: usize) -> impl ExactSizeIterator<Item = usize> + '_ {
        let bucket = &self.entries[self.runs.bucket(h)];
        let from = bucket.partition_point(|&(k, _)| k < h);
        let to = bucket.partition_point(|&(k, r)| (k, r as usize) < (h, i));
        bucket[from..to].iter().map(|&(_, j)| j as usize)
    }
}

pub(super) fn remember<S: AsRef<str>>(
    earlier: &mut Earlier,
    rows: &[RowInput<S>],
    i: usize,
    scope: Scope,
) {
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
