//! `agency-portal demo` (SPEC §10, issue 8): zero setup, every outcome code, receipts where it says,
//! the same output when run again, and never a folder it did not make.

use std::path::Path;
use std::process::{Command, Output};

const OUTCOMES: [&str; 7] = [
    "new",
    "previously_submitted",
    "duplicate",
    "blocked",
    "review",
    "repeated",
    "invalid",
];

/// Runs the binary's `demo --dir DIR` from `cwd` (not the repository: the demo must need none of
/// its files), with variables that would point a normal command elsewhere.
fn demo(cwd: &Path, dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agency-portal"))
        .args(["demo", "--dir"])
        .arg(dir)
        .current_dir(cwd)
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/not-the-demo")
        .env("AGENCY_PORTAL__MAIL__TRANSPORT", "smtp")
        .env_remove("AGENCY_PORTAL_CONFIG")
        .env_remove("AGENCY_PORTAL_NOW")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "demo failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn demo_shows_every_outcome_and_is_repeatable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("var/demo");
    let first = stdout(&demo(tmp.path(), &dir));

    // The counts line, in the receipts' format: every outcome at least once.
    let all = first
        .lines()
        .find_map(|l| l.strip_prefix("all outcomes: "))
        .unwrap_or_else(|| panic!("no `all outcomes:` line in\n{first}"));
    let counts: Vec<(&str, u64)> = all
        .split(", ")
        .map(|kv| {
            let (k, v) = kv.rsplit_once(' ').unwrap();
            (k, v.parse().unwrap())
        })
        .collect();
    assert_eq!(
        counts.iter().map(|c| c.0).collect::<Vec<_>>(),
        OUTCOMES,
        "{all}"
    );
    for (code, n) in &counts {
        assert!(*n >= 1, "no `{code}` row in the demo: {all}");
    }

    // The table: a column per outcome code, and a total row agreeing with the line.
    let header = first
        .lines()
        .find(|l| l.trim_start().starts_with("#  channel"))
        .unwrap_or_else(|| panic!("no submissions table in\n{first}"));
    let columns: Vec<&str> = header.split_whitespace().collect();
    let total = first
        .lines()
        .find(|l| l.trim_start().starts_with("total "))
        .unwrap_or_else(|| panic!("no total row in\n{first}"));
    let totals: Vec<&str> = total.split_whitespace().collect();
    // "total", rows, then one count per outcome column.
    assert_eq!(&columns[columns.len() - 7..], OUTCOMES);
    assert_eq!(totals.len(), 2 + 7, "{total}");
    for (i, (_, n)) in counts.iter().enumerate() {
        assert_eq!(totals[2 + i], n.to_string(), "{total}");
    }
    // The Mexican agency's receipt is in Spanish (SPEC §7 (r2)), and the demo says where it is.
    let spanish = first
        .lines()
        .find(|l| l.contains("receipt mail to") && l.contains("in Spanish, the agency's language"))
        .unwrap_or_else(|| panic!("no Spanish receipt named in\n{first}"));
    let eml = std::fs::read(spanish.split_whitespace().next().unwrap()).unwrap();
    let text = mail_parser::MessageParser::default()
        .parse(&eml)
        .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
        .unwrap();
    assert!(text.contains("Filas que requieren su atención"), "{text}");
    assert!(
        first.contains("The beginning of the receipt in Spanish"),
        "{first}"
    );
    // Both channels took part.
    assert!(first.contains("  email  "), "{first}");
    assert!(first.contains("  drop  "), "{first}");

    // Every path it names as a receipt, results file or digest exists.
    let mut receipts = 0;
    let mut results = 0;
    for line in first.lines() {
        let path = line.split_whitespace().next().unwrap_or("");
        if line.contains("receipt mail to") {
            receipts += 1;
            assert!(Path::new(path).is_file(), "{line}");
            let eml = std::fs::read_to_string(path).unwrap();
            assert!(eml.contains("X-Agency-Portal-Submission: "), "{path}");
        }
        if path.starts_with(dir.to_str().unwrap())
            && (path.ends_with(".xlsx") || path.ends_with(".eml"))
        {
            assert!(Path::new(path).is_file(), "{line}");
            results += usize::from(path.ends_with(".xlsx"));
        }
    }
    assert!(receipts >= 4, "receipts named: {receipts}\n{first}");
    assert!(results >= 2, "results workbooks named: {results}\n{first}");
    // The unknown sender's message is rejected, without a reply.
    let rejected = std::fs::read_dir(dir.join("mailbox/.Rejected/cur"))
        .unwrap()
        .count();
    assert_eq!(rejected, 1);
    // It ran on its own SQLite file, not on DATABASE_URL; it wrote mail to files, not SMTP.
    assert!(dir.join("demo.db").is_file());
    assert!(std::fs::read_dir(dir.join("outbox")).unwrap().count() >= receipts);

    // Again: a fresh start, the same output.
    let second = stdout(&demo(tmp.path(), &dir));
    assert_eq!(first, second);
}

#[test]
fn demo_never_deletes_a_folder_it_did_not_make() {
    let tmp = tempfile::tempdir().unwrap();
    let precious = tmp.path().join("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("keep.txt"), "mine").unwrap();
    let out = demo(tmp.path(), &precious);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("was not made by `agency-portal demo`"));
    assert_eq!(
        std::fs::read_to_string(precious.join("keep.txt")).unwrap(),
        "mine"
    );
}
