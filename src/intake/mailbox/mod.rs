//! Email intake (SPEC §4.1, §7): one incoming message in, exactly one recorded final state out.
//!
//! For each message: the ledger (migration 0004) is asked whether it was handled already — by
//! Message-ID, by its bytes' SHA-256, or by its UIDVALIDITY+UID — and if so it is only moved to its
//! folder (a move lost to a crash is finished). Otherwise a try is counted (committed first, so a try
//! that crashes the process counts; after three such tries the message is poison: failed folder,
//! owners told), the message is parsed off the async runtime, its sender checked, and [`plan`]
//! decides. Each spreadsheet attachment is a submission of its own, recorded with
//! `source_ref = mail:<ledger id>:<index>` in the same transaction as its rows and its receipt, so a
//! retry skips the parts already done. Last, one transaction finishes the message: its status and
//! every reply, invitation or user change it causes. The mailbox moves it only after that commit.
//!
//! The sources that feed it: [`maildir_source`] (the embedded default) and [`imap`].

pub mod commands;
pub mod imap;
pub mod maildir;
pub mod maildir_source;
pub mod plan;
pub mod sftp_key;

use std::sync::Arc;

use chrono::Utc;

use crate::directory::{Directory, Role};
use crate::inbound::{self, Inbound};
use crate::intake::mailbox::maildir::Folder;
use crate::intake::pipeline::{self, Input, Pipeline, ReceiptRequest};
use crate::mail::alert::PoisonMessage;
use crate::mail::message::Attachment;
use crate::mail::receipt::ReplyTo;
use crate::mail::reply::ReplyInput;
use crate::mail::{Composer, MailError, Outgoing};
use crate::store::mail_ledger::{Effect, Final, LedgerEntry, MessageKeys};
use crate::store::StoreError;
use crate::submission::Channel;

pub use plan::{plan, Plan, Sender};

/// Tries that may crash before a message is given up on (SPEC §4.1).
pub const MAX_ATTEMPTS: i64 = 3;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
    /// The message made our own code fail (a panic in the parser, …): counts as a failed try.
    #[error("processing the message failed: {0}")]
    Crashed(String),
}

impl From<pipeline::Error> for IntakeError {
    fn from(e: pipeline::Error) -> Self {
        match e {
            pipeline::Error::Store(e) => IntakeError::Store(e),
            other => IntakeError::Crashed(other.to_string()),
        }
    }
}

/// How the intake is set up (from `[intake.mailbox]`).
#[derive(Debug, Clone)]
pub struct IntakeOptions {
    /// The ledger's name for the mailbox: `imap://user@host/INBOX`, `maildir:/path`.
    pub mailbox: String,
    pub require_auth: bool,
    pub authserv_id: String,
    /// `[[digests]]`: the `status` command sends the sender's digest.
    pub digests: Vec<crate::settings::Digest>,
    /// (r2) `intake.drop.authorized_keys`, what the `sftp-key` command writes; `None`: the drop
    /// folder is off, so there are no SFTP accounts.
    pub authorized_keys: Option<String>,
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub ledger_id: i64,
    pub folder: Folder,
    /// The ledger's `kind`: submission, check, command, help, refused, ignored, rejected, poison.
    pub kind: String,
    /// Submissions recorded by this try (empty when the message was handled before).
    pub submissions: Vec<i64>,
    /// `true`: the message had been handled before; only its move is left.
    pub already: bool,
}

/// Handles messages of one mailbox.
#[derive(Clone)]
pub struct MailIntake {
    pub pipeline: Pipeline,
    pub composer: Arc<Composer>,
    pub options: IntakeOptions,
    /// Crash drills: called after a message's outcome is committed, before it is moved.
    pub after_commit: Option<Arc<dyn Fn(i64) + Send + Sync>>,
    /// Woken when a message's receipts and replies are in the outbox (the worker sends them now).
    pub outbox_wake: Option<Arc<tokio::sync::Notify>>,
    /// The directory in force, when the daemon reloads it live: each message is handled with the
    /// directory of the moment it starts.
    pub live: Option<crate::daemon::reload::LiveDirectory>,
}

impl MailIntake {
    /// This intake with the directory in force now (see [`MailIntake::live`]).
    pub fn current(&self) -> MailIntake {
        let mut now = self.clone();
        if let Some(live) = &self.live {
            now.pipeline.directory = live.get();
        }
        now
    }

