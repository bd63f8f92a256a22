//! Records an owner works with (SPEC §6.5, §9): the review queue, the views, and erasing a person —
//! on both backends.

use crate::support;

use std::path::Path;
use std::sync::Arc;

use agency_portal::directory;
use agency_portal::intake::pipeline::{self, Input, Pipeline, Processed};
use agency_portal::settings::Scope;
use agency_portal::sheet::Limits;
use agency_portal::store::review::Verdict;
use agency_portal::store::{Backend, Store};
use agency_portal::submission::{Channel, Rules};
use chrono::{Duration, TimeZone, Utc};

const RULES: Rules = Rules {
    scope: Scope::Company,
    ownership_days: 180,
    name_similarity: 0.92,
};

async fn pipeline(store: Store) -> Pipeline {
    let dir = directory::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/directory.toml"))
        .unwrap();
    let t = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    store
        .sync_directory(&dir, "d", "x", t, &support::composer())
        .await
        .unwrap();
    Pipeline {
        store,
        directory: Arc::new(dir),
        rules: RULES,
        limits: Limits::default(),
        composer: None,
    }
}

fn input(agency: &str, rows: &str, hours: i64) -> Input {
    Input {
        file_name: format!("{agency}-{hours}.csv"),
        bytes: format!("First Name,Last Name,Email,Mobile,Campaign\n{rows}\n").into_bytes(),
        agency_id: agency.into(),
        user_email: None,
        default_campaign: None,
        company_country: None,
        channel: Channel::Email,
        sender: "someone@acme-staffing.example".into(),
        check_only: false,
        source_ref: None,
        received_at: Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap() + Duration::hours(hours),
        receipt: None,
    }
}

async fn submit(p: &Pipeline, agency: &str, rows: &str, hours: i64) -> Processed {
    match p.process(input(agency, rows, hours), None).await.unwrap() {
        pipeline::Result::Processed(p) => p,
        other => panic!("{other:?}"),
    }
}

on_both_backends!(review_accept_and_reject);
async fn review_accept_and_reject(store: Store) {
    let p = pipeline(store).await;
    submit(&p, "acme", "Ben,Reyes,ben.reyes@yahoo.com,0918 765 4321,40123\nLia,Lim,lia.lim@gmail.com,0917 222 3333,40123", 0).await;
    let near = submit(
        &p,
        "bayanihan",
        "Ben,Reyes,ben.reyes@yahoo.com.ph,0918 765 4312,40123\nLia,Lim,lia.lmi@gmail.com,0917 999 0000,40123",
        1,
    )
    .await;
    assert_eq!(
        near.counts_line(),
        "new 0, previously_submitted 0, duplicate 0, blocked 0, review 2, repeated 0, invalid 0"
    );
    let queue = p.store.review_queue().await.unwrap();
    assert_eq!(queue.len(), 2);
    assert_eq!(queue[0].agency.as_deref(), Some("bayanihan"));
    assert_eq!(queue[0].row, 2);
    assert_eq!(queue[0].name, "Ben Reyes");

    let now = Utc::now();
    let accepted = p
        .store
        .decide_review(queue[0].row_id, true, RULES, now, None)
        .await
        .unwrap();
    let Verdict::Accepted { candidate_id } = accepted else {
        panic!("{accepted:?}")
    };
    assert_ne!(Some(candidate_id), queue[0].candidate_id);
    let owners = p.store.ownership_history(candidate_id).await.unwrap();
    assert_eq!(owners[0].agency_id.as_deref(), Some("bayanihan"));
    assert_eq!(
        p.store
            .decide_review(queue[1].row_id, false, RULES, now, None)
            .await
            .unwrap(),
        Verdict::Rejected
    );
    assert!(p.store.review_queue().await.unwrap().is_empty());
    assert!(p
        .store
        .decide_review(queue[1].row_id, true, RULES, now, None)
        .await
        .is_err());
    let subs = p
        .store
        .submissions_view(Some("bayanihan"), None)
        .await
        .unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].counts["new"], 1);
    assert_eq!(subs[0].counts["duplicate"], 1);
    assert_eq!(subs[0].counts["review"], 0);
    // Ben's accepted record is a person of its own: the next agency's Ben with that email is theirs.
    let again = submit(
        &p,
        "talento-mx",
        "Ben,Reyes,ben.reyes@yahoo.com.ph,,50210",
        2,
    )
    .await;
    assert_eq!(again.outcomes[0].candidate_id, Some(candidate_id));
}

