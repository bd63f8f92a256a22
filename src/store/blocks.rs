//! The block index on Postgres: where the review rule (SPEC §6.3) finds the few candidates worth
//! comparing with a row, by the hashed block keys of [`who_is_who::block_keys`]
//! (`crate::review_prefilter::stored_blocks`).
//!
//! **Layout (migration 0013).** Keys are grouped into 65,536 buckets by the top 16 bits of their
//! hash. A bucket is kept as a few *runs*: rows of `candidate_block_runs`, each holding many entries
//! (hash, candidate, phone length, contact), sorted, packed in one `bytea`. A file's new keys are
//! one new run per bucket they fall in; a run is merged with the bucket's newest runs when those
//! are no bigger than twice what it holds, so a bucket keeps a handful of runs of growing sizes
//! and each entry is rewritten a few times in its life (a log-structured merge, per bucket).
//!
//! **Why not one row per key** (migrations 0002–0012): 7.6 million rows for a million candidates,
//! each in a table and in a B-tree. A 100,000-row file added 590,000 of them (two seconds of both
//! processors of the benchmark machine) and looked up a million (as long again): per key, an index
//! descent. Here a file writes some 65,000 small rows and a large file reads the buckets whole,
//! one after another; a small file reads only the buckets of its keys (a row of some 4 KB each with
//! a million candidates).
//!
//! **Removals** (a candidate whose name or contact changed) are entries too, newer than what they
//! remove (phone length -1, no contact): reading a bucket, the newest entry of a (hash, candidate)
//! pair wins. Merged into the bucket's oldest run they are dropped with what they removed. `erase`
//! removes a person's entries from every run at once (their contacts are personal data).
//!
//! Every writer holds the submissions write lock (see [`super::WritePool`]): one merge at a time.

use std::collections::{HashMap, HashSet};

use sqlx::{PgConnection, Row as _};

use super::copy::CopyIn;

/// Buckets are the top this many bits of a key's hash: 65,536 of them.
pub const BUCKET_BITS: u32 = 16;

/// A key hash's bucket, as SQL's `(key_hash >> 48)::int` makes it.
pub fn bucket_of(hash: i64) -> i32 {
    (hash >> (64 - BUCKET_BITS)) as i32
}

/// The phone length of an entry that removes its (hash, candidate) pair from older runs.
pub(crate) const REMOVED: i16 = -1;

/// One entry of a run: a candidate under a block key, with what the review rule compares before
/// reading the person (see `BlockPeople`), or the removal of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub hash: i64,
    pub candidate_id: i64,
    /// The person's phone length in bytes (0: none); [`Entry::removal`]s have -1.
    pub phone_len: i16,
    /// The contact the key is a key of (empty in a removal).
    pub near: &'a str,
}

impl<'a> Entry<'a> {
    /// The removal of `hash`'s entry of `candidate_id` from older runs.
    pub fn removal(hash: i64, candidate_id: i64) -> Entry<'static> {
        Entry {
            hash,
            candidate_id,
            phone_len: REMOVED,
            near: "",
        }
    }

    pub fn is_removal(&self) -> bool {
        self.phone_len == REMOVED
    }
}

