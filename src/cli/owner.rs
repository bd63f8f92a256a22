//! Owner commands on the records (SPEC §9, §6.5): `candidates`, `submissions`, `review`, `erase`.

use crate::app::{App, BadInput};
use crate::cli::ingest;
use crate::cli::{CandidatesArgs, EraseArgs, ReviewCommand, SubmissionsArgs};
use crate::normalise::{email_key, PhoneRules};
use crate::sheet::Cell;
use crate::store::review::{ReviewError, Verdict};
use crate::views::table;

/// `review show`: the row and the person it may be in two columns.
fn review_pair_text(p: &crate::store::review::ReviewPair) -> String {
    use crate::store::review::ReviewSide;
    let when = |s: &ReviewSide| s.when.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string());
    let col =
        |s: Option<&ReviewSide>, f: &dyn Fn(&ReviewSide) -> String| s.map(f).unwrap_or_default();
    let sides = [Some(&p.this_row), p.may_be.as_ref()];
    let line = |label: &str, f: &dyn Fn(&ReviewSide) -> String| {
        let mut v = vec![label.to_string()];
        v.extend(sides.iter().map(|s| col(*s, f)));
        v
    };
    let rows = vec![
        line("Name", &|s| s.name.clone()),
        line("Email", &|s| opt(&s.email)),
        line("Phone", &|s| opt(&s.phone)),
        line("Agency", &|s| opt(&s.agency)),
        line("Campaign", &|s| opt(&s.campaign)),
        line("When", &|s| when(s).unwrap_or_default()),
    ];
    let other = match p.candidate_id {
        Some(id) => format!("May be candidate {id}"),
        None => "May be".to_string(),
    };
    let mut out = format!(
        "Review row {} ({} row {})
",
        p.row_id, p.file, p.row
    );
    out.push_str(&table(&["", "This row", &other], &rows));
    if !p.rule.is_empty() {
        out.push_str(&format!(
            "Rule: {}
",
            p.rule.join("; ")
        ));
    }
    out.push_str(&format!(
        "Why: {}
",
        p.reason
    ));
    out.push_str(&format!(
        "\naccept {0}: a different person (new); reject {0}: the same person (duplicate)\n",
        p.row_id
    ));
    out
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

pub async fn candidates(app: &App, args: &CandidatesArgs) -> anyhow::Result<()> {
    let rows = app
        .store
        .candidates_view(args.agency.as_deref(), args.campaign.as_deref(), args.since)
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let headers = [
        "id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "agency",
        "campaign",
        "owned_since",
        "owned_until",
        "source",
        "created_at",
        "talkpush",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|c| {
            vec![
                c.id.to_string(),
                c.first_name.clone(),
                c.last_name.clone(),
                opt(&c.email),
                opt(&c.phone),
                opt(&c.agency),
                opt(&c.campaign),
                c.owned_since.map(|t| t.to_rfc3339()).unwrap_or_default(),
                c.owned_until.map(|t| t.to_rfc3339()).unwrap_or_default(),
                c.source.clone(),
                c.created_at.to_rfc3339(),
                c.talkpush.clone().unwrap_or_default(),
            ]
        })
        .collect();
    if args.csv {
        let mut w = csv::Writer::from_writer(std::io::stdout());
        w.write_record(headers)?;
        for row in &cells {
            w.write_record(row.iter().map(|c| csv_safe(c).into_owned()))?;
        }
        w.flush()?;
    } else if cells.is_empty() {
        println!("no candidate matches");
    } else {
        // With Talkpush sync, its state shows too (SPEC §11).
        let talkpush = rows.iter().any(|c| c.talkpush.is_some());
        let short: Vec<Vec<String>> = cells
            .iter()
            .map(|r| {
                let mut v = r[..8].to_vec();
                if talkpush {
                    v.push(r[11].clone());
                }
                v
            })
            .collect();
        let mut head = vec![
            "ID",
            "First name",
            "Last name",
            "Email",
            "Phone",
            "Agency",
            "Campaign",
            "Since",
        ];
        if talkpush {
            head.push("Talkpush");
        }
        print!("{}", table(&head, &short));
    }
    Ok(())
}

pub async fn submissions(app: &App, args: &SubmissionsArgs) -> anyhow::Result<()> {
    let rows = app
        .store
        .submissions_view(args.agency.as_deref(), args.since)
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no submission matches");
        return Ok(());
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|s| {
            let counts = crate::outcome::Outcome::ALL
                .iter()
                .map(|o| format!("{} {}", o.as_str(), s.counts[o.as_str()]))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                s.id.to_string(),
                s.received_at.format("%Y-%m-%d %H:%M").to_string(),
                opt(&s.agency),
                s.channel.clone(),
                s.file.clone(),
                if s.status == "processed" {
                    counts
                } else {
                    format!("{}: {}", s.status, s.reason)
                },
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "ID",
                "Received (UTC)",
                "Agency",
                "Channel",
                "File",
                "Outcomes"
            ],
            &cells
        )
    );
    Ok(())
}

