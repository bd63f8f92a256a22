//! Live reload of the directory file (SPEC §3.2): the daemon looks at the file every few seconds; a
//! changed file that is valid is synced to the database (changes recorded, new users invited through
//! the outbox) and swapped in atomically — the unit in hand finishes with the directory it started
//! with, the next one sees the new one. An invalid file changes nothing: the old directory stays in
//! force and the owners get one alert per file content, listing every problem with its line.
//!
//! Looking by content (SHA-256) rather than by watcher events keeps editors that write a temporary
//! file and rename it, `cp`, and config-management tools all working the same.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;

use crate::directory::{self, Directory};
use crate::mail::Composer;
use crate::store::Store;

/// The directory in force, swapped atomically by the reloader; readers take a snapshot.
#[derive(Clone, Debug)]
pub struct LiveDirectory(Arc<RwLock<Arc<Directory>>>);

impl LiveDirectory {
    pub fn new(dir: Arc<Directory>) -> LiveDirectory {
        LiveDirectory(Arc::new(RwLock::new(dir)))
    }

    /// The directory in force now.
    pub fn get(&self) -> Arc<Directory> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, dir: Arc<Directory>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = dir;
    }
}

/// What one look at the file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    Unchanged,
    /// Applied; the changes as logged (empty: same content in other words).
    Applied(Vec<String>),
    /// Invalid: kept the old one; `alerted` is whether the owners were told (once per content).
    Rejected {
        problems: usize,
        alerted: bool,
    },
    /// The file could not be read (it is being replaced, or gone): kept the old one.
    Unreadable(String),
}

type Subscriber = Box<dyn Fn(Arc<Directory>) + Send + Sync>;

pub struct Reloader {
    path: PathBuf,
    store: Store,
    composer: Arc<Composer>,
    live: LiveDirectory,
    last_sha: String,
    subscribers: Vec<Subscriber>,
}

impl Reloader {
    /// `current_sha`: the SHA-256 of the file content in force (as the daemon started with it).
    pub fn new(
        path: &Path,
        store: Store,
        composer: Arc<Composer>,
        live: LiveDirectory,
        current_sha: String,
    ) -> Reloader {
        Reloader {
            path: path.to_path_buf(),
            store,
            composer,
            live,
            last_sha: current_sha,
            subscribers: Vec::new(),
        }
    }

    /// Called with each newly applied directory (e.g. to give the drop folders a new pipeline).
    pub fn subscribe(&mut self, f: impl Fn(Arc<Directory>) + Send + Sync + 'static) {
        self.subscribers.push(Box::new(f));
    }

    /// Looks at the file once.
    pub async fn check(&mut self) -> Reload {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) => return Reload::Unreadable(e.to_string()),
        };
        let sha = crate::app::sha256_hex(text.as_bytes());
        if sha == self.last_sha {
            return Reload::Unchanged;
        }
        let file = self.path.display().to_string();
        match directory::parse(&text, &self.path) {
            Err(problems) => {
                tracing::warn!(
                    file = %file,
                    "the directory file changed but is invalid ({} problem{}): the previous one \
                     stays in force",
                    problems.0.len(),
                    if problems.0.len() == 1 { "" } else { "s" }
                );
                for p in &problems.0 {
                    tracing::warn!("{p}");
                }
                let alerted = match self
                    .store
                    .alert_invalid_directory(&self.composer, &file, &sha, &problems, Utc::now())
                    .await
                {
                    Ok(a) => a,
                    Err(e) => {
                        // Not remembered: the alert is tried again at the next look.
                        tracing::error!("cannot write the owners' alert: {e}");
                        return Reload::Rejected {
                            problems: problems.0.len(),
                            alerted: false,
                        };
                    }
                };
                self.last_sha = sha;
                Reload::Rejected {
                    problems: problems.0.len(),
                    alerted,
                }
            }
            Ok(dir) => {
                match self
                    .store
                    .sync_directory(&dir, &file, &sha, Utc::now(), &self.composer)
                    .await
                {
                    Ok(changes) => {
                        let changes: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
                        let dir = Arc::new(dir);
                        self.live.set(dir.clone());
                        for s in &self.subscribers {
                            s(dir.clone());
                        }
                        tracing::info!(
                            file = %file,
                            changes = changes.len(),
                            "directory reloaded: {}",
                            if changes.is_empty() { "no change".to_string() } else { changes.join("; ") }
                        );
                        self.last_sha = sha;
                        Reload::Applied(changes)
                    }
                    Err(e) => {
                        // The database is away: the file is applied at a later look.
                        tracing::error!("the directory file changed but cannot be applied: {e}");
                        Reload::Unreadable(e.to_string())
                    }
                }
            }
        }
    }

    /// Looks every `every` until `shutdown`.
    pub async fn run(mut self, every: Duration, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(every) => {}
            }
            self.check().await;
        }
    }
}