/// A run's bytes: each entry as hash (8 bytes), candidate (8), phone length (2) and contact length
/// (2), big-endian, then the contact's UTF-8. Migration 0013 writes the same with `int8send`.
pub fn encode(entries: &[Entry<'_>], out: &mut Vec<u8>) {
    for e in entries {
        out.extend_from_slice(&e.hash.to_be_bytes());
        out.extend_from_slice(&e.candidate_id.to_be_bytes());
        out.extend_from_slice(&e.phone_len.to_be_bytes());
        let near = &e.near.as_bytes()[..e.near.len().min(u16::MAX as usize)];
        out.extend_from_slice(&(near.len() as u16).to_be_bytes());
        out.extend_from_slice(near);
    }
}

/// A run that [`decode`] cannot read: the store was written by something else.
#[derive(Debug, thiserror::Error)]
#[error("a run of the block index (candidate_block_runs) is damaged at byte {at}: {what}")]
pub struct Damaged {
    at: usize,
    what: &'static str,
}

/// The entries of a run, appended to `out`, in the run's order.
pub fn decode<'a>(data: &'a [u8], out: &mut Vec<Entry<'a>>) -> Result<(), Damaged> {
    let mut at = 0;
    let take = |at: &mut usize, n: usize| -> Result<&'a [u8], Damaged> {
        let bytes = data.get(*at..*at + n).ok_or(Damaged {
            at: *at,
            what: "cut short",
        })?;
        *at += n;
        Ok(bytes)
    };
    while at < data.len() {
        let head = take(&mut at, 20)?;
        let hash = i64::from_be_bytes(head[0..8].try_into().unwrap_or_default());
        let candidate_id = i64::from_be_bytes(head[8..16].try_into().unwrap_or_default());
        let phone_len = i16::from_be_bytes(head[16..18].try_into().unwrap_or_default());
        let len = u16::from_be_bytes(head[18..20].try_into().unwrap_or_default()) as usize;
        let start = at;
        let near = std::str::from_utf8(take(&mut at, len)?).map_err(|_| Damaged {
            at: start,
            what: "a contact that is not UTF-8",
        })?;
        out.push(Entry {
            hash,
            candidate_id,
            phone_len,
            near,
        });
    }
    Ok(())
}

/// The entries of a run (in hash order, as runs are) under the hashes of `wanted` (ascending),
/// appended to `out`: the others are stepped over unread.
pub fn decode_wanted<'a>(
    data: &'a [u8],
    wanted: &[i64],
    out: &mut Vec<Entry<'a>>,
) -> Result<(), Damaged> {
    let mut at = 0;
    let mut w = 0;
    while at < data.len() && w < wanted.len() {
        let head = data.get(at..at + 20).ok_or(Damaged {
            at,
            what: "cut short",
        })?;
        let hash = i64::from_be_bytes(head[0..8].try_into().unwrap_or_default());
        let len = u16::from_be_bytes(head[18..20].try_into().unwrap_or_default()) as usize;
        let next = at + 20 + len;
        while w < wanted.len() && wanted[w] < hash {
            w += 1;
        }
        if wanted.get(w) == Some(&hash) {
            decode(
                data.get(at..next).ok_or(Damaged {
                    at,
                    what: "cut short",
                })?,
                out,
            )
            .map_err(|d| Damaged { at: at + d.at, ..d })?;
        }
        at = next;
    }
    Ok(())
}

/// What a bucket holds, from its runs' entries given newest run first: for each (hash, candidate)
/// the newest entry, in (hash, candidate) order; removals kept when `keep_removals` (older runs
/// they remove from are not among these), else left out with what they removed.
pub fn merge<'a>(runs: Vec<Vec<Entry<'a>>>, keep_removals: bool) -> Vec<Entry<'a>> {
    let mut all: Vec<(usize, Entry<'a>)> = Vec::new();
    let single = runs.len() == 1;
    for (rank, run) in runs.into_iter().enumerate() {
        all.extend(run.into_iter().map(|e| (rank, e)));
    }
    if !single {
        // Stable: within a run the entries are already in order.
        all.sort_by_key(|(rank, e)| (e.hash, e.candidate_id, *rank));
    }
    let mut out: Vec<Entry<'a>> = Vec::with_capacity(all.len());
    let mut last: Option<(i64, i64)> = None;
    for (_, e) in all {
        if last == Some((e.hash, e.candidate_id)) {
            continue;
        }
        last = Some((e.hash, e.candidate_id));
        if keep_removals || !e.is_removal() {
            out.push(e);
        }
    }
    out
}

/// What a bucket's runs (newest first, as [`read_buckets`] hands them) hold, as [`merge`] keeps it
/// without removals: under the hashes of `wanted` (ascending) only, or all.
pub fn live_entries<'a>(
    runs: &'a [Vec<u8>],
    wanted: Option<&[i64]>,
) -> Result<Vec<Entry<'a>>, sqlx::Error> {
    let mut decoded = Vec::with_capacity(runs.len());
    for run in runs {
        let mut entries = Vec::new();
        match wanted {
            Some(wanted) => decode_wanted(run, wanted, &mut entries),
            None => decode(run, &mut entries),
        }
        .map_err(damaged)?;
        decoded.push(entries);
    }
    Ok(merge(decoded, false))
}

