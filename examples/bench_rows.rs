//! Not a test: times the row pipeline after the reader (header + normalise + validate) on a
//! generated 100,000-row, 10-column workbook. Run: `cargo run --release --example bench_rows`.

use std::time::Instant;

use agency_portal::directory::{Agency, Campaign, Directory};
use agency_portal::normalise::PhoneRules;
use agency_portal::rows::prepare;
use agency_portal::sheet::{Cell, Format, Row, Sheet, Workbook};
use agency_portal::validation::Context;

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let header = [
        "First Name",
        "Last Name",
        "Email",
        "Mobile",
        "Campaign",
        "Source",
        "City",
        "Notes",
        "Position",
        "Shift",
    ];
    let mut rows = vec![Row {
        number: 1,
        cells: header.iter().map(|h| Cell::Text(h.to_string())).collect(),
    }];
    for i in 0..n {
        let phone = match i % 4 {
            0 => Cell::Text(format!("0917{:07}", i)),
            1 => Cell::Text(format!("+63 918 {:03} {:04}", i % 1000, i % 10000)),
            2 => Cell::Number(9_190_000_000.0 + i as f64),
            _ => Cell::Text(format!("(0920) {:03}-{:04}", i % 1000, i / 10)),
        };
        rows.push(Row {
            number: i + 2,
            cells: vec![
                Cell::Text(format!("José{}", i % 977)),
                Cell::Text(format!("dela Cruz{}", i % 131)),
                Cell::Text(format!("user.{i}+x@Gmail.com")),
                phone,
                Cell::Text("40123".into()),
                Cell::Text("Facebook".into()),
                Cell::Text("Quezon City".into()),
                Cell::Text(format!("note {i}")),
                Cell::Text("CSR".into()),
                Cell::Text("Night".into()),
            ],
        });
    }
    let wb = Workbook {
        format: Format::Xlsx,
        sheets: vec![Sheet {
            name: "Sheet1".into(),
            rows,
        }],
    };
    let d = Directory {
        owners: vec![],
        recruiters: vec![],
        agencies: vec![Agency {
            id: "acme".into(),
            name: "Acme".into(),
            country: "PH".into(),
            active: true,
            added_by: "o@x.example".into(),
            added_on: None,
            logo: None,
            domains: vec!["acme.ph".into()],
            language: agency_portal::i18n::Lang::En,
            users: vec![],
        }],
        campaigns: vec![Campaign {
            id: "40123".into(),
            name: "CS Manila".into(),
            country: "PH".into(),
            active: true,
            created_by: "o@x.example".into(),
            created_on: None,
            required: None,
        }],
    };
    let ctx = Context {
        directory: &d,
        agency: &d.agencies[0],
        submitter_active: true,
        default_campaign: None,
    };

    let rules = PhoneRules::new("PH").unwrap();
    let t = Instant::now();
    let mut ok = 0;
    for r in &wb.sheets[0].rows[1..] {
        if let Ok(Some(_)) = rules.normalise(&r.cells[3]) {
            ok += 1;
        }
    }
    let phones = t.elapsed();
    println!(
        "phones only: {n} in {:.3}s ({:.2} µs each, {ok} valid)",
        phones.as_secs_f64(),
        phones.as_secs_f64() * 1e6 / n as f64
    );

    let cpu0 = thread_cpu_seconds();
    let t = Instant::now();
    let p = prepare(&wb, &ctx).unwrap();
    let all = t.elapsed();
    let cpu = thread_cpu_seconds() - cpu0;
    let valid = p.rows.iter().filter(|r| r.is_valid()).count();
    println!(
        "prepare: {} rows in {:.3}s ({:.0} rows/s), {valid} valid",
        p.rows.len(),
        all.as_secs_f64(),
        p.rows.len() as f64 / all.as_secs_f64()
    );
    println!("prepare CPU time (this thread, utime+stime): {cpu:.2}s");
    if let Some(r) = p.rows.iter().find(|r| !r.is_valid()) {
        println!("first invalid: row {} {:?}", r.number, r.invalid);
    }
}

/// User + system CPU seconds of this thread (from /proc; 10 ms resolution), so the figure does not
/// depend on what else the machine is running.
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields after the command: state is index 0, utime 11, stime 12.
    (ticks(11) + ticks(12)) / 100.0
}
