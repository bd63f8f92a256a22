//! Issue 11: OAuth2 login to IMAP (`AUTHENTICATE XOAUTH2 | OAUTHBEARER`) and SMTP (`AUTH XOAUTH2 |
//! OAUTHBEARER`) against the private Dovecot of `scripts/test` (IMAP, and its submission service
//! relaying to OpenSMTPD), whose oauth2 passdb checks the tokens locally: HS256 JWTs signed with
//! the key in `AGENCY_PORTAL_TEST_OAUTH2_KEY`. The token commands are small shell scripts that
//! count their runs and print `token.<run>` if there is one, else `token`.

use crate::support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::Mac as _;
use mail_parser::MessageParser;
use support::mail::{
    fetch_all, fetch_folder, mail_env, message, send_raw, smtp_lock, wait_for_mail,
};

const SHEET: &str = "First Name,Last Name,Email,Mobile\n\
    Ana,Cruz,ana.cruz@gmail.com,0917 123 4567\n\
    Ben,Reyes,ben.reyes@gmail.com,0918 765 4321\n";

/// A JWT for `sub`, expiring `exp_in` seconds from now (negative: expired), signed with `key`.
fn jwt(sub: &str, exp_in: i64, key: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = chrono::Utc::now().timestamp();
    let header = b64.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let body = serde_json::json!({"sub": sub, "iat": now - 120, "exp": now + exp_in});
    let body = b64.encode(body.to_string());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{header}.{body}").as_bytes());
    let sig = b64.encode(mac.finalize().into_bytes());
    format!("{header}.{body}.{sig}")
}

/// Dovecot's key.
fn dovecot_key() -> Vec<u8> {
    let key = std::env::var("AGENCY_PORTAL_TEST_OAUTH2_KEY")
        .expect("AGENCY_PORTAL_TEST_OAUTH2_KEY is not set: run the tests with scripts/test");
    base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .unwrap()
}

/// A token command in `dir`: prints `token.<n>` at its n-th run if that file exists, else `token`.
struct TokenCommand {
    dir: PathBuf,
}

