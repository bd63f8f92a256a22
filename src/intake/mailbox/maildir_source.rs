//! The embedded-default mailbox (SPEC §3.1 `kind = "maildir"`): messages in `new/` and `cur/` are
//! handled oldest first and moved to `.Processed`, `.Rejected` or `.Failed` after their outcome is
//! committed. Polled (every second by default): any mail server, `cp` or the demo can deliver into it.

use std::future::Future;
use std::io::Read;
use std::time::Duration;

use chrono::Utc;

use super::{max_message_bytes, Handled, IntakeError, MailIntake};
use crate::intake::mailbox::maildir::{Maildir, Pending};

/// How much of an oversized message is read to learn who sent it.
const HEADER_BYTES: u64 = 64 * 1024;

pub struct MaildirSource {
    intake: MailIntake,
    maildir: Maildir,
    pub poll: Duration,
    pub stats: std::sync::Arc<crate::daemon::health::SourceStats>,
}

impl MaildirSource {
    /// Opens (creating what is missing) the Maildir at `path`.
    pub fn open(intake: MailIntake, path: &std::path::Path) -> std::io::Result<MaildirSource> {
        Ok(MaildirSource {
            intake,
            maildir: Maildir::open(path)?,
            poll: Duration::from_secs(1),
            stats: Default::default(),
        })
    }

    pub fn intake(&self) -> &MailIntake {
        &self.intake
    }

    pub fn intake_mut(&mut self) -> &mut MailIntake {
        &mut self.intake
    }

    pub fn maildir(&self) -> &Maildir {
        &self.maildir
    }

    /// Handles every message waiting now. A message that fails is left for the next pass (and
    /// counted towards poison); a database error ends the pass.
    pub async fn process_pending(&self) -> Result<Vec<Handled>, IntakeError> {
        let pending = self.maildir.pending().map_err(|e| {
            IntakeError::Crashed(format!(
                "cannot list the maildir {}: {e}",
                self.maildir.root().display()
            ))
        })?;
        use std::sync::atomic::Ordering;
        let mut out = Vec::new();
        for message in pending {
            match self.one(&message).await {
                Ok(Some(h)) => {
                    self.stats.handled.fetch_add(1, Ordering::Relaxed);
                    out.push(h)
                }
                Ok(None) => {}
                Err(IntakeError::Store(e)) => {
                    self.stats.failed(&e.to_string());
                    return Err(IntakeError::Store(e));
                }
                Err(e) => tracing::warn!(message = %message.id, "message not handled: {e}"),
            }
        }
        self.stats.succeeded();
        Ok(out)
    }

    async fn one(&self, message: &Pending) -> Result<Option<Handled>, IntakeError> {
        let intake = self.intake.current();
        let size = match std::fs::metadata(&message.path) {
            Ok(m) => m.len(),
            // Moved away meanwhile (another process): nothing to do.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(IntakeError::Crashed(format!("cannot read it: {e}"))),
        };
        let read_err = |e: std::io::Error| IntakeError::Crashed(format!("cannot read it: {e}"));
        let handled = if size > max_message_bytes(&intake.pipeline.limits) {
            let mut header = Vec::new();
            std::fs::File::open(&message.path)
                .map_err(read_err)?
                .take(HEADER_BYTES)
                .read_to_end(&mut header)
                .map_err(read_err)?;
            if let Some(end) = find(&header, b"\r\n\r\n").or_else(|| find(&header, b"\n\n")) {
                header.truncate(end + 2);
            }
            intake.handle_oversized(header, size, None, None).await?
        } else {
            let raw = match std::fs::read(&message.path) {
                Ok(raw) => raw,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(read_err(e)),
            };
            intake.handle(raw, None, None).await?
        };
        self.intake.committed(&handled);
        self.maildir
            .move_to(message, handled.folder)
            .map_err(|e| IntakeError::Crashed(format!("cannot move it: {e}")))?;
        self.intake
            .pipeline
            .store
            .ledger_moved(handled.ledger_id, Utc::now())
            .await?;
        Ok(Some(handled))
    }

    /// Polls until `shutdown` completes; the message in hand is finished first.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backoff = super::imap::session_retries();
        loop {
            let wait = match self.process_pending().await {
                Ok(_) => {
                    backoff.succeeded();
                    self.poll
                }
                Err(e) => {
                    let d = backoff.failed_jittered();
                    tracing::warn!("maildir intake: {e}; trying again in {d:?}");
                    d
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
