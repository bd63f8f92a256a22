//! The drop folder (SPEC §4.2): agencies upload spreadsheets over SFTP into their own folder; the
//! daemon takes each file once its upload has finished, runs the pipeline, and puts the file in
//! exactly one final place — `processed/<UTC timestamp>-<name>` with `results/<stem>-results.xlsx`
//! (and `<stem>-to-fix.xlsx`), or `failed/<name>` with `<name>.error.txt`.
//!
//! - [`layout`]: the folders kept for every active agency;
//! - [`folder`]: descriptor-relative file operations that never follow a link or overwrite;
//! - [`name`]: which names are taken, ignored (uploads in progress) or refused, and unique names;
//! - [`settle`]: when an upload has finished;
//! - [`claim`]: which of several daemons sharing the folder takes a file (one only);
//! - [`take`]: one file, from read to its final place (crash-safe order);
//! - [`receipt`]: what each file produced, handed to a [`ReceiptSink`] (the receipt-mail hook);
//! - [`sftp_setup`]: the OpenSSH configuration and folder ownership for chrooted accounts.
//!
//! Discovery: a `notify` watcher on the drop folder wakes the source; a full scan runs at start,
//! after every wake-up and every `rescan_every` (30 s), so files that arrived while the daemon was
//! down, or whose events were lost (inotify queue overflow), are found all the same. Scans are
//! cheap (a directory listing and an `lstat` per entry); the watcher only makes them prompt.
//!
//! Decisions (where the SPEC is silent):
//! - an identical re-upload (same bytes, same agency) is `AlreadyProcessed`: nothing changes in the
//!   database; the file goes to `processed/` and the results workbook is rebuilt from the outcomes
//!   recorded the first time (so the agency gets the same answer again). A file whose processing
//!   was cut between the commit and the move is finished the same way at restart;
//! - refused entries (links, special files, folders, bad names) are recorded as failed submissions
//!   of the agency, also in `check/`; unreadable `check/` files are not recorded (a check creates
//!   nothing), they still go to `failed/` with their `.error.txt`;
//! - a file changed while being processed (re-uploaded under the same name) is not moved: its
//!   results are written, and the new content is taken as a new upload once it settles;
//! - files in the folder of an inactive agency are left alone;
//! - several daemons may share one drop folder (SPEC §4.2 (r2)): each file is claimed by one of
//!   them before it is read, with a `.claim-<name>` marker locked by that daemon while it works
//!   (see [`claim`] for why a locked marker rather than a renamed upload or a lease). The others
//!   skip the file; a daemon that dies mid-file loses its lock with its life, and the next pass
//!   of any daemon finishes the file.

pub mod claim;
pub mod folder;
pub mod layout;
pub mod name;
pub mod receipt;
pub mod settle;
pub mod sftp_keys;
pub mod sftp_setup;
pub mod take;

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::future::Future;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use crate::daemon::backoff::Backoff;
use crate::directory::Directory;
use crate::intake::pipeline::{self, Pipeline};
use crate::store::StoreError;

pub use claim::CLAIM_LEASE;
use folder::Folder;
use layout::{Place, SubKind};
use name::NameKind;
pub use receipt::{CollectReceipts, DropOutcome, DropReceipt, NoReceipts, ReceiptSink};
use settle::{Fingerprint, Settle, Settled};
use take::{Found, Took};

