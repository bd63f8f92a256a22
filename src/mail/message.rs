//! Building one MIME message (lettre's builder) with safe headers.
//!
//! Everything that reaches a header from data (names, subjects, file names, Message-IDs of mail we
//! answer) goes through [`header_text`] first: control characters, CR and LF become spaces, so a
//! name like `Ana\r\nBcc: x@evil.test` stays inside one (quoted or RFC 2047-encoded) header value.
//! Every message carries `Auto-Submitted` (RFC 3834), so autoresponders stay quiet: `auto-replied`
//! on replies (receipts, command replies, review decisions, a digest asked for by `status`),
//! `auto-generated` on what we start (invitations, digests, alerts) — SPEC §7 (r2). Display names
//! in `From`/`To` are encoded whole word by whole word ([`super::names`]).

use std::time::SystemTime;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment as LettreAttachment, Mailbox, MultiPart, SinglePart};

use super::{MailError, MailKind, Outgoing};

pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A mailbox: a display name (may be empty) and a lower-case address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub name: String,
    pub email: String,
}

impl Address {
    /// `None` when the address is not a plausible deliverable address.
    pub fn new(email: &str, name: &str) -> Option<Address> {
        let email = email.trim().to_ascii_lowercase();
        if !crate::email::is_valid(&email) || email.chars().any(|c| c.is_control()) {
            return None;
        }
        Some(Address {
            name: header_text(name),
            email,
        })
    }

    /// `Name <address>` or a bare address (the `[mail] from` setting).
    pub fn parse_mailbox(s: &str) -> Option<Address> {
        let s = s.trim();
        match (s.rfind('<'), s.ends_with('>')) {
            (Some(open), true) => {
                let name = s[..open].trim().trim_matches('"');
                Address::new(&s[open + 1..s.len() - 1], name)
            }
            _ => Address::new(s, ""),
        }
    }

    fn mailbox(&self) -> Result<Mailbox, MailError> {
        let email = self
            .email
            .parse()
            .map_err(|e| MailError::Build(format!("address {}: {e}", self.email)))?;
        let name = Some(header_text(&self.name)).filter(|n| !n.is_empty());
        Ok(Mailbox::new(name, email))
    }
}

/// Text safe for a header value: control characters (CR and LF included) become spaces, whitespace
/// is collapsed, the result trimmed. Non-ASCII stays (the builder encodes it per RFC 2047).
pub fn header_text(s: &str) -> String {
    let spaced: String = s
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect();
    crate::text::clean(&spaced)
}

/// A file name safe for `Content-Disposition`: header-safe, no path separators or quotes, not empty.
pub fn file_name_text(s: &str) -> String {
    let cleaned: String = header_text(s)
        .chars()
        .map(|c| match c {
            '/' | '\\' | '"' | ':' | '*' | '?' | '<' | '>' | '|' => '_',
            c => c,
        })
        .collect();
    let cleaned = cleaned.trim_matches(['.', ' ']).to_string();
    if cleaned.is_empty() {
        "file".to_string()
    } else {
        cleaned
    }
}

/// A Message-ID from mail we received, as `<left@right>`; `None` when it is not one we can repeat
/// safely in `In-Reply-To`/`References` (whitespace, controls, angle brackets inside, no `@`).
pub fn clean_message_id(s: &str) -> Option<String> {
    let inner = s.trim().trim_start_matches('<').trim_end_matches('>');
    let ok = !inner.is_empty()
        && inner.len() <= 250
        && inner.contains('@')
        && inner
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | '\\'));
    ok.then(|| format!("<{inner}>"))
}

/// A new Message-ID on our domain.
pub fn new_message_id(domain: &str) -> String {
    let domain: String = domain
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        .collect();
    let domain = if domain.is_empty() {
        "localhost".into()
    } else {
        domain
    };
    format!("<{}@{domain}>", uuid::Uuid::now_v7().simple())
}

/// An attached file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Attachment {
    pub fn xlsx(file_name: &str, bytes: Vec<u8>) -> Attachment {
        Attachment {
            file_name: file_name.to_string(),
            content_type: XLSX.to_string(),
            bytes,
        }
    }
}

/// An image shown inside the HTML part (`<img src="cid:{content_id}">`): sent in a
/// `multipart/related` part beside the HTML, with `Content-ID` and `Content-Disposition: inline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineImage {
    /// Without angle brackets, e.g. `chart@example.test`; `[A-Za-z0-9.@_-]` only.
    pub content_id: String,
    pub file_name: String,
    /// e.g. `image/png`.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What one message is made of, before building.
