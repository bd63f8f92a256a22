//! Deciding a file's rows and writing what they lead to, at the same time: the rows are decided on a
//! thread of their own, a run of decided rows at a time (see `decide_then`), while the writer writes
//! each run as it comes: the candidates its rows create, the ownerships its `new` rows start, and
//! its rows' outcomes.

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::backend::{BulkWrite, ReserveIds, WriteBlocks};
use super::records::Superseded;
use super::records::{NewBlocks, NewCandidates, NewOwnerships, OutcomeRows, OwnershipMeta};
use super::{StoreError, WRITE_CHUNK};
use crate::decide::{self, Decision, KnownPeople, Policy, Take};
use crate::outcome::Outcome;
use crate::rows::PreparedRow;
use crate::submission::{candidate_of, Input, RowOutcome, Rules, SubmissionMeta};

/// What a submission's rows are decided and written with.
pub(super) struct Context<'a> {
    pub(super) rows: &'a [PreparedRow],
    pub(super) inputs: &'a [Input<'a>],
    pub(super) known: &'a KnownPeople,
    pub(super) policy: &'a Policy,
    pub(super) rules: Rules,
    pub(super) meta: &'a SubmissionMeta,
    pub(super) submission_id: i64,
    pub(super) expires_at: DateTime<Utc>,
}

/// What deciding and writing leave besides the rows' outcomes: every row's decision, the id of the
/// candidate each row created (by row position), and the block keys of those candidates, each
/// under its row's position until given its candidate's id.
pub(super) struct Written {
    pub(super) decisions: Vec<Decision>,
    pub(super) new_ids: Vec<Option<i64>>,
    pub(super) blocks: NewBlocks,
}

/// A run of decided rows: their positions and decisions, in row order.
type Run = (std::ops::Range<usize>, Vec<Decision>);

/// Decides every row and writes what each run of rows leads to as it is decided; gives back every
/// row's outcome.
pub(super) async fn decide_and_write<T>(
    tx: &mut T,
    c: &Context<'_>,
) -> Result<(Vec<RowOutcome>, Written), StoreError>
where
    T: ReserveIds + BulkWrite + WriteBlocks,
{
    let hashed = tx.keeps_hashes();
    let threaded = crate::parallel::threaded_runtime();
    // Deciding, on a thread of its own, waits when two runs wait for the writer: the decisions
    // waiting are never many (the writer is the slower). On a single-threaded runtime (tests) all
    // are decided first: room for every run.
    let room = match threaded {
        Some(_) => 2,
        None => c.rows.len().div_ceil(decide::DECIDED_RUN).max(1),
    };
    let blocking = threaded.is_some();
    let (send, runs) = mpsc::channel::<Run>(room);
    let deciding = move || decide_all(c, send, blocking, hashed);
    let write = write_runs(tx, runs, c);
    let ((decisions, blocks), written) = match threaded {
        Some(handle) => tokio::task::block_in_place(|| {
            std::thread::scope(|scope| {
                let decider = scope.spawn(deciding);
                let written = handle.block_on(write);
                let decisions = decider
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (decisions, written)
            })
        }),
        // A single-threaded runtime (tests): deciding, then writing.
        None => {
            let decisions = deciding();
            (decisions, write.await)
        }
    };
    let (results, new_ids) = written?;
    let written = Written {
        decisions,
        new_ids,
        blocks,
    };
    Ok((results, written))
}

/// Decides every row, sending each run to the writer as it is decided; ends the channel when done
/// (`send` is dropped): the writer stops when the last run is written. Then, while the writer writes
/// the last runs, makes the block keys of the candidates rows create.
fn decide_all(
    c: &Context<'_>,
    send: mpsc::Sender<Run>,
    blocking: bool,
    hashed: bool,
) -> (Vec<Decision>, NewBlocks) {
    let decisions = decide::decide_then(c.inputs, c.known, c.policy, |run, decided| {
        // A writer gone has failed: its error is the submission's. The reasons are the writer's to
        // keep (deciding needs none of them).
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
            blocks.push(&c.inputs[i].identity, i as i64);
        }
    }
    tracing::debug!(
        decided_mib,
        with_block_keys_mib = crate::memory::resident_mib(),
        "every row decided"
    );
    (decisions, blocks)
}

