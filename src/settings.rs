//! The settings file (SPEC §3.1), layered: the TOML file, then `AGENCY_PORTAL__SECTION__KEY` variables,
//! then `DATABASE_URL`. Relative paths resolve against the settings file's folder; secrets given as
//! `password_env` are read from the environment and never printed.

use std::fmt;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format as _, Toml};
use figment::Figment;
use serde::Deserialize;

use crate::check::{Checker, Problem, Problems};
use crate::schedule::Schedule;
use crate::sheet::Limits;
use crate::spanned::{Document, Value};

pub const DEFAULT_PATH: &str = "config/agency-portal.toml";
pub const CONFIG_ENV: &str = "AGENCY_PORTAL_CONFIG";
const ENV_PREFIX: &str = "AGENCY_PORTAL__";

#[derive(Debug, Clone, thiserror::Error)]
pub enum SettingsError {
    #[error("settings file {0} not found: pass --config PATH or set AGENCY_PORTAL_CONFIG")]
    Missing(PathBuf),
    #[error("settings file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(
        "settings file {path}: `{key}` names the environment variable {var}, which is not set"
    )]
    MissingSecret {
        path: PathBuf,
        key: String,
        var: String,
    },
}

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
    pub talkpush: Option<crate::talkpush::settings::TalkpushSettings>,
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
/// XOAUTH2 or OAUTHBEARER, see [`crate::mail_auth`]), or (SMTP only) not at all.
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
            authorized_keys: crate::drop::sftp_setup::DEFAULT_AUTHORIZED_KEYS.into(),
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

/// The settings file to use: `--config`, else `AGENCY_PORTAL_CONFIG`, else the default path.
pub fn resolve_path(cli: Option<&Path>) -> PathBuf {
    if let Some(p) = cli {
        return p.to_path_buf();
    }
    match std::env::var_os(CONFIG_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_PATH),
    }
}

impl Settings {
    /// Reads the settings file, applies the environment, resolves relative paths and secrets.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        if !path.is_file() {
            return Err(SettingsError::Missing(path.to_path_buf()));
        }
        let figment = Figment::new()
            .merge(Toml::file_exact(path))
            .merge(Env::prefixed(ENV_PREFIX).split("__"))
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database.url".into()),
            );
        let mut settings: Settings =
            figment
                .extract()
                .map_err(|e: figment::Error| SettingsError::Invalid {
                    path: path.to_path_buf(),
                    message: describe_figment_error(e),
                })?;
        settings.file = path.to_path_buf();
        settings.resolve(path)?;
        Ok(settings)
    }

    /// The folder relative paths are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        base_dir(&self.file)
    }

    /// Where the editable mail templates are (`config/templates/` beside the settings file).
    /// `[talkpush]` when it is there and enabled.
    pub fn talkpush(&self) -> Option<&crate::talkpush::settings::TalkpushSettings> {
        self.talkpush.as_ref().filter(|t| t.enabled)
    }

    pub fn templates_dir(&self) -> PathBuf {
        self.base_dir().join("templates")
    }

    fn resolve(&mut self, path: &Path) -> Result<(), SettingsError> {
        let base = base_dir(path);
        self.database.url = resolve_sqlite_url(&self.database.url, &base);
        self.directory.path = join(&base, &self.directory.path);
        self.intake.mailbox.path = join(&base, &self.intake.mailbox.path);
        if !self.intake.drop.path.as_os_str().is_empty() {
            self.intake.drop.path = join(&base, &self.intake.drop.path);
        }
        self.mail.path = join(&base, &self.mail.path);
        resolve_secret(
            path,
            "intake.mailbox.password_env",
            &self.intake.mailbox.password_env,
            &mut self.intake.mailbox.password,
        )?;
        resolve_secret(
            path,
            "mail.password_env",
            &self.mail.password_env,
            &mut self.mail.password,
        )?;
        let invalid = |message: String| SettingsError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let m = &mut self.intake.mailbox;
        crate::mail_auth::resolve_token_paths(&base, &mut m.token_command, &mut m.token_file);
        if m.kind == MailboxKind::Imap {
            crate::mail_auth::check_login(
                "[intake.mailbox]",
                m.auth,
                &m.username,
                &m.token_command,
                &m.token_file,
            )
            .map_err(invalid)?;
        }
        if (1..MIN_CHECK_MS).contains(&m.check_ms) {
            return Err(invalid(format!(
                "[intake.mailbox] check_ms = {}: give 0 (IDLE alone) or at least {MIN_CHECK_MS} ms; \
                 each check costs the IMAP server three commands",
                m.check_ms
            )));
        }
        let m = &mut self.mail;
        crate::mail_auth::resolve_token_paths(&base, &mut m.token_command, &mut m.token_file);
        if m.transport == Transport::Smtp {
            crate::mail_auth::check_login(
                "[mail]",
                m.auth(),
                &m.username,
                &m.token_command,
                &m.token_file,
            )
            .map_err(invalid)?;
        }
        if let Some(t) = &mut self.talkpush {
            t.resolve().map_err(|message| SettingsError::Invalid {
                path: path.to_path_buf(),
                message,
            })?;
        }
        Ok(())
    }
}

