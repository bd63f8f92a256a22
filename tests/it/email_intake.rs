//! Issue 7 (email intake), on both backends, through the Maildir source: the same handling code the
//! IMAP source runs (tests/it/email_imap.rs drives that one over the real mail loop).

use crate::support;

use std::path::Path;
use std::sync::Arc;

use agency_portal::directory::{self, Directory};
use agency_portal::intake::mailbox::maildir::Folder;
use agency_portal::intake::mailbox::maildir_source::MaildirSource;
use agency_portal::intake::mailbox::{IntakeOptions, MailIntake};
use agency_portal::intake::pipeline::Pipeline;
use agency_portal::settings::Scope;
use agency_portal::sheet::Limits;
use agency_portal::store::mail_ledger::MessageKeys;
use agency_portal::store::outbox::OutboxRow;
use agency_portal::store::Store;
use agency_portal::submission::Rules;
use mail_parser::MessageParser;
use support::mail::message;

const AUTHSERV: &str = "mx.portal.test";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn the_directory() -> Directory {
    directory::load(&repo().join("config/directory.toml")).unwrap()
}

const SHEET_A: &str = "First Name,Last Name,Email,Mobile\n\
    Ana,Cruz,ana.cruz@gmail.com,0917 123 4567\n\
    Ben,Reyes,ben.reyes@gmail.com,0918 765 4321\n";
const SHEET_B: &str = "First Name,Last Name,Email,Mobile\n\
    Carla,Santos,carla.santos@yahoo.com,0919 555 0101\n\
    Dado,Lim,,0920 555 0202\n\
    Eve,Tan,not-an-email,\n";

struct Env {
    store: Store,
    source: MaildirSource,
    _dir: tempfile::TempDir,
}

async fn env(store: Store, require_auth: bool) -> Env {
    env_with(store, require_auth, Limits::default()).await
}

async fn env_with(store: Store, require_auth: bool, limits: Limits) -> Env {
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
    let dir = tempfile::tempdir().unwrap();
    let composer = Arc::new(support::composer());
    let pipeline = Pipeline {
        store: store.clone(),
        directory: Arc::new(the_directory()),
        rules: Rules {
            scope: Scope::Company,
            ownership_days: 180,
            name_similarity: 0.92,
        },
        limits,
        composer: Some(composer.clone()),
    };
    let intake = MailIntake {
        pipeline,
        composer,
        options: IntakeOptions {
            mailbox: format!("maildir:{}", dir.path().display()),
            require_auth,
            authserv_id: AUTHSERV.into(),
            digests: Vec::new(),
            authorized_keys: None,
        },
        after_commit: None,
        outbox_wake: None,
        live: None,
    };
    let source = MaildirSource::open(intake, &dir.path().join("mailbox")).unwrap();
    Env {
        store,
        source,
        _dir: dir,
    }
}

impl Env {
    fn deliver(&self, raw: &[u8]) {
        self.source.maildir().deliver(raw).unwrap();
    }

    async fn run(&self) -> Vec<agency_portal::intake::mailbox::Handled> {
        self.source.process_pending().await.unwrap()
    }

    /// Outbox rows other than the directory sync's invitations to the file's users.
    async fn sent(&self) -> Vec<OutboxRow> {
        let file_users: Vec<String> = the_directory()
            .agencies
            .iter()
            .flat_map(|a| a.users.iter().map(|u| u.email.clone()))
            .collect();
        self.store
            .outbox_rows()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| !(r.kind == "invitation" && file_users.contains(&r.recipients[0])))
            .collect()
    }

    async fn raw_outbox(&self, id: i64) -> Vec<u8> {
        self.store.outbox_message(id).await.unwrap().unwrap()
    }

    fn in_folder(&self, folder: Folder) -> usize {
        let root = self.source.maildir().root();
        let dir = root.join(format!(".{}", folder.name())).join("cur");
        std::fs::read_dir(dir).unwrap().count()
    }
}

