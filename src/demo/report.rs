//! What the demo prints after its run: every submission with its outcome counts, the rows that
//! were not `new` and why, and where the receipts, result files, digests and the rest are.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{header, pairs, show};
use crate::app::App;
use crate::daemon::OnceReport;
use crate::digest::Request;
use crate::i18n::Lang;
use crate::intake::pipeline;
use crate::outcome::Outcome;
use crate::settings::DigestKind;
use crate::store::outbox::OutboxRow;
use crate::store::people::SubmissionView;
use crate::submission::Channel;

/// A receipt in the outbox: (submission, where its `.eml` is, recipients, the message).
type Receipt = (i64, PathBuf, String, Vec<u8>);

/// A receipt to show the beginning of: (where it is, its language, the message).
type Translated<'a> = Option<(String, Lang, &'a [u8])>;

/// Writes what happened in the run (`run`) to `out`.
pub(super) async fn write(
    app: &App,
    dir: &Path,
    run: &OnceReport,
    out: &mut String,
) -> anyhow::Result<()> {
    let mut subs = app.store.submissions_view(None, None).await?;
    subs.retain(|s| s.channel != Channel::Import.as_str());
    subs.sort_by_key(|s| s.id);
    submissions_table(&subs, out);
    not_new(app, &subs, out).await?;

    let rows = app.store.outbox_rows().await?;
    let receipts = receipts(app, &rows).await?;
    let mut where_ = Vec::new();
    let translated = per_submission(app, run, &subs, &receipts, &mut where_);
    elsewhere(app, &rows, &mut where_);
    digests(app, dir, &mut where_).await?;
    let _ = writeln!(
        out,
        "\nReceipts and the rest (the .eml files open in any mail program):"
    );
    pairs(out, &where_);
    if let Some((path, lang, bytes)) = translated {
        let _ = writeln!(
            out,
            "\nThe beginning of the receipt in {} ({path}):",
            lang.english_name()
        );
        out.push_str(&excerpt(bytes, 12));
    }
    look_further(dir, out);
    Ok(())
}

/// Every submission with its rows by outcome, and the totals.
fn submissions_table(subs: &[SubmissionView], out: &mut String) {
    let mut headers = vec!["#", "channel", "agency", "file", "rows"];
    headers.extend(Outcome::ALL.iter().map(|o| o.as_str()));
    let mut total = [0u64; 7];
    let mut total_rows = 0;
    let mut cells = Vec::new();
    for s in subs {
        let mut row = vec![
            s.id.to_string(),
            s.channel.clone(),
            s.agency.clone().unwrap_or_default(),
            s.file.clone(),
            s.rows.to_string(),
        ];
        for (i, o) in Outcome::ALL.iter().enumerate() {
            let n = s
                .counts
                .get(o.as_str())
                .and_then(|v| v.as_u64())
                .unwrap_or(0);
            total[i] += n;
            row.push(n.to_string());
        }
        total_rows += s.rows;
        cells.push(row);
    }
    let mut last = vec![
        String::new(),
        "total".into(),
        String::new(),
        String::new(),
        total_rows.to_string(),
    ];
    last.extend(total.iter().map(u64::to_string));
    cells.push(last);
    let _ = writeln!(
        out,
        "\nSubmissions (each spreadsheet is one; every row gets exactly one outcome):"
    );
    out.push_str(&crate::views::table(&headers, &cells));
    let _ = writeln!(out, "\nall outcomes: {}", pipeline::counts_line(&total));
}

/// The rows that were not `new`, and why.
async fn not_new(app: &App, subs: &[SubmissionView], out: &mut String) -> anyhow::Result<()> {
    let mut attention = Vec::new();
    for s in subs {
        for r in app.store.recorded_outcomes(s.id).await? {
            if r.outcome != Outcome::New {
                attention.push(vec![
                    s.file.clone(),
                    r.number.to_string(),
                    r.outcome.as_str().to_string(),
                    r.reason.english(),
                ]);
            }
        }
    }
    if !attention.is_empty() {
        let _ = writeln!(out, "\nRows that were not new, and why:");
        out.push_str(&crate::views::table(
            &["file", "row", "outcome", "reason"],
            &attention,
        ));
    }
    Ok(())
}

/// The receipts in the outbox, each with the submission it answers.
async fn receipts(app: &App, rows: &[OutboxRow]) -> anyhow::Result<Vec<Receipt>> {
    let outbox_dir = &app.settings.mail.path;
    let mut receipts = Vec::new();
    for r in rows.iter().filter(|r| r.kind == "receipt") {
        let bytes = app.store.outbox_message(r.id).await?.unwrap_or_default();
        let submission = header(&bytes, "X-Agency-Portal-Submission")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(0);
        receipts.push((
            submission,
            outbox_dir.join(format!("{}.eml", r.id)),
            r.recipients.join(", "),
            bytes,
        ));
    }
    Ok(receipts)
}

