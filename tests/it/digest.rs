//! Digests (SPEC §8): the scheduler with a settable clock (weekdays in Manila, daily across DST
//! changes), two daemons on one Postgres sending each fire exactly once, what the agency and owner
//! digests show (and never show), the recruiter workbook, `status`, and `digest preview` as an
//! operator runs it.

use crate::support::{self, Portal};

use std::path::PathBuf;
use std::sync::Arc;

use agency_portal::digest::{self, agency, Request};
use agency_portal::directory::{self, Directory};
use agency_portal::intake::pipeline::{self, Input, Pipeline};
use agency_portal::mail::receipt::ReplyTo;
use agency_portal::mail::Outgoing;
use agency_portal::settings::{Digest, DigestKind, Scope};
use agency_portal::sheet::Limits;
use agency_portal::store::digests::{OwnershipRow, ReviewDecisionRow};
use agency_portal::store::Store;
use agency_portal::submission::{Channel, Rules};
use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use mail_parser::{MessageParser, MimeHeaders};

pub(super) const RULES: Rules = Rules {
    scope: Scope::Company,
    ownership_days: 180,
    name_similarity: 0.92,
};

pub(super) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(super) fn shipped_directory() -> Directory {
    directory::load(&repo().join("config/directory.toml")).unwrap()
}

pub(super) fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

pub(super) fn digest(kind: DigestKind, schedule: &str, tz: &str) -> Digest {
    Digest {
        kind,
        schedule: schedule.into(),
        timezone: tz.into(),
    }
}

/// The shipped directory synced into `store`, and a pipeline without receipts.
pub(super) async fn setup(store: Store) -> (Directory, Pipeline) {
    let dir = shipped_directory();
    store
        .sync_directory(&dir, "d", "x", utc(2018, 1, 1, 0, 0), &support::composer())
        .await
        .unwrap();
    let p = Pipeline {
        store,
        directory: Arc::new(dir.clone()),
        rules: RULES,
        limits: Limits::default(),
        composer: None,
    };
    (dir, p)
}

pub(super) async fn submit(
    p: &Pipeline,
    agency: &str,
    user: Option<&str>,
    rows: &str,
    at: DateTime<Utc>,
) -> pipeline::Processed {
    let input = Input {
        file_name: format!("{agency}-{}.csv", at.timestamp()),
        bytes: format!("First Name,Last Name,Email,Mobile,Campaign\n{rows}\n").into_bytes(),
        agency_id: agency.into(),
        user_email: user.map(str::to_string),
        default_campaign: None,
        company_country: None,
        channel: Channel::Email,
        sender: user.unwrap_or("someone@example.test").into(),
        check_only: false,
        source_ref: None,
        received_at: at,
        receipt: None,
    };
    match p.process(input, None).await.unwrap() {
        pipeline::Result::Processed(p) => p,
        other => panic!("{other:?}"),
    }
}

/// Text part, HTML part of a message.
pub(super) fn parts(m: &Outgoing) -> (String, String) {
    let msg = MessageParser::default().parse(&m.bytes).unwrap();
    (
        msg.body_text(0).unwrap().replace("\r\n", "\n"),
        msg.body_html(0).unwrap().replace("\r\n", "\n"),
    )
}

/// Steps the clock from `from` to `to` by `step`, calling the scheduler's tick at each step.
/// Returns the messages enqueued per tick time (only ticks that enqueued something).
pub(super) async fn tick_through(
    store: &Store,
    dir: &Directory,
    digests: &[Digest],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: Duration,
) -> Vec<(DateTime<Utc>, usize)> {
    let composer = support::composer();
    let mut out = Vec::new();
    let mut now = from;
    while now <= to {
        let n = digest::run_due(store, dir, digests, &composer, now)
            .await
            .unwrap();
        if n > 0 {
            out.push((now, n));
        }
        now += step;
    }
    out
}

pub(super) async fn fires(store: &Store, d: &Digest, tz: Tz) -> Vec<DateTime<Tz>> {
    store
        .digest_runs(&digest::digest_key(d))
        .await
        .unwrap()
        .into_iter()
        .map(|(t, _)| t.with_timezone(&tz))
        .collect()
}

// --- 1. The schedule, with a settable clock -------------------------------------------------------

