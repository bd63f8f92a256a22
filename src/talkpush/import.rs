//! `import-existing --from-talkpush [--campaign ID] [--since DATE]` (SPEC §11 (r2)): the company's
//! existing Talkpush leads, paged through 12 at a time, go into the company's own pipeline (the
//! `blocked` list) exactly as an exported file would: they are written as one CSV and run through
//! the import, so re-running it with the same leads changes nothing.

use std::time::Duration;

use super::client::{CallError, Client, Lead, Page};
use crate::app::{App, BadInput};
use crate::cli::ImportArgs;
use crate::intake::pipeline::Input;
use crate::submission::Channel;

/// Tries of one page while Talkpush answers 429, 5xx or not at all.
const TRIES: u32 = 5;

pub async fn run(app: &App, args: &ImportArgs) -> anyhow::Result<()> {
    let Some(settings) = app.settings.talkpush.as_ref() else {
        return Err(BadInput(format!(
            "--from-talkpush needs a [talkpush] section (base_url, api_key_env) in {}",
            app.settings.file.display()
        ))
        .into());
    };
    let country = crate::country::parse(&args.country).ok_or_else(|| {
        BadInput(format!(
            "--country {}: not an ISO 3166-1 alpha-2 code such as PH",
            args.country
        ))
    })?;
    let client =
        Client::from_settings(settings).map_err(|e| BadInput(format!("[talkpush]: {e}")))?;
    let mut filters = Vec::new();
    if let Some(since) = args.since {
        // The API's date format.
        filters.push((
            "filter[creation_start_date]",
            since.format("%d-%m-%Y").to_string(),
        ));
    }
    let (leads, pages) = all_leads(&client, args.campaign.as_deref(), &filters).await?;
    eprintln!(
        "read {} leads from Talkpush ({pages} page{})",
        leads.len(),
        if pages == 1 { "" } else { "s" }
    );
    let known = |c: &Option<String>| {
        c.as_deref()
            .filter(|id| app.directory.campaign(id).is_some())
            .unwrap_or_default()
            .to_string()
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["First Name", "Last Name", "Email", "Phone", "Campaign"])?;
    for l in &leads {
        w.write_record([
            l.first_name.as_str(),
            l.last_name.as_str(),
            l.email.as_deref().unwrap_or_default(),
            l.phone.as_deref().unwrap_or_default(),
            &known(&l.campaign_id),
        ])?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    let file_name = match (&args.campaign, args.since) {
        (Some(c), Some(d)) => format!("talkpush-leads-{c}-since-{d}.csv"),
        (Some(c), None) => format!("talkpush-leads-{c}.csv"),
        (None, Some(d)) => format!("talkpush-leads-since-{d}.csv"),
        (None, None) => "talkpush-leads.csv".to_string(),
    };
    if leads.is_empty() {
        println!("{file_name}: no lead to import");
        return Ok(());
    }
    let result = crate::cli::ingest::pipeline(app)
        .process(
            Input {
                file_name: file_name.clone(),
                bytes,
                agency_id: String::new(),
                user_email: None,
                default_campaign: None,
                company_country: Some(country),
                channel: Channel::Import,
                sender: String::new(),
                check_only: false,
                source_ref: None,
                received_at: crate::clock::now(),
                receipt: None,
            },
            None,
        )
        .await?;
    crate::cli::ingest::print_import(args.json, &file_name, result)
}

/// Every lead the filters select, page after page (12 a page), and the pages read.
async fn all_leads(
    client: &Client,
    campaign: Option<&str>,
    filters: &[(&str, String)],
) -> anyhow::Result<(Vec<Lead>, u32)> {
    let mut leads = Vec::new();
    let mut page = 1;
    loop {
        let p = page_with_retries(client, campaign, page, filters).await?;
        let empty = p.leads.is_empty();
        leads.extend(p.leads);
        if empty || page >= p.pages {
            return Ok((leads, page));
        }
        page += 1;
    }
}

async fn page_with_retries(
    client: &Client,
    campaign: Option<&str>,
    page: u32,
    filters: &[(&str, String)],
) -> anyhow::Result<Page> {
    let mut wait = Duration::from_secs(1);
    for attempt in 1..=TRIES {
        match client.search(None, campaign, page, filters).await {
            Ok(p) => return Ok(p),
            Err(e) if attempt < TRIES && temporary(&e) => {
                let after = match &e {
                    CallError::Status {
                        retry_after: Some(a),
                        ..
                    } => (*a).min(Duration::from_secs(300)),
                    _ => wait,
                };
                tracing::warn!(
                    "Talkpush page {page}: {}; trying again in {} s",
                    super::worker::headline(&e.to_string()),
                    after.as_secs()
                );
                tokio::time::sleep(after).await;
                wait *= 2;
            }
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "reading page {page} of the Talkpush leads: {e}; nothing was imported"
                ))
            }
        }
    }
    unreachable!("the last try returns")
}

fn temporary(e: &CallError) -> bool {
    match e {
        CallError::Status { status, .. } => *status == 429 || *status >= 500,
        CallError::Timeout { .. } | CallError::Connect { .. } | CallError::Broken(_) => true,
        CallError::Unexpected(_) | CallError::Setup(_) => false,
    }
}
