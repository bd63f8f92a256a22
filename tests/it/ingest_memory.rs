//! Peak memory of the real command on big files (SPEC §5 (r2), issue 10): a 199,000-row,
//! 16-column file (inside every limit) is ingested under 256 MB, through read, decide, store and the
//! workbooks; a 400,000-row file is refused (over `max_rows`) under 128 MB. The command runs as a
//! child process; its peak resident size is what the kernel counted for it (`wait4`'s
//! `ru_maxrss`), not a timing.
//!
//! A child started by `vfork` (how `Command` spawns without `pre_exec`) is charged the peak of this
//! process (the workbook just generated) when it execs; one started by `fork` is charged only this
//! process's resident size at the fork, made small first (`malloc_trim`): the peak counted is the
//! larger of that and the command's own. Under nextest this process runs this test alone; under
//! `cargo test` other tests of the binary run in its threads, and what they hold at the fork is in
//! that size, which the messages show (`at the fork`).

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::Stdio;

use rust_xlsxwriter::Workbook;

use crate::support;

const MB: u64 = 1024;

/// A realistic agency file of `rows` people: names, emails, PH mobiles, the campaign, and
/// `custom` short custom columns.
fn agency_xlsx(path: &Path, rows: u32, custom: usize) {
    const FIRST: &[&str] = &[
        "Maria", "Jose", "Ana", "Juan", "Mark", "Angel", "Kristine", "John", "Michael", "Jerome",
        "Rhea", "Liza", "Paolo", "Carla", "Ramon", "Joy", "Mae", "Ronald", "Grace", "Arnel",
    ];
    const LAST: &[&str] = &[
        "Santos",
        "Reyes",
        "Cruz",
        "Bautista",
        "Ocampo",
        "Garcia",
        "Mendoza",
        "Torres",
        "Dela Cruz",
        "Villanueva",
        "Castillo",
        "Ramos",
        "Aquino",
        "Navarro",
        "Flores",
        "Lim",
    ];
    const CUSTOM: &[&[&str]] = &[
        &["Source", "FB", "Jobstreet", "Walk-in", "Referral"],
        &["Site", "QC", "Makati", "Pasig", "Cebu"],
        &["Shift", "Day", "Night", "Mid"],
        &["Level", "L1", "L2", "L3"],
        &["Notes", "ok", "call back", "no answer"],
        &["City", "Manila", "Quezon", "Taguig", "Davao"],
        &["Education", "HS", "College", "Grad"],
        &["Experience", "0-1y", "1-3y", "3y+"],
        &["Language", "EN", "TL", "EN/TL"],
        &["Status", "new", "pending"],
        &["Referrer", "R1", "R2", "R3", "R4", "R5"],
    ];
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet_with_low_memory();
    let heads = ["First Name", "Last Name", "Email", "Mobile", "Campaign"];
    for (c, h) in heads.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for (k, col) in CUSTOM.iter().take(custom).enumerate() {
        ws.write_string(0, (heads.len() + k) as u16, col[0])
            .unwrap();
    }
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for i in 0..rows {
        let r = i + 1;
        let first = FIRST[next(FIRST.len())];
        let last = LAST[next(LAST.len())];
        let short: String = last.chars().filter(|c| *c != ' ').take(4).collect();
        let email = format!("{}{}{i}@gmail.com", &first[..1], short).to_lowercase();
        let mobile = format!("09{}{:07}", [17, 18, 19, 27, 55][next(5)], i);
        ws.write_string(r, 0, first).unwrap();
        ws.write_string(r, 1, last).unwrap();
        ws.write_string(r, 2, &email).unwrap();
        ws.write_string(r, 3, &mobile).unwrap();
        ws.write_number(r, 4, 40123).unwrap();
        for (k, col) in CUSTOM.iter().take(custom).enumerate() {
            let value = col[1 + next(col.len() - 1)];
            ws.write_string(r, (heads.len() + k) as u16, value).unwrap();
        }
    }
    wb.save(path).unwrap();
}

/// What a finished child printed, how it ended and its peak resident size in KiB.
struct Run {
    code: i32,
    stderr: String,
    peak_kb: u64,
    /// This process's resident size when it forked the child, in KiB: a floor under `peak_kb`.
    parent_kb: u64,
}

/// This process's resident size in KiB (`VmRSS` of /proc/self/status).
fn resident_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// `agency-portal ingest FILE --agency acme [extra]` on a fresh SQLite database in `dir`, with the
/// shipped config; waited for with `wait4`, whose `ru_maxrss` is the child's own peak.
fn ingest(dir: &Path, file: &Path, extra: &[&str]) -> Run {
    let stderr_path = dir.join("stderr.txt");
    // SAFETY: malloc_trim only returns this process's free pages to the system.
    unsafe {
        libc::malloc_trim(0);
    }
    let parent_kb = resident_kb();
    let mut cmd = support::portal(&support::shipped_config());
    // SAFETY: does nothing; a pre_exec hook makes the child a fork, not a vfork (see above).
    unsafe {
        cmd.pre_exec(|| Ok(()));
    }
    // Reaped by wait4 below, which std's wait would not let read the child's usage.
    #[allow(clippy::zombie_processes)]
    let child = cmd
        .args(["ingest"])
        .arg(file)
        .args(["--agency", "acme"])
        .args(extra)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("portal.db").display()),
        )
        .env("AGENCY_PORTAL_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("the binary runs");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for the child it reaps, which is
    // ours and not waited for elsewhere (the Child is not used after).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 reaped the child");
    let status = std::process::ExitStatus::from_raw(status);
    Run {
        code: status.code().expect("exited normally"),
        stderr: std::fs::read_to_string(&stderr_path).unwrap(),
        // Linux counts ru_maxrss in KiB.
        peak_kb: usage.ru_maxrss as u64,
        parent_kb,
    }
}

#[test]
fn a_400000_row_file_is_refused_under_128_mb() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("too many.xlsx");
    agency_xlsx(&file, 400_000, 0);
    let run = ingest(tmp.path(), &file, &[]);
    eprintln!(
        "400,000 x 5 refused: peak RSS {} MB ({} MB at the fork)",
        run.peak_kb / MB,
        run.parent_kb / MB
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("more than 200000 rows"),
        "{}",
        run.stderr
    );
    assert!(
        run.peak_kb < 128 * MB,
        "peak RSS {} MB, over 128 MB ({} MB at the fork)",
        run.peak_kb / MB,
        run.parent_kb / MB
    );
}

#[test]
fn a_199000_row_16_column_file_is_ingested_under_256_mb() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("big.xlsx");
    agency_xlsx(&file, 199_000, 11);
    let run = ingest(tmp.path(), &file, &[]);
    eprintln!(
        "199,000 x 16 ingested: peak RSS {} MB ({} MB at the fork)",
        run.peak_kb / MB,
        run.parent_kb / MB
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.peak_kb < 256 * MB,
        "peak RSS {} MB, over 256 MB ({} MB at the fork)",
        run.peak_kb / MB,
        run.parent_kb / MB
    );
}
