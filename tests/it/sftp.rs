//! End to end over real OpenSSH (SPEC §4.2): `sftp-setup --apply` configures the private sshd of
//! scripts/test (AGENCY_PORTAL_TEST_SERVICES with `sshd`); the OpenSSH `sftp` client in batch mode
//! uploads as an agency into its chroot; the hidden `drop` command (the drop source alone)
//! processes the files; results are downloaded over SFTP. Also: one agency cannot see another's
//! folder, a slow 20 MB upload is taken once and whole, a WinSCP-style `.filepart` rename is taken
//! once. And (SPEC §7 (r2)) a key registered by email with `sftp-key` lets the agency in, and
//! is refused once removed.

use crate::support::{self, portal};

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use agency_portal::store::Store;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests with scripts/test, whose private sshd this test \
             configures (AGENCY_PORTAL_TEST_SERVICES must include sshd)"
        )
    })
}

struct Ssh {
    port: String,
    key: String,
    known_hosts: String,
    dir: PathBuf,
    config: PathBuf,
}

impl Ssh {
    fn from_env() -> Ssh {
        Ssh {
            port: var("AGENCY_PORTAL_TEST_SSH_PORT"),
            key: var("AGENCY_PORTAL_TEST_SSH_KEY"),
            known_hosts: var("AGENCY_PORTAL_TEST_SSH_KNOWN_HOSTS"),
            dir: PathBuf::from(var("AGENCY_PORTAL_TEST_SSH_DIR")),
            config: PathBuf::from(var("AGENCY_PORTAL_TEST_SSH_CONFIG")),
        }
    }

    /// `sftp -b` as `user`, optionally throttled to `limit` Kbit/s.
    fn sftp(&self, work: &Path, user: &str, batch: &str, limit: Option<u32>) -> Output {
        let file = work.join(format!("batch-{}", uuid::Uuid::new_v4()));
        std::fs::write(&file, batch).unwrap();
        let mut cmd = Command::new("sftp");
        cmd.arg("-b")
            .arg(&file)
            .args(["-i", &self.key, "-P", &self.port])
            .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"])
            .args(["-o", "StrictHostKeyChecking=yes"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts));
        if let Some(l) = limit {
            cmd.args(["-l", &l.to_string()]);
        }
        cmd.arg(format!("{user}@127.0.0.1"));
        cmd.output().unwrap()
    }

