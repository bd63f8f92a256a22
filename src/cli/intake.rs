//! The intake commands: `run` (the daemon), `mail` and `drop` (one pass of a source).

use super::*;

/// The hidden `drop [--once]`: the drop-folder intake alone.
/// Set (to anything) in crash drills: see [`drop_intake`].
pub const CRASH_AFTER_COMMIT_ENV: &str = "AGENCY_PORTAL_CRASH_AFTER_COMMIT";

/// `agency/file: outcome -> where it went`, as `drop --once` and `run --once` print a taken file.
pub(super) fn drop_line(r: &crate::intake::drop::DropReceipt) -> String {
    format!(
        "{}/{}: {}{}{}",
        r.agency_id,
        r.file_name,
        r.outcome.code(),
        if r.moved_to.is_empty() { "" } else { " -> " },
        r.moved_to
    )
}

pub(super) async fn run_daemon(app: &App, args: &RunArgs) -> anyhow::Result<()> {
    if !args.once {
        return crate::daemon::run(app).await;
    }
    let report = crate::daemon::once(app).await?;
    for r in &report.files {
        println!("drop {}", drop_line(r));
    }
    println!(
        "{} message{} handled, {} file{} taken; outbox: {} sent, {} to retry later, {} failed",
        report.messages,
        if report.messages == 1 { "" } else { "s" },
        report.files.len(),
        if report.files.len() == 1 { "" } else { "s" },
        report.sent,
        report.send_later,
        report.send_failed
    );
    if app.settings.talkpush().is_some() {
        println!(
            "talkpush: {} synced, {} to retry later, {} failed",
            report.pushed, report.push_later, report.push_failed
        );
    }
    Ok(())
}

pub(super) async fn mail_intake(app: &App, args: &MailArgs) -> anyhow::Result<()> {
    use crate::intake::mailbox::MailSource;
    use std::sync::Arc;
    let source = MailSource::from_settings(
        &app.settings,
        crate::cli::ingest::pipeline(app),
        app.composer.clone(),
    )?;
    let Some(mut source) = source else {
        return Err(
            BadInput("intake.mailbox.kind is \"none\": the email intake is off".into()).into(),
        );
    };
    if std::env::var_os(CRASH_AFTER_COMMIT_ENV).is_some() {
        source.set_after_commit(Arc::new(|_| {
            // SAFETY: signalling our own process; SIGKILL cannot be caught, nothing runs after.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }));
    }
    if args.once {
        let n = source.once().await?;
        println!(
            "{}: {n} message{} handled",
            source.name(),
            if n == 1 { "" } else { "s" }
        );
        return Ok(());
    }
    source
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    Ok(())
}

pub(super) async fn drop_intake(app: &App, args: &DropArgs) -> anyhow::Result<()> {
    use crate::intake::drop::{CollectReceipts, DropOptions, DropSource};
    use std::sync::Arc;
    let Some(mut opts) = DropOptions::from_settings(&app.settings.intake.drop) else {
        return Err(BadInput("intake.drop.path is empty: the drop folder is off".into()).into());
    };
    // Crash drills: the process kills itself with SIGKILL right after a file's submission is
    // committed and before the file is moved, exactly like `kill -9` at the worst moment.
    if std::env::var_os(CRASH_AFTER_COMMIT_ENV).is_some() {
        opts.hooks.after_commit = Some(Arc::new(|_: &str, _: &str| {
            // SAFETY: signalling our own process; SIGKILL cannot be caught, nothing runs after.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            true
        }));
    }
    let sink = Arc::new(CollectReceipts::default());
    let source = DropSource::new(opts, crate::cli::ingest::pipeline(app), sink.clone());
    if !args.once {
        source
            .run(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        return Ok(());
    }
    for r in crate::daemon::drop_once(&source).await? {
        println!("{}", drop_line(&r));
    }
    Ok(())
}
