//! Email commands (SPEC §7) and the role rules of SPEC §2: each gets a reply saying what was done or
//! why not. `invite` and `remove` change users in the database (users invited by email live there,
//! `source = 'invited'`); their changes, the invitation and the reply are written in the transaction
//! that finishes the message. The answer to a `[check]` submission is here too: a reply like the
//! others.
//!
//! Decisions the SPEC leaves open:
//! - An admin invites editors of their own agency. The address's domain must be one of the agency's
//!   `domains` when the agency lists any, and never a domain another agency lists. Owners may invite
//!   admins or editors; the agency is the `[agency ID]` of the subject, else the agency whose domain
//!   the address has.
//! - `remove` deactivates users invited by email. Users listed in the directory file are the owners'
//!   to change there: removing one by email is refused with that advice.
//! - An address that is already a user (of any agency), or an owner, is not invited again; the reply
//!   does not say which agency it belongs to.

use super::{IntakeError, LedgerEntry, MailIntake, Sender};
use crate::directory::{Agency, Role};
use crate::email_commands::{self, Command};
use crate::i18n::Told;
use crate::inbound::Inbound;
use crate::intake::pipeline;
use crate::mail::invitation::{InvitationInput, TEMPLATE_FILE};
use crate::mail::message::Attachment;
use crate::mail::receipt;
use crate::mail::{MailError, Outgoing};
use crate::outcome::Outcome;
use crate::settings::DigestKind;
use crate::store::mail_ledger::Effect;

use super::Finish;

/// The help text's paragraphs (catalogue keys).
const HELP: &[&str] = &["reply.help_1", "reply.help_2", "reply.help_3"];

/// The help text, with what was wrong with their command first.
pub(crate) fn help(
    intake: &MailIntake,
    entry: &LedgerEntry,
    message: &Inbound,
    sender: &Sender,
    problem: Option<Told>,
) -> Result<Outgoing, MailError> {
    let t = intake.catalogue(sender);
    let heading = match &problem {
        Some(p) => t.fmt("reply.help_problem", &[("problem", &p.render(&t))]),
        None => t.text("reply.help_heading").to_string(),
    };
    intake.reply(
        entry,
        message,
        sender,
        "help",
        heading,
        HELP.iter().map(|k| t.text(k).to_string()).collect(),
        vec![],
        vec![],
    )
}

/// Runs a command; returns what finishing the message writes.
pub(crate) async fn run(
    intake: &MailIntake,
    entry: &LedgerEntry,
    message: &Inbound,
    sender: &Sender,
    command: Command,
) -> Result<Finish, IntakeError> {
    let mut finish = Finish::default();
    let dir = intake.directory();
    let t = intake.catalogue(sender);
    let say = |heading: String, paragraphs: Vec<String>, items: Vec<String>| {
        intake.reply(
            entry,
            message,
            sender,
            "command",
            heading,
            paragraphs,
            items,
            vec![],
        )
    };
    let reply = match command {
        Command::Help => help(intake, entry, message, sender, None)?,
        Command::Template => intake.reply(
            entry,
            message,
            sender,
            "command",
            t.text("reply.template_heading").into(),
            vec![t.text("reply.template_text").into()],
            vec![],
            vec![Attachment::xlsx(
                TEMPLATE_FILE,
                crate::template_workbook::template_workbook(&t),
            )],
        )?,
        Command::Campaigns => {
            let agency = match sender {
                Sender::User { agency_id, .. } => dir.agency(agency_id),
                _ => None,
            };
            let items: Vec<String> = dir
                .campaigns
                .iter()
                .filter(|c| c.active && agency.is_none_or(|a| a.country == c.country))
                .map(|c| format!("{} — {} ({})", c.id, c.name, c.country))
                .collect();
            let heading = match agency {
                Some(a) => t.fmt("reply.campaigns_heading", &[("agency", &a.name)]),
                None => t.text("reply.campaigns_heading_all").to_string(),
            };
            let paragraphs = if items.is_empty() {
                vec![t.text("reply.campaigns_none").to_string()]
            } else {
                vec![t.text("reply.campaigns_how").to_string()]
            };
            say(heading, paragraphs, items)?
        }
        Command::Status => status(intake, entry, message, sender).await?,
        Command::Invite { email, role, name } => {
            match invite(intake, sender, message, &email, role, name) {
                Ok((agency, user_name, effect)) => {
                    finish.effects.push(effect);
                    let key = if role == Role::Admin {
                        "reply.invited_admin"
                    } else {
                        "reply.invited_editor"
                    };
                    say(
                        t.fmt(
                            key,
                            &[
                                ("name", &user_name),
                                ("email", &email),
                                ("agency", &agency.name),
                            ],
                        ),
                        vec![t.text("reply.invited_text").into()],
                        vec![],
                    )?
                }
                Err(why) => say(
                    t.fmt("reply.not_invited", &[("email", &email)]),
                    vec![why.render(&t)],
                    vec![],
                )?,
            }
        }
        Command::Remove { email } => match remove(intake, sender, &email).await? {
            Ok(effect) => {
                finish.effects.push(effect);
                say(
                    t.fmt("reply.removed", &[("email", &email)]),
                    vec![t.text("reply.removed_text").into()],
                    vec![],
                )?
            }
            Err(why) => say(
                t.fmt("reply.not_removed", &[("email", &email)]),
                vec![why.render(&t)],
                vec![],
            )?,
        },
        Command::Unsubscribe { kind } => {
            let (effect, heading, paragraphs) = subscription(intake, &t, sender, kind, false);
            finish.effects.push(effect);
            say(heading, paragraphs, vec![])?
        }
        Command::Subscribe { kind } => {
            let (effect, heading, paragraphs) = subscription(intake, &t, sender, kind, true);
            finish.effects.push(effect);
            say(heading, paragraphs, vec![])?
        }
        Command::SftpKey(what) => super::sftp_key::run(intake, entry, message, sender, what)?,
    };
    finish.mail.push(reply);
    Ok(finish)
}

