//! OAuth2 login to the mail servers (SPEC §3.1 (r2)): IMAP `AUTHENTICATE XOAUTH2 | OAUTHBEARER`
//! and SMTP `AUTH XOAUTH2 | OAUTHBEARER`, with an access token from `token_command` (run at each
//! login, and once more after the server refused a token: tokens expire) or `token_file` (re-read
//! at each login). Getting and refreshing tokens is left to a helper program, as fetchmail, mbsync
//! (`PassCmd`) and msmtp (`passwordeval`) do.
//!
//! The token is a [`Secret`]: it is never logged, never in an error. The command's stderr may be
//! (trimmed, in the error); its stdout never is.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::settings::{Auth, Secret};

/// How long a token command may take (a helper may refresh the token over the network).
pub const TOKEN_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// At most this much of a failing token command's stderr goes into the error.
const STDERR_SHOWN: usize = 400;

/// The SASL mechanism an OAuth2 login uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// Google's and Microsoft's `XOAUTH2`.
    XOAuth2,
    /// RFC 7628 `OAUTHBEARER`.
    OAuthBearer,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::XOAuth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The client's first message (before base64): the user and the bearer token.
    pub fn initial_response(self, user: &str, token: &Secret, host: &str, port: u16) -> Secret {
        let token = token.expose();
        Secret::from(match self {
            Mechanism::XOAuth2 => format!("user={user}\x01auth=Bearer {token}\x01\x01"),
            Mechanism::OAuthBearer => {
                // RFC 7628 §3.1: the authzid's `,` and `=` are escaped as in RFC 5801.
                let user = user.replace('=', "=3D").replace(',', "=2C");
                format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01")
            }
        })
    }

    /// What the client answers to the server's error challenge (a JSON status), so that the
    /// server ends the exchange with its failure reply: empty for XOAUTH2, `%x01` for OAUTHBEARER
    /// (RFC 7628 §3.2.3).
    pub fn error_acknowledgement(self) -> &'static [u8] {
        match self {
            Mechanism::XOAuth2 => b"",
            Mechanism::OAuthBearer => b"\x01",
        }
    }
}

/// Where a current access token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// A program and its arguments; it prints the token on stdout.
    Command(Vec<String>),
    /// A file holding the token (kept fresh by some other program).
    File(PathBuf),
}

/// An OAuth2 login: the mechanism and where the token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2 {
    pub mechanism: Mechanism,
    pub source: TokenSource,
}

