//! The drop-folder source (SPEC §4.2) on real folders: layout, settling, exactly one final place
//! per file, crash recovery, lost watcher events and hostile entries. (The SFTP end-to-end test
//! with OpenSSH is tests/it/sftp.rs.)

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agency_portal::directory::{self, Directory};
use agency_portal::intake::drop::{
    DropOptions, DropOutcome, DropReceipt, DropSource, Hooks, NoReceipts, Pass,
};
use agency_portal::intake::pipeline::Pipeline;
use agency_portal::settings::Scope;
use agency_portal::sheet::Limits;
use agency_portal::store::Store;
use agency_portal::submission::Rules;

pub(super) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(super) fn the_directory() -> Directory {
    directory::load(&repo().join("config/directory.toml")).unwrap()
}

pub(super) fn pipeline(store: Store) -> Pipeline {
    Pipeline {
        store,
        directory: Arc::new(the_directory()),
        rules: Rules {
            scope: Scope::Company,
            ownership_days: 180,
            name_similarity: 0.92,
        },
        limits: Limits::default(),
        composer: Some(Arc::new(support::composer())),
    }
}

pub(super) async fn sync(store: &Store) {
    store
        .sync_directory(
            &the_directory(),
            "directory.toml",
            "x",
            chrono::Utc::now(),
            &support::composer(),
        )
        .await
        .unwrap();
}

pub(super) async fn sqlite(dir: &Path) -> Store {
    let store = Store::open(&support::fresh_sqlite_url(dir)).await.unwrap();
    sync(&store).await;
    store
}

pub(super) fn options(root: &Path, settle_ms: u64) -> DropOptions {
    DropOptions {
        path: root.to_path_buf(),
        settle: Duration::from_millis(settle_ms),
        rescan_every: Duration::from_secs(60),
        watch: false,
        claim_lease: agency_portal::intake::drop::CLAIM_LEASE,
        hooks: Hooks::default(),
    }
}

pub(super) fn source(root: &Path, store: &Store, settle_ms: u64) -> DropSource {
    DropSource::new(
        options(root, settle_ms),
        pipeline(store.clone()),
        Arc::new(NoReceipts),
    )
}

/// The synced store's source on a new drop folder whose layout a first pass made: (the temp dir
/// holding it, the folder, the source).
pub(super) async fn laid_out(
    store: &Store,
    settle_ms: u64,
) -> (tempfile::TempDir, PathBuf, DropSource) {
    sync(store).await;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("drop");
    let src = source(&root, store, settle_ms);
    src.process_pending().await.unwrap();
    (tmp, root, src)
}

/// A made-up word from a number: distinct numbers give clearly distinct names.
pub(super) fn word(mut n: usize) -> String {
    const C: &[u8] = b"bdfgklmnprstvz";
    const V: &[u8] = b"aeiou";
    let mut s = String::new();
    for _ in 0..4 {
        s.push(C[n % C.len()] as char);
        n /= C.len();
        s.push(V[n % V.len()] as char);
        n /= V.len();
    }
    let mut c = s.chars();
    let first = c.next().unwrap().to_ascii_uppercase();
    std::iter::once(first).chain(c).collect()
}

/// A one-person CSV, different for every `n`; `campaign` column omitted when `None`.
pub(super) fn csv(n: usize, campaign: Option<&str>) -> String {
    let first = word(n * 7 + 1);
    let last = word(n * 13 + 5);
    let email = format!("{}.{}@gmail.com", first.to_lowercase(), last.to_lowercase());
    let phone = format!("0917 {:03} {:04}", (n / 10_000) % 1000, n % 10_000);
    match campaign {
        Some(c) => format!(
            "First Name,Last Name,Email,Mobile,Campaign\n{first},{last},{email},{phone},{c}\n"
        ),
        None => format!("First Name,Last Name,Email,Mobile\n{first},{last},{email},{phone}\n"),
    }
}

/// Passes until nothing is settling any more; all receipts.
pub(super) async fn drain(src: &DropSource) -> Vec<DropReceipt> {
    let mut all = Vec::new();
    let give_up = Instant::now() + Duration::from_secs(120);
    loop {
        let pass: Pass = src.process_pending().await.unwrap();
        all.extend(pass.receipts);
        match pass.next_check {
            Some(t) if pass.waiting > 0 => {
                assert!(Instant::now() < give_up, "still waiting: {}", pass.waiting);
                tokio::time::sleep_until(t.into()).await;
            }
            _ => return all,
        }
    }
}