    /// The crash-drill hook, when set (see `after_commit`).
    pub(crate) fn committed(&self, h: &Handled) {
        if let (Some(wake), false) = (&self.outbox_wake, h.already) {
            wake.notify_one();
        }
        if let (Some(hook), false) = (&self.after_commit, h.already) {
            hook(h.ledger_id);
        }
    }
}

fn folder_of(status: &str) -> Folder {
    match status {
        "rejected" => Folder::Rejected,
        "failed" => Folder::Failed,
        _ => Folder::Processed,
    }
}

/// What one message's handling sends and changes, written when it finishes.
#[derive(Default)]
pub(crate) struct Finish {
    pub mail: Vec<Outgoing>,
    pub effects: Vec<Effect>,
}

impl MailIntake {
    pub fn directory(&self) -> &Directory {
        &self.pipeline.directory
    }

    /// Handles one raw message. `Err`: nothing final was recorded (the database is away, or our
    /// code failed on it); the message stays where it is and is tried again later.
    pub async fn handle(
        &self,
        raw: Vec<u8>,
        uidvalidity: Option<u32>,
        uid: Option<u32>,
    ) -> Result<Handled, IntakeError> {
        let sha256 = crate::app::sha256_hex(&raw);
        let limits = self.pipeline.limits;
        let parsed = tokio::task::spawn_blocking(move || inbound::parse(&raw, &limits))
            .await
            .map_err(|e| IntakeError::Crashed(format!("reading the message: {e}")));
        let (message_key, sender, subject) = match &parsed {
            Ok(Ok(m)) => (
                message_key(m).unwrap_or_else(|| format!("sha256:{sha256}")),
                m.from.clone().unwrap_or_default(),
                m.subject.clone(),
            ),
            _ => (format!("sha256:{sha256}"), String::new(), String::new()),
        };
        let keys = MessageKeys {
            mailbox: self.options.mailbox.clone(),
            message_key,
            sha256,
            uidvalidity,
            uid,
            sender,
            subject,
        };
        let store = &self.pipeline.store;
        // Found finished (handled before, delivered again, or its move lost to a crash): only the
        // move is left; nothing is counted.
        let entry = store.ledger_begin(&keys, Utc::now()).await?;
        tracing::debug!(
            ledger_id = entry.id,
            "message parsed, its ledger entry begun"
        );
        if entry.finished() {
            return Ok(already(&entry));
        }
        if entry.attempts > MAX_ATTEMPTS {
            let reason = format!("{} tries failed", entry.attempts - 1);
            return self.fail(&entry, &keys, &reason).await;
        }
        let result = match parsed {
            Err(crashed) => Err(crashed),
            Ok(Err(e)) => {
                self.finish(
                    &entry,
                    Folder::Rejected,
                    "rejected",
                    &e.to_string(),
                    Finish::default(),
                    vec![],
                )
                .await
            }
            Ok(Ok(message)) => self.handle_parsed(&entry, message).await,
        };
        match &result {
            // A value of the message the database refused: its fault, and trying again changes
            // nothing. It fails now, and the source goes on with the next message.
            Err(IntakeError::Store(e)) if e.is_value_error() => {
                let reason = format!("a value of the message could not be stored ({e})");
                return self.fail(&entry, &keys, &reason).await;
            }
            Err(IntakeError::Store(_)) => {
                // Not the message's fault: this try does not count towards poison.
                let _ = store.ledger_uncount(entry.id).await;
            }
            _ => {}
        }
        result
    }