on_both_backends!(views_show_owners_and_counts);
async fn views_show_owners_and_counts(store: Store) {
    let p = pipeline(store).await;
    submit(
        &p,
        "acme",
        "Ana,Cruz,ana.cruz@gmail.com,0917 123 4567,40123\nBad,Row,,,40123",
        0,
    )
    .await;
    let c = p
        .store
        .candidates_view(Some("acme"), None, None)
        .await
        .unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].agency.as_deref(), Some("acme"));
    assert_eq!(c[0].campaign.as_deref(), Some("40123"));
    let json = serde_json::to_value(&c[0]).unwrap();
    for key in [
        "id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "agency",
        "campaign",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    assert!(p
        .store
        .candidates_view(Some("bayanihan"), None, None)
        .await
        .unwrap()
        .is_empty());
    let s = p.store.submissions_view(None, None).await.unwrap();
    assert_eq!(s[0].rows, 2);
    assert_eq!(s[0].counts["invalid"], 1);
    let agencies = p.store.agencies().await.unwrap();
    let acme = agencies.iter().find(|a| a.id == "acme").unwrap();
    assert_eq!(acme.candidates, 1);
    let campaigns = p.store.campaigns().await.unwrap();
    assert_eq!(
        campaigns
            .iter()
            .find(|c| c.id == "40123")
            .unwrap()
            .candidates,
        1
    );
}

on_both_backends!(erase_leaves_no_trace);
async fn erase_leaves_no_trace(store: Store) {
    let p = pipeline(store).await;
    let first = submit(
        &p,
        "acme",
        "Zyanya,Quetzalcoatl,Zyanya.Q@gmail.com,0917 864 2913,40123\n\
         Zyanya,Quetzalcoatl,zyanya.q@gmail.com,not a phone,40123\n\
         Other,Person,other.person@gmail.com,0917 111 2222,40123",
        0,
    )
    .await;
    // The second row is Zyanya's by her email though its phone is malformed (SPEC §6.4 (r2)).
    assert_eq!(
        first.counts_line(),
        "new 2, previously_submitted 0, duplicate 0, blocked 0, review 0, repeated 1, invalid 0"
    );
    let id = first.outcomes[0].candidate_id.unwrap();
    // Postgres keeps the contacts in the block index's runs too (bytes, dumped as text here).
    if p.store.backend() == Backend::Postgres {
        let before = dump(&p.store).await.to_lowercase();
        assert!(section(&before, "candidate_block_runs").contains("zyanyaq"));
    }
    let erased = p
        .store
        .erase(
            Some("zyanyaq@gmail.com"),
            None,
            &["Zyanya.Q@gmail.com".to_string()],
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(erased.candidates, 1);
    assert!(erased.rows >= 2, "{erased:?}");
    let dump = dump(&p.store).await.to_lowercase();
    for trace in ["zyanya", "quetzalcoatl", "8642913", "zyanyaq"] {
        assert!(!dump.contains(trace), "`{trace}` is still in the database");
    }
    assert!(dump.contains("other.person@gmail.com"), "others are kept");
    if p.store.backend() == Backend::Postgres {
        assert!(section(&dump, "candidate_block_runs").contains("otherperson"));
    }
    // The attribution stays, anonymous.
    let owners = p.store.ownership_history(id).await.unwrap();
    assert_eq!(owners[0].agency_id.as_deref(), Some("acme"));
}

on_both_backends!(records_point_only_at_what_exists);
async fn records_point_only_at_what_exists(store: Store) {
    // Postgres checks ownerships and row outcomes once per statement (migration 0012), SQLite by
    // its foreign keys: either way a record never points at a candidate, agency or submission that
    // does not exist, and what they point at is never deleted or renumbered.
    let p = pipeline(store).await;
    let done = submit(
        &p,
        "acme",
        "Ana,Cruz,ana.cruz@gmail.com,0917 123 4567,40123",
        0,
    )
    .await;
    let cid = done.outcomes[0].candidate_id.unwrap();
    let sid = done.submission_id.unwrap();
    let postgres = p.store.backend() == Backend::Postgres;
    let t = "'2026-11-02T00:00:00Z'";
    let ownership = |candidate: i64, agency: &str, submission: i64| {
        format!(
            "INSERT INTO ownerships (candidate_id, scope_key, agency_id, user_email, channel,
               submission_id, row_number, campaign_id, started_at, expires_at)
             VALUES ({candidate}, 'x', {agency}, NULL, 'email', {submission}, 2, NULL, {t}, {t})"
        )
    };
    let row = |submission: i64, candidate: i64| {
        format!(
            "INSERT INTO submission_rows (submission_id, row_number, outcome, reason, candidate_id)
             VALUES ({submission}, 9, 'new', '', {candidate})"
        )
    };
    let refused = [
        ownership(cid + 1000, "'acme'", sid),
        ownership(cid, "'no-such-agency'", sid),
        ownership(cid, "'acme'", sid + 1000),
        row(sid + 1000, cid),
        row(sid, cid + 1000),
        format!(
            "UPDATE submission_rows SET candidate_id = {} WHERE submission_id = {sid}",
            cid + 1000
        ),
    ];
    for sql in &refused {
        let code = sql_error(&p.store, sql).await;
        let code = code.unwrap_or_else(|| panic!("accepted: {sql}"));
        if postgres {
            assert_eq!(code, "23503", "{sql}");
        }
    }
    let kept = [
        format!("DELETE FROM candidates WHERE id = {cid}"),
        format!("UPDATE candidates SET id = {} WHERE id = {cid}", cid + 1000),
        format!("DELETE FROM submissions WHERE id = {sid}"),
        format!(
            "UPDATE submissions SET id = {} WHERE id = {sid}",
            sid + 1000
        ),
        "DELETE FROM agencies WHERE id = 'acme'".to_string(),
    ];
    for sql in &kept {
        assert!(sql_error(&p.store, sql).await.is_some(), "accepted: {sql}");
    }
    if postgres {
        for table in ["candidates", "submissions", "agencies"] {
            let sql = format!("TRUNCATE {table} CASCADE");
            assert!(sql_error(&p.store, &sql).await.is_some(), "accepted: {sql}");
        }
    }
    // What does exist is accepted, and nothing refused was written.
    assert_eq!(
        sql_error(&p.store, &ownership(cid, "'acme'", sid)).await,
        None
    );
    assert_eq!(sql_error(&p.store, &row(sid, cid)).await, None);
    assert_eq!(p.store.ownership_history(cid).await.unwrap().len(), 2);
}