/// The runs of `buckets` (ascending), bucket by bucket, newest run first: each bucket's runs'
/// bytes are handed to `each` whole (a bucket is some 4 KB a million candidates).
pub async fn read_buckets(
    conn: &mut PgConnection,
    buckets: &[i32],
    mut each: impl FnMut(i32, &[Vec<u8>]) -> Result<(), sqlx::Error>,
) -> Result<(), sqlx::Error> {
    use futures::TryStreamExt;
    if buckets.is_empty() {
        return Ok(());
    }
    // The array behind a sub-select, so the planner does not estimate each of its values.
    let mut rows = sqlx::query(
        "SELECT bucket, data FROM candidate_block_runs
         WHERE bucket = ANY((SELECT $1)::int[]) ORDER BY bucket, id DESC",
    )
    .bind(buckets)
    .fetch(&mut *conn);
    let mut current: Option<i32> = None;
    let mut runs: Vec<Vec<u8>> = Vec::new();
    while let Some(row) = rows.try_next().await? {
        let bucket: i32 = row.try_get(0)?;
        if current != Some(bucket) {
            if let Some(b) = current {
                each(b, &runs)?;
            }
            runs.clear();
            current = Some(bucket);
        }
        runs.push(row.try_get(1)?);
    }
    if let Some(b) = current {
        each(b, &runs)?;
    }
    Ok(())
}

/// A run that cannot be read, as the database error it is to the caller.
pub fn damaged(e: Damaged) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(e))
}

