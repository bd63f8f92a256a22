use std::process::ExitCode;

use clap::Parser;

use agency_portal::check::Problems;
use agency_portal::cli::{self, Cli, LogFormat};

fn main() -> ExitCode {
    agency_portal::memory::limit_heaps();
    // One TLS crypto provider for the whole process (lettre's rustls uses ring); installing it
    // first means no other dependency can make the first handshake ambiguous.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    if !matches!(cli.command, cli::Command::Run(_)) {
        // A command's output piped into `head` and closed early ends the command quietly, as it
        // does every Unix tool (exit 141), instead of a panic on the next print (exit 101). The
        // daemon keeps SIGPIPE ignored: a peer closing a socket is an error it handles.
        // SAFETY: called before any thread is started; SIG_DFL is a valid disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // The demo's output is its summary: only warnings and errors are logged unless asked for.
    let default_filter = if matches!(cli.command, cli::Command::Demo(_)) {
        "warn"
    } else {
        "warn,agency_portal=info"
    };
    init_logging(cli.log_format, default_filter);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(cli::run(cli));
    // Work left on blocking threads (a file being parsed when SIGTERM came) is not waited for: its
    // transaction was never committed, and the next start does it again.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if let Some(Problems(problems)) = err.downcast_ref::<Problems>() {
                for p in problems {
                    eprintln!("{p}");
                }
                let n = problems.len();
                eprintln!(
                    "error: {n} problem{} found; nothing was changed",
                    if n == 1 { "" } else { "s" }
                );
            } else {
                eprintln!("error: {}", agency_portal::app::describe(&err));
            }
            ExitCode::from(agency_portal::app::exit_code(&err))
        }
    }
}

fn init_logging(format: LogFormat, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AGENCY_PORTAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter))
        // The mail libraries' wire traces (debug and below) would show passwords and OAuth2
        // tokens (base64 of the AUTH lines): never logged, whatever AGENCY_PORTAL_LOG says.
        .add_directive("lettre=info".parse().expect("a valid directive"))
        .add_directive("async_imap=info".parse().expect("a valid directive"));
    // Colours on a terminal only: a journal or a log file gets the plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
