//! Helpers shared by the integration tests' modules (`use crate::support;`).
//!
//! Postgres comes from `scripts/test`, which starts a private cluster and exports
//! `AGENCY_PORTAL_TEST_POSTGRES_URL`. Tests never skip when it is missing: they fail with a message
//! saying how to run them.
pub mod mail;
pub mod portal;
pub mod talkpush;

pub use portal::{portal, shipped_config, Portal};

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{Connection, PgConnection};

/// Name of the variable `scripts/test` sets to the private cluster's superuser URL.
pub const POSTGRES_URL_VAR: &str = "AGENCY_PORTAL_TEST_POSTGRES_URL";

/// URL of the private test cluster's `postgres` database (superuser, trust auth).
///
/// Panics when the variable is unset: the tests must be run with `scripts/test`.
pub fn postgres_admin_url() -> String {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{POSTGRES_URL_VAR} is not set: run the tests with scripts/test, which starts a private \
             Postgres (or start one yourself and set {POSTGRES_URL_VAR}=postgres://USER@HOST:PORT/postgres)"
        ),
    }
}

/// Replace the database name in a `postgres://…/db?query` URL.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Create a new, empty, uniquely named database on the test cluster and return its URL.
pub async fn fresh_postgres_url() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let admin = postgres_admin_url();
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
        panic!("cannot connect to the test Postgres at {admin}: {e} (is scripts/test's cluster running?)")
    });
    sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name} failed on {admin}: {e}"));
    conn.close().await.ok();
    with_database(&admin, &name)
}

/// URL of a new SQLite database file inside `dir` (a `tempfile::TempDir`'s path, typically).
/// The file does not exist yet; the store creates it.
pub fn fresh_sqlite_url(dir: &Path) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("test-{n}.db"));
    format!("sqlite://{}", path.display())
}

/// Generates `<name>::sqlite` and `<name>::postgres` tests from one `async fn <name>(Store)`: the
/// store tests run on both backends, each on a fresh database.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let dir = tempfile::tempdir().unwrap();
                let url = $crate::support::fresh_sqlite_url(dir.path());
                let store = agency_portal::store::Store::open(&url).await.unwrap();
                super::$name(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let url = $crate::support::fresh_postgres_url().await;
                let store = agency_portal::store::Store::open(&url).await.unwrap();
                super::$name(store).await;
            }
        }
    };
}

/// This test binary again, as a child running only the test `name` of the module `module_path`
/// (the caller's `module_path!()`): libtest knows a test by its path without the crate's name
/// (`sheet_hostile::child_entry`), so the module is part of what it selects.
pub fn this_test_binary(module_path: &str, name: &str) -> std::process::Command {
    let module = module_path.split_once("::").map_or("", |(_, m)| m);
    let mut cmd =
        std::process::Command::new(std::env::current_exe().expect("the test binary's path"));
    cmd.arg(format!("{module}::{name}"))
        .args(["--exact", "--nocapture", "--test-threads=1"]);
    cmd
}

/// The mail composer of the shipped config (its templates, the example addresses).
pub fn composer() -> agency_portal::mail::Composer {
    agency_portal::mail::Composer::new(
        "Agency Portal <portal@example.test>",
        "portal@example.test",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("config/templates"),
    )
    .expect("the shipped templates load")
}
