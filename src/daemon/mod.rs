//! `agency-portal run` (SPEC §10): every configured source, the outbox worker, the digest scheduler
//! and the directory reload in one process. SIGTERM or SIGINT: each part finishes the unit in hand
//! (the message, the file, the mail being sent), then the process exits 0. A dependency that is down
//! (database, IMAP, SMTP) never ends the daemon: each part retries with backoff.
//!
//! `run --once` processes everything pending — the mailbox, the drop folders (waiting a little for
//! uploads in progress), due digests — flushes the outbox, and exits.

pub mod backoff;
pub mod health;
pub mod reload;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::app::App;
use crate::daemon::reload::{LiveDirectory, Reloader};
use crate::intake::drop::{DropOptions, DropReceipt, DropSource, ReceiptSink};
use crate::intake::mailbox::MailSource;
use crate::intake::pipeline::Pipeline;
use crate::mail::sender::Sender;

/// How long the parts get to finish the unit in hand after SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Drop-folder receipts are in the outbox once a file is recorded: wake the worker.
struct WakeOutbox(Arc<Notify>);

impl ReceiptSink for WakeOutbox {
    fn receipt(&self, _: &DropReceipt) {
        self.0.notify_one();
    }
}

/// A future that completes when shutdown is asked for; clone freely.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    pub fn new() -> (watch::Sender<bool>, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (tx, Shutdown(rx))
    }

    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }
}

/// The parts of a daemon, built from the settings.
pub struct Parts {
    pub mail: Option<MailSource>,
    pub drop: Option<Arc<DropSource>>,
    pub sender: Arc<Sender>,
    /// The directory in force (swapped by the reloader).
    pub live: LiveDirectory,
    /// The pipeline the drop folders are given again with each new directory.
    pub pipeline: Pipeline,
    /// The Talkpush worker, with `[talkpush]` enabled (SPEC §11).
    pub pusher: Option<Arc<crate::talkpush::worker::Pusher>>,
}

impl Parts {
    pub fn new(app: &App) -> anyhow::Result<Parts> {
        let pipeline = crate::cli::ingest::pipeline(app);
        let live = LiveDirectory::new(pipeline.directory.clone());
        let sender = Arc::new(Sender::from_settings(
            &app.settings,
            app.store.clone(),
            app.composer.clone(),
        )?);
        let wake = sender.waker();
        let mut mail =
            MailSource::from_settings(&app.settings, pipeline.clone(), app.composer.clone())?;
        if let Some(m) = &mut mail {
            m.set_outbox_wake(wake.clone());
            m.set_live(live.clone());
        }
        let drop = DropOptions::from_settings(&app.settings.intake.drop).map(|o| {
            Arc::new(DropSource::new(
                o,
                pipeline.clone(),
                Arc::new(WakeOutbox(wake)),
            ))
        });
        let pusher = match app.settings.talkpush() {
            Some(_) => Some(Arc::new(crate::talkpush::pusher(app)?)),
            None => None,
        };
        Ok(Parts {
            mail,
            drop,
            sender,
            live,
            pipeline,
            pusher,
        })
    }
}

/// Sends the digests that are due; `true` when some were written to the outbox.
async fn digests_due(app: &App, live: &LiveDirectory) -> bool {
    if app.settings.digests.is_empty() {
        return false;
    }
    match crate::digest::run_due(
        &app.store,
        &live.get(),
        &app.settings.digests,
        &app.composer,
        crate::clock::now(),
    )
    .await
    {
        Ok(n) => n > 0,
        Err(e) => {
            tracing::error!("digests: {e}");
            false
        }
    }
}

/// `run --once`.
pub async fn once(app: &App) -> anyhow::Result<OnceReport> {
    let parts = Parts::new(app)?;
    let mut report = OnceReport::default();
    if let Some(mail) = &parts.mail {
        report.messages = mail.once().await?;
    }
    if let Some(drop) = &parts.drop {
        report.files = drop_once(drop).await?;
    }
    digests_due(app, &parts.live).await;
    if let Some(pusher) = &parts.pusher {
        let pushed = pusher.flush().await?;
        report.pushed = pushed.synced;
        report.push_failed = pushed.failed;
        report.push_later = pushed.retrying;
    }
    let flushed = parts.sender.flush().await?;
    report.sent = flushed.sent;
    report.send_failed = flushed.failed;
    report.send_later = flushed.retrying;
    Ok(report)
}

/// What `run --once` did.
#[derive(Debug, Default, Clone)]
pub struct OnceReport {
    pub messages: usize,
    pub files: Vec<DropReceipt>,
    pub sent: usize,
    pub send_failed: usize,
    pub send_later: usize,
    /// Talkpush pushes synced, failed, and to retry later.
    pub pushed: usize,
    pub push_failed: usize,
    pub push_later: usize,
}

