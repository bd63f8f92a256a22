//! `agency-portal ingest` and the sheet engine end to end (SPEC §4.3, §5): the same people from every
//! writer normalise identically, and the command's JSON and result files are as specified.

use crate::support::Portal;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use agency_portal::directory;
use agency_portal::intake::pipeline::{read_and_prepare, Input};
use agency_portal::sheet::Limits;
use agency_portal::submission::Channel;
use calamine::{Data, Reader, Xlsx};
use chrono::Utc;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_same_people_from_every_writer_normalise_identically() {
    let dir = directory::load(&repo().join("config/directory.toml")).unwrap();
    let mut seen: Vec<(String, Vec<String>)> = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("people")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 9, "{files:?}");
    for file in &files {
        let input = Input {
            file_name: file.file_name().unwrap().to_string_lossy().into_owned(),
            bytes: std::fs::read(file).unwrap(),
            agency_id: "acme".into(),
            user_email: None,
            default_campaign: None,
            company_country: None,
            channel: Channel::Cli,
            sender: String::new(),
            check_only: true,
            source_ref: None,
            received_at: Utc::now(),
            receipt: None,
        };
        let (_, rows) = read_and_prepare(&dir, &input, &Limits::default(), None)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(rows.len(), 50, "{}", file.display());
        // Everything normalised, and the custom values (their headers differ by language).
        let normalised: Vec<String> = rows
            .iter()
            .map(|r| {
                let c = &r.candidate.unpack();
                let custom = r.custom();
                let custom: Vec<&str> = custom.iter().map(|(_, v)| v.as_str()).collect();
                format!(
                    "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
                    c.first_name,
                    c.last_name,
                    c.email,
                    c.email_key,
                    c.phone,
                    c.phone_key,
                    c.campaign_id,
                    custom,
                    r.invalid
                )
            })
            .collect();
        seen.push((file.display().to_string(), normalised));
    }
    let (first_name, first) = &seen[0];
    let valid = first.iter().filter(|r| r.ends_with("|None")).count();
    assert_eq!(valid, 50, "every sample row is valid for a PH agency");
    for (name, rows) in &seen[1..] {
        for (i, (a, b)) in first.iter().zip(rows).enumerate() {
            assert_eq!(a, b, "row {i}: {first_name} vs {name}");
        }
    }
}

/// Rows a sample means to be `invalid` (file, row as the sheet shows it). None does: the samples are
/// one Philippine intake for the shipped directory's open PH campaigns (scripts/make-samples).
const MEANT_INVALID: &[(&str, u64)] = &[];

/// SPEC §10 (r2): every shipped sample fits the shipped directory. Ingested by a PH agency on a
/// fresh store, each gives 50 `new` rows (no `invalid` row but those named in MEANT_INVALID), and
/// every phone is a Philippine mobile number.
#[test]
fn every_sample_fits_the_shipped_directory() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 10, "{files:?}");
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let p = Portal::sqlite();
        let copy = p.path(&name);
        std::fs::copy(file, &copy).unwrap();
        let j = json_of(
            p.command()
                .args(["ingest", "--agency", "bayanihan", "--json"])
                .arg(&copy),
        );
        assert_eq!(j["rows"], 50, "{name}");
        for r in j["results"].as_array().unwrap() {
            let row = r["row"].as_u64().unwrap();
            if r["outcome"] == "invalid" && MEANT_INVALID.contains(&(name.as_str(), row)) {
                continue;
            }
            assert_eq!(r["outcome"], "new", "{name} row {row}: {}", r["reason"]);
        }
        let phones = json_of(
            p.command()
                .args(["candidates", "--agency", "bayanihan", "--json"]),
        );
        let phones = phones.as_array().unwrap();
        assert_eq!(phones.len(), 50, "{name}");
        for c in phones {
            let phone = c["phone"].as_str().unwrap();
            assert!(
                phone.starts_with("+639") && phone.len() == 13,
                "{name}: {phone} is not a Philippine mobile number"
            );
        }
    }
}

