//! Not a test: the sheet benchmark of issue 3 (acceptance 6). Run it with `scripts/bench-sheets`, or
//! `cargo run --release --example bench_sheets -- [ROWS] [REPEATS]`.
//!
//! A generated xlsx of ROWS (default 100,000) Philippine candidates in 10 columns (first name, last
//! name, email, mobile — a number cell in 40% of the rows, as Excel stores a typed 9171234567 —,
//! campaign 40123, and five custom columns) is read, mapped, normalised and validated by
//! `pipeline::read_and_prepare` with the shipped directory as agency acme, and, as the same-run
//! baseline, read raw by calamine: the workbook opened from the same bytes and the first sheet's
//! `worksheet_range` (calamine's ordinary read). Each measurement runs in its own child process (this
//! program, re-executed) so the peak RSS figures (VmHWM) are separate; times are the best of
//! REPEATS (default 3) runs, measured inside the child from the bytes in memory to the result.
//! Budget: read + prepare at most 1.5 × the raw read's time and at most 150 MB peak RSS.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use agency_portal::intake::pipeline::{read_and_prepare, Input};
use agency_portal::sheet::Limits;
use agency_portal::submission::Channel;
use calamine::{Reader, Xlsx};
use chrono::Utc;

#[path = "bench_data/mod.rs"]
mod bench_data;
use bench_data::*;

const TIME_RATIO_MAX: f64 = 1.5;
const RSS_MAX_MB: f64 = 150.0;

const POSITIONS: &[&str] = &["CSR", "TSR", "Team Leader", "QA Analyst", "Chat Support"];
const SHIFTS: &[&str] = &["Night", "Day", "Mid", "Flexible"];

fn local_part(s: &str) -> String {
    deunicode::deunicode(s)
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// Writes the benchmark workbook.
fn generate(path: &Path, rows: u32) -> anyhow::Result<()> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    let header = [
        "First Name",
        "Last Name",
        "Email",
        "Mobile",
        "Campaign",
        "Source",
        "City",
        "Position",
        "Shift",
        "Notes",
    ];
    for (c, h) in header.iter().enumerate() {
        ws.write_string(0, c as u16, *h)?;
    }
    let mut rng = Rng(2026);
    for i in 0..rows {
        let r = i + 1;
        let first = rng.pick(FIRST);
        let last = rng.pick(LAST);
        ws.write_string(r, 0, first)?;
        ws.write_string(r, 1, last)?;
        let email = format!(
            "{}.{}{}@{}",
            local_part(first),
            local_part(last),
            i,
            rng.pick(DOMAINS)
        );
        ws.write_string(
            r,
            2,
            if i % 7 == 0 {
                email.to_uppercase()
            } else {
                email
            },
        )?;
        let prefix = rng.pick(PREFIXES);
        let sub = (u64::from(i) * 7919 + rng.below(7)) % 10_000_000;
        match rng.below(10) {
            0..4 => {
                let n: f64 = format!("{prefix}{sub:07}").parse()?;
                ws.write_number(r, 3, n)?;
            }
            4..7 => {
                ws.write_string(
                    r,
                    3,
                    format!("0{prefix} {:03} {:04}", sub / 10_000, sub % 10_000),
                )?;
            }
            7..9 => {
                ws.write_string(
                    r,
                    3,
                    format!("+63 {prefix} {:03} {:04}", sub / 10_000, sub % 10_000),
                )?;
            }
            _ => {
                ws.write_string(r, 3, format!("63{prefix}{sub:07}"))?;
            }
        }
        ws.write_number(r, 4, 40123.0)?;
        ws.write_string(r, 5, rng.pick(SOURCES))?;
        ws.write_string(r, 6, rng.pick(CITIES))?;
        ws.write_string(r, 7, rng.pick(POSITIONS))?;
        ws.write_string(r, 8, rng.pick(SHIFTS))?;
        if rng.below(3) == 0 {
            ws.write_string(
                r,
                9,
                format!("available from 2026-12-{:02}", 1 + rng.below(28)),
            )?;
        }
    }
    wb.save(path)?;
    Ok(())
}