pub(super) fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layout_is_kept_for_every_active_agency() {
    let tmp = tempfile::tempdir().unwrap();
    let store = sqlite(tmp.path()).await;
    let root = tmp.path().join("drop");
    let src = source(&root, &store, 100);
    let pass = src.process_pending().await.unwrap();
    assert!(pass.receipts.is_empty());
    assert_eq!(
        names(&root),
        ["acme", "andina", "bayanihan", "talento-mx"],
        "inactive rio-rh gets no folder"
    );
    assert_eq!(
        names(&root.join("acme")),
        ["40123", "40124", "check", "failed", "processed", "results"],
        "active PH campaigns only (40100 is closed)"
    );
    assert_eq!(
        names(&root.join("talento-mx")),
        ["50210", "check", "failed", "processed", "results"]
    );
    // A removed folder comes back at the next pass.
    std::fs::remove_dir(root.join("acme/check")).unwrap();
    src.process_pending().await.unwrap();
    assert!(root.join("acme/check").is_dir());
}

on_both_backends!(uploads_end_in_exactly_one_place);
async fn uploads_end_in_exactly_one_place(store: Store) {
    let (_tmp, root, src) = laid_out(&store, 150).await;
    let acme = root.join("acme");
    std::fs::write(
        acme.join("week 48.csv"),
        format!("{}Ben,,,,40123\n", csv(1, Some("40123"))),
    )
    .unwrap();
    std::fs::write(acme.join("40124/manila.csv"), csv(2, None)).unwrap();
    std::fs::write(acme.join("check/try.csv"), csv(3, Some("40123"))).unwrap();
    std::fs::write(acme.join("broken.xlsx"), b"PK\x03\x04 not really a zip").unwrap();
    std::fs::write(acme.join("x.xlsx.filepart"), b"still uploading").unwrap();
    std::fs::write(acme.join(".hidden.csv"), csv(4, Some("40123"))).unwrap();

    // Just written: nothing is taken before it has settled.
    let first = src.process_pending().await.unwrap();
    assert!(first.receipts.is_empty(), "{:?}", first.receipts);
    assert_eq!(first.waiting, 4);

    let receipts = drain(&src).await;
    assert_eq!(receipts.len(), 4, "{receipts:#?}");
    let by_name = |n: &str| receipts.iter().find(|r| r.file_name == n).unwrap();

    let week = by_name("week 48.csv");
    let DropOutcome::Processed(p) = &week.outcome else {
        panic!("{week:?}")
    };
    assert_eq!(
        p.counts_line(),
        "new 1, previously_submitted 0, duplicate 0, blocked 0, review 0, repeated 0, invalid 1"
    );
    assert!(week.moved_to.starts_with("processed/") && week.moved_to.ends_with("-week 48.csv"));
    assert_eq!(
        week.results,
        [
            "results/week 48-results.xlsx",
            "results/week 48-to-fix.xlsx"
        ]
    );
    assert!(week.submission_id.is_some());

    // The campaign folder gives the campaign.
    let manila = by_name("manila.csv");
    assert_eq!(manila.campaign.as_deref(), Some("40124"));
    let DropOutcome::Processed(p) = &manila.outcome else {
        panic!("{manila:?}")
    };
    assert_eq!(p.counts()[0], 1, "{}", p.counts_line());
    assert_eq!(manila.results, ["results/manila-results.xlsx"]);
    // Its receipt names the campaign its folder gave.
    let mut named = false;
    for row in store.outbox_rows().await.unwrap() {
        let raw = store.outbox_message(row.id).await.unwrap().unwrap();
        let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let text = m.body_text(0).unwrap_or_default().to_string();
        named |= text.contains("We received manila.csv for Acme Staffing, campaign 40124 ");
    }
    assert!(named, "a receipt names campaign 40124");

    // check/: results, nothing created or recorded.
    let check = by_name("try.csv");
    assert!(check.check_only);
    assert_eq!(check.submission_id, None);
    assert!(check.moved_to.starts_with("processed/"));
    assert_eq!(check.results, ["results/try-results.xlsx"]);

    // Unreadable: failed/ with the reason in plain words.
    let broken = by_name("broken.xlsx");
    assert!(
        matches!(broken.outcome, DropOutcome::Unreadable(_)),
        "{broken:?}"
    );
    assert_eq!(broken.moved_to, "failed/broken.xlsx");
    let why = std::fs::read_to_string(acme.join("failed/broken.xlsx.error.txt")).unwrap();
    assert!(
        why.starts_with("broken.xlsx could not be processed."),
        "{why}"
    );
    assert!(why.contains("Why: "), "{why}");

    // What is left: the upload in progress and the dot-file, untouched.
    assert_eq!(
        names(&acme),
        [
            ".hidden.csv",
            "40123",
            "40124",
            "check",
            "failed",
            "processed",
            "results",
            "x.xlsx.filepart"
        ]
    );
    assert_eq!(names(&acme.join("processed")).len(), 3);
    assert_eq!(
        names(&acme.join("results")),
        [
            "manila-results.xlsx",
            "try-results.xlsx",
            "week 48-results.xlsx",
            "week 48-to-fix.xlsx"
        ]
    );
    let subs = store.submissions_view(Some("acme"), None).await.unwrap();
    assert_eq!(
        subs.len(),
        3,
        "two processed, one failed; the check is not recorded"
    );
    assert!(subs
        .iter()
        .all(|s| s.channel == "drop" && s.sender == "ap-acme"));

    // The identical file again: already processed, nothing changes, the same answer is given.
    std::fs::write(
        acme.join("week 48.csv"),
        format!("{}Ben,,,,40123\n", csv(1, Some("40123"))),
    )
    .unwrap();
    let again = drain(&src).await;
    assert_eq!(again.len(), 1);
    let DropOutcome::AlreadyProcessed {
        submission_id,
        processed: Some(p),
    } = &again[0].outcome
    else {
        panic!("{:?}", again[0])
    };
    assert_eq!(Some(*submission_id), week.submission_id);
    assert_eq!(p.counts()[0], 1, "the outcomes recorded the first time");
    assert_eq!(
        again[0].results,
        [
            "results/week 48-results-2.xlsx",
            "results/week 48-to-fix-2.xlsx"
        ],
        "names never collide"
    );
    assert_eq!(names(&acme.join("processed")).len(), 4);
    assert_eq!(
        store
            .submissions_view(Some("acme"), None)
            .await
            .unwrap()
            .len(),
        3
    );
}

