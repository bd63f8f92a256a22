//! Talkpush sync (SPEC §11 (r2), issue 13) against a local stand-in that answers as the public API
//! documentation says (tests/it/support/talkpush.rs), on SQLite and on Postgres: a create, a duplicate
//! answer, a search hit, a page boundary at 12, a 429 with Retry-After, a timeout after the server
//! already created the lead, a 404 campaign, `review accept`, and the `candidates` state.

use crate::support;
use crate::support::talkpush as stand_in;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agency_portal::directory::{self, Directory};
use agency_portal::intake::pipeline::{self, Input, Pipeline, Processed};
use agency_portal::settings::{Scope, Secret};
use agency_portal::sheet::Limits;
use agency_portal::store::Store;
use agency_portal::submission::{Channel, Rules};
use agency_portal::talkpush::settings::TalkpushSettings;
use agency_portal::talkpush::worker::{PushReport, Pusher};
use chrono::Utc;
use stand_in::{StandIn, API_KEY};

const RULES: Rules = Rules {
    scope: Scope::Company,
    ownership_days: 180,
    name_similarity: 0.92,
};

fn directory() -> Directory {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/directory.toml");
    directory::load(&path).expect("shipped directory is valid")
}

struct World {
    store: Store,
    pipeline: Pipeline,
    server: StandIn,
    pusher: Pusher,
}

impl World {
    /// The shipped directory, Talkpush sync on, a stand-in knowing campaign 40123 only.
    async fn new(store: Store) -> World {
        let store = store.with_talkpush(true);
        let dir = directory();
        store
            .sync_directory(
                &dir,
                "directory.toml",
                "x",
                Utc::now(),
                &support::composer(),
            )
            .await
            .unwrap();
        let server = StandIn::start(&["40123"]).await;
        let settings = TalkpushSettings {
            base_url: server.base_url.clone(),
            api_key: Some(Secret::new(API_KEY)),
            timeout_secs: 1,
            ..TalkpushSettings::default()
        };
        let pusher = Pusher::new(store.clone(), &settings, Arc::new(support::composer())).unwrap();
        World {
            pipeline: Pipeline {
                store: store.clone(),
                directory: Arc::new(dir),
                rules: RULES,
                limits: Limits::default(),
                composer: None,
            },
            store,
            server,
            pusher,
        }
    }

    /// Submits CSV rows (header added) as acme, now.
    async fn submit(&self, csv_rows: &str) -> Processed {
        static CALLS: AtomicUsize = AtomicUsize::new(1);
        let salt = "\n".repeat(CALLS.fetch_add(1, Ordering::Relaxed));
        let text = format!("First Name,Last Name,Email,Mobile,Campaign,Shift\n{csv_rows}{salt}");
        let input = Input {
            file_name: "acme.csv".into(),
            bytes: text.into_bytes(),
            agency_id: "acme".into(),
            user_email: Some("ana@acme-staffing.example".into()),
            default_campaign: None,
            company_country: None,
            channel: Channel::Cli,
            sender: String::new(),
            check_only: false,
            source_ref: None,
            received_at: Utc::now(),
            receipt: None,
        };
        match self.pipeline.process(input, None).await.unwrap() {
            pipeline::Result::Processed(p) => p,
            other => panic!("not processed: {other:?}"),
        }
    }

    async fn flush(&self) -> PushReport {
        self.pusher.flush().await.unwrap()
    }

    async fn states(&self) -> Vec<String> {
        self.store
            .push_rows(None)
            .await
            .unwrap()
            .iter()
            .map(|r| r.state())
            .collect()
    }
}

const ANA: &str = "Ana,Cruz,ana.cruz@example.com,0917 123 4567,40123,night";

fn report(synced: usize, retrying: usize, failed: usize) -> PushReport {
    PushReport {
        synced,
        retrying,
        failed,
    }
}

