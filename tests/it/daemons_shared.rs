//! Issue 9, acceptance 2: three `agency-portal run` daemons share one Postgres, one IMAP mailbox (in
//! the private Dovecot) and one drop folder, fed 300 emails and 300 files whose people overlap: every
//! submission is processed once, every receipt is sent once, no candidate is doubled (each person
//! is `new` exactly once, whichever daemon and channel saw them first).

use crate::support;

use std::collections::BTreeSet;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;
use support::mail::{fetch_all, mail_env, message, send_raw, smtp_lock};

const MESSAGES: usize = 300;
const FILES: usize = 300;

/// Person k: a distinct name, email and phone.
fn person(k: usize, tag: &str) -> String {
    const A: [&str; 20] = [
        "Amihan",
        "Bituin",
        "Dalisay",
        "Eduardo",
        "Florante",
        "Gloria",
        "Honorio",
        "Isagani",
        "Jocelyn",
        "Kalayaan",
        "Leonora",
        "Makisig",
        "Narciso",
        "Oscarina",
        "Perlita",
        "Quirino",
        "Rosalinda",
        "Sinagtala",
        "Teodoro",
        "Ulysses",
    ];
    const B: [&str; 32] = [
        "Abad",
        "Bautista",
        "Castillo",
        "Dimaculangan",
        "Escobar",
        "Fernandez",
        "Galang",
        "Hernandez",
        "Ilagan",
        "Jimenez",
        "Katigbak",
        "Lualhati",
        "Magsaysay",
        "Navarro",
        "Ocampo",
        "Pangilinan",
        "Quimpo",
        "Reyes",
        "Santos",
        "Tolentino",
        "Umali",
        "Villanueva",
        "Wenceslao",
        "Yap",
        "Zamora",
        "Aquino",
        "Buenaventura",
        "Cojuangco",
        "Dela Rosa",
        "Enriquez",
        "Fajardo",
        "Gatchalian",
    ];
    format!(
        "{},{},p{k}.{tag}@mail{}.example,09{:09}",
        A[k % 20],
        B[(k / 20) % 32],
        k % 7,
        100_000_000 + (k * 7_919_993) % 899_999_999
    )
}

fn csv(people: impl Iterator<Item = usize>, tag: &str) -> String {
    let mut s = String::from("First Name,Last Name,Email,Mobile\n");
    for k in people {
        s.push_str(&person(k, tag));
        s.push('\n');
    }
    s
}