/// The sender's digest, now (SPEC §7 `status`): the one they would get on schedule, as a reply.
async fn status(
    intake: &MailIntake,
    entry: &LedgerEntry,
    message: &Inbound,
    sender: &Sender,
) -> Result<Outgoing, IntakeError> {
    let (email, _) = sender.address().unwrap_or_default();
    let digest = crate::digest::for_user(
        &intake.pipeline.store,
        intake.directory(),
        &intake.options.digests,
        &intake.composer,
        email,
        crate::clock::now(),
        super::reply_to(message),
    )
    .await
    .map_err(|e| match e {
        crate::digest::DigestError::Store(e) => IntakeError::Store(e),
        other => IntakeError::Crashed(format!("the status digest: {other}")),
    })?;
    match digest {
        Some(mut d) => {
            d.dedupe_key = Some(format!("reply:{}:status", entry.id));
            Ok(d)
        }
        None => {
            let t = intake.catalogue(sender);
            Ok(intake.reply(
                entry,
                message,
                sender,
                "command",
                t.text("reply.no_digest").into(),
                vec![t.text("reply.no_digest_text").into()],
                vec![],
                vec![],
            )?)
        }
    }
}

/// `unsubscribe [kind]` / `subscribe [kind]` (SPEC §7 (r2)): the change to remember and the reply.
/// Without a kind, every kind. Anyone we answer may do it for their own address (only known senders
/// get this far).
fn subscription(
    intake: &MailIntake,
    t: &crate::i18n::Catalogue,
    sender: &Sender,
    kind: Option<DigestKind>,
    subscribed: bool,
) -> (Effect, String, Vec<String>) {
    let email = sender.address().map(|(e, _)| e).unwrap_or_default();
    let kinds: Vec<DigestKind> = kind.map_or(DigestKind::ALL.to_vec(), |k| vec![k]);
    let again = match kind {
        Some(k) => format!("subscribe {}", k.as_str()),
        None => "subscribe".to_string(),
    };
    let heading = match (subscribed, kind) {
        (true, Some(k)) => t.fmt("reply.subscribed_one", &[("kind", k.as_str())]),
        (true, None) => t.text("reply.subscribed_all").to_string(),
        (false, Some(k)) => t.fmt("reply.unsubscribed_one", &[("kind", k.as_str())]),
        (false, None) => t.text("reply.unsubscribed_all").to_string(),
    };
    let paragraph = if subscribed {
        t.text("reply.subscribed_text").to_string()
    } else {
        t.fmt(
            "reply.unsubscribed_text",
            &[
                ("again", &again),
                ("address", &intake.composer.intake_address),
            ],
        )
    };
    let effect = Effect::DigestSubscription {
        email: email.to_string(),
        kinds: kinds.iter().map(|k| k.as_str().to_string()).collect(),
        subscribed,
    };
    (effect, heading, vec![paragraph])
}

fn domain_of(email: &str) -> &str {
    email.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
}

