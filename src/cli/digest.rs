//! `agency-portal digest preview|send --kind K [--agency ID] [--to EMAIL] [--at TIME] [--out FILE]`
//! (SPEC §8): compose digests now. `preview` writes the whole message (.eml) to FILE, or prints the
//! text part; `send` writes the messages to the outbox (the worker sends them). Neither claims a
//! scheduled fire: the schedule goes on as before.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};

use crate::app::{App, BadInput};
use crate::digest::{DigestError, Request};
use crate::schedule::Schedule;
use crate::settings::DigestKind;

#[derive(Debug, Subcommand)]
pub enum DigestCommand {
    /// Compose a digest now and show it: the text part on stdout, or the whole message with --out.
    Preview(PreviewArgs),
    /// Compose a digest now and send it, through the outbox.
    Send(DigestArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Agency,
    Owner,
    Recruiter,
}

impl From<Kind> for DigestKind {
    fn from(k: Kind) -> DigestKind {
        match k {
            Kind::Agency => DigestKind::Agency,
            Kind::Owner => DigestKind::Owner,
            Kind::Recruiter => DigestKind::Recruiter,
        }
    }
}

#[derive(Debug, Args)]
pub struct DigestArgs {
    /// Which digest.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// Kind agency: this agency's digest (default: every active agency's).
    #[arg(long)]
    pub agency: Option<String>,
    /// Only the message for this address: kind agency without --agency, this user's digest (an
    /// admin: the agency's, an editor: their own); with --agency, or kind owner, addressed to EMAIL
    /// instead; kind recruiter, this recruiter's digest.
    #[arg(long)]
    pub to: Option<String>,
    /// The end of the period the digest covers (default now): RFC 3339 (2026-11-30T08:00:00+08:00),
    /// or `YYYY-MM-DD HH:MM` / `YYYY-MM-DD` in the digest's configured timezone.
    #[arg(long)]
    pub at: Option<String>,
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    #[command(flatten)]
    pub digest: DigestArgs,
    /// Write the whole message (.eml) here instead of printing its text part.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `--at`: RFC 3339, or a local date and time in `tz`.
pub fn parse_at(s: &str, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let local = ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    local
        .and_local_timezone(tz)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

fn request(app: &App, args: &DigestArgs) -> anyhow::Result<Request> {
    let kind = DigestKind::from(args.kind);
    let tz = match app.settings.digests.iter().find(|d| d.kind == kind) {
        Some(d) => Schedule::parse_timezone(&d.timezone)?,
        None => chrono_tz::Tz::UTC,
    };
    let at = match &args.at {
        Some(s) => parse_at(s, tz).ok_or_else(|| {
            BadInput(format!(
                "--at {s}: write a time as 2026-11-30T08:00:00+08:00, or 2026-11-30 08:00 in {}",
                tz.name()
            ))
        })?,
        None => crate::clock::now(),
    };
    Ok(Request {
        kind,
        agency: args.agency.clone(),
        to: args.to.clone(),
        at,
    })
}

fn bad(e: DigestError) -> anyhow::Error {
    if e.is_config() {
        BadInput(e.to_string()).into()
    } else {
        e.into()
    }
}

pub async fn run(app: &App, command: DigestCommand) -> anyhow::Result<()> {
    let (args, out) = match &command {
        DigestCommand::Preview(p) => (&p.digest, Some(p.out.clone())),
        DigestCommand::Send(a) => (a, None),
    };
    let request = request(app, args)?;
    let messages = crate::digest::compose(
        &app.store,
        &app.directory,
        &app.settings.digests,
        &app.composer,
        &request,
    )
    .await
    .map_err(bad)?;
    if messages.is_empty() {
        eprintln!(
            "no {} digest to compose: nobody active receives it",
            request.kind.as_str()
        );
        return Ok(());
    }
    match out {
        Some(Some(path)) => {
            if messages.len() != 1 {
                return Err(BadInput(format!(
                    "--out writes one message and this request makes {} (one per agency or recruiter): add --agency ID or --to EMAIL",
                    messages.len()
                ))
                .into());
            }
            std::fs::write(&path, &messages[0].bytes)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            println!(
                "{} digest to {} written to {}",
                request.kind.as_str(),
                messages[0].recipients.join(", "),
                path.display()
            );
        }
        Some(None) => {
            let many = messages.len() > 1;
            for m in &messages {
                let parsed = mail_parser::MessageParser::default().parse(&m.bytes);
                let text = parsed
                    .as_ref()
                    .and_then(|p| p.body_text(0))
                    .unwrap_or_default();
                if many {
                    println!("==== to {} ====", m.recipients.join(", "));
                }
                print!("{}", text.replace("\r\n", "\n"));
                if many {
                    println!();
                }
            }
        }
        None => {
            let now = crate::clock::now();
            for m in &messages {
                app.store.enqueue_now(m, now).await?;
            }
            println!(
                "{} {} digest message(s) written to the outbox, to {}; the outbox worker (or `agency-portal outbox flush`) sends them",
                messages.len(),
                request.kind.as_str(),
                messages
                    .iter()
                    .map(|m| m.recipients.join(", "))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_is_rfc3339_or_local() {
        let manila = chrono_tz::Asia::Manila;
        assert_eq!(
            parse_at("2026-11-30 08:00", manila).unwrap().to_rfc3339(),
            "2026-11-30T00:00:00+00:00"
        );
        assert_eq!(
            parse_at("2026-11-30T08:00:00+08:00", chrono_tz::Tz::UTC)
                .unwrap()
                .to_rfc3339(),
            "2026-11-30T00:00:00+00:00"
        );
        assert_eq!(
            parse_at("2026-11-30", manila).unwrap().to_rfc3339(),
            "2026-11-29T16:00:00+00:00"
        );
        assert!(parse_at("next monday", manila).is_none());
    }
}