/// The daemons, killed if the test fails before it stops them.
struct Daemons(Vec<Child>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for d in &mut self.0 {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_handle_300_emails_and_300_files_each_exactly_once() {
    let _lock = smtp_lock(false);
    let env = mail_env();
    let url = support::fresh_postgres_url().await;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let dir = tempfile::tempdir().unwrap();
    let intake = format!("intake-{tag}@portal.test");
    let ana = format!("ana@acme-{tag}.test");
    let marites = format!("marites@bayanihan-{tag}.test");
    std::fs::write(
        dir.path().join("agency-portal.toml"),
        format!(
            "[database]\nurl = \"{url}\"\n[directory]\npath = \"directory.toml\"\n\
             [intake.mailbox]\nkind = \"imap\"\nhost = \"{}\"\nport = {}\ntls = \"none\"\n\
             username = \"{intake}\"\npassword = \"{}\"\naddress = \"{intake}\"\n\
             [intake.drop]\npath = \"drop\"\nsettle_ms = 300\n\
             [mail]\nfrom = \"Agency Portal <{intake}>\"\ntransport = \"smtp\"\nhost = \"{}\"\n\
             port = {}\ntls = \"none\"\ntimeout_secs = 10\n",
            env.imap_host, env.imap_port, env.password, env.smtp_host, env.smtp_port
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("directory.toml"),
        format!(
            "[[owners]]\nemail = \"olivia@co-{tag}.test\"\nname = \"Olivia\"\n\n\
             [[agencies]]\nid = \"acme\"\nname = \"Acme\"\ncountry = \"PH\"\nadded_by = \"olivia@co-{tag}.test\"\n\
             \x20 [[agencies.users]]\n  email = \"{ana}\"\n  name = \"Ana\"\n  role = \"admin\"\n\n\
             [[agencies]]\nid = \"bayanihan\"\nname = \"Bayanihan\"\ncountry = \"PH\"\nadded_by = \"olivia@co-{tag}.test\"\n\
             \x20 [[agencies.users]]\n  email = \"{marites}\"\n  name = \"Marites\"\n  role = \"admin\"\n\n\
             [[campaigns]]\nid = \"40123\"\nname = \"CS Manila\"\ncountry = \"PH\"\ncreated_by = \"olivia@co-{tag}.test\"\n"
        ),
    )
    .unwrap();
    let cmd = || {
        let mut c = support::portal(&dir.path().join("agency-portal.toml"));
        c.env("AGENCY_PORTAL_LOG", "warn");
        c
    };
    // The schema and the drop folders, once, before the daemons race.
    let out = cmd().args(["run", "--once"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut daemons = Daemons(
        (0..3)
            .map(|i| {
                let log = std::fs::File::create(dir.path().join(format!("daemon{i}.log"))).unwrap();
                cmd()
                    .arg("run")
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .unwrap()
            })
            .collect(),
    );

    // Emails: message m carries persons 2m and 2m+1; files: file f carries 2f+1 and 2f+2, so each
    // file shares a person with an email, and the two channels race for them.
    let drop = dir.path().join("drop/bayanihan/40123");
    let feeder_files = {
        let drop = drop.clone();
        let tag = tag.clone();
        std::thread::spawn(move || {
            for f in 0..FILES {
                let tmp = drop.join(format!(".f{f}.csv.part"));
                std::fs::write(&tmp, csv([2 * f + 1, 2 * f + 2].into_iter(), &tag)).unwrap();
                std::fs::rename(&tmp, drop.join(format!("f{f}.csv"))).unwrap();
            }
        })
    };
    for m in 0..MESSAGES {
        let raw = message(
            &format!("Ana <{ana}>"),
            &format!("batch {m} [campaign 40123]"),
            &[],
            "",
            &[(
                "m.csv",
                csv([2 * m, 2 * m + 1].into_iter(), &tag).as_bytes(),
            )],
        );
        send_raw(&ana, &intake, &raw).await;
    }
    feeder_files.join().unwrap();

    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    let start = Instant::now();
    let mut n = 0i64;
    while start.elapsed() < Duration::from_secs(400) {
        n = sqlx::query_scalar("SELECT COUNT(*) FROM submissions")
            .fetch_one(&mut db)
            .await
            .unwrap();
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'receipt' AND status <> 'sent'",
        )
        .fetch_one(&mut db)
        .await
        .unwrap();
        if n as usize >= MESSAGES + FILES && pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let logs = || {
        (0..3)
            .map(|i| {
                std::fs::read_to_string(dir.path().join(format!("daemon{i}.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    assert_eq!(
        n as usize,
        MESSAGES + FILES,
        "submissions after {:?}\n{}",
        start.elapsed(),
        logs()
    );
    eprintln!(
        "600 submissions and their receipts in {:?}",
        start.elapsed()
    );

    // Every submission once: by channel, one per message part and one per file.
    let by_channel: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT channel, COUNT(*), COUNT(DISTINCT COALESCE(source_ref, file_name)) FROM submissions
         WHERE status = 'processed' GROUP BY channel ORDER BY channel",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(
        by_channel,
        [
            ("drop".to_string(), FILES as i64, FILES as i64),
            ("email".to_string(), MESSAGES as i64, MESSAGES as i64)
        ]
    );
    // No candidate doubled: each candidate has exactly one `new` row, and nobody else has one.
    let news: Vec<(Option<i64>, i64)> = sqlx::query_as(
        "SELECT candidate_id, COUNT(*) FROM submission_rows WHERE outcome = 'new'
         GROUP BY candidate_id HAVING COUNT(*) > 1 OR candidate_id IS NULL",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert!(news.is_empty(), "{news:?}");
    let candidates: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM candidates")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let new_rows: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM submission_rows WHERE outcome = 'new'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(candidates, new_rows);
    let outcomes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT outcome, COUNT(*) FROM submission_rows GROUP BY outcome ORDER BY outcome",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    eprintln!("outcomes: {outcomes:?}; candidates {candidates}");
    let people = 2 * MESSAGES + 1;
    assert!(candidates as usize <= people);

    // Every receipt once: in the outbox, and in the mailboxes, one per submission.
    let receipts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'receipt'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(receipts as usize, MESSAGES + FILES);
    let start = Instant::now();
    for (user, want) in [(&ana, MESSAGES), (&marites, FILES)] {
        let ids: BTreeSet<String> = loop {
            let got: Vec<String> = fetch_all(user)
                .await
                .iter()
                .filter_map(|m| {
                    mail_parser::MessageParser::default()
                        .parse(m)?
                        .header_raw("X-Agency-Portal-Submission")
                        .map(|s| s.trim().to_string())
                })
                .collect();
            let set: BTreeSet<String> = got.iter().cloned().collect();
            if got.len() >= want || start.elapsed() > Duration::from_secs(120) {
                assert_eq!(
                    got.len(),
                    set.len(),
                    "a receipt arrived twice in {user}'s mailbox"
                );
                break set;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert_eq!(ids.len(), want, "{user}");
    }
    for d in &mut daemons.0 {
        unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
    }
    for d in &mut daemons.0 {
        assert!(d.wait().unwrap().success(), "{}", logs());
    }
    // SPEC §4.2 (r2): each file claimed by one daemon, so one results workbook each (never a
    // `-results-2.xlsx` from a second daemon's pass), and nothing left in the upload folder.
    let listing = |sub: &str| -> BTreeSet<String> {
        std::fs::read_dir(dir.path().join("drop/bayanihan").join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let results = listing("results");
    let workbooks: BTreeSet<String> = results
        .iter()
        .filter(|n| n.ends_with("-results.xlsx"))
        .cloned()
        .collect();
    let want: BTreeSet<String> = (0..FILES).map(|f| format!("f{f}-results.xlsx")).collect();
    assert_eq!(workbooks, want);
    let others: Vec<&String> = results
        .iter()
        .filter(|n| !(n.ends_with("-results.xlsx") || n.ends_with("-to-fix.xlsx")))
        .collect();
    assert!(others.is_empty(), "a second pass wrote {others:?}");
    assert_eq!(listing("processed").len(), FILES);
    assert!(listing("40123").is_empty(), "{:?}", listing("40123"));
    // The intake mailbox: every message in Processed, none left.
    assert_eq!(
        support::mail::fetch_folder(&intake, "Processed")
            .await
            .len(),
        MESSAGES
    );
    assert!(support::mail::fetch_folder(&intake, "INBOX")
        .await
        .is_empty());
}