    /// A message too large to download (IMAP, over the limit by its size alone): only its header
    /// was read. A known sender is told; it goes to the rejected folder.
    pub async fn handle_oversized(
        &self,
        header: Vec<u8>,
        size: u64,
        uidvalidity: Option<u32>,
        uid: Option<u32>,
    ) -> Result<Handled, IntakeError> {
        let limits = self.pipeline.limits;
        let max = max_message_bytes(&limits);
        let parsed = inbound::parse(&header, &limits).unwrap_or_default();
        let keys = MessageKeys {
            mailbox: self.options.mailbox.clone(),
            message_key: message_key(&parsed)
                .unwrap_or_else(|| format!("size:{size}:{}", crate::app::sha256_hex(&header))),
            sha256: crate::app::sha256_hex(&header),
            uidvalidity,
            uid,
            sender: parsed.from.clone().unwrap_or_default(),
            subject: parsed.subject.clone(),
        };
        let store = &self.pipeline.store;
        let entry = store.ledger_begin(&keys, Utc::now()).await?;
        if entry.finished() {
            return Ok(already(&entry));
        }
        let sender = self.sender(&parsed).await?;
        let mut finish = Finish::default();
        let reason = format!(
            "the message is {:.1} MB, over the {:.1} MB limit",
            size as f64 / 1e6,
            max as f64 / 1e6
        );
        if let (Some(to), false) = (sender.address(), parsed.auto_generated) {
            let t = self.catalogue(&sender);
            finish.mail.push(self.composer.reply(&ReplyInput {
                to: (to.0.to_string(), to.1.to_string()),
                reply_to: reply_to(&parsed),
                heading: t.text("reply.too_large_heading").into(),
                paragraphs: vec![t.fmt(
                    "reply.too_large_text",
                    &[
                        ("size", &format!("{:.1}", size as f64 / 1e6)),
                        ("max", &format!("{:.1}", max as f64 / 1e6)),
                    ],
                )],
                dedupe_key: Some(format!("reply:{}:too-large", entry.id)),
                lang: t.lang(),
                ..ReplyInput::default()
            })?);
        }
        self.finish(
            &entry,
            Folder::Rejected,
            "too_large",
            &reason,
            finish,
            vec![],
        )
        .await
    }

    /// The message ends in the failed folder, owners told (a message that failed every try, or
    /// whose value the database refused).
    async fn fail(
        &self,
        entry: &LedgerEntry,
        keys: &MessageKeys,
        reason: &str,
    ) -> Result<Handled, IntakeError> {
        let store = &self.pipeline.store;
        let owners = store.owner_addresses().await?;
        let reason = reason.to_string();
        let mut finish = Finish::default();
        if !owners.is_empty() {
            finish.mail.push(self.composer.failed_message_alert(
                &owners,
                &PoisonMessage {
                    ledger_id: entry.id,
                    mailbox: self.options.mailbox.clone(),
                    folder: Folder::Failed.name().to_string(),
                    message_id: keys.message_key.clone(),
                    sender: keys.sender.clone(),
                    subject: keys.subject.clone(),
                    attempts: entry.attempts - 1,
                    reason: reason.clone(),
                },
            )?);
        }
        tracing::warn!(
            ledger_id = entry.id,
            mailbox = %self.options.mailbox,
            "a message failed ({reason}): moved to the failed folder, owners told"
        );
        self.finish(entry, Folder::Failed, "poison", &reason, finish, vec![])
            .await
    }

    async fn finish(
        &self,
        entry: &LedgerEntry,
        folder: Folder,
        kind: &str,
        reason: &str,
        finish: Finish,
        submissions: Vec<i64>,
    ) -> Result<Handled, IntakeError> {
        let status = match folder {
            Folder::Processed => "processed",
            Folder::Rejected => "rejected",
            Folder::Failed => "failed",
        };
        let store = &self.pipeline.store;
        let written = store
            .ledger_finish(
                entry.id,
                &Final {
                    status,
                    kind,
                    reason,
                },
                &finish.mail,
                &finish.effects,
                Utc::now(),
            )
            .await?;
        if !written {
            // Another daemon (or an earlier try) finished it meanwhile: its record stands.
            if let Some(e) = store
                .ledger_entry(entry.id)
                .await?
                .filter(LedgerEntry::finished)
            {
                return Ok(already(&e));
            }
        }
        tracing::info!(
            ledger_id = entry.id,
            kind,
            folder = folder.name(),
            submissions = submissions.len(),
            "message handled"
        );
        Ok(Handled {
            ledger_id: entry.id,
            folder,
            kind: kind.to_string(),
            submissions,
            already: false,
        })
    }

