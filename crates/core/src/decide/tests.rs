//! Tests of [`super`]: every outcome, scopes, in-file rows, the review rule.

use super::*;
use crate::i18n::Part;
use chrono::{Duration, TimeZone};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap()
}

fn policy(scope: Scope) -> Policy {
    Policy {
        scope,
        name_similarity: 0.92,
        agency_id: "acme".into(),
        now: now(),
    }
}

fn ident(first: &str, last: &str, email: Option<&str>, phone: Option<&str>) -> Identity {
    Identity {
        first: first.into(),
        last: last.into(),
        email_key: email.map(Into::into),
        phone_key: phone.map(Into::into),
    }
}

fn row(number: u32, id: Identity) -> RowInput {
    RowInput {
        number,
        invalid: None,
        fields_only: false,
        identity: id,
        campaign_id: Some("40123".into()),
    }
}

fn known_with(owner: Option<&str>, expires_in_days: i64) -> KnownPeople {
    let mut k = KnownPeople::default();
    let mut owners = HashMap::new();
    if let Some(o) = owner {
        owners.insert(
            String::new(),
            Owner {
                agency_id: (o != "company").then(|| o.to_string()),
                expires_at: now() + Duration::days(expires_in_days),
            },
        );
    }
    k.insert(Known {
        id: 7,
        identity: ident("ana", "cruz", Some("ana@gmail.com"), Some("639171234567")),
        owners,
    });
    k
}

fn outcomes(d: &[Decision]) -> Vec<&'static str> {
    d.iter().map(|d| d.outcome.as_str()).collect()
}

#[test]
fn every_outcome_against_the_database() {
    let p = policy(Scope::Company);
    let r = [row(2, ident("ana", "cruz", Some("ana@gmail.com"), None))];
    let cases = [
        (None, 10, "new"),
        (Some("acme"), 10, "previously_submitted"),
        (Some("rival"), 10, "duplicate"),
        (Some("company"), 10, "blocked"),
        (Some("rival"), -1, "new"),
        (Some("company"), -1, "new"),
    ];
    for (owner, days, want) in cases {
        let d = decide(&r, &known_with(owner, days), &p);
        assert_eq!(d[0].outcome.as_str(), want, "{owner:?} {days}");
        assert_eq!(d[0].person, Some(Person::Known(7)));
        if want == "new" {
            assert_eq!(d[0].take, Some(Take::Own));
        }
        assert!(!d[0].reason.english().contains("rival"));
    }
}

#[test]
fn in_file_repeated_and_invalid() {
    let p = policy(Scope::Company);
    let mut bad = row(3, ident("x", "y", None, None));
    bad.invalid = Some("email: missing".into());
    let rows = [
        row(2, ident("ana", "cruz", Some("ana@gmail.com"), None)),
        bad,
        row(4, ident("ana", "c", None, Some("639171234567"))),
        row(
            5,
            ident("ana", "cruz", Some("ana@gmail.com"), Some("639171234567")),
        ),
    ];
    let d = decide(&rows, &KnownPeople::default(), &p);
    // Row 5's email is row 2's person's, its phone row 4's: two people of this file.
    assert_eq!(outcomes(&d), ["new", "invalid", "new", "review"]);
    assert_eq!(d[3].same_as_row, Some(2));
    assert_eq!(d[3].person, None);
}

#[test]
fn conflicting_contacts_and_similar_people_go_to_review() {
    let p = policy(Scope::Company);
    let mut k = known_with(Some("other"), 10);
    k.insert(Known {
        id: 8,
        identity: ident("ben", "reyes", Some("ben@gmail.com"), Some("639181111111")),
        owners: HashMap::new(),
    });
    let rows = [
        row(
            2,
            ident("ana", "cruz", Some("ana@gmail.com"), Some("639181111111")),
        ),
        row(3, ident("ana", "cruz", Some("anna@gmail.com"), None)),
        row(
            4,
            ident("ana", "cruz", Some("ana@yahoo.com"), Some("639999999999")),
        ),
    ];
    let d = decide(&rows, &k, &p);
    assert_eq!(outcomes(&d), ["review", "review", "new"]);
    assert_eq!(d[1].person, Some(Person::Known(7)));
}

