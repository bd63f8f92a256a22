//! Issue 7 over the real mail loop of `scripts/test`: OpenSMTPD delivers into the intake mailbox in
//! Dovecot, `agency-portal run` watches it over IMAP (IDLE), receipts go back through OpenSMTPD into
//! the agency user's mailbox. Acceptance 1 (two spreadsheets, threaded receipts, `Processed`),
//! 2 (delivered twice), 3 (`kill -9` between commit and move; Dovecot restarted under the daemon);
//! a server without IDLE, searched again every 30 s; and one whose IDLE never tells, looked into
//! every `check_ms`.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mail_parser::MessageParser;
use support::mail::{fetch_all, fetch_folder, mail_env, message, send_raw, smtp_lock};

const SHEET_A: &str = "First Name,Last Name,Email,Mobile\n\
    Ana,Cruz,ana.cruz@gmail.com,0917 123 4567\n\
    Ben,Reyes,ben.reyes@gmail.com,0918 765 4321\n";
const SHEET_B: &str = "First Name,Last Name,Email,Mobile\n\
    Carla,Santos,carla.santos@yahoo.com,0919 555 0101\n\
    Dado,Lim,,0920 555 0202\n";

pub struct Portal {
    pub dir: tempfile::TempDir,
    pub intake: String,
    pub ana: String,
    /// `SSL_CERT_FILE` of the commands run (none: unset).
    pub trust: Option<String>,
}

/// How the portal reaches the mail servers.
#[derive(Clone, Copy, PartialEq)]
enum Wire {
    /// No TLS.
    Plain,
    /// IMAP and SMTP (with a login, to Dovecot's submission service, which relays to OpenSMTPD)
    /// over TLS from the first byte.
    Tls,
    /// IMAP and SMTP (the same) both upgraded with STARTTLS.
    Starttls,
    /// No TLS, IMAP through this port of 127.0.0.1 (see [`imap_without_idle`]).
    Through(u16),
}

impl Portal {
    pub fn new(database_url: &str) -> Portal {
        Portal::on(database_url, Wire::Plain)
    }

