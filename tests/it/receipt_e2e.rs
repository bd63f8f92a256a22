//! Issue 5, acceptance 1, from the command line: an agency user's file goes through `ingest`; the
//! receipt written in the submission's transaction is sent by `outbox flush` through the private
//! OpenSMTPD into that user's Dovecot mailbox, and read back over IMAP.

use crate::support;

use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use calamine::Reader;
use mail_parser::{MessageParser, MimeHeaders};
use support::mail::{mail_env, smtp_lock, wait_for_mail};

fn outcomes(xlsx: &[u8]) -> Vec<String> {
    let mut wb = calamine::Xlsx::new(Cursor::new(xlsx.to_vec())).unwrap();
    let range = wb.worksheet_range_at(0).unwrap().unwrap();
    let header: Vec<String> = range
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let col = header.iter().position(|h| h == "Outcome").unwrap();
    range.rows().skip(1).map(|r| r[col].to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingested_file_is_answered_by_a_receipt_in_the_users_mailbox() {
    let _lock = smtp_lock(false);
    let env = mail_env();
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::write(
        dir.path().join("agency-portal.toml"),
        format!(
            "[database]\nurl = \"sqlite://portal.db\"\n[directory]\npath = \"directory.toml\"\n\
             [mail]\nfrom = \"Agency Portal <portal@example.test>\"\ntransport = \"smtp\"\n\
             host = \"{}\"\nport = {}\ntls = \"none\"\ntimeout_secs = 10\n",
            env.smtp_host, env.smtp_port
        ),
    )
    .unwrap();
    // The shipped templates, one folder per language.
    for lang in std::fs::read_dir(repo.join("config/templates")).unwrap() {
        let lang = lang.unwrap();
        let to = dir.path().join("templates").join(lang.file_name());
        std::fs::create_dir_all(&to).unwrap();
        for t in std::fs::read_dir(lang.path()).unwrap() {
            let t = t.unwrap();
            std::fs::copy(t.path(), to.join(t.file_name())).unwrap();
        }
    }
    std::fs::write(
        dir.path().join("directory.toml"),
        format!(
            "[[owners]]\nemail = \"olivia@co-{tag}.test\"\nname = \"Olivia\"\n\n\
             [[agencies]]\nid = \"acme\"\nname = \"Acme Staffing\"\ncountry = \"PH\"\n\
             added_by = \"olivia@co-{tag}.test\"\n\n  [[agencies.users]]\n  email = \"ana@acme-{tag}.test\"\n\
             \x20 name = \"Ana Admin\"\n  role = \"admin\"\n\n\
             [[campaigns]]\nid = \"40123\"\nname = \"Customer Service Manila\"\ncountry = \"PH\"\n\
             created_by = \"olivia@co-{tag}.test\"\n"
        ),
    )
    .unwrap();
    let file = dir.path().join("week 48.csv");
    std::fs::write(
        &file,
        "First Name,Last Name,Email,Mobile\n\
         Ana,Cruz,ana.cruz@gmail.com,0917 123 4567\n\
         Ben,Reyes,ben.reyes@gmail.com,0918 765 4321\n\
         Ana,Cruz,ana.cruz@gmail.com,\n\
         Carl,Dee,not-an-email,\n",
    )
    .unwrap();
    let portal = || {
        let mut c = support::portal(&dir.path().join("agency-portal.toml"));
        c.env("AGENCY_PORTAL_LOG", "error");
        c
    };
    let ana = format!("ana@acme-{tag}.test");
    let out = portal()
        .args(["ingest", "--agency", "acme", "--user", &ana, "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let submission = j["submission_id"].as_i64().unwrap();
    let out = portal().args(["outbox", "flush"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("2 sent"),
        "invitation and receipt: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    let mails = wait_for_mail(&ana, 2, Duration::from_secs(30)).await;
    let parsed: Vec<_> = mails
        .iter()
        .map(|m| MessageParser::default().parse(m).unwrap())
        .collect();
    let r = parsed
        .iter()
        .find(|m| m.header_raw("X-Agency-Portal-Submission").is_some())
        .expect("the receipt arrived");
    assert_eq!(
        r.header_raw("X-Agency-Portal-Submission").map(str::trim),
        Some(submission.to_string().as_str())
    );
    assert_eq!(
        r.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-replied")
    );
    let text = r.body_text(0).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        "new 2, previously_submitted 0, duplicate 0, blocked 0, review 0, repeated 1, invalid 1"
    );
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
    assert_eq!(names, ["week 48-results.xlsx", "week 48-to-fix.xlsx"]);
    assert_eq!(
        outcomes(&attachments[0].1),
        ["new", "new", "repeated", "invalid"]
    );
    assert!(!attachments[1].1.is_empty());

    // Sending again sends nothing more.
    let out = portal().args(["outbox", "flush"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 sent"));
}
