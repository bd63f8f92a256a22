//! One submitted file, from bytes to recorded outcomes and result workbooks — the same for every
//! channel (SPEC §4): read (§5), map, normalise and validate (§6.1, §6.2) off the async runtime, then
//! decide and record (§6.4, §6.5) in the store.

use std::ops::ControlFlow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;

use crate::directory::{Directory, Role};
use crate::header::HeaderError;
use crate::i18n::{Catalogue, Lang};
use crate::mail::receipt::{self, AttentionRow, ReceiptInput, ReplyTo};
use crate::mail::{Composer, Outgoing};
use crate::outcome::Outcome;
use crate::results::{self, FixRow, ResultRow};
use crate::rows::{PreparedRow, RowStream};
use crate::sheet::{self, Limits, SheetError};
use crate::store::submissions::Recorded;
use crate::store::{Store, StoreError};
use crate::submission::{Channel, RowOutcome, Rules, SubmissionMeta};
use crate::validation::Context;

/// A file to process.
#[derive(Debug, Clone)]
pub struct Input {
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub agency_id: String,
    /// The submitting user (an agency user or an owner), when known.
    pub user_email: Option<String>,
    /// The campaign given with the file: `--campaign`, the drop sub-folder, the subject tag.
    pub default_campaign: Option<String>,
    /// For the company's own import (`agency_id` empty): the default region for phone numbers.
    pub company_country: Option<String>,
    pub channel: Channel,
    pub sender: String,
    /// Validate and decide only: nothing is created (`--dry-run`, `[check]`, `check/`).
    pub check_only: bool,
    pub received_at: DateTime<Utc>,
    /// Who gets the receipt (SPEC §7), written to the outbox in the submission's transaction; `None`:
    /// no receipt (a command-line run without `--user`, a check).
    pub receipt: Option<ReceiptRequest>,
    /// What the file is part of, recorded once: `mail:<ledger id>:<attachment>` for email. A part
    /// already recorded is [`Result::AlreadyProcessed`] and changes nothing.
    pub source_ref: Option<String>,
}

/// The results and to-fix workbooks made for a receipt, kept for the caller.
type BuiltWorkbooks = std::sync::Mutex<Option<(Vec<u8>, Option<Vec<u8>>)>>;

/// Where a receipt goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRequest {
    /// (address, display name).
    pub to: Vec<(String, String)>,
    /// For email submissions: the receipt is a reply in that thread.
    pub reply_to: Option<ReplyTo>,
}

/// Why a file could not be processed at all.
#[derive(Debug, thiserror::Error)]
pub enum Unreadable {
    #[error("{0}")]
    Sheet(#[from] SheetError),
    #[error("{0}")]
    Header(#[from] HeaderError),
}

impl Unreadable {
    /// Why, in the catalogue's language (its [`std::fmt::Display`] is English).
    pub fn render(&self, c: &Catalogue) -> String {
        match self {
            Unreadable::Sheet(e) => e.told().render(c),
            Unreadable::Header(e) => e.render(c),
        }
    }
}

/// What stops a file from being processed (the file itself is never the cause: see [`Result`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Results(#[from] results::ResultsError),
    #[error("{0} stopped unexpectedly: {1}")]
    Task(&'static str, tokio::task::JoinError),
}

/// The outcome of processing a readable file.
#[derive(Clone)]
pub struct Processed {
    /// `None` for a check.
    pub submission_id: Option<i64>,
    /// The header cells as the agency wrote them.
    pub headers: Vec<String>,
    pub rows: Vec<PreparedRow>,
    pub outcomes: Vec<RowOutcome>,
    pub results_xlsx: Vec<u8>,
    /// Only when some rows are invalid.
    pub to_fix_xlsx: Option<Vec<u8>>,
    /// Last: dropped after the rows.
    _give_back: GiveBack,
}

/// Rows from which a submission's memory is given back to the system once it is let go
/// ([`crate::memory::give_back`]): a big file's pages would otherwise stay with the process (a
/// daemon kept 414 MB after a 199,000-row file).
const GIVE_BACK_ROWS: usize = 10_000;

/// Gives the allocator's free pages back when dropped, for a big submission (see
/// [`GIVE_BACK_ROWS`]).
#[derive(Clone)]
struct GiveBack(bool);

impl GiveBack {
    fn after(rows: &[PreparedRow]) -> GiveBack {
        GiveBack(rows.len() >= GIVE_BACK_ROWS)
    }
}

impl Drop for GiveBack {
    fn drop(&mut self) {
        if self.0 {
            crate::memory::give_back();
        }
    }
}

impl std::fmt::Debug for Processed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processed")
            .field("submission_id", &self.submission_id)
            .field("counts", &self.counts_line())
            .field(
                "results_xlsx",
                &format_args!("{} bytes", self.results_xlsx.len()),
            )
            .finish_non_exhaustive()
    }
}