/// How often the whole drop folder is scanned even without watcher events.
pub const RESCAN_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum DropError {
    #[error("cannot use the drop folder {path}: {source}; check [intake.drop] path")]
    Folder {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Pipeline(#[from] pipeline::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0} stopped unexpectedly: {1}")]
    Task(&'static str, tokio::task::JoinError),
    #[error("stopped by a test hook after the commit of {0}")]
    Halted(String),
}

/// Test hooks (all off by default).
#[derive(Clone, Default)]
pub struct Hooks {
    /// Every watcher event is lost, as after an inotify queue overflow: only scans find files.
    pub lose_watch_events: bool,
    /// Called with (agency, file name) right after a file's submission was committed, before the
    /// file is moved; `true` stops the pass there with [`DropError::Halted`], as if the process
    /// had died.
    #[allow(clippy::type_complexity)]
    pub after_commit: Option<Arc<dyn Fn(&str, &str) -> bool + Send + Sync>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("lose_watch_events", &self.lose_watch_events)
            .field("after_commit", &self.after_commit.is_some())
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct DropOptions {
    /// `intake.drop.path`.
    pub path: PathBuf,
    /// `intake.drop.settle_ms`.
    pub settle: Duration,
    pub rescan_every: Duration,
    /// Watch the folder with `notify` (scans alone find everything too, only later).
    pub watch: bool,
    /// A claim marker nobody holds is removed by a scan once this old ([`CLAIM_LEASE`]).
    pub claim_lease: Duration,
    pub hooks: Hooks,
}

impl DropOptions {
    /// From `[intake.drop]`; `None` when the drop folder is off (`path = ""`).
    pub fn from_settings(s: &crate::settings::Drop) -> Option<DropOptions> {
        (!s.path.as_os_str().is_empty()).then(|| DropOptions {
            path: s.path.clone(),
            settle: Duration::from_millis(s.settle_ms),
            rescan_every: RESCAN_EVERY,
            watch: true,
            claim_lease: CLAIM_LEASE,
            hooks: Hooks::default(),
        })
    }
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct Pass {
    /// One per file that reached its final place, in the order taken.
    pub receipts: Vec<DropReceipt>,
    /// Entries still settling (uploads in progress).
    pub waiting: usize,
    /// When the next settling entry may be ready.
    pub next_check: Option<Instant>,
    /// Files that could not be finished this time (retried on the next pass; logged).
    pub errors: usize,
    /// Settled files another daemon had claimed (it takes them).
    pub elsewhere: usize,
}

type Key = (String, Place, OsString);

/// The drop-folder intake.
pub struct DropSource {
    opts: DropOptions,
    pipeline: RwLock<Pipeline>,
    sink: Arc<dyn ReceiptSink>,
    /// Also serialises passes.
    settle: tokio::sync::Mutex<Settle<Key>>,
    /// Broken layout folders already told of (see [`DropSource::report_broken`]).
    told_broken: std::sync::Mutex<HashSet<String>>,
    /// Its passes, as health and metrics see them.
    stats: Arc<crate::daemon::health::SourceStats>,
}

impl DropSource {
    pub fn new(opts: DropOptions, pipeline: Pipeline, sink: Arc<dyn ReceiptSink>) -> DropSource {
        DropSource {
            settle: tokio::sync::Mutex::new(Settle::new(opts.settle)),
            told_broken: Default::default(),
            stats: Default::default(),
            opts,
            pipeline: RwLock::new(pipeline),
            sink,
        }
    }

    pub fn options(&self) -> &DropOptions {
        &self.opts
    }

    /// Its passes, as health and metrics see them.
    pub fn stats(&self) -> Arc<crate::daemon::health::SourceStats> {
        self.stats.clone()
    }

    /// A new directory (after a reload) or store: used from the next file on.
    pub fn set_pipeline(&self, pipeline: Pipeline) {
        *self.pipeline.write().unwrap_or_else(|e| e.into_inner()) = pipeline;
    }

    fn pipeline(&self) -> Pipeline {
        self.pipeline
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Tells of layout folders that cannot be used, once (SPEC §4.2 (r2)): a warning and an alert
    /// to the owners when one first shows, nothing while it stays (it used to be a warning at
    /// every scan, and the agency's every upload waited). Once mended it may be told of again.
    async fn report_broken(&self, pipeline: &Pipeline, broken: &[(String, String)]) {
        let new: Vec<(String, String)> = {
            let mut told = self.told_broken.lock().unwrap_or_else(|e| e.into_inner());
            told.retain(|f| broken.iter().any(|(b, _)| b == f));
            broken
                .iter()
                .filter(|(f, _)| !told.contains(f))
                .cloned()
                .collect()
        };
        for (folder, why) in new {
            tracing::warn!(
                folder,
                "drop folder cannot be used ({why}); the agency's other folders keep flowing"
            );
            let told = match &pipeline.composer {
                Some(c) => {
                    let now = chrono::Utc::now();
                    let alert = pipeline
                        .store
                        .alert_broken_drop_folder(c, &folder, &why, now);
                    alert.await.map(|_| ())
                }
                None => Ok(()),
            };
            match told {
                Ok(()) => {
                    let mut set = self.told_broken.lock().unwrap_or_else(|e| e.into_inner());
                    set.insert(folder);
                }
                Err(e) => tracing::warn!("cannot tell the owners of a broken drop folder: {e}"),
            }
        }
    }

    /// Creates the layout of every active agency (also done by every pass).
    pub async fn ensure_layout(&self) -> Result<(), DropError> {
        let root = self.opts.path.clone();
        let directory = self.pipeline().directory;
        let errors = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&root)?;
            let top = Folder::open_trusted(&root)?;
            Ok::<_, io::Error>(layout::ensure_all(&top, &directory))
        })
        .await
        .map_err(|e| DropError::Task("creating the drop folders", e))?
        .map_err(|source| DropError::Folder {
            path: self.opts.path.clone(),
            source,
        })?;
        for (folder, e) in errors {
            tracing::warn!(folder, "cannot create a drop folder: {e}");
        }
        Ok(())
    }

    /// One pass: scan every active agency's folders and take each settled entry. Entries still
    /// settling are left for a later pass (see [`Pass::next_check`]).
    pub async fn process_pending(&self) -> Result<Pass, DropError> {
        let mut settle = self.settle.lock().await;
        let pipeline = self.pipeline();
        let root = self.opts.path.clone();
        let directory = Arc::clone(&pipeline.directory);
        let lease = self.opts.claim_lease;
        let scan = {
            let root = root.clone();
            tokio::task::spawn_blocking(move || scan(&root, &directory, lease))
                .await
                .map_err(|e| DropError::Task("scanning the drop folder", e))?
        }
        .map_err(|source| DropError::Folder {
            path: root.clone(),
            source,
        })?;
        for problem in &scan.problems {
            tracing::warn!("drop folder: {problem}");
        }
        self.report_broken(&pipeline, &scan.broken).await;
        let keys: HashSet<Key> = scan.found.iter().map(key).collect();
        settle.retain(|k| keys.contains(k));
        let (now, wall) = (Instant::now(), SystemTime::now());
        let mut pass = Pass::default();
        let mut ready = Vec::new();
        for f in scan.found {
            match settle.check(&key(&f), Fingerprint::of(&f.meta), now, wall) {
                Settled::Yes => ready.push(f),
                Settled::NotBefore(t) => {
                    pass.waiting += 1;
                    pass.next_check = Some(pass.next_check.map_or(t, |n| n.min(t)));
                }
            }
        }
        for f in ready {
            let k = key(&f);
            match take::take(&root, &pipeline, &self.opts.hooks, f).await {
                Ok(Took::Done(receipt)) => {
                    settle.forget(&k);
                    // /healthz's `handled` of the drop source: files taken (processed or failed).
                    self.stats
                        .handled
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!(
                        agency = receipt.agency_id,
                        file = receipt.file_name,
                        outcome = receipt.outcome.code(),
                        submission_id = receipt.submission_id,
                        moved_to = receipt.moved_to,
                        "drop folder: file taken"
                    );
                    self.sink.receipt(&receipt);
                    pass.receipts.push(receipt);
                }
                Ok(Took::Elsewhere) => {
                    settle.forget(&k);
                    pass.elsewhere += 1;
                }
                Ok(Took::Changed) => {
                    // Changed since the scan: it settles again from its new state.
                    settle.forget(&k);
                    pass.waiting += 1;
                    let t = Instant::now() + self.opts.settle;
                    pass.next_check = Some(pass.next_check.map_or(t, |n| n.min(t)));
                }
                Err(e @ DropError::File { .. }) => {
                    tracing::warn!("drop folder: {e}; will retry");
                    pass.errors += 1;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(pass)
    }

    /// Runs until `shutdown` completes: a pass at start, then after every watcher wake-up, when a
    /// settling upload may be ready, and at least every `rescan_every`. Database or folder
    /// trouble is logged and retried with a capped backoff; the loop keeps going.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), DropError> {
        tokio::pin!(shutdown);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        if let Err(e) = self.ensure_layout().await {
            tracing::error!("{e}");
        }
        let _watcher = if self.opts.watch {
            match watch(
                &self.opts.path,
                tx.clone(),
                self.opts.hooks.lose_watch_events,
            ) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(
                        "cannot watch the drop folder {} ({e}); relying on scans every {:?}",
                        self.opts.path.display(),
                        self.opts.rescan_every
                    );
                    None
                }
            }
        } else {
            None
        };
        let mut retries = Backoff::new(Duration::from_secs(1), Duration::from_secs(60)).retries();
        loop {
            let deadline = match self.process_pending().await {
                Ok(pass) => {
                    self.stats.succeeded();
                    retries.succeeded();
                    let periodic = Instant::now() + self.opts.rescan_every;
                    pass.next_check.map_or(periodic, |t| t.min(periodic))
                }
                Err(e @ DropError::Halted(_)) => return Err(e),
                Err(e) => {
                    self.stats.failed(&e.to_string());
                    let wait = retries.failed();
                    tracing::error!("drop folder: {e}; next attempt in {wait:?}");
                    Instant::now() + wait
                }
            };
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                Some(()) = rx.recv() => {
                    // Let a burst of events pass, then scan once.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    while rx.try_recv().is_ok() {}
                }
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
        }
    }
}

fn key(f: &Found) -> Key {
    (f.agency.clone(), f.place.clone(), f.name.clone())
}

/// A watcher that sends a wake-up for every event that may concern an upload.
fn watch(
    root: &Path,
    tx: tokio::sync::mpsc::UnboundedSender<()>,
    lose_events: bool,
) -> notify::Result<notify::RecommendedWatcher> {
    use notify::event::{AccessKind, AccessMode, EventKind};
    use notify::Watcher as _;
    let base = root.to_path_buf();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if lose_events {
            return;
        }
        let wake = match res {
            Ok(ev) => {
                let relevant_kind = match ev.kind {
                    EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
                    EventKind::Access(_) => false,
                    _ => true,
                };
                ev.need_rescan()
                    || (relevant_kind
                        && ev
                            .paths
                            .iter()
                            .any(|p| !is_output(&base, p) && !is_claim(p)))
            }
            // An error from the watcher (e.g. the queue overflowed): scan.
            Err(_) => true,
        };
        if wake {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(root, notify::RecursiveMode::Recursive)?;
    Ok(watcher)
}

/// `<root>/<agency>/{results,processed,failed}/…`: written by the daemon itself.
fn is_output(root: &Path, p: &Path) -> bool {
    p.strip_prefix(root)
        .ok()
        .and_then(|rel| rel.components().nth(1))
        .is_some_and(|c| layout::OUTPUTS.iter().any(|o| c.as_os_str() == *o))
}

/// A claim marker: made and removed by the daemons themselves.
fn is_claim(p: &Path) -> bool {
    p.file_name().is_some_and(claim::is_marker)
}

/// What a scan found.
#[derive(Debug)]
struct Scan {
    found: Vec<Found>,
    problems: Vec<String>,
    /// Layout folders that cannot be had (see [`layout::ensure`]) and why: reported once.
    broken: Vec<(String, String)>,
    /// Claim markers nobody holds are removed once this old, as of `now`.
    lease: Duration,
    now: SystemTime,
}

/// Creates what is missing of the layout, then lists every entry of every active agency's input
/// folders, with why it is refused when it is. Never follows a link.
fn scan(root: &Path, directory: &Directory, lease: Duration) -> io::Result<Scan> {
    std::fs::create_dir_all(root)?;
    let top = Folder::open_trusted(root)?;
    let mut scan = Scan {
        found: Vec::new(),
        problems: Vec::new(),
        broken: Vec::new(),
        lease,
        now: SystemTime::now(),
    };
    for (agency, campaigns) in layout::active_agencies(directory) {
        match layout::ensure(&top, &agency.id, &campaigns) {
            Ok((folder, broken)) => {
                let why = broken.into_iter().map(|(f, e)| (f, e.to_string()));
                scan.broken.extend(why);
                scan_folder(&folder, &agency.id, &Place::Root, directory, &mut scan)
            }
            Err(e) => scan
                .problems
                .push(format!("{}/{}: {e}", root.display(), agency.id)),
        }
    }
    Ok(scan)
}

const REFUSE_FOLDER: &str = "it is a folder: only files are read, in your folder, in a campaign \
     folder or in check/";
const REFUSE_LINK: &str = "it is a symbolic link: links are never followed";
const REFUSE_HARD_LINK: &str = "it has other names (hard links)";
const REFUSE_SPECIAL: &str = "it is a special file (a FIFO, socket or device), not a spreadsheet";

fn scan_folder(
    folder: &Folder,
    agency: &str,
    place: &Place,
    directory: &Directory,
    scan: &mut Scan,
) {
    let names = match folder.names() {
        Ok(n) => n,
        Err(e) => {
            scan.problems
                .push(format!("{}: {e}", folder.path().display()));
            return;
        }
    };
    for name in names {
        let kind = name::classify(&name);
        if kind == NameKind::Ignore {
            if claim::is_marker(&name) {
                sweep(folder, &name, scan);
            }
            continue;
        }
        let Ok(meta) = folder.lstat(&name) else {
            continue; // gone since the listing
        };
        let ft = meta.file_type();
        let refuse = match kind {
            NameKind::Ignore => continue,
            NameKind::Refuse(r) => Some(r.to_string()),
            NameKind::Take(s) => {
                if ft.is_dir() {
                    let sub = if *place == Place::Root {
                        layout::sub_kind(&s, directory)
                    } else {
                        SubKind::Unknown
                    };
                    match sub {
                        SubKind::Output => continue,
                        SubKind::Input(p) => {
                            match folder.sub(&name) {
                                Ok(sub) => scan_folder(&sub, agency, &p, directory, scan),
                                Err(e) => scan
                                    .problems
                                    .push(format!("{}/{s}: {e}", folder.path().display())),
                            }
                            continue;
                        }
                        SubKind::Unknown => Some(REFUSE_FOLDER.to_string()),
                    }
                } else if ft.is_symlink() {
                    Some(REFUSE_LINK.to_string())
                } else if ft.is_file() {
                    (meta.nlink() > 1).then(|| REFUSE_HARD_LINK.to_string())
                } else {
                    Some(REFUSE_SPECIAL.to_string())
                }
            }
        };
        scan.found.push(Found {
            agency: agency.to_string(),
            place: place.clone(),
            name,
            meta,
            refuse,
        });
    }
}

/// Removes a claim marker left by a daemon that died after moving its file (see [`claim`]).
fn sweep(folder: &Folder, marker: &OsStr, scan: &mut Scan) {
    match claim::sweep(folder, marker, scan.lease, scan.now) {
        Ok(true) => tracing::info!(
            "drop folder: removed the stale claim marker {}",
            folder.path().join(marker).display()
        ),
        Ok(false) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => scan
            .problems
            .push(format!("{}: {e}", folder.path().join(marker).display())),
    }
}