on_both_backends!(a_new_candidate_becomes_one_lead);
async fn a_new_candidate_becomes_one_lead(store: Store) {
    let w = World::new(store).await;
    let p = w.submit(ANA).await;
    assert_eq!(p.outcomes[0].outcome.as_str(), "new");
    let candidate = p.outcomes[0].candidate_id.unwrap();
    assert_eq!(w.states().await, ["pending"], "queued with the candidate");
    assert_eq!(w.flush().await, report(1, 0, 0));
    let leads = w.server.leads();
    assert_eq!(leads.len(), 1);
    let lead = &leads[0];
    assert_eq!(
        (lead.first_name.as_str(), lead.last_name.as_str()),
        ("Ana", "Cruz")
    );
    assert_eq!(lead.email, "ana.cruz@example.com");
    assert_eq!(lead.phone, "+639171234567");
    assert_eq!(lead.campaign_id, "40123");
    assert!(
        lead.source.starts_with("Agency Portal - "),
        "{}",
        lead.source
    );
    assert_eq!(lead.others["agency_id"], "acme");
    assert_eq!(lead.others["agency_user"], "ana@acme-staffing.example");
    assert_eq!(lead.others["row"], 2);
    assert_eq!(lead.others["Shift"], "night");
    assert_eq!(
        lead.others["submission_id"],
        serde_json::json!(p.submission_id.unwrap())
    );
    assert_eq!(w.states().await, [format!("synced {}", lead.id)]);
    let row = &w.store.push_rows(None).await.unwrap()[0];
    assert_eq!(row.result.as_deref(), Some("created"));
    // `candidates` shows it.
    let view = w.store.candidates_view(None, None, None).await.unwrap();
    let c = view.iter().find(|c| c.id == candidate).unwrap();
    assert_eq!(c.talkpush, Some(format!("synced {}", lead.id)));
    // Nothing more to do; the same person sent again is not `new` and queues nothing.
    assert_eq!(w.flush().await, report(0, 0, 0));
    w.submit(ANA).await;
    assert_eq!(w.flush().await, report(0, 0, 0));
    assert_eq!(w.server.creates(), 1);
    // Totals for /metrics.
    let t = w.store.push_totals().await.unwrap();
    assert_eq!(t.by_result, [("created".to_string(), 1)]);
    assert_eq!(t.failures, 0);
}

on_both_backends!(a_lead_found_by_the_search_is_recorded_not_created);
async fn a_lead_found_by_the_search_is_recorded_not_created(store: Store) {
    let w = World::new(store).await;
    // A recruiter typed her in by hand already, phone written the local way.
    let id = w.server.seed(
        "40123",
        "Ana",
        "Cruz",
        "ANA.CRUZ@example.com",
        "09171234567",
    );
    w.submit(ANA).await;
    assert_eq!(w.flush().await, report(1, 0, 0));
    assert_eq!(w.server.creates(), 0);
    assert_eq!(w.states().await, [format!("synced {id}")]);
    assert_eq!(
        w.store.push_rows(None).await.unwrap()[0].result.as_deref(),
        Some("found")
    );
    // By phone alone too (another email in Talkpush).
    let id = w.server.seed(
        "40123",
        "Ben",
        "Reyes",
        "old.ben@example.com",
        "+63 918 765 4321",
    );
    w.submit("Ben,Reyes,ben.reyes@example.com,0918 765 4321,40123,")
        .await;
    assert_eq!(w.flush().await, report(1, 0, 0));
    assert_eq!(w.server.creates(), 0);
    assert_eq!(w.states().await[1], format!("synced {id}"));
}

on_both_backends!(a_duplicate_answer_is_recorded_as_the_lead);
async fn a_duplicate_answer_is_recorded_as_the_lead(store: Store) {
    let w = World::new(store).await;
    let id = w
        .server
        .seed("40123", "Ana", "Cruz", "ana.cruz@example.com", "");
    // The search index lags: the two searches before the create miss her; Talkpush answers the
    // create "Duplicate Candidate already exists", and the search after it finds her.
    w.server.with(|s| s.blind_searches = 2);
    w.submit(ANA).await;
    assert_eq!(w.flush().await, report(1, 0, 0));
    assert_eq!(w.server.creates(), 1);
    assert_eq!(w.server.leads_with_email("ana.cruz@example.com"), 1);
    assert_eq!(w.states().await, [format!("synced {id}")]);
    assert_eq!(
        w.store.push_rows(None).await.unwrap()[0].result.as_deref(),
        Some("duplicate")
    );
}

