//! Mail through a real SMTP server (SPEC §7; issue 5 acceptance): the outbox worker sends through
//! the private OpenSMTPD of `scripts/test`, which delivers into Dovecot; the tests read the
//! mailboxes over IMAP. Recipients are unique per test (a random tag in the domain), so tests
//! running at once do not see each other's mail; the test that stops OpenSMTPD holds an exclusive
//! lock, the others a shared one.

use crate::support;

use std::io::{BufRead, BufReader, Cursor};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use agency_portal::directory::{self, Directory};
use agency_portal::mail::receipt::{counts, counts_line, AttentionRow, ReceiptInput, ReplyTo};
use agency_portal::mail::sender::{RetryPolicy, Sender};
use agency_portal::mail::{Composer, Outgoing};
use agency_portal::settings;
use agency_portal::store::{outbox, Store};
use calamine::Reader;
use chrono::Utc;
use mail_parser::{MessageParser, MimeHeaders};
use sqlx::Connection;
use support::mail::{mail_env, smtp_lock, smtpd, wait_for_mail};

const CRASH_CHILD_ENV: &str = "OUTBOX_CRASH_CHILD";

fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

fn composer() -> Arc<Composer> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/templates");
    Arc::new(
        Composer::new(
            "Agency Portal <portal@example.test>",
            "portal@example.test",
            &dir,
        )
        .unwrap(),
    )
}

/// One owner, one agency with one admin, one campaign; every address unique to `tag`.
fn mini_directory(tag: &str) -> Directory {
    let text = format!(
        r#"
[[owners]]
email = "olivia@co-{tag}.test"
name = "Olivia Owner"

[[agencies]]
id = "acme"
name = "Acme Staffing"
country = "PH"
active = true
added_by = "olivia@co-{tag}.test"
domains = ["acme-{tag}.test"]

  [[agencies.users]]
  email = "ana@acme-{tag}.test"
  name = "Ana Admin"
  role = "admin"

[[campaigns]]
id = "40123"
name = "Customer Service Manila"
country = "PH"
active = true
created_by = "olivia@co-{tag}.test"
"#
    );
    directory::parse(&text, Path::new("/nonexistent/directory.toml")).unwrap()
}

/// A worker on the private OpenSMTPD, configured the way an operator would: `[mail]` settings.
fn smtp_sender(store: &Store, composer: &Arc<Composer>) -> Sender {
    let env = mail_env();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agency-portal.toml");
    std::fs::write(
        &path,
        format!(
            "[mail]\nfrom = \"Agency Portal <portal@example.test>\"\ntransport = \"smtp\"\n\
             host = \"{}\"\nport = {}\ntls = \"none\"\ntimeout_secs = 10\n",
            env.smtp_host, env.smtp_port
        ),
    )
    .unwrap();
    let settings = settings::load(&path).unwrap();
    Sender::from_settings(&settings, store.clone(), composer.clone())
        .unwrap()
        .with_retry(RetryPolicy {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(50),
            give_up_after: Duration::from_secs(3600),
            poll: Duration::from_millis(100),
        })
}

/// A results-like workbook: header, then (row, outcome, reason).
fn workbook(rows: &[(u64, &str, &str)]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["row", "outcome", "reason"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (i, (row, outcome, reason)) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write_number(r, 0, *row as f64).unwrap();
        sheet.write_string(r, 1, *outcome).unwrap();
        sheet.write_string(r, 2, *reason).unwrap();
    }
    book.save_to_buffer().unwrap()
}

/// (outcome column) of each data row of an attached workbook.
fn outcomes(xlsx: &[u8]) -> Vec<String> {
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(xlsx.to_vec())).unwrap();
    let range = wb.worksheet_range_at(0).unwrap().unwrap();
    range.rows().skip(1).map(|r| r[1].to_string()).collect()
}

const RESULTS: &[(u64, &str, &str)] = &[
    (2, "new", ""),
    (3, "new", ""),
    (4, "duplicate", "already submitted by another agency"),
    (5, "invalid", "email: not an address"),
    (6, "invalid", "phone: missing"),
];