const ACME_ROWS: &str = "Ana,Reyes,ana.reyes@example.com,0917 111 2222,40123\n\
                         Ben,Cruz,ben.cruz@example.com,0917 111 3333,40124\n\
                         bad,,,,40123";
const BAYANIHAN_ROWS: &str = "Carla,Santos,carla.santos@example.org,0918 444 5555,40123\n\
                              Dino,Garcia,dino.garcia@example.org,0918 444 6666,40124";
const BAYANIHAN_SECRETS: [&str; 8] = [
    "Carla",
    "Santos",
    "carla.santos@example.org",
    "+639184445555",
    "Dino",
    "dino.garcia@example.org",
    "bayanihan",
    "Bayanihan",
];

/// acme and bayanihan both submit on Monday 2026-11-30 (Manila), and each has an ownership that
/// ends within 14 days of Tuesday 08:00; talento-mx submits one.
async fn two_agencies_data(p: &Pipeline) -> DateTime<Utc> {
    let manila = chrono_tz::Asia::Manila;
    let monday = manila
        .with_ymd_and_hms(2026, 11, 30, 12, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let old = monday - Duration::days(170);
    submit(
        p,
        "acme",
        None,
        "Old,Acme,old.acme@example.com,0917 000 0001,40123",
        old,
    )
    .await;
    submit(
        p,
        "bayanihan",
        None,
        "Carla,Oldtimer,old.bayanihan@example.org,0918 000 0002,40123",
        old,
    )
    .await;
    submit(
        p,
        "acme",
        Some("eddie@acme-staffing.example"),
        ACME_ROWS,
        monday,
    )
    .await;
    submit(
        p,
        "bayanihan",
        None,
        BAYANIHAN_ROWS,
        monday + Duration::hours(1),
    )
    .await;
    submit(
        p,
        "talento-mx",
        None,
        "Lu,Diaz,lu.diaz@example.mx,55 1234 5678,50210",
        monday + Duration::hours(2),
    )
    .await;
    // Tuesday 08:00 Manila.
    manila
        .with_ymd_and_hms(2026, 12, 1, 8, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn manila_digests() -> Vec<Digest> {
    vec![
        digest(DigestKind::Agency, "0 8 * * 1-5", "Asia/Manila"),
        digest(DigestKind::Owner, "30 7 * * 1", "Asia/Manila"),
        digest(DigestKind::Recruiter, "0 9 * * 1-5", "Asia/Manila"),
    ]
}

on_both_backends!(an_agency_digest_shows_only_its_own_agency);
async fn an_agency_digest_shows_only_its_own_agency(store: Store) {
    let (dir, p) = setup(store.clone()).await;
    let at = two_agencies_data(&p).await;
    let request = Request {
        kind: DigestKind::Agency,
        agency: Some("acme".into()),
        to: None,
        at,
    };
    let msgs = digest::compose(
        &store,
        &dir,
        &manila_digests(),
        &support::composer(),
        &request,
    )
    .await
    .unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].recipients, ["ana@acme-staffing.example"]);
    let (text, html) = parts(&msgs[0]);
    println!("{text}");
    for part in [&text, &html] {
        for mine in [
            "Ana Reyes",
            "ben.cruz@example.com",
            "+639171112222",
            "Old Acme",
        ] {
            assert!(part.contains(mine), "acme's {mine} is shown");
        }
        for theirs in BAYANIHAN_SECRETS {
            assert!(
                !part.contains(theirs),
                "bayanihan's {theirs} is not: {part}"
            );
        }
        assert!(!part.contains("Lu Diaz") && !part.contains("Talento"));
    }
    assert!(text.contains(
        "new 2, previously_submitted 0, duplicate 0, blocked 0, review 0, repeated 0, invalid 1"
    ));
    assert!(
        text.contains("40123 Customer Service Manila: new 1,"),
        "{text}"
    );
    let expiring = text
        .split("Ownerships ending")
        .nth(1)
        .expect("expiring list");
    assert!(expiring.contains("Old Acme"), "{text}");

    // And the other way round.
    let request = Request {
        agency: Some("bayanihan".into()),
        ..request
    };
    let msgs = digest::compose(
        &store,
        &dir,
        &manila_digests(),
        &support::composer(),
        &request,
    )
    .await
    .unwrap();
    let (text, html) = parts(&msgs[0]);
    for part in [&text, &html] {
        assert!(part.contains("Carla Santos"));
        for acme in ["Ana", "Reyes", "ana.reyes@example.com", "Old Acme", "acme"] {
            assert!(!part.contains(acme), "acme's {acme} is not shown: {part}");
        }
    }
}

/// Even when handed every agency's rows, the pure agency digest keeps only its agency's.
#[test]
fn the_agency_digest_keeps_only_its_agency_whatever_rows_it_is_given() {
    let dir = shipped_directory();
    let t = utc(2026, 11, 30, 4, 0);
    let row = |agency: &str, first: &str| OwnershipRow {
        candidate_id: 1,
        first_name: first.into(),
        last_name: "X".into(),
        email: Some(format!("{first}@example.com")),
        phone: None,
        agency_id: agency.into(),
        user_email: None,
        campaign_id: Some("40123".into()),
        started_at: t,
        expires_at: t + Duration::days(3),
        erased: false,
    };
    let rows = vec![row("acme", "Ana"), row("bayanihan", "Carla")];
    let period = digest::Period {
        since: t - Duration::days(1),
        until: t + Duration::hours(1),
        tz: chrono_tz::Asia::Manila,
    };
    let d = agency::build(agency::AgencyInput {
        agency: dir.agency("acme").unwrap(),
        editor: None,
        campaigns: &dir.campaigns,
        period: &period,
        submissions: &[],
        outcomes: &[],
        new: &rows,
        expiring: &rows,
        decisions: &["acme", "bayanihan"].map(|agency| ReviewDecisionRow {
            agency_id: agency.into(),
            user_email: None,
            file_name: format!("{agency}.xlsx"),
            row_number: 3,
            name: "Rosa Cruz".into(),
            outcome: "duplicate".into(),
            reviewed_at: t,
        }),
    });
    let names: Vec<&str> = d.new_candidates.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Ana X"]);
    assert_eq!(d.expiring.len(), 1);
    let files: Vec<&str> = d.decisions.iter().map(|x| x.file_name.as_str()).collect();
    assert_eq!(files, ["acme.xlsx"]);
}

fn png_size(bytes: &[u8]) -> (u32, u32) {
    let reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let info = reader.info();
    (info.width, info.height)
}

/// The inline image of a message: (content id, content type, bytes).
fn inline_image(bytes: &[u8]) -> (String, String, Vec<u8>) {
    let msg = MessageParser::default().parse(bytes).unwrap();
    let part = msg
        .parts
        .iter()
        .find(|p| {
            p.content_type()
                .is_some_and(|c| c.ctype() == "image" && c.subtype() == Some("png"))
        })
        .expect("an image/png part");
    assert_eq!(
        part.content_disposition().map(|d| d.ctype()),
        Some("inline")
    );
    (
        part.content_id().expect("Content-ID").to_string(),
        "image/png".into(),
        part.contents().to_vec(),
    )
}

on_both_backends!(the_owner_digest_shows_every_agency_by_country_and_a_chart);
async fn the_owner_digest_shows_every_agency_by_country_and_a_chart(store: Store) {
    let (dir, p) = setup(store.clone()).await;
    let at = two_agencies_data(&p).await;
    let request = Request {
        kind: DigestKind::Owner,
        agency: None,
        to: None,
        at,
    };
    let msgs = digest::compose(
        &store,
        &dir,
        &manila_digests(),
        &support::composer(),
        &request,
    )
    .await
    .unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        msgs[0].recipients,
        ["olivia@company.example", "oscar@company.example"]
    );
    let (text, html) = parts(&msgs[0]);
    println!("{text}");
    // Every agency of the directory, inactive ones too, under its country, countries in order.
    let agencies = text.split("Campaigns (").next().unwrap();
    let mut last_country = 0;
    for (country, ids) in [
        ("BR", &["rio-rh"][..]),
        ("CO", &["andina"][..]),
        ("MX", &["talento-mx"][..]),
        ("PH", &["acme", "bayanihan"][..]),
    ] {
        let heading = agencies
            .find(&format!("\n{country}\n"))
            .unwrap_or_else(|| panic!("{country} heading"));
        assert!(heading > last_country, "countries in order");
        last_country = heading;
        let section = &agencies[heading + 4..];
        let section = section.split("\n\n").next().unwrap();
        let section: String = section
            .lines()
            .take_while(|l| l.starts_with("  "))
            .collect::<Vec<_>>()
            .join("\n");
        for id in ids {
            assert!(
                section.contains(&format!("  {id} ")),
                "{id} under {country}: {section}"
            );
        }
    }
    assert!(
        text.contains("acme Acme Staffing: 1 submission, 2 new, duplicate 0.0%, invalid 33.3%"),
        "{text}"
    );
    assert!(text.contains("rio-rh Rio Recursos Humanos (inactive)"));
    assert!(text.contains("Review queue: 0 waiting"));
    assert!(text.contains("Rejected mail (unknown or unauthenticated senders, no reply sent): 0"));
    // The chart, inline: the HTML shows it by its Content-ID, and it is an 800x400 PNG.
    let (cid, _, png_bytes) = inline_image(&msgs[0].bytes);
    assert!(html.contains(&format!("src=\"cid:{cid}\"")), "{html}");
    assert_eq!(png_size(&png_bytes), (800, 400));
}