on_both_backends!(the_search_reads_past_a_page_of_12);
async fn the_search_reads_past_a_page_of_12(store: Store) {
    let w = World::new(store).await;
    // Twelve other leads match the query "ana.cruz@example.com" (their emails contain it); hers
    // is the 13th, on page 2.
    for i in 0..12 {
        w.server.seed(
            "40123",
            "Anabel",
            &format!("Other{i}"),
            &format!("x{i}.ana.cruz@example.com"),
            "",
        );
    }
    let id = w
        .server
        .seed("40123", "Ana", "Cruz", "ana.cruz@example.com", "");
    w.submit(ANA).await;
    assert_eq!(w.flush().await, report(1, 0, 0));
    assert_eq!(w.server.creates(), 0);
    assert_eq!(w.states().await, [format!("synced {id}")]);
    let pages: Vec<String> = w
        .server
        .with(|s| s.calls.iter().map(|c| c.1.clone()).collect());
    assert_eq!(pages.len(), 2, "two pages read: {pages:?}");
}

on_both_backends!(a_429_is_retried_after_its_retry_after);
async fn a_429_is_retried_after_its_retry_after(store: Store) {
    let w = World::new(store).await;
    w.server.with(|s| {
        s.rate_limited = 1;
        s.retry_after_secs = 7;
    });
    w.submit(ANA).await;
    let before = Utc::now();
    assert_eq!(w.flush().await, report(0, 1, 0));
    let row = &w.store.push_rows(None).await.unwrap()[0];
    assert_eq!(row.state(), "pending");
    assert!(row.last_error.contains("429"), "{}", row.last_error);
    let wait = (row.next_attempt_at - before).num_milliseconds();
    assert!(
        (6_000..=9_000).contains(&wait),
        "Retry-After 7 s honoured: {wait} ms"
    );
    // Not before its time.
    assert_eq!(w.flush().await, report(0, 0, 0));
    // A 503 next: backoff again.
    w.server.with(|s| s.unavailable = 1);
    assert_eq!(w.store.push_retry_now(false, Utc::now()).await.unwrap(), 1);
    assert_eq!(w.flush().await, report(0, 1, 0));
    assert_eq!(w.store.push_retry_now(false, Utc::now()).await.unwrap(), 1);
    assert_eq!(w.flush().await, report(1, 0, 0));
    assert_eq!(w.server.leads_with_email("ana.cruz@example.com"), 1);
}

on_both_backends!(a_timeout_after_the_lead_was_made_makes_no_second_lead);
async fn a_timeout_after_the_lead_was_made_makes_no_second_lead(store: Store) {
    let w = World::new(store).await;
    // Talkpush makes the lead, then answers after the client's 1 s timeout.
    w.server
        .with(|s| s.hold_create = Some(Duration::from_secs(3)));
    w.submit(ANA).await;
    assert_eq!(w.flush().await, report(1, 0, 0));
    assert_eq!(w.server.leads_with_email("ana.cruz@example.com"), 1);
    assert_eq!(w.server.creates(), 1);
    let row = &w.store.push_rows(None).await.unwrap()[0];
    assert_eq!(row.result.as_deref(), Some("found"));
    assert_eq!(row.state(), format!("synced {}", w.server.leads()[0].id));
}