fn receipt(submission_id: i64, to: &str, reply: Option<ReplyTo>) -> ReceiptInput {
    ReceiptInput {
        lang: agency_portal::i18n::Lang::En,
        campaign: None,
        submission_id,
        agency_name: "Acme Staffing".into(),
        file_name: "march candidates.xlsx".into(),
        counts: counts([2, 0, 1, 0, 0, 0, 2]),
        attention: RESULTS
            .iter()
            .filter(|r| r.1 != "new")
            .map(|(row, outcome, reason)| AttentionRow {
                row: *row,
                outcome: outcome.to_string(),
                reason: reason.to_string(),
            })
            .collect(),
        results_xlsx: workbook(RESULTS),
        to_fix_xlsx: Some(workbook(&RESULTS[3..])),
        recipients: vec![(to.into(), "Ana Admin".into())],
        reply_to: reply,
    }
}

async fn enqueue_in_transaction(url: &str, msgs: &[Outgoing]) {
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let mut tx = conn.begin().await.unwrap();
        for m in msgs {
            outbox::enqueue(&mut *tx, m, Utc::now())
                .await
                .unwrap()
                .unwrap();
        }
        tx.commit().await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let mut tx = conn.begin().await.unwrap();
        for m in msgs {
            outbox::enqueue(&mut *tx, m, Utc::now())
                .await
                .unwrap()
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
}

fn message_ids(mails: &[Vec<u8>]) -> Vec<String> {
    let mut ids: Vec<String> = mails
        .iter()
        .map(|m| {
            format!(
                "<{}>",
                MessageParser::default()
                    .parse(m)
                    .unwrap()
                    .message_id()
                    .unwrap()
            )
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn receipt_arrives_by_smtp_threaded_with_both_workbooks() {
    let _lock = smtp_lock(false);
    let tag = tag();
    let url = support::fresh_postgres_url().await;
    let store = Store::open(&url).await.unwrap();
    let composer = composer();
    store
        .sync_directory(
            &mini_directory(&tag),
            "directory.toml",
            "h",
            Utc::now(),
            &composer,
        )
        .await
        .unwrap();
    let ana = format!("ana@acme-{tag}.test");
    let original = format!("<march-{tag}@acme-{tag}.test>");
    let msg = composer
        .receipt(&receipt(
            7,
            &ana,
            Some(ReplyTo {
                message_id: original.clone(),
                subject: "Candidates March".into(),
            }),
        ))
        .unwrap();
    enqueue_in_transaction(&url, std::slice::from_ref(&msg)).await;

    let report = smtp_sender(&store, &composer).flush().await.unwrap();
    assert_eq!(
        (report.sent, report.retrying, report.failed),
        (2, 0, 0),
        "invitation and receipt"
    );

    let mails = wait_for_mail(&ana, 2, Duration::from_secs(30)).await;
    assert_eq!(mails.len(), 2, "exactly the invitation and the receipt");
    let parsed: Vec<_> = mails
        .iter()
        .map(|m| MessageParser::default().parse(m).unwrap())
        .collect();
    let r = parsed
        .iter()
        .find(|m| m.header_raw("X-Agency-Portal-Submission").map(str::trim) == Some("7"))
        .expect("the receipt");
    assert_eq!(format!("<{}>", r.message_id().unwrap()), msg.message_id);
    assert_eq!(r.subject(), Some("Re: Candidates March"));
    let bare = original.trim_matches(['<', '>']);
    assert_eq!(r.in_reply_to().as_text(), Some(bare));
    assert_eq!(r.references().as_text(), Some(bare));
    assert_eq!(
        r.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-replied")
    );
    let text = r.body_text(0).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        "new 2, previously_submitted 0, duplicate 1, blocked 0, review 0, repeated 0, invalid 2"
    );
    assert_eq!(
        text.lines().next().unwrap(),
        counts_line(&counts([2, 0, 1, 0, 0, 0, 2]))
    );
    for needle in [
        "row 4: duplicate",
        "row 5: invalid - email: not an address",
        "row 6: invalid - phone: missing",
    ] {
        assert!(text.contains(needle), "{needle} in\n{text}");
    }
    assert!(r.body_html(0).unwrap().contains("email: not an address"));
    let attachments: Vec<(String, Vec<u8>)> = r
        .attachments()
        .map(|a| {
            (
                a.attachment_name().unwrap().to_string(),
                a.contents().to_vec(),
            )
        })
        .collect();
    let names: Vec<&str> = attachments.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "march candidates-results.xlsx",
            "march candidates-to-fix.xlsx"
        ]
    );
    assert_eq!(
        outcomes(&attachments[0].1),
        ["new", "new", "duplicate", "invalid", "invalid"]
    );
    assert_eq!(outcomes(&attachments[1].1), ["invalid", "invalid"]);

    let invitation = parsed
        .iter()
        .find(|m| m.header_raw("X-Agency-Portal-Submission").is_none())
        .unwrap();
    assert!(invitation.subject().unwrap().contains("Acme Staffing"));
    assert!(invitation.body_text(0).unwrap().contains("40123"));
    assert_eq!(
        invitation
            .attachments()
            .filter_map(|a| a.attachment_name())
            .collect::<Vec<_>>(),
        ["agency-portal-template.xlsx"]
    );
}

/// Starts OpenSMTPD again when dropped, so a failing test does not leave it stopped.
struct SmtpdBack;
impl Drop for SmtpdBack {
    fn drop(&mut self) {
        smtpd("start");
    }
}

#[tokio::test]
async fn smtp_down_messages_wait_then_arrive_exactly_once() {
    let _lock = smtp_lock(true);
    let tag = tag();
    let dir = tempfile::tempdir().unwrap();
    let url = support::fresh_sqlite_url(dir.path());
    let store = Store::open(&url).await.unwrap();
    let composer = composer();
    let bob = format!("bob@acme-{tag}.test");
    let msgs: Vec<Outgoing> = (1..=3)
        .map(|i| composer.receipt(&receipt(i, &bob, None)).unwrap())
        .collect();
    enqueue_in_transaction(&url, &msgs).await;
    let sender = smtp_sender(&store, &composer);

    let t0 = std::time::Instant::now();
    smtpd("stop");
    println!("smtpd stopped in {:?}", t0.elapsed());
    let back = SmtpdBack;
    let report = sender.flush().await.unwrap();
    assert_eq!((report.sent, report.retrying, report.failed), (0, 3, 0));
    let rows = store.outbox_rows().await.unwrap();
    assert!(
        rows.iter()
            .all(|r| r.status == "pending" && r.attempts == 1 && !r.last_error.is_empty()),
        "{rows:?}"
    );
    println!("while down: {}", rows[0].last_error);
    drop(back); // OpenSMTPD starts again
    println!("smtpd started again at {:?}", t0.elapsed());

    tokio::time::sleep(Duration::from_millis(100)).await;
    let report = sender.flush().await.unwrap();
    assert_eq!((report.sent, report.retrying, report.failed), (3, 0, 0));
    assert_eq!(sender.flush().await.unwrap().sent, 0);
    println!("sent at {:?}", t0.elapsed());
    let mails = wait_for_mail(&bob, 3, Duration::from_secs(30)).await;
    println!("read back at {:?}", t0.elapsed());
    assert_eq!(mails.len(), 3, "each message exactly once");
    let mut expected: Vec<String> = msgs.iter().map(|m| m.message_id.clone()).collect();
    expected.sort();
    assert_eq!(message_ids(&mails), expected);
    assert!(store
        .outbox_rows()
        .await
        .unwrap()
        .iter()
        .all(|r| r.status == "sent" && r.attempts == 2));
}

#[tokio::test]
async fn rejected_recipient_fails_and_owners_get_one_alert() {
    let _lock = smtp_lock(false);
    let env = mail_env();
    let tag = tag();
    let dir = tempfile::tempdir().unwrap();
    let url = support::fresh_sqlite_url(dir.path());
    let store = Store::open(&url).await.unwrap();
    let composer = composer();
    store
        .sync_directory(
            &mini_directory(&tag),
            "directory.toml",
            "h",
            Utc::now(),
            &composer,
        )
        .await
        .unwrap();
    let sender = smtp_sender(&store, &composer);
    assert_eq!(sender.flush().await.unwrap().sent, 1, "the invitation");

    let nobody = format!("nobody-{tag}@{}", env.reject_domain);
    let msg = composer.receipt(&receipt(9, &nobody, None)).unwrap();
    enqueue_in_transaction(&url, std::slice::from_ref(&msg)).await;
    let report = sender.flush().await.unwrap();
    assert_eq!(
        (report.sent, report.retrying, report.failed),
        (1, 0, 1),
        "failed, then the alert sent"
    );
    let report = sender.flush().await.unwrap();
    assert_eq!((report.sent, report.retrying, report.failed), (0, 0, 0));

    let rows = store.outbox_rows().await.unwrap();
    let failed = rows
        .iter()
        .find(|r| r.message_id == msg.message_id)
        .unwrap();
    assert_eq!((failed.status.as_str(), failed.attempts), ("failed", 1));
    assert!(failed.last_error.contains("550"), "{}", failed.last_error);
    println!("permanent failure recorded: {}", failed.last_error);
    let alerts: Vec<_> = rows.iter().filter(|r| r.kind == "alert").collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].status, "sent");

    let owner = format!("olivia@co-{tag}.test");
    let mails = wait_for_mail(&owner, 1, Duration::from_secs(30)).await;
    assert_eq!(mails.len(), 1, "exactly one alert");
    let alert = MessageParser::default().parse(&mails[0]).unwrap();
    assert_eq!(
        alert.subject(),
        Some(format!("Mail not delivered: receipt to {nobody}").as_str())
    );
    let text = alert.body_text(0).unwrap();
    assert!(
        text.contains(&msg.message_id) && text.contains("550"),
        "{text}"
    );
}

