//! Records an owner works with (SPEC §6.5, §9): the review queue, the views, and erasing a person —
//! on both backends.

#[macro_use]
mod support;

use std::path::Path;
use std::sync::Arc;

use agency_portal::directory;
use agency_portal::pipeline::{self, Input, Pipeline, Processed};
use agency_portal::settings::Scope;
use agency_portal::sheet::Limits;
use agency_portal::store::review::Verdict;
use agency_portal::store::submissions::{Channel, Rules};
use agency_portal::store::{Backend, Store};
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

async fn submit(p: &Pipeline, agency: &str, rows: &str, hours: i64) -> Processed {
    let input = Input {
        file_name: format!("{agency}-{hours}.csv"),
        bytes: format!("First Name,Last Name,Email,Mobile,Campaign\n{rows}\n").into_bytes(),
        agency_id: agency.into(),
        user_email: None,
        default_campaign: None,
        company_country: None,
        channel: Channel::Email,
        sender: "someone@acme-staffing.ph".into(),
        check_only: false,
        source_ref: None,
        received_at: Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap() + Duration::hours(hours),
        receipt: None,
    };
    match p.process(input, None).await.unwrap() {
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
        .decide_review(queue[0].row_id, true, RULES, now)
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
            .decide_review(queue[1].row_id, false, RULES, now)
            .await
            .unwrap(),
        Verdict::Rejected
    );
    assert!(p.store.review_queue().await.unwrap().is_empty());
    assert!(p
        .store
        .decide_review(queue[1].row_id, true, RULES, now)
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
    assert_eq!(
        first.counts_line(),
        "new 2, previously_submitted 0, duplicate 0, blocked 0, review 0, repeated 0, invalid 1"
    );
    let id = first.outcomes[0].candidate_id.unwrap();
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
    // The attribution stays, anonymous.
    let owners = p.store.ownership_history(id).await.unwrap();
    assert_eq!(owners[0].agency_id.as_deref(), Some("acme"));
}

/// Everything the database holds, as text: the SQLite file itself, or `pg_dump --data-only`.
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
