//! `config check` of the settings file's text: every problem that can be pointed at, with its
//! line and column.

use std::path::Path;

use crate::check::{Checker, Problem, Problems};
use crate::schedule::Schedule;
use crate::spanned::{Document, Value};

/// Every problem of the settings file that can be pointed at: unknown keys, values outside their
/// choices, and digest schedules and timezones (SPEC §3.2).
/// `path` names the file in the problems.
pub fn check_text(text: String, path: &Path) -> Result<(), Problems> {
    let doc = Document::parse(text, path).map_err(|e| {
        Problems(vec![Problem {
            file: path.display().to_string(),
            line: e.line,
            column: e.column,
            message: e.message,
        }])
    })?;
    let mut c = Checker::new(&doc);
    let root = &doc.root;
    c.known_keys(
        root,
        "the settings",
        &[
            "database",
            "directory",
            "intake",
            "mail",
            "policy",
            "limits",
            "digests",
            "http",
            "talkpush",
        ],
    );
    let section = |name: &str| root.get(name).map(|e| &e.node);
    let secret_keys = [
        "host",
        "port",
        "tls",
        "username",
        "password",
        "password_env",
        "auth",
        "token_command",
        "token_file",
    ];
    if let Some(t) = section("database") {
        c.known_keys(t, "[database]", &["url"]);
    }
    if let Some(t) = section("directory") {
        c.known_keys(t, "[directory]", &["path"]);
    }
    if let Some(intake) = section("intake") {
        c.known_keys(intake, "[intake]", &["mailbox", "drop"]);
        if let Some(t) = intake.get("mailbox").map(|e| &e.node) {
            let mut known = vec![
                "kind",
                "path",
                "folder",
                "processed_folder",
                "rejected_folder",
                "failed_folder",
                "address",
                "require_auth",
                "authserv_id",
                "check_ms",
            ];
            known.extend(secret_keys);
            c.known_keys(t, "[intake.mailbox]", &known);
            c.choice(t, "kind", &["maildir", "imap", "none"]);
            c.choice(t, "tls", &["none", "starttls", "implicit"]);
            c.choice(t, "auth", &["password", "xoauth2", "oauthbearer"]);
        }
        if let Some(t) = intake.get("drop").map(|e| &e.node) {
            c.known_keys(
                t,
                "[intake.drop]",
                &[
                    "path",
                    "settle_ms",
                    "sftp_host",
                    "sftp_port",
                    "authorized_keys",
                ],
            );
        }
    }
    if let Some(t) = section("mail") {
        let mut known = vec!["from", "transport", "path", "timeout_secs"];
        known.extend(secret_keys);
        c.known_keys(t, "[mail]", &known);
        c.choice(t, "transport", &["file", "smtp"]);
        c.choice(t, "tls", &["none", "starttls", "implicit"]);
        c.choice(t, "auth", &["password", "xoauth2", "oauthbearer", "none"]);
    }
    if let Some(t) = section("policy") {
        c.known_keys(
            t,
            "[policy]",
            &["ownership_days", "scope", "name_similarity"],
        );
        c.choice(t, "scope", &["company", "campaign"]);
        if let Some(e) = t.get("name_similarity") {
            let ok = match e.node.value {
                Value::Float(f) => (0.0..=1.0).contains(&f),
                Value::Integer(i) => (0..=1).contains(&i),
                _ => false,
            };
            if !ok {
                c.report(
                    &e.node.span,
                    "`name_similarity` must be a number from 0 to 1, e.g. 0.92",
                );
            }
        }
    }
    if let Some(t) = section("limits") {
        c.known_keys(
            t,
            "[limits]",
            &[
                "max_file_bytes",
                "max_rows",
                "max_cells",
                "max_unpacked_bytes",
                "max_attachments",
            ],
        );
    }
    if let Some(t) = section("http") {
        c.known_keys(t, "[http]", &["listen"]);
    }
    if let Some(t) = section("talkpush") {
        super::talkpush::check(&mut c, t);
    }
    for d in c.tables(root, "digests") {
        c.known_keys(d, "a [[digests]] entry", &["kind", "schedule", "timezone"]);
        c.choice(d, "kind", &["agency", "owner", "recruiter"]);
        if let Some((expr, span)) = c.string(d, "schedule", "a digest", true) {
            if let Err(e) = Schedule::parse_cron(&expr) {
                c.report(span, e.to_string());
            }
        }
        if let Some((tz, span)) = c.string(d, "timezone", "a digest", false) {
            if let Err(e) = Schedule::parse_timezone(&tz) {
                c.report(span, e.to_string());
            }
        }
    }
    c.finish()
}
