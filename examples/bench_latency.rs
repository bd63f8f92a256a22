//! Benchmark of the email intake's latency (driven by `scripts/bench-latency`, which starts the
//! private OpenSMTPD + Dovecot and exports their addresses):
//! `bench_latency --bin target/release/agency-portal --work DIR [--runs N]`.
//!
//! 1. Baseline, same run: N plain messages, each timed from SMTP accept to visible over IMAP in the
//!    recipient's mailbox (the mail loop alone; a receipt crosses it twice: in, then out). Then N
//!    messages as large as the portal's (a 50-row sheet attached): this loop takes some 45 ms more
//!    for any message over about 3 KB, and the sheet and its receipt both are.
//! 2. Starts `agency-portal run` (IMAP with IDLE, SMTP out, SQLite) and sends N messages, each with a
//!    50-row sheet, timed from SMTP accept to its receipt visible in the sender's mailbox: first
//!    with IDLE alone (Dovecot tells of new mail half a second after it is delivered), then with
//!    `check_ms = 100` (IDLE ended every 100 ms to look); each sheet is sent after a random pause
//!    of up to half a second, so that it does not always arrive at the same point of the checks.
//!
//! Prints every time, the medians, and whether the median with `check_ms` is within the 300 ms
//! budget (exit 1 if not). `--check-ms N` times that second daemon with another interval.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use lettre::AsyncTransport;

const BUDGET: Duration = Duration::from_millis(300);

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/bench-latency"))
}

struct Mail {
    smtp_host: String,
    smtp_port: u16,
    imap_host: String,
    imap_port: u16,
    password: String,
}

async fn send(m: &Mail, from: &str, to: &str, raw: &[u8]) {
    let transport =
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(&m.smtp_host)
            .port(m.smtp_port)
            .build();
    let envelope =
        lettre::address::Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()])
            .unwrap();
    transport.send_raw(&envelope, raw).await.expect("SMTP send");
}

/// Waits until a message in `user`'s INBOX has `needle` in its headers; polls every 20 ms over one
/// IMAP session.
async fn wait_for(m: &Mail, user: &str, needle: &str, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let tcp = tokio::net::TcpStream::connect((m.imap_host.as_str(), m.imap_port))
        .await
        .unwrap();
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.unwrap();
    let mut s = client
        .login(user, &m.password)
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    loop {
        let mailbox = s.select("INBOX").await.unwrap();
        if mailbox.exists > 0 {
            let fetched: Vec<_> = s
                .fetch("1:*", "BODY.PEEK[HEADER]")
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            if fetched.iter().any(|f| {
                f.header()
                    .is_some_and(|h| String::from_utf8_lossy(h).contains(needle))
            }) {
                let _ = s.logout().await;
                return Some(start.elapsed());
            }
        }
        if start.elapsed() > within {
            let _ = s.logout().await;
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn message(from: &str, to: &str, subject: &str, id: &str, attachment: Option<&str>) -> Vec<u8> {
    use agency_portal::mail::message::base64_lines as encode;
    let mut m = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    );
    match attachment {
        None => m.push_str("Content-Type: text/plain\r\n\r\nhello\r\n"),
        Some(csv) => m.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
             Content-Type: text/plain\r\n\r\nattached\r\n--b\r\n\
             Content-Type: text/csv\r\nContent-Disposition: attachment; filename=\"week.csv\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
            encode(csv.as_bytes())
        )),
    }
    m.into_bytes()
}