/// Runs `cmd`, which must succeed, and returns what it printed as JSON.
fn json_of(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn ingest_prints_the_spec_json_and_writes_the_results_beside_the_file() {
    let p = Portal::sqlite();
    let file = p.path("week 48.csv");
    std::fs::write(
        &file,
        "First Name,Last Name,Email,Mobile,Campaign,Notes\n\
         Ana,Cruz,ana.cruz@gmail.com,0917 123 4567,40123,=HYPERLINK(\"http://x\")\n\
         Ana,Cruz,ana.cruz@gmail.com,0917 123 4567,40123,\n\
         Ben,,ben@gmail.com,,40123,\n",
    )
    .unwrap();

    // A dry run decides but writes nothing.
    let out = p
        .command()
        .args(["ingest", "--agency", "acme", "--dry-run", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["submission_id"], serde_json::Value::Null);
    assert!(!p.path("week 48-results.xlsx").exists());

    let out = p
        .command()
        .args(["ingest", "--agency", "acme", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&String> = j.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "agency",
            "counts",
            "file",
            "results",
            "rows",
            "submission_id"
        ]
    );
    assert_eq!(j["agency"], "acme");
    assert_eq!(j["file"], "week 48.csv");
    assert_eq!(j["rows"], 3);
    let counts = j["counts"].as_object().unwrap();
    assert_eq!(counts.len(), 7);
    assert_eq!(counts["new"], 1);
    assert_eq!(counts["repeated"], 1);
    assert_eq!(counts["invalid"], 1);
    let results = j["results"].as_array().unwrap();
    assert_eq!(results[0]["row"], 2);
    assert_eq!(results[1]["same_as_row"], 2);
    assert_eq!(results[1]["candidate_id"], results[0]["candidate_id"]);
    assert_eq!(results[2]["outcome"], "invalid");
    assert_eq!(results[2]["candidate_id"], serde_json::Value::Null);
    for r in results {
        let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["candidate_id", "outcome", "reason", "row", "same_as_row"]
        );
    }

    // The results workbook: original columns, then Outcome, Reason, Candidate ID, Source row;
    // formulas as text.
    let mut wb: Xlsx<_> = calamine::open_workbook(p.path("week 48-results.xlsx")).unwrap();
    let range = wb.worksheet_range_at(0).unwrap().unwrap();
    let header: Vec<String> = range
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        header,
        [
            "First Name",
            "Last Name",
            "Email",
            "Mobile",
            "Campaign",
            "Notes",
            "Outcome",
            "Reason",
            "Candidate ID",
            "Source row"
        ]
    );
    // The row numbers the reasons use (the file's own), as numbers to sort by.
    let source_rows: Vec<&Data> = range.rows().skip(1).map(|r| &r[9]).collect();
    assert_eq!(
        source_rows,
        [&Data::Float(2.0), &Data::Float(3.0), &Data::Float(4.0)]
    );
    let row2: Vec<&Data> = range.rows().nth(1).unwrap().iter().collect();
    assert_eq!(row2[5], &Data::String("=HYPERLINK(\"http://x\")".into()));
    assert_eq!(row2[6], &Data::String("new".into()));
    assert!(p.path("week 48-to-fix.xlsx").exists());

    // The same file again: recognised, nothing changes.
    let out = p
        .command()
        .args(["ingest", "--agency", "acme"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("already processed"));
}

#[test]
fn an_unreadable_file_is_exit_2_with_its_reason() {
    let p = Portal::sqlite();
    let file = p.path("x.xlsx");
    std::fs::write(&file, b"PK\x03\x04 this is not really a zip").unwrap();
    let out = p
        .command()
        .args(["ingest", "--agency", "acme"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("x.xlsx"), "{err}");
}

#[test]
fn the_clock_can_be_set_so_ownership_expiry_shows_from_the_command_line() {
    let p = Portal::sqlite();
    let run = |agency: &str, name: &str, now: &str| -> serde_json::Value {
        let file = p.path(name);
        std::fs::write(
            &file,
            // A blank line per call letter keeps the files' bytes apart (a re-sent file changes nothing).
            format!(
                "First Name,Last Name,Email,Mobile,Campaign\nAna,Cruz,ana.cruz@gmail.com,0917 123 4567,40123\n{}",
                "\n".repeat(name.len() + usize::from(name.as_bytes()[0]))
            ),
        )
        .unwrap();
        let out = p
            .command()
            .env("AGENCY_PORTAL_NOW", now)
            .args(["ingest", "--agency", agency, "--json"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let a = run("acme", "a.csv", "2026-11-02T08:00:00+08:00");
    assert_eq!(a["results"][0]["outcome"], "new");
    let b = run("bayanihan", "b.csv", "2027-04-30T08:00:00+08:00");
    assert_eq!(b["results"][0]["outcome"], "duplicate", "day 179");
    let c = run("bayanihan", "c.csv", "2027-05-02T08:00:00+08:00");
    assert_eq!(
        c["results"][0]["outcome"], "new",
        "day 181: acme's ownership expired"
    );
    assert_eq!(
        c["results"][0]["candidate_id"],
        a["results"][0]["candidate_id"]
    );
}

/// Ingests `file` for acme into `p`'s database and returns the command's JSON.
fn ingest_json(p: &Portal, file: &Path) -> serde_json::Value {
    json_of(
        p.command()
            .args(["ingest", "--agency", "acme", "--json"])
            .arg(file),
    )
}

/// The candidates view as JSON: id → email.
fn candidate_emails(p: &Portal) -> HashMap<i64, String> {
    let all = json_of(p.command().args(["candidates", "--json"]));
    all.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_i64().unwrap(),
                c["email"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The rows of a file are decided a run of 8,192 at a time and the candidates of each run written
/// while the next is decided: over runs, each `new` row still names the candidate made of it, and a
/// row repeating one of an earlier run names that row and its candidate. On both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_several_decided_runs_names_each_rows_candidate() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("big.csv");
    // 9,000 people whose contacts are multiples of 1111 (never within one edit of each other: no
    // possible same person), then 3,000 rows repeating every third of them.
    let person = |n: usize| {
        let digits = format!("{:07}", (n + 1) * 1111);
        format!(
            "Given{n},Family{},p{digits}@example.com,0917{digits},40123\n",
            n % 97
        )
    };
    let mut csv = String::from("First Name,Last Name,Email,Mobile,Campaign\n");
    for n in 0..9_000 {
        csv.push_str(&person(n));
    }
    for k in 0..3_000 {
        csv.push_str(&person(3 * k));
    }
    std::fs::write(&file, csv).unwrap();
    for p in [Portal::postgres().await, Portal::sqlite()] {
        let url = &p.database_url;
        let j = ingest_json(&p, &file);
        assert_eq!(j["counts"]["new"], 9_000, "{url}");
        assert_eq!(j["counts"]["repeated"], 3_000, "{url}");
        let emails = candidate_emails(&p);
        assert_eq!(emails.len(), 9_000, "{url}");
        let results = j["results"].as_array().unwrap();
        assert_eq!(results.len(), 12_000);
        for (i, r) in results.iter().enumerate() {
            let n = if i < 9_000 { i } else { 3 * (i - 9_000) };
            let digits = format!("{:07}", (n + 1) * 1111);
            let id = r["candidate_id"].as_i64().unwrap();
            assert_eq!(
                emails[&id],
                format!("p{digits}@example.com"),
                "row {i}, {url}"
            );
            if i >= 9_000 {
                assert_eq!(r["outcome"], "repeated");
                // Rows are numbered as the spreadsheet shows them: the header is row 1.
                assert_eq!(r["same_as_row"], n + 2);
            }
        }
    }
}