impl Processed {
    /// Counts per outcome, in [`Outcome::ALL`] order.
    pub fn counts(&self) -> [u64; 7] {
        crate::submission::counts(&self.outcomes)
    }

    /// `new 120, previously_submitted 3, …` (SPEC §7).
    pub fn counts_line(&self) -> String {
        counts_line(&self.counts())
    }

    /// A submission rebuilt from its rows (read again from the same bytes) and the outcomes
    /// recorded for them, with its workbooks: what an intake shows for a file already processed.
    pub fn rebuild(
        submission_id: i64,
        headers: Vec<String>,
        rows: Vec<PreparedRow>,
        outcomes: Vec<RowOutcome>,
        catalogue: &Catalogue,
    ) -> std::result::Result<Processed, results::ResultsError> {
        let (results_xlsx, to_fix_xlsx) = workbooks(&headers, &rows, &outcomes, catalogue);
        Ok(Processed {
            submission_id: Some(submission_id),
            headers,
            _give_back: GiveBack::after(&rows),
            rows,
            outcomes,
            results_xlsx: results_xlsx?,
            to_fix_xlsx: to_fix_xlsx?,
        })
    }
}

pub fn counts_line(counts: &[u64; 7]) -> String {
    receipt::counts_line(&receipt::counts(*counts))
}

/// Everything a submission can end in.
#[derive(Debug)]
pub enum Result {
    Processed(Processed),
    /// The same bytes were already processed for this agency: nothing changed.
    AlreadyProcessed {
        submission_id: i64,
    },
    /// The file could not be read; recorded as a failed submission unless it was a check.
    Unreadable {
        submission_id: Option<i64>,
        reason: Unreadable,
    },
}

/// What the pipeline works with.
#[derive(Clone)]
pub struct Pipeline {
    pub store: Store,
    pub directory: Arc<Directory>,
    pub rules: Rules,
    pub limits: Limits,
    /// Builds receipts; `None`: no receipts are written (tests, benchmarks).
    pub composer: Option<Arc<Composer>>,
}