fn sheet(run: usize) -> String {
    let mut s = String::from("First Name,Last Name,Email,Mobile,Campaign\n");
    for i in 0..50 {
        s.push_str(&format!(
            "Person{run}x{i},Family{i},p{run}x{i}@example.com,0917{:07},40123\n",
            run * 100 + i
        ));
    }
    s
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Times `runs` sheets through `agency-portal run` with `check_ms` (0: IDLE alone); `first` numbers
/// the sheets, so that every daemon gets people of its own. The daemon's log is `DIR/daemon-N.log`.
async fn portal(
    m: &Mail,
    bin: &Path,
    work: &Path,
    check_ms: u64,
    first: usize,
    runs: usize,
) -> Vec<Duration> {
    let (intake, ana) = (INTAKE, ANA);
    std::fs::write(
        work.join("agency-portal.toml"),
        format!(
            "[database]\nurl = \"sqlite://portal.db\"\n[directory]\npath = \"directory.toml\"\n\
             [intake.mailbox]\nkind = \"imap\"\nhost = \"{}\"\nport = {}\ntls = \"none\"\n\
             username = \"{intake}\"\npassword = \"{}\"\naddress = \"{intake}\"\n\
             check_ms = {check_ms}\n[intake.drop]\npath = \"\"\n\
             [mail]\nfrom = \"Agency Portal <{intake}>\"\ntransport = \"smtp\"\nhost = \"{}\"\n\
             port = {}\ntls = \"none\"\ntimeout_secs = 10\n",
            m.imap_host, m.imap_port, m.password, m.smtp_host, m.smtp_port
        ),
    )
    .unwrap();
    std::fs::write(
        work.join("directory.toml"),
        format!(
            "[[owners]]\nemail = \"olivia@co.test\"\nname = \"Olivia\"\n\n\
             [[agencies]]\nid = \"acme\"\nname = \"Acme\"\ncountry = \"PH\"\nadded_by = \"olivia@co.test\"\n\
             domains = [\"acme.test\"]\n\n  [[agencies.users]]\n  email = \"{ana}\"\n  name = \"Ana\"\n  role = \"admin\"\n\n\
             [[campaigns]]\nid = \"40123\"\nname = \"CS Manila\"\ncountry = \"PH\"\ncreated_by = \"olivia@co.test\"\n"
        ),
    )
    .unwrap();
    let log_path = work.join(format!("daemon-{check_ms}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut daemon = Command::new(bin)
        .arg("--config")
        .arg(work.join("agency-portal.toml"))
        .arg("run")
        // AGENCY_PORTAL_LOG=agency_portal=debug shows where the time goes (in the daemon's log).
        .env(
            "AGENCY_PORTAL_LOG",
            std::env::var("AGENCY_PORTAL_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("agency-portal run");
    // Let it connect and go idle (its invitation to Ana goes out meanwhile).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut times = Vec::new();
    let mut marks = Vec::new();
    for i in first..first + runs {
        // A sheet comes when it comes: without this pause each one would arrive at the same point
        // of the daemon's checks (the bench sends the next as soon as it sees a receipt).
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..500))).await;
        let id = format!("sheet-{i}-{}@acme.test", std::process::id());
        let raw = message(ana, intake, &format!("week {i}"), &id, Some(&sheet(i)));
        send(m, ana, intake, &raw).await;
        // Each run's SMTP accept, to read beside the daemon's log timestamps.
        marks.push(format!(
            "run {i}: accepted {}",
            chrono::Utc::now().to_rfc3339()
        ));
        let t = wait_for(
            m,
            ana,
            &format!("In-Reply-To: <{id}>"),
            Duration::from_secs(60),
        )
        .await;
        match t {
            Some(t) => times.push(t),
            None => {
                let _ = daemon.kill();
                eprintln!(
                    "no receipt for run {i} within 60 s; daemon log:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
                std::process::exit(1);
            }
        }
    }
    let accepted = work.join(format!("accepted-{check_ms}.txt"));
    std::fs::write(accepted, marks.join("\n") + "\n").unwrap();
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let _ = daemon.wait();
    times
}

/// Times `runs` messages from SMTP accept to visible in the baseline mailbox: plain ones, or with
/// a 50-row sheet attached.
async fn baseline(m: &Mail, runs: usize, with_sheet: bool) -> Vec<Duration> {
    let (from, to) = ("someone@bench.test", "baseline@bench.test");
    let mut times = Vec::new();
    for i in 0..runs {
        let id = format!(
            "baseline-{with_sheet}-{i}-{}@bench.test",
            std::process::id()
        );
        let sheet = with_sheet.then(|| sheet(i));
        send(m, from, to, &message(from, to, "hi", &id, sheet.as_deref())).await;
        let t = wait_for(m, to, &id, Duration::from_secs(30))
            .await
            .expect("a message to the baseline mailbox arrives");
        times.push(t);
    }
    times
}

const INTAKE: &str = "intake@portal.test";
const ANA: &str = "ana@acme.test";

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let bin = PathBuf::from(arg("--bin").expect("--bin"));
    let work = PathBuf::from(arg("--work").expect("--work"));
    let runs: usize = arg("--runs").map_or(11, |r| r.parse().expect("--runs N"));
    let check_ms: u64 = arg("--check-ms").map_or(100, |r| r.parse().expect("--check-ms N"));
    let m = Mail {
        smtp_host: var("AGENCY_PORTAL_TEST_SMTP_HOST"),
        smtp_port: var("AGENCY_PORTAL_TEST_SMTP_PORT").parse().unwrap(),
        imap_host: var("AGENCY_PORTAL_TEST_IMAP_HOST"),
        imap_port: var("AGENCY_PORTAL_TEST_IMAP_PORT").parse().unwrap(),
        password: var("AGENCY_PORTAL_TEST_IMAP_PASSWORD"),
    };

    // 1. Baselines: the mail loop alone.
    let plain = baseline(&m, runs, false).await;
    let sized = baseline(&m, runs, true).await;
    // 2. The portal: IDLE alone, then with the check.
    let idle = portal(&m, &bin, &work, 0, 0, runs).await;
    let checked = portal(&m, &bin, &work, check_ms, runs, runs).await;

    let ms = |d: &Duration| format!("{:.0}", d.as_secs_f64() * 1000.0);
    let line = |what: &str, v: &[Duration]| {
        println!(
            "{what}, ms: {}",
            v.iter().map(ms).collect::<Vec<_>>().join(" ")
        )
    };
    line(
        "baseline (SMTP accept -> visible over IMAP, plain message)",
        &plain,
    );
    line(
        "baseline (the same, a message with the 50-row sheet attached)",
        &sized,
    );
    line(
        "portal, IDLE alone (SMTP accept -> receipt visible over IMAP, 50-row sheet)",
        &idle,
    );
    line(
        &format!("portal, check_ms = {check_ms} (the same)"),
        &checked,
    );
    let (b, s, i, p) = (median(plain), median(sized), median(idle), median(checked));
    println!(
        "median: baseline {} ms (with the sheet {} ms); portal {} ms with check_ms = {check_ms} \
         ({:.1}x the mail loop), {} ms with IDLE alone; budget {} ms: {}",
        ms(&b),
        ms(&s),
        ms(&p),
        p.as_secs_f64() / b.as_secs_f64().max(1e-6),
        ms(&i),
        BUDGET.as_millis(),
        if p <= BUDGET { "within" } else { "OVER" }
    );
    if p > BUDGET {
        std::process::exit(1);
    }
}