on_both_backends!(the_attribution_history_is_append_only);
async fn the_attribution_history_is_append_only(store: Store) {
    // Ownerships are the dispute record (SPEC §6.5): the database refuses to delete one or change
    // it, but for the time it was superseded, set once (migration 0019).
    let p = pipeline(store).await;
    let row = "Ana,Cruz,ana.cruz@gmail.com,0917 123 4567,40123";
    let cid = submit(&p, "acme", row, 0).await.outcomes[0]
        .candidate_id
        .unwrap();
    let postgres = p.store.backend() == Backend::Postgres;
    let t = "'2026-12-01T00:00:00Z'";
    let refused = [
        format!("DELETE FROM ownerships WHERE candidate_id = {cid}"),
        format!("UPDATE ownerships SET agency_id = 'bayanihan' WHERE candidate_id = {cid}"),
        format!("UPDATE ownerships SET user_email = 'x@y.example' WHERE candidate_id = {cid}"),
        format!(
            "UPDATE ownerships SET submission_id = submission_id + 1000 WHERE candidate_id = {cid}"
        ),
        format!("UPDATE ownerships SET started_at = {t} WHERE candidate_id = {cid}"),
        format!("UPDATE ownerships SET expires_at = {t} WHERE candidate_id = {cid}"),
    ];
    for sql in &refused {
        let code = sql_error(&p.store, sql).await;
        let code = code.unwrap_or_else(|| panic!("accepted: {sql}"));
        if postgres {
            assert_eq!(code, "23001", "{sql}");
        }
    }
    if postgres {
        let sql = "TRUNCATE ownerships";
        assert!(sql_error(&p.store, sql).await.is_some(), "accepted: {sql}");
    }
    // Superseding is the one change, once.
    let supersede = format!("UPDATE ownerships SET superseded_at = {t} WHERE candidate_id = {cid}");
    assert_eq!(sql_error(&p.store, &supersede).await, None);
    assert!(
        sql_error(&p.store, &supersede).await.is_some(),
        "superseded twice"
    );
    let owners = p.store.ownership_history(cid).await.unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].agency_id.as_deref(), Some("acme"));
    assert!(owners[0].superseded_at.is_some());
}

