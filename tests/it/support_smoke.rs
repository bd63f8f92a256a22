//! Proves the test plumbing: the private Postgres of scripts/test is reachable and fresh databases work.
use crate::support;

use sqlx::{Connection, PgConnection, SqliteConnection};

#[tokio::test]
async fn fresh_postgres_database_answers_select_1() {
    let url = support::fresh_postgres_url().await;
    let mut conn = PgConnection::connect(&url)
        .await
        .expect("connect to the fresh database");
    let (one, db): (i32, String) = sqlx::query_as("SELECT 1, current_database()")
        .fetch_one(&mut conn)
        .await
        .expect("SELECT 1");
    assert_eq!(one, 1);
    assert!(url.ends_with(&db), "{url} should name {db}");
    conn.close().await.ok();
    println!("postgres ok: {db}");
}

#[tokio::test]
async fn fresh_postgres_databases_are_distinct() {
    let a = support::fresh_postgres_url().await;
    let b = support::fresh_postgres_url().await;
    assert_ne!(a, b);
}

#[tokio::test]
async fn fresh_sqlite_url_is_usable() {
    let dir = tempfile::tempdir().unwrap();
    let url = support::fresh_sqlite_url(dir.path());
    let opts: sqlx::sqlite::SqliteConnectOptions = url.parse().expect("sqlite URL parses");
    let mut conn = SqliteConnection::connect_with(&opts.create_if_missing(true))
        .await
        .expect("open sqlite");
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
    conn.close().await.ok();
    println!("sqlite ok");
}

#[test]
fn with_database_replaces_only_the_name() {
    use support::with_database;
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
        "postgres://postgres@127.0.0.1:5432/t1"
    );
    assert_eq!(
        with_database("postgres://u:p@h:1/postgres?sslmode=disable", "t2"),
        "postgres://u:p@h:1/t2?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h:1", "t3"), "postgres://h:1/t3");
}
