//! The settings file (SPEC §3.1), layered: the TOML file, then `AGENCY_PORTAL__SECTION__KEY` variables,
//! then `DATABASE_URL`. Relative paths resolve against the settings file's folder; secrets given as
//! `password_env` are read from the environment and never printed.
//!
//! The settings model and its check from text are the core's ([`agency_portal_core::settings`]);
//! this reads the file and the environment.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format as _, Toml};
use figment::Figment;

pub use agency_portal_core::settings::*;

use crate::check::{Problem, Problems};

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
    resolve(&mut settings, path)?;
    Ok(settings)
}

/// Resolves relative paths against the settings file's folder, reads the secrets named by
/// `*_env` keys, checks the mail logins.
fn resolve(s: &mut Settings, path: &Path) -> Result<(), SettingsError> {
    let base = base_dir(path);
    s.database.url = resolve_sqlite_url(&s.database.url, &base);
    s.directory.path = join(&base, &s.directory.path);
    s.intake.mailbox.path = join(&base, &s.intake.mailbox.path);
    if !s.intake.drop.path.as_os_str().is_empty() {
        s.intake.drop.path = join(&base, &s.intake.drop.path);
    }
    s.mail.path = join(&base, &s.mail.path);
    resolve_secret(
        path,
        "intake.mailbox.password_env",
        &s.intake.mailbox.password_env,
        &mut s.intake.mailbox.password,
    )?;
    resolve_secret(
        path,
        "mail.password_env",
        &s.mail.password_env,
        &mut s.mail.password,
    )?;
    let invalid = |message: String| SettingsError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let m = &mut s.intake.mailbox;
    if (1..MIN_CHECK_MS).contains(&m.check_ms) {
        return Err(invalid(format!(
            "[intake.mailbox] check_ms = {}: give 0 (IDLE alone) or at least {MIN_CHECK_MS} ms; \
             each check costs the IMAP server three commands",
            m.check_ms
        )));
    }
    crate::mail::auth::resolve_token_paths(&base, &mut m.token_command, &mut m.token_file);
    if m.kind == MailboxKind::Imap {
        crate::mail::auth::check_login(
            "[intake.mailbox]",
            m.auth,
            &m.username,
            &m.token_command,
            &m.token_file,
        )
        .map_err(invalid)?;
    }
    let m = &mut s.mail;
    crate::mail::auth::resolve_token_paths(&base, &mut m.token_command, &mut m.token_file);
    if m.transport == Transport::Smtp {
        crate::mail::auth::check_login(
            "[mail]",
            m.auth(),
            &m.username,
            &m.token_command,
            &m.token_file,
        )
        .map_err(invalid)?;
    }
    if let Some(t) = &mut s.talkpush {
        crate::talkpush::settings::resolve(t).map_err(|message| SettingsError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
    }
    Ok(())
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
            Ok(v) => *password = Some(Secret::new(v)),
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
    check_text(text, path)
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
            let s = load(Path::new("conf/agency-portal.toml")).unwrap();
            assert_eq!(s.policy.ownership_days, 90);
            assert_eq!(s.policy.scope, Scope::Campaign);
            assert_eq!(s.database.url, "sqlite://conf/../var/a.db");
            assert_eq!(s.directory.path, Path::new("conf/directory.toml"));
            assert_eq!(s.mail.password.as_ref().unwrap().expose(), "hunter2");
            assert!(!format!("{s:?}").contains("hunter2"));

            jail.set_env("DATABASE_URL", "postgres://u@db/portal");
            let s = load(Path::new("conf/agency-portal.toml")).unwrap();
            assert_eq!(s.database.url, "postgres://u@db/portal");
            Ok(())
        });
    }

    #[test]
    fn a_missing_secret_and_an_unknown_key_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("a.toml", "[mail]\npassword_env = \"NOPE_NOT_SET\"\n")?;
            let e = load(Path::new("a.toml")).unwrap_err().to_string();
            assert!(e.contains("NOPE_NOT_SET"), "{e}");
            jail.create_file("b.toml", "[policy]\nownership_dayz = 3\n")?;
            let e = load(Path::new("b.toml")).unwrap_err().to_string();
            assert!(e.contains("ownership_dayz"), "{e}");
            let p = check_file(Path::new("b.toml")).unwrap_err();
            assert_eq!((p.0[0].line, p.0[0].column), (2, 1));
            assert!(p.0[0].message.contains("did you mean `ownership_days`"));
            Ok(())
        });
    }
}
