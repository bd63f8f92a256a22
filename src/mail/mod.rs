//! Mail we send (SPEC §7): building messages from editable templates, and the outbox worker.
//!
//! Every message is rendered completely (headers, text + HTML, attachments) by a [`Composer`] into an
//! [`Outgoing`], which store code writes to the outbox table **in the same transaction** as its cause
//! ([`crate::store::outbox::enqueue`]). The [`sender::Sender`] worker delivers outbox rows later.
//!
//! - [`message`]: MIME building with safe headers (`Auto-Submitted`, threading, attachments);
//! - [`names`]: `From`/`To` values whose encoded-words hold whole words;
//! - [`templates`]: the text and HTML templates in `config/templates/`;
//! - [`receipt`], [`invitation`], [`alert`]: the messages themselves;
//! - [`sender`]: the worker (SMTP or file transport, retries, leases);
//! - [`command`]: `agency-portal outbox [list | flush | resend ID | resend --failed] [--json]`.

use std::path::{Path, PathBuf};

use crate::settings::Settings;

pub mod alert;
pub mod auth;
pub mod invitation;
#[cfg(test)]
mod languages;
pub mod message;
pub mod names;
pub mod receipt;
pub mod reply;
pub mod review;
pub mod sender;
pub mod smtp_oauth;
pub mod templates;

pub use message::Address;
pub use templates::Templates;

/// What an outbox row is for (the `kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    Receipt,
    Invitation,
    Alert,
    CommandReply,
    Digest,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Receipt => "receipt",
            MailKind::Invitation => "invitation",
            MailKind::Alert => "alert",
            MailKind::CommandReply => "command_reply",
            MailKind::Digest => "digest",
        }
    }

    pub fn parse(s: &str) -> Option<MailKind> {
        Some(match s {
            "receipt" => MailKind::Receipt,
            "invitation" => MailKind::Invitation,
            "alert" => MailKind::Alert,
            "command_reply" => MailKind::CommandReply,
            "digest" => MailKind::Digest,
            _ => return None,
        })
    }
}

/// A completely rendered message, ready to be written to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub kind: MailKind,
    /// `<…@…>`, exactly as in the message's `Message-ID` header.
    pub message_id: String,
    /// Envelope sender (MAIL FROM).
    pub sender: String,
    /// Envelope recipients (RCPT TO), lower-case addresses.
    pub recipients: Vec<String>,
    /// `Some("invitation:ana@acme.ph")`: at most one outbox row with this key, ever.
    pub dedupe_key: Option<String>,
    /// The RFC 5322 message (CRLF line ends).
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("[mail] from = `{0}` is not a mail address: write it as `Name <address@domain>` or `address@domain`")]
    BadFrom(String),
    #[error("no valid recipient for this {0} message: every address was empty or malformed")]
    NoRecipient(&'static str),
    #[error("template {path}: {message}; fix the template (the shipped versions are in config/templates/)")]
    Template { path: PathBuf, message: String },
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("[mail] transport = \"smtp\" needs {0}")]
    SmtpSetting(&'static str),
    #[error("cannot set up SMTP to {host}: {message}")]
    Smtp { host: String, message: String },
    #[error("database error in the outbox: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Trust(#[from] crate::tls::TrustError),
}

impl MailError {
    /// Problems with the settings or templates are the operator's to fix (exit 2).
    pub fn is_config(&self) -> bool {
        match self {
            MailError::BadFrom(_)
            | MailError::Template { .. }
            | MailError::SmtpSetting(_)
            | MailError::Smtp { .. }
            | MailError::Trust(_) => true,
            MailError::Store(e) => e.is_config(),
            MailError::NoRecipient(_) | MailError::Build(_) => false,
        }
    }
}

impl From<sqlx::Error> for MailError {
    fn from(e: sqlx::Error) -> Self {
        MailError::Store(e.into())
    }
}

/// Builds every message we send: the `From` address, the intake address agencies write to, and the
/// templates. Cheap to share (`Arc`) between the pipeline and the worker.
#[derive(Debug, Clone)]
pub struct Composer {
    pub from: Address,
    /// The intake address (`[intake.mailbox] address`), shown in invitations.
    pub intake_address: String,
    pub templates: Templates,
    /// (r2) Where agencies connect over SFTP (`intake.drop.sftp_host`, `sftp_port`), told in admins'
    /// invitations; `None`: SFTP is not offered.
    pub sftp: Option<SftpAccess>,
}

/// The SFTP server agencies connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpAccess {
    pub host: String,
    pub port: u16,
}

impl Composer {
    pub fn new(
        from: &str,
        intake_address: &str,
        templates_dir: &Path,
    ) -> Result<Composer, MailError> {
        let from =
            Address::parse_mailbox(from).ok_or_else(|| MailError::BadFrom(from.to_string()))?;
        Ok(Composer {
            from,
            intake_address: intake_address.to_string(),
            templates: Templates::load(templates_dir)?,
            sftp: None,
        })
    }

    /// From the settings: `[mail] from`, `[intake.mailbox] address`, `config/templates/`.
    pub fn from_settings(settings: &Settings) -> Result<Composer, MailError> {
        let mut composer = Composer::new(
            &settings.mail.from,
            &settings.intake.mailbox.address,
            &settings.templates_dir(),
        )?;
        let drop = &settings.intake.drop;
        if !drop.sftp_host.trim().is_empty() && !drop.path.as_os_str().is_empty() {
            composer.sftp = Some(SftpAccess {
                host: drop.sftp_host.trim().to_string(),
                port: drop.sftp_port,
            });
        }
        Ok(composer)
    }

    /// A draft of `kind` to `to`, its subject and both bodies rendered from template `name` with `ctx`.
    pub fn draft(
        &self,
        kind: MailKind,
        name: &str,
        ctx: &minijinja::Value,
        to: Vec<message::Address>,
    ) -> message::Draft {
        self.draft_in(kind, name, crate::i18n::Lang::En, ctx, to)
    }

    /// [`Composer::draft`] in a language (SPEC §7 (r2)).
    pub fn draft_in(
        &self,
        kind: MailKind,
        name: &str,
        lang: crate::i18n::Lang,
        ctx: &minijinja::Value,
        to: Vec<message::Address>,
    ) -> message::Draft {
        let rendered = self.templates.render_in(name, lang, ctx);
        let mut draft = message::Draft::new(kind, self.from.clone(), to);
        draft.subject = rendered.subject;
        draft.text = rendered.text;
        draft.html = rendered.html;
        draft
    }

    /// The domain of the From address: the right-hand side of our Message-IDs.
    pub fn domain(&self) -> &str {
        self.from
            .email
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or("localhost")
    }
}