on_both_backends!(the_recruiter_digest_lists_their_campaigns_new_candidates_with_a_workbook);
async fn the_recruiter_digest_lists_their_campaigns_new_candidates_with_a_workbook(store: Store) {
    let (dir, p) = setup(store.clone()).await;
    let at = two_agencies_data(&p).await;
    let request = Request {
        kind: DigestKind::Recruiter,
        agency: None,
        to: Some("rick@company.example".into()),
        at,
    };
    let msgs = digest::compose(
        &store,
        &dir,
        &manila_digests(),
        &support::composer(),
        &request,
    )
    .await
    .unwrap();
    assert_eq!(msgs.len(), 1);
    let (text, _) = parts(&msgs[0]);
    // Rick has 40123 and 40124: acme's and bayanihan's four, not talento-mx's (50210).
    for name in ["Ana Reyes", "Ben Cruz", "Carla Santos", "Dino Garcia"] {
        assert!(text.contains(name), "{name}: {text}");
    }
    assert!(!text.contains("Lu Diaz"));
    let msg = MessageParser::default().parse(&msgs[0].bytes).unwrap();
    let xlsx = msg
        .attachments()
        .find(|a| a.attachment_name().is_some_and(|n| n.ends_with(".xlsx")))
        .expect("workbook attached");
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx.contents().to_vec())).unwrap();
    use calamine::Reader;
    let range = wb.worksheet_range("New candidates").unwrap();
    let rows: Vec<Vec<String>> = range
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(rows[0][0], "First Name");
    assert_eq!(rows.len(), 5, "header + 4 candidates: {rows:?}");
    assert!(rows
        .iter()
        .any(|r| r[0] == "Ana" && r[2] == "+639171112222" && r[4] == "Acme Staffing"));
}

