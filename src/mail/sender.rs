//! The outbox worker (SPEC §7): claims due rows and delivers them over SMTP (lettre, pooled
//! connections, a timeout around every send) or into a folder (the file transport, one `<id>.eml`
//! per message, written atomically). Temporary failures (4xx replies, connection and timeout
//! errors) are retried with capped, jittered exponential backoff; permanent ones (5xx replies,
//! unusable addresses, or retrying for longer than [`RetryPolicy::give_up_after`]) mark the row
//! `failed` and enqueue one alert to the owners in the same transaction.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls as SmtpTls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::Notify;

use super::alert::FailedMessage;
use super::smtp_oauth::OAuthSmtp;
use super::{Composer, MailError, MailKind};
use crate::daemon::backoff::Backoff;
use crate::mail::auth::OAuth2;
use crate::settings::{Auth, Settings, Tls, Transport as TransportKind};
use crate::store::outbox::Claimed;
use crate::store::Store;

/// How the worker waits and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first temporary failure; doubled after each further one.
    pub base: Duration,
    /// The longest wait between two attempts.
    pub cap: Duration,
    /// A message still failing this long after it was written is given up (failed, alerted).
    pub give_up_after: Duration,
    /// How often the daemon loop looks for due rows when nobody wakes it.
    pub poll: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(30),
            cap: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(2 * 24 * 3600),
            poll: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `attempts`-th failed attempt: `base · 2^(attempts-1)`, at most `cap`,
    /// then a random point in its upper half (so many failing rows do not retry in lockstep).
    pub fn backoff(&self, attempts: i64) -> Duration {
        let failures = u32::try_from(attempts.max(0)).unwrap_or(u32::MAX);
        Backoff::new(self.base, self.cap).jittered(failures.max(1))
    }
}

/// What one flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushReport {
    pub sent: usize,
    /// Temporary failures, due again later.
    pub retrying: usize,
    /// Permanent failures (owners alerted).
    pub failed: usize,
}

/// Where messages go.
#[derive(Clone)]
pub enum Transport {
    /// One `<outbox id>.eml` per message in this folder.
    File(PathBuf),
    Smtp {
        host: String,
        transport: AsyncSmtpTransport<Tokio1Executor>,
    },
    /// SMTP logged in to with an OAuth2 access token (`[mail] auth = "xoauth2" | "oauthbearer"`).
    SmtpOAuth2(Box<OAuthSmtp>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::File(p) => write!(f, "file:{}", p.display()),
            Transport::Smtp { host, .. } => write!(f, "smtp:{host}"),
            Transport::SmtpOAuth2(o) => write!(f, "smtp:{} ({})", o.host, o.oauth.mechanism.name()),
        }
    }
}

impl Transport {
    /// The `[mail]` transport.
    pub fn from_settings(settings: &Settings) -> Result<Transport, MailError> {
        let mail = &settings.mail;
        match mail.transport {
            TransportKind::File => Ok(Transport::File(mail.path.clone())),
            TransportKind::Smtp => {
                if mail.host.trim().is_empty() {
                    return Err(MailError::SmtpSetting("host (the SMTP server's name)"));
                }
                let host = mail.host.trim().to_string();
                let smtp_err = |e: lettre::transport::smtp::Error| MailError::Smtp {
                    host: host.clone(),
                    message: e.to_string(),
                };
                // The server's certificate is checked against the public roots and those of
                // SSL_CERT_FILE (see crate::tls).
                let trusted = || -> Result<TlsParameters, MailError> {
                    let mut params = TlsParameters::builder(host.clone());
                    for root in crate::tls::extra_roots()? {
                        params = params.add_root_certificate(
                            Certificate::from_der(root.to_vec()).map_err(smtp_err)?,
                        );
                    }
                    params.build_rustls().map_err(smtp_err)
                };
                let default_port = match mail.tls {
                    Tls::None => 25,
                    Tls::Starttls => 587,
                    Tls::Implicit => 465,
                };
                if let Some(oauth) =
                    OAuth2::from_settings(mail.auth(), &mail.token_command, &mail.token_file)
                {
                    return Ok(Transport::SmtpOAuth2(Box::new(OAuthSmtp {
                        params: match mail.tls {
                            Tls::None => None,
                            _ => Some(trusted()?),
                        },
                        host,
                        port: mail.port.unwrap_or(default_port),
                        tls: mail.tls,
                        timeout: Duration::from_secs(mail.timeout_secs.max(1)),
                        username: mail.username.clone(),
                        oauth,
                    })));
                }
                let builder = match mail.tls {
                    Tls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host),
                    Tls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
                        .tls(SmtpTls::Required(trusted()?)),
                    Tls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
                        .tls(SmtpTls::Wrapper(trusted()?)),
                };
                let mut builder = builder
                    .port(mail.port.unwrap_or(default_port))
                    .timeout(Some(Duration::from_secs(mail.timeout_secs.max(1))));
                // One connection per message, no pool: a pooled connection that a server has
                // refused further messages on (OpenSMTPD's per-session limit answers 452) would be
                // reused for every following message until it idles out.
                if mail.auth() == Auth::Password {
                    let password = mail
                        .password
                        .as_ref()
                        .map(|p| p.expose().to_string())
                        .unwrap_or_default();
                    builder =
                        builder.credentials(Credentials::new(mail.username.clone(), password));
                }
                Ok(Transport::Smtp {
                    host,
                    transport: builder.build(),
                })
            }
        }
    }
}

