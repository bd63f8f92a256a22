//! The agency digest (SPEC §8), to each active agency's admins: counts per outcome and per campaign
//! since the last digest, the new candidates, and the ownerships that end in the next 14 days. An
//! editor's own digest (the `status` command) is the same, limited to their own submissions.
//!
//! [`build`] is pure: it takes the rows the store read for this agency and keeps, once more, only
//! this agency's rows, so nothing about another agency can reach the message.

use serde::Serialize;

use super::{person_name, Period, SHOWN};
use crate::directory::{Agency, Campaign};
use crate::i18n::{Catalogue, Lang};
use crate::mail::message::Address;
use crate::mail::receipt::{counts_line, ReplyTo};
use crate::mail::{Composer, MailError, MailKind, Outgoing};
use crate::outcome::Outcome;
use crate::store::digests::{CampaignOutcome, OwnershipRow, ReviewDecisionRow, SubmissionRow};

/// How far ahead expiring ownerships are listed.
pub const EXPIRING_DAYS: i64 = 14;

/// What the agency digest says (the template's variables).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgencyDigest {
    pub agency_id: String,
    pub agency_name: String,
    /// `Some(email)`: an editor's digest of their own submissions.
    pub editor: Option<String>,
    pub since: String,
    pub until: String,
    pub timezone: String,
    pub submissions: usize,
    pub rows: u64,
    /// `new 12, previously_submitted 0, …` over the period.
    pub counts_line: String,
    pub counts: Vec<OutcomeCount>,
    pub campaigns: Vec<CampaignLine>,
    /// Review rows an owner decided in the period (SPEC §7 (r2)).
    pub decisions: Vec<DecisionLine>,
    pub new_candidates: Vec<PersonLine>,
    /// New candidates beyond the ones listed.
    pub new_more: usize,
    pub expiring: Vec<PersonLine>,
    pub expiring_more: usize,
    /// The agency's language: the template's.
    #[serde(skip)]
    pub lang: Lang,
}

/// A review row an owner decided: when, the file and row, the name as the agency sent it, and the
/// outcome it has now (`new` or `duplicate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionLine {
    pub time: String,
    pub file_name: String,
    pub row: u32,
    pub name: String,
    pub outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutcomeCount {
    pub outcome: &'static str,
    pub rows: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignLine {
    /// Empty: rows without a campaign.
    pub id: String,
    pub name: String,
    pub rows: u64,
    pub new: u64,
    pub counts_line: String,
}

/// A candidate in a list: who, which campaign, and when (credited, or when the ownership ends).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonLine {
    pub name: String,
    pub email: String,
    pub phone: String,
    pub campaign: String,
    pub time: String,
}

/// Everything the agency digest is made from.
#[derive(Debug, Clone, Copy)]
pub struct AgencyInput<'a> {
    pub agency: &'a Agency,
    pub editor: Option<&'a str>,
    pub campaigns: &'a [Campaign],
    pub period: &'a Period,
    pub submissions: &'a [SubmissionRow],
    pub outcomes: &'a [CampaignOutcome],
    pub new: &'a [OwnershipRow],
    pub expiring: &'a [OwnershipRow],
    /// Review rows decided in the period (SPEC §7 (r2)).
    pub decisions: &'a [ReviewDecisionRow],
}

fn campaign_label(campaigns: &[Campaign], id: Option<&str>) -> String {
    match id {
        None | Some("") => String::new(),
        Some(id) => match campaigns.iter().find(|c| c.id == id) {
            Some(c) => format!("{} {}", c.id, c.name),
            None => id.to_string(),
        },
    }
}

fn person(
    o: &OwnershipRow,
    campaigns: &[Campaign],
    time: chrono::DateTime<chrono::Utc>,
    p: &Period,
) -> PersonLine {
    PersonLine {
        name: person_name(o),
        email: o.email.clone().unwrap_or_default(),
        phone: o.phone.clone().unwrap_or_default(),
        campaign: campaign_label(campaigns, o.campaign_id.as_deref()),
        time: p.local(time),
    }
}