    /// Who sent the message: an owner, an active user of an active agency (directory file first,
    /// then users invited by email), a recruiter, or nobody we know.
    pub async fn sender(&self, message: &Inbound) -> Result<Sender, StoreError> {
        let Some(from) = message.from.as_deref() else {
            return Ok(Sender::Unknown);
        };
        let dir = self.directory();
        if let Some(owner) = dir.owners.iter().find(|o| o.email == from) {
            return Ok(Sender::Owner {
                email: owner.email.clone(),
                name: owner.name.clone(),
            });
        }
        if let Some((agency, user)) = dir.user(from) {
            return Ok(if agency.active {
                Sender::User {
                    email: user.email.clone(),
                    name: user.name.clone(),
                    agency_id: agency.id.clone(),
                    role: user.role,
                }
            } else {
                Sender::Unknown
            });
        }
        let invited = self.pipeline.store.db_user(from).await?;
        Ok(match invited {
            Some(u)
                if u.active
                    && u.source == "invited"
                    && dir.agency(&u.agency_id).is_some_and(|a| a.active) =>
            {
                Sender::User {
                    email: u.email,
                    name: u.name,
                    agency_id: u.agency_id,
                    role: Role::parse(&u.role).unwrap_or(Role::Editor),
                }
            }
            _ => match dir.recruiters.iter().find(|r| r.email == from) {
                Some(r) => Sender::Recruiter {
                    email: r.email.clone(),
                    name: r.name.clone(),
                },
                None => Sender::Unknown,
            },
        })
    }

    async fn handle_parsed(
        &self,
        entry: &LedgerEntry,
        message: Inbound,
    ) -> Result<Handled, IntakeError> {
        let sender = self.sender(&message).await?;
        let authenticated = !self.options.require_auth
            || message
                .from
                .as_deref()
                .and_then(|f| f.rsplit_once('@'))
                .is_some_and(|(_, domain)| {
                    crate::sender_auth::authenticated(
                        &message.authentication_results,
                        &self.options.authserv_id,
                        domain,
                    )
                });
        let plan = plan::plan(
            &message,
            &sender,
            authenticated,
            self.directory(),
            self.pipeline.limits.max_attachments,
        );
        let kind = plan.kind();
        match plan {
            Plan::Reject { reason } => {
                tracing::info!(ledger_id = entry.id, "message rejected: {reason}");
                self.finish(
                    entry,
                    Folder::Rejected,
                    kind,
                    &reason,
                    Finish::default(),
                    vec![],
                )
                .await
            }
            Plan::Ignore { reason } => {
                self.finish(
                    entry,
                    Folder::Processed,
                    kind,
                    &reason,
                    Finish::default(),
                    vec![],
                )
                .await
            }
            Plan::Submit {
                agency_id,
                tags,
                reply,
            } => {
                let (finish, submissions) = self
                    .submit(entry, &message, &sender, &agency_id, &tags, reply)
                    .await?;
                self.finish(entry, Folder::Processed, kind, "", finish, submissions)
                    .await
            }
            Plan::Refuse { why } => {
                let mut finish = Finish::default();
                let t = self.catalogue(&sender);
                finish.mail.push(self.reply(
                    entry,
                    &message,
                    &sender,
                    "refused",
                    t.text("reply.refused_heading").into(),
                    vec![why.render(&t)],
                    vec![],
                    vec![],
                )?);
                let why = why.to_string();
                self.finish(entry, Folder::Processed, kind, &why, finish, vec![])
                    .await
            }
            Plan::Help { problem } => {
                let mut finish = Finish::default();
                finish
                    .mail
                    .push(commands::help(self, entry, &message, &sender, problem)?);
                self.finish(entry, Folder::Processed, kind, "", finish, vec![])
                    .await
            }
            Plan::Command(command) => {
                let finish = commands::run(self, entry, &message, &sender, command).await?;
                self.finish(entry, Folder::Processed, kind, "", finish, vec![])
                    .await
            }
        }
    }

