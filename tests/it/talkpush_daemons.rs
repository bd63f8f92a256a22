//! Talkpush sync through the real binary (SPEC §11 (r2), issue 13): `config check` proving the key,
//! a `kill -9` of the daemon between a create and its record (no second lead after the restart),
//! three daemons on one Postgres pushing 300 new candidates (300 leads), `talkpush status`,
//! `candidates`, and `import-existing --from-talkpush` paging through the company's leads.

use crate::support;
use crate::support::talkpush as stand_in;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use agency_portal::store::Store;
use stand_in::{StandIn, API_KEY};
use tokio::process::{Child, Command};

const KEY_VAR: &str = "TALKPUSH_API_KEY_FOR_TESTS";

fn shipped_directory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/directory.toml")
}

/// Settings in `dir`: the shipped directory, no intake, a file outbox, Talkpush at `server`.
fn config(dir: &Path, db_url: &str, server: &StandIn) -> PathBuf {
    let path = dir.join("agency-portal.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"{db_url}\"\n[directory]\npath = \"{}\"\n\
             [intake.mailbox]\nkind = \"none\"\n[intake.drop]\npath = \"\"\n\
             [mail]\ntransport = \"file\"\npath = \"outbox\"\n\
             [talkpush]\nbase_url = \"{}\"\napi_key_env = \"{KEY_VAR}\"\n\
             api_secret_env = \"TALKPUSH_API_SECRET_UNSET_IN_TESTS\"\n\
             source = \"Agency Portal\"\nenabled = true\ntimeout_secs = 1\n",
            shipped_directory().display(),
            server.base_url
        ),
    )
    .unwrap();
    path
}

/// [`support::portal`] as a tokio command with the stand-in's API key, killed when dropped.
fn portal(config: &Path) -> Command {
    let mut c = Command::from(support::portal(config));
    c.env(KEY_VAR, API_KEY)
        .env("AGENCY_PORTAL_LOG", "warn")
        .kill_on_drop(true);
    c
}

