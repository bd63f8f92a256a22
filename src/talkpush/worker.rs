//! The Talkpush worker (SPEC §11 (r2)): claims due pushes and makes each candidate a lead of its
//! campaign, exactly once, although the API has no idempotency key:
//!
//! 1. search the campaign by the candidate's email, then phone: a lead found is recorded (`found`);
//! 2. renew the claim's lease (a worker that lost its row never creates) and count the create;
//! 3. create: a 200 records the lead (`created`); "Duplicate Candidate" is recorded as the lead the
//!    search then finds (`duplicate`); after a timeout or a broken connection, search again — the
//!    lead Talkpush made meanwhile is recorded (`found`), else the push waits and starts again at 1.
//!
//! 429, 5xx, timeouts and unreachable servers are retried with capped, jittered backoff (a
//! `Retry-After` is honoured); any other 4xx is permanent: the row is `failed` with the answer and
//! the owners get one alert, in the same transaction. A push still failing after
//! [`RetryPolicy::give_up_after`] is failed the same way.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use tokio::sync::Notify;

use super::client::{CallError, Client, Created, Invitation, Lead};
use super::settings::TalkpushSettings;
use crate::mail::sender::RetryPolicy;
use crate::mail::Composer;
use crate::store::talkpush::ClaimedPush;
use crate::store::{Store, StoreError};

/// The environment variable of the crash drill: the worker kills its own process with SIGKILL
/// right after Talkpush answered a create and before the lead is recorded.
pub const CRASH_AFTER_CREATE_ENV: &str = "AGENCY_PORTAL_CRASH_AFTER_TALKPUSH_CREATE";

/// Pages of a search looked through for the candidate's lead (12 leads a page).
const SEARCH_PAGES: u32 = 10;

/// What one flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushReport {
    pub synced: usize,
    /// Temporary failures, due again later.
    pub retrying: usize,
    /// Permanent failures (owners alerted).
    pub failed: usize,
}

/// How one claimed push ended.
enum Step {
    Synced {
        result: &'static str,
        lead: Option<String>,
    },
    Retry {
        after: Option<Duration>,
        error: String,
    },
    Failed(String),
    /// Another worker holds the row now: leave it to them.
    LeaseLost,
}

/// Called after a create was answered, before it is recorded (the crash drill).
pub type AfterCreate = Arc<dyn Fn() + Send + Sync>;

#[derive(Clone)]
pub struct Pusher {
    store: Store,
    client: Client,
    settings: TalkpushSettings,
    composer: Arc<Composer>,
    worker: String,
    pub retry: RetryPolicy,
    wake: Arc<Notify>,
    after_create: Option<AfterCreate>,
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("client", &self.client)
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

impl Pusher {
    pub fn new(
        store: Store,
        settings: &TalkpushSettings,
        composer: Arc<Composer>,
    ) -> Result<Pusher, CallError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut pusher = Pusher {
            store,
            client: Client::from_settings(settings)?,
            settings: settings.clone(),
            composer,
            worker: format!("pid{}-{}", std::process::id(), &id[..8]),
            retry: RetryPolicy {
                base: Duration::from_secs(10),
                cap: Duration::from_secs(3600),
                give_up_after: Duration::from_secs(2 * 24 * 3600),
                poll: Duration::from_secs(2),
            },
            wake: Arc::new(Notify::new()),
            after_create: None,
        };
        if std::env::var_os(CRASH_AFTER_CREATE_ENV).is_some() {
            pusher.after_create = Some(Arc::new(|| {
                // SAFETY: signalling our own process; SIGKILL cannot be caught, nothing runs after.
                unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            }));
        }
        Ok(pusher)
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Pusher {
        self.retry = retry;
        self
    }

    pub fn with_after_create(mut self, hook: AfterCreate) -> Pusher {
        self.after_create = Some(hook);
        self
    }

    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// How long a claim holds a row: a create, the search after a timeout, and the record.
    fn lease(&self) -> chrono::Duration {
        let d = self.client.timeout() * 2 + Duration::from_secs(5);
        chrono::Duration::from_std(d).unwrap_or_default()
    }

