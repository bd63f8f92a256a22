//! The receipt (SPEC §7): one per submission, to the sender (drop-folder submissions: the agency's
//! admins). First line of the text: the counts; then the rows that need attention; attached
//! `<stem>-results.xlsx` and, when rows were invalid, `<stem>-to-fix.xlsx`. Email submissions get a
//! reply (`Re:` subject, `In-Reply-To`, `References`).
//!
//! The pipeline builds a [`ReceiptInput`] inside its transaction (after the submission row exists),
//! calls [`Composer::receipt`] and enqueues the result in the same transaction:
//!
//! ```text
//! let msg = composer.receipt(&input)?;
//! crate::store::outbox::enqueue(&mut *tx, &msg, now).await?;
//! ```

use serde::Serialize;

use crate::outcome::Outcome;

use super::message::{header_text, Address, Attachment, Draft};
use super::{Composer, MailError, MailKind, Outgoing};

/// Rows per outcome, in [`Outcome::ALL`] order: `[("new", 120), ("previously_submitted", 3), …]`.
pub type Counts = [(&'static str, u64); 7];

/// Counts from the seven numbers in [`Outcome::ALL`] order (SPEC §6.4).
pub fn counts(values: [u64; 7]) -> Counts {
    std::array::from_fn(|i| (Outcome::ALL[i].as_str(), values[i]))
}

/// `new 120, previously_submitted 3, duplicate 2, blocked 0, review 1, repeated 1, invalid 5`
pub fn counts_line(counts: &Counts) -> String {
    counts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A row that needs the agency's attention (any outcome but `new` and `previously_submitted`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttentionRow {
    /// The row number as the spreadsheet shows it.
    pub row: u64,
    pub outcome: String,
    pub reason: String,
}

/// The mail a receipt answers (email submissions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTo {
    /// Its `Message-ID` header, with or without angle brackets.
    pub message_id: String,
    /// Its `Subject` header (decoded).
    pub subject: String,
}

/// Everything a receipt says.
#[derive(Debug, Clone)]
pub struct ReceiptInput {
    pub submission_id: i64,
    /// The agency's language (SPEC §7 (r2)): the receipt's template; the counts line and outcome
    /// codes are the same in every language.
    pub lang: crate::i18n::Lang,
    pub agency_name: String,
    /// The submitted file's name as received (the attachments are named after its stem).
    pub file_name: String,
    /// The campaign given with the file (its drop folder, the subject's tag, `--campaign`), as
    /// "ID name"; rows with a Campaign column may name others.
    pub campaign: Option<String>,
    pub counts: Counts,
    /// The rows needing attention, in row order. The body lists the first [`ATTENTION_SHOWN`].
    pub attention: Vec<AttentionRow>,
    pub results_xlsx: Vec<u8>,
    /// Attached as `<stem>-to-fix.xlsx` when some rows were invalid.
    pub to_fix_xlsx: Option<Vec<u8>>,
    /// (address, display name); the sender, or the agency's admins for drop-folder submissions.
    pub recipients: Vec<(String, String)>,
    /// `Some` for email submissions: the receipt is a reply in that thread.
    pub reply_to: Option<ReplyTo>,
}

/// How many attention rows the body lists; the results workbook has all of them.
pub const ATTENTION_SHOWN: usize = 100;

/// `candidates (v2).xlsx` → `candidates (v2)`: the name without folders and extension.
pub fn stem(file_name: &str) -> String {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let stem = match base.rsplit_once('.') {
        Some((s, _)) if !s.is_empty() => s,
        _ => base,
    };
    let stem = super::message::file_name_text(stem);
    if stem == "file" && base.is_empty() {
        "submission".into()
    } else {
        stem
    }
}

/// The outbox key of a submission's receipt: one per submission, and how its Message-ID is found
/// again to answer in its thread (a review decision, SPEC §7 (r2)).
pub fn dedupe_key(submission_id: i64) -> String {
    format!("receipt:{submission_id}")
}

/// The decoded `Subject` of a built message (empty when it has none).
pub fn subject_of(message: &[u8]) -> String {
    mail_parser::MessageParser::default()
        .parse_headers(message)
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_default()
}

/// `Re: <subject>`, without stacking `Re:` prefixes.
pub fn reply_subject(subject: &str) -> String {
    let s = header_text(subject);
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("re:") {
        s
    } else if s.is_empty() {
        "Re: your submission".into()
    } else {
        format!("Re: {s}")
    }
}

impl Composer {
    /// The complete receipt message.
    pub fn receipt(&self, input: &ReceiptInput) -> Result<Outgoing, MailError> {
        let to: Vec<Address> = input
            .recipients
            .iter()
            .filter_map(|(email, name)| Address::new(email, name))
            .collect();
        let stem = stem(&input.file_name);
        let results_name = format!("{stem}-results.xlsx");
        let to_fix_name = format!("{stem}-to-fix.xlsx");
        let invalid = input
            .counts
            .iter()
            .find(|(k, _)| *k == "invalid")
            .map_or(0, |(_, n)| *n);
        let to_fix = input.to_fix_xlsx.as_ref().filter(|_| invalid > 0);
        let line = counts_line(&input.counts);
        let shown = &input.attention[..input.attention.len().min(ATTENTION_SHOWN)];
        let ctx = minijinja::Value::from_serialize(serde_json::json!({
            "submission_id": input.submission_id,
            "agency_name": input.agency_name,
            "file_name": header_text(&input.file_name),
            "campaign": input.campaign,
            "counts_line": line,
            "counts": input.counts.iter().map(|(k, n)| serde_json::json!({"outcome": k, "rows": n})).collect::<Vec<_>>(),
            "total": input.counts.iter().map(|(_, n)| n).sum::<u64>(),
            "attention": shown,
            "attention_more": input.attention.len() - shown.len(),
            "results_file": results_name,
            "to_fix_file": to_fix.map(|_| to_fix_name.clone()),
            "is_reply": input.reply_to.is_some(),
        }));
        let rendered = self.templates.render_in("receipt", input.lang, &ctx);
        let mut draft = Draft::new(MailKind::Receipt, self.from.clone(), to);
        // The counts line is the contract (SPEC §7): always first, whatever the template says.
        draft.text = format!("{line}\n\n{}", rendered.text);
        draft.html = rendered.html;
        draft.subject = rendered.subject;
        if let Some(reply) = &input.reply_to {
            draft.in_thread(reply);
        }
        draft.headers.push((
            "X-Agency-Portal-Submission",
            input.submission_id.to_string(),
        ));
        draft.dedupe_key = Some(dedupe_key(input.submission_id));
        draft
            .attachments
            .push(Attachment::xlsx(&results_name, input.results_xlsx.clone()));
        if let Some(bytes) = to_fix {
            draft
                .attachments
                .push(Attachment::xlsx(&to_fix_name, bytes.clone()));
        }
        draft.build(self.domain())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_line_in_spec_order() {
        assert_eq!(
            counts_line(&counts([120, 3, 2, 0, 1, 1, 5])),
            "new 120, previously_submitted 3, duplicate 2, blocked 0, review 1, repeated 1, invalid 5"
        );
    }

    #[test]
    fn stems_and_reply_subjects() {
        assert_eq!(stem("candidates (v2).xlsx"), "candidates (v2)");
        assert_eq!(stem("C:\\Users\\ana\\march.csv"), "march");
        assert_eq!(stem("../../etc/passwd"), "passwd");
        assert_eq!(stem("noext"), "noext");
        assert_eq!(stem("a\r\nb.xlsx"), "a b");
        assert_eq!(reply_subject("Candidates March"), "Re: Candidates March");
        assert_eq!(reply_subject("RE: Candidates"), "RE: Candidates");
        assert_eq!(
            reply_subject("x\r\nBcc: y@evil.test"),
            "Re: x Bcc: y@evil.test"
        );
    }
}