pub async fn review(app: &App, command: Option<ReviewCommand>) -> anyhow::Result<()> {
    let command = command.unwrap_or(ReviewCommand::List { json: false });
    let rules = ingest::pipeline(app).rules;
    let (row_id, accept) = match command {
        ReviewCommand::List { json } => {
            let items = app.store.review_queue().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else if items.is_empty() {
                println!("nothing to review");
            } else {
                let cells: Vec<Vec<String>> = items
                    .iter()
                    .map(|i| {
                        vec![
                            i.row_id.to_string(),
                            opt(&i.agency),
                            format!("{} row {}", i.file, i.row),
                            i.name.clone(),
                            opt(&i.email),
                            opt(&i.phone),
                            i.candidate_id.map(|c| c.to_string()).unwrap_or_default(),
                            i.reason.clone(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(
                        &["ROW-ID", "Agency", "Where", "Name", "Email", "Phone", "May be", "Why"],
                        &cells
                    )
                );
                println!("\naccept ROW-ID: a different person (new); reject ROW-ID: the same person (duplicate)");
            }
            return Ok(());
        }
        ReviewCommand::Show { row_id, json } => {
            let pair = app
                .store
                .review_pair(row_id, rules.name_similarity)
                .await?
                .ok_or_else(|| {
                    BadInput(format!(
                        "row {row_id} is not waiting for review (see `agency-portal review list`)"
                    ))
                })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&pair)?);
            } else {
                print!("{}", review_pair_text(&pair));
            }
            return Ok(());
        }
        ReviewCommand::Accept { row_id } => (row_id, true),
        ReviewCommand::Reject { row_id } => (row_id, false),
    };
    // The user who submitted the row is told, in the decision's transaction (SPEC §7 (r2)).
    let tell = |t: &crate::store::review::ReviewTold| app.composer.tell_review(&app.directory, t);
    match app
        .store
        .decide_review(row_id, accept, rules, crate::clock::now(), Some(&tell))
        .await
    {
        Ok(Verdict::Accepted { candidate_id }) => {
            println!("row {row_id} accepted: new candidate {candidate_id}")
        }
        Ok(Verdict::Rejected) => println!("row {row_id} rejected: duplicate"),
        Err(ReviewError::NotPending(id)) => {
            return Err(BadInput(ReviewError::NotPending(id).to_string()).into())
        }
        Err(e @ ReviewError::Tell(_)) => return Err(e.into()),
        Err(ReviewError::Store(e)) => return Err(e.into()),
    }
    Ok(())
}

pub async fn erase(app: &App, args: &EraseArgs) -> anyhow::Result<()> {
    let mut needles = Vec::new();
    let email = args.email.as_deref().map(|e| {
        needles.push(e.trim().to_string());
        email_key(e.trim())
    });
    let phone = match &args.phone {
        Some(p) => {
            let rules = PhoneRules::new(&args.country).ok_or_else(|| {
                BadInput(format!(
                    "--country {}: not a country code we know",
                    args.country
                ))
            })?;
            let phone = rules
                .normalise(&Cell::Text(p.clone()))
                .map_err(|e| BadInput(format!("--phone: {}", e.describe())))?
                .ok_or_else(|| BadInput("--phone is empty".into()))?;
            needles.push(p.trim().to_string());
            needles.push(phone.e164.clone());
            needles.push(phone.key().to_string());
            Some(phone.key().to_string())
        }
        None => None,
    };
    let erased = app
        .store
        .erase(
            email.as_deref(),
            phone.as_deref(),
            &needles,
            crate::clock::now(),
        )
        .await?;
    println!(
        "erased {} candidate(s) and the values of {} submitted row(s); the attribution is kept without personal data",
        erased.candidates, erased.rows
    );
    Ok(())
}

/// A CSV cell a spreadsheet program opens as text (SPEC §9 (r2)): every value that starts like a
/// formula (`=1+2`, `@SUM(…)`, `-2`, a phone's `+63…`) gets a leading `'`, which Excel and
/// LibreOffice show as nothing.
fn csv_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if crate::results::looks_like_formula(cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod csv_tests {
    #[test]
    fn values_that_start_like_formulas_are_text() {
        assert_eq!(super::csv_safe("=1+2"), "'=1+2");
        assert_eq!(super::csv_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(super::csv_safe("-2+3"), "'-2+3");
        assert_eq!(super::csv_safe("+639171234567"), "'+639171234567");
        assert_eq!(super::csv_safe("+cmd|x"), "'+cmd|x");
        assert_eq!(super::csv_safe("Ana"), "Ana");
    }
}
