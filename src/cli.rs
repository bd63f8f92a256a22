//! The command line (SPEC §4.3, §9, §10): argument parsing, opening what a command needs, printing,
//! and exit codes (0 ok; 2 bad input or config; 1 anything else).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use sha2::{Digest as _, Sha256};

use crate::check::Problems;
use crate::directory::{self, Directory};
use crate::mail::{Composer, MailError};
use crate::settings::{self, Settings, SettingsError};
use crate::store::{Store, StoreError};
use crate::views::{self, AgencyFilter, CampaignFilter};

mod config_check;
use config_check::config_check;

#[derive(Debug, Parser)]
#[command(
    name = "agency-portal",
    version,
    about = "Recruitment agencies submit candidates by email and SFTP drop folder"
)]
pub struct Cli {
    /// The settings file (default config/agency-portal.toml).
    #[arg(long, global = true, env = "AGENCY_PORTAL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update the database schema.
    Migrate,
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// List agencies, grouped by country.
    Agencies(AgenciesArgs),
    /// List campaigns, grouped by country.
    Campaigns(CampaignsArgs),
    /// Run the submission pipeline on a local file, as an agency would submit it.
    Ingest(IngestArgs),
    /// Load the company's existing candidates (e.g. a Talkpush export): agencies' rows for them are
    /// `blocked`.
    ImportExisting(ImportArgs),
    /// Remove a person's personal data everywhere, keeping an anonymous record of the attribution.
    Erase(EraseArgs),
    /// List candidates with their current owner.
    Candidates(CandidatesArgs),
    /// List submissions.
    Submissions(SubmissionsArgs),
    /// The review queue: rows that may be someone already registered.
    Review {
        #[command(subcommand)]
        command: Option<ReviewCommand>,
    },
    /// Outgoing mail: the outbox (list, flush, resend a failed message).
    Outbox(crate::mail::command::OutboxArgs),
    /// Talkpush sync (SPEC §11): what is waiting, synced or failed; pushing again.
    Talkpush {
        #[command(subcommand)]
        command: crate::talkpush::command::TalkpushCommand,
    },
    /// Digests (SPEC §8): compose one now, to preview it or send it through the outbox.
    Digest {
        #[command(subcommand)]
        command: crate::digest::command::DigestCommand,
    },
    /// Print (or with --apply, write) the OpenSSH configuration and folder ownership that give
    /// every active agency a chrooted, SFTP-only account on its own drop folder.
    SftpSetup(SftpSetupArgs),
    /// The daemon: every configured source, the outbox worker, the digests and the directory
    /// reload, until SIGTERM or Ctrl-C. With --once: process everything pending, flush the outbox,
    /// exit.
    Run(RunArgs),
    /// Show the whole product with zero setup: lay out a fresh var/demo/ (SQLite, Maildir, drop
    /// folders, file outbox, sample directory, emails and files), run the pipeline once, and print
    /// what happened and where the receipts are.
    Demo(crate::demo::DemoArgs),
    /// Run the drop-folder intake alone (until Ctrl-C, or one round with --once).
    #[command(hide = true)]
    Drop(DropArgs),
    /// Run the email intake alone (until Ctrl-C, or one pass with --once).
    #[command(hide = true)]
    Mail(MailArgs),
}

#[derive(Debug, Args)]
pub struct SftpSetupArgs {
    /// Create the accounts, set folder owners and modes, and write the sshd configuration.
    #[arg(long)]
    pub apply: bool,
    /// Where --apply writes the Match blocks.
    #[arg(long, default_value = crate::drop::sftp_setup::DEFAULT_SSHD_CONFIG)]
    pub sshd_config: PathBuf,
    /// AuthorizedKeysFile for the accounts (%u = the account, ap-<agency-id>); default
    /// `intake.drop.authorized_keys`, which the `sftp-key` email command writes.
    #[arg(long)]
    pub authorized_keys: Option<String>,
}

#[derive(Debug, Args)]
pub struct DropArgs {
    /// Take what is in the drop folders now (waiting for uploads in progress to settle), then exit.
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Process everything pending (mailbox, drop folders, due digests), flush the outbox, exit.
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, Args)]
pub struct MailArgs {
    /// Handle the messages waiting now, then exit.
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The export (any spreadsheet format the portal reads).
    #[arg(
        required_unless_present = "from_talkpush",
        conflicts_with = "from_talkpush"
    )]
    pub file: Option<PathBuf>,
    /// Read the company's existing leads from Talkpush (`[talkpush]`) instead of a file: with
    /// --campaign, that campaign's only.
    #[arg(long)]
    pub from_talkpush: bool,
    /// With --from-talkpush: only leads created on or after this day (YYYY-MM-DD).
    #[arg(long, requires = "from_talkpush")]
    pub since: Option<chrono::NaiveDate>,
    /// Default region for phone numbers without a country code, and the campaigns' country.
    #[arg(long, default_value = "PH")]
    pub country: String,
    /// The campaign for rows without one (ID or exact name).
    #[arg(long)]
    pub campaign: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["email", "phone"])))]