    /// Pushes everything due now; rows failing temporarily are due again later, not within this
    /// call.
    pub async fn flush(&self) -> Result<PushReport, StoreError> {
        let mut report = PushReport::default();
        let started = Utc::now();
        loop {
            let now = Utc::now();
            let Some(row) = self
                .store
                .claim_push(&self.worker, started, now + self.lease())
                .await?
            else {
                break;
            };
            match self.push_one(&row).await? {
                Step::Synced { result, lead } => {
                    if let Some(hook) = &self.after_create {
                        if result == "created" {
                            hook();
                        }
                    }
                    let recorded = self
                        .store
                        .push_synced(row.id, &self.worker, result, lead.as_deref(), Utc::now())
                        .await?;
                    if !recorded {
                        tracing::warn!(push = row.id, "lead recorded by another worker");
                    }
                    tracing::info!(push = row.id, candidate = row.candidate_id,
                        campaign = %row.campaign_id, result, "candidate synced to Talkpush");
                    report.synced += 1;
                }
                Step::Retry { after, error } => {
                    let now = Utc::now();
                    let age = (now - row.created_at).to_std().unwrap_or_default();
                    if age >= self.retry.give_up_after {
                        let error = format!(
                            "still failing after {} attempts over {} hours: {error}",
                            row.attempts,
                            age.as_secs() / 3600
                        );
                        self.fail(&row, &error).await?;
                        report.failed += 1;
                        continue;
                    }
                    let wait = after
                        .map(|a| a.min(self.retry.cap))
                        .unwrap_or_else(|| self.retry.backoff(row.attempts));
                    tracing::warn!(
                        push = row.id,
                        attempts = row.attempts,
                        retry_in_secs = wait.as_secs_f64(),
                        "Talkpush push not done (temporary failure, will retry): {}",
                        headline(&error)
                    );
                    tracing::debug!(push = row.id, "Talkpush's answer: {error}");
                    let next = now + chrono::Duration::from_std(wait).unwrap_or_default();
                    self.store
                        .push_retry(row.id, &self.worker, next, &error)
                        .await?;
                    report.retrying += 1;
                }
                Step::Failed(error) => {
                    self.fail(&row, &error).await?;
                    report.failed += 1;
                }
                Step::LeaseLost => {
                    tracing::warn!(
                        push = row.id,
                        "lease lost before the create: left to the worker holding it"
                    );
                }
            }
        }
        Ok(report)
    }

    async fn fail(&self, row: &ClaimedPush, error: &str) -> Result<(), StoreError> {
        tracing::error!(push = row.id, candidate = row.candidate_id, campaign = %row.campaign_id,
            "Talkpush push failed, giving up: {}; see `agency-portal talkpush status`",
            headline(error));
        tracing::debug!(push = row.id, "Talkpush's answer: {error}");
        let composer = self.composer.clone();
        let failed = crate::mail::alert::FailedPush {
            push_id: row.id,
            candidate_id: row.candidate_id,
            campaign_id: row.campaign_id.clone(),
            agency_id: row.agency_id.clone(),
            error: error.to_string(),
        };
        self.store
            .push_failed(row.id, &self.worker, Utc::now(), error, |owners| {
                if owners.is_empty() {
                    return None;
                }
                match composer.talkpush_alert(owners, &failed) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        tracing::error!("cannot build the owners' Talkpush alert: {e}");
                        None
                    }
                }
            })
            .await?;
        Ok(())
    }

    async fn push_one(&self, row: &ClaimedPush) -> Result<Step, StoreError> {
        if row.erased {
            return Ok(Step::Failed(
                "the candidate's personal data was erased before the push".into(),
            ));
        }
        if row.email.is_none() && row.phone.is_none() {
            return Ok(Step::Failed(
                "the candidate has no email or phone to find the lead by".into(),
            ));
        }
        match self.find(row).await {
            Ok(Some(lead)) => {
                return Ok(Step::Synced {
                    result: "found",
                    lead: Some(lead.id),
                })
            }
            Ok(None) => {}
            Err(e) => return Ok(classify(e)),
        }
        if !self
            .store
            .push_renew(row.id, &self.worker, Utc::now() + self.lease())
            .await?
        {
            return Ok(Step::LeaseLost);
        }
        let lead = self.invitation(row);
        Ok(match self.client.create(&row.campaign_id, &lead).await {
            Ok(Created::Lead(id)) => Step::Synced {
                result: "created",
                lead: id,
            },
            Ok(Created::Duplicate) => Step::Synced {
                result: "duplicate",
                lead: self.find(row).await.ok().flatten().map(|l| l.id),
            },
            Err(e @ (CallError::Timeout { .. } | CallError::Broken(_))) => {
                // Talkpush may have made the lead before the answer was lost.
                match self.find(row).await {
                    Ok(Some(found)) => Step::Synced {
                        result: "found",
                        lead: Some(found.id),
                    },
                    _ => classify(e),
                }
            }
            // Some tenants may answer the duplicate with another status: the words decide.
            Err(CallError::Status { body, .. })
                if body.to_ascii_lowercase().contains("duplicate candidate") =>
            {
                Step::Synced {
                    result: "duplicate",
                    lead: self.find(row).await.ok().flatten().map(|l| l.id),
                }
            }
            Err(e) => classify(e),
        })
    }

    /// The candidate's lead in the campaign: by email, then by phone.
    async fn find(&self, row: &ClaimedPush) -> Result<Option<Lead>, CallError> {
        let mut queries: Vec<(&str, bool)> = Vec::new();
        if let Some(e) = &row.email {
            queries.push((e, true));
        }
        // By the national number: Talkpush keeps what was typed (`0917…` as often as `+63917…`), and
        // its search matches within the text.
        let national = row.phone.as_deref().map(national_digits);
        if let Some(p) = &national {
            queries.push((p, false));
        }
        for (query, by_email) in queries {
            let mut page = 1;
            loop {
                let found = self
                    .client
                    .search(Some(query), Some(&row.campaign_id), page, &[])
                    .await?;
                let hit = found.leads.into_iter().find(|l| {
                    l.campaign_id
                        .as_deref()
                        .is_none_or(|c| c == row.campaign_id)
                        && if by_email {
                            l.email
                                .as_deref()
                                .is_some_and(|e| e.eq_ignore_ascii_case(query))
                        } else {
                            l.phone.as_deref().is_some_and(|p| same_phone(p, query))
                        }
                });
                if hit.is_some() {
                    return Ok(hit);
                }
                if page >= found.pages || page >= SEARCH_PAGES {
                    break;
                }
                page += 1;
            }
        }
        Ok(None)
    }

    /// The lead a candidate becomes (SPEC §11): its fields, and in `others` its custom fields and
    /// where it came from.
    fn invitation(&self, row: &ClaimedPush) -> Invitation {
        let mut others = serde_json::Map::new();
        for (k, v) in &row.custom {
            if !k.trim().is_empty() && !v.trim().is_empty() {
                others.insert(k.trim().to_string(), Value::String(v.clone()));
            }
        }
        others.insert("agency_id".into(), row.agency_id.clone().into());
        others.insert("agency_name".into(), row.agency_name.clone().into());
        others.insert("agency_user".into(), row.user_email.clone().into());
        others.insert(
            "submission_id".into(),
            row.submission_id.map(Value::from).unwrap_or(Value::Null),
        );
        others.insert(
            "row".into(),
            row.row_number.map(Value::from).unwrap_or(Value::Null),
        );
        Invitation {
            first_name: row.first_name.clone(),
            last_name: row.last_name.clone(),
            email: row.email.clone(),
            user_phone_number: row.phone.clone(),
            source: self.settings.source_for(&row.agency_name),
            others,
        }
    }

    /// The daemon loop: flushes, then waits for a wake-up or the poll interval, until `shutdown`
    /// completes (checked between flushes, so the push in hand is finished).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.flush().await {
                tracing::error!("Talkpush worker: {e}");
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.retry.poll) => {}
            }
        }
    }
}