on_both_backends!(a_file_that_fails_to_record_leaves_nothing);
async fn a_file_that_fails_to_record_leaves_nothing(store: Store) {
    // A file that fails while writing, or at its very commit, leaves nothing: no candidate, no
    // block key, no ownership, no row.
    let p = pipeline(store).await;
    let postgres = p.store.backend() == Backend::Postgres;
    let file = "Ana,Cruz,ana.cruz@gmail.com,0917 123 4567,40123\nBen,Reyes,ben.reyes@yahoo.com,0918 765 4321,40123";
    let mut failures = vec![(
        "the row outcomes",
        if postgres {
            "CREATE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'made to fail'; END $$;
             CREATE TRIGGER fail BEFORE INSERT ON submission_rows
               FOR EACH STATEMENT EXECUTE FUNCTION fail();"
        } else {
            "CREATE TRIGGER fail BEFORE INSERT ON submission_rows
               BEGIN SELECT RAISE(ABORT, 'made to fail'); END;"
        },
        if postgres {
            "DROP TRIGGER fail ON submission_rows"
        } else {
            "DROP TRIGGER fail"
        },
    )];
    if postgres {
        failures.push((
            "the commit",
            "CREATE CONSTRAINT TRIGGER fail AFTER INSERT ON submissions
               DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail();",
            "DROP TRIGGER fail ON submissions",
        ));
    }
    for (what, fail, undo) in failures {
        assert_eq!(sql_error(&p.store, fail).await, None);
        let failed = p.process(input("acme", file, 0), None).await;
        assert!(failed.is_err(), "{what}: {failed:?}");
        for table in ["submissions", "candidates", "ownerships", "submission_rows"] {
            assert_eq!(
                sql_count(&p.store, table).await,
                0,
                "{what} failed: {table}"
            );
        }
        assert_eq!(
            block_entries(&p.store).await,
            0,
            "{what} failed: block keys"
        );
        assert_eq!(sql_error(&p.store, undo).await, None);
    }
    let done = submit(&p, "acme", file, 0).await;
    assert_eq!(
        done.counts_line(),
        "new 2, previously_submitted 0, duplicate 0, blocked 0, review 0, repeated 0, invalid 0"
    );
    assert!(block_entries(&p.store).await >= 14);
}

on_both_backends!(values_are_stored_as_written);
async fn values_are_stored_as_written(store: Store) {
    // Postgres writes with binary COPY, SQLite with bound VALUES: letters beyond ASCII, quotes,
    // backslashes and the times come back as they went in.
    let p = pipeline(store).await;
    let done = submit(
        &p,
        "acme",
        "Zoë-Ánn,\"O'Brien \\ \"\"Jr\"\"\",zoe.obrien@gmail.com,0917 123 4567,40123",
        5,
    )
    .await;
    assert_eq!(
        done.counts_line(),
        "new 1, previously_submitted 0, duplicate 0, blocked 0, review 0, repeated 0, invalid 0"
    );
    let at = Utc.with_ymd_and_hms(2026, 11, 2, 5, 0, 0).unwrap();
    let c = p.store.candidates_view(None, None, None).await.unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].first_name, "Zoë-Ánn");
    assert_eq!(c[0].last_name, "O'Brien \\ \"Jr\"");
    assert_eq!(c[0].email.as_deref(), Some("zoe.obrien@gmail.com"));
    assert_eq!(c[0].created_at, at);
    assert_eq!(c[0].owned_since, Some(at));
    assert_eq!(c[0].owned_until, Some(at + Duration::days(180)));
    let owners = p.store.ownership_history(c[0].id).await.unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].agency_id.as_deref(), Some("acme"));
    assert_eq!(owners[0].row_number, Some(2));
    assert_eq!(owners[0].submission_id, done.submission_id);
    assert_eq!(owners[0].superseded_at, None);
}

/// How many rows `table` holds.
async fn sql_count(store: &Store, table: &str) -> i64 {
    use sqlx::Connection;
    let sql = format!("SELECT COUNT(*) FROM {table}");
    match store.backend() {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(store.url()).await.unwrap();
            sqlx::query_scalar(&sql).fetch_one(&mut c).await.unwrap()
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(store.url()).await.unwrap();
            sqlx::query_scalar(&sql).fetch_one(&mut c).await.unwrap()
        }
    }
}

