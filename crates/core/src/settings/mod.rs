//! The settings model (SPEC §3.1): what the settings file says, as plain values, and its check
//! from text with positions ([`check_text`]). Reading the file, the environment and the secrets,
//! and resolving relative paths, is the daemon's (`agency_portal::settings::load`).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::sheet::Limits;

mod check;
pub mod talkpush;

pub use check::check_text;

/// Where a drop-folder account reads its keys unless told otherwise (`%u` = `ap-<agency-id>`).
pub const DEFAULT_AUTHORIZED_KEYS: &str = "/etc/ssh/agency-portal/authorized_keys/%u";

/// A password: printed as `***` by `Debug`, so it never reaches a log.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The settings file these were read from.
    #[serde(skip)]
    pub file: PathBuf,
    #[serde(default)]
    pub database: Database,
    #[serde(default)]
    pub directory: DirectorySettings,
    #[serde(default)]
    pub intake: Intake,
    #[serde(default)]
    pub mail: Mail,
    #[serde(default)]
    pub policy: Policy,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub digests: Vec<Digest>,
    #[serde(default)]
    pub http: Http,
    /// `[talkpush]` (SPEC §11): `None` when the section is absent.
    #[serde(default)]
    pub talkpush: Option<talkpush::TalkpushSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Database {
    pub url: String,
}

impl Default for Database {
    fn default() -> Self {
        Database {
            url: "sqlite://../var/agency-portal.db".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectorySettings {
    pub path: PathBuf,
}

impl Default for DirectorySettings {
    fn default() -> Self {
        DirectorySettings {
            path: "directory.toml".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Intake {
    pub mailbox: Mailbox,
    pub drop: Drop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailboxKind {
    Maildir,
    Imap,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    None,
    Starttls,
    Implicit,
}

/// How a mail server is logged in to (SPEC §3.1 (r2)): a password, an OAuth2 access token (SASL
/// XOAUTH2 or OAUTHBEARER, see `agency_portal::mail::auth`), or (SMTP only) not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    Password,
    Xoauth2,
    Oauthbearer,
    None,
}

impl Auth {
    pub fn as_str(self) -> &'static str {
        match self {
            Auth::Password => "password",
            Auth::Xoauth2 => "xoauth2",
            Auth::Oauthbearer => "oauthbearer",
            Auth::None => "none",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mailbox {
    pub kind: MailboxKind,
    pub path: PathBuf,
    pub host: String,
    pub port: Option<u16>,
    pub tls: Tls,
    pub username: String,
    pub password: Option<Secret>,
    pub password_env: Option<String>,
    pub auth: Auth,
    /// OAuth2: the program (and its arguments) that prints a current access token.
    pub token_command: Vec<String>,
    /// OAuth2: a file holding a current access token, re-read at each login.
    pub token_file: Option<PathBuf>,
    pub folder: String,
    pub processed_folder: String,
    pub rejected_folder: String,
    pub failed_folder: String,
    pub address: String,
    pub require_auth: bool,
    pub authserv_id: String,
    /// IMAP: also look for new mail this often, in ms, besides the server's IDLE notices (and
    /// instead of the 30 s poll without IDLE); 0: IDLE alone. See docs/configuration.md.
    pub check_ms: u64,
}

/// The shortest `[intake.mailbox] check_ms` (0 aside).
pub const MIN_CHECK_MS: u64 = 50;

impl Default for Mailbox {
    fn default() -> Self {
        Mailbox {
            kind: MailboxKind::Maildir,
            path: "../var/mailbox".into(),
            host: String::new(),
            port: None,
            tls: Tls::Implicit,
            username: String::new(),
            password: None,
            password_env: None,
            auth: Auth::Password,
            token_command: Vec::new(),
            token_file: None,
            folder: "INBOX".into(),
            processed_folder: "Processed".into(),
            rejected_folder: "Rejected".into(),
            failed_folder: "Failed".into(),
            address: "portal@example.test".into(),
            require_auth: false,
            authserv_id: "mx.example.test".into(),
            check_ms: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Drop {
    /// Empty: the drop folder is off.
    pub path: PathBuf,
    pub settle_ms: u64,
    /// (r2) The host agencies connect to, told in admins' invitations; empty: SFTP not offered.
    pub sftp_host: String,
    pub sftp_port: u16,
    /// The accounts' `AuthorizedKeysFile` (`%u` = `ap-<agency-id>`): what `sftp-setup` configures
    /// and the `sftp-key` command writes.
    pub authorized_keys: String,
}

impl Default for Drop {
    fn default() -> Self {
        Drop {
            path: "../var/drop".into(),
            settle_ms: 2000,
            sftp_host: String::new(),
            sftp_port: 22,
            authorized_keys: DEFAULT_AUTHORIZED_KEYS.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    File,
    Smtp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mail {
    pub from: String,
    pub transport: Transport,
    pub path: PathBuf,
    pub host: String,
    pub port: Option<u16>,
    pub tls: Tls,
    pub username: String,
    pub password: Option<Secret>,
    pub password_env: Option<String>,
    /// Unset: a password login when `username` is given, else none.
    pub auth: Option<Auth>,
    pub token_command: Vec<String>,
    pub token_file: Option<PathBuf>,
    pub timeout_secs: u64,
}

impl Mail {
    /// The login `[mail]` asks for, `auth` unset meaning "password when a username is given".
    pub fn auth(&self) -> Auth {
        match self.auth {
            Some(a) => a,
            None if self.username.is_empty() => Auth::None,
            None => Auth::Password,
        }
    }
}

impl Default for Mail {
    fn default() -> Self {
        Mail {
            from: "Agency Portal <portal@example.test>".into(),
            transport: Transport::File,
            path: "../var/outbox".into(),
            host: String::new(),
            port: None,
            tls: Tls::Starttls,
            username: String::new(),
            password: None,
            password_env: None,
            auth: None,
            token_command: Vec::new(),
            token_file: None,
            timeout_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Company,
    Campaign,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub ownership_days: u32,
    pub scope: Scope,
    pub name_similarity: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            ownership_days: 180,
            scope: Scope::Company,
            name_similarity: 0.92,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestKind {
    Agency,
    Owner,
    Recruiter,
}

impl DigestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DigestKind::Agency => "agency",
            DigestKind::Owner => "owner",
            DigestKind::Recruiter => "recruiter",
        }
    }

    pub const ALL: [DigestKind; 3] = [DigestKind::Agency, DigestKind::Owner, DigestKind::Recruiter];

    /// `agency` | `owner` | `recruiter`, case-insensitively.
    pub fn parse(s: &str) -> Option<DigestKind> {
        DigestKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
}

/// One `[[digests]]` entry. The schedule and timezone are checked by `config check` (with positions).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digest {
    pub kind: DigestKind,
    pub schedule: String,
    #[serde(default = "default_timezone")]
    pub timezone: String,
}

fn default_timezone() -> String {
    "UTC".into()
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Http {
    /// e.g. "127.0.0.1:9184"; empty = off.
    pub listen: String,
}

impl Settings {
    /// The folder relative paths are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        base_dir(&self.file)
    }

    /// Where the editable mail templates are (`config/templates/` beside the settings file).
    /// `[talkpush]` when it is there and enabled.
    pub fn talkpush(&self) -> Option<&talkpush::TalkpushSettings> {
        self.talkpush.as_ref().filter(|t| t.enabled)
    }

    pub fn templates_dir(&self) -> PathBuf {
        self.base_dir().join("templates")
    }
}

/// The folder relative paths in the settings file `file` are resolved against.
pub fn base_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
    }
}
