//! `agency-portal ingest` (SPEC §4.3): the pipeline on a local file, with a progress bar on a terminal,
//! per-outcome counts, the rows that did not become `new`, and the results workbook beside the file.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Map, Value};

use crate::app::{App, BadInput};
use crate::cli::{ImportArgs, IngestArgs};
use crate::intake::pipeline::{self, Input, Pipeline, Processed, ReceiptRequest};
use crate::outcome::Outcome;
use crate::submission::{Channel, Rules};

/// Files from this size on get a progress bar (on a terminal).
const PROGRESS_FROM_BYTES: u64 = 512 * 1024;

pub fn pipeline(app: &App) -> Pipeline {
    let policy = &app.settings.policy;
    Pipeline {
        store: app.store.clone(),
        directory: Arc::new(app.directory.clone()),
        rules: Rules {
            scope: policy.scope,
            ownership_days: policy.ownership_days,
            name_similarity: policy.name_similarity,
        },
        limits: app.settings.limits,
        composer: Some(app.composer.clone()),
    }
}

/// Reads `file` (refusing one over `max_file_bytes` before reading it) and runs the pipeline with
/// `input` completed by the file's name and bytes; a progress bar shows on a terminal.
async fn process_file(
    app: &App,
    file: &Path,
    mut input: Input,
) -> anyhow::Result<(String, pipeline::Result)> {
    let file_name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let size = std::fs::metadata(file)
        .map_err(|e| BadInput(format!("cannot read {}: {e}", file.display())))?
        .len();
    let max = app.settings.limits.max_file_bytes;
    if size > max {
        return Err(BadInput(format!(
            "{}: {}",
            file.display(),
            crate::sheet::SheetError::FileTooLarge { size, max }
        ))
        .into());
    }
    input.bytes = std::fs::read(file)
        .map_err(|e| BadInput(format!("cannot read {}: {e}", file.display())))?;
    input.file_name = file_name.clone();
    let progress = (std::io::stderr().is_terminal() && size >= PROGRESS_FROM_BYTES).then(|| {
        let pb = ProgressBar::new_spinner();
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg:>16}: {pos} rows ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb.set_message("reading");
        pb
    });
    let result = pipeline(app).process(input, progress.clone()).await?;
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    if let pipeline::Result::Unreadable { reason, .. } = &result {
        return Err(BadInput(format!("{}: {reason}", file.display())).into());
    }
    Ok((file_name, result))
}

/// `import-existing FILE`: the company's own pipeline. Its people are owned by the company from now
/// for `ownership_days`; agencies' rows for them are `blocked`.
pub async fn import_existing(app: &App, args: &ImportArgs) -> anyhow::Result<()> {
    if args.from_talkpush {
        return crate::talkpush::import::run(app, args).await;
    }
    let Some(file) = &args.file else {
        return Err(BadInput("import-existing needs FILE or --from-talkpush".into()).into());
    };
    let country = crate::country::parse(&args.country).ok_or_else(|| {
        BadInput(format!(
            "--country {}: not an ISO 3166-1 alpha-2 code such as PH",
            args.country
        ))
    })?;
    let (file_name, result) = process_file(
        app,
        file,
        Input {
            file_name: String::new(),
            bytes: Vec::new(),
            agency_id: String::new(),
            user_email: None,
            default_campaign: args.campaign.clone(),
            company_country: Some(country),
            channel: Channel::Import,
            sender: String::new(),
            check_only: false,
            source_ref: None,
            received_at: crate::clock::now(),
            receipt: None,
        },
    )
    .await?;
    print_import(args.json, &file_name, result)
}

/// What an import did: counts, or that the same file was imported before.
pub(crate) fn print_import(
    json: bool,
    file_name: &str,
    result: pipeline::Result,
) -> anyhow::Result<()> {
    match result {
        pipeline::Result::Processed(p) => {
            let n = p.counts();
            if json {
                let mut v = to_json("", file_name, &p);
                v["agency"] = Value::Null;
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "{file_name}: {} rows imported into the company's pipeline",
                    p.outcomes.len()
                );
                println!(
                    "added {}, already in the pipeline {}, owned by an agency {}, to review {}, repeated {}, invalid {}",
                    n[0],
                    n[1] + n[3],
                    n[2],
                    n[4],
                    n[5],
                    n[6]
                );
            }
        }
        pipeline::Result::AlreadyProcessed { submission_id } => {
            println!(
                "{file_name} was already imported as submission {submission_id}: nothing changed"
            );
        }
        pipeline::Result::Unreadable { reason, .. } => {
            return Err(BadInput(format!("{file_name}: {reason}")).into());
        }
    }
    Ok(())
}