/// Runs one statement on the store's database; the error's code if it fails.
async fn sql_error(store: &Store, sql: &str) -> Option<String> {
    use sqlx::Connection;
    let result = match store.backend() {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(store.url()).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut c).await.map(drop)
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(store.url()).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut c).await.map(drop)
        }
    };
    match result {
        Ok(()) => None,
        Err(sqlx::Error::Database(e)) => Some(e.code().unwrap_or_default().into_owned()),
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// How many block keys the store keeps: rows on SQLite, entries of the runs on Postgres
/// (removals included).
async fn block_entries(store: &Store) -> i64 {
    use sqlx::Connection;
    match store.backend() {
        Backend::Sqlite => sql_count(store, "candidate_blocks").await,
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(store.url()).await.unwrap();
            sqlx::query_scalar("SELECT coalesce(sum(entries), 0)::bigint FROM candidate_block_runs")
                .fetch_one(&mut c)
                .await
                .unwrap()
        }
    }
}

/// The data of one table in a `pg_dump` (its `COPY … FROM stdin;` block).
fn section<'d>(dump: &'d str, table: &str) -> &'d str {
    let start = dump
        .find(&format!("copy public.{table} "))
        .unwrap_or_else(|| panic!("{table} is in the dump"));
    let rest = &dump[start..];
    &rest[..rest.find("\n\\.\n").unwrap_or(rest.len())]
}