impl Pipeline {
    /// Processes one file. Errors are the store's; everything about the file itself is a [`Result`].
    pub async fn process(
        &self,
        mut input: Input,
        progress: Option<ProgressBar>,
    ) -> std::result::Result<Result, Error> {
        let meta = SubmissionMeta {
            channel: input.channel,
            sender: input.sender.clone(),
            agency_id: input.agency_id.clone(),
            user_email: input.user_email.clone(),
            file_name: input.file_name.clone(),
            sha256: crate::app::sha256_hex(&input.bytes),
            received_at: input.received_at,
            source_ref: input.source_ref.clone(),
        };
        let prepared = {
            let directory = Arc::clone(&self.directory);
            let limits = self.limits;
            // The file's bytes go to the reading, and are let go with it.
            let bytes = std::mem::take(&mut input.bytes);
            let input = Input {
                bytes,
                ..input.clone()
            };
            let progress = progress.clone();
            tokio::task::spawn_blocking(move || {
                let started = std::time::Instant::now();
                let prepared = read_and_prepare(&directory, &input, &limits, progress);
                let ms = started.elapsed().as_millis() as u64;
                // Read only when logged (a file read of /proc each time).
                let read_mib = match tracing::enabled!(tracing::Level::DEBUG) {
                    true => crate::memory::resident_mib(),
                    false => 0,
                };
                drop(input);
                // What reading took (the unzipped sheet, the file) is free now.
                crate::memory::give_back();
                tracing::debug!(
                    ms,
                    read_mib,
                    trimmed_mib = crate::memory::resident_mib(),
                    "file read and its rows prepared"
                );
                prepared
            })
            .await
            .map_err(|e| Error::Task("reading the file", e))?
        };
        let (headers, rows) = match prepared {
            Ok(p) => p,
            Err(reason) => {
                let submission_id = if input.check_only {
                    None
                } else {
                    Some(
                        self.store
                            .record_failed_submission(&meta, &reason.to_string())
                            .await?,
                    )
                };
                return Ok(Result::Unreadable {
                    submission_id,
                    reason,
                });
            }
        };
        if let Some(pb) = &progress {
            pb.set_message("deciding");
        }
        // The workbooks are made on a thread of their own as soon as the outcomes are known, while the
        // database writes them: neither waits for the other (a second each for 100,000 rows). The
        // receipt is built with them inside the submission's transaction (it needs its id).
        let (headers, rows) = (Arc::new(headers), Arc::new(rows));
        let catalogue = Arc::new(self.catalogue(&input.agency_id));
        let started = StartedWorkbooks::default();
        let start =
            |outcomes: &Arc<Vec<RowOutcome>>| started.start(&headers, &rows, outcomes, &catalogue);
        let built: BuiltWorkbooks = Default::default();
        let make_receipt = |submission_id: i64, outcomes: &[RowOutcome]| {
            let made = started.finish(&headers, &rows, outcomes, &catalogue);
            self.receipt(&input, submission_id, outcomes, made, &built, &catalogue)
        };
        let maker: Option<&crate::store::submissions::ReceiptMaker> =
            match (&self.composer, &input.receipt, input.check_only) {
                (Some(_), Some(_), false) => Some(&make_receipt),
                _ => None,
            };
        let recorded = self
            .store
            .record_submission(
                &meta,
                &rows,
                self.rules,
                input.check_only,
                Some(&start),
                maker,
            )
            .await?;
        let (submission_id, outcomes) = match recorded {
            Recorded::AlreadyProcessed { submission_id } => {
                return Ok(Result::AlreadyProcessed { submission_id })
            }
            Recorded::Decided {
                submission_id,
                rows,
            } => (submission_id, rows),
        };
        if let Some(pb) = &progress {
            pb.set_message("writing results");
        }
        let built = built.into_inner().unwrap_or_else(|e| e.into_inner());
        let (headers, rows, outcomes, made) = tokio::task::spawn_blocking(move || {
            let made = match built {
                Some((results, to_fix)) => (Ok(results), Ok(to_fix)),
                None => started.finish(&headers, &rows, &outcomes, &catalogue),
            };
            // The workbooks' thread is done with the rows: no copy is made.
            let headers = Arc::try_unwrap(headers).unwrap_or_else(|h| (*h).clone());
            let rows = Arc::try_unwrap(rows).unwrap_or_else(|r| (*r).clone());
            (headers, rows, outcomes, made)
        })
        .await
        .map_err(|e| Error::Task("writing the results", e))?;
        let (results_xlsx, to_fix_xlsx) = made;
        Ok(Result::Processed(Processed {
            submission_id,
            headers,
            _give_back: GiveBack::after(&rows),
            rows,
            outcomes,
            results_xlsx: results_xlsx?,
            to_fix_xlsx: to_fix_xlsx?,
        }))
    }

    /// The language an agency's people are written to in (English for an unknown agency, and for
    /// the company's own import).
    pub fn language(&self, agency_id: &str) -> Lang {
        self.directory
            .agency(agency_id)
            .map(|a| a.language)
            .unwrap_or_default()
    }

    /// The message catalogue for an agency's receipt and workbooks.
    pub fn catalogue(&self, agency_id: &str) -> Catalogue {
        let lang = self.language(agency_id);
        match &self.composer {
            Some(c) => c.templates.catalogue(lang),
            None => Catalogue::shipped(lang).clone(),
        }
    }

    /// The receipt request for a drop-folder file: the agency's admins.
    pub fn admins_receipt(&self, agency_id: &str) -> Option<ReceiptRequest> {
        let agency = self.directory.agency(agency_id)?;
        let to: Vec<(String, String)> = agency
            .users
            .iter()
            .filter(|u| u.role == Role::Admin)
            .map(|u| (u.email.clone(), u.name.clone()))
            .collect();
        (!to.is_empty()).then_some(ReceiptRequest { to, reply_to: None })
    }

    /// The campaign given with the file, as "ID name" when the directory knows it.
    fn campaign_given(&self, input: &Input) -> Option<String> {
        let given = input.default_campaign.as_deref()?.trim();
        let known = self.directory.campaigns.iter().find(|c| {
            c.id == given || crate::text::compact_key(&c.name) == crate::text::compact_key(given)
        });
        Some(match known {
            Some(c) => format!("{} {}", c.id, c.name),
            None => given.to_string(),
        })
        .filter(|s| !s.is_empty())
    }

