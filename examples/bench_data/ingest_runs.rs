//! `bench_ingest`'s measured processes: each run as a child of a fresh small process that reads
//! its wall time and peak RSS with `wait4`; and the small figures' helpers.
use super::*;
/// Runs `agency-portal` (a command of [`portal`]) to its end: wall time and peak RSS (kB) of it alone.
///
/// Not measured from this process: Linux counts, in a child's peak RSS (`ru_maxrss`), the peak of
/// the process that spawned it, up to the child's `exec` (the spawner's memory is the child's until
/// then). This benchmark holds a few hundred MB (generated people, the file's rows), so a child
/// spawned from it reported that instead of its own (`/bin/true` spawned from a 300 MB process
/// reports 321 MB). The command is run by this program re-executed with `--measure` (a fresh,
/// small process), which spawns it, waits and writes what `wait4` says.
pub fn run_measured(
    cmd: &mut Command,
    stdout: &Path,
) -> anyhow::Result<(Duration, u64, std::process::ExitStatus)> {
    use std::os::unix::process::ExitStatusExt;
    let status = cmd.status()?;
    anyhow::ensure!(status.success(), "the measuring process failed: {status}");
    let measured = std::fs::read_to_string(stdout.with_extension("rusage"))?;
    let f: Vec<i64> = measured
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(f.len() == 3, "unreadable measurement: {measured:?}");
    Ok((
        Duration::from_nanos(f[0] as u64),
        f[1] as u64,
        std::process::ExitStatus::from_raw(f[2] as i32),
    ))
}

/// `--measure RESULT PROGRAM ARGS…`: runs PROGRAM (stdio, environment and directory inherited), waits
/// for it and writes `wall_ns max_rss_kb raw_wait_status` to RESULT.
pub fn measure(args: &[String]) -> anyhow::Result<()> {
    let [result, program, rest @ ..] = args else {
        anyhow::bail!("--measure RESULT PROGRAM [ARGS…]");
    };
    let t = Instant::now();
    let child = Command::new(program).args(rest).spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: plain wait4 on our own child with valid out-pointers; `child` is never waited on
    // through std afterwards.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = t.elapsed();
    anyhow::ensure!(
        r == pid,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    std::mem::forget(child);
    std::fs::write(
        result,
        format!("{} {} {status}", wall.as_nanos(), usage.ru_maxrss),
    )?;
    Ok(())
}

/// `agency-portal ARGS` against `url`, its output to `stdout` (and `.err`), run by [`measure`].
pub fn portal(bin: &Path, url: &str, args: &[&str], stdout: &Path) -> anyhow::Result<Command> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("--measure")
        .arg(stdout.with_extension("rusage"))
        .arg(bin)
        .args(args)
        .current_dir(&root)
        .env("DATABASE_URL", url)
        .env(
            "AGENCY_PORTAL_CONFIG",
            root.join("config/agency-portal.toml"),
        )
        .stdout(std::fs::File::create(stdout)?)
        .stderr(std::fs::File::create(stdout.with_extension("err"))?);
    Ok(cmd)
}

/// `agency-portal migrate`, then `agency-portal agencies` (which applies the directory).
pub fn migrate(bin: &Path, url: &str, work: &Path) -> anyhow::Result<()> {
    for cmd in ["migrate", "agencies"] {
        let log = work.join(format!("{cmd}.out"));
        let (_, _, status) = run_measured(&mut portal(bin, url, &[cmd], &log)?, &log)?;
        anyhow::ensure!(
            status.success(),
            "agency-portal {cmd} failed: {}",
            std::fs::read_to_string(log.with_extension("err")).unwrap_or_default()
        );
    }
    Ok(())
}

pub fn ingest(bin: &Path, url: &str, file: &Path, out: &Path) -> anyhow::Result<(Duration, u64)> {
    let f = file.to_string_lossy();
    let (wall, rss, status) = run_measured(
        &mut portal(bin, url, &["ingest", &f, "--agency", "acme"], out)?,
        out,
    )?;
    anyhow::ensure!(
        status.success(),
        "agency-portal ingest failed ({status}): {}",
        std::fs::read_to_string(out.with_extension("err")).unwrap_or_default()
    );
    Ok((wall, rss))
}

/// The counts line `ingest` printed.
pub fn counts_line(out: &Path) -> String {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// The median of `v` (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `ru_maxrss` (KiB) in MB of 10^6 bytes, the stricter reading of the budget.
pub fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

/// This process's own peak RSS so far, in MB (what prefilling took).
pub fn self_peak_mb() -> f64 {
    // SAFETY: getrusage on ourselves with a valid out-pointer.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    mb(usage.ru_maxrss as u64)
}

pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "OVER BUDGET"
    }
}
