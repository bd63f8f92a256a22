//! What an email asks for (SPEC §4.1, §7): subject tags on a submission (`[check]`,
//! `[campaign 40123]`, `[agency acme]`) and commands in the subject or the first body line (`help`,
//! `template`, `campaigns`, `status`, `invite <email> [admin|editor] [name]`, `remove <email>`,
//! `unsubscribe [kind]`, `subscribe [kind]`, `sftp-key <public key>`, `sftp-key list`,
//! `sftp-key remove <fingerprint>`).

use crate::directory::Role;
use crate::i18n::Told;
use crate::settings::DigestKind;

/// Tags in a submission's subject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags {
    /// `[check]`: validate only, create nothing.
    pub check: bool,
    /// `[campaign ID]`: the default campaign for rows without one.
    pub campaign: Option<String>,
    /// `[agency ID]`: an owner submitting on an agency's behalf.
    pub agency: Option<String>,
}

/// Reads `[…]` tags anywhere in the subject, case-insensitively; other brackets are ignored.
pub fn tags(subject: &str) -> Tags {
    let mut tags = Tags::default();
    let mut rest = subject;
    while let Some(start) = rest.find('[') {
        let Some(len) = rest[start..].find(']') else {
            break;
        };
        let inside = rest[start + 1..start + len].trim();
        let mut words = inside.split_whitespace();
        match words.next().map(str::to_ascii_lowercase).as_deref() {
            Some("check") if words.next().is_none() => tags.check = true,
            Some("campaign") => tags.campaign = words.next().map(str::to_string),
            Some("agency") => tags.agency = words.next().map(str::to_ascii_lowercase),
            _ => {}
        }
        rest = &rest[start + len + 1..];
    }
    tags
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Template,
    Campaigns,
    Status,
    Invite {
        email: String,
        role: Role,
        name: Option<String>,
    },
    Remove {
        email: String,
    },
    /// `unsubscribe [agency|owner|recruiter]` (SPEC §7 (r2)): the sender's digest of that kind (every
    /// kind when none is named) is no longer sent to them.
    Unsubscribe {
        kind: Option<DigestKind>,
    },
    /// `subscribe [kind]`: the digest is sent to them again.
    Subscribe {
        kind: Option<DigestKind>,
    },
    /// (r2) `sftp-key …`: the agency's SFTP keys.
    SftpKey(SftpKey),
}

/// What `sftp-key` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SftpKey {
    /// `sftp-key <type> <base64> [comment]`: the key's text, checked when run.
    Add(String),
    List,
    Remove(String),
}

/// The command in the subject (reply and forward prefixes removed) or else in the first body line.
/// `None`: neither holds a command. `Some(Err(why))`: a command written wrongly (worded in the
/// sender's language by the reply).
pub fn command(subject: &str, first_line: &str) -> Option<Result<Command, Told>> {
    parse(strip_prefixes(subject)).or_else(|| parse(first_line.trim()))
}

fn strip_prefixes(subject: &str) -> &str {
    let mut s = subject.trim();
    loop {
        let lower = s.to_ascii_lowercase();
        let Some(p) = ["re:", "fw:", "fwd:", "aw:", "rv:", "sv:"]
            .iter()
            .find(|p| lower.starts_with(*p))
        else {
            return s;
        };
        s = s[p.len()..].trim_start();
    }
}

fn parse(text: &str) -> Option<Result<Command, Told>> {
    // `sftp-key` may carry the owners' `[agency ID]` tag before or after it.
    let untagged = without_tags(text);
    if untagged
        .split_whitespace()
        .next()
        .is_some_and(|v| v.eq_ignore_ascii_case("sftp-key"))
    {
        let args: Vec<&str> = untagged.split_whitespace().skip(1).collect();
        return Some(sftp_key(&args).map(Command::SftpKey));
    }
    let mut words = text.split_whitespace();
    let verb = words.next()?.to_ascii_lowercase();
    let args: Vec<&str> = words.collect();
    let simple = |c: Command| {
        if args.is_empty() {
            Some(Ok(c))
        } else {
            None
        }
    };
    match verb.as_str() {
        "help" => simple(Command::Help),
        "template" => simple(Command::Template),
        "campaigns" => simple(Command::Campaigns),
        "status" => simple(Command::Status),
        "invite" => Some(invite(&args)),
        "remove" => Some(match args.as_slice() {
            [email] if crate::email::is_valid(email) => Ok(Command::Remove {
                email: email.to_ascii_lowercase(),
            }),
            _ => Err(Told::new("reply.usage_remove")),
        }),
        "unsubscribe" => Some(digest_kind(&verb, &args).map(|kind| Command::Unsubscribe { kind })),
        "subscribe" => Some(digest_kind(&verb, &args).map(|kind| Command::Subscribe { kind })),
        _ => None,
    }
}