    /// Builds the receipt of a decided submission with its workbooks, `made` (and keeps them for
    /// the caller in `built`).
    fn receipt(
        &self,
        input: &Input,
        submission_id: i64,
        outcomes: &[RowOutcome],
        made: Workbooks,
        built: &BuiltWorkbooks,
        catalogue: &Catalogue,
    ) -> std::result::Result<Option<Outgoing>, String> {
        let (Some(composer), Some(request)) = (&self.composer, &input.receipt) else {
            return Ok(None);
        };
        let (results_xlsx, to_fix_xlsx) = made;
        let results_xlsx = results_xlsx.map_err(|e| e.to_string())?;
        let to_fix_xlsx = to_fix_xlsx.map_err(|e| e.to_string())?;
        let agency_name = self
            .directory
            .agency(&input.agency_id)
            .map(|a| a.name.clone())
            .unwrap_or_else(|| input.agency_id.clone());
        let attention = outcomes
            .iter()
            .filter(|o| !matches!(o.outcome, Outcome::New | Outcome::PreviouslySubmitted))
            .map(|o| AttentionRow {
                row: u64::from(o.number),
                outcome: o.outcome.as_str().to_string(),
                reason: o.reason.render(catalogue),
            })
            .collect();
        let message = composer
            .receipt(&ReceiptInput {
                submission_id,
                lang: catalogue.lang(),
                agency_name,
                file_name: input.file_name.clone(),
                campaign: self.campaign_given(input),
                counts: receipt::counts(crate::submission::counts(outcomes)),
                attention,
                results_xlsx: results_xlsx.clone(),
                to_fix_xlsx: to_fix_xlsx.clone(),
                recipients: request.to.clone(),
                reply_to: request.reply_to.clone(),
            })
            .map_err(|e| e.to_string())?;
        *built.lock().unwrap_or_else(|e| e.into_inner()) = Some((results_xlsx, to_fix_xlsx));
        Ok(Some(message))
    }
}

/// Reading and preparing, on a blocking thread.
pub fn read_and_prepare(
    directory: &Directory,
    input: &Input,
    limits: &Limits,
    progress: Option<ProgressBar>,
) -> std::result::Result<(Vec<String>, Vec<PreparedRow>), Unreadable> {
    let company;
    let agency = match directory.agency(&input.agency_id) {
        Some(a) => a,
        None => {
            company = company_agency(input.company_country.as_deref().unwrap_or("PH"));
            &company
        }
    };
    let submitter_active = input
        .user_email
        .as_deref()
        .is_none_or(|u| directory.is_owner(u) || directory.is_user_of(&input.agency_id, u));
    let ctx = Context {
        directory,
        agency,
        submitter_active,
        default_campaign: input.default_campaign.as_deref(),
    };
    if let Some(pb) = &progress {
        pb.set_message("checking rows");
    }
    // One thread reads (unzips and parses) while this one prepares the rows already read, so
    // neither the whole file's cells nor the time of both are ever needed at once.
    let (read, prepared) = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<sheet::Event>(4);
        let reader = scope.spawn(move || {
            sheet::stream(&input.bytes, limits, &mut |event| match tx.send(event) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            })
        });
        let mut stream = RowStream::new(ctx);
        for event in rx.iter() {
            if stream.feed(event).is_break() {
                break;
            }
            if let Some(pb) = &progress {
                pb.set_position(stream.prepared() as u64);
            }
        }
        drop(rx);
        let read = reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (read, stream.finish())
    });
    read?;
    let (mapping, rows) = prepared?;
    if let Some(pb) = &progress {
        pb.set_position(rows.len() as u64);
    }
    let headers = mapping.headers().into_iter().map(String::from).collect();
    Ok((headers, rows))
}

/// Reads and prepares a two-row sheet and drops it, so that the first file does not pay for what is
/// loaded once on the way (the phone-number metadata, above all: 50 to 75 ms). The daemon calls it
/// at start, off the async runtime.
pub fn warm_up(directory: &Directory, limits: &Limits) {
    let started = std::time::Instant::now();
    let input = Input {
        file_name: "warm-up.csv".into(),
        bytes: b"First Name,Last Name,Email,Mobile,Campaign\n\
                 Ana,Cruz,ana@example.com,09171234567,1\n\
                 Ben,Reyes,ben@example.com,+52 55 1234 5678,1\n"
            .to_vec(),
        agency_id: String::new(),
        user_email: None,
        default_campaign: None,
        company_country: Some("PH".into()),
        channel: crate::submission::Channel::Cli,
        sender: String::new(),
        check_only: true,
        received_at: Utc::now(),
        receipt: None,
        source_ref: None,
    };
    let _ = read_and_prepare(directory, &input, limits, None);
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "pipeline warmed up"
    );
}

/// The company itself as the submitter of its own pipeline (`import-existing`): active, no users
/// or domains, in the given country.
fn company_agency(country: &str) -> crate::directory::Agency {
    crate::directory::Agency {
        id: String::new(),
        name: "the company".into(),
        country: country.to_ascii_uppercase(),
        active: true,
        added_by: String::new(),
        added_on: None,
        logo: None,
        domains: Vec::new(),
        language: crate::i18n::Lang::En,
        users: Vec::new(),
    }
}

