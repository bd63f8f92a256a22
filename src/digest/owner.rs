//! The owner digest (SPEC §8), to every owner: all agencies grouped by country (submissions, new,
//! duplicate rate, invalid rate), campaigns grouped by country, the review queue, rejected and
//! unknown-sender mail, failures (mail, unreadable files, undeliverable messages), and an inline
//! PNG chart of new candidates per day per agency over the last 14 days.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use super::chart::{self, ChartError, Series};
use super::{Period, SHOWN};
use crate::mail::message::{Address, InlineImage};
use crate::mail::receipt::{counts, counts_line, ReplyTo};
use crate::mail::{Composer, MailError, MailKind, Outgoing};
use crate::outcome::Outcome;
use crate::store::digests::{CampaignOutcome, FailedSend, LedgerRow, SubmissionRow};
use crate::store::review::ReviewItem;
use crate::store::{AgencyView, CampaignView};

/// Days in the chart.
pub const CHART_DAYS: usize = 14;
/// Lines in the chart; the other agencies are added up in one more line.
pub const CHART_LINES: usize = 10;
pub const CHART_FILE: &str = "new-candidates-14-days.png";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OwnerDigest {
    pub since: String,
    pub until: String,
    pub timezone: String,
    pub submissions: usize,
    pub rows: u64,
    pub counts_line: String,
    pub agency_countries: Vec<Country<AgencyLine>>,
    pub campaign_countries: Vec<Country<CampaignLine>>,
    pub review_count: usize,
    pub review: Vec<ReviewLine>,
    pub rejected_count: usize,
    pub rejected: Vec<MailLine>,
    pub failed_mail_count: usize,
    pub failed_mail: Vec<MailLine>,
    pub failed_files: Vec<FileLine>,
    pub failed_sends: Vec<SendLine>,
    /// Candidates Talkpush refused or that kept failing (SPEC §11), in the period.
    pub failed_pushes: Vec<PushLine>,
    /// `cid:` of the chart in the HTML part.
    pub chart_cid: String,
    pub chart_file: String,
    pub chart_days: usize,
    /// New candidates per agency over the chart's days, for the text part.
    pub chart_totals: Vec<ChartTotal>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Country<T> {
    pub country: String,
    pub items: Vec<T>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgencyLine {
    pub id: String,
    pub name: String,
    pub active: bool,
    pub submissions: usize,
    pub rows: u64,
    pub new: u64,
    /// `12.5%`, or `-` without rows.
    pub duplicate_rate: String,
    pub invalid_rate: String,
    /// Candidates the agency owns now.
    pub candidates: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignLine {
    pub id: String,
    pub name: String,
    pub active: bool,
    pub rows: u64,
    pub new: u64,
    pub candidates: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewLine {
    pub row_id: i64,
    pub agency: String,
    pub file: String,
    pub row: i64,
    pub name: String,
    pub reason: String,
    pub received: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MailLine {
    pub sender: String,
    pub subject: String,
    pub reason: String,
    pub time: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileLine {
    pub agency: String,
    pub file: String,
    pub reason: String,
    pub time: String,
}

/// A Talkpush push that failed: no personal data, the candidate's id and Talkpush's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PushLine {
    pub candidate_id: i64,
    pub campaign_id: String,
    pub agency: String,
    pub error: String,
    pub time: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SendLine {
    pub id: i64,
    pub kind: String,
    pub recipients: String,
    pub error: String,
    pub time: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartTotal {
    pub label: String,
    pub new: u32,
}

/// Everything the owner digest is made from.
#[derive(Debug, Clone, Copy)]
pub struct OwnerInput<'a> {
    pub period: &'a Period,
    pub agencies: &'a [AgencyView],
    pub campaigns: &'a [CampaignView],
    pub submissions: &'a [SubmissionRow],
    pub outcomes: &'a [CampaignOutcome],
    pub review: &'a [ReviewItem],
    pub mail: &'a [LedgerRow],
    pub failed_sends: &'a [FailedSend],
    pub failed_pushes: &'a [crate::store::talkpush::PushRow],
    /// (agency id, when credited) for the chart's days.
    pub new_times: &'a [(String, DateTime<Utc>)],
}

/// Where an outcome's count is in [`Outcome::ALL`] order.
fn index(o: Outcome) -> usize {
    Outcome::ALL.iter().position(|x| *x == o).unwrap_or(0)
}

fn rate(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

fn grouped<T, U>(
    items: &[T],
    country: impl Fn(&T) -> &str,
    line: impl Fn(&T) -> U,
) -> Vec<Country<U>> {
    let mut out: Vec<Country<U>> = Vec::new();
    for item in items {
        let c = country(item);
        match out.last_mut() {
            Some(g) if g.country == c => g.items.push(line(item)),
            _ => out.push(Country {
                country: c.to_string(),
                items: vec![line(item)],
            }),
        }
    }
    out
}

/// The chart's days (oldest first, in the digest's timezone, ending with the day of `until`).
pub fn chart_days(period: &Period) -> Vec<NaiveDate> {
    let last = period.until.with_timezone(&period.tz).date_naive();
    (0..CHART_DAYS as i64)
        .rev()
        .map(|i| last - Duration::days(i))
        .collect()
}

/// From when the chart counts: the start of its first day, in the digest's timezone.
pub fn chart_start(period: &Period) -> DateTime<Utc> {
    let first = chart_days(period)[0];
    let local = first.and_hms_opt(0, 0, 0).expect("midnight");
    match local.and_local_timezone(period.tz).earliest() {
        Some(t) => t.with_timezone(&Utc),
        // A timezone whose day starts with a gap at midnight: an hour later exists.
        None => (local.and_utc() - Duration::hours(12)).max(period.until - Duration::days(15)),
    }
}

/// The chart's lines: one per agency with new candidates in the chart's days (most first), the
/// rest added up as "other agencies".
pub fn chart_series(
    period: &Period,
    agencies: &[AgencyView],
    new_times: &[(String, DateTime<Utc>)],
) -> Vec<Series> {
    let days = chart_days(period);
    let mut per: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for (agency, t) in new_times {
        if *t > period.until {
            continue;
        }
        let day = t.with_timezone(&period.tz).date_naive();
        if let Some(i) = days.iter().position(|d| *d == day) {
            per.entry(agency.as_str())
                .or_insert_with(|| vec![0; days.len()])[i] += 1;
        }
    }
    let mut lines: Vec<(String, Vec<u32>)> = per
        .into_iter()
        .map(|(id, values)| {
            let label = agencies
                .iter()
                .find(|a| a.id == id)
                .map(|a| a.name.clone())
                .unwrap_or_else(|| id.to_string());
            (label, values)
        })
        .collect();
    lines.sort_by(|a, b| {
        let (ta, tb) = (a.1.iter().sum::<u32>(), b.1.iter().sum::<u32>());
        tb.cmp(&ta).then_with(|| a.0.cmp(&b.0))
    });
    let mut out: Vec<Series> = Vec::new();
    let mut other = vec![0u32; days.len()];
    for (i, (label, values)) in lines.into_iter().enumerate() {
        if i < CHART_LINES {
            out.push(Series { label, values });
        } else {
            for (o, v) in other.iter_mut().zip(values) {
                *o += v;
            }
        }
    }
    if other.iter().any(|v| *v > 0) {
        out.push(Series {
            label: "other agencies".into(),
            values: other,
        });
    }
    out
}

/// The owner digest (pure), with the chart's `cid`.
pub fn build(input: OwnerInput<'_>, chart_cid: &str) -> OwnerDigest {
    let p = input.period;
    let processed: Vec<&SubmissionRow> = input.submissions.iter().collect();
    let mut totals = [0u64; 7];
    for s in &processed {
        for (t, n) in totals.iter_mut().zip(s.counts) {
            *t += n.max(0) as u64;
        }
    }
    let agency_line = |a: &AgencyView| {
        let mut c = [0u64; 7];
        let mut n = 0;
        for s in processed
            .iter()
            .filter(|s| s.agency_id.as_deref() == Some(a.id.as_str()))
        {
            n += 1;
            for (t, v) in c.iter_mut().zip(s.counts) {
                *t += v.max(0) as u64;
            }
        }
        let rows: u64 = c.iter().sum();
        AgencyLine {
            id: a.id.clone(),
            name: a.name.clone(),
            active: a.active,
            submissions: n,
            rows,
            new: c[0],
            duplicate_rate: rate(c[index(Outcome::Duplicate)], rows),
            invalid_rate: rate(c[index(Outcome::Invalid)], rows),
            candidates: a.candidates,
        }
    };
    let campaign_line = |c: &CampaignView| {
        let mine = input
            .outcomes
            .iter()
            .filter(|o| o.campaign_id.as_deref() == Some(c.id.as_str()));
        let (mut rows, mut new) = (0u64, 0u64);
        for o in mine {
            rows += o.rows.max(0) as u64;
            if o.outcome == Outcome::New.as_str() {
                new += o.rows.max(0) as u64;
            }
        }
        CampaignLine {
            id: c.id.clone(),
            name: c.name.clone(),
            active: c.active,
            rows,
            new,
            candidates: c.candidates,
        }
    };
    let mail_line = |m: &LedgerRow| MailLine {
        sender: m.sender.clone(),
        subject: m.subject.clone(),
        reason: m.reason.clone(),
        time: p.local(m.finished_at),
    };
    let rejected: Vec<&LedgerRow> = input
        .mail
        .iter()
        .filter(|m| m.status == "rejected")
        .collect();
    let failed: Vec<&LedgerRow> = input.mail.iter().filter(|m| m.status == "failed").collect();
    let series = chart_series(p, input.agencies, input.new_times);
    OwnerDigest {
        since: p.local(p.since),
        until: p.local(p.until),
        timezone: p.tz.name().to_string(),
        submissions: processed.len(),
        rows: totals.iter().sum(),
        counts_line: counts_line(&counts(totals)),
        agency_countries: grouped(input.agencies, |a| &a.country, agency_line),
        campaign_countries: grouped(input.campaigns, |c| &c.country, campaign_line),
        review_count: input.review.len(),
        review: input
            .review
            .iter()
            .take(SHOWN)
            .map(|r| ReviewLine {
                row_id: r.row_id,
                agency: r.agency.clone().unwrap_or_default(),
                file: r.file.clone(),
                row: r.row,
                name: r.name.clone(),
                reason: r.reason.clone(),
                received: p.local(r.received_at),
            })
            .collect(),
        rejected_count: rejected.len(),
        rejected: rejected.iter().take(SHOWN).map(|m| mail_line(m)).collect(),
        failed_mail_count: failed.len(),
        failed_mail: failed.iter().take(SHOWN).map(|m| mail_line(m)).collect(),
        failed_files: input
            .submissions
            .iter()
            .filter(|s| s.status == "failed")
            .take(SHOWN)
            .map(|s| FileLine {
                agency: s.agency_id.clone().unwrap_or_default(),
                file: s.file_name.clone(),
                reason: s.reason.clone(),
                time: p.local(s.received_at),
            })
            .collect(),
        failed_sends: input
            .failed_sends
            .iter()
            .take(SHOWN)
            .map(|f| SendLine {
                id: f.id,
                kind: f.kind.clone(),
                recipients: f.recipients.join(", "),
                error: f.error.clone(),
                time: p.local(f.failed_at),
            })
            .collect(),
        failed_pushes: input
            .failed_pushes
            .iter()
            .take(SHOWN)
            .map(|f| PushLine {
                candidate_id: f.candidate_id,
                campaign_id: f.campaign_id.clone(),
                agency: f.agency_id.clone().unwrap_or_default(),
                error: f.last_error.clone(),
                time: p.local(f.next_attempt_at),
            })
            .collect(),
        chart_cid: chart_cid.to_string(),
        chart_file: CHART_FILE.to_string(),
        chart_days: CHART_DAYS,
        chart_totals: series
            .iter()
            .map(|s| ChartTotal {
                label: s.label.clone(),
                new: s.values.iter().sum(),
            })
            .collect(),
    }
}

/// The chart of the owner digest: a PNG of [`chart::WIDTH`] × [`chart::HEIGHT`].
pub fn chart_png(
    period: &Period,
    agencies: &[AgencyView],
    new_times: &[(String, DateTime<Utc>)],
) -> Result<Vec<u8>, ChartError> {
    chart::new_per_day_png(
        "New candidates per day, last 14 days",
        &chart_days(period),
        &chart_series(period, agencies, new_times),
    )
}

impl Composer {
    /// The owner digest message, with the chart inline.
    pub fn owner_digest(
        &self,
        digest: &OwnerDigest,
        chart_png: Vec<u8>,
        to: Vec<Address>,
        reply_to: Option<&ReplyTo>,
        dedupe_key: Option<String>,
    ) -> Result<Outgoing, MailError> {
        let ctx = minijinja::Value::from_serialize(digest);
        let mut draft = self.draft(MailKind::Digest, "digest-owner", &ctx, to);
        draft.dedupe_key = dedupe_key;
        if let Some(reply) = reply_to {
            draft.in_thread(reply);
        }
        draft.inline.push(InlineImage {
            content_id: digest.chart_cid.clone(),
            file_name: CHART_FILE.to_string(),
            content_type: "image/png".into(),
            bytes: chart_png,
        });
        self.digest_headers(&mut draft, crate::settings::DigestKind::Owner);
        draft.build(self.domain())
    }
}