/// The agency digest of `input.agency` (pure).
pub fn build(input: AgencyInput<'_>) -> AgencyDigest {
    let id = input.agency.id.as_str();
    let mine = |agency: Option<&str>, user: Option<&str>| {
        agency == Some(id) && input.editor.is_none_or(|e| user == Some(e))
    };
    let submissions: Vec<&SubmissionRow> = input
        .submissions
        .iter()
        .filter(|s| mine(s.agency_id.as_deref(), s.user_email.as_deref()))
        .collect();
    let mut totals = [0u64; 7];
    for s in &submissions {
        for (t, n) in totals.iter_mut().zip(s.counts) {
            *t += n.max(0) as u64;
        }
    }
    // Per campaign: the rows of this agency only (the editor filter was applied by the query; the
    // rows carry no user, so an editor's campaign lines come from their own query).
    let mut campaigns: Vec<(String, [u64; 7])> = Vec::new();
    for o in input
        .outcomes
        .iter()
        .filter(|o| o.agency_id.as_deref() == Some(id))
    {
        let key = o.campaign_id.clone().unwrap_or_default();
        let slot = match campaigns.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                campaigns.push((key, [0; 7]));
                campaigns.len() - 1
            }
        };
        if let Some(i) = Outcome::ALL.iter().position(|x| x.as_str() == o.outcome) {
            campaigns[slot].1[i] += o.rows.max(0) as u64;
        }
    }
    campaigns.sort_by(|a, b| (a.0.is_empty(), &a.0).cmp(&(b.0.is_empty(), &b.0)));
    let new: Vec<&OwnershipRow> = input
        .new
        .iter()
        .filter(|o| mine(Some(&o.agency_id), o.user_email.as_deref()))
        .collect();
    let expiring: Vec<&OwnershipRow> = input
        .expiring
        .iter()
        .filter(|o| mine(Some(&o.agency_id), o.user_email.as_deref()))
        .collect();
    let p = input.period;
    AgencyDigest {
        agency_id: id.to_string(),
        agency_name: input.agency.name.clone(),
        editor: input.editor.map(str::to_string),
        since: p.local(p.since),
        until: p.local(p.until),
        timezone: p.tz.name().to_string(),
        submissions: submissions.len(),
        rows: totals.iter().sum(),
        counts_line: counts_line(&crate::mail::receipt::counts(totals)),
        counts: Outcome::ALL
            .iter()
            .zip(totals)
            .map(|(o, rows)| OutcomeCount {
                outcome: o.as_str(),
                rows,
            })
            .collect(),
        campaigns: campaigns
            .into_iter()
            .map(|(cid, counts)| CampaignLine {
                name: if cid.is_empty() {
                    Catalogue::shipped(input.agency.language)
                        .text("digest.no_campaign")
                        .into()
                } else {
                    input
                        .campaigns
                        .iter()
                        .find(|c| c.id == cid)
                        .map(|c| c.name.clone())
                        .unwrap_or_default()
                },
                id: cid,
                rows: counts.iter().sum(),
                new: counts[0],
                counts_line: counts_line(&crate::mail::receipt::counts(counts)),
            })
            .collect(),
        new_candidates: new
            .iter()
            .take(SHOWN)
            .map(|o| person(o, input.campaigns, o.started_at, p))
            .collect(),
        new_more: new.len().saturating_sub(SHOWN),
        expiring: expiring
            .iter()
            .take(SHOWN)
            .map(|o| person(o, input.campaigns, o.expires_at, p))
            .collect(),
        expiring_more: expiring.len().saturating_sub(SHOWN),
        decisions: input
            .decisions
            .iter()
            .filter(|d| mine(Some(&d.agency_id), d.user_email.as_deref()))
            .map(|d| DecisionLine {
                time: p.local(d.reviewed_at),
                file_name: d.file_name.clone(),
                row: u32::try_from(d.row_number).unwrap_or_default(),
                name: d.name.clone(),
                outcome: if d.outcome == Outcome::New.as_str() {
                    Outcome::New.as_str()
                } else {
                    Outcome::Duplicate.as_str()
                },
            })
            .collect(),
        lang: input.agency.language,
    }
}

impl Composer {
    /// The agency (or editor) digest message.
    pub fn agency_digest(
        &self,
        digest: &AgencyDigest,
        to: Vec<Address>,
        reply_to: Option<&ReplyTo>,
        dedupe_key: Option<String>,
    ) -> Result<Outgoing, MailError> {
        let ctx = minijinja::Value::from_serialize(digest);
        let mut draft = self.draft_in(MailKind::Digest, "digest-agency", digest.lang, &ctx, to);
        draft.dedupe_key = dedupe_key;
        if let Some(reply) = reply_to {
            draft.in_thread(reply);
        }
        self.digest_headers(&mut draft, crate::settings::DigestKind::Agency);
        draft.build(self.domain())
    }
}