on_both_backends!(an_unknown_campaign_fails_alerts_the_owners_and_can_be_retried);
async fn an_unknown_campaign_fails_alerts_the_owners_and_can_be_retried(store: Store) {
    let w = World::new(store).await;
    w.submit("Carl,Diaz,carl.diaz@example.com,0917 555 0101,40124,")
        .await;
    assert_eq!(w.flush().await, report(0, 0, 1));
    let state = &w.states().await[0];
    assert!(
        state.starts_with("failed Talkpush answered 404") && state.contains("Campaign not found"),
        "{state}"
    );
    let alerts: Vec<_> = w
        .store
        .outbox_rows()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "alert")
        .collect();
    assert_eq!(alerts.len(), 1, "one alert to the owners");
    let bytes = w.store.outbox_message(alerts[0].id).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("40124"), "{text}");
    assert!(!text.contains("carl.diaz"), "no personal data in the alert");
    // Failed stays failed.
    assert_eq!(w.flush().await, report(0, 0, 0));
    // The campaign is made in Talkpush; `talkpush retry --failed` pushes it.
    w.server.with(|s| s.campaigns.insert("40124".into()));
    assert_eq!(w.store.push_retry_now(true, Utc::now()).await.unwrap(), 1);
    assert_eq!(w.flush().await, report(1, 0, 0));
    assert_eq!(w.server.leads_with_email("carl.diaz@example.com"), 1);
    // The failure stays counted (a counter never goes down).
    assert_eq!(w.store.push_totals().await.unwrap().failures, 1);
    let health = agency_portal::daemon::health::Health {
        store: w.store.clone(),
        sources: Vec::new(),
        outbox: Default::default(),
        started: Utc::now(),
    };
    let metrics = health.metrics().await;
    for line in [
        "agency_portal_talkpush_pushes_total{result=\"created\"} 1",
        "agency_portal_talkpush_pushes_total{result=\"failed\"} 1",
        "agency_portal_talkpush_pushes_total{result=\"found\"} 0",
        "agency_portal_talkpush_queue{status=\"synced\"} 1",
        "# TYPE agency_portal_talkpush_pushes_total counter",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

on_both_backends!(review_accept_queues_the_push_and_push_candidate_forces_one);
async fn review_accept_queues_the_push_and_push_candidate_forces_one(store: Store) {
    let w = World::new(store).await;
    w.submit(ANA).await;
    // One letter off in both contacts: a possible same person, waiting for review.
    let p = w
        .submit("Ana,Cruz,ana.crus@example.com,0917 123 4568,40123,")
        .await;
    assert_eq!(p.outcomes[0].outcome.as_str(), "review");
    assert_eq!(w.states().await.len(), 1, "a review row queues nothing");
    let queue = w.store.review_queue().await.unwrap();
    w.store
        .decide_review(queue[0].row_id, true, RULES, Utc::now(), None)
        .await
        .unwrap();
    assert_eq!(w.states().await, ["pending", "pending"]);
    assert_eq!(w.flush().await, report(2, 0, 0));
    assert_eq!(w.server.leads().len(), 2);
    // `talkpush push --candidate`: a synced one is left alone.
    let first = w.store.push_rows(None).await.unwrap()[0].candidate_id;
    let r = w.store.push_candidate(first, Utc::now()).await.unwrap();
    assert_eq!(
        r,
        agency_portal::store::talkpush::PushRequest::Queued { due: 0, synced: 1 }
    );
    assert_eq!(w.flush().await, report(0, 0, 0));
}

on_both_backends!(without_talkpush_nothing_is_queued);
async fn without_talkpush_nothing_is_queued(store: Store) {
    let w = World::new(store.clone()).await;
    let plain = Pipeline {
        store: store.with_talkpush(false),
        ..w.pipeline.clone()
    };
    let text = format!("First Name,Last Name,Email,Mobile,Campaign\n{ANA}\n");
    let r = plain
        .process(
            Input {
                file_name: "acme.csv".into(),
                bytes: text.into_bytes(),
                agency_id: "acme".into(),
                user_email: None,
                default_campaign: None,
                company_country: None,
                channel: Channel::Cli,
                sender: String::new(),
                check_only: false,
                source_ref: None,
                received_at: Utc::now(),
                receipt: None,
            },
            None,
        )
        .await
        .unwrap();
    assert!(matches!(r, pipeline::Result::Processed(_)));
    assert!(w.store.push_rows(None).await.unwrap().is_empty());
}