/// Where each submission's receipts, result files and input are, added to `where_`. Returns the
/// first receipt in another language than English, to show after the list.
fn per_submission<'r>(
    app: &App,
    run: &OnceReport,
    subs: &[SubmissionView],
    receipts: &'r [Receipt],
    where_: &mut Vec<(String, String)>,
) -> Translated<'r> {
    let mut translated: Translated<'r> = None;
    for s in subs {
        let what = format!("#{} {}", s.id, s.file);
        let attached = attached(s);
        let lang = s
            .agency
            .as_deref()
            .and_then(|a| app.directory.agency(a))
            .map(|a| a.language)
            .unwrap_or_default();
        for (_, path, to, bytes) in receipts.iter().filter(|r| r.0 == s.id) {
            let in_lang = match lang {
                Lang::En => String::new(),
                l => format!(", in {}, the agency's language", l.english_name()),
            };
            where_.push((
                show(path),
                format!("{what}: receipt mail to {to}{attached}{in_lang}"),
            ));
            if lang != Lang::En && translated.is_none() {
                translated = Some((show(path), lang, bytes));
            }
        }
        if let Some(f) = run.files.iter().find(|f| f.submission_id == Some(s.id)) {
            let agency_dir = app.settings.intake.drop.path.join(&f.agency_id);
            for r in &f.results {
                let kind = if r.ends_with("-to-fix.xlsx") {
                    "the invalid rows with their reasons, to correct and upload again"
                } else {
                    "every row with its outcome, reason and candidate ID"
                };
                where_.push((show(&agency_dir.join(r)), format!("{what}: {kind}")));
            }
            where_.push((
                show(&agency_dir.join("processed")),
                format!("{what}: the input, renamed <UTC time>-{}", f.file_name),
            ));
        }
    }
    translated
}

/// What an emailed submission's receipt has attached.
fn attached(s: &SubmissionView) -> &'static str {
    if s.channel != Channel::Email.as_str() {
        return "";
    }
    let fix = s
        .counts
        .get(Outcome::Invalid.as_str())
        .and_then(|v| v.as_u64())
        .is_some_and(|n| n > 0);
    if fix {
        " (results and to-fix workbooks attached)"
    } else {
        " (results workbook attached)"
    }
}

/// The rest of the outbox, and the messages handled, rejected or failed in the mailbox.
fn elsewhere(app: &App, rows: &[OutboxRow], where_: &mut Vec<(String, String)>) {
    let count = |kind: &str| rows.iter().filter(|r| r.kind == kind).count();
    where_.push((
        format!("{}/", show(&app.settings.mail.path)),
        format!(
            "also {} invitations (one per user of an active agency) and {} command reply (`campaigns`)",
            count("invitation"),
            count("command_reply")
        ),
    ));
    let mailbox = &app.settings.intake.mailbox.path;
    for (folder, what) in [
        (".Processed", "handled"),
        (".Rejected", "rejected without a reply (unknown sender)"),
        (".Failed", "failed"),
    ] {
        let cur = mailbox.join(folder).join("cur");
        let n = std::fs::read_dir(&cur).map(|d| d.count()).unwrap_or(0);
        if n > 0 {
            where_.push((format!("{}/", show(&cur)), format!("{n} message(s) {what}")));
        }
    }
}

/// The dashboard by email: digests as they would be sent now, written to `digests/`.
async fn digests(app: &App, dir: &Path, where_: &mut Vec<(String, String)>) -> anyhow::Result<()> {
    let digests = dir.join("digests");
    std::fs::create_dir_all(&digests)?;
    for (kind, agency, to, file) in [
        (DigestKind::Owner, None, None, "owner.eml"),
        (DigestKind::Agency, Some("acme"), None, "agency-acme.eml"),
        (
            DigestKind::Agency,
            Some("talento-mx"),
            None,
            "agency-talento-mx.eml",
        ),
        (
            DigestKind::Recruiter,
            None,
            Some("rick@company.example"),
            "recruiter-rick.eml",
        ),
    ] {
        let request = Request {
            kind,
            agency: agency.map(String::from),
            to: to.map(String::from),
            at: crate::clock::now(),
        };
        let messages = crate::digest::compose(
            &app.store,
            &app.directory,
            &app.settings.digests,
            &app.composer,
            &request,
        )
        .await?;
        if let Some(m) = messages.first() {
            let path = digests.join(file);
            std::fs::write(&path, &m.bytes)?;
            where_.push((
                show(&path),
                format!(
                    "{} digest as it would be sent now, to {}",
                    kind.as_str(),
                    m.recipients.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// The commands to look further with.
fn look_further(dir: &Path, out: &mut String) {
    let config = show(&dir.join("agency-portal.toml"));
    let _ = writeln!(out, "\nLook further:");
    let next: Vec<(String, String)> = [
        ("submissions", "every submission with its counts"),
        ("candidates", "who owns whom"),
        (
            "review list",
            "the row waiting for an owner (review accept|reject ROW-ID)",
        ),
        (
            "digest preview --kind owner",
            "the owners' dashboard, as text",
        ),
        (
            "run",
            "the daemon: drop a spreadsheet into drop/acme/ or a message into mailbox/new/",
        ),
    ]
    .into_iter()
    .map(|(cmd, what)| {
        (
            format!("agency-portal --config {config} {cmd}"),
            what.into(),
        )
    })
    .collect();
    pairs(out, &next);
}

/// The first `lines` lines of a message's text part, indented.
fn excerpt(raw: &[u8], lines: usize) -> String {
    let text = mail_parser::MessageParser::default()
        .parse(raw)
        .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
        .unwrap_or_default();
    let mut out = String::new();
    for l in text.lines().take(lines) {
        let _ = writeln!(out, "  | {l}");
    }
    out
}