#[derive(Debug, Clone)]
pub struct Draft {
    pub kind: MailKind,
    pub from: Address,
    pub to: Vec<Address>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub attachments: Vec<Attachment>,
    /// Images the HTML part shows (`cid:` references).
    pub inline: Vec<InlineImage>,
    /// A Message-ID we answer (already checked with [`clean_message_id`]).
    pub in_reply_to: Option<String>,
    /// Further headers: (name, value); values are made header-safe.
    pub headers: Vec<(&'static str, String)>,
    pub dedupe_key: Option<String>,
}

impl Draft {
    pub fn new(kind: MailKind, from: Address, to: Vec<Address>) -> Draft {
        Draft {
            kind,
            from,
            to,
            subject: String::new(),
            text: String::new(),
            html: String::new(),
            attachments: Vec::new(),
            inline: Vec::new(),
            in_reply_to: None,
            headers: Vec::new(),
            dedupe_key: None,
        }
    }

    /// Makes the message a reply in `reply`'s thread: `Re:` subject, `In-Reply-To`, `References`.
    pub fn in_thread(&mut self, reply: &super::receipt::ReplyTo) {
        self.subject = super::receipt::reply_subject(&reply.subject);
        self.in_reply_to = clean_message_id(&reply.message_id);
    }

    /// The `Auto-Submitted` value (RFC 3834, SPEC §7 (r2)): `auto-replied` for an answer to
    /// someone (receipts, command replies, anything in a thread), else `auto-generated`.
    pub fn auto_submitted(&self) -> &'static str {
        // Exhaustive on purpose: a new kind of message must say which it is.
        let reply = match self.kind {
            MailKind::Receipt | MailKind::CommandReply => true,
            MailKind::Invitation | MailKind::Alert | MailKind::Digest => false,
        } || self.in_reply_to.is_some();
        if reply {
            "auto-replied"
        } else {
            "auto-generated"
        }
    }

    /// Renders the complete message with a new Message-ID on `domain`.
    pub fn build(self, domain: &str) -> Result<Outgoing, MailError> {
        let message_id = new_message_id(domain);
        let mut recipients: Vec<String> = Vec::new();
        let from = self.from.mailbox()?;
        let mut builder = lettre::Message::builder()
            .from(from.clone())
            .subject(header_text(&self.subject))
            .message_id(Some(message_id.clone()))
            .date(SystemTime::now());
        let mut to_list: Vec<&Address> = Vec::new();
        let mut to_boxes: Vec<Mailbox> = Vec::new();
        for to in &self.to {
            if recipients.contains(&to.email) {
                continue;
            }
            recipients.push(to.email.clone());
            let mailbox = to.mailbox()?;
            builder = builder.to(mailbox.clone());
            to_list.push(to);
            to_boxes.push(mailbox);
        }
        if recipients.is_empty() {
            return Err(MailError::NoRecipient(self.kind.as_str()));
        }
        // Our own encoding of the names (whole words per encoded-word); lettre's parsed values
        // (the raw ones) stay for the envelope.
        let whole_words = [
            ("From", vec![&self.from], vec![from]),
            ("To", to_list, to_boxes),
        ];
        for (name, addresses, boxes) in whole_words {
            if let Some(encoded) = super::names::mailbox_list(name, &addresses) {
                let raw = lettre::message::Mailboxes::from_iter(boxes).to_string();
                builder = builder.raw_header(HeaderValue::dangerous_new_pre_encoded(
                    HeaderName::new_from_ascii_str(name),
                    raw,
                    encoded,
                ));
            }
        }
        if let Some(id) = self.in_reply_to.as_deref().and_then(clean_message_id) {
            builder = builder.in_reply_to(id.clone()).references(id);
        }
        builder = builder.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            self.auto_submitted().into(),
        ));
        builder = builder.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
            "All".into(),
        ));
        for (name, value) in &self.headers {
            builder = builder.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii(name.to_string())
                    .map_err(|_| MailError::Build(format!("bad header name {name}")))?,
                header_text(value),
            ));
        }
        let body = if self.inline.is_empty() {
            MultiPart::alternative_plain_html(self.text, self.html)
        } else {
            // multipart/alternative: text, then multipart/related: the HTML and its images.
            let mut related = MultiPart::related().singlepart(SinglePart::html(self.html));
            for image in self.inline {
                let content_type = ContentType::parse(&image.content_type).map_err(|e| {
                    MailError::Build(format!("content type {}: {e}", image.content_type))
                })?;
                let cid_ok = !image.content_id.is_empty()
                    && image
                        .content_id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '_' | '-'));
                if !cid_ok {
                    return Err(MailError::Build(format!(
                        "content id {:?} is not a plain token",
                        image.content_id
                    )));
                }
                related = related.singlepart(
                    LettreAttachment::new_inline_with_name(
                        image.content_id,
                        file_name_text(&image.file_name),
                    )
                    .body(image.bytes, content_type),
                );
            }
            MultiPart::alternative()
                .singlepart(SinglePart::plain(self.text))
                .multipart(related)
        };
        let message = if self.attachments.is_empty() {
            builder.multipart(body)
        } else {
            let mut mixed = MultiPart::mixed().multipart(body);
            for a in self.attachments {
                let content_type = ContentType::parse(&a.content_type).map_err(|e| {
                    MailError::Build(format!("content type {}: {e}", a.content_type))
                })?;
                let part: SinglePart =
                    LettreAttachment::new(file_name_text(&a.file_name)).body(a.bytes, content_type);
                mixed = mixed.singlepart(part);
            }
            builder.multipart(mixed)
        }
        .map_err(|e| MailError::Build(e.to_string()))?;
        Ok(Outgoing {
            kind: self.kind,
            message_id,
            sender: self.from.email.clone(),
            recipients,
            dedupe_key: self.dedupe_key,
            bytes: message.formatted(),
        })
    }
}