async fn two_spreadsheets_make_two_submissions_and_a_second_delivery_changes_nothing(store: Store) {
    let e = env(store, false).await;
    let raw = message(
        "Ana Admin <ana@acme-staffing.example>",
        "Candidates week 48 [campaign 40123]",
        &[],
        "Two files attached.",
        &[("a.csv", SHEET_A.as_bytes()), ("b.csv", SHEET_B.as_bytes())],
    );
    e.deliver(&raw);
    let handled = e.run().await;
    assert_eq!(handled.len(), 1);
    assert_eq!(handled[0].folder, Folder::Processed);
    assert_eq!(handled[0].submissions.len(), 2);
    let subs = e.store.submissions_view(Some("acme"), None).await.unwrap();
    assert_eq!(subs.len(), 2);
    let receipts: Vec<_> = e
        .sent()
        .await
        .into_iter()
        .filter(|r| r.kind == "receipt")
        .collect();
    assert_eq!(receipts.len(), 2);
    assert!(receipts
        .iter()
        .all(|r| r.recipients == ["ana@acme-staffing.example"]));
    // Both parts explain every outcome (the HTML part once had no legend).
    let receipt = e.raw_outbox(receipts[0].id).await;
    let parsed = MessageParser::default().parse(&receipt).unwrap();
    for part in [parsed.body_text(0).unwrap(), parsed.body_html(0).unwrap()] {
        assert!(part.contains("What the outcomes mean"), "{part}");
        assert!(part.contains("previously_submitted"), "{part}");
    }

    // The same message delivered again (a second copy in the inbox): one submission, one receipt.
    e.deliver(&raw);
    let again = e.run().await;
    assert_eq!(again.len(), 1);
    assert!(again[0].already, "{again:?}");
    assert_eq!(again[0].folder, Folder::Processed);
    assert_eq!(
        e.store
            .submissions_view(Some("acme"), None)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(e.sent().await.len(), 2);
    assert_eq!(e.in_folder(Folder::Processed), 2);
    assert!(e.source.maildir().pending().unwrap().is_empty());
}
on_both_backends!(two_spreadsheets_make_two_submissions_and_a_second_delivery_changes_nothing);

async fn forged_and_unknown_senders_are_rejected_without_any_mail(store: Store) {
    let e = env(store, true).await;
    let sheet: &[(&str, &[u8])] = &[("a.csv", SHEET_A.as_bytes())];
    // Unknown address.
    e.deliver(&message(
        "Mallory <mallory@evil.test>",
        "cands",
        &[&format!(
            "Authentication-Results: {AUTHSERV}; dmarc=pass header.from=evil.test"
        )],
        "",
        sheet,
    ));
    // Known address, dmarc=fail.
    e.deliver(&message(
        "Ana Admin <ana@acme-staffing.example>",
        "cands",
        &[&format!(
            "Authentication-Results: {AUTHSERV}; dkim=none; dmarc=fail header.from=acme-staffing.example"
        )],
        "",
        sheet,
    ));
    // Known address: our server's (topmost) header says fail; a forged one lower down says pass.
    e.deliver(&message(
        "Ana Admin <ana@acme-staffing.example>",
        "cands",
        &[
            &format!(
                "Authentication-Results: {AUTHSERV}; dmarc=fail header.from=acme-staffing.example"
            ),
            "Received: from evil.test by relay.test",
            &format!(
                "Authentication-Results: {AUTHSERV}; dmarc=pass header.from=acme-staffing.example"
            ),
        ],
        "",
        sheet,
    ));
    // No header at all.
    e.deliver(&message(
        "Ana Admin <ana@acme-staffing.example>",
        "help",
        &[],
        "",
        &[],
    ));
    let handled = e.run().await;
    assert_eq!(handled.len(), 4);
    assert!(
        handled.iter().all(|h| h.folder == Folder::Rejected),
        "{handled:?}"
    );
    assert_eq!(e.in_folder(Folder::Rejected), 4);
    assert!(e.sent().await.is_empty(), "no mail to anyone");
    assert!(e
        .store
        .submissions_view(None, None)
        .await
        .unwrap()
        .is_empty());

    // The control: an aligned dkim=pass from our server is accepted.
    e.deliver(&message(
        "Ana Admin <ana@acme-staffing.example>",
        "cands",
        &[&format!(
            "Authentication-Results: {AUTHSERV}; dkim=pass header.d=acme-staffing.example; dmarc=none"
        )],
        "",
        sheet,
    ));
    let handled = e.run().await;
    assert_eq!(handled[0].folder, Folder::Processed);
    assert_eq!(handled[0].submissions.len(), 1);
}
on_both_backends!(forged_and_unknown_senders_are_rejected_without_any_mail);

async fn invite_and_remove_follow_the_role_rules(store: Store) {
    let e = env(store, false).await;
    e.deliver(&message(
        "Ana Admin <ana@acme-staffing.example>",
        "invite bob@acme-staffing.example editor Bob",
        &[],
        "",
        &[],
    ));
    e.run().await;
    let sent = e.sent().await;
    let invitations: Vec<_> = sent.iter().filter(|r| r.kind == "invitation").collect();
    assert_eq!(invitations.len(), 1, "{sent:?}");
    assert_eq!(invitations[0].recipients, ["bob@acme-staffing.example"]);
    let replies: Vec<_> = sent.iter().filter(|r| r.kind == "command_reply").collect();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].recipients, ["ana@acme-staffing.example"]);
    let bob = e
        .store
        .db_user("bob@acme-staffing.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            bob.agency_id.as_str(),
            bob.role.as_str(),
            bob.source.as_str()
        ),
        ("acme", "editor", "invited")
    );
    assert!(bob.active);

    // Bob, invited by email, may now submit.
    e.deliver(&message(
        "Bob <bob@acme-staffing.example>",
        "my first file",
        &[],
        "",
        &[("a.csv", SHEET_A.as_bytes())],
    ));
    let h = e.run().await;
    assert_eq!(h[0].submissions.len(), 1, "{h:?}");

    // An editor may not invite; an admin may not invite into another agency's domain.
    for (from, command) in [
        (
            "Eddie Editor <eddie@acme-staffing.example>",
            "invite carol@acme-staffing.example editor Carol",
        ),
        (
            "Ana Admin <ana@acme-staffing.example>",
            "invite dan@bayanihantalent.example editor Dan",
        ),
        (
            "Ana Admin <ana@acme-staffing.example>",
            "invite erin@acme-staffing.example admin Erin",
        ),
    ] {
        let before = e.sent().await.len();
        e.deliver(&message(from, command, &[], "", &[]));
        e.run().await;
        let sent = e.sent().await;
        assert_eq!(sent.len(), before + 1, "{command}: only a reply");
        let reply = sent.last().unwrap();
        assert_eq!(reply.kind, "command_reply");
        let raw = e.raw_outbox(reply.id).await;
        let parsed = MessageParser::default().parse(&raw).unwrap();
        let text = parsed.body_text(0).unwrap();
        assert!(text.contains("was not invited"), "{command}: {text}");
    }
    for who in [
        "carol@acme-staffing.example",
        "dan@bayanihantalent.example",
        "erin@acme-staffing.example",
    ] {
        assert!(e.store.db_user(who).await.unwrap().is_none(), "{who}");
    }

    // Ana removes Bob: he can no longer submit (his mail is rejected, unanswered).
    e.deliver(&message(
        "Ana Admin <ana@acme-staffing.example>",
        "remove bob@acme-staffing.example",
        &[],
        "",
        &[],
    ));
    e.run().await;
    assert!(
        !e.store
            .db_user("bob@acme-staffing.example")
            .await
            .unwrap()
            .unwrap()
            .active
    );
    let before = e.sent().await.len();
    e.deliver(&message(
        "Bob <bob@acme-staffing.example>",
        "again",
        &[],
        "",
        &[("b.csv", SHEET_B.as_bytes())],
    ));
    assert_eq!(e.run().await[0].folder, Folder::Rejected);
    assert_eq!(e.sent().await.len(), before);
}
on_both_backends!(invite_and_remove_follow_the_role_rules);