fn base_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn join(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// `sqlite://relative/path.db` is relative to the settings file's folder; `sqlite::memory:`,
/// absolute paths and other URLs are kept.
fn resolve_sqlite_url(url: &str, base: &Path) -> String {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return url.to_string();
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() || path.starts_with(':') || Path::new(path).is_absolute() {
        return url.to_string();
    }
    let joined = base.join(path);
    match query {
        Some(q) => format!("sqlite://{}?{q}", joined.display()),
        None => format!("sqlite://{}", joined.display()),
    }
}

fn resolve_secret(
    path: &Path,
    key: &str,
    var: &Option<String>,
    password: &mut Option<Secret>,
) -> Result<(), SettingsError> {
    if let Some(var) = var {
        match std::env::var(var) {
            Ok(v) => *password = Some(Secret(v)),
            Err(_) => {
                return Err(SettingsError::MissingSecret {
                    path: path.to_path_buf(),
                    key: key.to_string(),
                    var: var.clone(),
                })
            }
        }
    }
    Ok(())
}

/// Figment's errors, one line each, naming the key and where its value came from.
fn describe_figment_error(e: figment::Error) -> String {
    e.into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                String::new()
            } else {
                format!("`{}`: ", e.path.join("."))
            };
            let source = match &e.metadata {
                Some(m) if m.name.contains("environment") => {
                    format!(" (from the environment, {})", m.name)
                }
                _ => String::new(),
            };
            format!("{key}{}{source}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every problem of the settings file that can be pointed at: unknown keys, values outside their
/// choices, and digest schedules and timezones (SPEC §3.2).
pub fn check_file(path: &Path) -> Result<(), Problems> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Problems(vec![Problem {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            message: format!("cannot read the settings file: {e}"),
        }])
    })?;
    let doc = Document::parse(text, path).map_err(|e| {
        Problems(vec![Problem {
            file: path.display().to_string(),
            line: e.line,
            column: e.column,
            message: e.message,
        }])
    })?;
    let mut c = Checker::new(&doc);
    let root = &doc.root;
    c.known_keys(
        root,
        "the settings",
        &[
            "database",
            "directory",
            "intake",
            "mail",
            "policy",
            "limits",
            "digests",
            "http",
            "talkpush",
        ],
    );
    let section = |name: &str| root.get(name).map(|e| &e.node);
    let secret_keys = [
        "host",
        "port",
        "tls",
        "username",
        "password",
        "password_env",
        "auth",
        "token_command",
        "token_file",
    ];
    if let Some(t) = section("database") {
        c.known_keys(t, "[database]", &["url"]);
    }
    if let Some(t) = section("directory") {
        c.known_keys(t, "[directory]", &["path"]);
    }
    if let Some(intake) = section("intake") {
        c.known_keys(intake, "[intake]", &["mailbox", "drop"]);
        if let Some(t) = intake.get("mailbox").map(|e| &e.node) {
            let mut known = vec![
                "kind",
                "path",
                "folder",
                "processed_folder",
                "rejected_folder",
                "failed_folder",
                "address",
                "require_auth",
                "authserv_id",
                "check_ms",
            ];
            known.extend(secret_keys);
            c.known_keys(t, "[intake.mailbox]", &known);
            c.choice(t, "kind", &["maildir", "imap", "none"]);
            c.choice(t, "tls", &["none", "starttls", "implicit"]);
            c.choice(t, "auth", &["password", "xoauth2", "oauthbearer"]);
        }
        if let Some(t) = intake.get("drop").map(|e| &e.node) {
            c.known_keys(
                t,
                "[intake.drop]",
                &[
                    "path",
                    "settle_ms",
                    "sftp_host",
                    "sftp_port",
                    "authorized_keys",
                ],
            );
        }
    }
    if let Some(t) = section("mail") {
        let mut known = vec!["from", "transport", "path", "timeout_secs"];
        known.extend(secret_keys);
        c.known_keys(t, "[mail]", &known);
        c.choice(t, "transport", &["file", "smtp"]);
        c.choice(t, "tls", &["none", "starttls", "implicit"]);
        c.choice(t, "auth", &["password", "xoauth2", "oauthbearer", "none"]);
    }
    if let Some(t) = section("policy") {
        c.known_keys(
            t,
            "[policy]",
            &["ownership_days", "scope", "name_similarity"],
        );
        c.choice(t, "scope", &["company", "campaign"]);
        if let Some(e) = t.get("name_similarity") {
            let ok = match e.node.value {
                Value::Float(f) => (0.0..=1.0).contains(&f),
                Value::Integer(i) => (0..=1).contains(&i),
                _ => false,
            };
            if !ok {
                c.report(
                    &e.node.span,
                    "`name_similarity` must be a number from 0 to 1, e.g. 0.92",
                );
            }
        }
    }
    if let Some(t) = section("limits") {
        c.known_keys(
            t,
            "[limits]",
            &[
                "max_file_bytes",
                "max_rows",
                "max_cells",
                "max_unpacked_bytes",
                "max_attachments",
            ],
        );
    }
    if let Some(t) = section("http") {
        c.known_keys(t, "[http]", &["listen"]);
    }
    if let Some(t) = section("talkpush") {
        crate::talkpush::settings::check(&mut c, t);
    }
    for d in c.tables(root, "digests") {
        c.known_keys(d, "a [[digests]] entry", &["kind", "schedule", "timezone"]);
        c.choice(d, "kind", &["agency", "owner", "recruiter"]);
        if let Some((expr, span)) = c.string(d, "schedule", "a digest", true) {
            if let Err(e) = Schedule::parse_cron(&expr) {
                c.report(span, e.to_string());
            }
        }
        if let Some((tz, span)) = c.string(d, "timezone", "a digest", false) {
            if let Err(e) = Schedule::parse_timezone(&tz) {
                c.report(span, e.to_string());
            }
        }
    }
    c.finish()
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_resolve_against_the_file() {
        let base = Path::new("/etc/ap");
        assert_eq!(
            resolve_sqlite_url("sqlite://../var/x.db", base),
            "sqlite:///etc/ap/../var/x.db"
        );
        assert_eq!(
            resolve_sqlite_url("sqlite:///abs/x.db?mode=rwc", base),
            "sqlite:///abs/x.db?mode=rwc"
        );
        assert_eq!(
            resolve_sqlite_url("sqlite::memory:", base),
            "sqlite::memory:"
        );
        assert_eq!(
            resolve_sqlite_url("postgres://u@h/db", base),
            "postgres://u@h/db"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret("hunter2".into());
        assert_eq!(format!("{s:?}"), "***");
    }

    #[test]
    fn environment_overrides_the_file_and_paths_resolve_against_it() {
        figment::Jail::expect_with(|jail| {
            jail.create_dir("conf")?;
            jail.create_file(
                "conf/agency-portal.toml",
                r#"
[database]
url = "sqlite://../var/a.db"
[policy]
ownership_days = 180
[mail]
transport = "smtp"
password_env = "SMTP_PASSWORD"
"#,
            )?;
            jail.set_env("AGENCY_PORTAL__POLICY__OWNERSHIP_DAYS", "90");
            jail.set_env("AGENCY_PORTAL__POLICY__SCOPE", "campaign");
            jail.set_env("SMTP_PASSWORD", "hunter2");
            let s = Settings::load(Path::new("conf/agency-portal.toml")).unwrap();
            assert_eq!(s.policy.ownership_days, 90);
            assert_eq!(s.policy.scope, Scope::Campaign);
            assert_eq!(s.database.url, "sqlite://conf/../var/a.db");
            assert_eq!(s.directory.path, Path::new("conf/directory.toml"));
            assert_eq!(s.mail.password.as_ref().unwrap().expose(), "hunter2");
            assert!(!format!("{s:?}").contains("hunter2"));

            jail.set_env("DATABASE_URL", "postgres://u@db/portal");
            let s = Settings::load(Path::new("conf/agency-portal.toml")).unwrap();
            assert_eq!(s.database.url, "postgres://u@db/portal");
            Ok(())
        });
    }

    #[test]
    fn a_missing_secret_and_an_unknown_key_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("a.toml", "[mail]\npassword_env = \"NOPE_NOT_SET\"\n")?;
            let e = Settings::load(Path::new("a.toml")).unwrap_err().to_string();
            assert!(e.contains("NOPE_NOT_SET"), "{e}");
            jail.create_file("b.toml", "[policy]\nownership_dayz = 3\n")?;
            let e = Settings::load(Path::new("b.toml")).unwrap_err().to_string();
            assert!(e.contains("ownership_dayz"), "{e}");
            let p = check_file(Path::new("b.toml")).unwrap_err();
            assert_eq!((p.0[0].line, p.0[0].column), (2, 1));
            assert!(p.0[0].message.contains("did you mean `ownership_days`"));
            Ok(())
        });
    }
}