type Workbooks = (
    std::result::Result<Vec<u8>, results::ResultsError>,
    std::result::Result<Option<Vec<u8>>, results::ResultsError>,
);

/// The workbooks of a submission, being made on a thread of their own since its outcomes were known
/// ([`StartedWorkbooks::start`]), at a lower priority: the database's writes meanwhile are what the
/// submission waits for, and they get the processors first (the workbooks are needed only at the
/// end, for the receipt).
#[derive(Default)]
struct StartedWorkbooks(std::sync::Mutex<Option<std::sync::mpsc::Receiver<Workbooks>>>);

impl StartedWorkbooks {
    /// Starts making the workbooks of these outcomes (without a thread to be had, `finish` makes
    /// them).
    fn start(
        &self,
        headers: &Arc<Vec<String>>,
        rows: &Arc<Vec<PreparedRow>>,
        outcomes: &Arc<Vec<RowOutcome>>,
        catalogue: &Arc<Catalogue>,
    ) {
        let (headers, rows, outcomes) =
            (Arc::clone(headers), Arc::clone(rows), Arc::clone(outcomes));
        let catalogue = Arc::clone(catalogue);
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("workbooks".into())
            .spawn(move || {
                crate::memory::yield_to_others();
                let made = workbooks(&headers, &rows, &outcomes, &catalogue);
                // Let go of the rows before telling: the caller takes them back without a copy.
                drop((headers, rows, outcomes));
                // Nobody waits when the submission failed meanwhile.
                tx.send(made).ok();
            });
        if spawned.is_ok() {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(rx);
        }
    }

    /// The workbooks started, once made (a wait, blocking), or made now.
    fn finish(
        &self,
        headers: &[String],
        rows: &[PreparedRow],
        outcomes: &[RowOutcome],
        catalogue: &Catalogue,
    ) -> Workbooks {
        let started = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        // A thread that panicked sent nothing: made again here, to the same end. The wait is
        // announced to the runtime, which hands this worker's other tasks to another meanwhile.
        match started.and_then(|rx| blocking_wait(|| rx.recv().ok())) {
            Some(made) => made,
            None => workbooks(headers, rows, outcomes, catalogue),
        }
    }
}

/// The candidates the submitting agency owns by this file (its `new` and `previously_submitted`
/// rows): the only ids its results workbook shows (SPEC §5 (r2)). A `duplicate`, `blocked` or
/// `review` row, or a `repeated` row of one, names another agency's (or the company's) person.
fn own_candidates(outcomes: &[RowOutcome]) -> std::collections::HashSet<i64> {
    outcomes
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::New | Outcome::PreviouslySubmitted))
        .filter_map(|o| o.candidate_id)
        .collect()
}

/// Runs `f`, which blocks, telling a multi-threaded runtime first (elsewhere: just runs it).
fn blocking_wait<T>(f: impl FnOnce() -> T) -> T {
    match crate::parallel::threaded_runtime() {
        Some(_) => tokio::task::block_in_place(f),
        None => f(),
    }
}

/// The results and to-fix workbooks, worded by `catalogue` (the agency's language).
fn workbooks(
    headers: &[String],
    rows: &[PreparedRow],
    outcomes: &[RowOutcome],
    catalogue: &Catalogue,
) -> Workbooks {
    let own = own_candidates(outcomes);
    let labels = results::Labels::new(catalogue);
    // Rows without a reason (most) take no memory here.
    let reasons: Vec<String> = outcomes
        .iter()
        .map(|o| o.reason.render(catalogue))
        .collect();
    let results = results::results_workbook_in(
        headers,
        &labels,
        rows.iter()
            .zip(outcomes)
            .zip(&reasons)
            .map(|((r, o), reason)| ResultRow {
                cells: &r.cells,
                outcome: o.outcome,
                reason,
                candidate_id: o.candidate_id.filter(|id| own.contains(id)),
                source_row: r.number,
            }),
    );
    let any_invalid = outcomes.iter().any(|o| o.outcome == Outcome::Invalid);
    let to_fix = if any_invalid {
        results::to_fix_workbook_in(
            headers,
            &labels,
            rows.iter()
                .zip(outcomes)
                .zip(&reasons)
                .filter(|((_, o), _)| o.outcome == Outcome::Invalid)
                .map(|((r, _), reason)| FixRow {
                    cells: &r.cells,
                    reason,
                }),
        )
        .map(Some)
    } else {
        Ok(None)
    };
    (results, to_fix)
}
