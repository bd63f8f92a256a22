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
use crate::store::recovery::FailedSubmission;
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
    let max = pipeline.limits.max_file_bytes;
    let taken = {
        let (root, f) = (root.to_path_buf(), f.clone());
        blocking("reading an upload", move || read(&root, &f, max)).await?
    }
    .map_err(|e| io_error(root, &f, e))?;
    let upload = Upload::new(root, pipeline, hooks, f);
    let mut receipt = upload.receipt();
    let (failure, fp) = match taken {
        Taken::NotReady => return Ok(None),
        Taken::Refused(reason) => (Some(Failure::new(reason, true, String::new())), None),
        Taken::TooLarge(size) => {
            let error = SheetError::FileTooLarge { size, max };
            let failure = Failure {
                told: Some(error.told()),
                ..Failure::new(error.to_string(), false, String::new())
            };
            (Some(failure), None)
        }
        Taken::Bytes(bytes, fp) => (upload.process(bytes, &mut receipt).await?, Some(fp)),
    };
    let receipt = match failure {
        Some(failure) => upload.fail(failure, fp, receipt).await?,
        None => {
            let fp = fp.expect("a read file has a fingerprint");
            upload.finish(fp, receipt).await?
        }
    };
    Ok(Some(receipt))
}

/// One claimed upload being taken: what each phase of taking it needs.
struct Upload<'a> {
    root: PathBuf,
    pipeline: &'a Pipeline,
    hooks: &'a Hooks,
    f: Found,
    /// The name for people.
    display: String,
    check_only: bool,
    campaign: Option<String>,
    now: DateTime<Utc>,
    /// When the entry last changed: a failed record made since is this very upload's.
    changed_at: DateTime<Utc>,
}

/// Why an upload failed: the reason recorded (in English), whether it was refused (not read), the
/// SHA-256 of its bytes (empty when not read), and, when set, the reason as told in the agency's
/// language in the `.error.txt` note.
struct Failure {
    reason: String,
    refused: bool,
    sha: String,
    told: Option<crate::i18n::Told>,
}

impl Failure {
    fn new(reason: String, refused: bool, sha: String) -> Failure {
        Failure {
            reason,
            refused,
            sha,
            told: None,
        }
    }
}