on_both_backends!(two_sources_on_one_folder_take_each_file_once);
/// SPEC §4.2 (r2): two sources (as two daemons) on one drop folder and one store, draining the same
/// 20 files at the same time: each file is taken by one of them, read once, with one results
/// workbook, and no claim marker is left behind.
async fn two_sources_on_one_folder_take_each_file_once(store: Store) {
    sync(&store).await;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("drop");
    let (a, b) = (source(&root, &store, 100), source(&root, &store, 100));
    a.process_pending().await.unwrap();
    let acme = root.join("acme");
    for n in 0..20 {
        std::fs::write(
            acme.join(format!("f{n:02}.csv")),
            csv(2000 + n, Some("40123")),
        )
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(150)).await;

    let (by_a, by_b) = tokio::join!(drain(&a), drain(&b));
    eprintln!("a took {}, b took {}", by_a.len(), by_b.len());
    let mut taken: Vec<&str> = by_a
        .iter()
        .chain(&by_b)
        .map(|r| r.file_name.as_str())
        .collect();
    taken.sort();
    let want: Vec<String> = (0..20).map(|n| format!("f{n:02}.csv")).collect();
    assert_eq!(taken, want, "each file by exactly one source");
    for r in by_a.iter().chain(&by_b) {
        assert!(
            matches!(r.outcome, DropOutcome::Processed(_)),
            "read once, never a second pass: {r:?}"
        );
        assert_eq!(r.results.len(), 1, "{r:?}");
    }
    let results: Vec<String> = (0..20).map(|n| format!("f{n:02}-results.xlsx")).collect();
    assert_eq!(names(&acme.join("results")), results);
    assert_eq!(names(&acme.join("processed")).len(), 20);
    assert_eq!(
        names(&acme),
        ["40123", "40124", "check", "failed", "processed", "results"]
    );
    let subs = store.submissions_view(Some("acme"), None).await.unwrap();
    assert_eq!(subs.len(), 20);
}