/// One round of the drop folders: what is there now, waiting for uploads in progress at most ten
/// settle periods.
pub async fn drop_once(source: &DropSource) -> anyhow::Result<Vec<DropReceipt>> {
    source.ensure_layout().await?;
    let settle = source.options().settle;
    let give_up = Instant::now() + settle * 10 + Duration::from_secs(1);
    let mut out = Vec::new();
    loop {
        let pass = source.process_pending().await?;
        out.extend(pass.receipts);
        match pass.next_check {
            Some(t) if pass.waiting > 0 && t < give_up => {
                tokio::time::sleep_until(t.into()).await;
            }
            _ => {
                if pass.waiting > 0 {
                    tracing::info!(
                        "{} uploads still in progress, left for the next run",
                        pass.waiting
                    );
                }
                return Ok(out);
            }
        }
    }
}

/// How often the directory file is looked at, and due digests looked for.
const RELOAD_EVERY: Duration = Duration::from_secs(2);
const DIGESTS_EVERY: Duration = Duration::from_secs(30);

/// `run`: until SIGTERM or SIGINT.
pub async fn run(app: &App) -> anyhow::Result<()> {
    let parts = Parts::new(app)?;
    {
        let (directory, limits) = (parts.pipeline.directory.clone(), parts.pipeline.limits);
        tokio::task::spawn_blocking(move || crate::intake::pipeline::warm_up(&directory, &limits));
    }
    let (stop, shutdown) = Shutdown::new();
    let mut tasks: JoinSet<&'static str> = JoinSet::new();
    let mut sources = Vec::new();
    if let Some(mail) = parts.mail {
        let s = shutdown.clone();
        tracing::info!(mailbox = %mail.name(), "email intake started");
        sources.push(crate::daemon::health::Source {
            kind: "email",
            name: mail.name().to_string(),
            stats: mail.stats(),
        });
        tasks.spawn(async move {
            mail.run(s.wait()).await;
            "email intake"
        });
    }
    let mut reloader = Reloader::new(
        &app.settings.directory.path,
        app.store.clone(),
        app.composer.clone(),
        parts.live.clone(),
        directory_sha(app),
    );
    if let Some(drop) = parts.drop {
        let s = shutdown.clone();
        tracing::info!(path = %drop.options().path.display(), "drop-folder intake started");
        sources.push(crate::daemon::health::Source {
            kind: "drop",
            name: drop.options().path.display().to_string(),
            stats: drop.stats(),
        });
        let base = parts.pipeline.clone();
        let for_reload = drop.clone();
        reloader.subscribe(move |dir| {
            let mut p = base.clone();
            p.directory = dir;
            for_reload.set_pipeline(p);
        });
        tasks.spawn(async move {
            if let Err(e) = drop.run(s.wait()).await {
                tracing::error!("drop-folder intake stopped: {e}");
            }
            "drop folders"
        });
    }
    {
        let sender = parts.sender.clone();
        let s = shutdown.clone();
        tasks.spawn(async move {
            sender.run(s.wait()).await;
            "outbox worker"
        });
    }
    if let Some(pusher) = parts.pusher.clone() {
        let s = shutdown.clone();
        tracing::info!(talkpush = %pusher.client().base(), "Talkpush sync started");
        tasks.spawn(async move {
            pusher.run(s.wait()).await;
            "Talkpush worker"
        });
    }
    {
        let s = shutdown.clone();
        tasks.spawn(async move {
            reloader.run(RELOAD_EVERY, s.wait()).await;
            "directory reload"
        });
    }
    {
        let s = shutdown.clone();
        let live = parts.live.clone();
        let wake = parts.sender.waker();
        let app = app.clone();
        tasks.spawn(async move {
            loop {
                if digests_due(&app, &live).await {
                    wake.notify_one();
                }
                tokio::select! {
                    _ = s.clone().wait() => break,
                    _ = tokio::time::sleep(DIGESTS_EVERY) => {}
                }
            }
            "digests"
        });
    }
    if !app.settings.http.listen.is_empty() {
        let health = crate::daemon::health::Health {
            store: app.store.clone(),
            sources,
            outbox: parts.sender.stats(),
            started: chrono::Utc::now(),
        };
        let listen = app.settings.http.listen.clone();
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| crate::app::BadInput(format!("[http] listen = \"{listen}\": {e}")))?;
        let s = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = health.serve(listener, s.wait()).await {
                tracing::error!("the health endpoint stopped: {e}");
            }
            "health endpoint"
        });
    }
    tracing::info!("agency-portal is running; SIGTERM or Ctrl-C stops it");
    wait_for_signal().await;
    tracing::info!("stopping: finishing the work in hand");
    let _ = stop.send(true);
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(Ok(name))) => tracing::debug!("{name} stopped"),
            Ok(Some(Err(e))) => tracing::error!("a part of the daemon failed: {e}"),
            Ok(None) => break,
            Err(_) => {
                tracing::warn!(
                    "parts still busy after {SHUTDOWN_GRACE:?}: stopping them; their work is \
                     finished on the next start"
                );
                tasks.abort_all();
                break;
            }
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The SHA-256 of the directory file as it is now (the reloader applies any later change).
fn directory_sha(app: &App) -> String {
    std::fs::read(&app.settings.directory.path)
        .map(|b| crate::app::sha256_hex(&b))
        .unwrap_or_default()
}

/// SIGTERM or SIGINT.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
