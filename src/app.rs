//! What every command works with: the [`App`] context (settings, directory, store, composer), the
//! errors a user can fix, and the exit code an error leads to (SPEC §10).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};

use crate::check::Problems;
use crate::directory::{self, Directory};
use crate::mail::{Composer, MailError};
use crate::settings::{self, Settings, SettingsError};
use crate::store::{Store, StoreError};

/// An error that is the user's to fix: bad input or configuration (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// An error and its causes on one line, as `{:#}` writes them, less the causes its text already
/// says: many errors name their cause in their own message (a connection error its I/O error), and
/// the chain would say it again, up to three times.
pub fn describe(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Whose an error is to fix, which sets the exit code (SPEC §10): the user's (bad input or
/// configuration, 2) or not (1). Every error type a user can cause implements it; [`exit_code`]
/// asks each error of the chain.
pub trait ExitStatus {
    /// Whether the user can fix this (their input or configuration is wrong).
    fn is_users(&self) -> bool;
}

impl ExitStatus for BadInput {
    fn is_users(&self) -> bool {
        true
    }
}

impl ExitStatus for SettingsError {
    fn is_users(&self) -> bool {
        true
    }
}

impl ExitStatus for Problems {
    fn is_users(&self) -> bool {
        true
    }
}

impl ExitStatus for crate::tls::TrustError {
    fn is_users(&self) -> bool {
        true
    }
}

impl ExitStatus for StoreError {
    fn is_users(&self) -> bool {
        self.is_config()
    }
}

impl ExitStatus for MailError {
    fn is_users(&self) -> bool {
        self.is_config()
    }
}

/// Whether `e` is an error the user can fix, asked of its [`ExitStatus`]: the one list of the
/// error types that have one.
fn is_users(e: &(dyn std::error::Error + 'static)) -> bool {
    macro_rules! ask {
        ($($t:ty),*) => {
            $(if let Some(e) = e.downcast_ref::<$t>() {
                return e.is_users();
            })*
        };
    }
    ask!(
        BadInput,
        SettingsError,
        Problems,
        crate::tls::TrustError,
        StoreError,
        MailError
    );
    false
}

/// The exit code for an error (SPEC §10): 2 when some error of its chain is the user's to fix,
/// else 1.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(is_users) {
        2
    } else {
        1
    }
}

/// What most commands work with: the settings, the validated directory, and the migrated store with
/// the directory synced into it.
#[derive(Clone)]
pub struct App {
    pub settings: Settings,
    pub directory: Directory,
    pub store: Store,
    /// Builds the mail we send (templates from `config/templates/`).
    pub composer: Arc<Composer>,
}

impl App {
    pub async fn open(config: Option<&Path>) -> anyhow::Result<App> {
        App::with_settings(settings::load(&settings::resolve_path(config))?).await
    }

    /// [`App::open`] with settings already loaded (the demo fixes some of them first).
    pub async fn with_settings(settings: Settings) -> anyhow::Result<App> {
        let (directory, text) = read_directory(&settings)?;
        let composer = Arc::new(Composer::from_settings(&settings)?);
        let store = Store::open(&settings.database.url)
            .await?
            .with_talkpush(settings.talkpush().is_some());
        let changes = store
            .sync_directory(
                &directory,
                &settings.directory.path.display().to_string(),
                &sha256_hex(text.as_bytes()),
                crate::clock::now(),
                &composer,
            )
            .await
            .context("syncing the directory into the database")?;
        if !changes.is_empty() {
            let list: Vec<String> = changes.iter().map(ToString::to_string).collect();
            tracing::info!(
                changes = changes.len(),
                "directory applied: {}",
                list.join("; ")
            );
        }
        Ok(App {
            settings,
            directory,
            store,
            composer,
        })
    }
}

pub(crate) fn read_directory(settings: &Settings) -> anyhow::Result<(Directory, String)> {
    let path = &settings.directory.path;
    let text = std::fs::read_to_string(path).map_err(|e| {
        BadInput(format!(
            "cannot read the directory file {}: {e}; check [directory] path in {}",
            path.display(),
            settings.file.display()
        ))
    })?;
    let dir = directory::parse(&text, path)?;
    Ok((dir, text))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
