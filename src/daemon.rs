//! `agency-portal run` (SPEC §10): every configured source, the outbox worker, the digest scheduler
//! and the directory reload in one process. SIGTERM or SIGINT: each part finishes the unit in hand
//! (the message, the file, the mail being sent), then the process exits 0. A dependency that is down
//! (database, IMAP, SMTP) never ends the daemon: each part retries with backoff.
//!
//! `run --once` processes everything pending — the mailbox, the drop folders (waiting a little for
//! uploads in progress), due digests — flushes the outbox, and exits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::cli::App;
use crate::drop::{DropOptions, DropReceipt, DropSource, ReceiptSink};
use crate::email_intake::MailSource;
use crate::mail::sender::Sender;

/// How long the parts get to finish the unit in hand after SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

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
    pub drop: Option<DropSource>,
    pub sender: Arc<Sender>,
}

impl Parts {
    pub fn new(app: &App) -> anyhow::Result<Parts> {
        let pipeline = crate::ingest::pipeline(app);
        let sender = Arc::new(Sender::from_settings(
            &app.settings,
            app.store.clone(),
            app.composer.clone(),
        )?);
        let wake = sender.waker();
        let mut mail = MailSource::from_settings(
            &app.settings.intake.mailbox,
            pipeline.clone(),
            app.composer.clone(),
        )?;
        if let Some(m) = &mut mail {
            m.set_outbox_wake(wake.clone());
        }
        let drop = DropOptions::from_settings(&app.settings.intake.drop)
            .map(|o| DropSource::new(o, pipeline, Arc::new(WakeOutbox(wake))));
        Ok(Parts { mail, drop, sender })
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

/// `run`: until SIGTERM or SIGINT.
pub async fn run(app: &App) -> anyhow::Result<()> {
    let parts = Parts::new(app)?;
    let (stop, shutdown) = Shutdown::new();
    let mut tasks: JoinSet<&'static str> = JoinSet::new();
    if let Some(mail) = parts.mail {
        let s = shutdown.clone();
        tracing::info!(mailbox = %mail.name(), "email intake started");
        tasks.spawn(async move {
            mail.run(s.wait()).await;
            "email intake"
        });
    }
    if let Some(drop) = parts.drop {
        let s = shutdown.clone();
        tracing::info!(path = %drop.options().path.display(), "drop-folder intake started");
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
