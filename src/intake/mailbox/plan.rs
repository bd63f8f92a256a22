//! What to do with an incoming message (SPEC §4.1, §2, §7), decided from the parsed message and who
//! sent it. Pure: no I/O.
//!
//! Decisions the SPEC leaves open, and why:
//! - Auto-generated mail (bounces, auto-replies, lists) is never answered. From an unknown sender it
//!   goes to the rejected folder like any unknown mail. From a known user it is still processed
//!   (an agency's system may send its exports automatically), silently: no receipt, no reply.
//! - An owner's spreadsheet without `[agency ID]` is not guessed at: the owner gets a reply asking
//!   for the tag. A user's `[agency ID]` naming their own agency is fine; naming another is refused
//!   with a reply (only owners submit on an agency's behalf).
//! - A message whose attachments were all refused (too large, not a spreadsheet inside a zip, …) and
//!   that holds no command gets a reply listing why, rather than the help text alone.

use crate::directory::{Directory, Role};
use crate::email_commands::{self, Command, Tags};
use crate::i18n::Told;
use crate::inbound::Inbound;

/// Who sent a message, as the directory and the database know them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    Owner {
        email: String,
        name: String,
    },
    /// An active user of an active agency (from the directory file, or invited by an admin).
    User {
        email: String,
        name: String,
        agency_id: String,
        role: Role,
    },
    /// A recruiter of the directory (not an agency user): gets a digest, so may use the commands
    /// (`unsubscribe`, `subscribe`, `status`, ...), but never submits.
    Recruiter {
        email: String,
        name: String,
    },
    /// Not an owner, a recruiter, or an active user of an active agency.
    Unknown,
}

impl Sender {
    /// The language they are written to in (SPEC §7 (r2)): their agency's for a user, their
    /// entry's for an owner, else English.
    pub fn language(&self, dir: &crate::directory::Directory) -> crate::i18n::Lang {
        match self {
            Sender::User { agency_id, .. } => dir
                .agency(agency_id)
                .map(|a| a.language)
                .unwrap_or_default(),
            Sender::Owner { email, .. } => dir
                .owners
                .iter()
                .find(|o| o.email == *email)
                .map(|o| o.language)
                .unwrap_or_default(),
            Sender::Recruiter { email, .. } => dir
                .recruiters
                .iter()
                .find(|r| r.email == *email)
                .map(|r| r.language)
                .unwrap_or_default(),
            Sender::Unknown => crate::i18n::Lang::En,
        }
    }

    pub fn address(&self) -> Option<(&str, &str)> {
        match self {
            Sender::Owner { email, name }
            | Sender::User { email, name, .. }
            | Sender::Recruiter { email, name } => Some((email.as_str(), name.as_str())),
            Sender::Unknown => None,
        }
    }
}

/// What the message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Rejected folder, no reply to anyone (unknown or unauthenticated sender).
    Reject { reason: String },
    /// Each attachment a submission of its own for `agency_id`.
    Submit {
        agency_id: String,
        tags: Tags,
        /// Receipts and notes are sent (not for auto-generated mail).
        reply: bool,
    },
    /// An email command (SPEC §7).
    Command(Command),
    /// The help text, with what was wrong first when something was.
    Help { problem: Option<Told> },
    /// A reply saying why nothing was done.
    /// Nothing was processed, because of `why` (worded in the sender's language for the reply, in
    /// English for the ledger).
    Refuse { why: Told },
    /// Processed folder, nothing to say (auto-generated mail from a known user, with nothing to do).
    Ignore { reason: String },
}

impl Plan {
    /// The `kind` the ledger records.
    pub fn kind(&self) -> &'static str {
        match self {
            Plan::Reject { .. } => "rejected",
            Plan::Submit { tags, .. } if tags.check => "check",
            Plan::Submit { .. } => "submission",
            Plan::Command(_) => "command",
            Plan::Help { .. } => "help",
            Plan::Refuse { .. } => "refused",
            Plan::Ignore { .. } => "ignored",
        }
    }
}

