//! The `agency-portal` binary as the tests run it: [`portal`] for a command on given settings,
//! [`Portal`] for a portal on a fresh database.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// `agency-portal --config CONFIG`, with none of the settings the tests' own environment might
/// carry (`AGENCY_PORTAL_CONFIG`, `AGENCY_PORTAL__*`, `DATABASE_URL`, `AGENCY_PORTAL_LOG`): the
/// file says it all, and the binary logs at its default level unless the caller sets one.
/// A `tokio::process::Command` is `Command::from(portal(config))`.
pub fn portal(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agency-portal"));
    cmd.arg("--config").arg(config);
    for var in ["AGENCY_PORTAL_CONFIG", "DATABASE_URL", "AGENCY_PORTAL_LOG"] {
        cmd.env_remove(var);
    }
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("AGENCY_PORTAL__") {
            cmd.env_remove(var);
        }
    }
    cmd
}

/// The shipped settings file, `config/agency-portal.toml`.
pub fn shipped_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/agency-portal.toml")
}

/// A portal on a fresh database: a temp dir for the test's files, the shipped settings (a test may
/// point `config` at its own) and a new, empty database, which the first command migrates.
pub struct Portal {
    pub dir: TempDir,
    pub config: PathBuf,
    pub database_url: String,
}

impl Portal {
    /// On a new SQLite database, `portal.db` in the temp dir.
    pub fn sqlite() -> Portal {
        let dir = tempfile::tempdir().expect("a temp dir");
        let database_url = format!("sqlite://{}", dir.path().join("portal.db").display());
        Portal {
            dir,
            config: shipped_config(),
            database_url,
        }
    }

    /// On a new database of the test Postgres cluster.
    pub async fn postgres() -> Portal {
        Portal {
            database_url: super::fresh_postgres_url().await,
            ..Portal::sqlite()
        }
    }

    /// `name` in the temp dir.
    pub fn path(&self, name: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(name)
    }

    /// [`portal`] on this portal's settings and database, logging errors only (stderr is then the
    /// command's own messages).
    pub fn command(&self) -> Command {
        let mut cmd = portal(&self.config);
        cmd.env("DATABASE_URL", &self.database_url)
            .env("AGENCY_PORTAL_LOG", "error");
        cmd
    }
}