async fn run(cmd: &mut Command) -> (Output, String) {
    let out = cmd.output().await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// Person k's email: local parts far apart, so no two people are a possible same person (§6.3).
fn email(k: usize, tag: &str) -> String {
    let h = ((k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32;
    format!("c{h:08x}.{tag}@example.com")
}

/// Person k's mobile (national digits): multiples of 37 apart, so no two are one substitution or
/// one transposition apart (37 divides no d·10^i or 9·d·10^i with d < 10).
fn phone(k: usize) -> String {
    format!("0917{:07}", 1_000_000 + 37 * k)
}

/// People, one a line, for acme in campaign 40123 (which requires a phone).
fn csv(people: impl Iterator<Item = usize>, tag: &str) -> String {
    let mut s = String::from("First Name,Last Name,Email,Mobile,Campaign\n");
    for k in people {
        s.push_str(&format!(
            "Person{k},Tester,{},{},40123\n",
            email(k, tag),
            phone(k)
        ));
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_proves_the_key_and_says_when_it_is_refused() {
    let server = StandIn::start(&["40123"]).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &support::fresh_sqlite_url(dir.path()), &server);
    let (out, text) = run(portal(&cfg).args(["config", "check"])).await;
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "Talkpush {}: reached, the API key works",
            server.base_url
        )),
        "{text}"
    );
    assert!(!text.contains(API_KEY), "the key is never printed");
    let (out, text) = run(portal(&cfg)
        .args(["config", "check"])
        .env(KEY_VAR, "wrong-key"))
    .await;
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("the API key was refused (401"), "{text}");
    assert!(!text.contains("wrong-key"), "{text}");
    // A typo in the section is reported with its line; the key's variable unset is said plainly.
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("base_url = \"http://", "base_url = \"ftp://")
            .replace("enabled = true", "enabled = true\napi_kee = \"x\""),
    )
    .unwrap();
    let (out, text) = run(portal(&cfg).args(["config", "check", "--offline"])).await;
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("api_kee"), "{text}");
    assert!(
        text.contains("`base_url` scheme ftp is not https"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_between_the_create_and_its_record_makes_no_second_lead() {
    let server = StandIn::start(&["40123"]).await;
    let dir = tempfile::tempdir().unwrap();
    let url = support::fresh_postgres_url().await;
    let cfg = config(dir.path(), &url, &server);
    let file = dir.path().join("acme.csv");
    std::fs::write(&file, csv(0..1, "kill")).unwrap();
    let (out, text) = run(portal(&cfg)
        .arg("ingest")
        .arg(&file)
        .args(["--agency", "acme"]))
    .await;
    assert!(out.status.success(), "{text}");
    let (_, text) = run(portal(&cfg).args(["talkpush", "status"])).await;
    assert!(text.contains("talkpush: 1 pending"), "{text}");

    // The daemon kills itself with SIGKILL once Talkpush answered the create.
    let (out, text) = run(portal(&cfg)
        .args(["run", "--once"])
        .env(agency_portal::talkpush::worker::CRASH_AFTER_CREATE_ENV, "1"))
    .await;
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(9), "{text}");
    assert_eq!(server.leads().len(), 1, "Talkpush has the lead");
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.push_rows(None).await.unwrap()[0].status, "pushing");

    // Restarted: once the dead daemon's lease expires, the search finds the lead.
    let start = Instant::now();
    loop {
        let (out, text) = run(portal(&cfg).args(["run", "--once"])).await;
        assert!(out.status.success(), "{text}");
        if store.push_rows(Some("synced")).await.unwrap().len() == 1 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not synced: {text}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(server.leads().len(), 1, "no second lead");
    assert_eq!(server.creates(), 1);
    let row = &store.push_rows(None).await.unwrap()[0];
    assert_eq!(row.result.as_deref(), Some("found"));
    let lead = server.leads()[0].id;
    let (_, text) = run(portal(&cfg).args(["candidates"])).await;
    assert!(text.contains(&format!("synced {lead}")), "{text}");
    let (_, text) = run(portal(&cfg).args(["talkpush", "status", "--all"])).await;
    assert!(
        text.contains("talkpush: 0 pending, 0 pushing, 1 synced, 0 failed"),
        "{text}"
    );
    store.close().await;
}

/// The daemons, killed if the test fails before it stops them.
struct Daemons(Vec<Child>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for d in &mut self.0 {
            let _ = d.start_kill();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_push_300_new_candidates_as_300_leads() {
    const PEOPLE: usize = 300;
    let server = StandIn::start(&["40123"]).await;
    let dir = tempfile::tempdir().unwrap();
    let url = support::fresh_postgres_url().await;
    let cfg = config(dir.path(), &url, &server);
    let (out, text) = run(portal(&cfg).arg("migrate")).await;
    assert!(out.status.success(), "{text}");
    let mut daemons = Daemons(
        (0..3)
            .map(|i| {
                let log = std::fs::File::create(dir.path().join(format!("daemon{i}.log"))).unwrap();
                portal(&cfg)
                    .arg("run")
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .unwrap()
            })
            .collect(),
    );
    // Three files of 100, so the daemons find work at different times.
    for f in 0..3 {
        let file = dir.path().join(format!("acme{f}.csv"));
        std::fs::write(&file, csv(f * 100..(f + 1) * 100, "three")).unwrap();
        let (out, text) = run(portal(&cfg)
            .arg("ingest")
            .arg(&file)
            .args(["--agency", "acme"]))
        .await;
        assert!(out.status.success(), "{text}");
    }
    let store = Store::open(&url).await.unwrap();
    let start = Instant::now();
    let mut synced = 0;
    while start.elapsed() < Duration::from_secs(120) {
        synced = store.push_rows(Some("synced")).await.unwrap().len();
        if synced == PEOPLE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let logs = || {
        (0..3)
            .map(|i| {
                std::fs::read_to_string(dir.path().join(format!("daemon{i}.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    assert_eq!(synced, PEOPLE, "after {:?}\n{}", start.elapsed(), logs());
    eprintln!("{PEOPLE} pushes by three daemons in {:?}", start.elapsed());
    for d in &daemons.0 {
        // SAFETY: signalling a child we started.
        unsafe { libc::kill(d.id().unwrap() as i32, libc::SIGTERM) };
    }
    for d in &mut daemons.0 {
        let status = tokio::time::timeout(Duration::from_secs(30), d.wait())
            .await
            .expect("a daemon stops on SIGTERM")
            .unwrap();
        assert!(status.success(), "{}", logs());
    }
    let leads = server.leads();
    assert_eq!(leads.len(), PEOPLE, "one lead per candidate");
    let mut per_email: BTreeMap<String, usize> = BTreeMap::new();
    for l in &leads {
        *per_email.entry(l.email.clone()).or_default() += 1;
    }
    assert_eq!(per_email.len(), PEOPLE);
    assert!(per_email.values().all(|&n| n == 1));
    assert_eq!(server.creates(), PEOPLE, "no create sent twice");
    let rows = store.push_rows(None).await.unwrap();
    assert!(rows.iter().all(|r| r.result.as_deref() == Some("created")));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_existing_from_talkpush_pages_through_the_leads_into_the_blocked_list() {
    let server = StandIn::start(&["40123", "40124"]).await;
    // 25 leads in 40123 (three pages of 12), 2 in 40124.
    for k in 0..27 {
        let campaign = if k < 25 { "40123" } else { "40124" };
        server.seed(
            campaign,
            &format!("Lead{k}"),
            "Existing",
            &email(k, "tp"),
            &phone(k),
        );
    }
    // Two of 40123's were made later.
    server.with(|s| {
        for l in &mut s.leads[20..22] {
            l.created_at = "2026-11-20T08:00:00Z".into();
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &support::fresh_sqlite_url(dir.path()), &server);
    let (out, text) = run(portal(&cfg).args([
        "import-existing",
        "--from-talkpush",
        "--campaign",
        "40123",
        "--since",
        "2026-11-15",
        "--json",
    ]))
    .await;
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("read 2 leads from Talkpush (1 page)") && text.contains("\"new\": 2"),
        "{text}"
    );
    let (out, text) = run(portal(&cfg).args([
        "import-existing",
        "--from-talkpush",
        "--campaign",
        "40123",
        "--json",
    ]))
    .await;
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("read 25 leads from Talkpush (3 pages)"),
        "{text}"
    );
    // Two were imported by the first run (`--since`); the rest are added.
    assert!(
        text.contains("\"new\": 23") && text.contains("\"invalid\": 0"),
        "{text}"
    );
    // The same leads again: nobody is added.
    let (out, text) =
        run(portal(&cfg).args(["import-existing", "--from-talkpush", "--campaign", "40123"])).await;
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("added 0, already in the pipeline 25"),
        "{text}"
    );
    // An agency sending one of them: blocked, and nothing is pushed.
    let file = dir.path().join("acme.csv");
    std::fs::write(
        &file,
        format!(
            "First Name,Last Name,Email,Mobile,Campaign\nLead7,Existing,{},{},40123\n",
            email(7, "tp"),
            phone(7)
        ),
    )
    .unwrap();
    let (out, text) = run(portal(&cfg)
        .arg("ingest")
        .arg(&file)
        .args(["--agency", "acme", "--json"]))
    .await;
    assert!(out.status.success(), "{text}");
    assert!(text.contains("\"blocked\": 1"), "{text}");
    let (_, text) = run(portal(&cfg).args(["talkpush", "status"])).await;
    assert!(
        text.contains("talkpush: 0 pending, 0 pushing, 0 synced, 0 failed"),
        "{text}"
    );
    assert_eq!(server.creates(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_push_is_in_the_owner_digest_and_talkpush_retry_failed_pushes_it() {
    // The stand-in does not know campaign 40124 (yet).
    let server = StandIn::start(&["40123"]).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &support::fresh_sqlite_url(dir.path()), &server);
    let file = dir.path().join("acme.csv");
    std::fs::write(
        &file,
        format!(
            "First Name,Last Name,Email,Mobile,Campaign\nCarl,Diaz,{},{},40124\n",
            email(1, "refused"),
            phone(1)
        ),
    )
    .unwrap();
    let (out, text) = run(portal(&cfg)
        .arg("ingest")
        .arg(&file)
        .args(["--agency", "acme"]))
    .await;
    assert!(out.status.success(), "{text}");
    let (out, text) = run(portal(&cfg).args(["run", "--once"])).await;
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("talkpush: 0 synced, 0 to retry later, 1 failed"),
        "{text}"
    );
    let (_, text) = run(portal(&cfg).args(["talkpush", "status"])).await;
    assert!(
        text.contains("campaign 40124\tfailed Talkpush answered 404"),
        "{text}"
    );
    let (out, text) = run(portal(&cfg).args(["digest", "preview", "--kind", "owner"])).await;
    assert!(out.status.success(), "{text}");
    assert!(text.contains("candidates Talkpush refused: 1"), "{text}");
    assert!(
        text.contains("campaign 40124: Talkpush answered 404"),
        "{text}"
    );
    // The campaign is made in Talkpush.
    server.with(|s| s.campaigns.insert("40124".into()));
    let (out, text) = run(portal(&cfg).args(["talkpush", "retry", "--failed"])).await;
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 push due now"), "{text}");
    assert!(
        text.contains("talkpush: 1 synced, 0 to retry later, 0 failed"),
        "{text}"
    );
    assert_eq!(server.leads_with_email(&email(1, "refused")), 1);
    // `push --candidate` of an unknown candidate says so.
    let (out, text) = run(portal(&cfg).args(["talkpush", "push", "--candidate", "999"])).await;
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("candidate 999 has no agency ownership"),
        "{text}"
    );
}
