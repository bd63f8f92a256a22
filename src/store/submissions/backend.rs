//! What a backend does for recording a submission: the traits each of `postgres` and `sqlite`
//! implements, and the row types they read.

use chrono::{DateTime, Utc};
use std::collections::HashSet;

use sqlx::Row;

use super::records::{
    NewBlocks, NewCandidates, NewOwnerships, OutcomeRows, OwnershipMeta, Superseded, Updates,
};
use super::MAX_PARAMS;
use crate::decide::Owner;
use crate::review_prefilter::LookupList;
use crate::who_is_who::Identity;

/// Candidate rows as read for deciding.
pub(super) struct KnownRow {
    pub(super) id: i64,
    pub(super) identity: Identity,
}

pub(super) fn chunk_len(params_per_item: usize) -> usize {
    (MAX_PARAMS / params_per_item.max(1)).max(1)
}

pub(super) fn known_row<R: Row>(row: &R) -> Result<KnownRow, sqlx::Error>
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

pub(super) const KNOWN_COLUMNS: &str =
    "SELECT id, first_key, last_key, email_key, phone_key FROM candidates WHERE ";

/// The people whose `column` (`email_key` or `phone_key`) is one of `values`: `= ANY` of one array
/// on Postgres (one statement, planned once), `IN` lists in chunks on SQLite.
pub(super) trait KnownBy {
    async fn known_by(
        &mut self,
        column: &'static str,
        values: &[&str],
    ) -> Result<Vec<KnownRow>, sqlx::Error>;
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
pub(super) trait BlockPeople {
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
pub(super) struct IdSet {
    pub(super) bits: Vec<u64>,
    pub(super) others: HashSet<i64>,
}

impl IdSet {
    /// An id kept as a bit: from the sequence's first 2^27.
    pub(super) fn as_bit(id: i64) -> Option<u32> {
        u32::try_from(id).ok().filter(|&id| id < 1 << 27)
    }

    pub(super) fn insert(&mut self, id: i64) {
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
    pub(super) fn sorted(&self) -> Vec<i64> {
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

/// The current ownerships of these people (ascending ids): (candidate, scope key, owner).
pub(crate) trait CurrentOwners {
    async fn current_owners(
        &mut self,
        ids: &[i64],
    ) -> Result<Vec<(i64, String, Owner)>, sqlx::Error>;
}

pub(super) fn owner_row<R: Row>(r: &R) -> Result<(i64, String, Owner), sqlx::Error>
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

pub(super) const OWNERS: &str =
    "SELECT candidate_id, scope_key, agency_id, expires_at FROM ownerships
     WHERE superseded_at IS NULL AND candidate_id";

/// Reserving `n` consecutive candidate ids (under the write lock); returns the first.
pub(crate) trait ReserveIds {
    async fn reserve_candidate_ids(&mut self, n: usize) -> Result<i64, sqlx::Error>;
}

/// Writing block keys (also by `review accept`).
pub(crate) trait WriteBlocks {
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
pub(super) trait BulkWrite {
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
}
