//! Replies to incoming email (SPEC §7): what a command did or why not, the help text, notes on a
//! submission (an unreadable attachment, a file already processed, a `[check]` result). Always a
//! reply in the sender's thread (`Re:`, `In-Reply-To`, `References`), never to auto-generated mail
//! (the caller decides that).

use super::message::{Address, Attachment};
use super::receipt::ReplyTo;
use super::{Composer, MailError, MailKind, Outgoing};

/// Everything a reply says.
#[derive(Debug, Clone, Default)]
pub struct ReplyInput {
    /// (address, display name).
    pub to: (String, String),
    pub reply_to: Option<ReplyTo>,
    /// One line saying what happened: "Bob was invited as an editor of Acme Staffing".
    pub heading: String,
    pub paragraphs: Vec<String>,
    pub items: Vec<String>,
    pub attachments: Vec<Attachment>,
    /// At most one outbox row with this key: `reply:<ledger id>:<n>`.
    pub dedupe_key: Option<String>,
    /// The reader's language (SPEC §7 (r2)): the template's; the caller words the texts.
    pub lang: crate::i18n::Lang,
}

impl Composer {
    pub fn reply(&self, input: &ReplyInput) -> Result<Outgoing, MailError> {
        let to = Address::new(&input.to.0, &input.to.1).ok_or(MailError::NoRecipient("reply"))?;
        let ctx = minijinja::Value::from_serialize(serde_json::json!({
            "name": if to.name.is_empty() { to.email.clone() } else { super::message::header_text(&to.name) },
            "heading": input.heading,
            "paragraphs": input.paragraphs,
            "items": input.items,
            "intake_address": self.intake_address,
        }));
        let mut draft = self.draft_in(MailKind::CommandReply, "reply", input.lang, &ctx, vec![to]);
        if let Some(reply) = &input.reply_to {
            draft.in_thread(reply);
        }
        draft.attachments = input.attachments.clone();
        draft.dedupe_key = input.dedupe_key.clone();
        draft.build(self.domain())
    }
}
