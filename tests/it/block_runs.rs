//! The block index's runs on Postgres (src/store/blocks.rs): how writes merge them, how a removal
//! hides an older entry and goes once merged into the oldest run, and that `remove_candidates`
//! leaves none of a person's entries anywhere. Needs the Postgres of `scripts/test`.

use crate::support;

use agency_portal::store::blocks::{self, Entry};
use agency_portal::store::Store;
use sqlx::{Connection, PgConnection};

fn e(hash: i64, id: i64, near: &str) -> Entry<'_> {
    Entry {
        hash,
        candidate_id: id,
        phone_len: 0,
        near,
    }
}

/// (runs, entries) of bucket `bucket`.
async fn shape(c: &mut PgConnection, bucket: i32) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*), coalesce(sum(entries), 0)::bigint FROM candidate_block_runs
         WHERE bucket = $1",
    )
    .bind(bucket)
    .fetch_one(c)
    .await
    .unwrap()
}

async fn nears(c: &mut PgConnection, id: i64) -> Vec<String> {
    blocks::entries_of(c, id)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, near, _)| near)
        .collect()
}

#[tokio::test]
async fn runs_merge_and_removals_take_effect() {
    let url = support::fresh_postgres_url().await;
    Store::open(&url).await.unwrap().migrate().await.unwrap();
    let mut c = PgConnection::connect(&url).await.unwrap();
    // Bucket 0 holds hashes below 2^48; bucket 1 the next 2^48.
    blocks::write(
        &mut c,
        &mut vec![e(1, 1, "ana"), e(2, 2, "ben"), e(1 << 48, 9, "zed")],
    )
    .await
    .unwrap();
    assert_eq!(shape(&mut c, 0).await, (1, 2));
    assert_eq!(shape(&mut c, 1).await, (1, 1));

    // Two new entries take in a run of two (at most twice their number): one run, and the
    // removal, merged into the bucket's oldest run, goes with what it removed.
    blocks::write(&mut c, &mut vec![Entry::removal(1, 1), e(3, 3, "cy")])
        .await
        .unwrap();
    assert_eq!(shape(&mut c, 0).await, (1, 2));
    assert!(nears(&mut c, 1).await.is_empty());
    assert_eq!(nears(&mut c, 2).await, ["ben"]);

    // Ten more take the run of two in; then one entry leaves the run of twelve alone.
    let names: Vec<String> = (0..10).map(|k| format!("p{k}")).collect();
    let mut ten: Vec<Entry<'_>> = (0..10)
        .map(|k| e(100 + k, 100 + k, &names[k as usize]))
        .collect();
    blocks::write(&mut c, &mut ten).await.unwrap();
    assert_eq!(shape(&mut c, 0).await, (1, 12));
    blocks::write(&mut c, &mut vec![e(200, 200, "solo")])
        .await
        .unwrap();
    assert_eq!(shape(&mut c, 0).await, (2, 13));

    // A removal taken into the newest run only (the oldest is too big) stays in it, and hides
    // the older entry; an entry and its removal written together leave the entry.
    blocks::write(
        &mut c,
        &mut vec![
            Entry::removal(100, 100),
            e(5, 5, "kept"),
            Entry::removal(5, 5),
        ],
    )
    .await
    .unwrap();
    assert_eq!(shape(&mut c, 0).await, (2, 15));
    assert!(nears(&mut c, 100).await.is_empty());
    assert_eq!(nears(&mut c, 5).await, ["kept"]);
    assert_eq!(nears(&mut c, 200).await, ["solo"]);

    // Erasing takes a person's entries out of every run, and an emptied run goes.
    blocks::remove_candidates(&mut c, &[9, 2]).await.unwrap();
    assert_eq!(shape(&mut c, 1).await, (0, 0));
    assert!(nears(&mut c, 2).await.is_empty());
    let left: Vec<Vec<u8>> = sqlx::query_scalar("SELECT data FROM candidate_block_runs")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert!(left.iter().all(|d| !d.windows(3).any(|w| w == b"ben")));
    assert_eq!(shape(&mut c, 0).await, (2, 14));
}
