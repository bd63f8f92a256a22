//! Taking one settled upload: read it safely, run the pipeline, and put the file in its one final
//! place with what the agency needs to read.
//!
//! Order, for crash safety: the pipeline commits the submission first; then result files are
//! written; then the input is moved (`processed/` or `failed/`). A run stopped anywhere in between
//! finds the file again at start: the same bytes are then `AlreadyProcessed` (or, for an unreadable
//! or refused file, the failed record made for this very upload is found by
//! [`Store::failed_submission_since`](crate::store::Store::failed_submission_since)), so the
//! restart only completes the move and writes the results: nothing is recorded twice.
//!
//! Before any of this, the entry is claimed ([`super::claim`]): of several daemons sharing the
//! folder, only the one holding the claim reads it, writes its results and moves it.

use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::intake::pipeline::{self, Input, Pipeline, Processed};
use crate::sheet::SheetError;
use crate::submission::{Channel, SubmissionMeta};

use super::claim::{self, Claimed};
use super::folder::{Folder, Read};
use super::layout::{Place, FAILED, PROCESSED, RESULTS};
use super::name::{self, os};
use super::receipt::{DropOutcome, DropReceipt};
use super::settle::Fingerprint;
use super::{DropError, Hooks};

/// An entry found by a scan.
#[derive(Debug, Clone)]
pub struct Found {
    pub agency: String,
    pub place: Place,
    pub name: OsString,
    pub meta: Metadata,
    /// Why it is refused, when it is.
    pub refuse: Option<String>,
}

impl Found {
    /// The name for people: as uploaded when acceptable, else sanitised.
    pub fn display(&self) -> String {
        name::sanitize(&self.name)
    }
}

/// The agency's folder and the folder the upload is in.
struct Places {
    agency: Folder,
    input: Option<Folder>,
}

impl Places {
    fn open(root: &Path, agency: &str, place: &Place) -> io::Result<Places> {
        let agency = Folder::open_trusted(root)?.sub(OsStr::new(agency))?;
        let input = match place.dir() {
            None => None,
            Some(d) => Some(agency.sub(OsStr::new(d))?),
        };
        Ok(Places { agency, input })
    }

    fn input(&self) -> &Folder {
        self.input.as_ref().unwrap_or(&self.agency)
    }

    fn into_input(self) -> Folder {
        self.input.unwrap_or(self.agency)
    }

    fn output(&self, name: &str) -> io::Result<Folder> {
        self.agency.ensure_sub(OsStr::new(name), 0o750)
    }
}

/// What reading found.
enum Taken {
    Refused(String),
    TooLarge(u64),
    Bytes(Vec<u8>, Fingerprint),
    /// Changed or replaced since the scan: look again later.
    NotReady,
}

fn read(root: &Path, f: &Found, max: u64) -> io::Result<Taken> {
    if let Some(reason) = &f.refuse {
        return Ok(Taken::Refused(reason.clone()));
    }
    let places = Places::open(root, &f.agency, &f.place)?;
    match places.input().read_regular(&f.name, &f.meta, max) {
        Ok(Read::Bytes(bytes, meta)) => Ok(Taken::Bytes(bytes, Fingerprint::of(&meta))),
        Ok(Read::TooLarge(size)) => Ok(Taken::TooLarge(size)),
        Ok(Read::Replaced | Read::Changing) => Ok(Taken::NotReady),
        // A symlink swapped in after the scan (O_NOFOLLOW), or the file is gone.
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Ok(Taken::NotReady),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Taken::NotReady),
        Err(e) => Err(e),
    }
}

/// Whether the entry is still the one that was read (the move must not take a newer upload).
fn unchanged(places: &Places, name: &OsStr, fp: Option<&Fingerprint>) -> io::Result<bool> {
    match fp {
        None => Ok(true),
        Some(fp) => match places.input().lstat(name) {
            Ok(m) => Ok(Fingerprint::of(&m) == *fp),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        },
    }
}

/// Writes the result files and moves the input to `processed/`. Returns (moved to, results).
fn finish_processed(
    root: &Path,
    f: &Found,
    fp: &Fingerprint,
    at: DateTime<Utc>,
    files: &[(String, &[u8])],
) -> io::Result<(Option<String>, Vec<String>)> {
    let places = Places::open(root, &f.agency, &f.place)?;
    let mut written = Vec::new();
    // A broken `results/` (a link in its place: told of once by the scan) holds no result files;
    // the upload is still finished, and the receipt carries them by email.
    if let Ok(results) = places.output(RESULTS) {
        for (wanted, bytes) in files {
            let name = create_unique(&results, wanted, bytes)?;
            written.push(format!("{RESULTS}/{name}"));
        }
    }
    if !unchanged(&places, &f.name, Some(fp))? {
        return Ok((None, written));
    }
    let processed = places.output(PROCESSED)?;
    let target = move_unique(
        &places,
        &f.name,
        &processed,
        &name::processed_name(at, &f.display()),
    )?;
    Ok((Some(format!("{PROCESSED}/{target}")), written))
}

