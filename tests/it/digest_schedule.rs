//! Digest schedules (SPEC §8): crontab lines in a timezone fire once per day across DST changes, and
//! two daemons on one Postgres send each fire once. The shared set-up is in `digest`.

use crate::support;

use std::collections::BTreeMap;
use std::sync::Arc;

use agency_portal::digest;
use agency_portal::settings::DigestKind;
use agency_portal::store::Store;
use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use mail_parser::MessageParser;

use super::digest::*;

#[tokio::test]
async fn weekdays_at_eight_in_manila_fire_monday_to_friday_only() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&support::fresh_sqlite_url(tmp.path()))
        .await
        .unwrap();
    let (dir, _) = setup(store.clone()).await;
    let d = digest(DigestKind::Agency, "0 8 * * 1-5", "Asia/Manila");
    let manila = chrono_tz::Asia::Manila;
    // Sunday 2026-11-29 00:00 Manila to Sunday 2026-12-13 00:00, every 30 minutes. Friday's fire
    // (more than a day old at the start) is not sent by this brand-new digest.
    let from = manila
        .with_ymd_and_hms(2026, 11, 29, 0, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let ticks = tick_through(
        &store,
        &dir,
        std::slice::from_ref(&d),
        from,
        from + Duration::days(14),
        Duration::minutes(30),
    )
    .await;
    let sent = fires(&store, &d, manila).await;
    let shown: Vec<String> = sent
        .iter()
        .map(|t| t.format("%a %Y-%m-%d %H:%M").to_string())
        .collect();
    println!("fires: {shown:?}");
    assert_eq!(sent.len(), 10, "{shown:?}");
    for t in &sent {
        assert!(!matches!(t.weekday(), Weekday::Sat | Weekday::Sun), "{t}");
        assert_eq!((t.hour(), t.minute()), (8, 0), "{t}");
    }
    // Each fire was sent at the first tick at or after it, to the four active agencies with admins.
    assert_eq!(ticks.len(), 10);
    for ((tick, n), fire) in ticks.iter().zip(&sent) {
        assert_eq!(*tick, fire.with_timezone(&Utc));
        assert_eq!(*n, 4);
    }
    let rows = store.outbox_rows().await.unwrap();
    assert_eq!(rows.iter().filter(|r| r.kind == "digest").count(), 40);
}

/// Daily at `hour:minute` across a DST change: exactly one fire per local day, each at that time.
async fn daily_once_per_day(schedule: &str, tz_name: &str, from: DateTime<Utc>, days: i64) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&support::fresh_sqlite_url(tmp.path()))
        .await
        .unwrap();
    let (dir, _) = setup(store.clone()).await;
    let d = digest(DigestKind::Owner, schedule, tz_name);
    let tz: Tz = tz_name.parse().unwrap();
    tick_through(
        &store,
        &dir,
        std::slice::from_ref(&d),
        from,
        from + Duration::days(days),
        Duration::minutes(15),
    )
    .await;
    let sent = fires(&store, &d, tz).await;
    let shown: Vec<String> = sent
        .iter()
        .map(|t| t.format("%Y-%m-%d %H:%M %:z").to_string())
        .collect();
    println!("{schedule} {tz_name}: {shown:?}");
    let mut per_day: BTreeMap<chrono::NaiveDate, usize> = BTreeMap::new();
    for t in &sent {
        *per_day.entry(t.date_naive()).or_default() += 1;
    }
    assert!(per_day.values().all(|n| *n == 1), "{shown:?}");
    // Every local day in the range fired (the first day too: its fire is less than a day old).
    assert!(sent.len() as i64 >= days - 1, "{shown:?}");
    let offsets: std::collections::BTreeSet<String> =
        sent.iter().map(|t| t.format("%:z").to_string()).collect();
    assert_eq!(
        offsets.len(),
        2,
        "the range crosses a DST change: {shown:?}"
    );
}

#[tokio::test]
async fn sao_paulo_daily_fires_once_per_day_when_dst_starts_in_2018() {
    // Brazil had DST until 2019: on 2018-11-04 00:00 -03 became 01:00 -02.
    daily_once_per_day("0 8 * * *", "America/Sao_Paulo", utc(2018, 11, 1, 12, 0), 7).await;
}

#[tokio::test]
async fn sao_paulo_daily_fires_once_per_day_when_dst_ends_in_2019() {
    // On 2019-02-17 00:00 -02 became 2019-02-16 23:00 -03: 23:30 happened twice.
    daily_once_per_day(
        "30 23 * * *",
        "America/Sao_Paulo",
        utc(2019, 2, 14, 12, 0),
        7,
    )
    .await;
}