#[test]
fn campaign_scope_owns_per_campaign() {
    let p = policy(Scope::Campaign);
    let mut k = KnownPeople::default();
    k.insert(Known {
        id: 7,
        identity: ident("ana", "cruz", Some("ana@gmail.com"), None),
        owners: HashMap::from([(
            "40123".to_string(),
            Owner {
                agency_id: Some("other".into()),
                expires_at: now() + Duration::days(30),
            },
        )]),
    });
    let mut r2 = row(3, ident("ana", "cruz", Some("ana@gmail.com"), None));
    r2.campaign_id = Some("40124".into());
    let rows = [
        row(2, ident("ana", "cruz", Some("ana@gmail.com"), None)),
        r2,
    ];
    let d = decide(&rows, &k, &p);
    assert_eq!(outcomes(&d), ["duplicate", "new"]);
    assert_eq!(d[1].take, Some(Take::Own));

    // A person new to the database, submitted to two campaigns in one file: one candidate.
    let mut b2 = row(3, ident("ben", "reyes", Some("ben@gmail.com"), None));
    b2.campaign_id = Some("40124".into());
    let rows = [
        row(2, ident("ben", "reyes", Some("ben@gmail.com"), None)),
        b2,
    ];
    let d = decide(&rows, &k, &p);
    assert_eq!(outcomes(&d), ["new", "new"]);
    assert_eq!(d[1].person, Some(Person::NewFromRow(0)));
    assert_eq!(d[1].take, Some(Take::Own));
}

/// SPEC §6.3 (r2): an equal email is the same person whatever the phone says (a changed
/// number), in the database and earlier in the file; only an email naming one person and a phone
/// another goes to an owner.
#[test]
fn one_email_with_another_phone_is_the_same_person() {
    let p = policy(Scope::Company);
    let mut k = known_with(Some("rival"), 10); // 7: ana@gmail.com, 639171234567
    k.insert(Known {
        id: 8,
        identity: ident("ben", "reyes", Some("ben@gmail.com"), Some("639181111111")),
        owners: HashMap::new(),
    });
    let rows = [
        row(
            2,
            ident("ana", "cruz", Some("ana@gmail.com"), Some("639998887766")),
        ),
        row(
            3,
            ident("bo", "lim", Some("bo@gmail.com"), Some("639181112222")),
        ),
        row(
            4,
            ident("bo", "lim", Some("bo@gmail.com"), Some("639182222222")),
        ),
        row(
            5,
            ident("cy", "tan", Some("cy@gmail.com"), Some("639183333333")),
        ),
        // The email of row 3, the phone of row 5: two people of this file.
        row(
            6,
            ident("bo", "lim", Some("bo@gmail.com"), Some("639183333333")),
        ),
        // The email of row 4's person, the phone row 4 gave: one person.
        row(
            7,
            ident("bo", "lim", Some("bo@gmail.com"), Some("639182222222")),
        ),
    ];
    let d = decide(&rows, &k, &p);
    assert_eq!(
        outcomes(&d),
        ["duplicate", "new", "repeated", "new", "review", "repeated"]
    );
    assert_eq!(d[0].person, Some(Person::Known(7)));
    assert_eq!(d[2].same_as_row, Some(3));
    assert_eq!(d[2].person, Some(Person::NewFromRow(1)));
    assert!(
        d[4].reason.english().contains("(3 and 5)"),
        "{}",
        d[4].reason
    );
    // Ana's email, Ben's phone: two registered people.
    let both = row(
        8,
        ident("ana", "cruz", Some("ana@gmail.com"), Some("639181111111")),
    );
    let d = decide(&[both], &k, &p);
    assert_eq!(outcomes(&d), ["review"]);
    assert_eq!(d[0].reason, Reason::from(Part::ReviewConflict));
}