// --- status: the digest an address gets now --------------------------------------------------------

on_both_backends!(status_gives_each_person_their_digest_since_the_last_one);
async fn status_gives_each_person_their_digest_since_the_last_one(store: Store) {
    let (dir, p) = setup(store.clone()).await;
    let at = two_agencies_data(&p).await;
    let digests = manila_digests();
    let composer = support::composer();
    // Monday 08:00's scheduled digests were sent: "since the last digest" starts there.
    let monday_eight = at - Duration::days(1);
    digest::run_due(
        &store,
        &dir,
        &digests,
        &composer,
        monday_eight + Duration::minutes(1),
    )
    .await
    .unwrap();
    let reply = ReplyTo {
        message_id: "<cmd-1@acme-staffing.example>".into(),
        subject: "status".into(),
    };
    let status = |email: &'static str, reply: Option<ReplyTo>| {
        let (store, dir, digests, composer) = (&store, &dir, &digests, &composer);
        async move {
            digest::for_user(store, dir, digests, composer, email, at, reply)
                .await
                .unwrap()
        }
    };
    // The editor: only his own submission (acme's Monday file), not acme's old one.
    let eddie = status("Eddie@Acme-Staffing.Example", Some(reply.clone()))
        .await
        .unwrap();
    assert_eq!(eddie.recipients, ["eddie@acme-staffing.example"]);
    let msg = MessageParser::default().parse(&eddie.bytes).unwrap();
    assert_eq!(msg.subject(), Some("Re: status"));
    assert_eq!(
        msg.in_reply_to().as_text(),
        Some("cmd-1@acme-staffing.example")
    );
    let (text, _) = parts(&eddie);
    assert!(text.contains("your own submissions"), "{text}");
    assert!(
        text.contains("From 2026-11-30 08:00 to 2026-12-01 08:00"),
        "{text}"
    );
    assert!(text.contains("Ana Reyes"));
    for theirs in BAYANIHAN_SECRETS {
        assert!(!text.contains(theirs), "{theirs}");
    }
    // The admin: the agency's digest, to her only.
    let ana = status("ana@acme-staffing.example", None).await.unwrap();
    assert_eq!(ana.recipients, ["ana@acme-staffing.example"]);
    assert!(!parts(&ana).0.contains("your own submissions"));
    // An owner: the owner digest, with its chart.
    let olivia = status("olivia@company.example", None).await.unwrap();
    assert_eq!(png_size(&inline_image(&olivia.bytes).2), (800, 400));
    // A recruiter.
    let renata = status("renata@company.example", None).await.unwrap();
    assert!(parts(&renata).0.contains("Hello Renata Ribeiro"));
    // Nobody we know; a user of an inactive agency.
    assert!(status("stranger@example.test", None).await.is_none());
    assert!(status("joao@riorh.example", None).await.is_none());
}