/// An error without the API's own words (which may echo a candidate's data): what the logs show above
/// debug level. The words are kept in the row, for `talkpush status` and the owners.
pub fn headline(error: &str) -> &str {
    match error.find(": ") {
        Some(i) if error.starts_with("Talkpush answered") => &error[..i],
        _ => error,
    }
}

/// Whether a failed call is worth another try.
fn classify(e: CallError) -> Step {
    match e {
        CallError::Status {
            status,
            retry_after,
            ..
        } if status == 429 || status >= 500 => Step::Retry {
            after: retry_after,
            error: e.to_string(),
        },
        CallError::Status { .. } | CallError::Setup(_) => Step::Failed(e.to_string()),
        CallError::Timeout { .. }
        | CallError::Connect { .. }
        | CallError::Broken(_)
        | CallError::Unexpected(_) => Step::Retry {
            after: None,
            error: e.to_string(),
        },
    }
}

/// The national significant number of an E.164 phone (`+639171234567` → `9171234567`); the digits as
/// they are when it does not parse.
fn national_digits(e164: &str) -> String {
    match phonenumber::parse(None, e164) {
        Ok(n) => n.national().value().to_string(),
        Err(_) => e164.chars().filter(char::is_ascii_digit).collect(),
    }
}

/// Whether two phone numbers are the same: equal digits, or equal national numbers (the last ten
/// digits) when Talkpush keeps it without the country code.
fn same_phone(a: &str, b: &str) -> bool {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let (a, b) = (digits(a), digits(b));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    if a == b {
        return true;
    }
    let tail = |s: &str| s[s.len().saturating_sub(10)..].to_string();
    a.len() >= 10 && b.len() >= 10 && tail(&a) == tail(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_keep_the_status_not_the_answer() {
        assert_eq!(
            headline("Talkpush answered 400: {\"email\": \"ana@example.test is taken\"}"),
            "Talkpush answered 400"
        );
        assert_eq!(
            headline("Talkpush did not answer within 1 s"),
            "Talkpush did not answer within 1 s"
        );
    }

    #[test]
    fn phones_are_searched_by_their_national_number() {
        assert_eq!(national_digits("+639171234567"), "9171234567");
        assert_eq!(national_digits("+5511987654321"), "11987654321");
    }

    #[test]
    fn phones_match_with_or_without_the_country_code() {
        assert!(same_phone("+63 917 123 4567", "+639171234567"));
        assert!(same_phone("09171234567", "+639171234567"));
        assert!(!same_phone("+639171234568", "+639171234567"));
        assert!(!same_phone("", "+639171234567"));
    }

    #[test]
    fn only_429_5xx_and_network_trouble_are_retried() {
        let status = |s| CallError::Status {
            status: s,
            retry_after: None,
            body: String::new(),
        };
        assert!(matches!(classify(status(429)), Step::Retry { .. }));
        assert!(matches!(classify(status(503)), Step::Retry { .. }));
        assert!(matches!(classify(status(404)), Step::Failed(_)));
        assert!(matches!(classify(status(400)), Step::Failed(_)));
        assert!(matches!(
            classify(CallError::Timeout {
                secs: 1,
                sent: true
            }),
            Step::Retry { .. }
        ));
    }
}