/// In a normal run: the receipt and invitation of the crash test build. As the crash test's child
/// (`OUTBOX_CRASH_CHILD=<database url>\n<tag>`): syncs the directory (one invitation) and enqueues
/// three receipts in one transaction, says so, and waits to be killed.
#[tokio::test]
async fn crash_child() {
    let Ok(spec) = std::env::var(CRASH_CHILD_ENV) else {
        let tag = tag();
        let c = composer();
        let m = c
            .receipt(&receipt(1, &format!("ana@acme-{tag}.test"), None))
            .unwrap();
        assert_eq!(m.recipients, [format!("ana@acme-{tag}.test")]);
        assert_eq!(mini_directory(&tag).agencies[0].users.len(), 1);
        return;
    };
    let (url, tag) = spec.split_once('\n').unwrap();
    let store = Store::open(url).await.unwrap();
    let composer = composer();
    store
        .sync_directory(
            &mini_directory(tag),
            "directory.toml",
            "h",
            Utc::now(),
            &composer,
        )
        .await
        .unwrap();
    let ana = format!("ana@acme-{tag}.test");
    let msgs: Vec<Outgoing> = (1..=3)
        .map(|i| composer.receipt(&receipt(i, &ana, None)).unwrap())
        .collect();
    enqueue_in_transaction(url, &msgs).await;
    println!("ENQUEUED");
    use std::io::Write as _;
    std::io::stdout().flush().unwrap();
    tokio::time::sleep(Duration::from_secs(120)).await;
    panic!("the crash test did not kill this child");
}

