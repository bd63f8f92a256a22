//! `agency-portal outbox [list | flush | resend ID | resend --failed] [--json]` (SPEC §9 (r2)): what
//! is waiting, sent or failed, and sending a failed message again. A resent message goes back to
//! `pending`, due now, with the very bytes it had (so the same Message-ID); the daemon's worker (or
//! `outbox flush`) sends it, with its attempts and give-up clock started again.

use clap::{Args, Subcommand};

use crate::app::{App, BadInput};
use crate::mail::sender::Sender;
use crate::store::outbox::{OutboxRow, Resend};

#[derive(Debug, Args)]
pub struct OutboxArgs {
    #[command(subcommand)]
    pub command: Option<OutboxCommand>,
    /// Print JSON: an array of messages (`list`, `resend`), or the counts (`flush`).
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List the outbox (the default): id, kind, status, attempts, recipients, written at, last
    /// error.
    List,
    /// Send every message due now (through [mail]), then exit.
    Flush,
    /// Send a failed message again: back to pending, the same Message-ID.
    Resend(ResendArgs),
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ResendArgs {
    /// The outbox id of the failed message (see `outbox list`).
    pub id: Option<i64>,
    /// Every failed message.
    #[arg(long)]
    pub failed: bool,
}

pub async fn run(app: &App, args: OutboxArgs) -> anyhow::Result<()> {
    match args.command.unwrap_or(OutboxCommand::List) {
        OutboxCommand::List => {
            let rows = app.store.outbox_rows().await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in &rows {
                    println!("{}", line(r));
                }
            }
        }
        OutboxCommand::Flush => {
            let sender =
                Sender::from_settings(&app.settings, app.store.clone(), app.composer.clone())?;
            let report = sender.flush().await?;
            if args.json {
                let counts = serde_json::json!({
                    "sent": report.sent,
                    "retrying": report.retrying,
                    "failed": report.failed,
                });
                println!("{}", serde_json::to_string_pretty(&counts)?);
            } else {
                println!(
                    "outbox: {} sent, {} to retry later, {} failed",
                    report.sent, report.retrying, report.failed
                );
            }
        }
        OutboxCommand::Resend(resend) => {
            let now = crate::clock::now();
            let ids = match resend.id {
                Some(id) => match app.store.outbox_resend(id, now).await? {
                    Resend::Resent => vec![id],
                    Resend::NotFound => {
                        return Err(BadInput(format!(
                            "outbox resend: there is no message {id} in the outbox; \
                             `agency-portal outbox list` shows the ids"
                        ))
                        .into())
                    }
                    Resend::NotFailed(status) => {
                        return Err(BadInput(format!(
                            "outbox resend: message {id} is {status}, not failed; only a failed \
                             message is sent again (a pending one is sent by the worker)"
                        ))
                        .into())
                    }
                },
                None => app.store.outbox_resend_failed(now).await?,
            };
            let rows: Vec<OutboxRow> = app
                .store
                .outbox_rows()
                .await?
                .into_iter()
                .filter(|r| ids.contains(&r.id))
                .collect();
            if args.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("outbox: no failed message to send again");
            } else {
                for r in &rows {
                    println!(
                        "message {} ({} to {}, {}) is pending again; it is sent with the same \
                         Message-ID by the daemon, or by `agency-portal outbox flush`",
                        r.id,
                        r.kind,
                        r.recipients.join(", "),
                        r.message_id
                    );
                }
            }
        }
    }
    Ok(())
}

/// One message of `outbox list`, tab-separated.
fn line(r: &OutboxRow) -> String {
    let mut s = format!(
        "{}\t{}\t{}\tattempts {}\t{}\t{}",
        r.id,
        r.kind,
        r.status,
        r.attempts,
        r.recipients.join(","),
        r.created_at.format("%Y-%m-%d %H:%M:%S"),
    );
    if !r.last_error.is_empty() {
        s.push('\t');
        s.push_str(&r.last_error);
    }
    s
}
