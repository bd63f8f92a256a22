//! After the rows are written: the new candidates' block keys, and what `previously_submitted` rows
//! change in their records (SPEC §6.4), with the block keys of records that took a new name or
//! contact made again.

use std::collections::BTreeSet;

use super::backend::{BlockPeople, BulkWrite, KnownRow, WriteBlocks};
use super::records::{NewBlocks, Updates};
use super::write::Written;
use super::Phases;
use crate::decide::KnownPeople;
use crate::outcome::Outcome;
use crate::rows::PreparedRow;
use crate::submission::RowOutcome;

/// Writes the new candidates' block keys and the updates of `previously_submitted` rows.
pub(super) async fn keys_and_updates<T>(
    tx: &mut T,
    written: Written,
    results: &[RowOutcome],
    rows: &[PreparedRow],
    known: &KnownPeople,
    at: chrono::DateTime<chrono::Utc>,
    phases: &mut Phases,
) -> Result<(), sqlx::Error>
where
    T: BlockPeople + BulkWrite + WriteBlocks,
{
    let Written {
        decisions,
        new_ids,
        mut blocks,
    } = written;
    // The new candidates' block keys, made under their rows' positions, given their ids.
    blocks.renumber(|i| {
        new_ids[i as usize].expect("the writer gave every row that creates a candidate its id")
    });
    drop(new_ids);
    phases.done("block keys given their ids", blocks.len());
    // `previously_submitted`: new non-empty values update the record (found first, so that the
    // decisions are let go before the block keys are written).
    let mut updates = Updates::default();
    for (i, d) in decisions.iter().enumerate() {
        if d.outcome != Outcome::PreviouslySubmitted {
            continue;
        }
        if let Some(cid) = results[i].candidate_id {
            updates.push(cid, &rows[i].candidate);
        }
    }
    drop(decisions);
    let n_blocks = blocks.len();
    tx.insert_blocks(&mut blocks).await?;
    phases.done("block keys", n_blocks);
    drop(blocks);
    tx.update_candidates(&updates, at).await?;
    rekey_changed(tx, &updates, known).await?;
    phases.done("updates", updates.id.len());
    Ok(())
}

/// A name or a contact a record took changes where the review rule finds it: its block keys are
/// made again from what the record now holds.
async fn rekey_changed<T>(
    tx: &mut T,
    updates: &Updates,
    known: &KnownPeople,
) -> Result<(), sqlx::Error>
where
    T: BlockPeople + WriteBlocks,
{
    let updated: Vec<i64> = updates
        .id
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut now: Vec<KnownRow> = Vec::new();
    tx.people(&updated, &|_| true, &mut now).await?;
    let changed: Vec<&KnownRow> = now
        .iter()
        .filter(|k| {
            known
                .people
                .get(&k.id)
                .is_none_or(|p| p.identity != k.identity)
        })
        .collect();
    // Their old block keys go by what they were (removals under those keys' hashes: the Postgres
    // index is kept by key, not by candidate); anyone not read before (none expected) by id, which
    // reads the whole index.
    let mut old: NewBlocks = tx.new_blocks();
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
    tx.replace_blocks(&mut old, &mut blocks).await
}