/// Decides what to do. `authenticated`: the `require_auth` check passed (or is off);
/// `max_attachments`: the spreadsheets one message may hold (`limits.max_attachments`).
pub fn plan(
    message: &Inbound,
    sender: &Sender,
    authenticated: bool,
    directory: &Directory,
    max_attachments: u64,
) -> Plan {
    if *sender == Sender::Unknown {
        return Plan::Reject {
            reason: if message.auto_generated {
                "automatic mail from an address that may not submit".into()
            } else {
                "the sender is not an active user of an active agency, nor an owner".into()
            },
        };
    }
    if !authenticated {
        return Plan::Reject {
            reason:
                "the sender's domain did not authenticate the message (no dmarc=pass or aligned \
                     dkim=pass from our server)"
                    .into(),
        };
    }
    let quiet = |plan: Plan| {
        if message.auto_generated {
            Plan::Ignore {
                reason: "automatic mail: not answered".into(),
            }
        } else {
            plan
        }
    };
    if !message.attachments.is_empty() {
        let tags = email_commands::tags(&message.subject);
        let agency_id = match (sender, &tags.agency) {
            (Sender::Owner { .. }, Some(id)) => match directory.agency(id) {
                Some(a) if a.active => a.id.clone(),
                Some(_) => {
                    return quiet(Plan::Refuse {
                        why: Told::new("reply.refused_agency_inactive").with("id", id),
                    })
                }
                None => {
                    return quiet(Plan::Refuse {
                        why: Told::new("reply.refused_no_agency").with("id", id),
                    })
                }
            },
            (Sender::Owner { .. }, None) => {
                return quiet(Plan::Refuse {
                    why: Told::new("reply.refused_owner_needs_agency"),
                })
            }
            (Sender::User { agency_id, .. }, Some(id)) if id != agency_id => {
                return quiet(Plan::Refuse {
                    why: Told::new("reply.refused_other_agency"),
                })
            }
            (Sender::User { agency_id, .. }, _) => agency_id.clone(),
            (Sender::Recruiter { .. }, _) => {
                return quiet(Plan::Refuse {
                    why: Told::new("reply.refused_recruiter"),
                })
            }
            (Sender::Unknown, _) => unreachable!("rejected above"),
        };
        let n = message.attachments.len();
        if n as u64 > max_attachments {
            return quiet(Plan::Refuse {
                why: Told::new("reply.refused_too_many")
                    .with("count", n.to_string())
                    .with("max", max_attachments.to_string()),
            });
        }
        return Plan::Submit {
            agency_id,
            tags,
            reply: !message.auto_generated,
        };
    }
    if message.auto_generated {
        return quiet(Plan::Help { problem: None });
    }
    match email_commands::command(&message.subject, &message.first_line) {
        Some(Ok(command)) => Plan::Command(command),
        Some(Err(why)) => Plan::Help { problem: Some(why) },
        None if !message.refused.is_empty() => Plan::Refuse {
            why: {
                let list: Vec<String> = message
                    .refused
                    .iter()
                    .map(|r| format!("{}: {}", r.name, r.reason))
                    .collect();
                Told::new("reply.refused_nothing_taken").with("list", list.join("; "))
            },
        },
        None => Plan::Help { problem: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::{Attachment, Refused};

    fn directory() -> Directory {
        crate::directory::parse(
            r#"
[[owners]]
email = "olga@company.test"
name = "Olga"

[[agencies]]
id = "acme"
name = "Acme"
country = "PH"
added_by = "olga@company.test"
[[agencies.users]]
email = "ana@acme.ph"
name = "Ana"
role = "admin"

[[agencies]]
id = "rio"
name = "Rio"
country = "BR"
active = false
added_by = "olga@company.test"
"#,
            std::path::Path::new("directory.toml"),
        )
        .expect("test directory")
    }

    fn ana() -> Sender {
        Sender::User {
            email: "ana@acme.ph".into(),
            name: "Ana".into(),
            agency_id: "acme".into(),
            role: Role::Admin,
        }
    }

    fn olga() -> Sender {
        Sender::Owner {
            email: "olga@company.test".into(),
            name: "Olga".into(),
        }
    }

    fn with_sheet(subject: &str) -> Inbound {
        Inbound {
            subject: subject.into(),
            attachments: vec![Attachment {
                name: "a.csv".into(),
                bytes: b"x".to_vec(),
            }],
            ..Inbound::default()
        }
    }

    #[test]
    fn unknown_and_unauthenticated_senders_are_rejected_silently() {
        let d = directory();
        assert!(matches!(
            plan(&with_sheet("x"), &Sender::Unknown, true, &d, 20),
            Plan::Reject { .. }
        ));
        assert!(matches!(
            plan(&with_sheet("x"), &ana(), false, &d, 20),
            Plan::Reject { .. }
        ));
    }

    #[test]
    fn submissions_and_tags() {
        let d = directory();
        match plan(
            &with_sheet("March [check] [campaign 40123]"),
            &ana(),
            true,
            &d,
            20,
        ) {
            Plan::Submit {
                agency_id,
                tags,
                reply,
            } => {
                assert_eq!(agency_id, "acme");
                assert!(tags.check && reply);
                assert_eq!(tags.campaign.as_deref(), Some("40123"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            plan(&with_sheet("[agency acme]"), &olga(), true, &d, 20),
            Plan::Submit { agency_id, .. } if agency_id == "acme"
        ));
        assert!(matches!(
            plan(&with_sheet("no tag"), &olga(), true, &d, 20),
            Plan::Refuse { .. }
        ));
        assert!(matches!(
            plan(&with_sheet("[agency rio]"), &olga(), true, &d, 20),
            Plan::Refuse { .. }
        ));
        assert!(matches!(
            plan(&with_sheet("[agency rio]"), &ana(), true, &d, 20),
            Plan::Refuse { .. }
        ));
        assert!(matches!(
            plan(&with_sheet("[agency acme]"), &ana(), true, &d, 20),
            Plan::Submit { .. }
        ));
    }

    #[test]
    fn automatic_mail_is_never_answered() {
        let d = directory();
        let mut m = with_sheet("x");
        m.auto_generated = true;
        assert!(matches!(
            plan(&m, &ana(), true, &d, 20),
            Plan::Submit { reply: false, .. }
        ));
        assert!(matches!(
            plan(&m, &olga(), true, &d, 20),
            Plan::Ignore { .. }
        ));
        m.attachments.clear();
        assert!(matches!(
            plan(&m, &ana(), true, &d, 20),
            Plan::Ignore { .. }
        ));
        assert!(matches!(
            plan(&m, &Sender::Unknown, true, &d, 20),
            Plan::Reject { .. }
        ));
    }

    /// SPEC §3.1 (r2) `max_attachments`: a message with more spreadsheets is refused whole, with
    /// one reply saying why (not a submission and a receipt each).
    #[test]
    fn too_many_spreadsheets_are_refused_with_one_reply() {
        let d = directory();
        let mut m = with_sheet("March");
        m.attachments = (0..21)
            .map(|i| Attachment {
                name: format!("f{i}.csv"),
                bytes: b"x".to_vec(),
            })
            .collect();
        match plan(&m, &ana(), true, &d, 20) {
            Plan::Refuse { why } => {
                let why = why.to_string();
                assert!(
                    why.contains("21 spreadsheets") && why.contains("at most 20"),
                    "{why}"
                )
            }
            other => panic!("{other:?}"),
        }
        m.attachments.truncate(20);
        assert!(matches!(
            plan(&m, &ana(), true, &d, 20),
            Plan::Submit { .. }
        ));
    }

    #[test]
    fn commands_help_and_refused_attachments() {
        let d = directory();
        let mut m = Inbound {
            subject: "campaigns".into(),
            ..Inbound::default()
        };
        assert_eq!(
            plan(&m, &ana(), true, &d, 20),
            Plan::Command(Command::Campaigns)
        );
        m.subject = "hello".into();
        assert_eq!(plan(&m, &ana(), true, &d, 20), Plan::Help { problem: None });
        m.refused.push(Refused {
            name: "cv.pdf".into(),
            reason: "not a spreadsheet".into(),
        });
        assert!(matches!(
            plan(&m, &ana(), true, &d, 20),
            Plan::Refuse { .. }
        ));
    }
}
