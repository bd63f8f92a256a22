//! Deciding one row (SPEC §6.4): the same person earlier in the file or in the database, then the
//! review rule, else `new`.

use super::earlier::{contact_of, email_of, phone_of, Earlier, PHONE};
use super::similar::Similar;
use super::{row_scope, Decision, KnownPeople, Owner, Person, Policy, RowInput, Take};
use crate::i18n::{Part, Reason};
use crate::outcome::Outcome;

/// What deciding a row looks at besides the row itself: the file's rows, the decisions of the rows
/// before it, those rows by key, the people the database knows, and the rules.
pub(super) struct Cx<'c, S> {
    pub(super) rows: &'c [RowInput<S>],
    pub(super) decided: &'c [Decision],
    pub(super) earlier: &'c Earlier,
    pub(super) known: &'c KnownPeople,
    pub(super) policy: &'c Policy,
}

/// The same person (SPEC §6.3: an equal email or phone key, whatever the other field says) earlier
/// in this file, else in the database, and the outcome that gives: `repeated`, or the outcome of
/// the person's current owner in scope (`new` taking it over when there is none). When the email
/// names one person and the phone another, `review`. `None`: nobody has the row's email or phone.
fn same_person<S: AsRef<str>>(row: &RowInput<S>, cx: &Cx<'_, S>) -> Option<Decision> {
    let Cx {
        rows,
        decided,
        earlier,
        known,
        policy,
    } = cx;
    let id = &row.identity;
    let sk = row_scope(policy.scope, row);

    // 1. Earlier in this file.
    let by_email = id
        .email()
        .and_then(|e| earlier.by_email.get((sk, e), email_of(rows, policy.scope)))
        .map(|j| j as usize);
    let by_phone = id
        .phone()
        .and_then(|p| earlier.by_phone.get((sk, p), phone_of(rows, policy.scope)))
        .map(|j| j as usize);
    if let (Some(a), Some(b)) = (by_email, by_phone) {
        // Two earlier rows of two people (not one that repeated the other).
        let (pa, pb) = (decided[a].person, decided[b].person);
        if a != b && !(pa.is_some() && pa == pb) {
            let (first, second) = (rows[a.min(b)].number, rows[a.max(b)].number);
            return Some(Decision {
                outcome: Outcome::Review,
                reason: Part::ReviewTwoRows { first, second }.into(),
                person: None,
                same_as_row: Some(rows[a].number),
                take: None,
            });
        }
    }
    if let Some(j) = by_email.into_iter().chain(by_phone).min() {
        let number = rows[j].number;
        // An earlier row waiting for review names only a possible match: not this row's person.
        let person = match decided[j].outcome {
            Outcome::Review => None,
            _ => decided[j].person,
        };
        return Some(Decision {
            outcome: Outcome::Repeated,
            reason: Part::Repeated { row: number }.into(),
            person,
            same_as_row: Some(number),
            take: None,
        });
    }

    // 2. In the database.
    let by_email = id.email().and_then(|e| known.by_email.get(e));
    let by_phone = id.phone().and_then(|p| known.by_phone.get(p));
    let cid = match (by_email, by_phone) {
        (Some(&a), Some(&b)) if a != b => {
            return Some(Decision {
                outcome: Outcome::Review,
                reason: Part::ReviewConflict.into(),
                person: Some(Person::Known(a)),
                same_as_row: None,
                take: None,
            });
        }
        (Some(&cid), _) | (None, Some(&cid)) => cid,
        (None, None) => return None,
    };
    let owner = known
        .people
        .get(&cid)
        .and_then(|p| p.owners.get(sk))
        .filter(|o| o.expires_at > policy.now);
    let (outcome, reason, take) = match owner {
        Some(Owner {
            agency_id: None, ..
        }) => (Outcome::Blocked, Part::Blocked.into(), None),
        Some(Owner {
            agency_id: Some(a), ..
        }) if *a == policy.agency_id => (
            Outcome::PreviouslySubmitted,
            Part::PreviouslySubmitted.into(),
            None,
        ),
        Some(_) => (Outcome::Duplicate, Part::Duplicate.into(), None),
        None => (Outcome::New, Reason::default(), Some(Take::Own)),
    };
    Some(Decision {
        outcome,
        reason,
        person: Some(Person::Known(cid)),
        same_as_row: None,
        take,
    })
}

/// SPEC §6.4 (r2), step 2 for a row with missing or malformed fields: the identity outcome its
/// well-formed email or phone gives (`repeated`, `previously_submitted`, `duplicate`, `blocked`),
/// its reason naming the row's problems too; else `invalid`.
pub(super) fn identified<S: AsRef<str>>(
    row: &RowInput<S>,
    cx: &Cx<'_, S>,
    problems: &Reason,
) -> Decision {
    match same_person(row, cx) {
        Some(mut d)
            if matches!(
                d.outcome,
                Outcome::Repeated
                    | Outcome::PreviouslySubmitted
                    | Outcome::Duplicate
                    | Outcome::Blocked
            ) =>
        {
            d.reason = d.reason.and(problems);
            d
        }
        _ => Decision::new(Outcome::Invalid, problems.clone()),
    }
}

pub(super) fn decide_row<S: AsRef<str>>(
    i: usize,
    row: &RowInput<S>,
    cx: &Cx<'_, S>,
    similar: &Similar,
) -> Decision {
    if let Some(d) = same_person(row, cx) {
        return d;
    }
    let Cx {
        rows,
        decided,
        earlier,
        ..
    } = cx;
    let id = &row.identity;

    // 2b. The same person earlier in this file, in another scope (another campaign): one person,
    //     owned in this scope by nobody yet.
    let other_scope = [id.email(), id.phone()]
        .into_iter()
        .flatten()
        .filter_map(|k| earlier.any_scope.get(k, contact_of(rows)))
        .map(|e| (e & !PHONE) as usize)
        .min();
    if let Some(j) = other_scope {
        if let Some(person) = decided[j].person {
            return Decision {
                outcome: Outcome::New,
                reason: Reason::default(),
                person: Some(person),
                same_as_row: None,
                take: Some(Take::Own),
            };
        }
    }

    // 3. A possible same person: in the database, then earlier in the file.
    if let Some(cid) = similar.known {
        return Decision {
            outcome: Outcome::Review,
            reason: Part::ReviewSimilar.into(),
            person: Some(Person::Known(cid)),
            same_as_row: None,
            take: None,
        };
    }
    if let Some(j) = similar.row {
        let number = rows[j].number;
        return Decision {
            outcome: Outcome::Review,
            reason: Part::ReviewSimilarRow { row: number }.into(),
            person: decided[j].person,
            same_as_row: Some(number),
            take: None,
        };
    }

    // 4. Nobody: a new person.
    Decision {
        outcome: Outcome::New,
        reason: Reason::default(),
        person: Some(Person::NewFromRow(i)),
        same_as_row: None,
        take: Some(Take::Create),
    }
}
