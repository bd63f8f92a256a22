//! `agency-portal demo` (SPEC §10): the whole product with zero setup.
//!
//! It lays out a fresh folder (default `var/demo/`): settings on the embedded defaults (SQLite
//! `demo.db`, a Maildir `mailbox/`, drop folders `drop/`, a file outbox `outbox/`), the shipped
//! sample directory (compiled in, so the demo works from any folder), a company export imported as
//! `import-existing` does, sample emails delivered into the Maildir and sample files dropped into
//! two agencies' folders. Then it runs the pipeline once — [`crate::daemon::once`], exactly what
//! `run --once` runs — and prints a summary per submission with every outcome code, the rows that
//! were not `new` and why, and where the receipts are.
//!
//! The samples are made so that together they produce every outcome of SPEC §6.4: `new`,
//! `previously_submitted`, `duplicate`, `blocked`, `review`, `repeated` and `invalid`; plus a
//! command email (`campaigns`, answered) and a message from an unknown sender (rejected, no reply).
//! Everything is deterministic: running the demo again gives the same output.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::app::{App, BadInput};
use crate::intake::mailbox::maildir::Maildir;
use crate::intake::pipeline::{self, Input};
use crate::settings::{self, MailboxKind, Settings, Transport};
use crate::submission::Channel;

mod report;

/// Where the demo lays itself out unless `--dir` says otherwise (relative to the current folder).
pub const DEFAULT_DIR: &str = "var/demo";

/// Written into the demo folder: only a folder holding it (or an empty one) is ever deleted.
const MARKER: &str = ".agency-portal-demo";

/// The shipped sample directory and the logo it names.
const DIRECTORY: &str = include_str!("../config/directory.toml");
const ACME_LOGO: &[u8] = include_bytes!("../config/logos/acme.png");

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The folder to lay the demo out in. It is deleted and re-created: it must be empty, missing,
    /// or a folder an earlier demo made.
    #[arg(long, default_value = DEFAULT_DIR)]
    pub dir: PathBuf,
}

const SETTINGS: &str = r#"# Settings written by `agency-portal demo` (SPEC §3.1, §10). Everything the demo uses lives in
# this folder; `agency-portal demo` deletes and re-creates it. Relative paths resolve against this folder.
# Look around with, e.g.:  agency-portal --config <this file> submissions

[database]
url = "sqlite://demo.db"

[directory]
path = "directory.toml"           # a copy of the shipped config/directory.toml

[intake.mailbox]
kind = "maildir"
path = "mailbox"                  # the sample emails were delivered into mailbox/new/
address = "portal@example.test"
require_auth = false

[intake.drop]
path = "drop"                     # drop/<agency-id>/, drop/<agency-id>/<campaign-id>/, results/, processed/, failed/
settle_ms = 0                     # the demo's files are complete before the pipeline runs

[mail]
from = "Agency Portal <portal@example.test>"
transport = "file"
path = "outbox"                   # one <outbox id>.eml per message we send

[policy]
ownership_days = 180
scope = "company"
name_similarity = 0.92

# No [[digests]] schedule: whether a scheduled digest is due would depend on the time of day. The demo
# writes previews of the owner, agency and recruiter digests into digests/ instead (`digest preview`).

[http]
listen = ""
"#;

/// The company's own candidates (a Talkpush export): agencies' rows for them are `blocked`.
const COMPANY_EXPORT: &str = "First Name,Last Name,Email,Phone,Campaign\r\n\
    Rosa,Villanueva,rosa.villanueva@gmail.com,0917 555 0101,40123\r\n\
    Miguel,Torres,miguel.torres@yahoo.com,0917 555 0102,40124\r\n";

