//! The outbox on both backends with the file transport (SPEC §7, §2): invitations once per user
//! across re-syncs, enqueueing inside the caller's transaction, leases, dedupe, several workers at
//! once never sending a row twice, the invalid-directory alert.

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agency_portal::check::Problems;
use agency_portal::directory::{self, Directory};
use agency_portal::mail::invitation::InvitationInput;
use agency_portal::mail::sender::{Sender, Transport};
use agency_portal::mail::Composer;
use agency_portal::store::outbox;
use agency_portal::store::Store;
use chrono::Utc;
use mail_parser::{MessageParser, MimeHeaders};
use sqlx::Connection;

/// Generates `<name>::sqlite` and `<name>::postgres`; the body gets the store and its URL.
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let dir = tempfile::tempdir().unwrap();
                let url = super::support::fresh_sqlite_url(dir.path());
                super::$name(super::Store::open(&url).await.unwrap(), url).await;
            }

            #[tokio::test]
            async fn postgres() {
                let url = super::support::fresh_postgres_url().await;
                super::$name(super::Store::open(&url).await.unwrap(), url).await;
            }
        }
    };
}

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

fn composer() -> Arc<Composer> {
    Arc::new(
        Composer::new(
            "Agency Portal <portal@example.test>",
            "portal@example.test",
            &config_dir().join("templates"),
        )
        .unwrap(),
    )
}

fn shipped_text() -> String {
    std::fs::read_to_string(config_dir().join("directory.toml")).unwrap()
}

fn parse(text: &str) -> Directory {
    directory::parse(text, &config_dir().join("directory.toml")).expect("valid directory")
}

fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// The shipped directory plus `extra` new editors of acme, with eddie removed when `without_eddie`.
fn edited(extra: usize, without_eddie: bool) -> String {
    let mut text = shipped_text();
    if without_eddie {
        text = text.replace(
            "  [[agencies.users]]\n  email = \"eddie@acme-staffing.example\"\n  name = \"Eddie Editor\"\n  role = \"editor\"\n",
            "",
        );
    }
    let mut users = String::new();
    for i in 0..extra {
        users.push_str(&format!(
            "  [[agencies.users]]\n  email = \"new{i}@acme-staffing.example\"\n  name = \"New {i}\"\n  role = \"editor\"\n\n"
        ));
    }
    text.replacen(
        "[[agencies]]\nid = \"bayanihan\"",
        &format!("{users}[[agencies]]\nid = \"bayanihan\""),
        1,
    )
}

