//! The drop-folder source when things go wrong (SPEC §4.2): a crash or `kill -9` between the commit and
//! the move, hostile entries, poison values and long names, a linked layout folder. Every file still
//! ends in exactly one place. The shared set-up is in `drop`.

use crate::support;

use std::os::unix::fs::MetadataExt as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agency_portal::intake::drop::{DropOutcome, DropReceipt, DropSource, NoReceipts};
use agency_portal::store::Store;

use super::drop::*;

on_both_backends!(a_crash_between_commit_and_move_is_finished_not_redone);
async fn a_crash_between_commit_and_move_is_finished_not_redone(store: Store) {
    sync(&store).await;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("drop");
    let acme = root.join("acme");
    source(&root, &store, 100).process_pending().await.unwrap();
    // The process "dies" right after a commit: first with an unreadable file, then (the files
    // are taken in name order) with a readable one.
    let halted = Arc::new(AtomicBool::new(false));
    let mut opts = options(&root, 100);
    opts.hooks.after_commit = Some(Arc::new(|_: &str, _: &str| true));
    for (name, bytes) in [
        ("garbage.xls", b"\xD0\xCF\x11\xE0 truncated".to_vec()),
        ("crash.csv", csv(7, Some("40123")).into_bytes()),
    ] {
        std::fs::write(acme.join(name), bytes).unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        let dying = DropSource::new(opts.clone(), pipeline(store.clone()), Arc::new(NoReceipts));
        let err = dying.process_pending().await.unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
        halted.store(true, Ordering::Relaxed);
    }
    assert!(acme.join("crash.csv").exists() && acme.join("garbage.xls").exists());
    let subs = store.submissions_view(Some("acme"), None).await.unwrap();
    assert_eq!(subs.len(), 2, "both committed before the crash");
    let people = store.candidates_view(None, None, None).await.unwrap().len();

    // Restart: finished, not redone.
    let receipts = drain(&source(&root, &store, 100)).await;
    assert_eq!(receipts.len(), 2, "{receipts:#?}");
    let crash = receipts
        .iter()
        .find(|r| r.file_name == "crash.csv")
        .unwrap();
    let DropOutcome::AlreadyProcessed {
        submission_id,
        processed: Some(p),
    } = &crash.outcome
    else {
        panic!("{crash:?}")
    };
    assert_eq!(
        *submission_id,
        subs.iter().find(|s| s.file == "crash.csv").unwrap().id
    );
    assert_eq!(
        p.counts()[0],
        1,
        "the outcome recorded before the crash: {}",
        p.counts_line()
    );
    assert!(crash.moved_to.starts_with("processed/"));
    assert_eq!(crash.results, ["results/crash-results.xlsx"]);
    let garbage = receipts
        .iter()
        .find(|r| r.file_name == "garbage.xls")
        .unwrap();
    assert!(matches!(garbage.outcome, DropOutcome::Unreadable(_)));
    assert_eq!(garbage.moved_to, "failed/garbage.xls");
    assert_eq!(
        garbage.submission_id,
        Some(subs.iter().find(|s| s.file == "garbage.xls").unwrap().id),
        "the failed record of the first run"
    );
    assert!(acme.join("failed/garbage.xls.error.txt").is_file());
    assert_eq!(
        store
            .submissions_view(Some("acme"), None)
            .await
            .unwrap()
            .len(),
        2,
        "one record each"
    );
    let receipts: Vec<String> = store
        .outbox_rows()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "receipt")
        .flat_map(|r| r.recipients)
        .collect();
    assert_eq!(
        receipts,
        ["ana@acme-staffing.example"],
        "one receipt, to acme's admin, written with the submission before the crash"
    );
    assert_eq!(
        store.candidates_view(None, None, None).await.unwrap().len(),
        people,
        "rows not created twice"
    );
    assert!(halted.load(Ordering::Relaxed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_entries_are_refused_and_the_source_keeps_going() {
    let tmp = tempfile::tempdir().unwrap();
    let store = sqlite(tmp.path()).await;
    let root = tmp.path().join("drop");
    let src = source(&root, &store, 100);
    src.process_pending().await.unwrap();
    let acme = root.join("acme");
    let passwd_before = std::fs::read("/etc/passwd").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", acme.join("passwd.csv")).unwrap();
    std::os::unix::fs::symlink("/etc", acme.join("etc")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", acme.join("check/pw.csv")).unwrap();
    let fifo = std::ffi::CString::new(acme.join("pipe.csv").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    std::fs::write(acme.join("a\nb.csv"), csv(11, Some("40123"))).unwrap();
    std::fs::write(tmp.path().join("elsewhere.csv"), csv(12, Some("40123"))).unwrap();
    std::fs::hard_link(tmp.path().join("elsewhere.csv"), acme.join("linked.csv")).unwrap();
    std::fs::create_dir(acme.join("folder")).unwrap();
    std::fs::write(acme.join("good.csv"), csv(13, Some("40123"))).unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;

    // A FIFO must never block the source.
    let receipts = tokio::time::timeout(Duration::from_secs(30), drain(&src))
        .await
        .expect("the source does not block");
    assert_eq!(receipts.len(), 8, "{receipts:#?}");
    for r in &receipts {
        if r.file_name == "good.csv" {
            assert!(matches!(r.outcome, DropOutcome::Processed(_)));
            continue;
        }
        let DropOutcome::Refused(why) = &r.outcome else {
            panic!("{r:?}")
        };
        assert!(r.moved_to.starts_with("failed/"), "{r:?}");
        assert!(r.submission_id.is_some(), "recorded: {r:?}");
        let text = std::fs::read_to_string(acme.join(format!("{}.error.txt", r.moved_to))).unwrap();
        assert!(text.contains(why.as_str()), "{text}");
    }
    let failed = acme.join("failed");
    assert_eq!(
        names(&failed),
        [
            "a_b.csv",
            "a_b.csv.error.txt",
            "etc",
            "etc.error.txt",
            "folder",
            "folder.error.txt",
            "linked.csv",
            "linked.csv.error.txt",
            "passwd.csv",
            "passwd.csv.error.txt",
            "pipe.csv",
            "pipe.csv.error.txt",
            "pw.csv",
            "pw.csv.error.txt"
        ]
    );
    // Moved as they are, never followed: the links are still links, the FIFO still a FIFO.
    assert!(std::fs::symlink_metadata(failed.join("passwd.csv"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::symlink_metadata(failed.join("etc"))
        .unwrap()
        .file_type()
        .is_symlink());
    use std::os::unix::fs::FileTypeExt as _;
    assert!(std::fs::symlink_metadata(failed.join("pipe.csv"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), passwd_before);
    assert_eq!(
        std::fs::metadata(tmp.path().join("elsewhere.csv"))
            .unwrap()
            .nlink(),
        2
    );
    let why = std::fs::read_to_string(failed.join("a_b.csv.error.txt")).unwrap();
    assert!(why.contains("control character"), "{why}");
    let subs = store.submissions_view(Some("acme"), None).await.unwrap();
    assert_eq!(subs.iter().filter(|s| s.status == "failed").count(), 7);
    assert_eq!(subs.iter().filter(|s| s.status == "processed").count(), 1);
}

/// Issue 6, acceptance 4, with a real process: `agency-portal drop --once` is killed with SIGKILL
/// right after the file's submission is committed and before the file is moved; the next run moves
/// it, creates no row twice, and there is one receipt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_commit_and_move_then_restart() {
    use std::os::unix::process::ExitStatusExt;
    let tmp = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let drop_root = tmp.path().join("drop");
    let db = tmp.path().join("portal.db");
    let config = tmp.path().join("agency-portal.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n[directory]\npath = \"{}\"\n\
             [intake.mailbox]\nkind = \"none\"\n[intake.drop]\npath = \"{}\"\nsettle_ms = 100\n\
             [mail]\ntransport = \"file\"\npath = \"{}\"\n",
            db.display(),
            repo.join("config/directory.toml").display(),
            drop_root.display(),
            tmp.path().join("outbox").display()
        ),
    )
    .unwrap();
    let run = |crash: bool| {
        let mut c = support::portal(&config);
        c.args(["drop", "--once"]).env("AGENCY_PORTAL_LOG", "error");
        if crash {
            c.env(agency_portal::cli::CRASH_AFTER_COMMIT_ENV, "1");
        }
        c.output().unwrap()
    };
    // The layout first, then the upload.
    assert!(run(false).status.success());
    let acme = drop_root.join("acme");
    std::fs::write(acme.join("crash.csv"), csv(5, Some("40123"))).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let killed = run(true);
    assert_eq!(killed.status.signal(), Some(9), "{killed:?}");
    assert!(acme.join("crash.csv").exists(), "not moved before the kill");
    assert!(
        acme.join(".claim-crash.csv").is_file(),
        "its claim marker, which nobody holds any more"
    );

    let store = Store::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let subs = store.submissions_view(Some("acme"), None).await.unwrap();
    assert_eq!(subs.len(), 1, "committed before the kill");
    let people = store.candidates_view(None, None, None).await.unwrap().len();

    let again = run(false);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(!acme.join("crash.csv").exists());
    assert!(
        !acme.join(".claim-crash.csv").exists(),
        "taken over, then released"
    );
    let processed: Vec<String> = std::fs::read_dir(acme.join("processed"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        processed.iter().any(|n| n.ends_with("-crash.csv")),
        "{processed:?}"
    );
    assert!(acme.join("results/crash-results.xlsx").is_file());
    assert_eq!(
        store
            .submissions_view(Some("acme"), None)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.candidates_view(None, None, None).await.unwrap().len(),
        people
    );
    let receipts = store
        .outbox_rows()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "receipt")
        .count();
    assert_eq!(receipts, 1, "one receipt");
    store.close().await;
}

/// An xlsx whose header and cells hold control characters: rust_xlsxwriter writes a NUL as
/// `_x0000_`, which a reader turns back into a NUL.
fn xlsx_with_nuls() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let rows = [
        [
            "First Name\u{0}",
            "Last Name",
            "Email",
            "Mobile",
            "Campaign",
            "Notes",
        ],
        [
            "Nu\u{0}la",
            "Ce\u{1}ro",
            "nula.cero@gmail.com",
            "0917 300 0001",
            "40123",
            "a\u{0}b",
        ],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            sheet.write_string(r as u32, c as u16, *v).unwrap();
        }
    }
    book.save_to_buffer().unwrap()
}

on_both_backends!(poison_values_and_long_names_never_stop_the_drop_folder);
/// SPEC §4.2 and §5 (r2): a file whose cells hold a NUL (once refused by Postgres, and taken for
/// "database down", so that one agency's file blocked everyone's) and a file with a 240-byte name
/// (once never moved, its results written again at every pass) are each handled once, in the same
/// pass as a plain file after them.
async fn poison_values_and_long_names_never_stop_the_drop_folder(store: Store) {
    let (_tmp, root, src) = laid_out(&store, 50).await;
    let acme = root.join("acme");
    std::fs::write(acme.join("a poison.xlsx"), xlsx_with_nuls()).unwrap();
    let long = format!("{}.csv", "b".repeat(236));
    std::fs::write(acme.join(&long), csv(11, Some("40123"))).unwrap();
    std::fs::write(acme.join("c good.csv"), csv(12, Some("40123"))).unwrap();

    let receipts = drain(&src).await;
    assert_eq!(receipts.len(), 3, "{receipts:#?}");
    for r in &receipts {
        let DropOutcome::Processed(p) = &r.outcome else {
            panic!("{r:#?}")
        };
        assert!(p.counts_line().starts_with("new 1,"), "{r:#?}");
        assert!(r.moved_to.starts_with("processed/"), "{r:#?}");
        assert!(r.file_name.len() <= 160, "{}", r.file_name);
    }
    let poison = receipts
        .iter()
        .find(|r| r.file_name == "a poison.xlsx")
        .unwrap();
    let DropOutcome::Processed(p) = &poison.outcome else {
        unreachable!()
    };
    assert_eq!(p.headers[0], "First Name");
    assert_eq!(p.rows[0].candidate.first_name().display, "Nula");
    assert_eq!(p.rows[0].candidate.last_name().display, "Cero");
    let long_one = receipts
        .iter()
        .find(|r| r.file_name.starts_with("bbb"))
        .unwrap();
    assert!(long_one.file_name.ends_with(".csv"));
    // Everything moved: nothing left to take, and a second pass writes nothing more.
    assert!(names(&acme)
        .iter()
        .all(|n| !n.ends_with(".csv") && !n.ends_with(".xlsx")));
    assert_eq!(names(&acme.join("results")).len(), 3);
    assert!(drain(&src).await.is_empty());
    assert_eq!(names(&acme.join("results")).len(), 3);
}

on_both_backends!(a_linked_layout_folder_is_told_once_and_the_rest_flows);
/// SPEC §4.2 (r2): a linked campaign folder and a linked `results/` are told to the owners once
/// (one alert each, however many passes) and stop none of the agency's other uploads (they used to
/// stop all of them). Each link, an entry of the agency's folder, is refused like any link (moved
/// to failed/, never followed) and the folder is made again; nothing is written through a link.
async fn a_linked_layout_folder_is_told_once_and_the_rest_flows(store: Store) {
    let (tmp, root, src) = laid_out(&store, 50).await;
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let acme = root.join("acme");
    for folder in ["40124", "results"] {
        std::fs::remove_dir(acme.join(folder)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, acme.join(folder)).unwrap();
    }
    std::fs::write(acme.join("week 48.csv"), csv(21, Some("40123"))).unwrap();
    std::fs::write(acme.join("check/try.csv"), csv(22, Some("40123"))).unwrap();

    let receipts = drain(&src).await;
    let processed: Vec<&DropReceipt> = receipts
        .iter()
        .filter(|r| matches!(r.outcome, DropOutcome::Processed(_)))
        .collect();
    assert_eq!(processed.len(), 2, "{receipts:#?}");
    for r in &processed {
        assert!(r.moved_to.starts_with("processed/"), "{r:#?}");
    }
    assert!(
        names(&elsewhere).is_empty(),
        "nothing written through a link"
    );
    for folder in ["40124", "results"] {
        assert!(
            receipts
                .iter()
                .any(|r| r.file_name == folder && r.moved_to.starts_with("failed/")),
            "{receipts:#?}"
        );
    }
    drain(&src).await;
    for folder in ["40124", "results"] {
        assert!(acme.join(folder).symlink_metadata().unwrap().is_dir());
    }
    let alerts: Vec<String> = store
        .outbox_rows()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|r| r.dedupe_key)
        .filter(|k| k.starts_with("alert:drop-folder:"))
        .collect();
    assert_eq!(
        alerts,
        [
            "alert:drop-folder:acme/40124",
            "alert:drop-folder:acme/results"
        ]
    );
    // A second source (another daemon, or a restart) tells no owner again.
    let again = source(&root, &store, 50);
    drain(&again).await;
    let n = store
        .outbox_rows()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.dedupe_key
                .as_deref()
                .is_some_and(|k| k.starts_with("alert:drop-folder:"))
        })
        .count();
    assert_eq!(n, 2);
}