#[tokio::test]
async fn new_york_daily_fires_once_per_day_across_both_changes_of_2026() {
    // 2026-03-08: 02:00 EST became 03:00 EDT (02:30 does not exist: it fires at 03:00).
    daily_once_per_day("30 2 * * *", "America/New_York", utc(2026, 3, 5, 12, 0), 7).await;
    // 2026-11-01: 02:00 EDT became 01:00 EST (01:30 happens twice: it fires once).
    daily_once_per_day(
        "30 1 * * *",
        "America/New_York",
        utc(2026, 10, 29, 12, 0),
        7,
    )
    .await;
}

// --- 2. Two daemons on one Postgres ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_on_one_postgres_send_each_fire_once_over_a_week() {
    let url = support::fresh_postgres_url().await;
    let a = Store::open(&url).await.unwrap();
    let b = Store::open(&url).await.unwrap();
    let (dir, p) = setup(a.clone()).await;
    let manila = chrono_tz::Asia::Manila;
    submit(
        &p,
        "acme",
        None,
        "Ana,Reyes,ana.reyes@example.com,0917 111 2222,40123",
        manila
            .with_ymd_and_hms(2026, 11, 30, 12, 0, 0)
            .unwrap()
            .with_timezone(&Utc),
    )
    .await;
    let digests = vec![
        digest(DigestKind::Agency, "0 8 * * 1-5", "Asia/Manila"),
        digest(DigestKind::Owner, "30 7 * * 1", "Asia/Manila"),
        digest(DigestKind::Recruiter, "0 9 * * 1-5", "Asia/Manila"),
    ];
    let from = manila
        .with_ymd_and_hms(2026, 11, 29, 12, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let steps = 7 * 24 * 4; // a week, every 15 minutes
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let daemon = |store: Store| {
        let (dir, digests, barrier) = (dir.clone(), digests.clone(), barrier.clone());
        tokio::spawn(async move {
            let composer = support::composer();
            let mut enqueued = 0;
            for i in 0..=steps {
                barrier.wait().await;
                let now = from + Duration::minutes(15 * i);
                enqueued += digest::run_due(&store, &dir, &digests, &composer, now)
                    .await
                    .unwrap();
            }
            enqueued
        })
    };
    let (ea, eb) = (daemon(a.clone()), daemon(b.clone()));
    let (ea, eb) = (ea.await.unwrap(), eb.await.unwrap());
    let rows: Vec<_> = a
        .outbox_rows()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "digest")
        .collect();
    println!(
        "daemon A enqueued {ea}, daemon B {eb}; outbox digest rows {}",
        rows.len()
    );
    // Per (digest, fire): one message per audience, exactly once.
    let audiences = [4, 1, 2]; // agencies with admins; the owners; the recruiters
    let expected_fires = [5, 1, 5]; // Mon-Fri 08:00; Mon 07:30; Mon-Fri 09:00
    let mut total = 0;
    for ((d, per_fire), n_fires) in digests.iter().zip(audiences).zip(expected_fires) {
        let key = digest::digest_key(d);
        let runs = a.digest_runs(&key).await.unwrap();
        assert_eq!(runs.len(), n_fires, "{key}: {runs:?}");
        for (fire, messages) in &runs {
            let prefix = format!("digest:{key}:{}:", fire.to_rfc3339());
            let n = rows
                .iter()
                .filter(|r| {
                    r.dedupe_key
                        .as_deref()
                        .is_some_and(|k| k.starts_with(&prefix))
                })
                .count();
            println!("{key} {}: {n} message(s)", fire.with_timezone(&manila));
            assert_eq!(n, per_fire, "{prefix}");
            assert_eq!(*messages as usize, per_fire);
            total += n;
        }
    }
    assert_eq!(rows.len(), total);
    assert_eq!(
        ea + eb,
        total,
        "what the daemons reported is what the outbox holds"
    );
    // The agency digest of the Tuesday covers Monday 08:00 to Tuesday 08:00: Ana, credited Monday
    // 12:00, is in Tuesday's acme digest and in no other agency's.
    let acme_tuesday = rows
        .iter()
        .find(|r| {
            r.dedupe_key.as_deref().is_some_and(|k| {
                k.contains("2026-12-01T00:00:00+00:00") && k.ends_with(":agency:acme")
            })
        })
        .expect("Tuesday's acme digest");
    let bytes = a.outbox_message(acme_tuesday.id).await.unwrap().unwrap();
    let text = MessageParser::default()
        .parse(&bytes)
        .unwrap()
        .body_text(0)
        .unwrap()
        .into_owned();
    assert!(text.contains("Ana Reyes"), "{text}");
    a.close().await;
    b.close().await;
}

// --- 3. What the digests show ---------------------------------------------------------------------
