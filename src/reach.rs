//! What `config check` reaches (SPEC §10 (r2)): the database, the IMAP mailbox and the SMTP server
//! the settings name, each tried once with a short timeout, and what came of it. `--offline` skips
//! it. Local parts (SQLite, a Maildir, a file outbox) have nothing to reach.

use std::time::Duration;

use crate::intake::mailbox::imap::Login;
use crate::mail::sender::Transport;
use crate::settings::{MailboxKind, Settings};
use crate::store::{redact_url, Store};

/// How long one server is given to answer.
const TIMEOUT: Duration = Duration::from_secs(15);

/// One thing the settings name, and whether it was reached (`Err`: why not).
pub struct Reached {
    pub what: String,
    pub result: Result<String, String>,
}

/// Tries the database, then the mailbox, then the mail server.
pub async fn reach_all(settings: &Settings) -> Vec<Reached> {
    let mut reached = vec![
        database(settings).await,
        mailbox(settings).await,
        mail_server(settings).await,
    ];
    if let Some(t) = settings.talkpush() {
        reached.push(talkpush(t).await);
    }
    reached
}

/// One authenticated search: proves the base URL answers and the key is accepted.
async fn talkpush(t: &crate::talkpush::settings::TalkpushSettings) -> Reached {
    use crate::talkpush::client::{CallError, Client};
    let what = format!("Talkpush {}", t.base_url);
    let client = match Client::from_settings(t) {
        Ok(c) => c,
        Err(e) => {
            return Reached {
                what,
                result: Err(e.to_string()),
            }
        }
    };
    let result = within(async {
        match client.probe().await {
            Ok(_) => Ok("reached, the API key works".to_string()),
            Err(CallError::Status { status, body, .. }) if status == 401 || status == 403 => Err(
                format!("the API key was refused ({status}: {body}); check [talkpush] api_key_env"),
            ),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
    Reached { what, result }
}

async fn within<T>(f: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {TIMEOUT:?}")))
}

async fn database(settings: &Settings) -> Reached {
    let url = &settings.database.url;
    let what = format!("database {}", redact_url(url));
    if url.starts_with("sqlite:") {
        return Reached {
            what,
            result: Ok("a local SQLite file: nothing to reach".into()),
        };
    }
    let result = within(async {
        let store = Store::connect(url).await.map_err(|e| e.to_string())?;
        store.close().await;
        Ok("reached, logged in".to_string())
    })
    .await;
    Reached { what, result }
}

async fn mailbox(settings: &Settings) -> Reached {
    let m = &settings.intake.mailbox;
    match m.kind {
        MailboxKind::Imap => {
            let options = crate::intake::mailbox::imap::ImapOptions::from_settings(m);
            let what = format!("IMAP {}:{}", options.host, options.port);
            let result = within(async {
                let mut session = crate::intake::mailbox::imap::connect(&options)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = session.logout().await;
                Ok(match &options.login {
                    Login::OAuth2(o) => {
                        format!("logged in as {} ({})", options.username, o.mechanism.name())
                    }
                    Login::Password(_) => format!("logged in as {}", options.username),
                })
            })
            .await;
            Reached { what, result }
        }
        MailboxKind::Maildir => Reached {
            what: format!("mailbox {}", m.path.display()),
            result: Ok("a local Maildir: nothing to reach".into()),
        },
        MailboxKind::None => Reached {
            what: "mailbox".into(),
            result: Ok("off".into()),
        },
    }
}

async fn mail_server(settings: &Settings) -> Reached {
    let transport = match Transport::from_settings(settings) {
        Ok(t) => t,
        Err(e) => {
            return Reached {
                what: "outgoing mail".into(),
                result: Err(e.to_string()),
            }
        }
    };
    match transport {
        Transport::File(path) => Reached {
            what: format!("outgoing mail {}", path.display()),
            result: Ok("a local folder: nothing to reach".into()),
        },
        Transport::SmtpOAuth2(smtp) => {
            let what = format!("SMTP {}:{}", smtp.host, smtp.port);
            let result = within(async {
                smtp.check().await.map_err(|e| e.to_string())?;
                Ok(format!(
                    "logged in as {} ({})",
                    smtp.username,
                    smtp.oauth.mechanism.name()
                ))
            })
            .await;
            Reached { what, result }
        }
        Transport::Smtp { host, transport } => {
            let what = format!("SMTP {host}");
            let result = within(async {
                match transport.test_connection().await {
                    Ok(true) => Ok("reached".to_string()),
                    Ok(false) => Err("the server did not answer NOOP".to_string()),
                    Err(e) => Err(e.to_string()),
                }
            })
            .await;
            Reached { what, result }
        }
    }
}
