//! Digests (SPEC §8): the dashboard, by email.
//!
//! - [`run_due`] is the scheduler's tick (the daemon calls it every ~30 s; several daemons may): for
//!   each `[[digests]]` entry, the latest fire time at or before now that was not sent yet is claimed
//!   in `digest_runs` and its messages are written to the outbox **in one transaction**, so each
//!   (digest, fire time) is sent exactly once. After downtime only the latest missed fire is sent,
//!   covering everything since the previous one sent. A digest that was never sent (a new install
//!   or a new `[[digests]]` entry) sends its latest fire only when it is less than 24 hours old.
//! - [`for_user`] composes the digest one address would get now (the `status` email command).
//! - [`compose`] composes digests on request (`digest preview` / `digest send`).
//!
//! "Since the last digest": a digest covers `(since, fire]`, where `since` is the previous fire of
//! the same `[[digests]]` entry that was sent; when none was, one schedule period back (the fire
//! before), or 24 hours when no schedule of that kind is configured.
//!
//! What a digest says is computed by pure functions from plain rows ([`agency::build`],
//! [`owner::build`], [`recruiter::build`]); the rows come from [`crate::store::digests`].

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::directory::{Agency, Directory, Role};
use crate::mail::message::Address;
use crate::mail::receipt::ReplyTo;
use crate::mail::{Composer, MailError, Outgoing};
use crate::schedule::{Schedule, ScheduleError};
use crate::settings::{Digest, DigestKind};
use crate::store::digests::{OwnershipRow, Scope};
use crate::store::{Store, StoreError};

pub mod agency;
pub mod chart;
pub mod owner;
pub mod recruiter;

/// How many lines of a list a message shows (the rest is counted; the recruiter workbook has all).
pub const SHOWN: usize = 200;

/// A brand-new digest's latest fire is sent only when it is younger than this.
pub const NEW_DIGEST_GRACE_HOURS: i64 = 24;

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error(transparent)]
    Chart(#[from] chart::ChartError),
    #[error(transparent)]
    Workbook(#[from] crate::results::ResultsError),
    /// A request that names nobody who gets this digest (`digest preview --to`, `--agency`).
    #[error("{0}")]
    Request(String),
}

impl DigestError {
    /// The operator's to fix (exit 2): a bad request, setting, template or database URL.
    pub fn is_config(&self) -> bool {
        match self {
            DigestError::Request(_) | DigestError::Schedule(_) => true,
            DigestError::Store(e) => e.is_config(),
            DigestError::Mail(e) => e.is_config(),
            DigestError::Chart(_) | DigestError::Workbook(_) => false,
        }
    }
}

/// The time a digest covers, `(since, until]`, and the timezone it shows times in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub tz: Tz,
}

impl Period {
    /// `2026-11-30 08:00` in the digest's timezone.
    pub fn local(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }
}

/// `Ana Reyes`; `(erased)` for a person whose data was erased.
pub fn person_name(o: &OwnershipRow) -> String {
    if o.erased {
        return "(erased)".into();
    }
    format!("{} {}", o.first_name, o.last_name)
        .trim()
        .to_string()
}

/// The key of a `[[digests]]` entry in `digest_runs`: `<kind>|<schedule>|<timezone>`. Changing an
/// entry's schedule or timezone makes it a new digest.
pub fn digest_key(d: &Digest) -> String {
    format!(
        "{}|{}|{}",
        d.kind.as_str(),
        d.schedule.split_whitespace().collect::<Vec<_>>().join(" "),
        d.timezone
    )
}

/// A fire to send now and the period it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub fire: DateTime<Utc>,
    pub since: DateTime<Utc>,
}

/// One schedule period before `at`: the fire before the latest fire at or before `at`; 24 hours
/// when the schedule has none.
pub fn period_start(schedule: &Schedule, at: DateTime<Utc>) -> DateTime<Utc> {
    schedule
        .latest_at_or_before(at)
        .and_then(|fire| schedule.latest_at_or_before(fire - Duration::seconds(1)))
        .unwrap_or(at - Duration::hours(24))
}

