//! The command line (SPEC §4.3, §9, §10): argument parsing, opening what a command needs, printing,
//! and exit codes (0 ok; 2 bad input or config; 1 anything else). One file per command group; what
//! every command works with is in [`crate::app`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::check::Problems;
use crate::daemon::backoff::Backoff;
use crate::directory;
use crate::schedule::Schedule;
use crate::settings::{self, SettingsError};
use crate::store::{Store, StoreError};
use crate::views::{self, AgencyFilter, CampaignFilter};

mod config;
pub mod digest;
pub mod ingest;
mod intake;
pub mod outbox;
pub mod owner;
pub mod talkpush;

use crate::app::{describe, App, BadInput};
use config::{config_check, sftp_setup};
pub use intake::CRASH_AFTER_COMMIT_ENV;
use intake::{drop_intake, mail_intake, run_daemon};

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
    Outbox(outbox::OutboxArgs),
    /// Talkpush sync (SPEC §11): what is waiting, synced or failed; pushing again.
    Talkpush {
        #[command(subcommand)]
        command: talkpush::TalkpushCommand,
    },
    /// Digests (SPEC §8): compose one now, to preview it or send it through the outbox.
    Digest {
        #[command(subcommand)]
        command: digest::DigestCommand,
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
    #[arg(long, default_value = crate::intake::drop::sftp_setup::DEFAULT_SSHD_CONFIG)]
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
    let mut retries = Backoff::new(Duration::from_secs(1), Duration::from_secs(30)).retries();
    let stop = crate::daemon::wait_for_signal();
    tokio::pin!(stop);
    loop {
        let wait = tokio::select! {
            opened = App::open(config) => match opened {
                Ok(app) => return Ok(Some(app)),
                Err(err) if unreachable(&err) => {
                    let wait = retries.failed();
                    tracing::warn!(
                    "{}; the daemon waits for the database and tries again in {} s",
                    describe(&err),
                    wait.as_secs()
                    );
                    wait
                }
                Err(err) => return Err(err),
            },
            () = &mut stop => return Ok(None),
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = &mut stop => return Ok(None),
        }
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
        Command::Ingest(args) => crate::cli::ingest::run(app, &args).await,
        Command::ImportExisting(args) => crate::cli::ingest::import_existing(app, &args).await,
        Command::Erase(args) => crate::cli::owner::erase(app, &args).await,
        Command::Candidates(args) => crate::cli::owner::candidates(app, &args).await,
        Command::Submissions(args) => crate::cli::owner::submissions(app, &args).await,
        Command::Review { command } => crate::cli::owner::review(app, command).await,
        Command::Outbox(args) => outbox::run(app, args).await,
        Command::Talkpush { command } => talkpush::run(app, command).await,
        Command::Drop(args) => drop_intake(app, &args).await,
        Command::Mail(args) => mail_intake(app, &args).await,
        Command::Run(args) => run_daemon(app, &args).await,
        Command::Digest { command } => digest::run(app, command).await,
        Command::Migrate | Command::Config { .. } | Command::SftpSetup(_) | Command::Demo(_) => {
            unreachable!("handled without the app")
        }
    }
}
