//! Issue 9 (the daemon as a whole): `agency-portal run` with the embedded defaults (Maildir intake,
//! drop folders, file outbox). Acceptance 3 (live reload of the directory), 4 (`/healthz` follows
//! Postgres going away and coming back; the daemon stays up), 5 (SIGTERM during a 100,000-row
//! ingest: out within 30 s, the file processed exactly once after the restart). And a daemon started
//! before its Postgres waits for it.

use crate::support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::mail::message;

const DIRECTORY: &str = include_str!("../../config/directory.toml");

struct Daemon {
    dir: tempfile::TempDir,
    http: Option<u16>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Daemon {
    fn new(database_url: &str, http: bool) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let http = http.then(free_port);
        let listen = http.map_or(String::new(), |p| format!("127.0.0.1:{p}"));
        std::fs::write(
            dir.path().join("agency-portal.toml"),
            format!(
                "[database]\nurl = \"{database_url}\"\n[directory]\npath = \"directory.toml\"\n\
                 [intake.mailbox]\nkind = \"maildir\"\npath = \"mailbox\"\naddress = \"portal@example.test\"\n\
                 [intake.drop]\npath = \"drop\"\nsettle_ms = 200\n\
                 [mail]\nfrom = \"Agency Portal <portal@example.test>\"\ntransport = \"file\"\npath = \"outbox\"\n\
                 [http]\nlisten = \"{listen}\"\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("directory.toml"), DIRECTORY).unwrap();
        let logos = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/logos");
        std::fs::create_dir(dir.path().join("logos")).unwrap();
        for f in std::fs::read_dir(logos).unwrap().flatten() {
            std::fs::copy(f.path(), dir.path().join("logos").join(f.file_name())).unwrap();
        }
        Daemon { dir, http }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn cmd(&self) -> Command {
        let mut c = support::portal(&self.path("agency-portal.toml"));
        c.env("AGENCY_PORTAL_LOG", "warn,agency_portal=info");
        c
    }

    fn spawn(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("daemon.log"))
            .unwrap();
        self.cmd()
            .arg("run")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("daemon.log")).unwrap_or_default()
    }

    fn deliver(&self, raw: &[u8]) {
        agency_portal::intake::mailbox::maildir::Maildir::open(&self.path("mailbox"))
            .unwrap()
            .deliver(raw)
            .unwrap();
    }

    fn folder(&self, name: &str) -> usize {
        std::fs::read_dir(self.path("mailbox").join(format!(".{name}")).join("cur"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    fn wait_folder(&self, name: &str, n: usize, within: Duration) -> usize {
        let start = Instant::now();
        loop {
            let got = self.folder(name);
            if got >= n || start.elapsed() > within {
                return got;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The subjects of the messages the file outbox has written.
    fn sent_subjects(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.path("outbox")) else {
            return Vec::new();
        };
        dir.filter_map(|e| {
            let raw = std::fs::read(e.ok()?.path()).ok()?;
            let m = mail_parser::MessageParser::default().parse(&raw)?;
            Some(m.subject().unwrap_or_default().to_string())
        })
        .collect()
    }

    fn submissions(&self) -> Vec<serde_json::Value> {
        let out = self.cmd().args(["submissions", "--json"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.http?)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let status = out.split_whitespace().nth(1)?.parse().ok()?;
        let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
        Some((status, body))
    }

    fn wait_status(&self, path: &str, status: u16, within: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < within {
            if self.get(path).is_some_and(|(s, _)| s == status) {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

fn stop(child: &mut Child) -> (std::process::ExitStatus, Duration) {
    stop_or(child, "")
}

fn stop_or(child: &mut Child, log: &str) -> (std::process::ExitStatus, Duration) {
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status, start.elapsed());
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!(
                "the daemon did not stop within 60 s of SIGTERM\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sheet_mail(from: &str, subject: &str) -> Vec<u8> {
    let csv = format!(
        "First Name,Last Name,Email,Mobile\n{}\n",
        (0..3)
            .map(|i| format!(
                "P{i}{n},F{i},p{i}.{n}@example.com,",
                n = uuid::Uuid::new_v4().simple()
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
    message(from, subject, &[], "", &[("c.csv", csv.as_bytes())])
}

#[test]
fn the_directory_is_reloaded_live_and_an_invalid_one_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::new(&support::fresh_sqlite_url(dir.path()), false);
    let mut child = d.spawn();
    let newbie = "Nina Newbie <nina@acme-staffing.example>";
    // Not a user yet: rejected.
    d.deliver(&sheet_mail(newbie, "first [campaign 40123]"));
    assert_eq!(
        d.wait_folder("Rejected", 1, Duration::from_secs(20)),
        1,
        "{}",
        d.log()
    );

    // A valid edit: Nina added to acme. No restart.
    let with_nina = DIRECTORY.replacen(
        "  [[agencies.users]]\n  email = \"eddie@acme-staffing.example\"",
        "  [[agencies.users]]\n  email = \"nina@acme-staffing.example\"\n  name = \"Nina Newbie\"\n  role = \"editor\"\n\n  [[agencies.users]]\n  email = \"eddie@acme-staffing.example\"",
        1,
    );
    assert_ne!(with_nina, DIRECTORY);
    std::fs::write(d.path("directory.toml"), &with_nina).unwrap();
    let start = Instant::now();
    while !d.log().contains("directory reloaded") && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    d.deliver(&sheet_mail(newbie, "second [campaign 40123]"));
    assert_eq!(
        d.wait_folder("Processed", 1, Duration::from_secs(20)),
        1,
        "{}",
        d.log()
    );
    let invitations = |d: &Daemon| {
        d.sent_subjects()
            .iter()
            .filter(|s| s.contains("invit") || s.contains("Welcome") || s.contains("Agency Portal"))
            .count()
    };
    let before_invalid = d.sent_subjects().len();
    assert!(invitations(&d) >= 1);

    // An invalid edit: the old directory (with Nina) stays in force; owners told once.
    let broken = with_nina.replacen("role = \"editor\"", "role = \"boss\"", 1);
    std::fs::write(d.path("directory.toml"), &broken).unwrap();
    let start = Instant::now();
    let alerts = |d: &Daemon| {
        d.sent_subjects()
            .iter()
            .filter(|s| s.starts_with("Directory file not applied"))
            .count()
    };
    while alerts(&d) == 0 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(alerts(&d), 1, "{}", d.log());
    // Written again, unchanged, and time for several more looks: still one alert.
    std::fs::write(d.path("directory.toml"), &broken).unwrap();
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(alerts(&d), 1);
    d.deliver(&sheet_mail(newbie, "third [campaign 40123]"));
    assert_eq!(
        d.wait_folder("Processed", 2, Duration::from_secs(20)),
        2,
        "{}",
        d.log()
    );
    assert!(d.sent_subjects().len() > before_invalid);
    let (status, _) = stop(&mut child);
    assert!(status.success());
    std::fs::write(d.path("directory.toml"), &with_nina).unwrap();
    assert_eq!(d.submissions().len(), 2);
}

/// A Postgres cluster of the test's own (`scripts/service postgres-own ACTION NAME`), which it may
/// stop and start: `start` returns its URL (the same port every time).
fn postgres_own(name: &str, action: &str) -> String {
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/service"))
        .args(["postgres-own", action, name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/service postgres-own {action} (run the tests with scripts/test): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A message with a sheet delivered to the daemon's mailbox (empty until now) is handled: filed in
/// `Processed`.
fn the_first_message_is_handled(d: &Daemon, subject: &str) {
    d.deliver(&sheet_mail(
        "Ana Admin <ana@acme-staffing.example>",
        subject,
    ));
    assert_eq!(
        d.wait_folder("Processed", 1, Duration::from_secs(30)),
        1,
        "{}",
        d.log()
    );
}

/// Waits until the daemon's log says `what` `n` times at least.
fn wait_log(d: &Daemon, what: &str, n: usize, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if d.log().matches(what).count() >= n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn the_daemon_started_before_postgres_waits_for_it() {
    let name = uuid::Uuid::new_v4().simple().to_string();
    let url = postgres_own(&name, "start");
    postgres_own(&name, "stop");
    let d = Daemon::new(&url, true);
    const WAITING: &str = "the daemon waits for the database";

    // Nothing answers: it waits (and says so) instead of exiting, and SIGTERM stops it cleanly.
    let mut child = d.spawn();
    assert!(
        wait_log(&d, WAITING, 2, Duration::from_secs(30)),
        "{}",
        d.log()
    );
    assert!(child.try_wait().unwrap().is_none(), "{}", d.log());
    let (status, took) = stop(&mut child);
    assert!(status.success(), "{status} after SIGTERM\n{}", d.log());
    assert!(
        took < Duration::from_secs(5),
        "stopped {took:?} after SIGTERM"
    );

    // Postgres comes up meanwhile: the daemon goes to work.
    let mut child = d.spawn();
    let before = d.log().matches(WAITING).count();
    assert!(
        wait_log(&d, WAITING, before + 1, Duration::from_secs(30)),
        "{}",
        d.log()
    );
    postgres_own(&name, "start");
    assert!(
        d.wait_status("/healthz", 200, Duration::from_secs(60))
            .is_some(),
        "{}",
        d.log()
    );
    the_first_message_is_handled(&d, "[campaign 40123] once it answers");
    let (status, _) = stop(&mut child);
    assert!(status.success());
    postgres_own(&name, "stop");

    // A server that turns the daemon away is not waited for: exit 2 at once, saying what to fix.
    let url = postgres_own(&name, "start");
    let d = Daemon::new(&format!("{}_no_such_database", url), false);
    let out = d.cmd().arg("run").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("check database.url"),
        "{out:?}"
    );
    postgres_own(&name, "stop");
}

#[test]
fn healthz_follows_postgres_and_the_daemon_stays_up() {
    let name = uuid::Uuid::new_v4().simple().to_string();
    let pg = |action: &str| postgres_own(&name, action);
    let url = pg("start");
    let d = Daemon::new(&url, true);
    let mut child = d.spawn();
    assert!(
        d.wait_status("/healthz", 200, Duration::from_secs(30))
            .is_some(),
        "{}",
        d.log()
    );
    let (_, body) = d.get("/healthz").unwrap();
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["database"]["state"], "ok");
    assert_eq!(j["sources"].as_array().unwrap().len(), 2, "{j}");
    assert!(j["outbox"]["backlog"].is_number());
    let (_, metrics) = d.get("/metrics").unwrap();
    for m in [
        "agency_portal_submissions_total",
        "agency_portal_rows_total",
        "agency_portal_outbox_messages",
        "agency_portal_failures_total",
        "agency_portal_source_reconnects_total",
    ] {
        assert!(metrics.contains(m), "{m} in\n{metrics}");
    }

    assert_eq!(d.get("/readyz").map(|(s, _)| s), Some(200));

    // Postgres stops: not ready (with the reason), still alive.
    pg("stop");
    let down = d.wait_status("/readyz", 503, Duration::from_secs(10));
    assert!(
        down.is_some(),
        "/readyz 503 within 10 s of stopping Postgres\n{}",
        d.log()
    );
    let (_, reasons) = d.get("/readyz").unwrap();
    assert!(
        reasons.contains("the database does not answer"),
        "{reasons}"
    );
    let (status, body) = d.get("/healthz").unwrap();
    assert_eq!(status, 200, "liveness while the database is away: {body}");
    assert!(body.contains("unreachable"), "{body}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(child.try_wait().unwrap().is_none(), "the daemon stays up");
    pg("start");
    assert!(
        d.wait_status("/readyz", 200, Duration::from_secs(30))
            .is_some(),
        "ready again once Postgres is back\n{}",
        d.log()
    );
    // And it works again: a message is handled.
    the_first_message_is_handled(&d, "[campaign 40123] after");
    let (status, _) = stop(&mut child);
    assert!(status.success());
    pg("stop");
}

#[test]
fn sigterm_during_a_100000_row_ingest_exits_in_time_and_the_file_is_processed_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::new(&support::fresh_sqlite_url(dir.path()), false);
    // Lay out the drop folders, then drop the big file in.
    let out = d.cmd().args(["run", "--once"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut csv = String::from("First Name,Last Name,Email,Mobile,Campaign\n");
    for i in 0..100_000 {
        csv.push_str(&format!(
            "Given{i},Family{},person{i}@example.com,0917{:07},40123\n",
            i % 977,
            i
        ));
    }
    std::fs::write(d.path("drop/acme/big.csv"), csv).unwrap();
    let mut child = d.spawn();
    // Let it take the file and be well into it.
    let start = Instant::now();
    while !std::fs::read_dir(d.path("drop/acme"))
        .unwrap()
        .flatten()
        .all(|e| e.file_name() != "big.csv")
        && !d.log().contains("taking")
        && start.elapsed() < Duration::from_secs(3)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let (status, took) = stop_or(&mut child, &d.path("daemon.log").display().to_string());
    assert!(status.success(), "{status}\n{}", d.log());
    assert!(
        took < Duration::from_secs(30),
        "exited {took:?} after SIGTERM"
    );
    eprintln!("SIGTERM during the ingest: exited after {took:?}");

    // Restart: the file is processed exactly once.
    let out = d.cmd().args(["run", "--once"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let subs = d.submissions();
    let big: Vec<_> = subs.iter().filter(|s| s["file"] == "big.csv").collect();
    assert_eq!(big.len(), 1, "{subs:?}");
    assert_eq!(big[0]["rows"], 100_000);
    let processed = std::fs::read_dir(d.path("drop/acme/processed"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("big.csv"))
        .count();
    assert_eq!(processed, 1);
    assert!(!d.path("drop/acme/big.csv").exists());
    // Once more: nothing new.
    let out = d.cmd().args(["run", "--once"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(d.submissions().len(), subs.len());
}

/// The counters of a `/metrics` answer: (name with labels, value).
fn counters(metrics: &str) -> Vec<(String, i64)> {
    let counter_names: Vec<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(name, _)| {
            let base = name.split('{').next().unwrap_or_default();
            counter_names.contains(&base)
        })
        .map(|(name, v)| (name.to_string(), v.parse().unwrap()))
        .collect()
}

/// SPEC §10 (r2): counters only ever go up. An owner's `review accept` once made the rows counted
/// as `review` go down; rows are now counted as decided, the decision has a counter of its own,
/// and the queue is a gauge. Also the build and each source's last success.
#[test]
fn no_counter_goes_down_when_an_owner_decides_a_review() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::new(&support::fresh_sqlite_url(dir.path()), true);
    let mut child = d.spawn();
    assert!(
        d.wait_status("/readyz", 200, Duration::from_secs(30))
            .is_some(),
        "{}",
        d.log()
    );
    let ingest = |agency: &str, name: &str, row: &str| {
        let f = d.path(name);
        std::fs::write(
            &f,
            format!("First Name,Last Name,Email,Mobile,Campaign\n{row}\n"),
        )
        .unwrap();
        let out = d
            .cmd()
            .args(["ingest", f.to_str().unwrap(), "--agency", agency])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    ingest(
        "acme",
        "a.csv",
        "Ana,Cruz,ana.cruz@gmail.com,0917 123 4567,40123",
    );
    ingest(
        "bayanihan",
        "b.csv",
        "Ana,Cruz,ana.cruzz@gmail.com,0918 765 4321,40123",
    );
    let (_, before) = d.get("/metrics").unwrap();
    assert!(before.contains("agency_portal_review_queue 1"), "{before}");
    let out = d.cmd().args(["review", "list", "--json"]).output().unwrap();
    let items: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let row_id = items[0]["row_id"].as_i64().unwrap();
    let out = d
        .cmd()
        .args(["review", "accept", &row_id.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let (_, after) = d.get("/metrics").unwrap();
    let after_counters = counters(&after);
    for (name, v) in counters(&before) {
        let now = after_counters
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, v)| *v);
        assert!(now >= v, "{name} went down from {v} to {now}\n{after}");
    }
    for line in [
        "agency_portal_rows_total{outcome=\"review\"} 1",
        "agency_portal_review_decisions_total{decision=\"accepted\"} 1",
        "agency_portal_review_queue 0",
        "agency_portal_build_info{version=",
        "agency_portal_source_last_success_seconds{source=\"email\"",
        "agency_portal_source_last_success_seconds{source=\"drop\"",
    ] {
        assert!(after.contains(line), "{line} in\n{after}");
    }
    let (status, _) = stop(&mut child);
    assert!(status.success());
}