async fn bounces_and_automatic_mail_get_no_reply(store: Store) {
    let e = env(store, false).await;
    e.deliver(&message(
        "Mail Delivery System <MAILER-DAEMON@mx.acme-staffing.example>",
        "Undelivered Mail Returned to Sender",
        &["Auto-Submitted: auto-replied"],
        "This is the mail system.",
        &[],
    ));
    e.deliver(&message(
        "Ana Admin <ana@acme-staffing.example>",
        "Out of office",
        &["Auto-Submitted: auto-replied"],
        "I am away.",
        &[],
    ));
    let h = e.run().await;
    assert_eq!(h.len(), 2);
    assert_eq!(
        e.in_folder(Folder::Rejected),
        1,
        "the bounce: unknown sender"
    );
    assert_eq!(
        e.in_folder(Folder::Processed),
        1,
        "the auto-reply: nothing to do"
    );
    assert!(e.sent().await.is_empty());
}
on_both_backends!(bounces_and_automatic_mail_get_no_reply);

async fn commands_help_and_checks_are_answered_in_the_thread(store: Store) {
    let e = env(store, false).await;
    let help = message(
        "Ana Admin <ana@acme-staffing.example>",
        "hello there",
        &[],
        "what is this?",
        &[],
    );
    let help_id = MessageParser::default()
        .parse(&help)
        .unwrap()
        .message_id()
        .unwrap()
        .to_string();
    e.deliver(&help);
    e.deliver(&message(
        "Eddie Editor <eddie@acme-staffing.example>",
        "Re: template",
        &[],
        "",
        &[],
    ));
    e.deliver(&message(
        "Eddie Editor <eddie@acme-staffing.example>",
        "x",
        &[],
        "campaigns\nthanks",
        &[],
    ));
    e.deliver(&message(
        "Eddie Editor <eddie@acme-staffing.example>",
        "[check] [campaign 40123] week 49",
        &[],
        "",
        &[("b.csv", SHEET_B.as_bytes())],
    ));
    assert_eq!(e.run().await.len(), 4);
    let sent = e.sent().await;
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert!(sent.iter().all(|r| r.kind == "command_reply"));
    let parsed: Vec<Vec<u8>> = {
        let mut v = Vec::new();
        for r in &sent {
            v.push(e.raw_outbox(r.id).await);
        }
        v
    };
    let msgs: Vec<_> = parsed
        .iter()
        .map(|raw| MessageParser::default().parse(raw).unwrap())
        .collect();
    assert_eq!(msgs[0].in_reply_to().as_text(), Some(help_id.as_str()));
    assert_eq!(msgs[0].subject(), Some("Re: hello there"));
    assert!(msgs[0].body_text(0).unwrap().contains("[check]"));
    assert_eq!(msgs[1].attachments().count(), 1, "the template workbook");
    assert!(
        msgs[2].body_text(0).unwrap().contains("40123"),
        "{}",
        msgs[2].body_text(0).unwrap()
    );
    let check = msgs[3].body_text(0).unwrap();
    assert!(check.contains("new 2, previously_submitted 0, duplicate 0, blocked 0, review 0, repeated 0, invalid 1"), "{check}");
    assert_eq!(msgs[3].attachments().count(), 2, "results and to-fix");
    assert!(
        e.store
            .submissions_view(None, None)
            .await
            .unwrap()
            .is_empty(),
        "a check creates nothing"
    );
}
on_both_backends!(commands_help_and_checks_are_answered_in_the_thread);