/// A cell of a sample workbook.
enum Cell {
    Text(&'static str),
    /// A number, as Excel keeps a phone number typed without its leading zero.
    Number(f64),
}

/// Acme's first file (by email, campaign 40123 from the subject tag): new, new (a phone Excel
/// turned into a number, repaired), blocked (in the company's export), new, repeated (row 2 again),
/// invalid (a broken email and no phone, which campaign 40123 requires).
fn acme_workbook() -> anyhow::Result<Vec<u8>> {
    use Cell::{Number as N, Text as T};
    let rows: [[Cell; 4]; 7] = [
        [T("First Name"), T("Last Name"), T("Email"), T("Mobile")],
        [
            T("Maria"),
            T("Santos"),
            T("maria.santos@gmail.com"),
            T("0917 123 4567"),
        ],
        [
            T("Juan"),
            T("Dela Cruz"),
            T("juan.delacruz@yahoo.com"),
            N(9_182_345_678.0),
        ],
        [
            T("Rosa"),
            T("Villanueva"),
            T("rosa.villanueva@gmail.com"),
            T("0917 555 0101"),
        ],
        [
            T("Carmela"),
            T("Bautista"),
            T("carmela.bautista@gmail.com"),
            T("0919 345 6789"),
        ],
        [
            T("Maria"),
            T("Santos"),
            T("maria.santos@gmail.com"),
            T("0917 123 4567"),
        ],
        [T("Pedro"), T("Reyes"), T("pedro.reyes@"), T("")],
    ];
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Candidates")?;
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (r as u32, c as u16);
            match cell {
                Cell::Text("") => {}
                Cell::Text(s) => {
                    ws.write_string(r, c, *s)?;
                }
                Cell::Number(n) => {
                    ws.write_number(r, c, *n)?;
                }
            }
        }
    }
    ws.set_column_width(2, 30)?;
    Ok(wb.save_to_buffer()?)
}

/// Acme's second file (by an editor, campaign 40124): Maria again → previously_submitted; a "Full
/// Name" column split in two, phone written three ways.
const ACME_MORE: &str = "Full Name,E-mail Address,Contact No.\r\n\
    Maria Santos,maria.santos@gmail.com,+63 917 123 4567\r\n\
    Jose Mendoza,jose.mendoza@gmail.com,(0920) 456-7890\r\n";

/// Bayanihan's drop-folder file (in `40123/`): Juan, whom Acme owns → duplicate; Carmela with a
/// transposed email and another phone → review (similar name, email one swap away); a new person;
/// a broken email without a phone → invalid.
const BAYANIHAN_BATCH: &str = "First Name,Last Name,Email,Mobile\r\n\
    Juan,Dela Cruz,juan.delacruz@yahoo.com,0918 234 5678\r\n\
    Carmela,Bautista,carmela.bautsita@gmail.com,0927 111 2222\r\n\
    Ramon,Garcia,ramon.garcia@outlook.com,0921 567 8901\r\n\
    Nina,Cruz,nina.cruz@@mail,\r\n";

/// Talento Azteca's drop-folder file (in `50210/`): Spanish headers, `;` as Excel writes it in a
/// Spanish locale, Latin-1 free UTF-8 with accents; a row repeated and one to fix, whose reasons
/// its receipt gives in Spanish (the agency's language).
const TALENTO_CANDIDATOS: &str = "Nombre;Apellido;Correo;Celular\r\n\
    Fernanda;López;fernanda.lopez@hotmail.com;55 1234 5678\r\n\
    Diego;Ramírez;diego.ramirez@gmail.com;33 1234 5678\r\n\
    Fer;López;Fernanda.Lopez@hotmail.com;\r\n\
    Rosa;;rosa.martinez@gmail;55 12\r\n";