// --- 4. digest preview as an operator runs it -----------------------------------------------------

fn ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn digest_preview_owner_out_writes_a_message_with_text_html_and_the_inline_chart() {
    let p = Portal::sqlite();
    let portal = || {
        let mut cmd = p.command();
        cmd.env("AGENCY_PORTAL_NOW", "2026-12-01T00:00:00Z");
        cmd
    };
    let csv = p.path("week.csv");
    std::fs::write(
        &csv,
        "First Name,Last Name,Email,Mobile,Campaign\nAna,Reyes,ana.reyes@example.com,0917 111 2222,40123\n",
    )
    .unwrap();
    ok(portal().args(["ingest", "--agency", "acme"]).arg(&csv));
    let eml = p.path("x.eml");
    let said = ok(portal()
        .args(["digest", "preview", "--kind", "owner", "--out"])
        .arg(&eml));
    assert!(said.contains("written to"), "{said}");
    let bytes = std::fs::read(&eml).unwrap();
    let msg = MessageParser::default().parse(&bytes).unwrap();
    let text = msg.body_text(0).unwrap();
    let html = msg.body_html(0).unwrap();
    assert!(text.contains("Agency Portal, from"), "{text}");
    assert!(
        text.contains("acme Acme Staffing: 1 submission, 1 new"),
        "{text}"
    );
    let (cid, _, png_bytes) = inline_image(&bytes);
    assert!(html.contains(&format!("cid:{cid}")));
    assert_eq!(png_size(&png_bytes), (800, 400));
    println!(
        "x.eml: {} bytes, subject {:?}, text {} chars, html {} chars, inline {cid} {} bytes",
        bytes.len(),
        msg.subject(),
        text.len(),
        html.len(),
        png_bytes.len()
    );

    // Without --out: the text part on stdout. `digest send` writes to the outbox.
    let text = ok(portal().args(["digest", "preview", "--kind", "agency", "--agency", "acme"]));
    assert!(text.starts_with("Acme Staffing\n"), "{text}");
    assert!(text.contains("Ana Reyes"));
    let said = ok(portal().args(["digest", "send", "--kind", "recruiter"]));
    assert!(
        said.starts_with("2 recruiter digest message(s) written to the outbox"),
        "{said}"
    );
    let list = ok(portal().args(["outbox", "list"]));
    assert_eq!(
        list.lines().filter(|l| l.contains("\tdigest\t")).count(),
        2,
        "{list}"
    );
    // A request naming nobody is the operator's to fix: exit 2.
    let out = portal()
        .args([
            "digest",
            "preview",
            "--kind",
            "recruiter",
            "--to",
            "nobody@example.test",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
