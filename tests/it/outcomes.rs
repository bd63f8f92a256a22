//! Every outcome of SPEC §6.4 and every rule of §6.3, through the real pipeline and store, on SQLite
//! and on Postgres. The clock is the submission's `received_at`, so ownership expiry needs no waiting.

use crate::support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use agency_portal::directory::{self, Directory};
use agency_portal::intake::pipeline::{self, Input, Pipeline, Processed};
use agency_portal::outcome::Outcome;
use agency_portal::settings::Scope;
use agency_portal::sheet::Limits;
use agency_portal::store::{Backend, Store};
use agency_portal::submission::{Channel, Rules};
use chrono::{DateTime, Duration, TimeZone, Utc};

fn directory() -> Directory {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/directory.toml");
    directory::load(&path).expect("shipped directory is valid")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 1, 0, 0).unwrap()
}

struct World {
    pipeline: Pipeline,
}

impl World {
    async fn new(store: Store, scope: Scope) -> World {
        let dir = directory();
        store
            .sync_directory(&dir, "directory.toml", "x", t0(), &support::composer())
            .await
            .unwrap();
        World {
            pipeline: Pipeline {
                store,
                directory: Arc::new(dir),
                rules: Rules {
                    scope,
                    ownership_days: 180,
                    name_similarity: 0.92,
                },
                limits: Limits::default(),
                composer: None,
            },
        }
    }

    /// Submits CSV text (header added) as `agency` at `at`.
    async fn submit(&self, agency: &str, csv_rows: &str, at: DateTime<Utc>) -> Processed {
        self.submit_as(agency, Channel::Cli, csv_rows, at).await
    }

    /// Each call's file differs in trailing blank lines only, so no two are the same bytes (a
    /// re-sent file would change nothing).
    async fn submit_as(
        &self,
        agency: &str,
        channel: Channel,
        csv_rows: &str,
        at: DateTime<Utc>,
    ) -> Processed {
        static CALLS: AtomicUsize = AtomicUsize::new(1);
        let salt = "\n".repeat(CALLS.fetch_add(1, Ordering::Relaxed));
        let text = format!("First Name,Last Name,Email,Mobile,Campaign,Notes\n{csv_rows}{salt}");
        let input = Input {
            file_name: format!("{agency}.csv"),
            bytes: text.into_bytes(),
            agency_id: agency.to_string(),
            user_email: None,
            default_campaign: None,
            company_country: Some("PH".into()),
            channel,
            sender: String::new(),
            check_only: false,
            source_ref: None,
            received_at: at,
            receipt: None,
        };
        match self.pipeline.process(input, None).await.unwrap() {
            pipeline::Result::Processed(p) => p,
            other => panic!("not processed: {other:?}"),
        }
    }
}

fn outcomes(p: &Processed) -> Vec<&'static str> {
    p.outcomes.iter().map(|o| o.outcome.as_str()).collect()
}

const ANA: &str = "Ana,Cruz,ana.cruz@gmail.com,0917 123 4567,40123,";
const BEN: &str = "Ben,Reyes,ben.reyes@yahoo.com,0918 765 4321,40123,";