async fn a_message_that_failed_three_tries_goes_to_failed_and_owners_are_told(store: Store) {
    let e = env(store, false).await;
    let raw = message(
        "Ana Admin <ana@acme-staffing.example>",
        "cands",
        &[],
        "",
        &[("a.csv", SHEET_A.as_bytes())],
    );
    let id = MessageParser::default()
        .parse(&raw)
        .unwrap()
        .message_id()
        .unwrap()
        .to_string();
    // Three tries that crashed the process after counting themselves.
    let keys = MessageKeys {
        mailbox: e.source.intake().options.mailbox.clone(),
        message_key: format!("<{id}>"),
        sha256: "not-these-bytes".into(),
        uidvalidity: None,
        uid: None,
        sender: "ana@acme-staffing.example".into(),
        subject: "cands".into(),
    };
    for _ in 0..3 {
        e.store
            .ledger_begin(&keys, chrono::Utc::now())
            .await
            .unwrap();
    }
    e.deliver(&raw);
    let h = e.run().await;
    assert_eq!(h[0].folder, Folder::Failed);
    assert_eq!(e.in_folder(Folder::Failed), 1);
    let sent = e.sent().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].kind, "alert");
    assert_eq!(sent[0].recipients.len(), 2, "both owners");
    assert!(e
        .store
        .submissions_view(None, None)
        .await
        .unwrap()
        .is_empty());
    // The rest keeps flowing.
    e.deliver(&message(
        "Ana Admin <ana@acme-staffing.example>",
        "more",
        &[],
        "",
        &[("b.csv", SHEET_B.as_bytes())],
    ));
    assert_eq!(e.run().await[0].folder, Folder::Processed);
}
on_both_backends!(a_message_that_failed_three_tries_goes_to_failed_and_owners_are_told);