/// One sample email: its Maildir file name fixes the order they are handled in.
struct Email {
    from: &'static str,
    subject: &'static str,
    body: &'static str,
    attachments: Vec<(&'static str, &'static str, Vec<u8>)>,
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn emails() -> anyhow::Result<Vec<Email>> {
    Ok(vec![
        Email {
            from: "Ana Admin <ana@acme-staffing.example>",
            subject: "Candidates for Customer Service Manila [campaign 40123]",
            body: "Hi, here are this week's candidates.\r\n\r\nAna",
            attachments: vec![("acme-candidates.xlsx", XLSX, acme_workbook()?)],
        },
        Email {
            from: "Eddie Editor <eddie@acme-staffing.example>",
            subject: "Two more for Cebu [campaign 40124]",
            body: "Two more, thanks!",
            attachments: vec![("acme-more.csv", "text/csv", ACME_MORE.as_bytes().to_vec())],
        },
        Email {
            from: "Marites Dela Cruz <marites@bayanihantalent.example>",
            subject: "campaigns",
            body: "",
            attachments: vec![],
        },
        Email {
            from: "Someone <jobs@unknown-agency.example>",
            subject: "Our candidates",
            body: "Please register these people.",
            attachments: vec![(
                "ours.csv",
                "text/csv",
                b"First Name,Last Name,Phone\r\nAlex,Lim,0917 999 0000\r\n".to_vec(),
            )],
        },
    ])
}

/// The files dropped into agencies' folders: (path under the drop folder, bytes).
fn drops() -> Vec<(&'static str, &'static [u8])> {
    vec![
        (
            "bayanihan/40123/bayanihan-batch.csv",
            BAYANIHAN_BATCH.as_bytes(),
        ),
        (
            "talento-mx/50210/candidatos.csv",
            TALENTO_CANDIDATOS.as_bytes(),
        ),
    ]
}

/// The raw RFC 5322 message; attachments base64. The Message-ID is fixed (`n`), so the message is
/// the same one in every demo.
fn raw_message(n: usize, email: &Email, date: &str) -> Vec<u8> {
    let boundary = format!("demo-boundary-{n}");
    let mut m = String::new();
    let _ = write!(
        m,
        "From: {}\r\nTo: Agency Portal <portal@example.test>\r\nSubject: {}\r\n\
         Message-ID: <demo-{n}@agency-portal.demo>\r\nDate: {date}\r\nMIME-Version: 1.0\r\n",
        email.from, email.subject
    );
    if email.attachments.is_empty() {
        let _ = write!(
            m,
            "Content-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
            email.body
        );
    } else {
        let _ = write!(
            m,
            "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
            email.body
        );
        for (name, mime, bytes) in &email.attachments {
            let _ = write!(
                m,
                "--{boundary}\r\nContent-Type: {mime}; name=\"{name}\"\r\n\
                 Content-Disposition: attachment; filename=\"{name}\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
                crate::mail::message::base64_lines(bytes)
            );
        }
        let _ = write!(m, "--{boundary}--\r\n");
    }
    m.into_bytes()
}

/// Deletes and re-creates the demo folder — only an empty one or one an earlier demo made.
fn fresh_folder(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let is_demo = dir.join(MARKER).is_file();
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !dir.is_dir() || !(is_demo || empty) {
            return Err(BadInput(format!(
                "{} exists and was not made by `agency-portal demo`: the demo deletes its folder \
                 before every run, so give it an empty or new one with --dir",
                dir.display()
            ))
            .into());
        }
        std::fs::remove_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot delete the old demo {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir.join("logos"))
        .map_err(|e| BadInput(format!("cannot create {}: {e}", dir.display())))?;
    std::fs::write(
        dir.join(MARKER),
        "made by `agency-portal demo`, which deletes this folder on its next run\n",
    )?;
    Ok(())
}

/// The settings the demo runs on: its own file, with what matters pinned to the demo folder even
/// when `DATABASE_URL` or `AGENCY_PORTAL__…` variables are set (the demo never touches a real
/// database, mailbox or mail server).
fn demo_settings(dir: &Path) -> anyhow::Result<Settings> {
    let file = dir.join("agency-portal.toml");
    std::fs::write(&file, SETTINGS)?;
    let overridden = std::env::var_os("DATABASE_URL").is_some()
        || std::env::vars_os().any(|(k, _)| k.to_string_lossy().starts_with("AGENCY_PORTAL__"));
    if overridden {
        tracing::warn!(
            "the demo ignores DATABASE_URL and AGENCY_PORTAL__* for its database, mailbox, drop \
             folder, outgoing mail, digests and HTTP: it only uses {}",
            dir.display()
        );
    }
    let mut s = settings::load(&file)?;
    s.database.url = format!("sqlite://{}", dir.join("demo.db").display());
    s.directory.path = dir.join("directory.toml");
    s.intake.mailbox.kind = MailboxKind::Maildir;
    s.intake.mailbox.path = dir.join("mailbox");
    s.intake.mailbox.require_auth = false;
    s.intake.drop.path = dir.join("drop");
    s.intake.drop.settle_ms = 0;
    s.mail.transport = Transport::File;
    s.mail.path = dir.join("outbox");
    s.digests.clear();
    s.http.listen.clear();
    Ok(s)
}

/// `agency-portal demo [--dir DIR]`.
pub async fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let dir = args.dir.as_path();
    fresh_folder(dir)?;
    std::fs::write(dir.join("directory.toml"), DIRECTORY)?;
    std::fs::write(dir.join("logos/acme.png"), ACME_LOGO)?;
    let settings = demo_settings(dir)?;
    let app = App::with_settings(settings).await?;
    let result = demo(&app, dir).await;
    app.store.close().await;
    let text = result?;
    print!("{text}");
    Ok(())
}