/// Adds `entries` (new keys and removals, in any order) to the index: one new run per bucket
/// they fall in, merged with the bucket's newest runs while those hold no more than twice as many
/// entries as the run being made. A removal of a pair that `entries` also adds is left out (the
/// key stays).
pub async fn write(conn: &mut PgConnection, new: &mut Vec<Entry<'_>>) -> Result<(), sqlx::Error> {
    use futures::TryStreamExt;
    if new.is_empty() {
        return Ok(());
    }
    // In (hash, candidate) order, an addition before a removal of the same pair, which goes.
    new.sort_unstable_by_key(|e| (e.hash, e.candidate_id, e.is_removal()));
    new.dedup_by_key(|e| (e.hash, e.candidate_id));
    // Each bucket's new entries, as a range of `new`.
    let mut buckets: Vec<(i32, std::ops::Range<usize>)> = Vec::new();
    for (k, e) in new.iter().enumerate() {
        let bucket = bucket_of(e.hash);
        match buckets.last_mut() {
            Some((b, range)) if *b == bucket => range.end = k + 1,
            _ => buckets.push((bucket, k..k + 1)),
        }
    }
    let numbers: Vec<i32> = buckets.iter().map(|(b, _)| *b).collect();

    // The runs of those buckets, newest first: (bucket, id, entries), in bucket order.
    let mut runs: Vec<(i32, i64, i64)> = Vec::new();
    {
        let mut rows = sqlx::query(
            "SELECT bucket, id, entries FROM candidate_block_runs
             WHERE bucket = ANY((SELECT $1)::int[]) ORDER BY bucket, id DESC",
        )
        .bind(&numbers)
        .fetch(&mut *conn);
        while let Some(row) = rows.try_next().await? {
            let entries: i32 = row.try_get(2)?;
            runs.push((row.try_get(0)?, row.try_get(1)?, i64::from(entries)));
        }
    }
    drop(numbers);
    // Which runs each bucket's new run takes in: its newest ones while each holds at most twice
    // what the new run has gathered so far. Per bucket: its runs in `runs`, how many taken in.
    let mut plan: Vec<(std::ops::Range<usize>, usize)> = Vec::with_capacity(buckets.len());
    let mut absorbed: Vec<i64> = Vec::new();
    let mut absorbed_bucket: Vec<i32> = Vec::new();
    let mut at = 0;
    for (bucket, fresh) in &buckets {
        while runs.get(at).is_some_and(|r| r.0 < *bucket) {
            at += 1;
        }
        let first = at;
        while runs.get(at).is_some_and(|r| r.0 == *bucket) {
            at += 1;
        }
        let mut gathered = fresh.len() as i64;
        let mut taken = 0;
        for &(_, id, size) in &runs[first..at] {
            if size > 2 * gathered {
                break;
            }
            absorbed.push(id);
            absorbed_bucket.push(*bucket);
            gathered += size;
            taken += 1;
        }
        plan.push((first..at, taken));
    }
    let mut old: HashMap<i64, Vec<u8>> = HashMap::with_capacity(absorbed.len());
    if !absorbed.is_empty() {
        // By (bucket, id): the runs' one index.
        {
            let mut rows = sqlx::query(
                "SELECT r.id, r.data FROM unnest($1::int[], $2::bigint[]) AS u(bucket, id)
                 JOIN candidate_block_runs r ON r.bucket = u.bucket AND r.id = u.id",
            )
            .bind(&absorbed_bucket)
            .bind(&absorbed)
            .fetch(&mut *conn);
            while let Some(row) = rows.try_next().await? {
                old.insert(row.try_get(0)?, row.try_get(1)?);
            }
        }
        sqlx::query(
            "DELETE FROM candidate_block_runs r USING unnest($1::int[], $2::bigint[]) AS u(bucket, id)
             WHERE r.bucket = u.bucket AND r.id = u.id",
        )
        .bind(&absorbed_bucket)
        .bind(&absorbed)
        .execute(&mut *conn)
        .await?;
    }

    let mut copy = CopyIn::begin(conn, "candidate_block_runs (bucket, entries, data)").await?;
    let mut data: Vec<u8> = Vec::new();
    for ((bucket, fresh), (existing, taken)) in buckets.iter().zip(plan) {
        let fresh = &new[fresh.clone()];
        // Taking in the bucket's oldest run, a removal has nothing left to remove.
        let whole = taken == existing.len();
        data.clear();
        let n = if taken == 0 && !whole {
            encode(fresh, &mut data);
            fresh.len()
        } else {
            let mut merged_runs: Vec<Vec<Entry<'_>>> = vec![fresh.to_vec()];
            for &(_, id, _) in &runs[existing][..taken] {
                let bytes = old.get(&id).ok_or_else(|| {
                    damaged(Damaged {
                        at: 0,
                        what: "a run went missing while being merged",
                    })
                })?;
                let mut entries = Vec::new();
                decode(bytes, &mut entries).map_err(damaged)?;
                merged_runs.push(entries);
            }
            let run = merge(merged_runs, !whole);
            encode(&run, &mut data);
            run.len()
        };
        if n == 0 {
            continue;
        }
        copy.row(3)
            .await?
            .int(*bucket)
            .int(i32::try_from(n).unwrap_or(i32::MAX))
            .bytes(&data);
    }
    copy.finish().await?;
    Ok(())
}