pub struct EraseArgs {
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub phone: Option<String>,
    /// Default region for a phone number written without a country code.
    #[arg(long, default_value = "PH")]
    pub country: String,
}

#[derive(Debug, Args)]
pub struct CandidatesArgs {
    #[arg(long)]
    pub agency: Option<String>,
    #[arg(long)]
    pub campaign: Option<String>,
    /// Only candidates created on or after this day (YYYY-MM-DD).
    #[arg(long)]
    pub since: Option<chrono::NaiveDate>,
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    #[arg(long)]
    pub csv: bool,
}

#[derive(Debug, Args)]
pub struct SubmissionsArgs {
    #[arg(long)]
    pub agency: Option<String>,
    /// Only submissions received on or after this day (YYYY-MM-DD).
    #[arg(long)]
    pub since: Option<chrono::NaiveDate>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// The rows waiting for review (the default).
    List {
        #[arg(long)]
        json: bool,
    },
    /// The row and the person it may be, side by side, and which rule matched.
    Show {
        row_id: i64,
        #[arg(long)]
        json: bool,
    },
    /// A different person: the row becomes `new`.
    Accept { row_id: i64 },
    /// The same person: the row becomes `duplicate`.
    Reject { row_id: i64 },
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The spreadsheet (xlsx, xlsm, xlsb, xls, ods, csv, tsv, txt).
    pub file: PathBuf,
    /// The submitting agency's id.
    #[arg(long)]
    pub agency: String,
    /// The submitting user (a user of the agency, or an owner).
    #[arg(long)]
    pub user: Option<String>,
    /// The campaign for rows without one (ID or exact name).
    #[arg(long)]
    pub campaign: Option<String>,
    /// Decide every row but create nothing and write no results file.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the settings and directory files (every problem with its line and column), then
    /// try the database, mailbox and mail server they name.
    Check {
        /// Check the files only; reach no server.
        #[arg(long)]
        offline: bool,
    },
}