/// Writes `failed/<name>.error.txt`, then moves the input to `failed/<name>`.
fn finish_failed(
    root: &Path,
    f: &Found,
    fp: Option<&Fingerprint>,
    text: &str,
) -> io::Result<Option<String>> {
    let places = Places::open(root, &f.agency, &f.place)?;
    if !unchanged(&places, &f.name, fp)? {
        return Ok(None);
    }
    let failed = places.output(FAILED)?;
    let display = f.display();
    loop {
        let target = name::unique(&display, |n| {
            !failed.exists(OsStr::new(n)) && !failed.exists(&os(&format!("{n}.error.txt")))
        });
        match failed.create_new(&os(&format!("{target}.error.txt")), text.as_bytes()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
        match places.input().rename_to(&f.name, &failed, &os(&target)) {
            Ok(()) => return Ok(Some(format!("{FAILED}/{target}"))),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

fn create_unique(folder: &Folder, wanted: &str, bytes: &[u8]) -> io::Result<String> {
    loop {
        let name = name::unique_in(folder, wanted);
        match folder.create_new(&os(&name), bytes) {
            Ok(()) => return Ok(name),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

fn move_unique(places: &Places, from: &OsStr, to: &Folder, wanted: &str) -> io::Result<String> {
    loop {
        let name = name::unique_in(to, wanted);
        match places.input().rename_to(from, to, &os(&name)) {
            Ok(()) => return Ok(name),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The `.error.txt` text: what, why, what to do — in the agency's language (`c`); the reason of
/// an unreadable or refused file is in English.
fn error_text(
    c: &crate::i18n::Catalogue,
    f: &Found,
    reason: &str,
    todo: &str,
    submission_id: Option<i64>,
    at: DateTime<Utc>,
) -> String {
    let mut s = c.fmt(
        "drop.error_text",
        &[
            ("file", &f.place.show(&f.display())),
            ("reason", reason),
            ("todo", c.text(todo)),
            ("at", &at.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
        ],
    );
    s.push('\n');
    if let Some(id) = submission_id {
        s.push_str(&c.fmt("drop.submission", &[("id", &id.to_string())]));
        s.push('\n');
    }
    s
}

const TODO_UNREADABLE: &str = "drop.todo_unreadable";
const TODO_REFUSED: &str = "drop.todo_refused";

fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> impl std::future::Future<Output = Result<T, DropError>> {
    let task = tokio::task::spawn_blocking(f);
    async move { task.await.map_err(|e| DropError::Task(what, e)) }
}

/// What became of a settled entry.
#[derive(Debug)]
pub enum Took {
    /// In its final place (or, when it changed meanwhile, its results written).
    Done(DropReceipt),
    /// Changed since the scan: it settles again from its new state.
    Changed,
    /// Another daemon has it (or already took it).
    Elsewhere,
}

/// Claims one settled entry, takes it, and releases the claim once the entry is in its final place
/// (or on any error, leaving it for a later pass).
pub async fn take(
    root: &Path,
    pipeline: &Pipeline,
    hooks: &Hooks,
    f: Found,
) -> Result<Took, DropError> {
    let claimed = {
        let (root, f) = (root.to_path_buf(), f.clone());
        blocking("claiming an upload", move || {
            claim::claim(
                Places::open(&root, &f.agency, &f.place)?.into_input(),
                &f.name,
                &f.meta,
            )
        })
        .await?
    }
    .map_err(|e| io_error(root, &f, e))?;
    let claim = match claimed {
        Claimed::Mine(c) => c,
        Claimed::Elsewhere => return Ok(Took::Elsewhere),
        Claimed::Changed => return Ok(Took::Changed),
    };
    let taken = take_claimed(root, pipeline, hooks, f).await;
    blocking("releasing a claim", move || drop(claim)).await?;
    Ok(taken?.map_or(Took::Changed, Took::Done))
}

/// Takes one claimed entry. `Ok(None)`: it changed since the scan, look again later.
async fn take_claimed(
    root: &Path,
    pipeline: &Pipeline,
    hooks: &Hooks,
    f: Found,
) -> Result<Option<DropReceipt>, DropError> {
    let root = root.to_path_buf();
    let max = pipeline.limits.max_file_bytes;
    let taken = {
        let (root, f) = (root.clone(), f.clone());
        blocking("reading an upload", move || read(&root, &f, max)).await?
    }
    .map_err(|e| io_error(&root, &f, e))?;
    let display = f.display();
    let check_only = f.place == Place::Check;
    let campaign = match &f.place {
        Place::Campaign(id) => Some(id.clone()),
        _ => None,
    };
    let now = Utc::now();
    let mut receipt = DropReceipt {
        agency_id: f.agency.clone(),
        submission_id: None,
        file_name: display.clone(),
        campaign: campaign.clone(),
        check_only,
        moved_to: String::new(),
        results: Vec::new(),
        outcome: DropOutcome::Refused(String::new()),
    };
    let meta = |sha256: String| SubmissionMeta {
        channel: Channel::Drop,
        sender: super::sftp_setup::account(&f.agency),
        agency_id: f.agency.clone(),
        user_email: None,
        file_name: display.clone(),
        sha256,
        received_at: now,
        source_ref: None,
    };
    let changed_at: DateTime<Utc> = Fingerprint::of(&f.meta).changed_at().into();

    // A reason recorded in English and told in the agency's language in the `.error.txt` note.
    let mut told: Option<crate::i18n::Told> = None;
    let (failure, fp) = match taken {
        Taken::NotReady => return Ok(None),
        Taken::Refused(reason) => (Some((reason, true, String::new())), None),
        Taken::TooLarge(size) => {
            let error = SheetError::FileTooLarge { size, max };
            told = Some(error.told());
            (Some((error.to_string(), false, String::new())), None)
        }
        Taken::Bytes(bytes, fp) => {
            let sha = crate::app::sha256_hex(&bytes);
            // A failed record made for this very upload by a run that stopped before the move?
            let earlier = pipeline
                .store
                .failed_submission_since(Channel::Drop, &f.agency, &display, &sha, changed_at)
                .await?;
            if let Some(earlier) = earlier {
                receipt.submission_id = Some(earlier.id);
                (Some((earlier.reason, false, sha)), Some(fp))
            } else {
                let input = Input {
                    file_name: display.clone(),
                    bytes,
                    agency_id: f.agency.clone(),
                    user_email: None,
                    default_campaign: campaign.clone(),
                    company_country: None,
                    channel: Channel::Drop,
                    sender: super::sftp_setup::account(&f.agency),
                    check_only,
                    received_at: now,
                    // Drop-folder receipts go to the agency's admins (SPEC §4.2).
                    receipt: pipeline.admins_receipt(&f.agency),
                    source_ref: None,
                };
                match pipeline.process(input.clone(), None).await {
                    // A value of the file the database refused: the file's fault (trying again
                    // changes nothing). It fails with the reason; the next upload goes on.
                    Err(pipeline::Error::Store(e)) if e.is_value_error() => {
                        let reason = format!(
                            "a value in the file could not be stored ({e}); look for unusual \
                             characters or very long values, then send it again"
                        );
                        tracing::warn!(agency = %f.agency, "an upload failed: {reason}");
                        (Some((reason, true, sha)), Some(fp))
                    }
                    result => {
                        let result = result?;
                        let committed = match &result {
                            pipeline::Result::Processed(p) => p.submission_id.is_some(),
                            pipeline::Result::Unreadable { submission_id, .. } => {
                                submission_id.is_some()
                            }
                            pipeline::Result::AlreadyProcessed { .. } => false,
                        };
                        if committed {
                            if let Some(hook) = &hooks.after_commit {
                                if hook(&f.agency, &display) {
                                    return Err(DropError::Halted(display));
                                }
                            }
                        }
                        match result {
                            pipeline::Result::Unreadable {
                                submission_id,
                                reason,
                            } => {
                                receipt.submission_id = submission_id;
                                // In the agency's language: it goes into the `.error.txt` note.
                                let reason = reason.render(&pipeline.catalogue(&f.agency));
                                (Some((reason, false, sha)), Some(fp))
                            }
                            pipeline::Result::Processed(p) => {
                                receipt.submission_id = p.submission_id;
                                receipt.outcome = DropOutcome::Processed(Box::new(p));
                                (None, Some(fp))
                            }
                            pipeline::Result::AlreadyProcessed { submission_id } => {
                                receipt.submission_id = Some(submission_id);
                                let processed = rebuild(pipeline, input, submission_id).await;
                                receipt.outcome = DropOutcome::AlreadyProcessed {
                                    submission_id,
                                    processed: processed.map(Box::new),
                                };
                                (None, Some(fp))
                            }
                        }
                    }
                }
            }
        }
    };

    if let Some((reason, refused, sha)) = failure {
        if refused || (sha.is_empty() && !check_only) {
            // Not read (refused, or too large): recorded here, once per upload.
            if receipt.submission_id.is_none() {
                let earlier = pipeline
                    .store
                    .failed_submission_since(Channel::Drop, &f.agency, &display, &sha, changed_at)
                    .await?;
                receipt.submission_id = Some(match earlier {
                    Some(e) => e.id,
                    None => {
                        let id = pipeline
                            .store
                            .record_failed_submission(&meta(sha.clone()), &reason)
                            .await?;
                        if let Some(hook) = &hooks.after_commit {
                            if hook(&f.agency, &display) {
                                return Err(DropError::Halted(display));
                            }
                        }
                        id
                    }
                });
            }
        }
        let todo = if refused {
            TODO_REFUSED
        } else {
            TODO_UNREADABLE
        };
        let catalogue = pipeline.catalogue(&f.agency);
        let shown = told.map_or_else(|| reason.clone(), |t| t.render(&catalogue));
        let text = error_text(&catalogue, &f, &shown, todo, receipt.submission_id, now);
        let moved = {
            let (root, f2) = (root.clone(), f.clone());
            blocking("moving an upload to failed/", move || {
                finish_failed(&root, &f2, fp.as_ref(), &text)
            })
            .await?
        }
        .map_err(|e| io_error(&root, &f, e))?;
        receipt.moved_to = moved.unwrap_or_default();
        receipt.outcome = if refused {
            DropOutcome::Refused(reason)
        } else {
            DropOutcome::Unreadable(reason)
        };
        return Ok(Some(receipt));
    }

    let fp = fp.expect("a read file has a fingerprint");
    let processed: Option<&Processed> = match &receipt.outcome {
        DropOutcome::Processed(p) => Some(p),
        DropOutcome::AlreadyProcessed { processed, .. } => processed.as_deref(),
        _ => None,
    };
    let stem = name::stem(&display).to_string();
    let files: Vec<(String, Vec<u8>)> = match processed {
        Some(p) => {
            let mut v = vec![(format!("{stem}-results.xlsx"), p.results_xlsx.clone())];
            if let Some(fix) = &p.to_fix_xlsx {
                v.push((format!("{stem}-to-fix.xlsx"), fix.clone()));
            }
            v
        }
        None => Vec::new(),
    };
    let (moved, written) = {
        let (root, f2) = (root.clone(), f.clone());
        blocking("moving an upload to processed/", move || {
            let refs: Vec<(String, &[u8])> = files
                .iter()
                .map(|(n, b)| (n.clone(), b.as_slice()))
                .collect();
            finish_processed(&root, &f2, &fp, now, &refs)
        })
        .await?
    }
    .map_err(|e| io_error(&root, &f, e))?;
    receipt.moved_to = moved.unwrap_or_default();
    receipt.results = written;
    Ok(Some(receipt))
}

/// The outcomes recorded for an already processed file, with the rows read again from its bytes.
async fn rebuild(pipeline: &Pipeline, input: Input, submission_id: i64) -> Option<Processed> {
    let outcomes = match pipeline.store.recorded_outcomes(submission_id).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(submission_id, "cannot read the recorded outcomes: {e}");
            return None;
        }
    };
    let directory = pipeline.directory.clone();
    let limits = pipeline.limits;
    // The recorded reasons are English text: the workbook's reasons stay so; its sheet and column
    // names are in the agency's language.
    let catalogue = pipeline.catalogue(&input.agency_id);
    let prepared = tokio::task::spawn_blocking(move || {
        pipeline::read_and_prepare(&directory, &input, &limits, None)
    })
    .await
    .ok()?
    .ok()?;
    let (headers, rows) = prepared;
    let matches = rows.len() == outcomes.len()
        && rows
            .iter()
            .zip(&outcomes)
            .all(|(r, o)| r.number == o.number);
    if !matches {
        tracing::warn!(
            submission_id,
            "the recorded rows no longer match the file; no results workbook rebuilt"
        );
        return None;
    }
    Processed::rebuild(submission_id, headers, rows, outcomes, &catalogue).ok()
}

fn io_error(root: &Path, f: &Found, source: io::Error) -> DropError {
    let mut path = PathBuf::from(root);
    path.push(&f.agency);
    if let Some(d) = f.place.dir() {
        path.push(d);
    }
    path.push(f.display());
    DropError::File { path, source }
}