on_both_backends!(a_claim_is_left_to_its_holder_and_taken_over_once_it_died);
/// A claim marker held by a live daemon keeps the file from every other one; a marker nobody holds
/// (its daemon died, even by SIGKILL: the lock died with it) is taken over at the next pass, with
/// no lease to wait out; a marker left with no file is removed once older than the lease.
async fn a_claim_is_left_to_its_holder_and_taken_over_once_it_died(store: Store) {
    let (_tmp, root, src) = laid_out(&store, 50).await;
    let acme = root.join("acme");
    std::fs::write(acme.join("dead.csv"), csv(31, Some("40123"))).unwrap();
    std::fs::write(acme.join("live.csv"), csv(32, Some("40123"))).unwrap();
    // As a daemon killed while taking dead.csv leaves it: a marker nobody holds.
    std::fs::write(acme.join(".claim-dead.csv"), "agency-portal pid 1\n").unwrap();
    // Another daemon at work on live.csv: it holds the lock on the marker.
    let live = std::fs::File::create(acme.join(".claim-live.csv")).unwrap();
    live.try_lock().unwrap();
    // Left by a daemon that died after moving its file.
    std::fs::write(acme.join(".claim-gone.csv"), "").unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let pass = src.process_pending().await.unwrap();
    let taken: Vec<&str> = pass.receipts.iter().map(|r| r.file_name.as_str()).collect();
    assert_eq!(taken, ["dead.csv"]);
    assert_eq!(pass.elsewhere, 1, "live.csv is another daemon's");
    assert!(!acme.join(".claim-dead.csv").exists(), "released");
    assert!(acme.join("live.csv").is_file() && acme.join(".claim-live.csv").is_file());
    assert!(
        acme.join(".claim-gone.csv").is_file(),
        "younger than the lease"
    );
    assert!(drain(&src).await.is_empty());

    // The holder dies: its lock goes with it, and its file is taken at the next pass.
    drop(live);
    let again = drain(&src).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].file_name, "live.csv");
    assert!(matches!(again[0].outcome, DropOutcome::Processed(_)));
    assert!(!acme.join(".claim-live.csv").exists());

    // Past the lease: a marker nobody holds is removed, a held one never is.
    let held = std::fs::File::create(acme.join(".claim-held.csv")).unwrap();
    held.try_lock().unwrap();
    let mut opts = options(&root, 50);
    opts.claim_lease = Duration::ZERO;
    let sweeper = DropSource::new(opts, pipeline(store.clone()), Arc::new(NoReceipts));
    sweeper.process_pending().await.unwrap();
    assert!(!acme.join(".claim-gone.csv").exists());
    assert!(acme.join(".claim-held.csv").is_file());
    drop(held);
    assert_eq!(
        store
            .submissions_view(Some("acme"), None)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_copied_in_while_stopped_are_all_taken_once_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let store = sqlite(tmp.path()).await;
    let root = tmp.path().join("drop");
    source(&root, &store, 100).process_pending().await.unwrap();
    for n in 0..200 {
        std::fs::write(
            root.join(format!("acme/f{n:03}.csv")),
            csv(1000 + n, Some("40123")),
        )
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    // A new source (the daemon starting): everything quiet for settle_ms is taken in the first pass.
    let started = Instant::now();
    let src = source(&root, &store, 100);
    let pass = src.process_pending().await.unwrap();
    let took = started.elapsed();
    assert_eq!(pass.receipts.len(), 200);
    assert_eq!(pass.waiting, 0);
    eprintln!("200 files in one pass: {took:?}");
    assert_eq!(names(&root.join("acme/processed")).len(), 200);
    assert_eq!(names(&root.join("acme/results")).len(), 200);
    let subs = store.submissions_view(Some("acme"), None).await.unwrap();
    assert_eq!(subs.len(), 200);
    assert!(subs.iter().all(|s| s.status == "processed" && s.rows == 1));
    // Nothing left, nothing taken twice.
    assert!(drain(&src).await.is_empty());
    // /healthz shows the drop source's files taken as `handled`, as the email source's messages.
    assert_eq!(
        src.stats()
            .handled
            .load(std::sync::atomic::Ordering::Relaxed),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_watcher_events_lose_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let store = sqlite(tmp.path()).await;
    let root = tmp.path().join("drop");
    let mut opts = options(&root, 100);
    opts.watch = true;
    opts.rescan_every = Duration::from_millis(500);
    opts.hooks.lose_watch_events = true; // as after an inotify queue overflow
    let src = Arc::new(DropSource::new(
        opts,
        pipeline(store.clone()),
        Arc::new(NoReceipts),
    ));
    src.ensure_layout().await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = {
        let src = Arc::clone(&src);
        tokio::spawn(async move {
            src.run(async {
                let _ = stopped.await;
            })
            .await
        })
    };
    let started = Instant::now();
    for n in 0..500 {
        std::fs::write(
            root.join(format!("bayanihan/g{n:03}.csv")),
            csv(5000 + n, Some("40124")),
        )
        .unwrap();
    }
    let processed = root.join("bayanihan/processed");
    while names(&processed).len() < 500 {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "only {} of 500",
            names(&processed).len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("500 files without watcher events: {:?}", started.elapsed());
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    assert_eq!(names(&processed).len(), 500);
    let subs = store
        .submissions_view(Some("bayanihan"), None)
        .await
        .unwrap();
    assert_eq!(subs.len(), 500);
    let mut shas: Vec<&str> = subs.iter().map(|s| s.sha256.as_str()).collect();
    shas.sort();
    shas.dedup();
    assert_eq!(shas.len(), 500, "each file once");
    assert_eq!(
        names(&root.join("bayanihan")).len(),
        5 + 1,
        "only the layout is left (40123, 40124 are PH)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_takes_uploads_once_they_have_settled() {
    let tmp = tempfile::tempdir().unwrap();
    let store = sqlite(tmp.path()).await;
    let root = tmp.path().join("drop");
    let mut opts = options(&root, 300);
    opts.watch = true;
    opts.rescan_every = Duration::from_secs(3600); // only the watcher can wake it
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<DropReceipt>();
    let src = Arc::new(DropSource::new(opts, pipeline(store.clone()), Arc::new(tx)));
    src.ensure_layout().await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = {
        let src = Arc::clone(&src);
        tokio::spawn(async move {
            src.run(async {
                let _ = stopped.await;
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let acme = root.join("acme");

    // A slow writer: 2 MB in 40 chunks over ~2 s (each pause shorter than settle_ms).
    let mut text = csv(1, Some("40123")).replace("Campaign\n", "Campaign,Notes\n");
    let note: String = (0..1000).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    while text.len() < 2_000_000 {
        text.push_str(&format!(",,,,,{note}\n"));
    }
    let whole = text.into_bytes();
    let chunks: Vec<Vec<u8>> = whole.chunks(50_000).map(<[u8]>::to_vec).collect();
    let writer = {
        let path = acme.join("slow.csv");
        std::thread::spawn(move || {
            use std::io::Write as _;
            let mut f = std::fs::File::create(path).unwrap();
            for c in chunks {
                f.write_all(&c).unwrap();
                f.flush().unwrap();
                std::thread::sleep(Duration::from_millis(50));
            }
            Instant::now()
        })
    };
    let finished = tokio::task::spawn_blocking(move || writer.join().unwrap())
        .await
        .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let waited = finished.elapsed();
    assert_eq!(r.file_name, "slow.csv");
    assert!(
        matches!(r.outcome, DropOutcome::Processed(_)),
        "{:?}",
        r.outcome
    );
    let moved = std::fs::read(acme.join(&r.moved_to)).unwrap();
    assert_eq!(moved.len(), whole.len(), "never taken truncated");
    let subs = store.submissions_view(Some("acme"), None).await.unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].sha256, agency_portal::app::sha256_hex(&whole));
    eprintln!("taken {waited:?} after the upload ended");

    // WinSCP: x.xlsx.filepart, then renamed to x.xlsx.
    let xlsx = std::fs::read(repo().join("samples/people-xlsxwriter.xlsx")).unwrap();
    std::fs::write(acme.join("x.xlsx.filepart"), &xlsx).unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(rx.try_recv().is_err(), "a .filepart is never taken");
    std::fs::rename(acme.join("x.xlsx.filepart"), acme.join("x.xlsx")).unwrap();
    let r = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.file_name, "x.xlsx");
    assert!(matches!(r.outcome, DropOutcome::Processed(_)));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(rx.try_recv().is_err(), "taken once");
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    assert_eq!(
        store
            .submissions_view(Some("acme"), None)
            .await
            .unwrap()
            .len(),
        2
    );
}