/// Everything the database holds, as text: the SQLite file itself, or `pg_dump --data-only`
/// (bytes written as escaped text, so that the letters in them can be found).
async fn dump(store: &Store) -> String {
    match store.backend() {
        Backend::Sqlite => {
            let url = store.url();
            let path = url.trim_start_matches("sqlite://");
            let mut bytes = std::fs::read(path).unwrap();
            for extra in ["-wal", "-shm"] {
                if let Ok(b) = std::fs::read(format!("{path}{extra}")) {
                    bytes.extend(b);
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Backend::Postgres => {
            let out = std::process::Command::new("/usr/lib/postgresql/15/bin/pg_dump")
                .args(["--data-only", "--dbname", store.url()])
                .env("PGOPTIONS", "-c bytea_output=escape")
                .output()
                .expect("pg_dump runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    }
}

/// SPEC §5 (r2): a value Postgres refuses (a NUL in text) is the fault of the item that held it,
/// never "the database is away": the sources fail that item and go on with the next.
#[tokio::test]
async fn a_value_postgres_refuses_is_the_items_fault() {
    use sqlx::Connection;
    let url = support::fresh_postgres_url().await;
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    let refused = sqlx::query("SELECT $1::text")
        .bind("hello\0there")
        .execute(&mut c)
        .await
        .unwrap_err();
    let e = agency_portal::store::StoreError::from(refused);
    assert!(e.is_value_error(), "{e}");
    assert!(!e.is_unreachable());
    let missing = sqlx::query("SELECT * FROM no_such_table")
        .execute(&mut c)
        .await
        .unwrap_err();
    assert!(!agency_portal::store::StoreError::from(missing).is_value_error());
}

/// SPEC §3.1 (r2): a Postgres URL honours `sslmode` and `sslrootcert`. The test cluster has TLS
/// with a certificate of a private CA, and its database `tls_only` takes TLS connections alone
/// (as a managed Postgres does): `verify-full` with that CA works; without TLS the server refuses;
/// with the public roots instead of that CA the certificate is refused, and the error says so.
#[tokio::test]
async fn postgres_over_tls_with_the_companys_own_ca() {
    use sqlx::Connection;
    let admin = support::postgres_admin_url();
    let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
    let _ = sqlx::raw_sql("CREATE DATABASE tls_only")
        .execute(&mut c)
        .await;
    c.close().await.ok();
    let ca = std::env::var("AGENCY_PORTAL_TEST_CA_FILE").expect("scripts/test exports it");
    let (base, _) = admin.rsplit_once('/').unwrap();
    let url = format!("{base}/tls_only?sslmode=verify-full&sslrootcert={ca}");
    let store = agency_portal::store::Store::open(&url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(store.outbox_rows().await.unwrap().is_empty());
    store.close().await;

    let plain = format!("{base}/tls_only?sslmode=disable");
    let refused = agency_portal::store::Store::open(&plain).await.unwrap_err();
    assert!(refused.to_string().contains("pg_hba.conf"), "{refused}");

    let public_roots = format!("{base}/tls_only?sslmode=verify-full");
    let refused = agency_portal::store::Store::open(&public_roots)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("certificate") && refused.contains("check database.url"),
        "{refused}"
    );
}

// SPEC §7 (r2): a review decision is told to the user who submitted the row, in the thread of the
// submission's receipt and in the agency's language, written to the outbox with the decision; the
// agency digest's query lists it in its period, and only for that agency.
on_both_backends!(review_decisions_are_told_in_the_receipts_thread);
async fn review_decisions_are_told_in_the_receipts_thread(store: Store) {
    use agency_portal::intake::pipeline::ReceiptRequest;
    use agency_portal::mail::receipt::ReplyTo;
    use agency_portal::store::digests::Scope;

    let mut p = pipeline(store).await;
    let composer = Arc::new(support::composer());
    p.composer = Some(composer.clone());
    submit(
        &p,
        "acme",
        "Ben,Reyes,ben.reyes@yahoo.com,0918 765 4321,40123",
        0,
    )
    .await;
    let lucia = "lucia@talentoazteca.example";
    let mut mx = input("talento-mx", "Ben,Reyes,ben.reyse@yahoo.com,,50210", 1);
    mx.user_email = Some(lucia.into());
    mx.receipt = Some(ReceiptRequest {
        to: vec![(lucia.into(), "Lucía Hernández".into())],
        reply_to: Some(ReplyTo {
            message_id: "<candidatos-1@talentoazteca.example>".into(),
            subject: "Candidatos noviembre".into(),
        }),
    });
    let done = match p.process(mx, None).await.unwrap() {
        pipeline::Result::Processed(done) => done,
        other => panic!("{other:?}"),
    };
    assert_eq!(done.outcomes[0].outcome.as_str(), "review");
    let queue = p.store.review_queue().await.unwrap();
    assert_eq!(queue.len(), 1);

    let now = Utc.with_ymd_and_hms(2026, 11, 3, 12, 0, 0).unwrap();
    let tell = |t: &agency_portal::store::review::ReviewTold| composer.tell_review(&p.directory, t);
    p.store
        .decide_review(queue[0].row_id, false, RULES, now, Some(&tell))
        .await
        .unwrap();

    let rows = p.store.outbox_rows().await.unwrap();
    let receipt = rows
        .iter()
        .find(|r| r.kind == "receipt")
        .expect("the receipt");
    let told = rows
        .iter()
        .find(|r| r.dedupe_key.as_deref() == Some(&format!("review:{}", queue[0].row_id)))
        .expect("the decision, in the outbox");
    assert_eq!(told.recipients, [lucia]);
    let bytes = p.store.outbox_message(told.id).await.unwrap().unwrap();
    let m = mail_parser::MessageParser::default().parse(&bytes).unwrap();
    assert_eq!(
        m.in_reply_to().as_text(),
        Some(receipt.message_id.trim_matches(['<', '>'])),
        "in the receipt's thread"
    );
    assert!(
        m.subject().unwrap().starts_with("Re: "),
        "{:?}",
        m.subject()
    );
    let text = m.body_text(0).unwrap();
    for words in [
        "Hola, Lucía Hernández",
        "La fila 2 de talento-mx-1.csv (Ben Reyes) estaba en revisión",
        "ahora su resultado es duplicate",
    ] {
        assert!(text.contains(words), "{words}\n{text}");
    }

    // The agency digest of the period lists the decision; another agency's does not.
    let scope = |agency| Scope {
        agency: Some(agency),
        user: None,
    };
    let since = now - Duration::hours(1);
    let listed = p
        .store
        .digest_review_decisions(scope("talento-mx"), since, now)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0].row_number,
            listed[0].name.as_str(),
            listed[0].outcome.as_str()
        ),
        (2, "Ben Reyes", "duplicate")
    );
    assert!(p
        .store
        .digest_review_decisions(scope("acme"), since, now)
        .await
        .unwrap()
        .is_empty());
    assert!(p
        .store
        .digest_review_decisions(scope("talento-mx"), now, now + Duration::hours(1))
        .await
        .unwrap()
        .is_empty());
}