enum Delivery {
    Sent,
    Temporary(String),
    Permanent(String),
}

/// The outbox worker. Several may run at once, in one process or in several daemons.
#[derive(Clone)]
pub struct Sender {
    store: Store,
    composer: Arc<Composer>,
    transport: Transport,
    worker: String,
    send_timeout: Duration,
    pub retry: RetryPolicy,
    wake: Arc<Notify>,
    /// Its flushes, as health and metrics see them (failing: nothing could be sent).
    stats: Arc<crate::daemon::health::SourceStats>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("transport", &self.transport)
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

impl Sender {
    pub fn new(
        store: Store,
        composer: Arc<Composer>,
        transport: Transport,
        send_timeout: Duration,
    ) -> Sender {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Sender {
            store,
            composer,
            transport,
            worker: format!("pid{}-{}", std::process::id(), &id[..8]),
            send_timeout,
            retry: RetryPolicy::default(),
            wake: Arc::new(Notify::new()),
            stats: Default::default(),
        }
    }

    /// Its flushes, as health and metrics see them.
    pub fn stats(&self) -> Arc<crate::daemon::health::SourceStats> {
        self.stats.clone()
    }

    /// The worker `[mail]` describes.
    pub fn from_settings(
        settings: &Settings,
        store: Store,
        composer: Arc<Composer>,
    ) -> Result<Sender, MailError> {
        Ok(Sender::new(
            store,
            composer,
            Transport::from_settings(settings)?,
            Duration::from_secs(settings.mail.timeout_secs.max(1)),
        ))
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Sender {
        self.retry = retry;
        self
    }

    /// This worker's lease name.
    pub fn worker_id(&self) -> &str {
        &self.worker
    }

    /// Notifying it makes [`Sender::run`] flush at once (after enqueueing, say).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// How long a claim holds a row: longer than any one send can take.
    fn lease(&self) -> Duration {
        self.send_timeout * 2 + Duration::from_secs(30)
    }

    /// Sends everything due now (for `run --once` and `outbox flush`); rows that fail temporarily
    /// are due again later and not retried within this call.
    ///
    /// Alerts raised by permanent failures during the flush are sent in a second pass of the same
    /// call, so `run --once` leaves nothing behind that it caused.
    pub async fn flush(&self) -> Result<FlushReport, MailError> {
        let mut report = self.flush_due(Utc::now()).await?;
        if report.failed > 0 {
            let more = self.flush_due(Utc::now()).await?;
            report.sent += more.sent;
            report.retrying += more.retrying;
            report.failed += more.failed;
        }
        Ok(report)
    }

    async fn flush_due(&self, due_by: chrono::DateTime<Utc>) -> Result<FlushReport, MailError> {
        let mut report = FlushReport::default();
        loop {
            let now = Utc::now();
            let lease_until = now + self.lease();
            let Some(row) = self
                .store
                .claim_outbox(&self.worker, now, due_by, lease_until)
                .await?
            else {
                break;
            };
            match self.deliver(&row).await {
                Delivery::Sent => {
                    if !self
                        .store
                        .outbox_sent(row.id, &self.worker, Utc::now())
                        .await?
                    {
                        tracing::warn!(
                            outbox = row.id,
                            "message sent after this worker's lease expired; another worker may send it too"
                        );
                    }
                    tracing::info!(outbox = row.id, kind = %row.kind, message_id = %row.message_id, "mail sent");
                    report.sent += 1;
                }
                Delivery::Temporary(error) => {
                    let now = Utc::now();
                    let age = (now - row.tried_since).to_std().unwrap_or_default();
                    if age >= self.retry.give_up_after {
                        let error = format!(
                            "still failing after {} attempts over {} hours: {error}",
                            row.attempts,
                            age.as_secs() / 3600
                        );
                        self.fail(&row, &error).await?;
                        report.failed += 1;
                        continue;
                    }
                    let wait = self.retry.backoff(row.attempts);
                    let next = now + chrono::Duration::from_std(wait).unwrap_or_default();
                    tracing::warn!(
                        outbox = row.id,
                        kind = %row.kind,
                        attempts = row.attempts,
                        retry_in_secs = wait.as_secs_f64(),
                        "mail not sent (temporary failure, will retry): {error}"
                    );
                    self.store
                        .outbox_retry(row.id, &self.worker, next, &error)
                        .await?;
                    report.retrying += 1;
                }
                Delivery::Permanent(error) => {
                    self.fail(&row, &error).await?;
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    async fn fail(&self, row: &Claimed, error: &str) -> Result<(), MailError> {
        tracing::error!(outbox = row.id, kind = %row.kind, message_id = %row.message_id,
            "mail not delivered, giving up: {error}");
        let failed = FailedMessage {
            outbox_id: row.id,
            kind: row.kind.clone(),
            message_id: row.message_id.clone(),
            recipients: row.recipients.clone(),
            attempts: row.attempts,
            error: error.to_string(),
            resends: row.resends,
        };
        let composer = self.composer.clone();
        let is_alert = row.kind == MailKind::Alert.as_str();
        self.store
            .outbox_failed(row.id, &self.worker, Utc::now(), error, |owners| {
                // An alert about an alert would loop: failed alerts are only logged.
                if is_alert || owners.is_empty() {
                    return None;
                }
                match composer.send_failure_alert(owners, &failed) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        tracing::error!("cannot build the owners' alert: {e}");
                        None
                    }
                }
            })
            .await?;
        Ok(())
    }

    async fn deliver(&self, row: &Claimed) -> Delivery {
        match &self.transport {
            Transport::File(dir) => match write_eml(dir, row.id, &row.bytes) {
                Ok(()) => Delivery::Sent,
                Err(e) => Delivery::Temporary(format!(
                    "cannot write to the outbox folder {}: {e}",
                    dir.display()
                )),
            },
            Transport::SmtpOAuth2(smtp) => {
                let envelope = match envelope(row) {
                    Ok(e) => e,
                    Err(e) => return Delivery::Permanent(e),
                };
                match tokio::time::timeout(self.send_timeout, smtp.send(&envelope, &row.bytes))
                    .await
                {
                    Err(_) => Delivery::Temporary(format!(
                        "the SMTP server did not finish within {} s",
                        self.send_timeout.as_secs()
                    )),
                    Ok(Ok(())) => Delivery::Sent,
                    Ok(Err(e)) if e.is_permanent() => Delivery::Permanent(e.to_string()),
                    Ok(Err(e)) => Delivery::Temporary(e.to_string()),
                }
            }
            Transport::Smtp { transport, .. } => {
                let envelope = match envelope(row) {
                    Ok(e) => e,
                    Err(e) => return Delivery::Permanent(e),
                };
                match tokio::time::timeout(
                    self.send_timeout,
                    transport.send_raw(&envelope, &row.bytes),
                )
                .await
                {
                    Err(_) => Delivery::Temporary(format!(
                        "the SMTP server did not finish within {} s",
                        self.send_timeout.as_secs()
                    )),
                    Ok(Ok(_)) => Delivery::Sent,
                    Ok(Err(e)) if e.is_permanent() => Delivery::Permanent(e.to_string()),
                    Ok(Err(e)) => Delivery::Temporary(e.to_string()),
                }
            }
        }
    }

    /// The daemon loop: flushes, then waits for a wake-up or the poll interval, until `shutdown`
    /// completes (checked between flushes, so the message in hand is finished).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self.flush().await {
                Err(e) => {
                    self.stats.failed(&e.to_string());
                    tracing::error!("outbox: {e}");
                }
                // Every message due failed for now (the mail server is away, say).
                Ok(r) if r.retrying > 0 && r.sent == 0 => self
                    .stats
                    .failed(&format!("{} messages could not be sent yet", r.retrying)),
                Ok(_) => self.stats.succeeded(),
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.retry.poll) => {}
            }
        }
    }
}