/// Base64 with CRLF every 76 characters (RFC 2045): attachments of raw messages we build by hand
/// (the demo's sample mail, tests, benchmarks).
pub fn base64_lines(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + bytes.len() / 38 + 4);
    for (i, chunk) in bytes.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(T[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64_lines(b""), "");
        assert_eq!(base64_lines(b"f"), "Zg==");
        assert_eq!(base64_lines(b"fo"), "Zm8=");
        assert_eq!(base64_lines(b"foobar"), "Zm9vYmFy");
    }
    use crate::mail::receipt::{counts, AttentionRow, ReceiptInput, ReplyTo};
    use crate::mail::{Composer, Templates};
    use mail_parser::{MessageParser, MimeHeaders};

    const EVIL: &str = "Ana\r\nBcc: x@evil.test";

    fn composer() -> Composer {
        Composer {
            from: Address::parse_mailbox("Agency Portal <portal@example.test>").unwrap(),
            intake_address: "portal@example.test".into(),
            templates: Templates::shipped(),
            sftp: None,
        }
    }

    fn receipt(name: &str, subject: &str, file: &str) -> ReceiptInput {
        ReceiptInput {
            lang: crate::i18n::Lang::En,
            campaign: None,
            submission_id: 42,
            agency_name: name.into(),
            file_name: file.into(),
            counts: counts([1, 0, 0, 0, 0, 0, 1]),
            attention: vec![AttentionRow {
                row: 3,
                outcome: "invalid".into(),
                reason: format!("email: {name}"),
            }],
            results_xlsx: b"results".to_vec(),
            to_fix_xlsx: Some(b"to-fix".to_vec()),
            recipients: vec![("ana@acme.test".into(), name.into())],
            reply_to: Some(ReplyTo {
                message_id: "<orig\r\nBcc: q@evil.test@agency.test>".into(),
                subject: subject.into(),
            }),
        }
    }

    fn header_names(bytes: &[u8]) -> Vec<String> {
        let msg = MessageParser::default().parse(bytes).unwrap();
        msg.headers()
            .iter()
            .map(|h| h.name().to_ascii_lowercase())
            .collect()
    }

    #[test]
    fn crlf_in_names_subjects_and_file_names_never_makes_a_header() {
        let out = composer()
            .receipt(&receipt(
                EVIL,
                "Files\r\nBcc: y@evil.test",
                "list\r\nBcc: z@evil.test.xlsx",
            ))
            .unwrap();
        let names = header_names(&out.bytes);
        assert!(!names.contains(&"bcc".to_string()), "{names:?}");
        assert_eq!(out.recipients, vec!["ana@acme.test"]);
        let msg = MessageParser::default().parse(&out.bytes).unwrap();
        let to = msg.to().unwrap();
        assert_eq!(to.iter().count(), 1);
        let first = to.first().unwrap();
        assert_eq!(first.address(), Some("ana@acme.test"));
        assert_eq!(first.name(), Some("Ana Bcc: x@evil.test"));
        assert_eq!(msg.subject(), Some("Re: Files Bcc: y@evil.test"));
        // A malformed Message-ID to answer is dropped rather than repeated.
        assert!(msg.in_reply_to().is_empty());
        let files: Vec<_> = msg
            .attachments()
            .filter_map(|a| a.attachment_name())
            .collect();
        assert_eq!(
            files,
            vec![
                "list Bcc_ z@evil.test-results.xlsx",
                "list Bcc_ z@evil.test-to-fix.xlsx"
            ]
        );
        // Every header line of the raw message is a known one or a folded continuation.
        let raw = String::from_utf8_lossy(&out.bytes);
        let head = raw.split("\r\n\r\n").next().unwrap();
        for line in head.split("\r\n") {
            assert!(!line.to_ascii_lowercase().starts_with("bcc:"), "{line}");
        }
    }

    #[test]
    fn non_ascii_names_are_encoded_and_come_back() {
        let out = composer()
            .receipt(&receipt(
                "José Martínez",
                "Candidatos de marzo – Cebú",
                "marzo.xlsx",
            ))
            .unwrap();
        assert!(out.bytes.is_ascii(), "headers and bodies are 7-bit encoded");
        let msg = MessageParser::default().parse(&out.bytes).unwrap();
        assert_eq!(
            msg.to().unwrap().first().unwrap().name(),
            Some("José Martínez")
        );
        assert_eq!(msg.subject(), Some("Re: Candidatos de marzo – Cebú"));
        assert!(msg.body_text(0).unwrap().contains("José Martínez"));
        assert!(msg.body_html(0).unwrap().contains("José Martínez"));
    }

    #[test]
    fn html_escapes_data_and_every_message_is_auto_submitted() {
        let out = composer()
            .receipt(&receipt("<script>alert(1)</script>", "s", "f.xlsx"))
            .unwrap();
        let msg = MessageParser::default().parse(&out.bytes).unwrap();
        let html = msg.body_html(0).unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert_eq!(
            msg.header_raw("Auto-Submitted").map(str::trim),
            Some("auto-replied")
        );
        assert_eq!(
            msg.header_raw("X-Agency-Portal-Submission").map(str::trim),
            Some("42")
        );
        assert_eq!(
            msg.message_id(),
            Some(out.message_id.trim_matches(['<', '>']))
        );
    }

    /// SPEC §7 (r2): replies are `auto-replied`, what we start `auto-generated`; a display name's
    /// encoded-words hold whole words ("Óscar" is never split), in the raw header.
    #[test]
    fn auto_submitted_by_kind_and_names_encoded_by_whole_words() {
        let oscar = Address::new("oscar@company.example", "Óscar Ortega").unwrap();
        let from = Address::new("portal@example.test", "Portal de Agências").unwrap();
        for (kind, thread, want) in [
            (MailKind::Receipt, false, "auto-replied"),
            (MailKind::CommandReply, false, "auto-replied"),
            (MailKind::Digest, true, "auto-replied"),
            (MailKind::Invitation, false, "auto-generated"),
            (MailKind::Digest, false, "auto-generated"),
            (MailKind::Alert, false, "auto-generated"),
        ] {
            let mut d = Draft::new(kind, from.clone(), vec![oscar.clone()]);
            d.subject = "s".into();
            if thread {
                d.in_reply_to = Some("<q@agency.test>".into());
            }
            let out = d.build("example.test").unwrap();
            let raw = String::from_utf8(out.bytes).unwrap();
            let head = raw.split("\r\n\r\n").next().unwrap();
            assert!(
                head.contains(&format!("\r\nAuto-Submitted: {want}\r\n")),
                "{kind:?}: {head}"
            );
            assert!(
                head.contains("\r\nTo: =?utf-8?b?w5NzY2Fy?= Ortega <oscar@company.example>\r\n"),
                "{head}"
            );
            assert!(
                head.starts_with(
                    "From: Portal de =?utf-8?b?QWfDqm5jaWFz?= <portal@example.test>\r\n"
                ) || head.contains(
                    "\r\nFrom: Portal de =?utf-8?b?QWfDqm5jaWFz?= <portal@example.test>\r\n"
                ),
                "{head}"
            );
            assert_eq!(out.recipients, vec!["oscar@company.example"]);
            assert_eq!(out.sender, "portal@example.test");
            let msg = MessageParser::default().parse(raw.as_bytes()).unwrap();
            assert_eq!(
                msg.to().unwrap().first().unwrap().name(),
                Some("Óscar Ortega")
            );
            assert_eq!(
                msg.from().unwrap().first().unwrap().name(),
                Some("Portal de Agências")
            );
        }
    }

    #[test]
    fn message_ids_and_mailboxes() {
        assert_eq!(clean_message_id("abc@x.test"), Some("<abc@x.test>".into()));
        assert_eq!(
            clean_message_id(" <abc@x.test> "),
            Some("<abc@x.test>".into())
        );
        assert_eq!(clean_message_id("<a b@x>"), None);
        assert_eq!(clean_message_id("<a\r\nb@x>"), None);
        assert_eq!(clean_message_id("no-at-sign"), None);
        let a = Address::parse_mailbox("\"Agency Portal\" <Portal@Example.test>").unwrap();
        assert_eq!(
            (a.name.as_str(), a.email.as_str()),
            ("Agency Portal", "portal@example.test")
        );
        assert!(Address::new("x@evil.test\r\nBcc: y@evil.test", "").is_none());
        assert!(new_message_id("example.test").ends_with("@example.test>"));
    }
}
