//! A review decision told (SPEC §7 (r2)): when an owner accepts (→ `new`) or rejects
//! (→ `duplicate`) a `review` row, the user who submitted it gets a short message in the thread of
//! the submission's receipt, in the agency's language: the row, the person's name as they sent it,
//! the new outcome. A drop-folder file has no submitting user: its agency's admins, who got its
//! receipt, are told. Written to the outbox in the decision's transaction
//! ([`crate::store::Store::decide_review`]).

use super::message::{Address, Draft};
use super::receipt::ReplyTo;
use super::{Composer, MailError, MailKind, Outgoing};
use crate::directory::{Directory, Role};
use crate::i18n::Lang;
use crate::store::review::ReviewTold;

/// Everything a decision message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewDecisionInput {
    pub row_id: i64,
    /// (address, display name).
    pub to: Vec<(String, String)>,
    pub lang: Lang,
    pub agency_name: String,
    pub file_name: String,
    pub row: i64,
    /// The person's name as the agency sent it.
    pub person: String,
    /// `new` or `duplicate`.
    pub outcome: &'static str,
    /// The receipt's thread, when the submission has one on record.
    pub reply_to: Option<ReplyTo>,
}

/// The outbox key of a decision message: once per review row.
pub fn dedupe_key(row_id: i64) -> String {
    format!("review:{row_id}")
}

impl ReviewDecisionInput {
    /// Who is told and in which language, from the directory; `None`: nobody to tell (the
    /// company's own import, an agency no longer listed with no user to write to).
    pub fn from_directory(dir: &Directory, t: &ReviewTold) -> Option<ReviewDecisionInput> {
        let agency = dir.agency(t.agency_id.as_deref()?)?;
        let to: Vec<(String, String)> = match &t.user_email {
            Some(email) => {
                let name = dir
                    .user(email)
                    .map(|(_, u)| u.name.clone())
                    .unwrap_or_default();
                vec![(email.clone(), name)]
            }
            None => agency
                .users
                .iter()
                .filter(|u| u.role == Role::Admin)
                .map(|u| (u.email.clone(), u.name.clone()))
                .collect(),
        };
        if to.is_empty() {
            return None;
        }
        Some(ReviewDecisionInput {
            row_id: t.row_id,
            to,
            lang: agency.language,
            agency_name: agency.name.clone(),
            file_name: t.file_name.clone(),
            row: t.row_number,
            person: t.name.clone(),
            outcome: t.outcome,
            reply_to: t.receipt.clone(),
        })
    }
}

impl Composer {
    /// The decision message.
    pub fn review_decision(&self, input: &ReviewDecisionInput) -> Result<Outgoing, MailError> {
        let to: Vec<Address> = input
            .to
            .iter()
            .filter_map(|(email, name)| Address::new(email, name))
            .collect();
        let name = match input.to.as_slice() {
            [(email, name)] if name.trim().is_empty() => email.clone(),
            [(_, name)] => super::message::header_text(name),
            _ => input.agency_name.clone(),
        };
        let ctx = minijinja::Value::from_serialize(serde_json::json!({
            "name": name,
            "agency_name": input.agency_name,
            "file_name": super::message::header_text(&input.file_name),
            "row": input.row,
            "person": input.person,
            "outcome": input.outcome,
            "accepted": input.outcome == "new",
        }));
        let rendered = self
            .templates
            .render_in("review-decision", input.lang, &ctx);
        let mut draft = Draft::new(MailKind::CommandReply, self.from.clone(), to);
        draft.subject = rendered.subject;
        draft.text = rendered.text;
        draft.html = rendered.html;
        if let Some(reply) = &input.reply_to {
            draft.in_thread(reply);
        }
        draft
            .headers
            .push(("X-Agency-Portal-Review", input.row_id.to_string()));
        draft.dedupe_key = Some(dedupe_key(input.row_id));
        draft.build(self.domain())
    }

    /// The message telling `t` (for [`crate::store::Store::decide_review`]); `Ok(None)`: nobody to
    /// tell.
    pub fn tell_review(&self, dir: &Directory, t: &ReviewTold) -> Result<Option<Outgoing>, String> {
        match ReviewDecisionInput::from_directory(dir, t) {
            Some(input) => self
                .review_decision(&input)
                .map(Some)
                .map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }
}
