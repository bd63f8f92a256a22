//! The database adapter: one [`Store`] over SQLite (the embedded default) and Postgres (production).
//!
//! Queries are written once in the SQL both understand (`$1` placeholders, `ON CONFLICT`,
//! `RETURNING`); [`on_pool!`] expands a body for each backend. Backend-specific work (bulk `COPY`,
//! advisory locks) goes through [`WritePool`].

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Connection as _, Postgres, Sqlite, Transaction};

pub mod blocks;
mod copy;
pub mod digests;
mod directory;
pub mod mail_ledger;
pub mod outbox;
pub mod people;
pub mod recovery;
pub mod review;
pub mod submissions;
pub mod talkpush;
pub mod totals;
pub use directory::{AgencyView, CampaignView};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "database.url `{0}` is not a database URL: use sqlite://PATH or postgres://USER@HOST/DB"
    )]
    BadUrl(String),
    #[error("cannot open the database {url}: {source}; check database.url or DATABASE_URL")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot bring the database schema up to date: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("the receipt could not be written: {0}")]
    Receipt(String),
}

impl StoreError {
    /// Problems with the configured URL or reaching the database are the operator's to fix (exit 2).
    pub fn is_config(&self) -> bool {
        matches!(self, StoreError::BadUrl(_) | StoreError::Connect { .. })
    }

    /// The database refused a value (Postgres' data exceptions, class 22: a NUL in text, a value out
    /// of range; and program limits, class 54: a value too long for an index): the fault of the
    /// message or file that held it, not of the database. That item fails with the reason; its
    /// source goes on with the next one (SPEC §5 (r2)).
    pub fn is_value_error(&self) -> bool {
        let StoreError::Sql(sqlx::Error::Database(db)) = self else {
            return false;
        };
        db.code()
            .is_some_and(|c| c.starts_with("22") || c.starts_with("54"))
    }