on_both_backends!(ten_resyncs_invite_each_new_user_once);
async fn ten_resyncs_invite_each_new_user_once(store: Store, _url: String) {
    let composer = composer();
    for i in 0..10 {
        // Each sync changes something: one more new user; eddie leaves and comes back.
        store
            .sync_directory(
                &parse(&edited(i + 1, i % 2 == 1)),
                "directory.toml",
                &format!("h{i}"),
                Utc::now(),
                &composer,
            )
            .await
            .unwrap();
        // And an unchanged re-sync.
        store
            .sync_directory(
                &parse(&edited(i + 1, i % 2 == 1)),
                "directory.toml",
                &format!("h{i}"),
                Utc::now(),
                &composer,
            )
            .await
            .unwrap();
    }
    let rows = store.outbox_rows().await.unwrap();
    let mut invited: Vec<String> = rows
        .iter()
        .filter(|r| r.kind == "invitation")
        .map(|r| r.recipients.join(","))
        .collect();
    invited.sort();
    let mut expected: Vec<String> = [
        "ana@acme-staffing.example",
        "eddie@acme-staffing.example",
        "marites@bayanihantalent.example",
        "jun.reyes@mail.example",
        "lucia@talentoazteca.example",
        "jose@talentoazteca.example",
        "camila@andina.example",
        "andres@andina.example",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain((0..10).map(|i| format!("new{i}@acme-staffing.example")))
    .collect();
    expected.sort();
    // rio-rh is inactive: its users are not invited.
    assert_eq!(invited, expected);
    assert!(rows
        .iter()
        .all(|r| r.dedupe_key.as_deref() == Some(&format!("invitation:{}", r.recipients[0])[..])));

    // Delivered once each by the file transport; a second flush sends nothing.
    let out = tempfile::tempdir().unwrap();
    let sender = Sender::new(
        store.clone(),
        composer.clone(),
        Transport::File(out.path().into()),
        Duration::from_secs(5),
    );
    let report = sender.flush().await.unwrap();
    assert_eq!((report.sent, report.retrying, report.failed), (18, 0, 0));
    assert_eq!(sender.flush().await.unwrap().sent, 0);
    let files = eml_files(out.path());
    assert_eq!(files.len(), 18);

    // Ana's invitation says what SPEC §2 asks.
    let ana = rows
        .iter()
        .find(|r| r.recipients == ["ana@acme-staffing.example"])
        .unwrap();
    let bytes = std::fs::read(out.path().join(format!("{}.eml", ana.id))).unwrap();
    assert_eq!(
        Some(bytes.clone()),
        store.outbox_message(ana.id).await.unwrap(),
        "file = stored bytes"
    );
    let msg = MessageParser::default().parse(&bytes).unwrap();
    let text = msg.body_text(0).unwrap();
    for needle in [
        "Ana Admin",
        "Acme Staffing",
        "an admin",
        "portal@example.test",
        "acme",
        "40123",
        "Customer Service Manila",
        "40124",
    ] {
        assert!(text.contains(needle), "invitation lacks {needle}:\n{text}");
    }
    assert!(!text.contains("40100"), "inactive campaign listed");
    assert!(!text.contains("50210"), "another country's campaign listed");
    let attached: Vec<_> = msg
        .attachments()
        .filter_map(|a| a.attachment_name())
        .collect();
    assert_eq!(attached, vec!["agency-portal-template.xlsx"]);
    // SPEC §7 (r2): an invitation is a message we start, not a reply.
    assert_eq!(
        msg.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
}

on_both_backends!(enqueue_commits_and_rolls_back_with_the_callers_transaction);
async fn enqueue_commits_and_rolls_back_with_the_callers_transaction(store: Store, url: String) {
    let composer = composer();
    let invite = |email: &str| {
        composer
            .invitation(&InvitationInput {
                email: email.into(),
                name: "Someone".into(),
                role: "editor".into(),
                agency_id: "acme".into(),
                agency_name: "Acme".into(),
                campaigns: vec![],
                lang: agency_portal::i18n::Lang::En,
            })
            .unwrap()
    };
    let now = Utc::now();
    async fn in_tx(url: &str, msg: &agency_portal::mail::Outgoing, commit: bool) -> Option<i64> {
        if url.starts_with("sqlite") {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            let mut tx = conn.begin().await.unwrap();
            let id = outbox::enqueue(&mut *tx, msg, Utc::now()).await.unwrap();
            if commit {
                tx.commit().await.unwrap()
            } else {
                tx.rollback().await.unwrap()
            }
            id
        } else {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let mut tx = conn.begin().await.unwrap();
            let id = outbox::enqueue(&mut *tx, msg, Utc::now()).await.unwrap();
            if commit {
                tx.commit().await.unwrap()
            } else {
                tx.rollback().await.unwrap()
            }
            id
        }
    }
    assert!(in_tx(&url, &invite("a@acme.test"), false).await.is_some());
    assert!(
        store.outbox_rows().await.unwrap().is_empty(),
        "rolled back with its transaction"
    );
    assert!(in_tx(&url, &invite("a@acme.test"), true).await.is_some());
    // Same dedupe key, another message: nothing written.
    assert!(in_tx(&url, &invite("A@acme.test"), true).await.is_none());
    assert_eq!(
        store
            .enqueue_now(&invite("a@acme.test"), now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.outbox_rows().await.unwrap().len(), 1);
}

on_both_backends!(leases_expire_and_lost_leases_are_refused);
async fn leases_expire_and_lost_leases_are_refused(store: Store, _url: String) {
    let composer = composer();
    for i in 0..2 {
        let msg = composer
            .invitation(&InvitationInput {
                email: format!("u{i}@acme.test"),
                name: format!("U {i}"),
                role: "editor".into(),
                agency_id: "acme".into(),
                agency_name: "Acme".into(),
                campaigns: vec![],
                lang: agency_portal::i18n::Lang::En,
            })
            .unwrap();
        store.enqueue_now(&msg, Utc::now()).await.unwrap().unwrap();
    }
    let now = Utc::now();
    let lease = now + chrono::Duration::seconds(60);
    let a = store
        .claim_outbox("A", now, now, lease)
        .await
        .unwrap()
        .unwrap();
    let b = store
        .claim_outbox("B", now, now, lease)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(a.id, b.id, "a claimed row is not claimed again");
    assert!(store
        .claim_outbox("C", now, now, lease)
        .await
        .unwrap()
        .is_none());
    // A dies; after its lease, C takes the row again: same bytes, so the same Message-ID.
    let later = lease + chrono::Duration::seconds(1);
    let c = store
        .claim_outbox("C", later, later, later + chrono::Duration::seconds(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((c.id, c.attempts, &c.bytes), (a.id, 2, &a.bytes));
    assert!(
        !store.outbox_sent(a.id, "A", later).await.unwrap(),
        "A lost its lease"
    );
    assert!(store.outbox_sent(c.id, "C", later).await.unwrap());
    assert!(store
        .outbox_retry(b.id, "B", later, "421 try later")
        .await
        .unwrap());
    let rows = store.outbox_rows().await.unwrap();
    let row = |id| rows.iter().find(|r| r.id == id).unwrap();
    assert_eq!(row(a.id).status, "sent");
    assert_eq!(
        (row(b.id).status.as_str(), row(b.id).last_error.as_str()),
        ("pending", "421 try later")
    );
}

on_both_backends!(several_workers_never_send_a_row_twice);
async fn several_workers_never_send_a_row_twice(store: Store, url: String) {
    let composer = composer();
    const N: usize = 60;
    for i in 0..N {
        let msg = composer
            .invitation(&InvitationInput {
                email: format!("u{i}@acme.test"),
                name: format!("U {i}"),
                role: "editor".into(),
                agency_id: "acme".into(),
                agency_name: "Acme".into(),
                campaigns: vec![],
                lang: agency_portal::i18n::Lang::En,
            })
            .unwrap();
        store.enqueue_now(&msg, Utc::now()).await.unwrap().unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    // Four workers, each with its own pool (as four daemons would), flushing at once.
    let mut handles = Vec::new();
    for _ in 0..4 {
        let store = Store::open(&url).await.unwrap();
        let sender = Sender::new(
            store,
            composer.clone(),
            Transport::File(out.path().into()),
            Duration::from_secs(5),
        );
        handles.push(tokio::spawn(async move { sender.flush().await.unwrap() }));
    }
    let mut sent = Vec::new();
    for h in handles {
        sent.push(h.await.unwrap().sent);
    }
    println!("sent per worker: {sent:?}");
    assert_eq!(sent.iter().sum::<usize>(), N, "{sent:?}");
    assert_eq!(eml_files(out.path()).len(), N);
    let rows = store.outbox_rows().await.unwrap();
    assert!(
        rows.iter().all(|r| r.status == "sent" && r.attempts == 1),
        "each row claimed exactly once"
    );
}

on_both_backends!(invalid_directory_alerts_owners_once_per_version);
async fn invalid_directory_alerts_owners_once_per_version(store: Store, _url: String) {
    let composer = composer();
    store
        .sync_directory(
            &parse(&shipped_text()),
            "directory.toml",
            "h1",
            Utc::now(),
            &composer,
        )
        .await
        .unwrap();
    let broken = shipped_text()
        .replace("country = \"MX\"", "country = \"XX\"")
        .replace("role = \"editor\"", "role = \"boss\"");
    let Err(problems) = directory::parse(&broken, &config_dir().join("directory.toml")) else {
        panic!("the broken directory parsed");
    };
    let problems: Problems = problems;
    assert!(problems.0.len() >= 2);
    let now = Utc::now();
    assert!(store
        .alert_invalid_directory(&composer, "config/directory.toml", "bad1", &problems, now)
        .await
        .unwrap());
    assert!(!store
        .alert_invalid_directory(&composer, "config/directory.toml", "bad1", &problems, now)
        .await
        .unwrap());
    assert!(store
        .alert_invalid_directory(&composer, "config/directory.toml", "bad2", &problems, now)
        .await
        .unwrap());
    let alerts: Vec<_> = store
        .outbox_rows()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "alert")
        .collect();
    assert_eq!(alerts.len(), 2);
    assert_eq!(
        alerts[0].recipients,
        vec!["olivia@company.example", "oscar@company.example"]
    );
    let bytes = store.outbox_message(alerts[0].id).await.unwrap().unwrap();
    let msg = MessageParser::default().parse(&bytes).unwrap();
    let text = msg.body_text(0).unwrap();
    for p in &problems.0 {
        assert!(text.contains(&p.to_string()), "alert lists {p}:\n{text}");
    }
    assert!(msg
        .subject()
        .unwrap()
        .starts_with("Directory file not applied"));
}

/// `agency-portal outbox …` on the database at `url` (shipped settings), which must exit `code`;
/// what it printed.
fn outbox_cli(url: &str, args: &[&str], code: i32) -> String {
    let out = support::portal(&config_dir().join("agency-portal.toml"))
        .arg("outbox")
        .args(args)
        .env("DATABASE_URL", url)
        .env("AGENCY_PORTAL_LOG", "error")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    String::from_utf8(out.stdout).unwrap() + &stderr
}

/// Enqueues an invitation to `email`; its outbox id.
async fn an_invitation(store: &Store, composer: &Composer, email: &str) -> i64 {
    let msg = composer
        .invitation(&InvitationInput {
            email: email.into(),
            name: "U".into(),
            role: "editor".into(),
            agency_id: "acme".into(),
            agency_name: "Acme".into(),
            campaigns: vec![],
            lang: agency_portal::i18n::Lang::En,
        })
        .unwrap();
    store.enqueue_now(&msg, Utc::now()).await.unwrap().unwrap()
}

/// Claims the next due row and fails it permanently (as the worker does on a 550), with the
/// owners' alert the worker writes; the row claimed.
async fn claim_and_fail(store: &Store, composer: &Composer) -> outbox::Claimed {
    let now = Utc::now();
    let row = store
        .claim_outbox("w", now, now, now + chrono::Duration::seconds(60))
        .await
        .unwrap()
        .unwrap();
    let failed = agency_portal::mail::alert::FailedMessage {
        outbox_id: row.id,
        kind: row.kind.clone(),
        message_id: row.message_id.clone(),
        recipients: row.recipients.clone(),
        attempts: row.attempts,
        error: "550 no such user".into(),
        resends: row.resends,
    };
    assert!(store
        .outbox_failed(row.id, "w", now, "550 no such user", |owners| {
            composer.send_failure_alert(owners, &failed).ok()
        })
        .await
        .unwrap());
    row
}

/// SPEC §9 (r2): `outbox [list | resend ID | resend --failed] [--json]`: what is waiting, sent or
/// failed; a failed message sent again goes back to pending with the same bytes (the same
/// Message-ID), its attempts and give-up clock started again; a new failure is alerted again.
async fn a_failed_message_is_listed_and_resent_with_the_same_message_id(store: Store, url: String) {
    let composer = composer();
    // The CLI syncs the shipped directory first (its invitations are then in the outbox too): let
    // it, and send those, so that only this test's rows are due.
    outbox_cli(&url, &["list"], 0);
    let out = tempfile::tempdir().unwrap();
    let sender = Sender::new(
        store.clone(),
        composer.clone(),
        Transport::File(out.path().into()),
        Duration::from_secs(5),
    );
    sender.flush().await.unwrap();
    let a = an_invitation(&store, &composer, "a@acme.test").await;
    let b = an_invitation(&store, &composer, "b@acme.test").await;
    assert_eq!(claim_and_fail(&store, &composer).await.id, a);
    assert_eq!(claim_and_fail(&store, &composer).await.id, b);
    assert_eq!(
        sender.flush().await.unwrap().sent,
        2,
        "the owners' two alerts"
    );
    let bytes = store.outbox_message(a).await.unwrap().unwrap();

    let list: serde_json::Value = serde_json::from_str(&outbox_cli(&url, &["--json"], 0)).unwrap();
    let find = |list: &serde_json::Value, id: i64| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap()
    };
    let row = find(&list, a);
    for key in [
        "id",
        "message_id",
        "kind",
        "status",
        "attempts",
        "recipients",
        "created_at",
        "sent_at",
        "last_error",
        "resends",
    ] {
        assert!(row.get(key).is_some(), "{key} in {row}");
    }
    assert_eq!(row["status"], "failed");
    assert_eq!(row["last_error"], "550 no such user");
    let message_id = row["message_id"].as_str().unwrap().to_string();
    let text = outbox_cli(&url, &["list"], 0);
    assert!(
        text.contains(&format!("{a}\tinvitation\tfailed\t")),
        "{text}"
    );
    assert!(text.contains("\tinvitation\tsent\t"), "{text}");

    // resend ID: pending again, same Message-ID and bytes.
    let resent: serde_json::Value =
        serde_json::from_str(&outbox_cli(&url, &["resend", &a.to_string(), "--json"], 0)).unwrap();
    let resent = resent.as_array().unwrap();
    assert_eq!(resent.len(), 1);
    assert_eq!(resent[0]["status"], "pending");
    assert_eq!(resent[0]["message_id"], message_id.as_str());
    assert_eq!(resent[0]["resends"], 1);
    assert_eq!(resent[0]["attempts"], 0);
    assert_eq!(store.outbox_message(a).await.unwrap().unwrap(), bytes);
    // Only a failed message is resent; an unknown id is the operator's mistake.
    let said = outbox_cli(&url, &["resend", &a.to_string()], 2);
    assert!(said.contains("is pending, not failed"), "{said}");
    let said = outbox_cli(&url, &["resend", "999999"], 2);
    assert!(said.contains("no message 999999"), "{said}");

    // The worker takes it: the same Message-ID and bytes; its give-up clock started at the
    // resend. It fails again: the owners are told again (a new alert, not deduplicated away).
    let written = store
        .outbox_rows()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.id == a)
        .unwrap()
        .created_at;
    let alerts = |rows: &[outbox::OutboxRow]| {
        let key = format!("alert:send-failure:{a}");
        rows.iter()
            .filter(|r| {
                r.dedupe_key
                    .as_deref()
                    .is_some_and(|k| k == key || k.starts_with(&format!("{key}:")))
            })
            .count()
    };
    assert_eq!(alerts(&store.outbox_rows().await.unwrap()), 1);
    let claimed = claim_and_fail(&store, &composer).await;
    assert_eq!((claimed.id, claimed.attempts, claimed.resends), (a, 1, 1));
    assert_eq!(claimed.message_id, message_id);
    assert_eq!(claimed.bytes, bytes);
    assert!(
        claimed.tried_since > written,
        "the clock restarts at the resend"
    );
    assert_eq!(alerts(&store.outbox_rows().await.unwrap()), 2);

    // resend --failed: both, then the worker delivers them with their Message-IDs.
    let said = outbox_cli(&url, &["resend", "--failed"], 0);
    assert!(
        said.contains(&format!("message {a} (invitation to a@acme.test")),
        "{said}"
    );
    assert!(
        said.contains(&format!("message {b} (invitation to b@acme.test")),
        "{said}"
    );
    let report = sender.flush().await.unwrap();
    assert_eq!(
        report.sent, 3,
        "the two resent, and the alert of the second failure"
    );
    let rows = store.outbox_rows().await.unwrap();
    for id in [a, b] {
        assert_eq!(rows.iter().find(|r| r.id == id).unwrap().status, "sent");
    }
    let eml = std::fs::read(out.path().join(format!("{a}.eml"))).unwrap();
    assert_eq!(eml, bytes, "the file transport wrote the same message");
    let said = outbox_cli(&url, &["resend", "--failed"], 0);
    assert!(said.contains("no failed message"), "{said}");
}
on_both_backends!(a_failed_message_is_listed_and_resent_with_the_same_message_id);
