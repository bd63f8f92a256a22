//! Migrations that rewrite stored data, on both backends: a database migrated up to the version
//! before, holding data as that version stored it, reads after the migration exactly as the code
//! of today would have written it (block keys: 0006 phones, 0008 emails, 0009 hashes on Postgres,
//! 0010 phones, 0011 their contacts on Postgres, 0015 keys without names, made again by the store
//! once migrated); and 0014's key collation on Postgres.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;

use agency_portal::review_prefilter::stored_blocks;
use agency_portal::store::blocks;
use agency_portal::who_is_who::{self, Identity};
use sqlx::migrate::Migrator;
use sqlx::{Connection, PgConnection, Row, SqliteConnection};

/// The people of the test: Philippine and Brazilian mobiles (12 and 13 digits), an 11-digit
/// number, a 10-digit one (keeps the old keys), one without a phone, one without a last name;
/// email local parts long, short (one and two characters), with a dot, with letters beyond ASCII.
fn people() -> Vec<Identity> {
    let p = |first: &str, last: &str, email: Option<&str>, phone: Option<&str>| Identity {
        first: first.into(),
        last: last.into(),
        email_key: email.map(Into::into),
        phone_key: phone.map(Into::into),
    };
    vec![
        p(
            "ana",
            "reyes",
            Some("anareyes@gmail.com"),
            Some("639171234567"),
        ),
        p("joao", "silva", None, Some("5511987654321")),
        p("zoe", "adams", Some("zoe@example.com"), Some("61212345678")),
        p("li", "wei", None, Some("6591234567")),
        p("ben", "cruz", Some("ben.cruz@acme.ph"), None),
        p("maria", "", None, Some("639189876543")),
        p("ines", "munoz", Some("ines.muñoz.1987@correo.es"), None),
        p("x", "y", Some("x@y.ph"), None),
        p("jo", "ly", Some("jo@ly.ph"), Some("639170000001")),
        p("олег", "ivanov", None, Some("79161234567")),
        p("", "tan", None, Some("6512345678")),
    ]
}

/// The block keys as versions before 0006 stored them: phones by their last 7 digits, 3 + 1 + 3;
/// email local parts by halves, their first and last (n - 1) / 2 characters (before 0008).
fn old_block_keys(id: &Identity) -> Vec<String> {
    let mut letters: Vec<char> = [&id.first, &id.last]
        .iter()
        .filter_map(|s| s.chars().next())
        .collect();
    letters.sort_unstable();
    if letters.is_empty() {
        return Vec::new();
    }
    let sig: String = letters.into_iter().collect();
    let mut keys = Vec::new();
    if let Some((local, domain)) = id.email_key.as_deref().and_then(|e| e.rsplit_once('@')) {
        let chars: Vec<char> = local.chars().collect();
        let n = chars.len();
        let h = n.saturating_sub(1) / 2;
        let head: String = chars[..h].iter().collect();
        let tail: String = chars[n - h..].iter().collect();
        keys.push(format!("{sig}|e:{domain}:h{n}:{head}"));
        keys.push(format!("{sig}|e:{domain}:t{n}:{tail}"));
    }
    if let Some(digits) = &id.phone_key {
        let n = digits.len();
        let sub = &digits[n - 7..];
        keys.push(format!("{sig}|p{n}h:{}", &sub[..3]));
        keys.push(format!("{sig}|p{n}t:{}", &sub[4..]));
    }
    keys
}

/// A migrator of the migrations in `dir` before `version`.
async fn migrator_before(dir: &str, version: i64, tmp: &Path) -> Migrator {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let v: i64 = name.split('_').next().unwrap().parse().unwrap();
        if v < version {
            std::fs::copy(&path, tmp.join(&name)).unwrap();
        }
    }
    Migrator::new(tmp).await.unwrap()
}