    /// A reply to `message`'s sender, once per (message, topic).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn reply(
        &self,
        entry: &LedgerEntry,
        message: &Inbound,
        sender: &Sender,
        topic: &str,
        heading: String,
        paragraphs: Vec<String>,
        items: Vec<String>,
        attachments: Vec<Attachment>,
    ) -> Result<Outgoing, MailError> {
        let (email, name) = sender.address().ok_or(MailError::NoRecipient("reply"))?;
        self.composer.reply(&ReplyInput {
            to: (email.to_string(), name.to_string()),
            reply_to: reply_to(message),
            heading,
            paragraphs,
            items,
            attachments,
            dedupe_key: Some(format!("reply:{}:{topic}", entry.id)),
            lang: sender.language(self.directory()),
        })
    }

    /// The message catalogue in the sender's language, for the texts of a reply.
    pub(crate) fn catalogue(&self, sender: &Sender) -> crate::i18n::Catalogue {
        self.composer
            .templates
            .catalogue(sender.language(self.directory()))
    }

    /// Each spreadsheet attachment a submission of its own.
    async fn submit(
        &self,
        entry: &LedgerEntry,
        message: &Inbound,
        sender: &Sender,
        agency_id: &str,
        tags: &crate::email_commands::Tags,
        reply: bool,
    ) -> Result<(Finish, Vec<i64>), IntakeError> {
        let (email, name) = sender.address().unwrap_or_default();
        let store = &self.pipeline.store;
        let mut finish = Finish::default();
        let mut submissions = Vec::new();
        let mut notes: Vec<String> = Vec::new();
        let t = self.catalogue(sender);
        for (i, attachment) in message.attachments.iter().enumerate() {
            let source_ref = format!("mail:{}:{i}", entry.id);
            if !tags.check {
                if let Some(done) = store.submission_by_source(&source_ref).await? {
                    // Recorded by an earlier try: its receipt was committed with it.
                    if done.status == "failed" {
                        notes.push(t.fmt(
                            "reply.unreadable",
                            &[("file", &attachment.name), ("reason", &done.reason)],
                        ));
                    }
                    continue;
                }
            }
            let input = Input {
                file_name: attachment.name.clone(),
                bytes: attachment.bytes.clone(),
                agency_id: agency_id.to_string(),
                user_email: Some(email.to_string()),
                default_campaign: tags.campaign.clone(),
                company_country: None,
                channel: Channel::Email,
                sender: email.to_string(),
                check_only: tags.check,
                received_at: Utc::now(),
                receipt: (reply && !tags.check).then(|| ReceiptRequest {
                    to: vec![(email.to_string(), name.to_string())],
                    reply_to: reply_to(message),
                }),
                source_ref: Some(source_ref),
            };
            match self.pipeline.process(input, None).await? {
                pipeline::Result::Processed(p) => match p.submission_id {
                    Some(id) => submissions.push(id),
                    None if reply => finish.mail.push(commands::check_reply(
                        self,
                        entry,
                        message,
                        sender,
                        i,
                        &attachment.name,
                        &p,
                    )?),
                    None => {}
                },
                pipeline::Result::AlreadyProcessed { submission_id } => notes.push(t.fmt(
                    "reply.already_processed",
                    &[
                        ("file", &attachment.name),
                        ("submission", &submission_id.to_string()),
                    ],
                )),
                pipeline::Result::Unreadable { reason, .. } => notes.push(t.fmt(
                    "reply.unreadable",
                    &[("file", &attachment.name), ("reason", &reason.render(&t))],
                )),
            }
        }
        notes.extend(
            message
                .refused
                .iter()
                .map(|r| format!("{}: {}", r.name, r.reason)),
        );
        if reply && !notes.is_empty() {
            finish.mail.push(self.reply(
                entry,
                message,
                sender,
                "notes",
                t.text("reply.notes_heading").into(),
                vec![t.text("reply.notes_text").into()],
                notes,
                vec![],
            )?);
        }
        Ok((finish, submissions))
    }
}

fn already(e: &LedgerEntry) -> Handled {
    Handled {
        ledger_id: e.id,
        folder: folder_of(&e.status),
        kind: e.kind.clone(),
        submissions: Vec::new(),
        already: true,
    }
}

/// The ledger's key of a message with a Message-ID: `<id>`.
fn message_key(message: &Inbound) -> Option<String> {
    message
        .message_id
        .as_deref()
        .map(|id| format!("<{}>", id.trim_matches(['<', '>'])))
}

/// The thread a reply to `message` belongs to.
pub fn reply_to(message: &Inbound) -> Option<ReplyTo> {
    message.message_id.as_ref().map(|id| ReplyTo {
        message_id: id.clone(),
        subject: message.subject.clone(),
    })
}

/// The largest message downloaded: room for a few attachments of `max_file_bytes` each, base64
/// encoded. Larger ones are refused from their size alone, before they are downloaded.
pub fn max_message_bytes(limits: &crate::sheet::Limits) -> u64 {
    limits.max_file_bytes.saturating_mul(3)
}