/// Peak resident set of this process, in kB.
fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A child's measurement: `seconds rows peak_kb`.
fn child(mode: &str, path: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(path)?;
    let (secs, rows, extra) = match mode {
        "raw" => {
            let t = Instant::now();
            let mut wb: Xlsx<_> = Xlsx::new(Cursor::new(&bytes[..]))?;
            let name = wb.sheet_names()[0].clone();
            let range = wb.worksheet_range(&name)?;
            let secs = t.elapsed().as_secs_f64();
            (secs, range.height(), String::new())
        }
        "read" => {
            let t = Instant::now();
            let wb = agency_portal::sheet::read(&bytes, &Limits::default())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            (
                t.elapsed().as_secs_f64(),
                wb.sheets[0].rows.len(),
                String::new(),
            )
        }
        "prepare" => {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let dir = agency_portal::directory::load(&root.join("config/directory.toml"))
                .map_err(|p| anyhow::anyhow!("{p}"))?;
            let input = Input {
                file_name: "bench.xlsx".into(),
                bytes,
                agency_id: "acme".into(),
                user_email: None,
                default_campaign: None,
                company_country: None,
                channel: Channel::Cli,
                sender: String::new(),
                check_only: true,
                source_ref: None,
                received_at: Utc::now(),
                receipt: None,
            };
            let t = Instant::now();
            let (_, rows) = read_and_prepare(&dir, &input, &Limits::default(), None)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let secs = t.elapsed().as_secs_f64();
            let valid = rows.iter().filter(|r| r.is_valid()).count();
            let first_invalid = rows
                .iter()
                .find(|r| !r.is_valid())
                .and_then(|r| r.invalid.clone())
                .unwrap_or_default();
            (secs, rows.len(), format!("{valid} {first_invalid}"))
        }
        other => anyhow::bail!("unknown mode {other}"),
    };
    println!("{secs} {rows} {} {extra}", vm_hwm_kb());
    Ok(())
}

struct Run {
    secs: f64,
    rows: usize,
    peak_kb: u64,
    extra: String,
}

fn measure(mode: &str, path: &Path) -> anyhow::Result<Run> {
    let out = Command::new(std::env::current_exe()?)
        .arg("--child")
        .arg(mode)
        .arg(path)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{mode} child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    let mut f = text.trim().splitn(4, ' ');
    let mut next = || f.next().unwrap_or_default().to_string();
    Ok(Run {
        secs: next().parse()?,
        rows: next().parse()?,
        peak_kb: next().parse()?,
        extra: next(),
    })
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        return child(&args[2], Path::new(&args[3]));
    }
    let rows: u32 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let repeats: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let tmp = tempfile::tempdir()?;
    let path = match std::env::var_os("BENCH_SHEETS_FILE") {
        Some(p) => PathBuf::from(p),
        None => tmp.path().join("bench.xlsx"),
    };
    let t = Instant::now();
    generate(&path, rows)?;
    println!(
        "generated {rows} rows x 10 columns: {} bytes in {:.1}s",
        std::fs::metadata(&path)?.len(),
        t.elapsed().as_secs_f64()
    );
    let mut raw: Vec<Run> = Vec::new();
    let mut prep: Vec<Run> = Vec::new();
    let mut read: Vec<Run> = Vec::new();
    for _ in 0..repeats {
        raw.push(measure("raw", &path)?);
        prep.push(measure("prepare", &path)?);
        read.push(measure("read", &path)?);
    }
    let best = |v: &[Run]| v.iter().map(|r| r.secs).fold(f64::INFINITY, f64::min);
    let peak = |v: &[Run]| v.iter().map(|r| r.peak_kb).max().unwrap_or(0) as f64 / 1024.0;
    let (raw_s, prep_s) = (best(&raw), best(&prep));
    let fmt = |v: &[Run]| {
        v.iter()
            .map(|r| format!("{:.3}", r.secs))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "raw calamine read (worksheet_range): best {raw_s:.3}s of [{}], {:.0} rows/s, peak RSS {:.1} MB, {} rows",
        fmt(&raw),
        raw[0].rows as f64 / raw_s,
        peak(&raw),
        raw[0].rows
    );
    let (valid, first_invalid) = prep[0]
        .extra
        .split_once(' ')
        .unwrap_or((prep[0].extra.as_str(), ""));
    println!(
        "read + map + normalise + validate: best {prep_s:.3}s of [{}], {:.0} rows/s, peak RSS {:.1} MB, {} rows ({valid} valid{})",
        fmt(&prep),
        prep[0].rows as f64 / prep_s,
        peak(&prep),
        prep[0].rows,
        if first_invalid.is_empty() { String::new() } else { format!("; first invalid: {first_invalid}") }
    );
    println!(
        "  of which sheet::read alone (zip guard + cells reader + rows): best {:.3}s, peak RSS {:.1} MB",
        best(&read),
        peak(&read)
    );
    let ratio = prep_s / raw_s;
    let ok_time = ratio <= TIME_RATIO_MAX;
    let ok_rss = peak(&prep) <= RSS_MAX_MB;
    println!(
        "time {ratio:.2}x the raw read (budget {TIME_RATIO_MAX}x): {}; peak RSS {:.1} MB (budget {RSS_MAX_MB} MB): {}",
        if ok_time { "ok" } else { "OVER BUDGET" },
        peak(&prep),
        if ok_rss { "ok" } else { "OVER BUDGET" }
    );
    if !(ok_time && ok_rss) {
        std::process::exit(1);
    }
    Ok(())
}