/// Writes each run as `runs` brings it, until it ends: every row's outcome, and the id of the
/// candidate each row created (by row position).
async fn write_runs<T>(
    tx: &mut T,
    mut runs: mpsc::Receiver<Run>,
    c: &Context<'_>,
) -> Result<(Vec<RowOutcome>, Vec<Option<i64>>), StoreError>
where
    T: ReserveIds + BulkWrite,
{
    let owner = OwnershipMeta {
        agency_id: (!c.meta.agency_id.is_empty()).then(|| c.meta.agency_id.clone()),
        user_email: c.meta.user_email.clone(),
        channel: c.meta.channel.as_str(),
        submission_id: c.submission_id,
        started_at: c.meta.received_at,
        expires_at: c.expires_at,
    };
    let mut results: Vec<RowOutcome> = Vec::with_capacity(c.rows.len());
    let mut new_ids: Vec<Option<i64>> = vec![None; c.rows.len()];
    while let Some((run, decided)) = runs.recv().await {
        write_candidates(tx, c, &run, &decided, &mut new_ids).await?;
        // The run's outcomes, each naming its candidate, and the ownerships of its `new` rows (an
        // expired one in the same scope superseded).
        let mut superseded = Superseded::default();
        let mut owned = NewOwnerships::default();
        for (i, d) in run.clone().zip(decided) {
            let candidate_id = candidate_of(d.person, &new_ids);
            if let (Outcome::New, Some(cid)) = (d.outcome, candidate_id) {
                let campaign_id = c.inputs[i].campaign_id;
                let sk = decide::scope_key(c.rules.scope, campaign_id);
                if d.take == Some(Take::Own) {
                    superseded.candidate_id.push(cid);
                    superseded.scope_key.push(sk.clone());
                }
                owned.candidate_id.push(cid);
                owned.scope_key.push(sk);
                owned.row_number.push(i64::from(c.rows[i].number));
                owned.campaign_id.push(campaign_id.map(str::to_string));
            }
            results.push(RowOutcome {
                number: c.rows[i].number,
                outcome: d.outcome,
                reason: d.reason,
                candidate_id,
                same_as_row: d.same_as_row,
            });
        }
        tx.supersede_ownerships(&superseded, c.meta.received_at)
            .await?;
        tx.insert_ownerships(&owned, &owner).await?;
        let outcome_rows = OutcomeRows {
            results: &results[run.clone()],
            rows: &c.rows[run.clone()],
            inputs: &c.inputs[run],
        };
        tx.insert_rows(&outcome_rows, c.submission_id).await?;
    }
    Ok((results, new_ids))
}

/// The candidates a run's rows create, their ids reserved and handed out in row order, a chunk at a
/// time (so what is sent is never a whole run's copy).
async fn write_candidates<T>(
    tx: &mut T,
    c: &Context<'_>,
    run: &std::ops::Range<usize>,
    decided: &[Decision],
    new_ids: &mut [Option<i64>],
) -> Result<(), StoreError>
where
    T: ReserveIds + BulkWrite,
{
    let creators: Vec<usize> = run
        .clone()
        .zip(decided)
        .filter(|(_, d)| d.take == Some(Take::Create))
        .map(|(i, _)| i)
        .collect();
    if creators.is_empty() {
        return Ok(());
    }
    let source = if c.meta.agency_id.is_empty() {
        "company"
    } else {
        "agency"
    };
    let mut id = tx.reserve_candidate_ids(creators.len()).await?;
    for chunk in creators.chunks(WRITE_CHUNK) {
        let mut candidates = NewCandidates::default();
        for &i in chunk {
            candidates.push(id, &c.rows[i].candidate);
            candidates
                .custom
                .push(serde_json::to_string(&c.rows[i].custom()).unwrap_or_default());
            new_ids[i] = Some(id);
            id += 1;
        }
        tx.insert_candidates(&candidates, source, c.meta.received_at)
            .await?;
    }
    Ok(())
}
