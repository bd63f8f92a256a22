//! `bench_ingest`'s databases and file: the cluster's names, the prefilled databases (made by
//! `prefill_postgres` and `prefill_sqlite`, or kept from an earlier `--keep` run) and the xlsx.
use super::*;
/// What every part of the benchmark needs.
pub struct Bench {
    pub bin: PathBuf,
    pub work: PathBuf,
    /// A superuser URL of the cluster.
    pub pg: String,
    /// That URL without its database name.
    pub base: String,
    /// The prefix of every database the benchmark makes (`BENCH_INGEST_DB`, default `bench`).
    pub db: String,
    pub keep: bool,
    pub rows: u64,
    pub repeat: usize,
    pub dir: Directory,
}

impl Bench {
    pub fn url(&self, db: &str) -> String {
        format!("{}/{db}", self.base)
    }

    /// The benchmark's database `{prefix}_{suffix}`.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.db)
    }

    pub async fn admin(&self) -> anyhow::Result<sqlx::PgConnection> {
        Ok(sqlx::PgConnection::connect(&self.pg).await?)
    }

    pub async fn exists(&self, name: &str) -> anyhow::Result<bool> {
        let mut admin = self.admin().await?;
        let have =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(name)
                .fetch_one(&mut admin)
                .await?;
        admin.close().await?;
        Ok(have)
    }

    pub async fn drop_db(&self, name: &str) -> anyhow::Result<()> {
        let mut admin = self.admin().await?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
            .await?;
        admin.close().await?;
        Ok(())
    }

    /// Makes `name` a fresh copy of `template` (untimed), checkpointed so that the copy's writes
    /// are not paid by the next timed step.
    pub async fn fresh_copy(&self, name: &str, template: &str) -> anyhow::Result<()> {
        let mut admin = self.admin().await?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
            .await?;
        admin
            .execute(
                format!("CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY").as_str(),
            )
            .await?;
        admin.execute("CHECKPOINT").await?;
        admin.close().await?;
        Ok(())
    }
}

/// A migrated Postgres database prefilled with `people` (its name): with `--keep`,
/// `{prefix}_prefilled_N`, reused (and migrated by this build) when an earlier `--keep` run left
/// it; else `{prefix}_fresh_N`, made now (drop it after use).
pub async fn postgres_prefilled(b: &Bench, people: u64) -> anyhow::Result<String> {
    let name = b.name(&format!(
        "{}_{people}",
        if b.keep { "prefilled" } else { "fresh" }
    ));
    let url = b.url(&name);
    let t = Instant::now();
    if b.keep && b.exists(&name).await? {
        migrate(&b.bin, &url, &b.work)?;
        println!(
            "--keep: Postgres template {name} reused, migrated in {:.1}s (untimed)",
            t.elapsed().as_secs_f64()
        );
        return Ok(name);
    }
    let mut admin = b.admin().await?;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
        .await?;
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    admin.close().await?;
    migrate(&b.bin, &url, &b.work)?;
    prefill_postgres(&url, &b.dir, people).await?;
    println!(
        "Postgres {name} prefilled with {people} candidates, their blocks and ownerships in {:.0}s \
         (untimed{}); this process's peak RSS so far {:.0} MB",
        t.elapsed().as_secs_f64(),
        if b.keep { ", kept" } else { "" },
        self_peak_mb()
    );
    Ok(name)
}

/// A migrated SQLite database prefilled with `people`, to ingest into (WORK/bench.db): with
/// `--keep` a copy of the template WORK/prefilled-N.db (made now when absent), else made now.
pub async fn sqlite_prefilled(b: &Bench, people: u64) -> anyhow::Result<PathBuf> {
    let path = b.work.join("bench.db");
    let remove = |p: &Path| {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", p.display()));
        }
    };
    remove(&path);
    let template = b.work.join(format!("prefilled-{people}.db"));
    let target = if b.keep { &template } else { &path };
    let t = Instant::now();
    if b.keep && template.exists() {
        migrate(&b.bin, &format!("sqlite://{}", template.display()), &b.work)?;
    } else {
        remove(target);
        let url = format!("sqlite://{}", target.display());
        migrate(&b.bin, &url, &b.work)?;
        prefill_sqlite(&url, &b.dir, people).await?;
        println!(
            "SQLite {} prefilled with {people} in {:.0}s (untimed{})",
            target.display(),
            t.elapsed().as_secs_f64(),
            if b.keep { ", kept" } else { "" }
        );
    }
    if b.keep {
        let t = Instant::now();
        std::fs::copy(&template, &path)?;
        println!(
            "--keep: SQLite copied from {} in {:.1}s (untimed)",
            template.display(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(path)
}

/// Writes the file to ingest, `WORK/{name}`, and says what it holds.
pub fn write_file(
    b: &Bench,
    name: &str,
    rows: &[(Vec<Cell>, &'static str)],
) -> anyhow::Result<PathBuf> {
    let mut kinds = std::collections::BTreeMap::new();
    for (_, k) in rows {
        *kinds.entry(*k).or_insert(0u64) += 1;
    }
    let file = b.work.join(name);
    write_xlsx(&file, rows)?;
    println!(
        "file: {} rows x {} columns, {} bytes; rows by kind: {kinds:?}",
        rows.len(),
        HEADER.len(),
        std::fs::metadata(&file)?.len()
    );
    Ok(file)
}