/// What is due at `now` (pure): the latest fire at or before `now`, unless it (or a later one) was
/// sent already (`last_sent`). Older missed fires are never sent.
pub fn due(
    schedule: &Schedule,
    last_sent: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Due> {
    let fire = schedule.latest_at_or_before(now)?;
    match last_sent {
        Some(last) if last >= fire => None,
        Some(last) => Some(Due { fire, since: last }),
        None if now - fire >= Duration::hours(NEW_DIGEST_GRACE_HOURS) => None,
        None => Some(Due {
            fire,
            since: period_start(schedule, fire),
        }),
    }
}

/// Who one digest message is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// An agency's digest (agency-wide).
    Agency(String),
    /// An editor's digest of their own submissions.
    Editor { agency_id: String, email: String },
    /// The owner digest.
    Owners,
    /// A recruiter's digest.
    Recruiter(String),
}

impl Audience {
    fn kind(&self) -> DigestKind {
        match self {
            Audience::Agency(_) | Audience::Editor { .. } => DigestKind::Agency,
            Audience::Owners => DigestKind::Owner,
            Audience::Recruiter(_) => DigestKind::Recruiter,
        }
    }

    fn label(&self) -> String {
        match self {
            Audience::Agency(id) => format!("agency:{id}"),
            Audience::Editor { email, .. } => format!("editor:{email}"),
            Audience::Owners => "owners".into(),
            Audience::Recruiter(email) => format!("recruiter:{email}"),
        }
    }
}

/// What composing needs.
#[derive(Clone, Copy)]
struct Sources<'a> {
    store: &'a Store,
    directory: &'a Directory,
    composer: &'a Composer,
}

/// Reads what the audience's digest shows for `period` and composes it. `to`: the recipients
/// (`None`: the audience's own: the agency's admins, every owner, the recruiter, less those who
/// unsubscribed from this kind). `Ok(None)` when there is nobody to send it to.
async fn compose_one(
    src: Sources<'_>,
    audience: &Audience,
    period: &Period,
    to: Option<Vec<Address>>,
    reply_to: Option<&ReplyTo>,
    dedupe_key: Option<String>,
) -> Result<Option<Outgoing>, DigestError> {
    let to = match to {
        Some(to) => Some(to),
        None => match own_recipients(src, audience).await? {
            Some(to) if to.is_empty() => return Ok(None),
            to => to,
        },
    };
    let dir = src.directory;
    let (since, until) = (period.since, period.until);
    let message = match audience {
        Audience::Agency(id) | Audience::Editor { agency_id: id, .. } => {
            let Some(agency) = dir.agency(id) else {
                return Err(DigestError::Request(format!(
                    "no agency `{id}` in the directory"
                )));
            };
            let editor = match audience {
                Audience::Editor { email, .. } => Some(email.as_str()),
                _ => None,
            };
            let to = match to {
                Some(to) => to,
                None => admins(src.store, agency).await?,
            };
            if to.is_empty() {
                return Ok(None);
            }
            let scope = Scope {
                agency: Some(id),
                user: editor,
            };
            let submissions = src.store.digest_submissions(scope, since, until).await?;
            let outcomes = src
                .store
                .digest_campaign_outcomes(scope, since, until)
                .await?;
            let new = src
                .store
                .digest_ownerships(scope, since, until, false)
                .await?;
            let expiring = src
                .store
                .digest_ownerships(
                    scope,
                    until,
                    until + Duration::days(agency::EXPIRING_DAYS),
                    true,
                )
                .await?;
            let decisions = src
                .store
                .digest_review_decisions(scope, since, until)
                .await?;
            let digest = agency::build(agency::AgencyInput {
                agency,
                editor,
                campaigns: &dir.campaigns,
                period,
                submissions: &submissions,
                outcomes: &outcomes,
                new: &new,
                expiring: &expiring,
                decisions: &decisions,
            });
            src.composer
                .agency_digest(&digest, to, reply_to, dedupe_key)?
        }
        Audience::Owners => {
            let to = to.unwrap_or_else(|| {
                dir.owners
                    .iter()
                    .filter_map(|o| Address::new(&o.email, &o.name))
                    .collect()
            });
            if to.is_empty() {
                return Ok(None);
            }
            let all = Scope::default();
            let agencies = src.store.agencies().await?;
            let campaigns = src.store.campaigns().await?;
            let submissions = src.store.digest_submissions(all, since, until).await?;
            let outcomes = src
                .store
                .digest_campaign_outcomes(all, since, until)
                .await?;
            let review = src.store.review_queue().await?;
            let mail = src.store.digest_mail_problems(since, until).await?;
            let failed_sends = src.store.digest_failed_sends(since, until).await?;
            let failed_pushes = src.store.failed_pushes(since, until).await?;
            let new_times = src
                .store
                .digest_new_times(owner::chart_start(period), until)
                .await?;
            let cid = format!(
                "chart-{}@{}",
                uuid::Uuid::now_v7().simple(),
                src.composer.domain()
            );
            let input = owner::OwnerInput {
                period,
                agencies: &agencies,
                campaigns: &campaigns,
                submissions: &submissions,
                outcomes: &outcomes,
                review: &review,
                mail: &mail,
                failed_sends: &failed_sends,
                failed_pushes: &failed_pushes,
                new_times: &new_times,
            };
            let digest = owner::build(input, &cid);
            let png = owner::chart_png(period, &agencies, &new_times)?;
            src.composer
                .owner_digest(&digest, png, to, reply_to, dedupe_key)?
        }
        Audience::Recruiter(email) => {
            let Some(recruiter) = dir.recruiters.iter().find(|r| &r.email == email) else {
                return Err(DigestError::Request(format!(
                    "{email} is not a recruiter in the directory"
                )));
            };
            let to = match to {
                Some(to) => to,
                None => Address::new(&recruiter.email, &recruiter.name)
                    .into_iter()
                    .collect(),
            };
            if to.is_empty() {
                return Ok(None);
            }
            let new = src
                .store
                .digest_ownerships(Scope::default(), since, until, false)
                .await?;
            let digest = recruiter::build(recruiter, period, &dir.agencies, &dir.campaigns, &new);
            let xlsx = recruiter::workbook(&digest)?;
            src.composer
                .recruiter_digest(&digest, xlsx, to, reply_to, dedupe_key)?
        }
    };
    Ok(Some(message))
}