pub async fn run(app: &App, args: &IngestArgs) -> anyhow::Result<()> {
    let dir = &app.directory;
    if dir.agency(&args.agency).is_none() {
        return Err(BadInput(format!(
            "agency `{}` is not in the directory: see `agency-portal agencies`",
            args.agency
        ))
        .into());
    }
    if let Some(user) = &args.user {
        let known = dir.is_owner(user) || dir.is_user_of(&args.agency, user);
        if !known {
            return Err(BadInput(format!(
                "`{user}` is neither a user of agency {} nor an owner",
                args.agency
            ))
            .into());
        }
    }
    let (file_name, result) = process_file(
        app,
        &args.file,
        Input {
            file_name: String::new(),
            bytes: Vec::new(),
            agency_id: args.agency.clone(),
            user_email: args.user.as_ref().map(|u| u.to_ascii_lowercase()),
            default_campaign: args.campaign.clone(),
            company_country: None,
            channel: Channel::Cli,
            sender: args.user.clone().unwrap_or_default(),
            check_only: args.dry_run,
            source_ref: None,
            received_at: crate::clock::now(),
            // With --user the receipt goes to that user, as if they had emailed the file.
            receipt: args.user.as_deref().map(|u| ReceiptRequest {
                to: vec![(u.to_ascii_lowercase(), user_name(app, u))],
                reply_to: None,
            }),
        },
    )
    .await?;
    match result {
        pipeline::Result::Unreadable { .. } => {
            unreachable!("process_file refuses unreadable files")
        }
        pipeline::Result::AlreadyProcessed { submission_id } => {
            if args.json {
                let counts: Map<String, Value> = Outcome::ALL
                    .iter()
                    .map(|o| (o.as_str().to_string(), json!(0)))
                    .collect();
                println!(
                    "{}",
                    json!({
                        "submission_id": submission_id,
                        "agency": args.agency,
                        "file": file_name,
                        "already_processed": true,
                        "rows": 0,
                        "counts": counts,
                        "results": [],
                    })
                );
            } else {
                println!(
                    "{file_name} was already processed for {} as submission {submission_id}: nothing changed",
                    args.agency
                );
            }
            Ok(())
        }
        pipeline::Result::Processed(p) => {
            let written = if args.dry_run {
                Vec::new()
            } else {
                write_results(&args.file, &p)?
            };
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&to_json(&args.agency, &file_name, &p))?
                );
            } else {
                print_human(args, &file_name, &p, &written);
            }
            Ok(())
        }
    }
}

/// A user's or owner's name from the directory (empty when unknown).
fn user_name(app: &App, email: &str) -> String {
    let email = email.to_ascii_lowercase();
    app.directory
        .user(&email)
        .map(|(_, u)| u.name.clone())
        .or_else(|| {
            app.directory
                .owners
                .iter()
                .find(|o| o.email == email)
                .map(|o| o.name.clone())
        })
        .unwrap_or_default()
}

/// `<stem>-results.xlsx` (and `<stem>-to-fix.xlsx`) beside the input.
fn write_results(file: &Path, p: &Processed) -> anyhow::Result<Vec<PathBuf>> {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "submission".into());
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut written = vec![dir.join(format!("{stem}-results.xlsx"))];
    std::fs::write(&written[0], &p.results_xlsx)?;
    if let Some(fix) = &p.to_fix_xlsx {
        let path = dir.join(format!("{stem}-to-fix.xlsx"));
        std::fs::write(&path, fix)?;
        written.push(path);
    }
    Ok(written)
}

fn to_json(agency: &str, file_name: &str, p: &Processed) -> Value {
    let counts: Map<String, Value> = Outcome::ALL
        .iter()
        .zip(p.counts())
        .map(|(o, n)| (o.as_str().to_string(), json!(n)))
        .collect();
    let results: Vec<Value> = p
        .outcomes
        .iter()
        .map(|o| {
            json!({
                "row": o.number,
                "outcome": o.outcome.as_str(),
                "reason": o.reason.english(),
                "candidate_id": if o.outcome == Outcome::Invalid { None } else { o.candidate_id },
                "same_as_row": o.same_as_row,
            })
        })
        .collect();
    json!({
        "submission_id": p.submission_id,
        "agency": agency,
        "file": file_name,
        "rows": p.outcomes.len(),
        "counts": counts,
        "results": results,
    })
}

fn print_human(args: &IngestArgs, file_name: &str, p: &Processed, written: &[PathBuf]) {
    let what = if args.dry_run {
        " (dry run: nothing created)"
    } else {
        ""
    };
    println!(
        "{file_name}: {} rows for {}{what}",
        p.outcomes.len(),
        args.agency
    );
    println!("{}", p.counts_line());
    let attention: Vec<Vec<String>> = p
        .outcomes
        .iter()
        .filter(|o| o.outcome != Outcome::New)
        .map(|o| {
            vec![
                o.number.to_string(),
                o.outcome.as_str().to_string(),
                o.reason.english(),
            ]
        })
        .collect();
    if !attention.is_empty() {
        println!();
        print!(
            "{}",
            crate::views::table(&["Row", "Outcome", "Reason"], &attention)
        );
    }
    for path in written {
        println!("wrote {}", path.display());
    }
}