fn incomplete(mut r: RowInput, problems: &str) -> RowInput {
    r.invalid = Some(problems.into());
    r.fields_only = true;
    r
}

/// SPEC §6.4 (r2): a row with a missing or malformed field whose well-formed email or phone
/// identifies someone gets that identity outcome, its reason naming the problem too; else, or
/// when the whole row is unacceptable, `invalid`.
#[test]
fn identity_before_completeness() {
    let p = policy(Scope::Company);
    for (owner, days, want) in [
        (Some("rival"), 10, "duplicate"),
        (Some("acme"), 10, "previously_submitted"),
        (Some("company"), 10, "blocked"),
        // The person is free to take: a new candidate needs a complete row.
        (Some("rival"), -1, "invalid"),
        (None, 10, "invalid"),
    ] {
        let k = known_with(owner, days);
        let rows = [incomplete(
            row(2, ident("", "cruz", None, Some("639171234567"))),
            "first name: missing; email: not a valid address",
        )];
        let d = decide(&rows, &k, &p);
        assert_eq!(d[0].outcome.as_str(), want, "{owner:?} {days}");
        if want == "invalid" {
            assert_eq!(
                d[0].reason,
                "first name: missing; email: not a valid address"
            );
            assert_eq!(d[0].person, None);
        } else {
            assert!(
                d[0].reason
                    .english()
                    .ends_with("; first name: missing; email: not a valid address"),
                "{}",
                d[0].reason
            );
            assert_eq!(d[0].person, Some(Person::Known(7)));
        }
    }
    // Unacceptable whoever the person is (a closed campaign, say): invalid.
    let k = known_with(Some("rival"), 10);
    let mut closed = row(2, ident("ana", "cruz", Some("ana@gmail.com"), None));
    closed.invalid = Some("campaign: closed".into());
    assert_eq!(outcomes(&decide(&[closed], &k, &p)), ["invalid"]);
    // Email naming one person and phone another: not an identity outcome.
    let mut k = known_with(Some("rival"), 10);
    k.insert(Known {
        id: 8,
        identity: ident("ben", "reyes", None, Some("639181111111")),
        owners: HashMap::new(),
    });
    let both = incomplete(
        row(
            2,
            ident("", "", Some("ana@gmail.com"), Some("639181111111")),
        ),
        "first name: missing",
    );
    assert_eq!(outcomes(&decide(&[both], &k, &p)), ["invalid"]);
}

/// In a file: a row with a missing name after the same person's complete row repeats it; a
/// complete row after an incomplete one of the same person is the person's first.
#[test]
fn incomplete_rows_of_a_person_in_one_file() {
    let p = policy(Scope::Company);
    let rows = [
        row(
            4,
            ident("ana", "cruz", Some("ana@gmail.com"), Some("639171234567")),
        ),
        incomplete(
            row(5, ident("", "cruz", Some("ana@gmail.com"), None)),
            "first name: missing",
        ),
        incomplete(
            row(6, ident("ben", "", None, Some("639181111111"))),
            "last name: missing",
        ),
        row(
            7,
            ident("ben", "reyes", Some("ben@gmail.com"), Some("639181111111")),
        ),
    ];
    let d = decide(&rows, &KnownPeople::default(), &p);
    assert_eq!(outcomes(&d), ["new", "repeated", "invalid", "new"]);
    assert_eq!(
        d[1].reason,
        "the same person as row 4 of this file; first name: missing"
    );
    assert_eq!(d[1].person, Some(Person::NewFromRow(0)));
    assert_eq!(d[3].person, Some(Person::NewFromRow(3)));
}