on_both_backends!(every_outcome);
async fn every_outcome(store: Store) {
    let w = World::new(store, Scope::Company).await;
    // The company's own pipeline has Carla.
    let company = w
        .submit_as(
            "",
            Channel::Import,
            "Carla,Diaz,carla.diaz@gmail.com,0917 555 0000,40123,",
            t0(),
        )
        .await;
    assert_eq!(outcomes(&company), ["new"]);

    // Acme submits Ana and Ben, and Ana again further down (by phone only, Excel float).
    let acme = w
        .submit(
            "acme",
            &format!("{ANA}\n{BEN}\nAna,C.,,9171234567.0,40123,\nDan,,,,40124,"),
            t0() + Duration::hours(1),
        )
        .await;
    assert_eq!(outcomes(&acme), ["new", "new", "repeated", "invalid"]);
    assert_eq!(acme.outcomes[2].same_as_row, Some(2));
    assert_eq!(acme.outcomes[2].candidate_id, acme.outcomes[0].candidate_id);
    assert!(
        acme.outcomes[3].reason.english().contains("last_name")
            || acme.outcomes[3].reason.english().contains("last name"),
        "{}",
        acme.outcomes[3].reason
    );
    assert_eq!(acme.outcomes[3].candidate_id, None);
    let ana_id = acme.outcomes[0].candidate_id.unwrap();

    // Bayanihan submits Ana (duplicate), Carla (blocked), a near copy of Ben (review), Eve (new).
    let bay = w
        .submit(
            "bayanihan",
            "Ana,Cruz,ANA.CRUZ+jobs@gmail.com,,40124,\n\
             Carla,Diaz,,0917 555 0000,40123,\n\
             Ben,Reyes,ben.reyes@yahoo.com.ph,0918 765 4312,40123,\n\
             Eve,Santos,eve.santos@gmail.com,0917 000 1111,40123,",
            t0() + Duration::hours(2),
        )
        .await;
    assert_eq!(outcomes(&bay), ["duplicate", "blocked", "review", "new"]);
    assert_eq!(bay.outcomes[0].candidate_id, Some(ana_id));
    assert_eq!(bay.outcomes[2].candidate_id, acme.outcomes[1].candidate_id);
    for o in &bay.outcomes[..3] {
        for word in ["acme", "Acme", "company.example", "import"] {
            assert!(
                !o.reason.english().contains(word),
                "reason names the owner: {}",
                o.reason
            );
        }
    }

    // Acme sends Ana again with a new phone: previously_submitted, the record takes the new value.
    let again = w
        .submit(
            "acme",
            "Ana,Cruz,ana.cruz@gmail.com,,40124,",
            t0() + Duration::days(3),
        )
        .await;
    assert_eq!(outcomes(&again), ["previously_submitted"]);
    assert_eq!(again.outcomes[0].candidate_id, Some(ana_id));

    // An email naming one person and a phone naming another: review.
    let mixed = w
        .submit(
            "acme",
            "Ana,Cruz,ana.cruz@gmail.com,0918 765 4321,40123,",
            t0() + Duration::days(4),
        )
        .await;
    assert_eq!(outcomes(&mixed), ["review"]);
}

