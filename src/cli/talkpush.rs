//! `agency-portal talkpush status | retry [--failed] | push --candidate ID` (SPEC §11 (r2)).

use clap::Subcommand;

use crate::app::{App, BadInput};
use crate::store::talkpush::PushRequest;
use crate::talkpush::pusher;
use crate::talkpush::worker::Pusher;

#[derive(Debug, Subcommand)]
pub enum TalkpushCommand {
    /// Counts by state, and every push waiting or failed (with `--all`, synced ones too).
    Status {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Push now what waits out a backoff; with --failed, failed pushes too.
    Retry {
        #[arg(long)]
        failed: bool,
    },
    /// Push one candidate now (queued if it never was).
    Push {
        #[arg(long)]
        candidate: i64,
    },
}

pub async fn run(app: &App, command: TalkpushCommand) -> anyhow::Result<()> {
    match command {
        TalkpushCommand::Status { all, json } => status(app, all, json).await,
        TalkpushCommand::Retry { failed } => {
            let pusher = pusher(app)?;
            let n = app
                .store
                .push_retry_now(failed, crate::clock::now())
                .await?;
            println!("{n} push{} due now", if n == 1 { "" } else { "es" });
            flush(&pusher).await
        }
        TalkpushCommand::Push { candidate } => {
            let pusher = pusher(app)?;
            match app
                .store
                .push_candidate(candidate, crate::clock::now())
                .await?
            {
                PushRequest::Nothing => Err(BadInput(format!(
                    "candidate {candidate} has no agency ownership with a campaign: nothing to \
                     push (see `agency-portal candidates`)"
                ))
                .into()),
                PushRequest::Queued { due, synced } => {
                    println!("candidate {candidate}: {due} to push, {synced} already synced");
                    flush(&pusher).await
                }
            }
        }
    }
}

async fn flush(pusher: &Pusher) -> anyhow::Result<()> {
    let r = pusher.flush().await?;
    println!(
        "talkpush: {} synced, {} to retry later, {} failed",
        r.synced, r.retrying, r.failed
    );
    Ok(())
}

async fn status(app: &App, all: bool, json: bool) -> anyhow::Result<()> {
    let mut rows = app.store.push_rows(None).await?;
    if !all {
        rows.retain(|r| r.status != "synced");
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let totals = app.store.push_totals().await?;
    let count = |s: &str| {
        totals
            .by_status
            .iter()
            .filter(|(k, _)| k == s)
            .map(|(_, n)| *n)
            .sum::<i64>()
    };
    println!(
        "talkpush: {} pending, {} pushing, {} synced, {} failed{}",
        count("pending"),
        count("pushing"),
        count("synced"),
        count("failed"),
        match app.settings.talkpush() {
            Some(s) => format!(" — {}", s.base_url),
            None => " — sync is off ([talkpush] missing or enabled = false)".into(),
        }
    );
    for r in rows {
        let when = match r.status.as_str() {
            "pending" => format!("next try {}", r.next_attempt_at.format("%Y-%m-%d %H:%M:%S")),
            _ => r
                .synced_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
        };
        let err = if r.status == "pending" && !r.last_error.is_empty() {
            format!("\tlast error: {}", r.last_error)
        } else {
            String::new()
        };
        println!(
            "push {}\tcandidate {}\tcampaign {}\t{}\tattempts {}\t{when}{err}",
            r.id,
            r.candidate_id,
            r.campaign_id,
            r.state(),
            r.attempts
        );
    }
    Ok(())
}