fn envelope(row: &Claimed) -> Result<Envelope, String> {
    let from = row
        .sender
        .parse()
        .map_err(|e| format!("sender address {}: {e}", row.sender))?;
    let to = row
        .recipients
        .iter()
        .map(|r| r.parse().map_err(|e| format!("recipient address {r}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Envelope::new(Some(from), to).map_err(|e| e.to_string())
}

/// Writes `<dir>/<id>.eml` atomically (temp file, fsync, rename).
fn write_eml(dir: &Path, id: i64, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{id}.eml.{}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(format!("{id}.eml")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_jittered() {
        let p = RetryPolicy {
            base: Duration::from_secs(30),
            cap: Duration::from_secs(3600),
            ..RetryPolicy::default()
        };
        for _ in 0..200 {
            let b1 = p.backoff(1);
            assert!(
                b1 >= Duration::from_secs(15) && b1 <= Duration::from_secs(30),
                "{b1:?}"
            );
            let b3 = p.backoff(3);
            assert!(
                b3 >= Duration::from_secs(60) && b3 <= Duration::from_secs(120),
                "{b3:?}"
            );
            let b30 = p.backoff(30);
            assert!(b30 >= Duration::from_secs(1800) && b30 <= Duration::from_secs(3600));
        }
        let distinct: std::collections::BTreeSet<_> = (0..20).map(|_| p.backoff(5)).collect();
        assert!(distinct.len() > 10, "jittered");
    }
}
