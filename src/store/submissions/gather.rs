//! Gathering what the database knows about a file's people, before any row is decided.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::backend::{BlockPeople, CurrentOwners, IdSet, KnownBy, KnownRow, WriteBlocks};
use super::{Phases, PEOPLE_CHUNK, REVIEW_SHARE};
use crate::decide::{Known, KnownPeople, Owner};
use crate::review_prefilter::{review_candidates, ExactKeys, ReviewRows};
use crate::submission::{Input, Rules};
use crate::who_is_who::Identity;

/// The exact keys to look people up by, for the valid rows: sorted, each once, borrowed from the
/// rows.
struct LookupKeys<'a> {
    pub(super) emails: Vec<&'a str>,
    pub(super) phones: Vec<&'a str>,
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

/// What the database knows about a file's people, read under the write lock: those with a row's
/// email or phone, those the review rule may find near some row, and the current owners of both.
pub(super) async fn gather<T>(
    tx: &mut T,
    helper: &mut T::Helper,
    inputs: &[Input<'_>],
    rules: Rules,
    phases: &mut Phases,
) -> Result<KnownPeople, sqlx::Error>
where
    T: KnownBy + BlockPeople + CurrentOwners + WriteBlocks,
    T::Helper: KnownBy,
{
    let found = exact_people(tx, helper, inputs, phases).await?;
    let kept = review_people(tx, helper, inputs, &found, rules, phases).await?;
    known_people(tx, found, kept, phases).await
}

/// The people with a row's email or phone key. A second connection reads beside the transaction
/// (under its write lock nobody else commits candidates meanwhile): by email and by phone at once.
async fn exact_people<T>(
    tx: &mut T,
    helper: &mut T::Helper,
    inputs: &[Input<'_>],
    phases: &mut Phases,
) -> Result<Vec<KnownRow>, sqlx::Error>
where
    T: KnownBy + BlockPeople,
    T::Helper: KnownBy,
{
    let keys = lookup_keys(inputs);
    let (by_email, by_phone) = futures::try_join!(
        tx.known_by("email_key", &keys.emails),
        helper.known_by("phone_key", &keys.phones),
    )?;
    let mut found = by_email;
    found.extend(by_phone);
    phases.done("exact lookups", found.len());
    Ok(found)
}

/// Of the people under the block keys of the rows the review rule is applied to, those some row
/// may find a possible same person (see [`ReviewRows`]): a block person similar to no row changes
/// no decision. A share of the rows at a time (see [`REVIEW_SHARE`]): a person is kept when some
/// row of some share may pick it, as when all rows are taken at once.
async fn review_people<T>(
    tx: &mut T,
    helper: &mut T::Helper,
    inputs: &[Input<'_>],
    found: &[KnownRow],
    rules: Rules,
    phases: &mut Phases,
) -> Result<Vec<KnownRow>, sqlx::Error>
where
    T: BlockPeople + WriteBlocks,
{
    let exact: HashSet<i64> = found.iter().map(|k| k.id).collect();
    let exact_keys = ExactKeys::new(found.iter().map(|k| &k.identity));
    let review = review_candidates(inputs, &exact_keys);
    let mut kept = Vec::new();
    let mut kept_ids: HashSet<i64> = HashSet::new();
    for from in (0..inputs.len()).step_by(REVIEW_SHARE) {
        let share = from..(from + REVIEW_SHARE).min(inputs.len());
        // The rows kept to judge the people found are the looked-up ones and a few more (see
        // ReviewRows): one making of their keys.
        let (review_rows, lookups) =
            ReviewRows::with_lookups(inputs, share, &exact_keys, &review, tx.keeps_hashes());
        phases.done("lookup keys", lookups.hashes.len() + lookups.spans.len());
        let near = |key: i64, contact: &str| review_rows.near_under(key, contact);
        let mut in_blocks = IdSet::default();
        tx.block_ids(&lookups, &near, &mut in_blocks, helper)
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
    Ok(kept)
}

/// The people found, each once, with their current owners.
async fn known_people<T: CurrentOwners>(
    tx: &mut T,
    mut found: Vec<KnownRow>,
    kept: Vec<KnownRow>,
    phases: &mut Phases,
) -> Result<KnownPeople, sqlx::Error> {
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
    Ok(known)
}