async fn a_message_over_the_size_limit_is_refused_from_its_size_alone(store: Store) {
    // Messages up to 3 x max_file_bytes are read; this one is larger.
    let limits = Limits {
        max_file_bytes: 2_000,
        ..Limits::default()
    };
    let e = env_with(store, false, limits).await;
    let big = "x".repeat(10_000);
    e.deliver(&message(
        "Ana Admin <ana@acme-staffing.example>",
        "a big one [campaign 40123]",
        &[],
        "",
        &[("big.csv", big.as_bytes())],
    ));
    let h = e.run().await;
    assert_eq!(h[0].folder, Folder::Rejected);
    assert_eq!(h[0].kind, "too_large");
    let sent = e.sent().await;
    assert_eq!(sent.len(), 1, "the sender is told");
    let raw = e.raw_outbox(sent[0].id).await;
    let text = MessageParser::default()
        .parse(&raw)
        .unwrap()
        .body_text(0)
        .unwrap()
        .to_string();
    assert!(text.contains("too large"), "{text}");
    assert!(e
        .store
        .submissions_view(None, None)
        .await
        .unwrap()
        .is_empty());
}
on_both_backends!(a_message_over_the_size_limit_is_refused_from_its_size_alone);

/// SPEC §5 (r2): a message from anyone with a NUL in its Subject (recorded before the sender is
/// checked: once refused by Postgres, taken for "database down", and in front of every later
/// message for ever) ends in its folder, and the message after it is handled in the same pass.
async fn a_poison_subject_never_stops_the_intake(store: Store) {
    let e = env(store, false).await;
    e.deliver(&message(
        "Mallory <mallory@evil.test>",
        "=?utf-8?q?hello=00there?=",
        &[],
        "hi",
        &[],
    ));
    e.deliver(&message(
        "Ana Admin <ana@acme-staffing.example>",
        "=?utf-8?q?week=0048=01?= [campaign 40123]",
        &[],
        "One file.",
        &[("a\u{1}.csv", SHEET_A.as_bytes())],
    ));
    let handled = e.run().await;
    assert_eq!(handled.len(), 2, "{handled:?}");
    assert_eq!(e.in_folder(Folder::Rejected), 1);
    assert_eq!(e.in_folder(Folder::Processed), 1);
    let subs = e.store.submissions_view(Some("acme"), None).await.unwrap();
    assert_eq!(subs.len(), 1);
    assert!(e.source.maildir().pending().unwrap().is_empty());
}
on_both_backends!(a_poison_subject_never_stops_the_intake);

/// SPEC §3.1 (r2) `max_attachments`: a message with more spreadsheets than that is refused whole,
/// with one reply; nothing is submitted.
async fn too_many_spreadsheets_get_one_reply(store: Store) {
    let e = env_with(
        store,
        false,
        Limits {
            max_attachments: 3,
            ..Limits::default()
        },
    )
    .await;
    let files: Vec<(String, &[u8])> = (0..4)
        .map(|i| (format!("f{i}.csv"), SHEET_A.as_bytes()))
        .collect();
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    e.deliver(&message(
        "Ana Admin <ana@acme-staffing.example>",
        "week 48 [campaign 40123]",
        &[],
        "Four files.",
        &files,
    ));
    let handled = e.run().await;
    assert_eq!(handled.len(), 1);
    assert!(e
        .store
        .submissions_view(Some("acme"), None)
        .await
        .unwrap()
        .is_empty());
    let sent = e.sent().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].kind, "command_reply");
    let reply = String::from_utf8_lossy(&e.raw_outbox(sent[0].id).await).to_string();
    assert!(reply.contains("4 spreadsheets"), "{reply}");
}
on_both_backends!(too_many_spreadsheets_get_one_reply);

/// The recipients of the digests of `kind` as scheduled (no `--to`), by message.
async fn digest_recipients(e: &Env, kind: agency_portal::settings::DigestKind) -> Vec<Vec<String>> {
    let request = agency_portal::digest::Request {
        kind,
        agency: None,
        to: None,
        at: chrono::Utc::now(),
    };
    agency_portal::digest::compose(
        &e.store,
        &the_directory(),
        &[],
        &support::composer(),
        &request,
    )
    .await
    .unwrap()
    .into_iter()
    .map(|m| m.recipients)
    .collect()
}