/// Checks an invitation against the role rules; the agency, the name and the change to make.
fn invite<'d>(
    intake: &'d MailIntake,
    sender: &Sender,
    message: &Inbound,
    email: &str,
    role: Role,
    name: Option<String>,
) -> Result<(&'d Agency, String, Effect), Told> {
    let dir = intake.directory();
    let email = email.trim().to_ascii_lowercase();
    if !crate::email::is_valid(&email) {
        return Err(Told::new("reply.invite_not_an_address").with("email", email));
    }
    let domain = domain_of(&email);
    let agency: &Agency = match sender {
        Sender::User {
            agency_id, role: r, ..
        } => {
            if *r != Role::Admin {
                return Err(Told::new("reply.invite_admins_only"));
            }
            if role == Role::Admin {
                return Err(Told::new("reply.invite_admins_invite_editors"));
            }
            let agency = dir
                .agency(agency_id)
                .ok_or(Told::new("reply.invite_no_agency"))?;
            if dir
                .agencies
                .iter()
                .any(|a| a.id != agency.id && a.domains.iter().any(|d| d == domain))
            {
                return Err(Told::new("reply.invite_other_agency_domain").with("domain", domain));
            }
            if !agency.domains.is_empty() && !agency.domains.iter().any(|d| d == domain) {
                return Err(Told::new("reply.invite_not_your_domain")
                    .with("domain", domain)
                    .with("domains", agency.domains.join(", ")));
            }
            agency
        }
        Sender::Owner { .. } => {
            let tagged = email_commands::tags(&message.subject).agency;
            let agency = match tagged {
                Some(id) => dir.agency(&id),
                None => dir
                    .agencies
                    .iter()
                    .find(|a| a.domains.iter().any(|d| d == domain)),
            };
            agency.ok_or(Told::new("reply.invite_say_agency"))?
        }
        Sender::Unknown | Sender::Recruiter { .. } => {
            return Err(Told::new("reply.invite_unknown"))
        }
    };
    if !agency.active {
        return Err(Told::new("reply.invite_inactive").with("agency", &agency.name));
    }
    if dir.is_owner(&email) || dir.user(&email).is_some() {
        return Err(Told::new("reply.invite_already").with("email", email));
    }
    let name = name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_string());
    let input = InvitationInput::from_directory(
        dir,
        agency,
        &crate::directory::User {
            email: email.clone(),
            name: name.clone(),
            role,
        },
    );
    let invitation = intake
        .composer
        .invitation(&input)
        .map_err(|e| Told::new("reply.invite_failed").with("error", e.to_string()))?;
    Ok((
        agency,
        name.clone(),
        Effect::Invite {
            agency_id: agency.id.clone(),
            email,
            name,
            role: role.as_str().to_string(),
            invitation,
        },
    ))
}

/// Checks a removal against the role rules.
async fn remove(
    intake: &MailIntake,
    sender: &Sender,
    email: &str,
) -> Result<Result<Effect, Told>, IntakeError> {
    let email = email.trim().to_ascii_lowercase();
    let (own_agency, owner) = match sender {
        Sender::User {
            agency_id,
            role: Role::Admin,
            ..
        } => (Some(agency_id.as_str()), false),
        Sender::Owner { .. } => (None, true),
        _ => {
            return Ok(Err(Told::new("reply.remove_admins_only")));
        }
    };
    if intake.directory().user(&email).is_some() {
        return Ok(Err(Told::new("reply.remove_in_directory")));
    }
    let user = intake.pipeline.store.db_user(&email).await?;
    let not_found = || {
        Ok(Err(
            Told::new("reply.remove_not_a_user").with("email", &email)
        ))
    };
    let Some(user) = user.filter(|u| u.active) else {
        return not_found();
    };
    if own_agency.is_some_and(|a| a != user.agency_id) {
        return not_found();
    }
    if !owner && user.role == "admin" {
        return Ok(Err(Told::new("reply.remove_admins_remove_editors")));
    }
    Ok(Ok(Effect::Remove { email }))
}

/// The answer to a `[check]` submission: the receipt's content, with nothing created.
pub(crate) fn check_reply(
    intake: &MailIntake,
    entry: &LedgerEntry,
    message: &Inbound,
    sender: &Sender,
    index: usize,
    file_name: &str,
    p: &pipeline::Processed,
) -> Result<Outgoing, MailError> {
    let counts = receipt::counts(crate::submission::counts(&p.outcomes));
    let stem = receipt::stem(file_name);
    let t = intake.catalogue(sender);
    let items: Vec<String> = p
        .outcomes
        .iter()
        .filter(|o| !matches!(o.outcome, Outcome::New | Outcome::PreviouslySubmitted))
        .take(receipt::ATTENTION_SHOWN)
        .map(|o| {
            t.fmt(
                "reply.check_row",
                &[
                    ("row", &o.number.to_string()),
                    ("outcome", o.outcome.as_str()),
                    ("reason", &o.reason.render(&t)),
                ],
            )
        })
        .collect();
    let mut attachments = vec![Attachment::xlsx(
        &format!("{stem}-results.xlsx"),
        p.results_xlsx.clone(),
    )];
    if let Some(to_fix) = &p.to_fix_xlsx {
        attachments.push(Attachment::xlsx(
            &format!("{stem}-to-fix.xlsx"),
            to_fix.clone(),
        ));
    }
    intake.reply(
        entry,
        message,
        sender,
        &format!("check:{index}"),
        t.fmt("reply.check_heading", &[("file", file_name)]),
        vec![
            receipt::counts_line(&counts),
            t.text("reply.check_text").into(),
        ],
        items,
        attachments,
    )
}