impl TokenCommand {
    fn new(dir: PathBuf, first: &[&str], then: &str) -> TokenCommand {
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("token.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\nd=$(dirname \"$0\")\nn=$(( $(cat \"$d/count\") + 1 ))\necho \"$n\" >\"$d/count\"\n\
             if [ -f \"$d/token.$n\" ]; then cat \"$d/token.$n\"; else cat \"$d/token\"; fi\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("count"), "0\n").unwrap();
        for (i, t) in first.iter().enumerate() {
            std::fs::write(dir.join(format!("token.{}", i + 1)), t).unwrap();
        }
        std::fs::write(dir.join("token"), then).unwrap();
        TokenCommand { dir }
    }

    fn runs(&self) -> usize {
        std::fs::read_to_string(self.dir.join("count"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

#[derive(Clone, Copy)]
enum Wire {
    /// IMAP without TLS, SMTP to the submission service with STARTTLS.
    PlainAndStarttls,
    /// IMAP and SMTP over TLS from the first byte.
    Tls,
}

struct Portal {
    dir: tempfile::TempDir,
    intake: String,
    ana: String,
    imap_tokens: TokenCommand,
    smtp_tokens: TokenCommand,
    imap_server: String,
}

impl Portal {
    /// `auth` for both servers; the tokens each command prints (the first ones, then the rest).
    fn new(
        auth: &str,
        wire: Wire,
        tokens: impl Fn(&str) -> (Vec<String>, String),
        http: Option<u16>,
    ) -> Portal {
        let env = mail_env();
        let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
        let dir = tempfile::tempdir().unwrap();
        let intake = format!("intake-{tag}@portal.test");
        let ana = format!("ana@acme-{tag}.test");
        let (first, then) = tokens(&intake);
        let first: Vec<&str> = first.iter().map(String::as_str).collect();
        let imap_tokens = TokenCommand::new(dir.path().join("tokens/imap"), &first, &then);
        let smtp_tokens = TokenCommand::new(dir.path().join("tokens/smtp"), &first, &then);
        let (imap_port, imap_tls, smtp_port, smtp_tls) = match wire {
            Wire::PlainAndStarttls => (env.imap_port, "none", env.submission_port, "starttls"),
            Wire::Tls => (env.imaps_port, "implicit", env.submissions_port, "implicit"),
        };
        let http = http
            .map(|p| format!("[http]\nlisten = \"127.0.0.1:{p}\"\n"))
            .unwrap_or_default();
        std::fs::write(
            dir.path().join("agency-portal.toml"),
            format!(
                "[database]\nurl = \"{db}\"\n[directory]\npath = \"directory.toml\"\n\
                 [intake.mailbox]\nkind = \"imap\"\nhost = \"{h}\"\nport = {imap_port}\n\
                 tls = \"{imap_tls}\"\nusername = \"{intake}\"\nauth = \"{auth}\"\n\
                 token_command = [\"tokens/imap/token.sh\"]\naddress = \"{intake}\"\n\
                 [intake.drop]\npath = \"\"\n\
                 [mail]\nfrom = \"Agency Portal <{intake}>\"\ntransport = \"smtp\"\n\
                 host = \"{h}\"\nport = {smtp_port}\ntls = \"{smtp_tls}\"\nusername = \"{intake}\"\n\
                 auth = \"{auth}\"\ntoken_command = [\"tokens/smtp/token.sh\"]\ntimeout_secs = 10\n\
                 {http}",
                db = support::fresh_sqlite_url(dir.path()),
                h = env.imap_host,
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("directory.toml"),
            format!(
                "[[owners]]\nemail = \"olivia@co-{tag}.test\"\nname = \"Olivia\"\n\n\
                 [[agencies]]\nid = \"acme\"\nname = \"Acme Staffing\"\ncountry = \"PH\"\n\
                 added_by = \"olivia@co-{tag}.test\"\ndomains = [\"acme-{tag}.test\"]\n\n\
                 \x20 [[agencies.users]]\n  email = \"{ana}\"\n  name = \"Ana Admin\"\n  role = \"admin\"\n\n\
                 [[campaigns]]\nid = \"40123\"\nname = \"Customer Service Manila\"\ncountry = \"PH\"\n\
                 created_by = \"olivia@co-{tag}.test\"\n"
            ),
        )
        .unwrap();
        Portal {
            imap_server: format!("{}:{imap_port}", env.imap_host),
            dir,
            intake,
            ana,
            imap_tokens,
            smtp_tokens,
        }
    }

    fn cmd(&self) -> Command {
        let mut c = support::portal(&self.dir.path().join("agency-portal.toml"));
        // Everything, wire traces included: no token may show.
        c.env("AGENCY_PORTAL_LOG", "debug")
            .env("SSL_CERT_FILE", mail_env().ca_file);
        c
    }

    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.cmd().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        self.assert_no_token(&stderr);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            stderr,
        )
    }

    /// No token (nor its signature), no SASL line holding one, in `text`.
    fn assert_no_token(&self, text: &str) {
        for t in [&self.imap_tokens, &self.smtp_tokens] {
            for f in std::fs::read_dir(&t.dir).unwrap() {
                let f = f.unwrap().path();
                let name = f.file_name().unwrap().to_string_lossy().to_string();
                if name.starts_with("token") && name != "token.sh" {
                    let token = std::fs::read_to_string(&f).unwrap();
                    let sig = token.rsplit('.').next().unwrap();
                    assert!(!text.contains(sig), "a token was logged:\n{text}");
                }
            }
        }
        for line in [
            "auth=Bearer",
            "AUTH XOAUTH2 ",
            "AUTH OAUTHBEARER ",
            "AUTHENTICATE",
        ] {
            assert!(!text.contains(line), "{line}:\n{text}");
        }
    }

    async fn send_sheet(&self) {
        let raw = message(
            &format!("Ana Admin <{}>", self.ana),
            "Week 48 candidates [campaign 40123]",
            &[],
            "One file attached.",
            &[("a.csv", SHEET.as_bytes())],
        );
        send_raw(&self.ana, &self.intake, &raw).await;
        let start = Instant::now();
        while fetch_folder(&self.intake, "INBOX").await.is_empty() {
            assert!(start.elapsed() < Duration::from_secs(20), "not delivered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn receipts(&self) -> usize {
        fetch_all(&self.ana)
            .await
            .iter()
            .filter(|m| {
                MessageParser::default()
                    .parse(m.as_slice())
                    .is_some_and(|p| p.header_raw("X-Agency-Portal-Submission").is_some())
            })
            .count()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }
}

/// A spreadsheet sent to the intake mailbox is read over IMAP and answered over SMTP, both logged in
/// with `mechanism`; the commands run once per login.
async fn read_and_answered(p: &Portal) {
    p.send_sheet().await;
    let (ok, _, err) = p.run(&["run", "--once"]);
    assert!(ok, "{err}");
    assert_eq!(fetch_folder(&p.intake, "Processed").await.len(), 1, "{err}");
    // Relayed through OpenSMTPD: the invitation and the receipt arrive a little later.
    let mails = wait_for_mail(&p.ana, 2, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 2, "the invitation and the receipt: {err}");
    assert_eq!(p.receipts().await, 1, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_xoauth2_tokens_log_in_to_imap_and_smtp_once_per_login() {
    let _lock = smtp_lock(false);
    let key = dovecot_key();
    let p = Portal::new(
        "xoauth2",
        Wire::PlainAndStarttls,
        |user| (vec![], jwt(user, 600, &key)),
        None,
    );
    read_and_answered(&p).await;
    assert_eq!(p.imap_tokens.runs(), 1, "one IMAP login, one token");
    let sent = 2;
    assert_eq!(p.smtp_tokens.runs(), sent, "one SMTP login per message");

    // `config check` logs in to both, with the mechanism named.
    let (ok, out, err) = p.run(&["config", "check"]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains(&format!("logged in as {}", p.intake)), "{out}");
    assert_eq!(out.matches("(XOAUTH2)").count(), 2, "IMAP and SMTP: {out}");
    assert_eq!(p.imap_tokens.runs(), 2);
    assert_eq!(p.smtp_tokens.runs(), sent + 1);
}

/// `token_file` instead of a command: re-read at each login. `config check` logs in to both servers
/// with it; a token the server refuses, or a missing file, is an error that says so and where.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_files_are_read_at_each_login_and_config_check_says_what_failed() {
    let _lock = smtp_lock(false);
    let key = dovecot_key();
    let p = Portal::new(
        "xoauth2",
        Wire::PlainAndStarttls,
        |user| (vec![], jwt(user, 600, &key)),
        None,
    );
    let config = p.dir.path().join("agency-portal.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace(
            "token_command = [\"tokens/imap/token.sh\"]",
            "token_file = \"tokens/imap/token\"",
        )
        .replace(
            "token_command = [\"tokens/smtp/token.sh\"]",
            "token_file = \"tokens/smtp/token\"",
        );
    std::fs::write(&config, text).unwrap();
    let (ok, out, err) = p.run(&["config", "check"]);
    assert!(ok, "{out}\n{err}");
    assert_eq!(out.matches("(XOAUTH2)").count(), 2, "IMAP and SMTP: {out}");
    assert_eq!(p.imap_tokens.runs(), 0, "no command run");

    let smtp_token = p.smtp_tokens.dir.join("token");
    std::fs::write(&smtp_token, jwt(&p.intake, 600, b"another key")).unwrap();
    let (ok, out, err) = p.run(&["config", "check"]);
    assert!(!ok, "{out}");
    assert!(err.contains("refused the XOAUTH2 login"), "{err}");
    std::fs::remove_file(&smtp_token).unwrap();
    let (ok, _, err) = p.run(&["config", "check"]);
    assert!(!ok);
    assert!(
        err.contains("cannot read the token file") && err.contains("tokens/smtp/token"),
        "{err}"
    );
}

/// The first token each command prints has expired: the server refuses it, the command is run
/// once more, and its fresh token logs in (OAUTHBEARER, over TLS).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_oauthbearer_token_is_refused_and_the_command_run_again() {
    let _lock = smtp_lock(false);
    let key = dovecot_key();
    let p = Portal::new(
        "oauthbearer",
        Wire::Tls,
        |user| (vec![jwt(user, -60, &key)], jwt(user, 600, &key)),
        None,
    );
    read_and_answered(&p).await;
    assert_eq!(p.imap_tokens.runs(), 2, "expired, then a fresh one");
    let sent = 2;
    assert_eq!(
        p.smtp_tokens.runs(),
        sent + 1,
        "the first message's login needed a second token, the next one not"
    );
}

/// A token the server never takes (signed with another key): a clear error naming the server and
/// the mechanism, the command run twice per attempt, attempts spaced by the backoff; the daemon
/// stays up, its health says the source is reconnecting and why, and the invitation waits in the
/// outbox with the SMTP refusal as its error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_a_clear_error_with_backoff_and_the_daemon_stays_up() {
    let _lock = smtp_lock(false);
    let http = free_port();
    let p = Portal::new(
        "xoauth2",
        Wire::PlainAndStarttls,
        |user| (vec![], jwt(user, 600, b"not the server's key")),
        Some(http),
    );
    let log = std::fs::File::create(p.dir.path().join("daemon.log")).unwrap();
    let mut daemon: Child = p
        .cmd()
        .arg("run")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();

    let start = Instant::now();
    let health = loop {
        if let Some(h) = healthz(http).await {
            if h["sources"][0]["reconnects"].as_u64().unwrap_or(0) >= 2 {
                break h;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no second failed session within 30 s:\n{}",
            p.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(daemon.try_wait().unwrap().is_none(), "the daemon stays up");
    let source = &health["sources"][0];
    assert_eq!(source["state"], "reconnecting", "{health}");
    let why = source["last_error"].as_str().unwrap();
    assert!(
        why.contains(&format!(
            "IMAP server {} refused the XOAUTH2 login",
            p.imap_server
        )),
        "{why}"
    );
    let runs = p.imap_tokens.runs();
    assert!(runs >= 4, "twice per session: {runs}\n{}", p.log());
    let log = p.log();
    assert!(log.contains("reconnecting in"), "{log}");

    // The outbox worker tried the invitation once at start: refused twice, to be retried later.
    let start = Instant::now();
    let listed = loop {
        let (ok, out, err) = p.run(&["outbox", "list"]);
        assert!(ok, "{err}");
        if out.contains("refused") || start.elapsed() > Duration::from_secs(20) {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(listed.contains("\tpending\t"), "{listed}");
    assert!(
        listed.contains("SMTP server") && listed.contains("refused the XOAUTH2 login"),
        "{listed}"
    );
    assert!(p.smtp_tokens.runs() >= 2, "{listed}");

    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let status = daemon.wait().unwrap();
    assert!(status.success(), "{status}");
    p.assert_no_token(&p.log());
    assert!(fetch_all(&p.ana).await.is_empty());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn healthz(port: u16) -> Option<serde_json::Value> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf);
    let body = text.split_once("\r\n\r\n")?.1;
    serde_json::from_str(body).ok()
}