/// The audience's own recipients less the addresses that unsubscribed from its kind (SPEC §7 (r2)).
/// `None` for an audience whose recipients are found while composing.
async fn own_recipients(
    src: Sources<'_>,
    audience: &Audience,
) -> Result<Option<Vec<Address>>, StoreError> {
    let dir = src.directory;
    let all: Vec<Address> = match audience {
        Audience::Agency(id) => match dir.agency(id) {
            Some(agency) => admins(src.store, agency).await?,
            None => return Ok(None),
        },
        Audience::Editor { .. } => return Ok(None),
        Audience::Owners => dir
            .owners
            .iter()
            .filter_map(|o| Address::new(&o.email, &o.name))
            .collect(),
        Audience::Recruiter(email) => match dir.recruiters.iter().find(|r| &r.email == email) {
            Some(r) => Address::new(&r.email, &r.name).into_iter().collect(),
            None => return Ok(None),
        },
    };
    let off = src
        .store
        .digest_unsubscribed(audience.kind().as_str())
        .await?;
    Ok(Some(
        all.into_iter()
            .filter(|a| !off.contains(&a.email))
            .collect(),
    ))
}

impl Composer {
    /// The headers every digest carries (SPEC §7 (r2)): which digest it is, `List-Id`, and
    /// `List-Unsubscribe` as a `mailto:` to the intake address with the subject `unsubscribe
    /// <kind>` (the `unsubscribe` command). No `List-Unsubscribe-Post`: there is no HTTPS endpoint.
    pub(crate) fn digest_headers(&self, draft: &mut crate::mail::message::Draft, kind: DigestKind) {
        let kind = kind.as_str();
        draft
            .headers
            .push(("X-Agency-Portal-Digest", kind.to_string()));
        draft.headers.push((
            "List-Id",
            format!(
                "Agency Portal {kind} digest <{kind}-digest.{}>",
                self.domain()
            ),
        ));
        let intake = self.intake_address.trim();
        if crate::email::is_valid(intake) && intake.is_ascii() {
            draft.headers.push((
                "List-Unsubscribe",
                format!("<mailto:{intake}?subject=unsubscribe%20{kind}>"),
            ));
        }
    }
}