#[derive(Debug, Args)]
pub struct AgenciesArgs {
    /// Only agencies of this country (ISO code, e.g. PH).
    #[arg(long)]
    pub country: Option<String>,
    /// Only active agencies.
    #[arg(long, conflicts_with = "inactive")]
    pub active: bool,
    /// Only inactive agencies.
    #[arg(long)]
    pub inactive: bool,
    /// Match case- and accent-insensitively anywhere in name or id.
    #[arg(long)]
    pub search: Option<String>,
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CampaignsArgs {
    /// Only campaigns of this country (ISO code, e.g. PH).
    #[arg(long)]
    pub country: Option<String>,
    /// Match case- and accent-insensitively anywhere in name or id.
    #[arg(long)]
    pub search: Option<String>,
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// An error that is the user's to fix: bad input or configuration (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// An error and its causes on one line, as `{:#}` writes them, less the causes its text already
/// says: many errors name their cause in their own message (a connection error its I/O error), and
/// the chain would say it again, up to three times.
pub fn describe(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The exit code for an error (SPEC §10).
pub fn exit_code(err: &anyhow::Error) -> u8 {
    let bad_input = err.chain().any(|e| {
        e.is::<BadInput>()
            || e.is::<SettingsError>()
            || e.is::<Problems>()
            || e.is::<crate::tls::TrustError>()
            || e.downcast_ref::<StoreError>()
                .is_some_and(StoreError::is_config)
            || e.downcast_ref::<MailError>()
                .is_some_and(MailError::is_config)
    });
    if bad_input {
        2
    } else {
        1
    }
}

/// What most commands work with: the settings, the validated directory, and the migrated store with
/// the directory synced into it.
#[derive(Clone)]
pub struct App {
    pub settings: Settings,
    pub directory: Directory,
    pub store: Store,
    /// Builds the mail we send (templates from `config/templates/`).
    pub composer: Arc<Composer>,
}

impl App {
    pub async fn open(config: Option<&Path>) -> anyhow::Result<App> {
        App::with_settings(settings::load(&settings::resolve_path(config))?).await
    }

    /// [`App::open`] with settings already loaded (the demo fixes some of them first).
    pub async fn with_settings(settings: Settings) -> anyhow::Result<App> {
        let (directory, text) = read_directory(&settings)?;
        let composer = Arc::new(Composer::from_settings(&settings)?);
        let store = Store::open(&settings.database.url)
            .await?
            .with_talkpush(settings.talkpush().is_some());
        let changes = store
            .sync_directory(
                &directory,
                &settings.directory.path.display().to_string(),
                &sha256_hex(text.as_bytes()),
                crate::clock::now(),
                &composer,
            )
            .await
            .context("syncing the directory into the database")?;
        if !changes.is_empty() {
            let list: Vec<String> = changes.iter().map(ToString::to_string).collect();
            tracing::info!(
                changes = changes.len(),
                "directory applied: {}",
                list.join("; ")
            );
        }
        Ok(App {
            settings,
            directory,
            store,
            composer,
        })
    }
}

fn read_directory(settings: &Settings) -> anyhow::Result<(Directory, String)> {
    let path = &settings.directory.path;
    let text = std::fs::read_to_string(path).map_err(|e| {
        BadInput(format!(
            "cannot read the directory file {}: {e}; check [directory] path in {}",
            path.display(),
            settings.file.display()
        ))
    })?;
    let dir = directory::parse(&text, path)?;
    Ok((dir, text))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Migrate => {
            let settings = settings::load(&settings::resolve_path(config))?;
            let store = Store::connect(&settings.database.url).await?;
            let before = store.applied_migrations().await?;
            store.migrate().await?;
            let after = store.applied_migrations().await?;
            let url = crate::store::redact_url(&settings.database.url);
            let applied: Vec<&(i64, String)> =
                after.iter().filter(|m| !before.contains(m)).collect();
            if applied.is_empty() {
                println!("database {url} was up to date: nothing to apply");
            }
            for (version, description) in &applied {
                println!("applied {version:04} {description}");
            }
            println!(
                "database {url} is up to date ({} migrations)",
                store.migrations_known()
            );
            store.close().await;
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check { offline },
        } => config_check(config, offline).await,
        Command::SftpSetup(args) => sftp_setup(config, &args),
        Command::Demo(args) => crate::demo::run(&args).await,
        command => {
            let app = match &command {
                Command::Run(args) if !args.once => {
                    match open_when_the_database_answers(config).await? {
                        Some(app) => app,
                        None => return Ok(()),
                    }
                }
                _ => App::open(config).await?,
            };
            let result = with_app(&app, command).await;
            app.store.close().await;
            result
        }
    }
}

/// The daemon's [`App::open`]: a Postgres that does not answer yet (`run` started before its
/// database, as a machine boots) is waited for, trying again after 1, 2, 4… seconds (30 at most),
/// with a warning each time, instead of exiting; SIGTERM or Ctrl-C meanwhile stops it cleanly
/// (`None`). Anything else — a wrong URL or password, a bad settings or directory file — ends it at
/// once, as for every other command.
async fn open_when_the_database_answers(config: Option<&Path>) -> anyhow::Result<Option<App>> {
    const LONGEST_WAIT: Duration = Duration::from_secs(30);
    let stop = crate::daemon::wait_for_signal();
    tokio::pin!(stop);
    let mut wait = Duration::from_secs(1);
    loop {
        tokio::select! {
            opened = App::open(config) => match opened {
                Ok(app) => return Ok(Some(app)),
                Err(err) if unreachable(&err) => tracing::warn!(
                    "{}; the daemon waits for the database and tries again in {} s",
                    describe(&err),
                    wait.as_secs()
                ),
                Err(err) => return Err(err),
            },
            () = &mut stop => return Ok(None),
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = &mut stop => return Ok(None),
        }
        wait = (wait * 2).min(LONGEST_WAIT);
    }
}

fn unreachable(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<StoreError>()
            .is_some_and(StoreError::is_unreachable)
    })
}