/// SPEC §7 (r2): digests carry List-Id and a mailto: List-Unsubscribe (no -Post) and are
/// auto-generated; `unsubscribe [kind]` and `subscribe [kind]` turn a person's digest off and on,
/// remembered in the database, each with an auto-replied reply; a recruiter may use them too.
async fn unsubscribe_and_subscribe_turn_a_persons_digest_off_and_on(store: Store) {
    use agency_portal::settings::DigestKind::{Agency, Owner, Recruiter};
    let e = env(store, false).await;
    let owners = vec![vec![
        "olivia@company.example".to_string(),
        "oscar@company.example".to_string(),
    ]];
    assert_eq!(digest_recipients(&e, Owner).await, owners);
    let digest = agency_portal::digest::compose(
        &e.store,
        &the_directory(),
        &[],
        &support::composer(),
        &agency_portal::digest::Request {
            kind: Owner,
            agency: None,
            to: None,
            at: chrono::Utc::now(),
        },
    )
    .await
    .unwrap();
    let raw = String::from_utf8(digest[0].bytes.clone()).unwrap();
    let head = raw.split("\r\n\r\n").next().unwrap().replace("\r\n ", " ");
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .map(str::to_string)
    };
    assert_eq!(header("Auto-Submitted").as_deref(), Some("auto-generated"));
    assert_eq!(
        header("List-Id").as_deref(),
        Some("Agency Portal owner digest <owner-digest.example.test>")
    );
    assert_eq!(
        header("List-Unsubscribe").as_deref(),
        Some("<mailto:portal@example.test?subject=unsubscribe%20owner>")
    );
    assert_eq!(header("List-Unsubscribe-Post"), None);
    // "Óscar" is one encoded-word of its own, never split inside the word.
    assert!(
        header("To")
            .unwrap()
            .contains("=?utf-8?b?w5NzY2Fy?= Ortega <oscar@company.example>"),
        "{head}"
    );

    e.deliver(&message(
        "Óscar Ortega <oscar@company.example>",
        "unsubscribe owner",
        &[],
        "",
        &[],
    ));
    e.deliver(&message(
        "Rick Recruiter <rick@company.example>",
        "Re: unsubscribe",
        &[],
        "",
        &[],
    ));
    e.deliver(&message(
        "Ana Admin <ana@acme-staffing.example>",
        "hi",
        &[],
        "unsubscribe agency",
        &[],
    ));
    e.deliver(&message(
        "Stranger <who@elsewhere.example>",
        "unsubscribe",
        &[],
        "",
        &[],
    ));
    assert_eq!(e.run().await.len(), 4);
    let replies = e.sent().await;
    assert_eq!(replies.len(), 3, "no reply to a stranger: {replies:?}");
    for r in &replies {
        assert_eq!(r.kind, "command_reply");
        let raw = e.raw_outbox(r.id).await;
        let msg = MessageParser::default().parse(&raw).unwrap();
        assert_eq!(
            msg.header_raw("Auto-Submitted").map(str::trim),
            Some("auto-replied")
        );
        assert!(
            msg.subject().unwrap().starts_with("Re: "),
            "{:?}",
            msg.subject()
        );
        let text = msg.body_text(0).unwrap();
        assert!(text.contains("no longer get"), "{text}");
    }
    assert_eq!(
        digest_recipients(&e, Owner).await,
        vec![vec!["olivia@company.example".to_string()]]
    );
    assert_eq!(
        digest_recipients(&e, Recruiter).await,
        vec![vec!["renata@company.example".to_string()]]
    );
    let agency: Vec<Vec<String>> = digest_recipients(&e, Agency).await;
    assert!(
        !agency
            .iter()
            .flatten()
            .any(|a| a == "ana@acme-staffing.example"),
        "{agency:?}"
    );
    assert!(agency
        .iter()
        .flatten()
        .any(|a| a == "marites@bayanihantalent.example"));

    e.deliver(&message(
        "Óscar Ortega <oscar@company.example>",
        "subscribe",
        &[],
        "",
        &[],
    ));
    assert_eq!(e.run().await.len(), 1);
    assert_eq!(digest_recipients(&e, Owner).await, owners);
    let last = e.sent().await.pop().unwrap();
    let raw = e.raw_outbox(last.id).await;
    let msg = MessageParser::default().parse(&raw).unwrap();
    assert!(msg.body_text(0).unwrap().contains("again"));
}
on_both_backends!(unsubscribe_and_subscribe_turn_a_persons_digest_off_and_on);
