//! The review rule (§6.3's possible same person) for every row of a run, on every processor.

use super::earlier::RowBlocks;
use super::{block_hash, row_scope, KnownPeople, Policy, RowInput};
use crate::who_is_who;

/// What the review rule finds for a row (§6.3's possible same person): the first person in the
/// database, by id, and the first row before it in the file. Who is compared with whom depends only
/// on the rows and the people known, never on earlier decisions, so every row's is worked out
/// before deciding, on every processor at once ([`similar_all`]).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Similar {
    pub(super) known: Option<i64>,
    pub(super) row: Option<usize>,
}

/// [`Similar`] of the rows of `run`, for each valid row nobody in the database has by email or
/// phone (the others are decided before the rule), in threads taking the rows a slice at a time.
pub(super) fn similar_all<S: AsRef<str> + Sync>(
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