    fn ok(&self, work: &Path, user: &str, batch: &str) -> String {
        let out = self.sftp(work, user, batch, None);
        assert!(
            out.status.success(),
            "sftp as {user} failed for:\n{batch}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The batch fails, or (sftp's `ls` of the current folder exits 0 on errors) reports them.
    fn fails(&self, work: &Path, user: &str, batch: &str) -> String {
        let out = self.sftp(work, user, batch, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() || stderr.contains("Permission denied"),
            "sftp as {user} should have failed:\n{batch}\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Puts the generated Match blocks at the end of the test sshd's config and reloads it.
    fn install(&self, generated: &str) {
        const MARK: &str = "# ---- agency-portal tests/it/sftp.rs ----\n";
        let mut conf = std::fs::read_to_string(&self.config).unwrap();
        if let Some(i) = conf.find(MARK) {
            conf.truncate(i);
        }
        conf.push_str(MARK);
        conf.push_str(generated);
        std::fs::write(&self.config, conf).unwrap();
        let check = Command::new("/usr/sbin/sshd")
            .arg("-t")
            .arg("-f")
            .arg(&self.config)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "sshd rejects the generated configuration: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let pid = std::fs::read_to_string(self.dir.join("pid")).unwrap();
        let status = Command::new("kill")
            .args(["-HUP", pid.trim()])
            .status()
            .unwrap();
        assert!(status.success());
        // sshd re-executes itself: wait for the port.
        let deadline = Instant::now() + Duration::from_secs(10);
        std::thread::sleep(Duration::from_millis(300));
        while std::net::TcpStream::connect(format!("127.0.0.1:{}", self.port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not come back");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The tests here rewrite the one sshd's Match blocks: one test at a time.
    fn lock(&self) -> std::fs::File {
        use std::os::fd::AsRawFd as _;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("tests-sftp.lock"))
            .unwrap();
        // SAFETY: flock on a descriptor we own; released when the file is closed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock: {}", std::io::Error::last_os_error());
        file
    }

    fn authorize(&self, user: &str) {
        let public = std::fs::read_to_string(format!("{}.pub", self.key)).unwrap();
        let path = self.dir.join("authorized_keys").join(user);
        let existing = std::fs::read_to_string(&path).unwrap_or_default();
        if !existing.contains(public.trim()) {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap();
            writeln!(f, "{}", public.trim()).unwrap();
        }
    }
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A workbook of about `size` bytes: a real sample plus a stored part of incompressible bytes.
fn padded_xlsx(size: usize) -> Vec<u8> {
    let sample = std::fs::read(repo().join("samples/people-libreoffice.xlsx")).unwrap();
    let mut cursor = std::io::Cursor::new(sample);
    {
        let mut zip = zip::ZipWriter::new_append(&mut cursor).unwrap();
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(false);
        zip.start_file("xl/media/padding.bin", opts).unwrap();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut buf = Vec::with_capacity(size);
        while buf.len() < size {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf.extend_from_slice(&x.to_le_bytes());
        }
        zip.write_all(&buf).unwrap();
        zip.finish().unwrap();
    }
    cursor.into_inner()
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agencies_upload_over_sftp_into_their_own_chroot_only() {
    let ssh = Ssh::from_env();
    let _lock = ssh.lock();
    // OpenSSH wants every folder above a chroot owned by root and not group/world-writable: /tmp
    // (and a checkout under it) does not qualify, so the test works under /srv, which does.
    let parent = PathBuf::from("/srv/agency-portal-tests");
    std::fs::create_dir_all(&parent).unwrap();
    std::fs::set_permissions(&parent, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let base = parent.join(format!(
        "sftp-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    let drop_root = base.join("drop");
    // Receipts go to acme's admin through the private OpenSMTPD into Dovecot.
    let _smtp = support::mail::smtp_lock(false);
    let mail = support::mail::mail_env();
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(&base).unwrap();
    let db_url = format!("sqlite://{}", base.join("portal.db").display());
    let config = base.join("agency-portal.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{db_url}\"\n\n[directory]\npath = \"{}\"\n\n\
             [intake.mailbox]\nkind = \"none\"\n\n[intake.drop]\npath = \"{}\"\nsettle_ms = 1000\n\n\
             [mail]\nfrom = \"Agency Portal <portal@example.test>\"\ntransport = \"smtp\"\n\
             host = \"{}\"\nport = {}\ntls = \"none\"\ntimeout_secs = 10\n",
            repo().join("config/directory.toml").display(),
            drop_root.display(),
            mail.smtp_host,
            mail.smtp_port
        ),
    )
    .unwrap();

    // sftp-setup prints the plan; --apply creates accounts, folders, owners, and the config.
    let printed = portal(&config).arg("sftp-setup").output().unwrap();
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    let printed = String::from_utf8_lossy(&printed.stdout).into_owned();
    assert!(printed.contains("Match User ap-acme"), "{printed}");
    assert!(
        printed.contains("ForceCommand internal-sftp -d /acme"),
        "{printed}"
    );
    let generated = ssh.dir.join("agency-portal.conf");
    let applied = portal(&config)
        .arg("sftp-setup")
        .arg("--apply")
        .arg("--sshd-config")
        .arg(&generated)
        .arg("--authorized-keys")
        .arg(ssh.dir.join("authorized_keys/%u"))
        .output()
        .unwrap();
    assert!(
        applied.status.success(),
        "{}{}",
        String::from_utf8_lossy(&applied.stdout),
        String::from_utf8_lossy(&applied.stderr)
    );
    let generated = std::fs::read_to_string(&generated).unwrap();
    ssh.install(&generated);
    ssh.authorize("ap-acme");
    ssh.authorize("ap-bayanihan");

    // Schema first: the daemon and this test then only read it.
    let migrated = portal(&config).arg("migrate").output().unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let log = std::fs::File::create(base.join("drop.log")).unwrap();
    let _daemon = Daemon(
        portal(&config)
            .arg("drop")
            .env("AGENCY_PORTAL_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let w = work.path();
    let acme = drop_root.join("acme");
    let store = Store::open(&db_url).await.unwrap();

    // 1. Upload, processing, results downloaded over SFTP.
    let sample = repo().join("samples/people-xlsxwriter.xlsx");
    ssh.ok(
        w,
        "ap-acme",
        &format!("put {} week48.xlsx\n", sample.display()),
    );
    wait_for("week48-results.xlsx", 30, || {
        ssh.ok(w, "ap-acme", "ls results\n")
            .contains("week48-results.xlsx")
    });
    let got = w.join("got.xlsx");
    ssh.ok(
        w,
        "ap-acme",
        &format!("get results/week48-results.xlsx {}\n", got.display()),
    );
    {
        use calamine::Reader as _;
        let mut book: calamine::Xlsx<_> = calamine::open_workbook(&got).unwrap();
        let range = book.worksheet_range_at(0).unwrap().unwrap();
        assert_eq!(range.height(), 51, "a header and the 50 people");
    }
    let processed = ssh.ok(w, "ap-acme", "ls processed\n");
    assert!(processed.contains("-week48.xlsx"), "{processed}");

    // 2. Isolation: agency A cannot see or touch agency B, the chroot root, or its own outputs.
    std::fs::write(drop_root.join("bayanihan/results/secret.xlsx"), b"secret").unwrap();
    for batch in [
        "ls /bayanihan\n",
        "ls /bayanihan/results\n",
        "get /bayanihan/results/secret.xlsx /dev/null\n",
        "cd /bayanihan\nls\n",
        "ls /\n",
        "put /etc/hostname /bayanihan/x.csv\n",
        "put /etc/hostname results/evil.xlsx\n",
        "rm results/week48-results.xlsx\n",
        "rename results gone\n",
        "rmdir check\n",
    ] {
        let err = ssh.fails(w, "ap-acme", batch);
        assert!(
            err.contains("denied") || err.contains("not found") || err.contains("Failure"),
            "{batch}: {err}"
        );
    }
    ssh.fails(w, "ap-bayanihan", "ls /acme\n");
    ssh.ok(w, "ap-bayanihan", "ls\n");
    assert!(acme.join("results/week48-results.xlsx").is_file());

    // 3. WinSCP style: x.xlsx.filepart, left a while, then renamed to x.xlsx: taken once.
    let other = repo().join("samples/people-openpyxl.xlsx");
    ssh.ok(
        w,
        "ap-acme",
        &format!("put {} x.xlsx.filepart\n", other.display()),
    );
    std::thread::sleep(Duration::from_millis(2500)); // longer than settle_ms
    assert!(
        acme.join("x.xlsx.filepart").is_file(),
        "a .filepart is not taken"
    );
    ssh.ok(w, "ap-acme", "rename x.xlsx.filepart x.xlsx\n");
    wait_for("x.xlsx processed", 30, || {
        listing(&acme.join("processed"))
            .iter()
            .any(|n| n.ends_with("-x.xlsx"))
    });

    // 4. 20 MB uploaded slowly (16 Mbit/s, ~10 s): taken once, after the upload, whole.
    let big = padded_xlsx(20 * 1024 * 1024);
    let big_path = w.join("big.xlsx");
    std::fs::write(&big_path, &big).unwrap();
    let started = Instant::now();
    let uploader = {
        let batch = format!("put {} big.xlsx\n", big_path.display());
        let ssh = Ssh::from_env();
        let w = w.to_path_buf();
        std::thread::spawn(move || ssh.sftp(&w, "ap-acme", &batch, Some(16_000)))
    };
    let mut seen_growing = false;
    while !uploader.is_finished() {
        assert!(
            !listing(&acme.join("processed"))
                .iter()
                .any(|n| n.ends_with("-big.xlsx")),
            "taken while still uploading"
        );
        assert!(!listing(&acme.join("failed"))
            .iter()
            .any(|n| n.starts_with("big")));
        if let Ok(m) = std::fs::metadata(acme.join("big.xlsx")) {
            seen_growing |= m.len() < big.len() as u64;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = uploader.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let upload_time = started.elapsed();
    assert!(seen_growing, "the upload was observed in progress");
    wait_for("big.xlsx processed", 30, || {
        listing(&acme.join("processed"))
            .iter()
            .any(|n| n.ends_with("-big.xlsx"))
    });
    eprintln!(
        "20 MB upload took {upload_time:?}; taken {:?} after it ended",
        started.elapsed() - upload_time
    );
    std::thread::sleep(Duration::from_millis(2000));
    let subs = store.submissions_view(Some("acme"), None).await.unwrap();
    let files: Vec<&str> = subs.iter().map(|s| s.file.as_str()).collect();
    assert_eq!(files, ["week48.xlsx", "x.xlsx", "big.xlsx"], "each once");
    let big_sub = &subs[2];
    assert_eq!(
        big_sub.sha256,
        agency_portal::app::sha256_hex(&big),
        "never truncated"
    );
    assert_eq!(big_sub.status, "processed", "{}", big_sub.reason);
    let moved: Vec<String> = listing(&acme.join("processed"));
    let big_moved = moved.iter().find(|n| n.ends_with("-big.xlsx")).unwrap();
    assert_eq!(
        std::fs::read(acme.join("processed").join(big_moved)).unwrap(),
        big
    );
    assert!(
        listing(&acme)
            .iter()
            .all(|n| !n.ends_with(".xlsx") && !n.ends_with(".filepart")),
        "{:?}",
        listing(&acme)
    );
    // One receipt per file, by email to acme's admin (the outbox row was written with the
    // submission; `outbox flush` sends what is due).
    let flushed = portal(&config).args(["outbox", "flush"]).output().unwrap();
    assert!(
        flushed.status.success(),
        "{}",
        String::from_utf8_lossy(&flushed.stderr)
    );
    let mails =
        support::mail::wait_for_mail("ana@acme-staffing.example", 4, Duration::from_secs(30)).await;
    let mut receipts: Vec<String> = mails
        .iter()
        .filter_map(|m| {
            let m = mail_parser::MessageParser::default().parse(m)?;
            m.header_raw("X-Agency-Portal-Submission")
                .map(|v| v.trim().to_string())
        })
        .collect();
    receipts.sort();
    let mut expected: Vec<String> = subs.iter().map(|s| s.id.to_string()).collect();
    expected.sort();
    assert_eq!(receipts, expected, "one receipt per uploaded file");
    store.close().await;
    drop(_daemon);
    let _ = std::fs::remove_dir_all(&base);
}

/// Runs `agency-portal <args>` and returns its stdout; fails the test when it fails.
fn portal_ok(config: &Path, args: &[&str]) -> String {
    let out = portal(config).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "agency-portal {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Delivers a command by email into the Maildir, handles it, writes the reply to the file outbox
/// and returns the replies' text so far.
fn email_command(config: &Path, base: &Path, from: &str, subject: &str) -> String {
    email_command_body(config, base, from, subject, "")
}

fn email_command_body(config: &Path, base: &Path, from: &str, subject: &str, body: &str) -> String {
    let raw = support::mail::message(from, subject, &[], body, &[]);
    let name = format!("{}.test", uuid::Uuid::new_v4().simple());
    std::fs::write(base.join("mailbox/new").join(name), raw).unwrap();
    portal_ok(config, &["mail", "--once"]);
    portal_ok(config, &["outbox", "flush"]);
    let mut all = String::new();
    for entry in std::fs::read_dir(base.join("outbox")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let m = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        all.push_str(m.subject().unwrap_or_default());
        all.push('\n');
        all.push_str(&m.body_text(0).unwrap_or_default());
        all.push('\n');
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_registered_by_email_logs_in_and_a_removed_one_does_not() {
    let ssh = Ssh::from_env();
    let _lock = ssh.lock();
    let parent = PathBuf::from("/srv/agency-portal-tests");
    std::fs::create_dir_all(&parent).unwrap();
    std::fs::set_permissions(&parent, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let base = parent.join(format!(
        "keys-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    for d in ["mailbox/new", "mailbox/cur", "mailbox/tmp", "outbox"] {
        std::fs::create_dir_all(base.join(d)).unwrap();
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let drop_root = base.join("drop");
    let keys = base.join("keys");
    let config = base.join("agency-portal.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n\n[directory]\npath = \"{}\"\n\n\
             [intake.mailbox]\nkind = \"maildir\"\npath = \"{}\"\n\n\
             [intake.drop]\npath = \"{}\"\nsftp_host = \"127.0.0.1\"\nsftp_port = {}\n\
             authorized_keys = \"{}/%u\"\n\n\
             [mail]\nfrom = \"Agency Portal <portal@example.test>\"\ntransport = \"file\"\npath = \"{}\"\n",
            base.join("portal.db").display(),
            repo().join("config/directory.toml").display(),
            base.join("mailbox").display(),
            drop_root.display(),
            ssh.port,
            keys.display(),
            base.join("outbox").display(),
        ),
    )
    .unwrap();
    // sftp-setup configures intake.drop.authorized_keys when --authorized-keys is not given.
    let generated = ssh.dir.join("agency-portal-keys.conf");
    portal_ok(
        &config,
        &[
            "sftp-setup",
            "--apply",
            "--sshd-config",
            generated.to_str().unwrap(),
        ],
    );
    let generated = std::fs::read_to_string(&generated).unwrap();
    assert!(
        generated.contains(&format!("AuthorizedKeysFile \"{}/%u\"", keys.display())),
        "{generated}"
    );
    ssh.install(&generated);
    portal_ok(&config, &["migrate"]);

    // A fresh key of Ana's, unknown to sshd so far.
    let key = w.join("ana_ed25519");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "ana@laptop", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    let public = std::fs::read_to_string(w.join("ana_ed25519.pub")).unwrap();
    let listed = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(w.join("ana_ed25519.pub"))
        .output()
        .unwrap();
    let fingerprint = String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    let ana = Ssh {
        key: key.display().to_string(),
        ..Ssh::from_env()
    };
    ana.fails(w, "ap-acme", "ls\n");

    // An editor may not register keys; an admin may, and is told the fingerprint OpenSSH prints.
    let replies = email_command(
        &config,
        &base,
        "Eddie Editor <eddie@acme-staffing.example>",
        &format!("sftp-key {}", public.trim()),
    );
    assert!(replies.contains("Only your agency's admins"), "{replies}");
    assert!(!keys.join("ap-acme").exists());
    // Ana answers her invitation with the key as the first line, wrapped by her mail client.
    let (kind, b64) = public.trim().split_once(' ').unwrap();
    let replies = email_command_body(
        &config,
        &base,
        "Ana Admin <ana@acme-staffing.example>",
        "Re: Welcome to the Agency Portal, Acme Staffing",
        &format!(
            "sftp-key {kind} {}\r\n{}\r\n\r\n> Hello Ana Admin,",
            &b64[..40],
            &b64[40..]
        ),
    );
    assert!(
        replies.contains(&format!(
            "Key {fingerprint} (ED25519) registered for ap-acme"
        )),
        "{replies}"
    );
    let meta = std::fs::metadata(keys.join("ap-acme")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o644
    );
    ana.ok(w, "ap-acme", "ls\n");
    // Not another agency's account.
    ana.fails(w, "ap-bayanihan", "ls\n");

    let replies = email_command(
        &config,
        &base,
        "Ana Admin <ana@acme-staffing.example>",
        "sftp-key list",
    );
    assert!(
        replies.contains("1 key(s) registered for ap-acme"),
        "{replies}"
    );
    let replies = email_command(
        &config,
        &base,
        "Ana Admin <ana@acme-staffing.example>",
        &format!("sftp-key remove {fingerprint}"),
    );
    assert!(
        replies.contains(&format!("Key {fingerprint} (ED25519) removed from ap-acme")),
        "{replies}"
    );
    ana.fails(w, "ap-acme", "ls\n");

    // Owners name the agency; a short RSA key is refused with its size.
    let replies = email_command(
        &config,
        &base,
        "Olivia Owner <olivia@company.example>",
        "sftp-key list",
    );
    assert!(replies.contains("Say which agency"), "{replies}");
    let replies = email_command(
        &config,
        &base,
        "Olivia Owner <olivia@company.example>",
        "[agency bayanihan] sftp-key list",
    );
    assert!(
        replies.contains("0 key(s) registered for ap-bayanihan"),
        "{replies}"
    );
    let weak = w.join("weak_rsa");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
        .arg(&weak)
        .status()
        .unwrap();
    assert!(made.success());
    let weak = std::fs::read_to_string(w.join("weak_rsa.pub")).unwrap();
    let replies = email_command(
        &config,
        &base,
        "Ana Admin <ana@acme-staffing.example>",
        &format!("sftp-key {}", weak.trim()),
    );
    assert!(replies.contains("This RSA key has 2048 bits"), "{replies}");
    assert_eq!(
        std::fs::read_to_string(keys.join("ap-acme")).unwrap(),
        "",
        "nothing registered"
    );
    let _ = std::fs::remove_dir_all(&base);
}