/// The commands that work on the database with the directory applied.
async fn with_app(app: &App, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Agencies(args) => {
            let filter = AgencyFilter {
                country: args.country,
                active: if args.active {
                    Some(true)
                } else if args.inactive {
                    Some(false)
                } else {
                    None
                },
                search: args.search,
            };
            let mut rows = app.store.agencies().await?;
            rows.retain(|a| filter.matches(a));
            if args.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print!("{}", views::agencies_table(&rows));
            }
            Ok(())
        }
        Command::Campaigns(args) => {
            let filter = CampaignFilter {
                country: args.country,
                search: args.search,
            };
            let mut rows = app.store.campaigns().await?;
            rows.retain(|c| filter.matches(c));
            if args.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print!("{}", views::campaigns_table(&rows));
            }
            Ok(())
        }
        Command::Ingest(args) => crate::ingest::run(app, &args).await,
        Command::ImportExisting(args) => crate::ingest::import_existing(app, &args).await,
        Command::Erase(args) => crate::owner::erase(app, &args).await,
        Command::Candidates(args) => crate::owner::candidates(app, &args).await,
        Command::Submissions(args) => crate::owner::submissions(app, &args).await,
        Command::Review { command } => crate::owner::review(app, command).await,
        Command::Outbox(args) => crate::mail::command::run(app, args).await,
        Command::Talkpush { command } => crate::talkpush::command::run(app, command).await,
        Command::Drop(args) => drop_intake(app, &args).await,
        Command::Mail(args) => mail_intake(app, &args).await,
        Command::Run(args) => run_daemon(app, &args).await,
        Command::Digest { command } => crate::digest::command::run(app, command).await,
        Command::Migrate | Command::Config { .. } | Command::SftpSetup(_) | Command::Demo(_) => {
            unreachable!("handled without the app")
        }
    }
}

/// `sftp-setup [--apply]`.
fn sftp_setup(config: Option<&Path>, args: &SftpSetupArgs) -> anyhow::Result<()> {
    use crate::drop::sftp_setup::{self, SetupError, SetupOptions};
    let settings = settings::load(&settings::resolve_path(config))?;
    let (directory, _) = read_directory(&settings)?;
    let drop_root = &settings.intake.drop.path;
    if drop_root.as_os_str().is_empty() {
        return Err(BadInput(
            "intake.drop.path is empty: the drop folder is off, there is nothing to set up".into(),
        )
        .into());
    }
    let drop_root = drop_root
        .canonicalize()
        .unwrap_or_else(|_| absolute_lexically(drop_root));
    let opts = SetupOptions {
        drop_root,
        authorized_keys: args
            .authorized_keys
            .clone()
            .unwrap_or_else(|| settings.intake.drop.authorized_keys.clone()),
    };
    let bad = |e: SetupError| match e {
        SetupError::Bad(m) => anyhow::Error::from(BadInput(m)),
        e => anyhow::Error::from(e),
    };
    if args.apply {
        for line in sftp_setup::apply(&directory, &opts, &args.sshd_config).map_err(bad)? {
            println!("{line}");
        }
    } else {
        print!(
            "{}",
            sftp_setup::sshd_config(&directory, &opts).map_err(bad)?
        );
        println!();
        print!(
            "{}",
            sftp_setup::ownership_plan(&directory, &opts.drop_root)
        );
    }
    Ok(())
}

/// `path` made absolute against the current folder, with `.` and `..` resolved by name (the drop
/// folder need not exist yet: `sftp-setup --apply` creates it). A relative `--config` gives
/// relative paths (`config/../var/drop`), which sshd's ChrootDirectory cannot take.
fn absolute_lexically(path: &Path) -> PathBuf {
    use std::path::Component;
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// The hidden `drop [--once]`: the drop-folder intake alone.
/// Set (to anything) in crash drills: see [`drop_intake`].
pub const CRASH_AFTER_COMMIT_ENV: &str = "AGENCY_PORTAL_CRASH_AFTER_COMMIT";

/// `agency/file: outcome -> where it went`, as `drop --once` and `run --once` print a taken file.
fn drop_line(r: &crate::drop::DropReceipt) -> String {
    format!(
        "{}/{}: {}{}{}",
        r.agency_id,
        r.file_name,
        r.outcome.code(),
        if r.moved_to.is_empty() { "" } else { " -> " },
        r.moved_to
    )
}

async fn run_daemon(app: &App, args: &RunArgs) -> anyhow::Result<()> {
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

async fn mail_intake(app: &App, args: &MailArgs) -> anyhow::Result<()> {
    use crate::email_intake::MailSource;
    use std::sync::Arc;
    let source = MailSource::from_settings(
        &app.settings,
        crate::ingest::pipeline(app),
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

async fn drop_intake(app: &App, args: &DropArgs) -> anyhow::Result<()> {
    use crate::drop::{CollectReceipts, DropOptions, DropSource};
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
    let source = DropSource::new(opts, crate::ingest::pipeline(app), sink.clone());
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