/// Removes every entry of these candidates from every run (their contacts are personal data):
/// reads the whole index once; rewrites only the runs that held one.
pub async fn remove_candidates(conn: &mut PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
    use futures::TryStreamExt;
    if ids.is_empty() {
        return Ok(());
    }
    let gone: HashSet<i64> = ids.iter().copied().collect();
    let mut rewrites: Vec<(i32, i64, Vec<u8>, i32)> = Vec::new();
    {
        let mut rows =
            sqlx::query("SELECT bucket, id, data FROM candidate_block_runs").fetch(&mut *conn);
        while let Some(row) = rows.try_next().await? {
            let data: &[u8] = row.try_get(2)?;
            let mut entries = Vec::new();
            decode(data, &mut entries).map_err(damaged)?;
            if !entries.iter().any(|e| gone.contains(&e.candidate_id)) {
                continue;
            }
            entries.retain(|e| !gone.contains(&e.candidate_id));
            let mut kept = Vec::new();
            encode(&entries, &mut kept);
            rewrites.push((row.try_get(0)?, row.try_get(1)?, kept, entries.len() as i32));
        }
    }
    for (bucket, id, data, n) in rewrites {
        if n == 0 {
            sqlx::query("DELETE FROM candidate_block_runs WHERE bucket = $1 AND id = $2")
                .bind(bucket)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        } else {
            sqlx::query(
                "UPDATE candidate_block_runs SET data = $3, entries = $4
                 WHERE bucket = $1 AND id = $2",
            )
            .bind(bucket)
            .bind(id)
            .bind(data)
            .bind(n)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Every live entry of a candidate, as (hash, contact, phone length): for tests and checks; reads
/// the whole index.
pub async fn entries_of(
    conn: &mut PgConnection,
    candidate_id: i64,
) -> Result<Vec<(i64, String, i16)>, sqlx::Error> {
    let mut out = Vec::new();
    let every_bucket: Vec<i32> = (bucket_of(i64::MIN)..=bucket_of(i64::MAX)).collect();
    read_buckets(conn, &every_bucket, |_, runs| {
        for e in live_entries(runs, None)? {
            if e.candidate_id == candidate_id {
                out.push((e.hash, e.near.to_string(), e.phone_len));
            }
        }
        Ok(())
    })
    .await?;
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(hash: i64, id: i64, near: &str) -> Entry<'_> {
        Entry {
            hash,
            candidate_id: id,
            phone_len: 11,
            near,
        }
    }

    #[test]
    fn runs_read_back_as_written() {
        let written = vec![
            e(i64::MIN, 1, "maría.josé"),
            e(-5, 2, ""),
            Entry::removal(7, 3),
            e(i64::MAX, i64::MAX, "09171234567"),
        ];
        let mut data = Vec::new();
        encode(&written, &mut data);
        let mut read = Vec::new();
        decode(&data, &mut read).unwrap();
        assert_eq!(read, written);
        let mut cut = Vec::new();
        let err = decode(&data[..data.len() - 1], &mut cut).unwrap_err();
        assert!(err.to_string().contains("candidate_block_runs"), "{err}");
    }

    #[test]
    fn only_wanted_entries_are_read() {
        let written = vec![
            e(1, 1, "a"),
            e(2, 2, "b"),
            e(2, 3, "c"),
            e(5, 4, "d"),
            e(9, 5, "e"),
        ];
        let mut data = Vec::new();
        encode(&written, &mut data);
        let mut read = Vec::new();
        decode_wanted(&data, &[0, 2, 6, 9, 10], &mut read).unwrap();
        assert_eq!(read, vec![e(2, 2, "b"), e(2, 3, "c"), e(9, 5, "e")]);
        read.clear();
        decode_wanted(&data, &[], &mut read).unwrap();
        assert!(read.is_empty());
    }

    #[test]
    fn the_newest_entry_of_a_pair_wins() {
        let newest = vec![Entry::removal(1, 10), e(2, 20, "b")];
        let older = vec![e(1, 10, "a"), e(1, 11, "a"), e(3, 30, "c")];
        let oldest = vec![e(2, 20, "old"), Entry::removal(3, 30)];
        let merged = merge(vec![newest.clone(), older.clone(), oldest.clone()], false);
        assert_eq!(merged, vec![e(1, 11, "a"), e(2, 20, "b"), e(3, 30, "c")]);
        // Kept when older runs may still hold what they remove.
        let kept = merge(vec![newest, older], true);
        assert_eq!(
            kept,
            vec![
                Entry::removal(1, 10),
                e(1, 11, "a"),
                e(2, 20, "b"),
                e(3, 30, "c")
            ]
        );
    }

    #[test]
    fn buckets_are_the_top_sixteen_bits() {
        assert_eq!(bucket_of(i64::MIN), -32768);
        assert_eq!(bucket_of(-1), -1);
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(i64::MAX), 32767);
        assert_eq!(bucket_of(0x0001_0000_0000_0000), 1);
    }
}