/// SPEC §6.3 (r2): both contacts within one edit is a possible same person whatever the
/// names; and the rule is exact however many people share a block: among 100 people (in the
/// database, or earlier rows) of one name whose addresses differ only in their last digits
/// (`…aabb`: any two at least two edits apart), the one a row is near to is found.
#[test]
fn review_rule_is_exact_at_any_block_size() {
    let p = policy(Scope::Company);
    let person = |n: u32| {
        let (a, b) = (n / 10, n % 10);
        ident(
            "maria",
            "santos",
            Some(&format!("maria.santos.{a}{a}{b}{b}@gmail.com")),
            Some(&format!("639175{a}{a}{b}{b}00")),
        )
    };
    let mut k = KnownPeople::default();
    for n in 0..100 {
        k.insert(Known {
            id: i64::from(n),
            identity: person(n),
            owners: HashMap::new(),
        });
    }
    // Every person stored under one email block key: more than 64.
    let key = &who_is_who::block_keys(&person(0))[0];
    let sharing = k
        .people
        .values()
        .filter(|p| who_is_who::block_keys(&p.identity).contains(key))
        .count();
    assert_eq!(sharing, 100);
    // Person 13's address with one letter typed over, its phone's last digits swapped,
    // another name.
    let typo = ident(
        "jose",
        "rizal",
        Some("maria.sangos.1133@gmail.com"),
        Some("639175113030"),
    );
    let d = decide(&[row(2, typo.clone())], &k, &p);
    assert_eq!(outcomes(&d), ["review"]);
    assert_eq!(d[0].person, Some(Person::Known(13)));
    // The same among the rows of one file.
    let mut rows: Vec<RowInput> = (0..100).map(|n| row(n + 2, person(n))).collect();
    rows.push(row(200, typo));
    let d = decide(&rows, &KnownPeople::default(), &p);
    assert!(d[..100].iter().all(|d| d.outcome == Outcome::New));
    assert_eq!(d[100].outcome, Outcome::Review);
    assert_eq!(d[100].same_as_row, Some(15));
}

#[test]
fn rows_decided_a_run_at_a_time_are_decided_as_all_at_once() {
    // Rows that repeat, look like or are invalid beside rows of earlier runs: every run size
    // hands on each row once, in order, with the decision of the whole file at once.
    let p = policy(Scope::Company);
    let k = known_with(Some("rival"), 10);
    let mut rows = vec![
        row(2, ident("ana", "cruz", Some("ana@gmail.com"), None)),
        row(3, ident("maria", "santos", Some("maria.santos@x.ph"), None)),
        row(4, ident("jo", "reyes", None, Some("639170000001"))),
        row(5, ident("maria", "santos", Some("maria.santo@x.ph"), None)),
        row(
            6,
            ident("jo", "reyes", Some("jo@x.ph"), Some("639170000001")),
        ),
        row(7, ident("lee", "tan", Some("lee@x.ph"), None)),
        row(8, ident("ana", "cruz", None, Some("639171234567"))),
    ];
    rows[5].invalid = Some("email: not an address".into());
    let whole = decide_in_runs(&rows, &k, &p, usize::MAX, |_, _| {});
    assert_eq!(
        outcomes(&whole),
        [
            "duplicate",
            "new",
            "new",
            "review",
            "repeated",
            "invalid",
            "duplicate"
        ]
    );
    for run_len in [1, 2, 3, 7] {
        let mut handed = Vec::new();
        let d = decide_in_runs(&rows, &k, &p, run_len, |run, ds| {
            assert_eq!(run.len(), ds.len());
            assert!(run.len() <= run_len);
            handed.extend(run.zip(ds.iter().cloned()));
        });
        assert_eq!(d, whole, "runs of {run_len}");
        let (at, ds): (Vec<usize>, Vec<Decision>) = handed.into_iter().unzip();
        assert_eq!(at, (0..rows.len()).collect::<Vec<_>>(), "runs of {run_len}");
        assert_eq!(ds, whole, "runs of {run_len}");
    }
}