/// Lays out the inputs, runs the pipeline once, and returns what to print.
async fn demo(app: &App, dir: &Path) -> anyhow::Result<String> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "agency-portal demo: a fresh {}/ on the embedded defaults (SQLite, Maildir, drop folders, file outbox)",
        show(dir)
    );
    let laid = lay_out(app, dir).await?;
    let _ = writeln!(out, "\nLaid out:");
    pairs(&mut out, &laid);

    // Exactly `run --once`.
    let run = crate::daemon::once(app).await?;
    let _ = writeln!(
        out,
        "\nRan the pipeline once (the code of `agency-portal run --once`): {} messages handled, \
         {} files taken; outbox: {} sent, {} to retry later, {} failed",
        run.messages,
        run.files.len(),
        run.sent,
        run.send_later,
        run.send_failed
    );
    report::write(app, dir, &run, &mut out).await?;
    Ok(out)
}

/// A path as printed.
fn show(p: &Path) -> String {
    p.display().to_string()
}

/// Lays out the inputs: the company's own candidates (imported), sample emails in the Maildir and
/// sample files in agencies' drop folders. Returns (path, what it is) of each, with the settings
/// and the directory.
async fn lay_out(app: &App, dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    // The company's own candidates, as `import-existing` loads them.
    let export = dir.join("company-export.csv");
    std::fs::write(&export, COMPANY_EXPORT)?;
    let imported = import(app, &export).await?;
    let mut laid = vec![
        (
            show(&dir.join("agency-portal.toml")),
            "settings: SQLite demo.db, Maildir mailbox/, drop folders drop/, file outbox outbox/"
                .to_string(),
        ),
        (
            show(&dir.join("directory.toml")),
            format!(
                "the sample directory: {} agencies, {} campaigns, {} owners, {} recruiters",
                app.directory.agencies.len(),
                app.directory.campaigns.len(),
                app.directory.owners.len(),
                app.directory.recruiters.len()
            ),
        ),
        (
            show(&export),
            format!("the company's own candidates: {imported} imported (import-existing)"),
        ),
    ];
    deliver_emails(app, &mut laid)?;
    // Sample files into agencies' drop folders.
    for (path, bytes) in drops() {
        let target = app.settings.intake.drop.path.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, bytes)?;
        laid.push((show(&target), "an agency's SFTP upload".into()));
    }
    Ok(laid)
}