    fn on(database_url: &str, wire: Wire) -> Portal {
        let env = mail_env();
        // Dovecot's submission service: TLS, then a login, as a company's server asks.
        let submission = |port: u16, tls: &str| {
            format!(
                "port = {port}\ntls = \"{tls}\"\nusername = \"portal\"\npassword = \"{}\"",
                env.password
            )
        };
        let (imap_port, imap_tls, smtp) = match wire {
            Wire::Plain => (
                env.imap_port,
                "none",
                format!("port = {}\ntls = \"none\"", env.smtp_port),
            ),
            Wire::Tls => (
                env.imaps_port,
                "implicit",
                submission(env.submissions_port, "implicit"),
            ),
            Wire::Starttls => (
                env.imap_port,
                "starttls",
                submission(env.submission_port, "starttls"),
            ),
            Wire::Through(port) => (
                port,
                "none",
                format!("port = {}\ntls = \"none\"", env.smtp_port),
            ),
        };
        let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
        let dir = tempfile::tempdir().unwrap();
        let intake = format!("intake-{tag}@portal.test");
        let ana = format!("ana@acme-{tag}.test");
        std::fs::write(
            dir.path().join("agency-portal.toml"),
            format!(
                "[database]\nurl = \"{database_url}\"\n[directory]\npath = \"directory.toml\"\n\
                 [intake.mailbox]\nkind = \"imap\"\nhost = \"{h}\"\nport = {imap_port}\n\
                 tls = \"{imap_tls}\"\n\
                 username = \"{intake}\"\npassword = \"{pw}\"\naddress = \"{intake}\"\n\
                 [intake.drop]\npath = \"\"\n\
                 [mail]\nfrom = \"Agency Portal <{intake}>\"\ntransport = \"smtp\"\n\
                 host = \"{sh}\"\n{smtp}\ntimeout_secs = 10\n",
                h = env.imap_host,
                pw = env.password,
                sh = env.smtp_host,
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
        let trust = matches!(wire, Wire::Tls | Wire::Starttls).then_some(env.ca_file);
        Portal {
            dir,
            intake,
            ana,
            trust,
        }
    }

    /// Ana sends SHEET_A to the intake mailbox.
    pub async fn send_sheet_a(&self, subject: &str, body: &str) {
        let raw = message(
            &format!("Ana Admin <{}>", self.ana),
            subject,
            &[],
            body,
            &[("a.csv", SHEET_A.as_bytes())],
        );
        send_raw(&self.ana, &self.intake, &raw).await;
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("agency-portal.toml")
    }

    pub fn cmd(&self) -> Command {
        let mut c = support::portal(&self.config());
        c.env("AGENCY_PORTAL_LOG", "warn,agency_portal=info");
        match &self.trust {
            Some(file) => c.env("SSL_CERT_FILE", file),
            None => c.env_remove("SSL_CERT_FILE"),
        };
        c
    }

    /// `agency-portal run`, logging into `<dir>/daemon.log`.
    pub fn spawn_daemon(&self) -> Child {
        let log = std::fs::File::create(self.dir.path().join("daemon.log")).unwrap();
        self.cmd()
            .arg("run")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    pub fn submissions(&self) -> Vec<serde_json::Value> {
        let out = self.cmd().args(["submissions", "--json"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
    }

    /// The receipts in Ana's mailbox (invitations and other mail left out).
    pub async fn receipts(&self) -> Vec<Vec<u8>> {
        fetch_all(&self.ana)
            .await
            .into_iter()
            .filter(|m| {
                MessageParser::default()
                    .parse(m)
                    .is_some_and(|p| p.header_raw("X-Agency-Portal-Submission").is_some())
            })
            .collect()
    }

    pub async fn wait_receipts(&self, n: usize, within: Duration) -> Vec<Vec<u8>> {
        let start = Instant::now();
        loop {
            let got = self.receipts().await;
            if got.len() >= n || start.elapsed() > within {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_folder(&self, folder: &str, n: usize, within: Duration) -> usize {
        let start = Instant::now();
        loop {
            let got = fetch_folder(&self.intake, folder).await.len();
            if got >= n || start.elapsed() > within {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn stop(mut child: Child) -> std::process::ExitStatus {
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the daemon did not stop within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn message_id(raw: &[u8]) -> String {
    MessageParser::default()
        .parse(raw)
        .unwrap()
        .message_id()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_spreadsheets_by_smtp_are_answered_in_the_thread_and_a_second_delivery_changes_nothing()
{
    let _lock = smtp_lock(false);
    let dir = tempfile::tempdir().unwrap();
    let p = Portal::new(&support::fresh_sqlite_url(dir.path()));
    let daemon = p.spawn_daemon();
    let raw = message(
        &format!("Ana Admin <{}>", p.ana),
        "Week 48 candidates [campaign 40123]",
        &[],
        "Two files attached.",
        &[("a.csv", SHEET_A.as_bytes()), ("b.csv", SHEET_B.as_bytes())],
    );
    let id = message_id(&raw);
    send_raw(&p.ana, &p.intake, &raw).await;
    let receipts = p.wait_receipts(2, Duration::from_secs(30)).await;
    assert_eq!(receipts.len(), 2, "daemon log:\n{}", p.log());
    for r in &receipts {
        let m = MessageParser::default().parse(r).unwrap();
        assert_eq!(m.in_reply_to().as_text(), Some(id.as_str()));
        assert_eq!(m.subject(), Some("Re: Week 48 candidates [campaign 40123]"));
        assert_eq!(m.attachments().count(), 1, "results only: no invalid rows");
    }
    assert_eq!(
        p.wait_folder("Processed", 1, Duration::from_secs(10)).await,
        1
    );
    assert!(fetch_folder(&p.intake, "INBOX").await.is_empty());

    // The same message delivered a second time: moved to Processed, nothing else.
    send_raw(&p.ana, &p.intake, &raw).await;
    assert_eq!(
        p.wait_folder("Processed", 2, Duration::from_secs(30)).await,
        2,
        "{}",
        p.log()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(p.receipts().await.len(), 2);
    let status = stop(daemon);
    assert!(status.success(), "SIGTERM: clean exit, got {status}");
    assert_eq!(p.submissions().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_commit_and_move_then_restart_creates_nothing_twice() {
    let _lock = smtp_lock(false);
    let p = Portal::new(&support::fresh_postgres_url().await);
    p.send_sheet_a("cands [campaign 40123]", "").await;
    assert_eq!(p.wait_folder("INBOX", 1, Duration::from_secs(20)).await, 1);
    let out = p
        .cmd()
        .args(["mail", "--once"])
        .env("AGENCY_PORTAL_CRASH_AFTER_COMMIT", "1")
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGKILL),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fetch_folder(&p.intake, "INBOX").await.len(),
        1,
        "not moved yet"
    );
    assert_eq!(p.submissions().len(), 1, "committed");

    let out = p.cmd().args(["run", "--once"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fetch_folder(&p.intake, "INBOX").await.is_empty());
    assert_eq!(fetch_folder(&p.intake, "Processed").await.len(), 1);
    assert_eq!(p.submissions().len(), 1, "nothing created twice");
    let receipts = p.wait_receipts(1, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receipts.len(), 1);
    assert_eq!(p.receipts().await.len(), 1, "one receipt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_restarted_under_the_daemon_mail_sent_meanwhile_is_processed_once() {
    // Dovecot goes away: no other mail test may run meanwhile.
    let _lock = smtp_lock(true);
    let dir = tempfile::tempdir().unwrap();
    let p = Portal::new(&support::fresh_sqlite_url(dir.path()));
    let daemon = p.spawn_daemon();
    let send = |subject: &str, sheet: &'static str| {
        message(
            &format!("Ana Admin <{}>", p.ana),
            &format!("{subject} [campaign 40123]"),
            &[],
            "",
            &[("a.csv", sheet.as_bytes())],
        )
    };
    send_raw(&p.ana, &p.intake, &send("first", SHEET_A)).await;
    assert_eq!(
        p.wait_receipts(1, Duration::from_secs(30)).await.len(),
        1,
        "{}",
        p.log()
    );

    dovecot("stop");
    // Sent during the outage: OpenSMTPD accepts it and holds it until Dovecot's LMTP is back.
    send_raw(&p.ana, &p.intake, &send("second", SHEET_B)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    dovecot("start");

    let receipts = p.wait_receipts(2, Duration::from_secs(120)).await;
    assert_eq!(receipts.len(), 2, "daemon log:\n{}", p.log());
    assert!(p.log().contains("reconnecting"), "{}", p.log());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(p.receipts().await.len(), 2);
    assert!(stop(daemon).success());
    assert_eq!(p.submissions().len(), 2);
    assert_eq!(fetch_folder(&p.intake, "Processed").await.len(), 2);
}

fn dovecot(action: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/service");
    let out = Command::new(script)
        .args(["dovecot", action])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/service dovecot {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A company's own mail servers: IMAP and SMTP (with a login) over TLS, certificates of the
/// company's own certificate authority, which the portal is told of by `SSL_CERT_FILE`. A
/// spreadsheet is read over TLS and answered over TLS; told of no such authority, the portal trusts
/// neither server, says why in its log, and reads nothing; a `SSL_CERT_FILE` without certificates
/// stops it at start, naming the variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_the_companys_own_certificate_authority() {
    let _lock = smtp_lock(false);
    let dir = tempfile::tempdir().unwrap();
    let p = Portal::on(&support::fresh_sqlite_url(dir.path()), Wire::Tls);
    sheet_a_answered(&p).await;

    let mut untrusting = Portal::on(&support::fresh_sqlite_url(dir.path()), Wire::Tls);
    untrusting.trust = None;
    let daemon = untrusting.spawn_daemon();
    untrusting
        .send_sheet_a("Week 48 candidates [campaign 40123]", "One file attached.")
        .await;
    let start = Instant::now();
    while !untrusting.log().contains("certificate") && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(stop(daemon).success());
    let log = untrusting.log();
    assert!(log.contains("UnknownIssuer"), "the log says why: {log}");
    assert!(untrusting.submissions().is_empty(), "{log}");
    assert_eq!(fetch_folder(&untrusting.intake, "INBOX").await.len(), 1);

    let not_a_bundle = dir.path().join("not-certificates.txt");
    std::fs::write(&not_a_bundle, "not a certificate\n").unwrap();
    let out = untrusting
        .cmd()
        .env("SSL_CERT_FILE", &not_a_bundle)
        .args(["run", "--once"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("SSL_CERT_FILE="), "{err}");
}

/// IMAP upgraded with STARTTLS (and SMTP too), the company's authority named: a spreadsheet is read
/// and answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_starttls_with_the_companys_own_certificate_authority() {
    let _lock = smtp_lock(false);
    let dir = tempfile::tempdir().unwrap();
    sheet_a_answered(&Portal::on(
        &support::fresh_sqlite_url(dir.path()),
        Wire::Starttls,
    ))
    .await;
}

/// A server without IDLE (some company servers and mail gateways have none): the daemon searches
/// the mailbox again every 30 s, so mail that arrives while it waits is read, answered and filed
/// within that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_idle_is_searched_again_every_30_s() {
    let _lock = smtp_lock(false);
    let env = mail_env();
    let port = imap_without_idle(&env.imap_host, env.imap_port).await;
    let dir = tempfile::tempdir().unwrap();
    let p = Portal::on(&support::fresh_sqlite_url(dir.path()), Wire::Through(port));
    let daemon = p.spawn_daemon();
    let start = Instant::now();
    while !p.log().contains("IMAP session started") && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = p.log();
    assert!(log.contains("idle=false"), "no IDLE seen: {log}");
    // Waiting now: nothing in the mailbox when the session started.
    tokio::time::sleep(Duration::from_secs(1)).await;
    p.send_sheet_a("Week 48 candidates [campaign 40123]", "One file attached.")
        .await;
    let sent = Instant::now();
    let receipts = p.wait_receipts(1, Duration::from_secs(60)).await;
    assert_eq!(receipts.len(), 1, "daemon log:\n{}", p.log());
    assert!(
        sent.elapsed() < Duration::from_secs(45),
        "answered {:?} after sending",
        sent.elapsed()
    );
    assert_eq!(
        p.wait_folder("Processed", 1, Duration::from_secs(10)).await,
        1
    );
    assert!(stop(daemon).success());
}

/// A pass-through on a port of 127.0.0.1 to Dovecot's IMAP that takes IDLE out of every list of
/// capabilities Dovecot announces: to the daemon, a server without IDLE. All else is Dovecot's.
async fn imap_without_idle(host: &str, port: u16) -> u16 {
    imap_through(host, port, without_idle).await
}

/// `check_ms` (issue 14): a server with IDLE that never tells of new mail (the pass-through drops
/// every `* N EXISTS` and `* N RECENT`, in IDLE or not) is still looked into every `check_ms`: the
/// daemon answers a spreadsheet within seconds, not at the next re-issue of IDLE (5 minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_server_that_never_tells_is_looked_into_every_check_ms() {
    let _lock = smtp_lock(false);
    let env = mail_env();
    let port = imap_through(&env.imap_host, env.imap_port, without_news).await;
    let dir = tempfile::tempdir().unwrap();
    let p = Portal::on(&support::fresh_sqlite_url(dir.path()), Wire::Through(port));
    let config = std::fs::read_to_string(p.config()).unwrap();
    let config = config.replace("[intake.mailbox]\n", "[intake.mailbox]\ncheck_ms = 200\n");
    std::fs::write(p.config(), config).unwrap();
    let daemon = p.spawn_daemon();
    let start = Instant::now();
    while !p.log().contains("IMAP session started") && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = p.log();
    assert!(log.contains("idle=true"), "IDLE not seen: {log}");
    // Idling now: nothing in the mailbox when the session started.
    tokio::time::sleep(Duration::from_secs(1)).await;
    p.send_sheet_a("Week 48 candidates [campaign 40123]", "One file attached.")
        .await;
    let receipts = p.wait_receipts(1, Duration::from_secs(20)).await;
    assert_eq!(receipts.len(), 1, "daemon log:\n{}", p.log());
    assert!(
        NEWS_DROPPED.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "Dovecot told of no new mail: the pass-through proved nothing"
    );
    assert_eq!(
        p.wait_folder("Processed", 1, Duration::from_secs(10)).await,
        1
    );
    assert!(stop(daemon).success());
}

/// The `* N EXISTS` and `* N RECENT` lines [`without_news`] dropped.
static NEWS_DROPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Nothing for a line announcing new mail (counted in [`NEWS_DROPPED`]); any other line as it is.
fn without_news(line: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(line);
    let mut words = text.split_whitespace();
    let news = words.next() == Some("*")
        && words.next().is_some_and(|n| n.parse::<u32>().is_ok())
        && matches!(words.next(), Some("EXISTS" | "RECENT"))
        && words.next().is_none();
    if news {
        NEWS_DROPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Vec::new();
    }
    line.to_vec()
}

/// A pass-through on a port of 127.0.0.1 to Dovecot's IMAP that gives the client each line of the
/// server's as `rewrite` makes it.
async fn imap_through(host: &str, port: u16, rewrite: fn(&[u8]) -> Vec<u8>) -> u16 {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap().port();
    let upstream = format!("{host}:{port}");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (from_server, mut to_server) = server.into_split();
                let up = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
                    let _ = to_server.shutdown().await;
                });
                let mut from_server = tokio::io::BufReader::new(from_server);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match from_server.read_until(b'\n', &mut line).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    let out = rewrite(&line);
                    if to_client.write_all(&out).await.is_err() {
                        break;
                    }
                }
                up.abort();
            });
        }
    });
    local
}

/// A server's line with IDLE taken out of the capabilities it lists (`* CAPABILITY …`, or
/// `[CAPABILITY …]` in a greeting or a tagged OK); any other line as it is.
fn without_idle(line: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(line) else {
        return line.to_vec();
    };
    let listed = text.starts_with("* CAPABILITY ")
        || text
            .split_once(' ')
            .is_some_and(|(_, rest)| rest.starts_with("OK [CAPABILITY "));
    if !listed {
        return line.to_vec();
    }
    text.replace(" IDLE ", " ")
        .replace(" IDLE]", "]")
        .replace(" IDLE\r\n", "\r\n")
        .into_bytes()
}

/// The daemon of `p`, sent SHEET_A, reads it, answers it and files it in `Processed`.
async fn sheet_a_answered(p: &Portal) {
    let daemon = p.spawn_daemon();
    p.send_sheet_a("Week 48 candidates [campaign 40123]", "One file attached.")
        .await;
    let receipts = p.wait_receipts(1, Duration::from_secs(30)).await;
    assert_eq!(receipts.len(), 1, "daemon log:\n{}", p.log());
    assert_eq!(
        p.wait_folder("Processed", 1, Duration::from_secs(10)).await,
        1
    );
    assert!(stop(daemon).success());
}

/// SPEC §5 (r2) over the real mail loop, on Postgres: a message from anyone with a NUL in its
/// Subject (recorded before its sender is checked; Postgres once refused it, the intake took that
/// for "database down" and the message stood in front of every later one for ever) goes to
/// Rejected, and Ana's spreadsheet after it is answered and filed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_subject_first_then_a_spreadsheet_on_postgres() {
    let _lock = smtp_lock(false);
    let p = Portal::new(&support::fresh_postgres_url().await);
    let stranger = format!(
        "mallory@{}",
        p.ana.rsplit_once('@').unwrap().1.replace("acme", "evil")
    );
    let poison = message(
        &format!("Mallory <{stranger}>"),
        "=?utf-8?q?hello=00there?=",
        &[],
        "hi",
        &[],
    );
    send_raw(&stranger, &p.intake, &poison).await;
    sheet_a_answered(&p).await;
    assert_eq!(
        p.wait_folder("Rejected", 1, Duration::from_secs(10)).await,
        1,
        "{}",
        p.log()
    );
    assert!(fetch_folder(&p.intake, "INBOX").await.is_empty());
}