impl<'a> Upload<'a> {
    fn new(root: &Path, pipeline: &'a Pipeline, hooks: &'a Hooks, f: Found) -> Upload<'a> {
        let campaign = match &f.place {
            Place::Campaign(id) => Some(id.clone()),
            _ => None,
        };
        Upload {
            root: root.to_path_buf(),
            pipeline,
            hooks,
            display: f.display(),
            check_only: f.place == Place::Check,
            campaign,
            now: Utc::now(),
            changed_at: Fingerprint::of(&f.meta).changed_at().into(),
            f,
        }
    }

    /// The receipt before anything is known of the outcome.
    fn receipt(&self) -> DropReceipt {
        DropReceipt {
            agency_id: self.f.agency.clone(),
            submission_id: None,
            file_name: self.display.clone(),
            campaign: self.campaign.clone(),
            check_only: self.check_only,
            moved_to: String::new(),
            results: Vec::new(),
            outcome: DropOutcome::Refused(String::new()),
        }
    }

    fn meta(&self, sha256: String) -> SubmissionMeta {
        SubmissionMeta {
            channel: Channel::Drop,
            sender: super::sftp_setup::account(&self.f.agency),
            agency_id: self.f.agency.clone(),
            user_email: None,
            file_name: self.display.clone(),
            sha256,
            received_at: self.now,
            source_ref: None,
        }
    }

    fn input(&self, bytes: Vec<u8>) -> Input {
        Input {
            file_name: self.display.clone(),
            bytes,
            agency_id: self.f.agency.clone(),
            user_email: None,
            default_campaign: self.campaign.clone(),
            company_country: None,
            channel: Channel::Drop,
            sender: super::sftp_setup::account(&self.f.agency),
            check_only: self.check_only,
            received_at: self.now,
            // Drop-folder receipts go to the agency's admins (SPEC §4.2).
            receipt: self.pipeline.admins_receipt(&self.f.agency),
            source_ref: None,
        }
    }

    /// A failed record made for this very upload (these bytes, since it last changed) by a run
    /// that stopped before the move.
    async fn earlier_failure(&self, sha: &str) -> Result<Option<FailedSubmission>, DropError> {
        let found = self.pipeline.store.failed_submission_since(
            Channel::Drop,
            &self.f.agency,
            &self.display,
            sha,
            self.changed_at,
        );
        Ok(found.await?)
    }

    /// The test hook right after a commit ([`Hooks::after_commit`]): it may stop the pass here.
    fn halt_if_asked(&self) -> Result<(), DropError> {
        if let Some(hook) = &self.hooks.after_commit {
            if hook(&self.f.agency, &self.display) {
                return Err(DropError::Halted(self.display.clone()));
            }
        }
        Ok(())
    }

    /// Runs the pipeline on the upload's bytes (unless an earlier run recorded them as failed),
    /// filling in the receipt. `Some`: the upload failed.
    async fn process(
        &self,
        bytes: Vec<u8>,
        receipt: &mut DropReceipt,
    ) -> Result<Option<Failure>, DropError> {
        let sha = crate::app::sha256_hex(&bytes);
        if let Some(earlier) = self.earlier_failure(&sha).await? {
            receipt.submission_id = Some(earlier.id);
            return Ok(Some(Failure::new(earlier.reason, false, sha)));
        }
        let input = self.input(bytes);
        match self.pipeline.process(input.clone(), None).await {
            // A value of the file the database refused: the file's fault (trying again changes
            // nothing). It fails with the reason; the next upload goes on.
            Err(pipeline::Error::Store(e)) if e.is_value_error() => {
                let reason = format!(
                    "a value in the file could not be stored ({e}); look for unusual characters \
                     or very long values, then send it again"
                );
                tracing::warn!(agency = %self.f.agency, "an upload failed: {reason}");
                Ok(Some(Failure::new(reason, true, sha)))
            }
            result => self.processed(result?, input, sha, receipt).await,
        }
    }

    /// What the pipeline's result means for the receipt. `Some`: the file was unreadable.
    async fn processed(
        &self,
        result: pipeline::Result,
        input: Input,
        sha: String,
        receipt: &mut DropReceipt,
    ) -> Result<Option<Failure>, DropError> {
        let committed = match &result {
            pipeline::Result::Processed(p) => p.submission_id.is_some(),
            pipeline::Result::Unreadable { submission_id, .. } => submission_id.is_some(),
            pipeline::Result::AlreadyProcessed { .. } => false,
        };
        if committed {
            self.halt_if_asked()?;
        }
        match result {
            pipeline::Result::Unreadable {
                submission_id,
                reason,
            } => {
                receipt.submission_id = submission_id;
                // In the agency's language: it goes into the `.error.txt` note.
                let reason = reason.render(&self.pipeline.catalogue(&self.f.agency));
                Ok(Some(Failure::new(reason, false, sha)))
            }
            pipeline::Result::Processed(p) => {
                receipt.submission_id = p.submission_id;
                receipt.outcome = DropOutcome::Processed(Box::new(p));
                Ok(None)
            }
            pipeline::Result::AlreadyProcessed { submission_id } => {
                receipt.submission_id = Some(submission_id);
                let processed = rebuild(self.pipeline, input, submission_id).await;
                receipt.outcome = DropOutcome::AlreadyProcessed {
                    submission_id,
                    processed: processed.map(Box::new),
                };
                Ok(None)
            }
        }
    }

    /// Records a failure not recorded yet (an upload not read: refused, or too large), writes the
    /// `.error.txt` note and moves the upload to `failed/`.
    async fn fail(
        &self,
        failure: Failure,
        fp: Option<Fingerprint>,
        mut receipt: DropReceipt,
    ) -> Result<DropReceipt, DropError> {
        let Failure {
            reason,
            refused,
            sha,
            told,
        } = failure;
        let unrecorded = refused || (sha.is_empty() && !self.check_only);
        if unrecorded && receipt.submission_id.is_none() {
            receipt.submission_id = Some(self.record_failure(&reason, sha).await?);
        }
        let todo = if refused {
            TODO_REFUSED
        } else {
            TODO_UNREADABLE
        };
        let catalogue = self.pipeline.catalogue(&self.f.agency);
        let shown = told.map_or_else(|| reason.clone(), |t| t.render(&catalogue));
        let text = error_text(
            &catalogue,
            &self.f,
            &shown,
            todo,
            receipt.submission_id,
            self.now,
        );
        let moved = {
            let (root, f) = (self.root.clone(), self.f.clone());
            blocking("moving an upload to failed/", move || {
                finish_failed(&root, &f, fp.as_ref(), &text)
            })
            .await?
        }
        .map_err(|e| io_error(&self.root, &self.f, e))?;
        receipt.moved_to = moved.unwrap_or_default();
        receipt.outcome = if refused {
            DropOutcome::Refused(reason)
        } else {
            DropOutcome::Unreadable(reason)
        };
        Ok(receipt)
    }

    /// The failed record of an upload not read, recorded once per upload: the one made since it
    /// last changed, or a new one.
    async fn record_failure(&self, reason: &str, sha: String) -> Result<i64, DropError> {
        if let Some(earlier) = self.earlier_failure(&sha).await? {
            return Ok(earlier.id);
        }
        let store = &self.pipeline.store;
        let id = store
            .record_failed_submission(&self.meta(sha), reason)
            .await?;
        self.halt_if_asked()?;
        Ok(id)
    }

    /// Writes the result files and moves the upload to `processed/`.
    async fn finish(
        &self,
        fp: Fingerprint,
        mut receipt: DropReceipt,
    ) -> Result<DropReceipt, DropError> {
        let files = result_files(&self.display, &receipt.outcome);
        let now = self.now;
        let (moved, written) = {
            let (root, f) = (self.root.clone(), self.f.clone());
            blocking("moving an upload to processed/", move || {
                let refs: Vec<(String, &[u8])> = files
                    .iter()
                    .map(|(n, b)| (n.clone(), b.as_slice()))
                    .collect();
                finish_processed(&root, &f, &fp, now, &refs)
            })
            .await?
        }
        .map_err(|e| io_error(&self.root, &self.f, e))?;
        receipt.moved_to = moved.unwrap_or_default();
        receipt.results = written;
        Ok(receipt)
    }
}

/// The result files to write for a processed upload (none when no results were rebuilt): (name,
/// bytes).
fn result_files(display: &str, outcome: &DropOutcome) -> Vec<(String, Vec<u8>)> {
    let processed: Option<&Processed> = match outcome {
        DropOutcome::Processed(p) => Some(p),
        DropOutcome::AlreadyProcessed { processed, .. } => processed.as_deref(),
        _ => None,
    };
    let stem = name::stem(display).to_string();
    match processed {
        Some(p) => {
            let mut v = vec![(format!("{stem}-results.xlsx"), p.results_xlsx.clone())];
            if let Some(fix) = &p.to_fix_xlsx {
                v.push((format!("{stem}-to-fix.xlsx"), fix.clone()));
            }
            v
        }
        None => Vec::new(),
    }
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