/// The digest kind of `unsubscribe` / `subscribe`: none (every kind) or one.
fn digest_kind(verb: &str, args: &[&str]) -> Result<Option<DigestKind>, Told> {
    let usage = || Told::new("reply.usage_subscribe").with("verb", verb);
    match args {
        [] => Ok(None),
        [kind] => DigestKind::parse(kind).map(Some).ok_or_else(usage),
        _ => Err(usage()),
    }
}

/// `text` without its `[…]` tags.
fn without_tags(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('[') {
        let Some(len) = rest[start..].find(']') else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push(' ');
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

fn sftp_key(args: &[&str]) -> Result<SftpKey, Told> {
    match args {
        [] => Err(Told::new("reply.sftp_key_usage")),
        [list] if list.eq_ignore_ascii_case("list") => Ok(SftpKey::List),
        [remove, fp] if remove.eq_ignore_ascii_case("remove") => {
            Ok(SftpKey::Remove(fp.to_string()))
        }
        [remove, ..] if remove.eq_ignore_ascii_case("remove") => {
            Err(Told::new("reply.sftp_key_usage"))
        }
        key => Ok(SftpKey::Add(key.join(" "))),
    }
}

fn invite(args: &[&str]) -> Result<Command, Told> {
    let Some((email, rest)) = args.split_first() else {
        return Err(Told::new("reply.usage_invite"));
    };
    let email = email.trim_matches(|c| c == '<' || c == '>');
    if !crate::email::is_valid(email) {
        return Err(Told::new("reply.usage_invite_address").with("email", email));
    }
    let (role, name_words) = match rest
        .first()
        .and_then(|w| Role::parse(&w.to_ascii_lowercase()))
    {
        Some(role) => (role, &rest[1..]),
        None => (Role::Editor, rest),
    };
    let name = (!name_words.is_empty()).then(|| name_words.join(" "));
    Ok(Command::Invite {
        email: email.to_ascii_lowercase(),
        role,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_tags() {
        assert_eq!(
            tags("Week 48 [Campaign 40123] [CHECK] [agency Acme]"),
            Tags {
                check: true,
                campaign: Some("40123".into()),
                agency: Some("acme".into())
            }
        );
        assert_eq!(tags("[External] candidates"), Tags::default());
        assert_eq!(tags("no tags [unclosed"), Tags::default());
    }

    #[test]
    fn commands_in_subject_or_first_line() {
        assert_eq!(command("HELP", ""), Some(Ok(Command::Help)));
        assert_eq!(command("Re: Fwd: status", ""), Some(Ok(Command::Status)));
        assert_eq!(command("hello", "campaigns"), Some(Ok(Command::Campaigns)));
        assert_eq!(command("candidates for you", "see attached"), None);
        assert_eq!(
            command("invite bob@acme-staffing.ph editor Bob", ""),
            Some(Ok(Command::Invite {
                email: "bob@acme-staffing.ph".into(),
                role: Role::Editor,
                name: Some("Bob".into())
            }))
        );
        assert_eq!(
            command("invite <Cy@Acme-Staffing.ph> admin Cy Santos", ""),
            Some(Ok(Command::Invite {
                email: "cy@acme-staffing.ph".into(),
                role: Role::Admin,
                name: Some("Cy Santos".into())
            }))
        );
        assert!(matches!(command("invite bob", ""), Some(Err(_))));
        assert_eq!(
            command("remove bob@acme-staffing.ph", ""),
            Some(Ok(Command::Remove {
                email: "bob@acme-staffing.ph".into()
            }))
        );
        assert_eq!(
            command("Unsubscribe Agency", ""),
            Some(Ok(Command::Unsubscribe {
                kind: Some(DigestKind::Agency)
            }))
        );
        assert_eq!(
            command("Re: subscribe", ""),
            Some(Ok(Command::Subscribe { kind: None }))
        );
        assert!(matches!(command("unsubscribe weekly", ""), Some(Err(_))));
        assert_eq!(
            command("Re: SFTP-KEY ssh-ed25519 AAAAC3 me@pc", ""),
            Some(Ok(Command::SftpKey(SftpKey::Add(
                "ssh-ed25519 AAAAC3 me@pc".into()
            ))))
        );
        assert_eq!(
            command("", "sftp-key list"),
            Some(Ok(Command::SftpKey(SftpKey::List)))
        );
        assert_eq!(
            command("sftp-key remove SHA256:abc", ""),
            Some(Ok(Command::SftpKey(SftpKey::Remove("SHA256:abc".into()))))
        );
        assert!(matches!(command("sftp-key", ""), Some(Err(_))));
        assert_eq!(
            command("[agency acme] SFTP-key list", ""),
            Some(Ok(Command::SftpKey(SftpKey::List)))
        );
        assert_eq!(
            command("sftp-key remove SHA256:abc [agency acme]", ""),
            Some(Ok(Command::SftpKey(SftpKey::Remove("SHA256:abc".into()))))
        );
        // "help me with the attached file" is not the help command.
        assert_eq!(command("help me with this", ""), None);
    }
}