/// The same test on either backend's connection (`$conn`, the migrations in `$dir`).
macro_rules! old_block_keys_are_rewritten {
    ($url:expr, $conn:expr, $dir:expr, |$c:ident, $cid:ident| $stored:expr, $as_stored:expr) => {{
        let dir: &str = $dir;
        let tmp = tempfile::tempdir().unwrap();
        let before = migrator_before(dir, 6, tmp.path()).await;
        let mut conn = $conn;
        before.run(&mut conn).await.unwrap();
        let people = people();
        for (i, id) in people.iter().enumerate() {
            let cid = i as i64 + 1;
            sqlx::query(
                "INSERT INTO candidates (id, first_key, last_key, email_key, phone_key, source,
                   created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'agency', '2026-01-01', '2026-01-01')",
            )
            .bind(cid)
            .bind(&id.first)
            .bind(&id.last)
            .bind(&id.email_key)
            .bind(&id.phone_key)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("candidate {cid}: {e}"));
            for key in old_block_keys(id) {
                sqlx::query("INSERT INTO candidate_blocks (key, candidate_id) VALUES ($1, $2)")
                    .bind(key)
                    .bind(cid)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
        }
        let all = Migrator::new(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
            .await
            .unwrap();
        all.run(&mut conn).await.unwrap();
        // 0015 emptied the block index; the store makes it again once (and only once) it opens.
        for _ in 0..2 {
            agency_portal::store::Store::open($url).await.unwrap().close().await;
        }
        for (i, id) in people.iter().enumerate() {
            let cid = i as i64 + 1;
            let stored: BTreeSet<String> = {
                let $c = &mut conn;
                let $cid = cid;
                $stored
            };
            let expected: BTreeSet<String> = $as_stored(id);
            assert_eq!(stored, expected, "candidate {cid} ({:?})", id.phone_key);
        }
        // Every rewritten key is one the lookups of today find, and the old ones are gone.
        let ana = &people[0];
        assert!(who_is_who::lookup_keys(ana)
            .iter()
            .any(|k| k == "p:ac11:391567"));
        assert!(who_is_who::lookup_keys(ana)
            .iter()
            .any(|k| k == "e:gmail.com:abd8:aaes"));
        conn.close().await.ok();
    }};
}

#[tokio::test]
async fn old_block_keys_are_rewritten_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("{}?mode=rwc", support::fresh_sqlite_url(tmp.path()));
    let conn = SqliteConnection::connect(&url).await.unwrap();
    old_block_keys_are_rewritten!(
        &url,
        conn,
        "migrations/sqlite",
        |c, cid| sqlx::query("SELECT key FROM candidate_blocks WHERE candidate_id = $1")
            .bind(cid)
            .fetch_all(c)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect(),
        |id: &Identity| who_is_who::block_keys(id).into_iter().collect()
    );
}

#[tokio::test]
async fn old_block_keys_are_rewritten_on_postgres() {
    let url = support::fresh_postgres_url().await;
    let conn = PgConnection::connect(&url).await.unwrap();
    // Postgres keeps the keys' hashes (0009) and their contacts (0011), as the code makes them,
    // packed in runs (0013) as the code reads them.
    old_block_keys_are_rewritten!(
        &url,
        conn,
        "migrations/postgres",
        |c, cid| blocks::entries_of(c, cid)
            .await
            .unwrap()
            .into_iter()
            .map(|(hash, near, phone_len)| format!("{hash} {near} {phone_len}"))
            .collect(),
        |id: &Identity| stored_blocks(id)
            .map(|(hash, near, phone_len)| format!("{hash} {near} {phone_len}"))
            .collect()
    );
}

/// Migration 0014: the email and phone keys compare byte by byte ("C"), whatever the database's
/// locale, so their unique indexes and the lookups of a file's keys never go through strcoll.
#[tokio::test]
async fn email_and_phone_keys_compare_bytewise_on_postgres() {
    let url = support::fresh_postgres_url().await;
    agency_portal::store::Store::open(&url)
        .await
        .unwrap()
        .migrate()
        .await
        .unwrap();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let collations: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT column_name::text, collation_name::text FROM information_schema.columns
         WHERE table_name = 'candidates' AND column_name IN ('email_key', 'phone_key')
         ORDER BY column_name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        collations,
        [
            ("email_key".to_string(), Some("C".to_string())),
            ("phone_key".to_string(), Some("C".to_string())),
        ]
    );
}