    /// Postgres is not there yet: nothing answers at its address, or it is starting up, shutting
    /// down or has no connection left — as opposed to a wrong URL, or a server that turns us
    /// away (password, no such database), which waiting does not mend. The daemon waits for it
    /// (`agency-portal run` started before its database, as a machine boots).
    pub fn is_unreachable(&self) -> bool {
        let StoreError::Connect { url, source } = self else {
            return false;
        };
        if !url.starts_with("postgres") {
            return false;
        }
        match source {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
            // cannot_connect_now (starting up, shutting down), too_many_connections.
            sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("57P03" | "53300")),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The one store interface over both backends. Cheap to clone (pools are shared).
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: Db,
    /// As configured (with any password): never logged; see [`redact_url`].
    url: String,
    /// Whether new candidates are queued for Talkpush (`[talkpush]` enabled, SPEC §11).
    talkpush: bool,
}

/// Runs `$body` with `$pool` bound to the concrete pool of either backend.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// A URL safe to print: the password, if any, replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl Store {
    /// Opens the database (creating an SQLite file and its folder if missing). Does not migrate.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let connect_err = |source| StoreError::Connect {
            url: redact_url(url),
            source,
        };
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|_| StoreError::BadUrl(redact_url(url)))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true);
            let file = options.get_filename();
            if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                if !sqlite_in_memory(url) {
                    std::fs::create_dir_all(parent).map_err(|e| connect_err(sqlx::Error::Io(e)))?;
                }
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await
                .map_err(connect_err)?;
            Ok(Store {
                db: Db::Sqlite(pool),
                url: url.to_string(),
                talkpush: false,
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = sqlx::postgres::PgConnectOptions::from_str(url)
                .map_err(|_| StoreError::BadUrl(redact_url(url)))?;
            // One direct attempt first, so a wrong URL fails at once with the server's own words
            // instead of after the pool's acquire timeout.
            let probe = sqlx::PgConnection::connect_with(&options)
                .await
                .map_err(connect_err)?;
            probe.close().await.ok();
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_lazy_with(options);
            Ok(Store {
                db: Db::Postgres(pool),
                url: url.to_string(),
                talkpush: false,
            })
        } else {
            Err(StoreError::BadUrl(redact_url(url)))
        }
    }

    /// Connects and applies every pending migration.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(pool) => {
                // sqlx takes no lock on SQLite: two processes opening a new database at once would
                // both create the tables. A lock file beside the database serialises them.
                let _lock = self.sqlite_migration_lock()?;
                SQLITE_MIGRATIONS.run(pool).await?
            }
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        self.rebuild_blocks_if_pending().await
    }

    /// An exclusive lock on `<database>.migrate.lock`, held while the returned file lives.
    fn sqlite_migration_lock(&self) -> Result<Option<std::fs::File>, StoreError> {
        let Db::Sqlite(pool) = &self.db else {
            return Ok(None);
        };
        let file = pool.connect_options().get_filename().to_path_buf();
        // An in-memory database is this process's alone; sqlx names it `file:sqlx-in-memory-N`,
        // which is no place for a lock file.
        if file.as_os_str().is_empty() || sqlite_in_memory(&self.url) {
            return Ok(None);
        }
        let lock_path = format!("{}.migrate.lock", file.display());
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::Sql(sqlx::Error::Io(e)))?;
        lock.lock()
            .map_err(|e| StoreError::Sql(sqlx::Error::Io(e)))?;
        Ok(Some(lock))
    }

    /// The migrations applied to the database so far (none on a new one), as (version,
    /// description) of this build's migrations.
    pub async fn applied_migrations(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let versions: Vec<i64> = on_pool!(self, |pool| {
            match sqlx::query_scalar(
                "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
            )
            .fetch_all(pool)
            .await
            {
                Ok(v) => v,
                // No table yet: a new database.
                Err(sqlx::Error::Database(_)) => Vec::new(),
                Err(e) => return Err(e.into()),
            }
        });
        let migrator = match &self.db {
            Db::Sqlite(_) => &SQLITE_MIGRATIONS,
            Db::Postgres(_) => &POSTGRES_MIGRATIONS,
        };
        Ok(migrator
            .iter()
            .filter(|m| versions.contains(&m.version))
            .map(|m| (m.version, m.description.to_string()))
            .collect())
    }

    /// How many migrations this build knows (what `migrate` reports).
    pub fn migrations_known(&self) -> usize {
        match &self.db {
            Db::Sqlite(_) => SQLITE_MIGRATIONS.iter().count(),
            Db::Postgres(_) => POSTGRES_MIGRATIONS.iter().count(),
        }
    }

    /// The database URL this store was opened with, password included: for tools, never for logs.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// This store, queueing every `new` candidate (and every `review` accepted) for Talkpush in
    /// the transaction that makes it (SPEC §11): on when `[talkpush]` is enabled.
    pub fn with_talkpush(mut self, on: bool) -> Store {
        self.talkpush = on;
        self
    }

    /// Whether new candidates are queued for Talkpush.
    pub fn queues_talkpush(&self) -> bool {
        self.talkpush
    }

    pub fn backend(&self) -> Backend {
        match &self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }
}

/// Starting a write transaction that is serialised against every other writer of the same `lock`:
/// an advisory lock on Postgres (several daemons), `BEGIN IMMEDIATE` on SQLite.
pub(crate) trait WritePool {
    type Db: sqlx::Database;
    async fn begin_write(&self, lock: &str) -> Result<Transaction<'static, Self::Db>, sqlx::Error>;
}

impl WritePool for SqlitePool {
    type Db = Sqlite;
    async fn begin_write(&self, _lock: &str) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl WritePool for PgPool {
    type Db = Postgres;
    async fn begin_write(&self, lock: &str) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let mut tx = self.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(lock)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

/// Whether a SQLite URL names an in-memory database (`sqlite::memory:`, `…?mode=memory`).
fn sqlite_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory database leaves no lock file behind (sqlx names it `file:sqlx-in-memory-N`,
    /// which once became `file:sqlx-in-memory-0.migrate.lock` in the working directory).
    #[tokio::test]
    async fn an_in_memory_database_leaves_no_lock_file() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        assert!(store.sqlite_migration_lock().unwrap().is_none());
        assert!(sqlite_in_memory("sqlite:file:x?mode=memory&cache=shared"));
        assert!(!sqlite_in_memory("sqlite://var/agency-portal.db"));
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.example:5432/portal"),
            "postgres://app:***@db.example:5432/portal"
        );
        assert_eq!(
            redact_url("postgres://app@db.example/portal"),
            "postgres://app@db.example/portal"
        );
        assert_eq!(redact_url("sqlite://var/x.db"), "sqlite://var/x.db");
    }
}
