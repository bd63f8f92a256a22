//! `bench_ingest`'s baseline (raw read plus `COPY` into an empty indexed table) and, with
//! `--floor`, the records floor (what an ingest stored, written again by `COPY`).
use super::*;
/// The baseline, timed on the database at `url`: a raw calamine read of `file` (its first sheet's
/// range; the time, and the rows read) and a server-side `COPY` of `copy_csv` (the same rows as
/// candidate columns) into an empty table with the candidates' columns and indexes.
pub async fn baseline(
    file: &Path,
    copy_csv: &Path,
    url: &str,
) -> anyhow::Result<(Duration, usize, Duration)> {
    let bytes = std::fs::read(file)?;
    let t = Instant::now();
    let mut wb: Xlsx<_> = Xlsx::new(Cursor::new(&bytes[..]))?;
    let name = wb.sheet_names()[0].clone();
    let range = wb.worksheet_range(&name)?;
    let raw_read = t.elapsed();
    let raw_rows = range.height();
    drop((range, wb));
    drop(bytes);
    let mut conn = sqlx::PgConnection::connect(url).await?;
    conn.execute(
        "DROP TABLE IF EXISTS bench_copy;
         CREATE TABLE bench_copy (LIKE candidates INCLUDING DEFAULTS INCLUDING IDENTITY);
         CREATE INDEX bench_copy_email_key ON bench_copy (email_key);
         CREATE INDEX bench_copy_phone_key ON bench_copy (phone_key);
         ALTER TABLE bench_copy ADD PRIMARY KEY (id);",
    )
    .await?;
    let t = Instant::now();
    sqlx::query(&format!(
        "COPY bench_copy ({CANDIDATE_COLUMNS}) FROM '{}' WITH (FORMAT csv)",
        copy_csv.display()
    ))
    .execute(&mut conn)
    .await?;
    let copy = t.elapsed();
    conn.execute("DROP TABLE bench_copy").await?;
    conn.close().await?;
    Ok((raw_read, raw_rows, copy))
}

/// What one submission stored, in the order it is written: candidates, the submission, its
/// ownerships, its row outcomes (`COPY` text files, read back by the server).
pub const RECORDS: [(&str, &str); 4] = [
    (
        "candidates",
        "SELECT c.* FROM candidates c JOIN ownerships o ON o.candidate_id = c.id
          AND o.submission_id = $S WHERE c.created_at = (SELECT received_at FROM submissions
          WHERE id = $S) ORDER BY c.id",
    ),
    ("submissions", "SELECT * FROM submissions WHERE id = $S"),
    (
        "ownerships",
        "SELECT * FROM ownerships WHERE submission_id = $S ORDER BY id",
    ),
    (
        "submission_rows",
        "SELECT * FROM submission_rows WHERE submission_id = $S ORDER BY id",
    ),
];

/// The records the last submission on `url` stored, as files in `work` ([`RECORDS`]).
pub async fn export_records(url: &str, work: &Path) -> anyhow::Result<Vec<PathBuf>> {
    use futures::TryStreamExt;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let id: i64 = sqlx::query_scalar("SELECT max(id) FROM submissions")
        .fetch_one(&mut conn)
        .await?;
    let mut files = Vec::new();
    for (table, select) in RECORDS {
        let sql = format!("COPY ({}) TO STDOUT", select.replace("$S", &id.to_string()));
        let mut out = Vec::new();
        let mut stream = conn.copy_out_raw(&sql).await?;
        while let Some(bytes) = stream.try_next().await? {
            out.extend_from_slice(&bytes);
        }
        drop(stream);
        let file = work.join(format!("records-{table}.copy"));
        std::fs::write(&file, out)?;
        files.push(file);
    }
    conn.close().await?;
    Ok(files)
}

/// The records' floor, timed on the database at `url` (a fresh copy of the prefilled one): the
/// records of `files` ([`export_records`]) written by server-side `COPY` in one transaction, as
/// the product writes them but with nothing read, decided or sent over the wire. The block index
/// (runs merged per bucket) and the updates of `previously_submitted` records are left out: a
/// lower bound of what storing a file costs. Each table's time.
pub async fn records_floor(url: &str, files: &[PathBuf]) -> anyhow::Result<Vec<Duration>> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let mut times = Vec::new();
    conn.execute("BEGIN").await?;
    for ((table, _), file) in RECORDS.iter().zip(files) {
        let t = Instant::now();
        conn.execute(format!("COPY {table} FROM '{}'", file.display()).as_str())
            .await?;
        times.push(t.elapsed());
    }
    conn.execute("ROLLBACK").await?;
    conn.close().await?;
    Ok(times)
}

/// The records floor of pair `n`: what the ingest on `{prefix}_run` stored, written again into
/// a fresh copy of `template` ([`records_floor`]); printed, and returned with the raw read as a
/// multiple of the baseline.
pub async fn records_floor_pair(
    b: &Bench,
    n: usize,
    template: &str,
    baseline: Duration,
    raw_read: Duration,
) -> anyhow::Result<f64> {
    let run = b.name("run");
    let files = export_records(&b.url(&run), &b.work).await?;
    b.fresh_copy(&run, template).await?;
    let times = records_floor(&b.url(&run), &files).await?;
    let total: Duration = times.iter().sum();
    let secs = |t: &Duration| format!("{:.3}s", t.as_secs_f64());
    println!(
        "pair {n}/{}: records floor (the ingest's candidates {}, submission {}, ownerships {}, row outcomes {}: server-side COPY into a fresh copy, one transaction; no block index, no updates) {:.3}s, {:.2}x the baseline; with the raw read {:.2}x",
        b.repeat,
        secs(&times[0]),
        secs(&times[1]),
        secs(&times[2]),
        secs(&times[3]),
        total.as_secs_f64(),
        total.as_secs_f64() / baseline.as_secs_f64(),
        (total + raw_read).as_secs_f64() / baseline.as_secs_f64()
    );
    for f in files {
        let _ = std::fs::remove_file(f);
    }
    Ok((total + raw_read).as_secs_f64() / baseline.as_secs_f64())
}
