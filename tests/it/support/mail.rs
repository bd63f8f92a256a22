//! The private mail services of `scripts/test` (OpenSMTPD → Dovecot): where they are, reading a
//! mailbox over IMAP, and a lock so a test that stops OpenSMTPD runs alone.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use futures::TryStreamExt;

#[derive(Debug, Clone)]
pub struct MailEnv {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub imap_host: String,
    pub imap_port: u16,
    pub password: String,
    /// Every recipient in this domain gets a permanent 5xx from OpenSMTPD.
    pub reject_domain: String,
    pub services_dir: String,
    /// Dovecot's IMAP over TLS from the first byte, its submission service (SMTP with a login,
    /// relaying to OpenSMTPD) with STARTTLS and over TLS from the first byte, and the private CA
    /// its certificate is signed by.
    pub imaps_port: u16,
    pub submission_port: u16,
    pub submissions_port: u16,
    pub ca_file: String,
}

fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: run the tests with scripts/test, which starts a private OpenSMTPD \
             and Dovecot (AGENCY_PORTAL_TEST_SERVICES must include `mail`)"
        ),
    }
}

pub fn mail_env() -> MailEnv {
    MailEnv {
        smtp_host: var("AGENCY_PORTAL_TEST_SMTP_HOST"),
        smtp_port: var("AGENCY_PORTAL_TEST_SMTP_PORT").parse().unwrap(),
        imap_host: var("AGENCY_PORTAL_TEST_IMAP_HOST"),
        imap_port: var("AGENCY_PORTAL_TEST_IMAP_PORT").parse().unwrap(),
        password: var("AGENCY_PORTAL_TEST_IMAP_PASSWORD"),
        reject_domain: var("AGENCY_PORTAL_TEST_SMTP_REJECT_DOMAIN"),
        services_dir: var("AGENCY_PORTAL_TEST_SERVICES_DIR"),
        imaps_port: var("AGENCY_PORTAL_TEST_IMAPS_PORT").parse().unwrap(),
        submission_port: var("AGENCY_PORTAL_TEST_SUBMISSION_PORT").parse().unwrap(),
        submissions_port: var("AGENCY_PORTAL_TEST_SUBMISSIONS_PORT").parse().unwrap(),
        ca_file: var("AGENCY_PORTAL_TEST_CA_FILE"),
    }
}

/// A lock over OpenSMTPD: tests that only send take it shared; the test that stops the server
/// takes it exclusive (across the processes nextest runs). Released when dropped.
pub struct SmtpLock {
    _file: std::fs::File,
}

pub fn smtp_lock(exclusive: bool) -> SmtpLock {
    let env = mail_env();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(format!("{}/smtpd-test.lock", env.services_dir))
        .unwrap();
    let op = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    // SAFETY: flock on a descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
    assert_eq!(rc, 0, "flock: {}", std::io::Error::last_os_error());
    SmtpLock { _file: file }
}

/// `scripts/service smtpd stop|start`.
pub fn smtpd(action: &str) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/service");
    let out = std::process::Command::new(script)
        .args(["smtpd", action])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/service smtpd {action}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every message in `user`'s INBOX (raw RFC 5322 bytes), oldest first.
pub async fn fetch_all(user: &str) -> Vec<Vec<u8>> {
    fetch_folder(user, "INBOX").await
}

/// Waits until `user` has at least `n` messages (up to `within`), then a little longer to see
/// that no more arrive; returns what is there.
pub async fn wait_for_mail(user: &str, n: usize, within: Duration) -> Vec<Vec<u8>> {
    let start = Instant::now();
    loop {
        let got = fetch_all(user).await;
        if got.len() >= n || start.elapsed() > within {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    fetch_all(user).await
}

/// A raw message; `attachments` are (file name, bytes), sent base64.
pub fn message(
    from: &str,
    subject: &str,
    headers: &[&str],
    body: &str,
    attachments: &[(&str, &[u8])],
) -> Vec<u8> {
    use std::fmt::Write;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut m = String::new();
    for h in headers {
        writeln!(m, "{h}\r").unwrap();
    }
    write!(
        m,
        "From: {from}\r\nTo: portal@example.test\r\nSubject: {subject}\r\n\
         Message-ID: <{id}@sender.test>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    )
    .unwrap();
    if attachments.is_empty() {
        write!(
            m,
            "Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        )
        .unwrap();
    } else {
        write!(
            m,
            "Content-Type: multipart/mixed; boundary=\"b{id}\"\r\n\r\n--b{id}\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        )
        .unwrap();
        for (name, bytes) in attachments {
            write!(
                m,
                "--b{id}\r\nContent-Type: application/octet-stream\r\n\
                 Content-Disposition: attachment; filename=\"{name}\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
                agency_portal::mail::message::base64_lines(bytes)
            )
            .unwrap();
        }
        write!(m, "--b{id}--\r\n").unwrap();
    }
    m.into_bytes()
}

/// Sends a raw message through the private OpenSMTPD (envelope from `from`, to `to`).
pub async fn send_raw(from: &str, to: &str, raw: &[u8]) {
    use lettre::AsyncTransport;
    let env = mail_env();
    let transport =
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(&env.smtp_host)
            .port(env.smtp_port)
            .build();
    let envelope =
        lettre::address::Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()])
            .unwrap();
    transport
        .send_raw(&envelope, raw)
        .await
        .unwrap_or_else(|e| panic!("SMTP to {}:{}: {e}", env.smtp_host, env.smtp_port));
}

/// The messages in one folder of `user`'s mailbox (empty when the folder does not exist).
pub async fn fetch_folder(user: &str, folder: &str) -> Vec<Vec<u8>> {
    let env = mail_env();
    let tcp = tokio::net::TcpStream::connect((env.imap_host.as_str(), env.imap_port))
        .await
        .unwrap_or_else(|e| panic!("IMAP {}:{}: {e}", env.imap_host, env.imap_port));
    let mut client = async_imap::Client::new(tcp);
    client
        .read_response()
        .await
        .unwrap()
        .expect("IMAP greeting");
    let mut session = client
        .login(user, &env.password)
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    let mut out = Vec::new();
    if let Ok(mailbox) = session.select(folder).await {
        if mailbox.exists > 0 {
            let fetched: Vec<_> = session
                .fetch("1:*", "BODY.PEEK[]")
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            for f in &fetched {
                out.push(f.body().expect("body").to_vec());
            }
        }
    }
    session.logout().await.ok();
    out
}