#[tokio::test]
async fn killed_after_enqueue_every_message_is_sent_once() {
    let _lock = smtp_lock(false);
    let tag = tag();
    let url = support::fresh_postgres_url().await;
    let mut child = support::this_test_binary(module_path!(), "crash_child")
        .env(CRASH_CHILD_ENV, format!("{url}\n{tag}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let seen = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.trim_end().ends_with("ENQUEUED"))
    });
    let seen = tokio::time::timeout(Duration::from_secs(60), seen)
        .await
        .unwrap()
        .unwrap();
    assert!(seen, "the child never enqueued");
    child.kill().unwrap(); // SIGKILL: no destructor, no flush, nothing sent
    let status = child.wait().unwrap();
    assert!(!status.success());

    let store = Store::open(&url).await.unwrap();
    let rows = store.outbox_rows().await.unwrap();
    assert_eq!(
        rows.len(),
        4,
        "one invitation and three receipts survived the kill"
    );
    assert!(rows.iter().all(|r| r.status == "pending"));
    let composer = composer();
    let report = smtp_sender(&store, &composer).flush().await.unwrap();
    assert_eq!((report.sent, report.retrying, report.failed), (4, 0, 0));
    assert_eq!(
        smtp_sender(&store, &composer).flush().await.unwrap().sent,
        0
    );

    let ana = format!("ana@acme-{tag}.test");
    let mails = wait_for_mail(&ana, 4, Duration::from_secs(30)).await;
    assert_eq!(mails.len(), 4, "each message exactly once");
    let mut expected: Vec<String> = rows.iter().map(|r| r.message_id.clone()).collect();
    expected.sort();
    assert_eq!(
        message_ids(&mails),
        expected,
        "the Message-IDs written before the kill"
    );
}
