//! The peer of `bench_ingest` (issue [14], acceptance 1): `../shared/bench/peer.py`, what an
//! operations engineer writes instead of agency-portal (pandas, phonenumbers, psycopg `COPY`), run
//! as a whole process on the same file, against `peer_candidates` holding the same prefilled people
//! as the product's database. See that directory's README.
use super::*;

/// The peer's script and the python (of a private venv, made by `scripts/bench-ingest`) to run it.
pub struct Peer {
    pub python: PathBuf,
    pub script: PathBuf,
}

/// One run of the peer: wall time and peak RSS (kB) of the whole process, and the last line it
/// said on stderr (its outcome counts and its own time).
pub struct Run {
    pub wall: Duration,
    pub rss: u64,
    pub said: String,
}

/// The product's prefilled people as `peer_candidates` columns (first_name, last_name, email,
/// email_key, phone_key, agency): the email lower-cased as the peer makes its key, the phone in
/// E.164, the owner as the prefill gives it ([`super::owner`]). The one place that reads the
/// product's tables.
const PEOPLE: &str = "SELECT first_name, last_name, email, lower(btrim(email)), phone, \
     CASE WHEN id % 2 = 0 THEN 'acme' ELSE 'bayanihan' END FROM candidates ORDER BY id";

/// Makes `{prefix}_peer`: the peer's `peer_setup.sql` (next to its script), then the people of the
/// product's prefilled database `from` loaded with `COPY` ([`PEOPLE`]), then a unique index on
/// email_key and an index on phone_key, as the peer's README says. Its name.
pub async fn load(b: &Bench, peer: &Peer, from: &str) -> anyhow::Result<String> {
    use futures::TryStreamExt;
    let t = Instant::now();
    let name = b.name("peer");
    let mut admin = b.admin().await?;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
        .await?;
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    admin.close().await?;
    let setup_file = peer.script.with_file_name("peer_setup.sql");
    let setup = std::fs::read_to_string(&setup_file)
        .map_err(|e| anyhow::anyhow!("reading the peer's {}: {e}", setup_file.display()))?;
    let mut to = sqlx::PgConnection::connect(&b.url(&name)).await?;
    to.execute(setup.as_str()).await?;
    let mut source = sqlx::PgConnection::connect(&b.url(from)).await?;
    let mut copy = to
        .copy_in_raw(
            "COPY peer_candidates (first_name, last_name, email, email_key, phone_key, agency) \
             FROM STDIN",
        )
        .await?;
    let mut out = source
        .copy_out_raw(&format!("COPY ({PEOPLE}) TO STDOUT"))
        .await?;
    while let Some(bytes) = out.try_next().await? {
        copy.send(bytes).await?;
    }
    drop(out);
    let loaded = copy.finish().await?;
    source.close().await?;
    to.execute(
        "CREATE UNIQUE INDEX peer_candidates_email_key ON peer_candidates (email_key);
         CREATE INDEX peer_candidates_phone_key ON peer_candidates (phone_key);",
    )
    .await?;
    to.execute("VACUUM ANALYZE peer_candidates").await?;
    let odd: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM peer_candidates WHERE phone_key !~ '^\\+[1-9][0-9]{6,14}$'
          OR email_key IS DISTINCT FROM lower(email)",
    )
    .fetch_one(&mut to)
    .await?;
    to.close().await?;
    anyhow::ensure!(
        odd == 0,
        "{odd} of the peer's prefilled people have a phone_key not in E.164 or an email_key not \
         the lower-cased email: see PEOPLE in examples/bench_data/ingest_peer.rs"
    );
    println!(
        "peer: {name} loaded with the {loaded} people of {from} in {:.0}s (untimed)",
        t.elapsed().as_secs_f64()
    );
    Ok(name)
}

/// Says whether the columns the peer reads by name (`df["…"]` it does not make itself) are all in
/// the bench file's header.
pub fn check_headers(peer: &Peer) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&peer.script)?;
    let mut read: Vec<&str> = Vec::new();
    let mut made: Vec<&str> = Vec::new();
    for (at, _) in text.match_indices("df[\"") {
        let rest = &text[at + 4..];
        let Some(end) = rest.find("\"]") else {
            continue;
        };
        let name = &rest[..end];
        let assigned = rest[end + 2..].trim_start().starts_with("= ");
        let list = if assigned { &mut made } else { &mut read };
        if !list.contains(&name) {
            list.push(name);
        }
    }
    read.retain(|n| !made.contains(n));
    let missing: Vec<&&str> = read.iter().filter(|n| !HEADER.contains(n)).collect();
    if missing.is_empty() {
        println!("peer: reads the columns {read:?}: all in the file's header {HEADER:?}");
    } else {
        println!(
            "peer: HEADER MISMATCH: it reads {missing:?}, which the file's header {HEADER:?} lacks"
        );
    }
    Ok(())
}

/// Checks what the peer stored on `url` (beyond the `prefilled` people): it takes the columns of
/// a row by position (first name, last name, email as the 1st, 2nd and 4th), so a file with
/// another column order would store the wrong fields. Says what it found.
pub async fn check_stored(url: &str, prefilled: u64) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let (stored, wrong): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE email_key IS DISTINCT FROM lower(btrim(email))
           OR first_name = '' OR last_name = '')
         FROM peer_candidates WHERE id > $1",
    )
    .bind(prefilled as i64)
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    if wrong == 0 {
        println!(
            "peer: stored {stored} new people, each with its names and its email in their columns"
        );
    } else {
        println!(
            "peer: COLUMN MISMATCH: of {stored} new people it stored, {wrong} have no name or an \
             email column that is not their email (it takes the 1st, 2nd and 4th cells)"
        );
    }
    Ok(())
}

/// Runs the peer on `file` against the database at `url` (as agency acme), measured as a whole
/// process by [`super::measure`]; its stdout in `out`, its stderr in `out`.err.
pub fn run(peer: &Peer, url: &str, file: &Path, out: &Path) -> anyhow::Result<Run> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("--measure")
        .arg(out.with_extension("rusage"))
        .arg(&peer.python)
        .arg(&peer.script)
        .arg(url)
        .arg(file)
        .arg("acme")
        .stdout(std::fs::File::create(out)?)
        .stderr(std::fs::File::create(out.with_extension("err"))?);
    let (wall, rss, status) = run_measured(&mut cmd, out)?;
    let err = std::fs::read_to_string(out.with_extension("err")).unwrap_or_default();
    anyhow::ensure!(
        status.success(),
        "the peer {} failed ({status}); its stderr ({}) ends with:\n{}",
        peer.script.display(),
        out.with_extension("err").display(),
        err.lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    Ok(Run {
        wall,
        rss,
        said: err.lines().last().unwrap_or_default().to_string(),
    })
}