/// The active admins of an active agency, as the database has them (directory and invited).
async fn admins(store: &Store, agency: &Agency) -> Result<Vec<Address>, StoreError> {
    if !agency.active {
        return Ok(Vec::new());
    }
    Ok(store
        .digest_agency_users()
        .await?
        .into_iter()
        .filter(|u| u.agency_id == agency.id && u.role == Role::Admin.as_str())
        .filter_map(|u| Address::new(&u.email, &u.name))
        .collect())
}

/// Everyone a scheduled digest of `kind` goes to.
fn audiences(directory: &Directory, kind: DigestKind) -> Vec<Audience> {
    match kind {
        DigestKind::Agency => directory
            .agencies
            .iter()
            .filter(|a| a.active)
            .map(|a| Audience::Agency(a.id.clone()))
            .collect(),
        DigestKind::Owner => vec![Audience::Owners],
        DigestKind::Recruiter => directory
            .recruiters
            .iter()
            .map(|r| Audience::Recruiter(r.email.clone()))
            .collect(),
    }
}

fn claimer() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    format!("{host}:{}", std::process::id())
}

/// The scheduler's tick: sends (to the outbox) every configured digest that is due at `now` and
/// was not sent yet, each fire exactly once across daemons. Returns how many messages were
/// enqueued. Safe to call as often as wanted from several daemons.
///
/// A digest whose messages cannot be composed is logged and skipped (it is tried again at the next
/// tick); the other digests still go. The first such error is returned after the others are done.
pub async fn run_due(
    store: &Store,
    directory: &Directory,
    digests: &[Digest],
    composer: &Composer,
    now: DateTime<Utc>,
) -> Result<usize, DigestError> {
    let src = Sources {
        store,
        directory,
        composer,
    };
    let mut enqueued = 0;
    let mut first_error = None;
    for d in digests {
        match run_one(src, d, now).await {
            Ok(n) => enqueued += n,
            Err(e) => {
                tracing::error!(digest = d.kind.as_str(), schedule = %d.schedule, "digest not sent: {e}");
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(enqueued),
    }
}

async fn run_one(src: Sources<'_>, d: &Digest, now: DateTime<Utc>) -> Result<usize, DigestError> {
    let schedule = Schedule::new(&d.schedule, &d.timezone)?;
    let key = digest_key(d);
    let last = src.store.digest_last_fire(&key, now).await?;
    let Some(due) = due(&schedule, last, now) else {
        return Ok(0);
    };
    let period = Period {
        since: due.since,
        until: due.fire,
        tz: schedule.timezone(),
    };
    // Composed before the claim (reads only); the claim and the messages then go in one
    // transaction. A daemon that loses the race wrote nothing.
    let mut messages = Vec::new();
    for audience in audiences(src.directory, d.kind) {
        let dedupe = format!(
            "digest:{key}:{}:{}",
            due.fire.to_rfc3339(),
            audience.label()
        );
        if let Some(m) = compose_one(src, &audience, &period, None, None, Some(dedupe)).await? {
            messages.push(m);
        }
    }
    match src
        .store
        .claim_digest(&key, due.fire, due.since, &claimer(), &messages, now)
        .await?
    {
        Some(n) => {
            tracing::info!(
                digest = d.kind.as_str(),
                fire = %due.fire.with_timezone(&schedule.timezone()),
                messages = n,
                "digest written to the outbox"
            );
            Ok(n)
        }
        None => {
            tracing::debug!(digest = d.kind.as_str(), fire = %due.fire, "digest sent by another daemon");
            Ok(0)
        }
    }
}

/// The first configured digest of `kind`, with its parsed schedule.
fn configured(
    digests: &[Digest],
    kind: DigestKind,
) -> Result<Option<(&Digest, Schedule)>, DigestError> {
    match digests.iter().find(|d| d.kind == kind) {
        Some(d) => Ok(Some((d, Schedule::new(&d.schedule, &d.timezone)?))),
        None => Ok(None),
    }
}

/// The period a digest of `kind` composed at `at` (not at a fire) covers: since the last one of
/// that kind sent before `at`; else one schedule period back; else 24 hours. Times are shown in
/// the configured digest's timezone (UTC when none is configured).
pub async fn period_at(
    store: &Store,
    digests: &[Digest],
    kind: DigestKind,
    at: DateTime<Utc>,
) -> Result<Period, DigestError> {
    let Some((d, schedule)) = configured(digests, kind)? else {
        return Ok(Period {
            since: at - Duration::hours(24),
            until: at,
            tz: Tz::UTC,
        });
    };
    let last = store
        .digest_last_fire(&digest_key(d), at - Duration::seconds(1))
        .await?;
    Ok(Period {
        since: last.unwrap_or_else(|| period_start(&schedule, at)),
        until: at,
        tz: schedule.timezone(),
    })
}

/// The digest `email` would get now, composed and addressed to `email` but **not** enqueued (the
/// caller writes it to the outbox in its own transaction): an owner gets the owner digest, a
/// recruiter theirs, an agency admin the agency's, an editor a digest of their own submissions.
/// `reply_to`: the command's message (the digest is then a reply in its thread). `Ok(None)`: the
/// address is none of these (or an inactive user).
pub async fn for_user(
    store: &Store,
    directory: &Directory,
    digests: &[Digest],
    composer: &Composer,
    email: &str,
    now: DateTime<Utc>,
    reply_to: Option<ReplyTo>,
) -> Result<Option<Outgoing>, DigestError> {
    let email = email.trim().to_ascii_lowercase();
    let Some((audience, kind, name)) = audience_of(store, directory, &email).await? else {
        return Ok(None);
    };
    let Some(to) = Address::new(&email, &name) else {
        return Ok(None);
    };
    let period = period_at(store, digests, kind, now).await?;
    let src = Sources {
        store,
        directory,
        composer,
    };
    compose_one(
        src,
        &audience,
        &period,
        Some(vec![to]),
        reply_to.as_ref(),
        None,
    )
    .await
}

/// Which digest an address gets: (audience, kind, display name).
async fn audience_of(
    store: &Store,
    directory: &Directory,
    email: &str,
) -> Result<Option<(Audience, DigestKind, String)>, DigestError> {
    if let Some(o) = directory.owners.iter().find(|o| o.email == email) {
        return Ok(Some((Audience::Owners, DigestKind::Owner, o.name.clone())));
    }
    if let Some(r) = directory.recruiters.iter().find(|r| r.email == email) {
        return Ok(Some((
            Audience::Recruiter(r.email.clone()),
            DigestKind::Recruiter,
            r.name.clone(),
        )));
    }
    let users = store.digest_agency_users().await?;
    let Some(u) = users.into_iter().find(|u| u.email == email) else {
        return Ok(None);
    };
    let audience = if u.role == Role::Admin.as_str() {
        Audience::Agency(u.agency_id)
    } else {
        Audience::Editor {
            agency_id: u.agency_id,
            email: u.email,
        }
    };
    Ok(Some((audience, DigestKind::Agency, u.name)))
}

/// A digest asked for by hand (`digest preview` / `digest send`).
#[derive(Debug, Clone)]
pub struct Request {
    pub kind: DigestKind,
    /// `--agency ID` (kind agency): that agency's digest.
    pub agency: Option<String>,
    /// `--to EMAIL`: only the message for this address. For kind agency without `--agency`, the
    /// user's digest (an admin: the agency's; an editor: their own); with `--agency`, or for kind
    /// owner, the digest addressed to EMAIL instead; for kind recruiter, that recruiter's digest.
    pub to: Option<String>,
    /// The end of the period (`--at`; default now).
    pub at: DateTime<Utc>,
}

/// Composes the digests a request names (nothing is enqueued or claimed).
pub async fn compose(
    store: &Store,
    directory: &Directory,
    digests: &[Digest],
    composer: &Composer,
    request: &Request,
) -> Result<Vec<Outgoing>, DigestError> {
    let to_email = request.to.as_deref().map(|e| e.trim().to_ascii_lowercase());
    let to_address = match &to_email {
        Some(e) => Some(
            Address::new(e, "")
                .ok_or_else(|| DigestError::Request(format!("--to {e}: not an email address")))?,
        ),
        None => None,
    };
    let (audiences, override_to): (Vec<Audience>, Option<Vec<Address>>) = match (
        request.kind,
        &request.agency,
        &to_email,
    ) {
        (DigestKind::Agency, Some(id), _) => {
            if directory.agency(id).is_none() {
                return Err(DigestError::Request(format!(
                    "--agency {id}: no such agency in the directory"
                )));
            }
            (
                vec![Audience::Agency(id.clone())],
                to_address.map(|a| vec![a]),
            )
        }
        (DigestKind::Agency, None, Some(email)) => {
            match audience_of(store, directory, email).await? {
                    Some((a @ (Audience::Agency(_) | Audience::Editor { .. }), _, name)) => {
                        let to = Address::new(email, &name).into_iter().collect();
                        (vec![a], Some(to))
                    }
                    _ => {
                        return Err(DigestError::Request(format!(
                            "--to {email}: not an active user of an active agency; add --agency ID to send an agency's digest to another address"
                        )))
                    }
                }
        }
        (DigestKind::Agency, None, None) => (audiences(directory, DigestKind::Agency), None),
        (DigestKind::Owner, _, _) => (vec![Audience::Owners], to_address.map(|a| vec![a])),
        (DigestKind::Recruiter, _, Some(email)) => {
            if !directory.recruiters.iter().any(|r| &r.email == email) {
                return Err(DigestError::Request(format!(
                    "--to {email}: not a recruiter in the directory"
                )));
            }
            (vec![Audience::Recruiter(email.clone())], None)
        }
        (DigestKind::Recruiter, _, None) => (audiences(directory, DigestKind::Recruiter), None),
    };
    if request.agency.is_some() && request.kind != DigestKind::Agency {
        return Err(DigestError::Request(
            "--agency is for --kind agency only".into(),
        ));
    }
    let period = period_at(store, digests, request.kind, request.at).await?;
    let src = Sources {
        store,
        directory,
        composer,
    };
    let mut out = Vec::new();
    for audience in &audiences {
        if let Some(m) =
            compose_one(src, audience, &period, override_to.clone(), None, None).await?
        {
            out.push(m);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn only_the_latest_missed_fire_is_due() {
        // 08:00 Manila = 00:00 UTC, Monday to Friday.
        let s = Schedule::new("0 8 * * 1-5", "Asia/Manila").unwrap();
        // Sent Monday 2026-11-30; down until Thursday 10:00 Manila: only Thursday's fire is due, and
        // it covers everything since Monday's.
        let monday = at(2026, 11, 30, 0, 0);
        let thursday = at(2026, 12, 3, 0, 0);
        let d = due(&s, Some(monday), thursday + Duration::hours(2)).unwrap();
        assert_eq!(
            d,
            Due {
                fire: thursday,
                since: monday
            }
        );
        // Once sent, nothing more is due until Friday's.
        assert_eq!(
            due(&s, Some(thursday), thursday + Duration::hours(23)),
            None
        );
    }

    #[test]
    fn a_new_digest_sends_a_recent_fire_but_not_an_old_one() {
        let s = Schedule::new("30 7 * * 1", "Asia/Manila").unwrap();
        let monday = at(2026, 11, 29, 23, 30); // Monday 07:30 Manila
        let d = due(&s, None, monday + Duration::hours(3)).unwrap();
        assert_eq!(d.fire, monday);
        assert_eq!(d.since, monday - Duration::days(7), "one period back");
        assert_eq!(due(&s, None, monday + Duration::days(2)), None);
    }

    #[test]
    fn keys_name_kind_schedule_and_timezone() {
        let d = Digest {
            kind: DigestKind::Owner,
            schedule: "30  7 * * 1".into(),
            timezone: "Asia/Manila".into(),
        };
        assert_eq!(digest_key(&d), "owner|30 7 * * 1|Asia/Manila");
    }
}