/// The configured mailbox (`[intake.mailbox]`).
pub enum MailSource {
    Maildir(maildir_source::MaildirSource),
    Imap(imap::ImapSource),
}

impl MailSource {
    /// `None`: `kind = "none"`, no email intake.
    pub fn from_settings(
        all: &crate::settings::Settings,
        pipeline: Pipeline,
        composer: Arc<Composer>,
    ) -> std::io::Result<Option<MailSource>> {
        use crate::settings::MailboxKind;
        let settings = &all.intake.mailbox;
        let mut options = IntakeOptions {
            mailbox: String::new(),
            require_auth: settings.require_auth,
            authserv_id: settings.authserv_id.clone(),
            digests: all.digests.clone(),
            authorized_keys: (!all.intake.drop.path.as_os_str().is_empty())
                .then(|| all.intake.drop.authorized_keys.clone()),
        };
        Ok(match settings.kind {
            MailboxKind::None => None,
            MailboxKind::Maildir => {
                let path = &settings.path;
                std::fs::create_dir_all(path)?;
                let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
                options.mailbox = format!("maildir:{}", canonical.display());
                let intake = MailIntake {
                    pipeline,
                    composer,
                    options,
                    after_commit: None,
                    outbox_wake: None,
                    live: None,
                };
                Some(MailSource::Maildir(maildir_source::MaildirSource::open(
                    intake, path,
                )?))
            }
            MailboxKind::Imap => {
                let imap = imap::ImapOptions::from_settings(settings);
                options.mailbox = imap.mailbox_name();
                let intake = MailIntake {
                    pipeline,
                    composer,
                    options,
                    after_commit: None,
                    outbox_wake: None,
                    live: None,
                };
                Some(MailSource::Imap(imap::ImapSource::new(intake, imap)))
            }
        })
    }

    /// Sets the crash-drill hook (see [`MailIntake::after_commit`]).
    pub fn set_after_commit(&mut self, hook: Arc<dyn Fn(i64) + Send + Sync>) {
        match self {
            MailSource::Maildir(m) => m.intake_mut().after_commit = Some(hook),
            MailSource::Imap(i) => i.intake.after_commit = Some(hook),
        }
    }

    /// Wakes the outbox worker after each message (see [`MailIntake::outbox_wake`]).
    pub fn set_outbox_wake(&mut self, wake: Arc<tokio::sync::Notify>) {
        match self {
            MailSource::Maildir(m) => m.intake_mut().outbox_wake = Some(wake),
            MailSource::Imap(i) => i.intake.outbox_wake = Some(wake),
        }
    }

    /// Follows the live directory (see [`MailIntake::live`]).
    pub fn set_live(&mut self, live: crate::daemon::reload::LiveDirectory) {
        match self {
            MailSource::Maildir(m) => m.intake_mut().live = Some(live),
            MailSource::Imap(i) => i.intake.live = Some(live),
        }
    }

    /// Its figures (health, metrics).
    pub fn stats(&self) -> Arc<crate::daemon::health::SourceStats> {
        match self {
            MailSource::Maildir(m) => m.stats.clone(),
            MailSource::Imap(i) => i.stats.clone(),
        }
    }

    /// What the source is, for logs and health: `imap://…`, `maildir:…`.
    pub fn name(&self) -> &str {
        match self {
            MailSource::Maildir(m) => &m.intake().options.mailbox,
            MailSource::Imap(i) => &i.intake.options.mailbox,
        }
    }

    /// Handles everything waiting now, then returns.
    pub async fn once(&self) -> anyhow::Result<usize> {
        match self {
            MailSource::Maildir(m) => Ok(m.process_pending().await?.len()),
            MailSource::Imap(i) => {
                let before = i.stats.handled.load(std::sync::atomic::Ordering::Relaxed);
                i.once().await?;
                Ok((i.stats.handled.load(std::sync::atomic::Ordering::Relaxed) - before) as usize)
            }
        }
    }

    /// Runs until `shutdown` completes.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
        match self {
            MailSource::Maildir(m) => m.run(shutdown).await,
            MailSource::Imap(i) => i.run(shutdown).await,
        }
    }
}