/// Delivers the sample emails into the Maildir, in a fixed order (the file names sort as
/// delivered), each added to `laid`.
fn deliver_emails(app: &App, laid: &mut Vec<(String, String)>) -> anyhow::Result<()> {
    let maildir = Maildir::open(&app.settings.intake.mailbox.path)?;
    let date = chrono::Utc::now().to_rfc2822();
    for (i, email) in emails()?.iter().enumerate() {
        let n = i + 1;
        let name = format!("1000000000.demo-{n:02}.agency-portal");
        let tmp = maildir.root().join("tmp").join(&name);
        std::fs::write(&tmp, raw_message(n, email, &date))?;
        let new = maildir.root().join("new").join(&name);
        std::fs::rename(&tmp, &new)?;
        let what = if email.attachments.is_empty() {
            "(a command)".to_string()
        } else {
            let names: Vec<&str> = email.attachments.iter().map(|a| a.0).collect();
            format!("+ {}", names.join(", "))
        };
        laid.push((
            show(&new),
            format!(
                "email from {}: \"{}\" {what}",
                address_of(email.from),
                email.subject
            ),
        ));
    }
    Ok(())
}

/// Two aligned columns, indented.
fn pairs(out: &mut String, items: &[(String, String)]) {
    let width = items
        .iter()
        .map(|(a, _)| a.chars().count())
        .max()
        .unwrap_or(0);
    for (a, b) in items {
        let _ = writeln!(out, "  {a:<width$}  {b}");
    }
}

/// `import-existing` of the company export: how many people it added.
async fn import(app: &App, file: &Path) -> anyhow::Result<usize> {
    let input = Input {
        file_name: "company-export.csv".into(),
        bytes: std::fs::read(file)?,
        agency_id: String::new(),
        user_email: None,
        default_campaign: None,
        company_country: Some("PH".into()),
        channel: Channel::Import,
        sender: String::new(),
        check_only: false,
        source_ref: None,
        received_at: crate::clock::now(),
        receipt: None,
    };
    match crate::cli::ingest::pipeline(app)
        .process(input, None)
        .await?
    {
        pipeline::Result::Processed(p) => Ok(p.counts()[0] as usize),
        pipeline::Result::AlreadyProcessed { .. } => Ok(0),
        pipeline::Result::Unreadable { reason, .. } => {
            Err(anyhow::anyhow!("the demo's company export: {reason}"))
        }
    }
}

/// `Name <address>` → `address`.
fn address_of(from: &str) -> &str {
    match (from.find('<'), from.rfind('>')) {
        (Some(a), Some(b)) if a < b => &from[a + 1..b],
        _ => from,
    }
}

/// The value of the first header `name` of a raw message (unfolded, not decoded).
fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let prefix = format!("{}:", name.to_ascii_lowercase());
    head.split("\r\n")
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_addresses() {
        let raw = b"From: a@b\r\nX-Agency-Portal-Submission: 12\r\n\r\nbody";
        assert_eq!(
            header(raw, "x-agency-portal-submission").as_deref(),
            Some("12")
        );
        assert_eq!(header(raw, "Subject"), None);
        assert_eq!(
            address_of("Ana <ana@acme-staffing.example>"),
            "ana@acme-staffing.example"
        );
        assert_eq!(address_of("x@y.z"), "x@y.z");
    }

    #[test]
    fn refuses_a_folder_it_did_not_make() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("precious.txt"), "keep me").unwrap();
        assert!(fresh_folder(dir.path()).is_err());
        assert!(dir.path().join("precious.txt").is_file());
        let demo = dir.path().join("demo");
        fresh_folder(&demo).unwrap();
        std::fs::write(demo.join("x"), "").unwrap();
        fresh_folder(&demo).unwrap();
        assert!(!demo.join("x").exists());
    }
}
