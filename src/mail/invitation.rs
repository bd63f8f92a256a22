//! The invitation (SPEC §2): once per user, ever (outbox dedupe key `invitation:<email>`). It says
//! what the portal is, the user's agency and role, the intake address, their SFTP folder name (the
//! agency id), the campaigns open to their agency, and carries the template spreadsheet. (r2) When
//! SFTP is offered (`intake.drop.sftp_host`), an admin's invitation also gives the host, port and
//! account, says login is by SSH key only, and how to register a key (`sftp-key`); editors get no
//! SFTP part (only admins may register keys).

use super::message::{Address, Attachment, Draft};
use super::{Composer, MailError, MailKind, Outgoing};
use crate::directory::{Agency, Directory, User};
use crate::i18n::Lang;

/// Who is invited and what their agency may submit to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationInput {
    pub email: String,
    pub name: String,
    /// `admin` | `editor`
    pub role: String,
    pub agency_id: String,
    pub agency_name: String,
    /// (id, name) of the active campaigns of the agency's country.
    pub campaigns: Vec<(String, String)>,
    /// The agency's language (SPEC §7 (r2)).
    pub lang: Lang,
}

impl InvitationInput {
    /// A user of an agency in a directory: campaigns are the active ones of the agency's country.
    pub fn from_directory(dir: &Directory, agency: &Agency, user: &User) -> InvitationInput {
        InvitationInput {
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role.as_str().to_string(),
            agency_id: agency.id.clone(),
            agency_name: agency.name.clone(),
            campaigns: dir
                .campaigns
                .iter()
                .filter(|c| c.active && c.country == agency.country)
                .map(|c| (c.id.clone(), c.name.clone()))
                .collect(),
            lang: agency.language,
        }
    }
}

/// The outbox key that makes an invitation once per user, ever.
pub fn dedupe_key(email: &str) -> String {
    format!("invitation:{}", email.trim().to_ascii_lowercase())
}

/// The name of the attached template.
pub const TEMPLATE_FILE: &str = "agency-portal-template.xlsx";

impl Composer {
    pub fn invitation(&self, input: &InvitationInput) -> Result<Outgoing, MailError> {
        let to =
            Address::new(&input.email, &input.name).ok_or(MailError::NoRecipient("invitation"))?;
        let ctx = minijinja::Value::from_serialize(serde_json::json!({
            "name": super::message::header_text(&input.name),
            "email": to.email,
            "role": input.role,
            "agency_id": input.agency_id,
            "agency_name": input.agency_name,
            "sftp_folder": input.agency_id,
            "intake_address": self.intake_address,
            "campaigns": input.campaigns.iter().map(|(id, name)| serde_json::json!({"id": id, "name": name})).collect::<Vec<_>>(),
            "template_file": TEMPLATE_FILE,
            "sftp": self.sftp.as_ref().filter(|_| input.role == "admin").map(|s| serde_json::json!({
                "host": s.host,
                "port": s.port,
                "account": crate::intake::drop::sftp_setup::account(&input.agency_id),
            })),
        }));
        let rendered = self.templates.render_in("invitation", input.lang, &ctx);
        let mut draft = Draft::new(MailKind::Invitation, self.from.clone(), vec![to]);
        draft.subject = rendered.subject;
        draft.text = rendered.text;
        draft.html = rendered.html;
        draft.dedupe_key = Some(dedupe_key(&input.email));
        draft.attachments.push(Attachment::xlsx(
            TEMPLATE_FILE,
            crate::template_workbook::template_workbook(&self.templates.catalogue(input.lang)),
        ));
        draft.build(self.domain())
    }
}
