//! The recruiter digest (SPEC §8): the new candidates of the recruiter's campaigns since the last
//! digest (name, phone, email, agency, time), listed in the message and attached as a workbook.

use serde::Serialize;

use super::{person_name, Period, SHOWN};
use crate::directory::{Agency, Campaign, Recruiter};
use crate::mail::message::{Address, Attachment};
use crate::mail::receipt::ReplyTo;
use crate::mail::{Composer, MailError, MailKind, Outgoing};
use crate::results::{self, ResultsError};
use crate::store::digests::OwnershipRow;

/// The attached workbook's columns.
pub const WORKBOOK_HEADERS: [&str; 9] = [
    "First Name",
    "Last Name",
    "Mobile",
    "Email",
    "Agency",
    "Agency ID",
    "Campaign",
    "Campaign ID",
    "Submitted",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecruiterDigest {
    pub name: String,
    pub email: String,
    pub since: String,
    pub until: String,
    pub timezone: String,
    pub campaigns: Vec<CampaignRef>,
    pub total: usize,
    pub candidates: Vec<CandidateLine>,
    pub more: usize,
    pub workbook_file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignRef {
    pub id: String,
    pub name: String,
    pub new: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CandidateLine {
    pub first_name: String,
    pub last_name: String,
    pub name: String,
    pub phone: String,
    pub email: String,
    pub agency_id: String,
    pub agency: String,
    pub campaign_id: String,
    pub campaign: String,
    pub time: String,
}

/// The recruiter digest (pure): of `new` (every agency's new candidates of the period), those of
/// the recruiter's campaigns.
pub fn build(
    recruiter: &Recruiter,
    period: &Period,
    agencies: &[Agency],
    campaigns: &[Campaign],
    new: &[OwnershipRow],
) -> RecruiterDigest {
    let mine: Vec<CandidateLine> = new
        .iter()
        .filter(|o| {
            o.campaign_id
                .as_deref()
                .is_some_and(|c| recruiter.campaigns.iter().any(|r| r == c))
        })
        .map(|o| {
            let campaign_id = o.campaign_id.clone().unwrap_or_default();
            CandidateLine {
                first_name: o.first_name.clone(),
                last_name: o.last_name.clone(),
                name: person_name(o),
                phone: o.phone.clone().unwrap_or_default(),
                email: o.email.clone().unwrap_or_default(),
                agency: agencies
                    .iter()
                    .find(|a| a.id == o.agency_id)
                    .map(|a| a.name.clone())
                    .unwrap_or_else(|| o.agency_id.clone()),
                agency_id: o.agency_id.clone(),
                campaign: campaigns
                    .iter()
                    .find(|c| c.id == campaign_id)
                    .map(|c| c.name.clone())
                    .unwrap_or_default(),
                campaign_id,
                time: period.local(o.started_at),
            }
        })
        .collect();
    RecruiterDigest {
        name: recruiter.name.clone(),
        email: recruiter.email.clone(),
        since: period.local(period.since),
        until: period.local(period.until),
        timezone: period.tz.name().to_string(),
        campaigns: recruiter
            .campaigns
            .iter()
            .map(|id| CampaignRef {
                id: id.clone(),
                name: campaigns
                    .iter()
                    .find(|c| &c.id == id)
                    .map(|c| c.name.clone())
                    .unwrap_or_default(),
                new: mine.iter().filter(|c| &c.campaign_id == id).count(),
            })
            .collect(),
        total: mine.len(),
        more: mine.len().saturating_sub(SHOWN),
        candidates: mine,
        workbook_file: format!(
            "new-candidates-{}.xlsx",
            period.until.with_timezone(&period.tz).format("%Y-%m-%d")
        ),
    }
}

/// The attached workbook: every candidate of the digest (text cells, formula-safe).
pub fn workbook(digest: &RecruiterDigest) -> Result<Vec<u8>, ResultsError> {
    let rows: Vec<Vec<String>> = digest
        .candidates
        .iter()
        .map(|c| {
            vec![
                c.first_name.clone(),
                c.last_name.clone(),
                c.phone.clone(),
                c.email.clone(),
                c.agency.clone(),
                c.agency_id.clone(),
                c.campaign.clone(),
                c.campaign_id.clone(),
                c.time.clone(),
            ]
        })
        .collect();
    results::table_workbook("New candidates", &WORKBOOK_HEADERS, &rows)
}

impl Composer {
    /// The recruiter digest message with its workbook.
    pub fn recruiter_digest(
        &self,
        digest: &RecruiterDigest,
        xlsx: Vec<u8>,
        to: Vec<Address>,
        reply_to: Option<&ReplyTo>,
        dedupe_key: Option<String>,
    ) -> Result<Outgoing, MailError> {
        // The message lists the first ones; the workbook has them all.
        let mut shown = digest.clone();
        shown.candidates.truncate(SHOWN);
        let ctx = minijinja::Value::from_serialize(&shown);
        let mut draft = self.draft(MailKind::Digest, "digest-recruiter", &ctx, to);
        draft.dedupe_key = dedupe_key;
        if let Some(reply) = reply_to {
            draft.in_thread(reply);
        }
        draft
            .attachments
            .push(Attachment::xlsx(&digest.workbook_file, xlsx));
        self.digest_headers(&mut draft, crate::settings::DigestKind::Recruiter);
        draft.build(self.domain())
    }
}