impl OAuth2 {
    /// The OAuth2 login the settings ask for; `None` for a password or no login. The settings
    /// were checked by [`check_login`] when read.
    pub fn from_settings(auth: Auth, command: &[String], file: &Option<PathBuf>) -> Option<OAuth2> {
        let mechanism = match auth {
            Auth::Xoauth2 => Mechanism::XOAuth2,
            Auth::Oauthbearer => Mechanism::OAuthBearer,
            Auth::Password | Auth::None => return None,
        };
        let source = match file {
            Some(f) if command.is_empty() => TokenSource::File(f.clone()),
            _ => TokenSource::Command(command.to_vec()),
        };
        Some(OAuth2 { mechanism, source })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot run the token command `{program}`: {error}; check token_command (the program and its path)")]
    Spawn {
        program: String,
        error: std::io::Error,
    },
    #[error("the token command `{program}` did not finish within {} s; check that it runs without asking anything", TOKEN_COMMAND_TIMEOUT.as_secs())]
    Timeout { program: String },
    #[error("the token command `{program}` failed ({status}){stderr}; run it by hand to see why (its OAuth2 grant may need renewing)")]
    Failed {
        program: String,
        status: String,
        /// `: ` and its trimmed stderr, or empty.
        stderr: String,
    },
    #[error(
        "the token command `{program}` {what}; it must print the access token alone on stdout"
    )]
    BadOutput { program: String, what: &'static str },
    #[error("cannot read the token file {path}: {error}; check token_file")]
    File {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the token file {path} {what}; it must hold the access token alone")]
    BadFile { path: PathBuf, what: &'static str },
}

impl TokenSource {
    /// A current access token: the command run, or the file read, now.
    pub async fn token(&self) -> Result<Secret, TokenError> {
        match self {
            TokenSource::Command(argv) => run_token_command(argv).await,
            TokenSource::File(path) => {
                let text = tokio::fs::read(path)
                    .await
                    .map_err(|error| TokenError::File {
                        path: path.clone(),
                        error,
                    })?;
                token_text(text).map_err(|what| TokenError::BadFile {
                    path: path.clone(),
                    what,
                })
            }
        }
    }
}

async fn run_token_command(argv: &[String]) -> Result<Secret, TokenError> {
    let program = argv.first().cloned().unwrap_or_default();
    let child = tokio::process::Command::new(&program)
        .args(&argv[1.min(argv.len())..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| TokenError::Spawn {
            program: program.clone(),
            error,
        })?;
    let out = tokio::time::timeout(TOKEN_COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| TokenError::Timeout {
            program: program.clone(),
        })?
        .map_err(|error| TokenError::Spawn {
            program: program.clone(),
            error,
        })?;
    if !out.status.success() {
        return Err(TokenError::Failed {
            program,
            status: out.status.to_string(),
            stderr: shown_stderr(&out.stderr),
        });
    }
    token_text(out.stdout).map_err(|what| TokenError::BadOutput { program, what })
}

/// The stderr of a failed command as shown in its error: one line, at most [`STDERR_SHOWN`]
/// characters (its end, where the reason usually is).
fn shown_stderr(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let joined = lines.join(" | ");
    if joined.is_empty() {
        return String::new();
    }
    let chars: Vec<char> = joined.chars().collect();
    let shown: String = if chars.len() > STDERR_SHOWN {
        let tail: String = chars[chars.len() - STDERR_SHOWN..].iter().collect();
        format!("…{tail}")
    } else {
        joined
    };
    format!(": {shown}")
}

/// The token in a command's stdout or a file: trimmed, one word of printable ASCII.
fn token_text(bytes: Vec<u8>) -> Result<Secret, &'static str> {
    let text = String::from_utf8(bytes).map_err(|_| "printed something that is not text")?;
    let token = text.trim();
    if token.is_empty() {
        return Err("printed no token (nothing on stdout)");
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("printed more than the token (spaces, several lines or control characters)");
    }
    Ok(Secret::from(token.to_string()))
}

/// Relative paths resolve against the settings file's folder: `token_file`, and a `token_command`
/// program named with a `/` (a bare name is looked up in `PATH`).
pub fn resolve_token_paths(base: &Path, command: &mut [String], file: &mut Option<PathBuf>) {
    if let Some(f) = file {
        if f.is_relative() {
            *f = base.join(&*f);
        }
    }
    if let Some(program) = command.first_mut() {
        let p = Path::new(program.as_str());
        if p.is_relative() && program.contains('/') {
            *program = base.join(p).display().to_string();
        }
    }
}

/// The login settings of `[intake.mailbox]` or `[mail]` (`section`) make sense together.
pub fn check_login(
    section: &str,
    auth: Auth,
    username: &str,
    command: &[String],
    file: &Option<PathBuf>,
) -> Result<(), String> {
    let has_command = !command.is_empty();
    match auth {
        Auth::Xoauth2 | Auth::Oauthbearer => {
            let a = auth.as_str();
            if username.trim().is_empty() {
                return Err(format!(
                    "{section} auth = \"{a}\" needs `username` (the mailbox's address, which the token is for)"
                ));
            }
            if has_command && file.is_some() {
                return Err(format!(
                    "{section} auth = \"{a}\": give either `token_command` or `token_file`, not both"
                ));
            }
            if !has_command && file.is_none() {
                return Err(format!(
                    "{section} auth = \"{a}\" needs `token_command = [\"program\", \"arg\"]` (prints a current \
                     access token) or `token_file = \"PATH\"`; see docs/configuration.md, \"OAuth2 mail login\""
                ));
            }
            if command.first().is_some_and(|p| p.trim().is_empty()) {
                return Err(format!(
                    "{section} `token_command` starts with an empty program name"
                ));
            }
        }
        Auth::Password | Auth::None => {
            if has_command || file.is_some() {
                return Err(format!(
                    "{section} `token_command` and `token_file` are for auth = \"xoauth2\" or \"oauthbearer\" \
                     (auth is \"{}\"): set auth, or remove them",
                    auth.as_str()
                ));
            }
            if auth == Auth::None && section == "[intake.mailbox]" {
                return Err(format!(
                    "{section} auth = \"none\": an IMAP mailbox needs a login (\"password\", \"xoauth2\" or \"oauthbearer\")"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_responses_follow_the_mechanisms() {
        let t = Secret::from("tok".to_string());
        assert_eq!(
            Mechanism::XOAuth2
                .initial_response("a@b.test", &t, "h", 993)
                .expose(),
            "user=a@b.test\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(
            Mechanism::OAuthBearer
                .initial_response("a,b=c@d.test", &t, "imap.d.test", 993)
                .expose(),
            "n,a=a=2Cb=3Dc@d.test,\x01host=imap.d.test\x01port=993\x01auth=Bearer tok\x01\x01"
        );
    }

    #[tokio::test]
    async fn a_command_prints_the_token_and_a_failing_one_shows_stderr_never_stdout() {
        let sh = |script: &str| TokenSource::Command(vec!["sh".into(), "-c".into(), script.into()]);
        let t = sh("printf 'abc.def-ghi\\n'").token().await.unwrap();
        assert_eq!(t.expose(), "abc.def-ghi");
        let e = sh("echo SECRET-OUT; echo 'grant expired' >&2; exit 3")
            .token()
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("grant expired") && e.contains("exit status: 3"),
            "{e}"
        );
        assert!(!e.contains("SECRET-OUT"), "{e}");
        let e = sh("echo two words").token().await.unwrap_err().to_string();
        assert!(
            e.contains("more than the token") && !e.contains("words"),
            "{e}"
        );
        let e = sh("true").token().await.unwrap_err().to_string();
        assert!(e.contains("no token"), "{e}");
        let e = TokenSource::Command(vec!["/nonexistent/helper".into()])
            .token()
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/helper"), "{e}");
    }

    #[tokio::test]
    async fn a_token_file_is_read_at_each_call() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "one\n").unwrap();
        let s = TokenSource::File(f.clone());
        assert_eq!(s.token().await.unwrap().expose(), "one");
        std::fs::write(&f, "two").unwrap();
        assert_eq!(s.token().await.unwrap().expose(), "two");
        std::fs::write(&f, "").unwrap();
        assert!(s
            .token()
            .await
            .unwrap_err()
            .to_string()
            .contains("no token"));
    }

    #[test]
    fn login_settings_are_checked_together() {
        let cmd = vec!["oama".to_string(), "access".to_string()];
        let none: Option<PathBuf> = None;
        let file = Some(PathBuf::from("/t"));
        assert!(check_login("[mail]", Auth::Xoauth2, "u", &cmd, &none).is_ok());
        assert!(check_login("[mail]", Auth::Oauthbearer, "u", &[], &file).is_ok());
        let e = check_login("[mail]", Auth::Xoauth2, "u", &[], &none).unwrap_err();
        assert!(e.contains("token_command"), "{e}");
        let e = check_login("[mail]", Auth::Xoauth2, "u", &cmd, &file).unwrap_err();
        assert!(e.contains("not both"), "{e}");
        let e = check_login("[mail]", Auth::Xoauth2, "", &cmd, &none).unwrap_err();
        assert!(e.contains("username"), "{e}");
        let e = check_login("[mail]", Auth::Password, "u", &cmd, &none).unwrap_err();
        assert!(e.contains("auth"), "{e}");
        let e = check_login("[intake.mailbox]", Auth::None, "u", &[], &none).unwrap_err();
        assert!(e.contains("needs a login"), "{e}");
        assert!(check_login("[mail]", Auth::None, "", &[], &none).is_ok());
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail closures return figment::Error
    fn the_settings_file_says_what_is_wrong_with_a_login() {
        use crate::settings::{self, check_file};
        figment::Jail::expect_with(|jail| {
            let imap = "[intake.mailbox]\nkind = \"imap\"\nusername = \"u@x.test\"\n";
            jail.create_file("a.toml", &format!("{imap}auth = \"xoauth2\"\n"))?;
            let e = settings::load(Path::new("a.toml")).unwrap_err().to_string();
            assert!(
                e.contains("[intake.mailbox]") && e.contains("token_command"),
                "{e}"
            );
            jail.create_file("b.toml", &format!("{imap}auth = \"kerberos\"\n"))?;
            let p = check_file(Path::new("b.toml")).unwrap_err();
            assert_eq!(p.0[0].line, 4, "{p:?}");
            assert!(p.0[0].message.contains("\"oauthbearer\""), "{p:?}");
            jail.create_file(
                "c.toml",
                "[mail]\ntransport = \"smtp\"\nhost = \"h\"\nusername = \"u\"\n\
                 auth = \"oauthbearer\"\ntoken_file = \"tok\"\n",
            )?;
            let s = settings::load(Path::new("c.toml")).unwrap();
            assert!(check_file(Path::new("c.toml")).is_ok());
            assert!(s.mail.token_file.as_ref().unwrap().ends_with("tok"));
            let o = OAuth2::from_settings(s.mail.auth(), &s.mail.token_command, &s.mail.token_file);
            assert_eq!(o.unwrap().mechanism, Mechanism::OAuthBearer);
            Ok(())
        });
    }

    #[test]
    fn relative_token_paths_resolve_against_the_settings_folder() {
        let mut cmd = vec!["bin/token".to_string(), "x".to_string()];
        let mut file = Some(PathBuf::from("tok"));
        resolve_token_paths(Path::new("/etc/ap"), &mut cmd, &mut file);
        assert_eq!(cmd[0], "/etc/ap/bin/token");
        assert_eq!(file.unwrap(), Path::new("/etc/ap/tok"));
        let mut cmd = vec!["oama".to_string()];
        resolve_token_paths(Path::new("/etc/ap"), &mut cmd, &mut None);
        assert_eq!(cmd[0], "oama");
    }
}