/// On a single-threaded runtime (as `bench-dedupe` runs the store) the store decides, then writes,
/// with no thread of its own for deciding: the same outcomes, and it ends (a writer waiting for
/// runs that never come would hang: hence the timeout).
mod every_outcome_on_one_thread {
    /// Every outcome on the store at `url`, within two minutes.
    async fn in_time(url: &str) {
        const LIMIT: std::time::Duration = std::time::Duration::from_secs(120);
        let store = agency_portal::store::Store::open(url).await.unwrap();
        tokio::time::timeout(LIMIT, super::every_outcome(store))
            .await
            .expect("recorded in time");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn sqlite() {
        let dir = tempfile::tempdir().unwrap();
        in_time(&super::support::fresh_sqlite_url(dir.path())).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn postgres() {
        in_time(&super::support::fresh_postgres_url().await).await;
    }
}

/// How many block keys the store keeps for candidate `id`.
async fn block_rows(store: &Store, id: i64) -> i64 {
    use sqlx::Connection;
    match store.backend() {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(store.url()).await.unwrap();
            sqlx::query_scalar("SELECT count(*) FROM candidate_blocks WHERE candidate_id = $1")
                .bind(id)
                .fetch_one(&mut c)
                .await
                .unwrap()
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(store.url()).await.unwrap();
            agency_portal::store::blocks::entries_of(&mut c, id)
                .await
                .unwrap()
                .len() as i64
        }
    }
}

on_both_backends!(a_contact_a_record_takes_later_is_where_the_review_rule_finds_it);
async fn a_contact_a_record_takes_later_is_where_the_review_rule_finds_it(store: Store) {
    let w = World::new(store, Scope::Company).await;
    let first = w
        .submit("acme", "Gina,Lopez,gina.lopez@gmail.com,,40124,", t0())
        .await;
    assert_eq!(outcomes(&first), ["new"], "{}", first.outcomes[0].reason);
    // Acme sends Gina again, now with her mobile: the record takes it.
    let again = w
        .submit(
            "acme",
            "Gina,Lopez,gina.lopez@gmail.com,0917 222 3344,40124,",
            t0() + Duration::days(1),
        )
        .await;
    assert_eq!(outcomes(&again), ["previously_submitted"]);
    // Her block keys are those of her record now (four of the email, three of the mobile), the
    // email's alone gone.
    let now = agency_portal::who_is_who::Identity {
        first: "gina".to_string(),
        last: "lopez".to_string(),
        email_key: Some("ginalopez@gmail.com".to_string()),
        phone_key: Some("639172223344".to_string()),
    };
    assert_eq!(agency_portal::who_is_who::block_keys(&now).len(), 7);
    assert_eq!(
        block_rows(&w.pipeline.store, first.outcomes[0].candidate_id.unwrap()).await,
        7
    );
    // Another agency's Gina Lopez with another address and that mobile one digit off: possibly
    // her, found through the mobile the record took.
    let near = w
        .submit(
            "bayanihan",
            "Gina,Lopez,glopez@yahoo.com,0917 222 3343,40124,",
            t0() + Duration::days(2),
        )
        .await;
    assert_eq!(outcomes(&near), ["review"]);
    assert_eq!(
        near.outcomes[0].candidate_id,
        first.outcomes[0].candidate_id
    );
}

on_both_backends!(ownership_expires_and_passes_to_the_next_agency);
async fn ownership_expires_and_passes_to_the_next_agency(store: Store) {
    let w = World::new(store, Scope::Company).await;
    let first = w.submit("acme", ANA, t0()).await;
    assert_eq!(outcomes(&first), ["new"], "{}", first.outcomes[0].reason);
    let ana = first.outcomes[0].candidate_id;
    let day179 = w.submit("bayanihan", ANA, t0() + Duration::days(179)).await;
    assert_eq!(outcomes(&day179), ["duplicate"]);
    let day181 = w.submit("bayanihan", ANA, t0() + Duration::days(181)).await;
    assert_eq!(outcomes(&day181), ["new"], "expired ownership is taken");
    assert_eq!(
        day181.outcomes[0].candidate_id, ana,
        "same person, new owner"
    );
    let back = w.submit("acme", ANA, t0() + Duration::days(182)).await;
    assert_eq!(outcomes(&back), ["duplicate"], "now bayanihan owns Ana");
    let history = w
        .pipeline
        .store
        .ownership_history(ana.unwrap())
        .await
        .unwrap();
    let agencies: Vec<(Option<String>, bool)> = history
        .iter()
        .map(|h| (h.agency_id.clone(), h.superseded_at.is_some()))
        .collect();
    assert_eq!(
        agencies,
        [
            (Some("acme".to_string()), true),
            (Some("bayanihan".to_string()), false)
        ]
    );
}

on_both_backends!(campaign_scope_owns_per_campaign);
async fn campaign_scope_owns_per_campaign(store: Store) {
    let w = World::new(store, Scope::Campaign).await;
    let a = w.submit("acme", ANA, t0()).await;
    assert_eq!(outcomes(&a), ["new"]);
    let other_campaign = ANA.replace("40123", "40124");
    let b = w
        .submit("bayanihan", &other_campaign, t0() + Duration::hours(1))
        .await;
    assert_eq!(outcomes(&b), ["new"]);
    assert_eq!(b.outcomes[0].candidate_id, a.outcomes[0].candidate_id);
    let c = w.submit("bayanihan", ANA, t0() + Duration::hours(2)).await;
    assert_eq!(outcomes(&c), ["duplicate"]);
    // One file, one person, two campaigns: one candidate, two ownerships.
    let both = format!("{}\n{}", BEN, BEN.replace("40123", "40124"));
    let d = w.submit("acme", &both, t0() + Duration::hours(3)).await;
    assert_eq!(outcomes(&d), ["new", "new"]);
    assert_eq!(d.outcomes[0].candidate_id, d.outcomes[1].candidate_id);
}

on_both_backends!(resending_a_file_changes_nothing);
async fn resending_a_file_changes_nothing(store: Store) {
    let w = World::new(store, Scope::Company).await;
    let text = format!("First Name,Last Name,Email,Mobile,Campaign,Notes\n{ANA}\n{BEN}\n");
    let input = |name: &str, at| Input {
        file_name: name.into(),
        bytes: text.clone().into_bytes(),
        agency_id: "acme".into(),
        user_email: None,
        default_campaign: None,
        company_country: None,
        channel: Channel::Email,
        sender: String::new(),
        check_only: false,
        source_ref: None,
        received_at: at,
        receipt: None,
    };
    let first = match w
        .pipeline
        .process(input("people.csv", t0()), None)
        .await
        .unwrap()
    {
        pipeline::Result::Processed(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(outcomes(&first), ["new", "new"]);
    let again = input("people (1).csv", t0() + Duration::days(1));
    match w.pipeline.process(again, None).await.unwrap() {
        pipeline::Result::AlreadyProcessed { submission_id } => {
            assert_eq!(Some(submission_id), first.submission_id)
        }
        other => panic!("expected already processed: {other:?}"),
    }
}

on_both_backends!(a_check_decides_but_creates_nothing);
async fn a_check_decides_but_creates_nothing(store: Store) {
    let w = World::new(store, Scope::Company).await;
    let text = format!("First Name,Last Name,Email,Mobile,Campaign,Notes\n{ANA}\n{ANA}\n");
    let check = |at| Input {
        file_name: "check.csv".into(),
        bytes: text.clone().into_bytes(),
        agency_id: "acme".into(),
        user_email: None,
        default_campaign: None,
        company_country: None,
        channel: Channel::Cli,
        sender: String::new(),
        check_only: true,
        source_ref: None,
        received_at: at,
        receipt: None,
    };
    for _ in 0..2 {
        match w.pipeline.process(check(t0()), None).await.unwrap() {
            pipeline::Result::Processed(p) => {
                assert_eq!(outcomes(&p), ["new", "repeated"]);
                assert_eq!(p.submission_id, None);
            }
            other => panic!("{other:?}"),
        }
    }
    let real = w.submit("acme", ANA, t0()).await;
    assert_eq!(outcomes(&real), ["new"], "the checks created nothing");
    let _ = Outcome::New;
}

on_both_backends!(who_is_who_as_revision_2_says);
/// SPEC §6.3 and §6.4, revision 2: an equal email is the same person whatever the phone says, and
/// the record takes the new number; a row's identity decides before its completeness; both
/// contacts near is a possible same person whatever the names; and the review rule finds its pair
/// among any number of people sharing a block key.
async fn who_is_who_as_revision_2_says(store: Store) {
    let w = World::new(store, Scope::Company).await;
    // Acme: Ana, then Ana again without her first name and phone (campaign 40123 requires a
    // phone): repeated, not to be fixed.
    let acme = w
        .submit(
            "acme",
            &format!("{ANA}\n,Cruz,ana.cruz@gmail.com,,40123,"),
            t0(),
        )
        .await;
    assert_eq!(outcomes(&acme), ["new", "repeated"]);
    assert_eq!(
        acme.outcomes[1].reason,
        "the same person as row 2 of this file; first name: missing; phone: missing"
    );
    assert!(acme.to_fix_xlsx.is_none());
    let ana = acme.outcomes[0].candidate_id;

    // Bayanihan: Ana's email with another phone (she changed numbers), and Ana's phone with no
    // last name and a malformed email; a row with no name and nobody's contact stays invalid.
    let bay = w
        .submit(
            "bayanihan",
            "Ana,Cruz,ana.cruz@gmail.com,0918 111 2222,40123,\n\
             Ana,,ana.cruz@,0917 123 4567,40123,\n\
             ,Lim,lim@gmail.com,,40123,",
            t0() + Duration::hours(1),
        )
        .await;
    assert_eq!(outcomes(&bay), ["duplicate", "duplicate", "invalid"]);
    assert_eq!(bay.outcomes[0].candidate_id, ana);
    assert_eq!(bay.outcomes[1].candidate_id, ana);
    let reason = &bay.outcomes[1].reason.english();
    assert!(
        reason.starts_with("already registered by another agency; last name: missing")
            && reason.contains("email: not a valid address"),
        "{reason}"
    );
    assert!(bay.to_fix_xlsx.is_some(), "the invalid row is to be fixed");

    // Acme sends Ana with a new number: previously_submitted, and the record takes it, so her new
    // number alone finds her.
    let again = w
        .submit(
            "acme",
            "Ana,Cruz,ana.cruz@gmail.com,0918 333 4444,40123,",
            t0() + Duration::days(1),
        )
        .await;
    assert_eq!(outcomes(&again), ["previously_submitted"]);
    let by_new_number = w
        .submit(
            "bayanihan",
            "Anna,Cruz,,0918 333 4444,40123,",
            t0() + Duration::days(2),
        )
        .await;
    assert_eq!(outcomes(&by_new_number), ["duplicate"]);
    assert_eq!(by_new_number.outcomes[0].candidate_id, ana);

    // One hundred Maria Santos of Acme whose addresses differ only in their last digits (any two
    // at least two edits apart), all under one email block key; another agency's row with
    // another name, one letter of an address typed over and two digits of its mobile swapped:
    // possibly that one person.
    let marias: Vec<String> = (0..100)
        .map(|n| {
            let (a, b) = (n / 10, n % 10);
            format!("Maria,Santos,maria.santos.{a}{a}{b}{b}@gmail.com,09175{a}{a}{b}{b}00,40123,")
        })
        .collect();
    let many = w
        .submit("acme", &marias.join("\n"), t0() + Duration::days(3))
        .await;
    assert!(many.outcomes.iter().all(|o| o.outcome == Outcome::New));
    let typo = w
        .submit(
            "bayanihan",
            "Jose,Rizal,maria.sangos.1133@gmail.com,0917 511 3030,40123,",
            t0() + Duration::days(4),
        )
        .await;
    assert_eq!(outcomes(&typo), ["review"]);
    assert_eq!(
        typo.outcomes[0].candidate_id,
        many.outcomes[13].candidate_id
    );
}

/// The `Candidate ID` column of a results workbook, row by row (empty: none shown).
fn shown_ids(p: &Processed) -> Vec<String> {
    use calamine::{DataType, Reader, Xlsx};
    let mut wb = Xlsx::new(std::io::Cursor::new(p.results_xlsx.clone())).unwrap();
    let range = wb.worksheet_range_at(0).unwrap().unwrap();
    let mut rows = range.rows();
    let header = rows.next().unwrap();
    let col = header
        .iter()
        .position(|c| c.get_string() == Some("Candidate ID"))
        .expect("a Candidate ID column");
    rows.map(|r| r.get(col).map(|c| c.to_string()).unwrap_or_default())
        .collect()
}

on_both_backends!(results_show_only_the_agencys_own_candidate_ids);
/// SPEC §5 (r2): a results workbook shows the candidate id of the agency's own candidates only; a
/// `duplicate`, `blocked` or `review` row of another agency's person, or a `repeated` row of one,
/// shows none.
async fn results_show_only_the_agencys_own_candidate_ids(store: Store) {
    let w = World::new(store, Scope::Company).await;
    let acme = w.submit("acme", &format!("{ANA}\n{BEN}"), t0()).await;
    assert_eq!(outcomes(&acme), ["new", "new"]);
    assert_eq!(
        shown_ids(&acme),
        acme.outcomes
            .iter()
            .map(|o| o.candidate_id.unwrap().to_string())
            .collect::<Vec<_>>()
    );
    let bay = w
        .submit(
            "bayanihan",
            &format!(
                "{ANA}\nAna,Cruz,,0917 123 4567,40123,\n\
                 Ben,Reyes,ben.reyes@yahoo.com.ph,0918 765 4312,40123,\n\
                 Eve,Santos,eve.santos@gmail.com,0917 000 1111,40123,"
            ),
            t0() + Duration::hours(1),
        )
        .await;
    assert_eq!(outcomes(&bay), ["duplicate", "repeated", "review", "new"]);
    assert!(bay.outcomes[..3].iter().all(|o| o.candidate_id.is_some()));
    let eve = bay.outcomes[3].candidate_id.unwrap().to_string();
    assert_eq!(shown_ids(&bay), ["", "", "", eve.as_str()]);
}
