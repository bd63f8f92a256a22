//! Email commands (SPEC §7) and the role rules of SPEC §2: each gets a reply saying what was done or
//! why not. `invite` and `remove` change users in the database (users invited by email live there,
//! `source = 'invited'`); their changes, the invitation and the reply are written in the transaction
//! that finishes the message.
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
use crate::inbound::Inbound;
use crate::mail::invitation::{InvitationInput, TEMPLATE_FILE};
use crate::mail::message::Attachment;
use crate::mail::{MailError, Outgoing};
use crate::settings::DigestKind;
use crate::store::mail_ledger::Effect;

use super::Finish;

const HELP: &[&str] = &[
    "Send your candidates as spreadsheet attachments (xlsx, xls, ods, csv): each file gets a receipt \
     with a line per outcome and a results workbook. One row per candidate, with first name, last \
     name and an email or a phone; the template shows the columns.",
    "Subject tags: [check] validates only and creates nothing; [campaign ID] sets the campaign for \
     rows without one.",
    "Commands (in the subject, or the first line of the message): help, template (the template \
     workbook), campaigns (the campaigns open to your agency), status (your digest, now), \
     invite <email> [editor] [name] and remove <email> (agency admins), unsubscribe [kind] and \
     subscribe [kind] (stop or restart your digest; kind: agency, owner or recruiter).",
];

/// The help text, with what was wrong with their command first.
pub(crate) fn help(
    intake: &MailIntake,
    entry: &LedgerEntry,
    message: &Inbound,
    sender: &Sender,
    problem: Option<String>,
) -> Result<Outgoing, MailError> {
    let heading = match &problem {
        Some(p) => format!("That command could not be run: {p}"),
        None => "How to use the agency portal".to_string(),
    };
    intake.reply(
        entry,
        message,
        sender,
        "help",
        heading,
        HELP.iter().map(|s| s.to_string()).collect(),
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
            "The template spreadsheet is attached".into(),
            vec![
                "Fill in one row per candidate and send it back as an attachment. Keep the header \
                 row; extra columns are kept as they are."
                    .into(),
            ],
            vec![],
            vec![Attachment::xlsx(
                TEMPLATE_FILE,
                crate::results::template_workbook(),
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
                Some(a) => format!("Campaigns open to {}", a.name),
                None => "Open campaigns".to_string(),
            };
            let paragraphs = if items.is_empty() {
                vec!["There are no open campaigns right now.".to_string()]
            } else {
                vec![
                    "Put the campaign's ID in a \"Campaign\" column, or in the subject as \
                     [campaign ID]."
                        .to_string(),
                ]
            };
            say(heading, paragraphs, items)?
        }
        Command::Status => status(intake, entry, message, sender).await?,
        Command::Invite { email, role, name } => {
            match invite(intake, sender, message, &email, role, name) {
                Ok((agency, user_name, effect)) => {
                    finish.effects.push(effect);
                    say(
                        format!(
                            "{user_name} <{email}> was invited as {} of {}",
                            if role == Role::Admin {
                                "an admin"
                            } else {
                                "an editor"
                            },
                            agency.name
                        ),
                        vec![
                            "They will get an invitation email with the template spreadsheet \
                             and how to submit."
                                .into(),
                        ],
                        vec![],
                    )?
                }
                Err(why) => say(format!("{email} was not invited"), vec![why], vec![])?,
            }
        }
        Command::Remove { email } => match remove(intake, sender, &email).await? {
            Ok(effect) => {
                finish.effects.push(effect);
                say(
                    format!("{email} was removed"),
                    vec!["They can no longer submit. Their earlier submissions stay.".into()],
                    vec![],
                )?
            }
            Err(why) => say(format!("{email} was not removed"), vec![why], vec![])?,
        },
        Command::Unsubscribe { kind } => {
            let (effect, heading, paragraphs) = subscription(intake, sender, kind, false);
            finish.effects.push(effect);
            say(heading, paragraphs, vec![])?
        }
        Command::Subscribe { kind } => {
            let (effect, heading, paragraphs) = subscription(intake, sender, kind, true);
            finish.effects.push(effect);
            say(heading, paragraphs, vec![])?
        }
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
        None => Ok(intake.reply(
            entry,
            message,
            sender,
            "command",
            "There is no digest for your address".into(),
            vec!["Digests go to agency users, owners and recruiters.".into()],
            vec![],
            vec![],
        )?),
    }
}

/// `unsubscribe [kind]` / `subscribe [kind]` (SPEC §7 (r2)): the change to remember and the reply.
/// Without a kind, every kind. Anyone we answer may do it for their own address (only known senders
/// get this far).
fn subscription(
    intake: &MailIntake,
    sender: &Sender,
    kind: Option<DigestKind>,
    subscribed: bool,
) -> (Effect, String, Vec<String>) {
    let email = sender.address().map(|(e, _)| e).unwrap_or_default();
    let kinds: Vec<DigestKind> = kind.map_or(DigestKind::ALL.to_vec(), |k| vec![k]);
    let what = match kind {
        Some(k) => format!("the {} digest", k.as_str()),
        None => "digests".to_string(),
    };
    let again = match kind {
        Some(k) => format!("subscribe {}", k.as_str()),
        None => "subscribe".to_string(),
    };
    let (heading, paragraphs) = if subscribed {
        (
            format!("You will get {what} again"),
            vec!["Scheduled digests are sent to you again from the next one.".to_string()],
        )
    } else {
        (
            format!("You will no longer get {what}"),
            vec![format!(
                "To get them again, send \"{again}\" to {}. The status command still sends \
                 your digest when you ask for it.",
                intake.composer.intake_address
            )],
        )
    };
    let effect = Effect::DigestSubscription {
        email: email.to_string(),
        kinds: kinds.iter().map(|k| k.as_str().to_string()).collect(),
        subscribed,
    };
    (effect, heading, paragraphs)
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
) -> Result<(&'d Agency, String, Effect), String> {
    let dir = intake.directory();
    let email = email.trim().to_ascii_lowercase();
    if !crate::email::is_valid(&email) {
        return Err(format!("\"{email}\" is not an email address."));
    }
    let domain = domain_of(&email);
    let agency: &Agency = match sender {
        Sender::User {
            agency_id, role: r, ..
        } => {
            if *r != Role::Admin {
                return Err("Only your agency's admins may invite users.".into());
            }
            if role == Role::Admin {
                return Err(
                    "Admins invite editors. To add an admin, ask the company's owners \
                            to list them in the directory."
                        .into(),
                );
            }
            let agency = dir
                .agency(agency_id)
                .ok_or("Your agency is not in the directory.")?;
            if dir
                .agencies
                .iter()
                .any(|a| a.id != agency.id && a.domains.iter().any(|d| d == domain))
            {
                return Err(format!(
                    "{domain} is another agency's domain: you may invite people of your own \
                     agency only."
                ));
            }
            if !agency.domains.is_empty() && !agency.domains.iter().any(|d| d == domain) {
                return Err(format!(
                    "{domain} is not one of your agency's domains ({}).",
                    agency.domains.join(", ")
                ));
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
            agency.ok_or(
                "Say which agency: put [agency ID] in the subject (no agency has this domain).",
            )?
        }
        Sender::Unknown | Sender::Recruiter { .. } => {
            return Err("Only agency admins may invite users.".into())
        }
    };
    if !agency.active {
        return Err(format!("{} is not active.", agency.name));
    }
    if dir.is_owner(&email) || dir.user(&email).is_some() {
        return Err(format!("{email} is already registered with the portal."));
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
        .map_err(|e| format!("The invitation could not be written: {e}"))?;
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
) -> Result<Result<Effect, String>, IntakeError> {
    let email = email.trim().to_ascii_lowercase();
    let (own_agency, owner) = match sender {
        Sender::User {
            agency_id,
            role: Role::Admin,
            ..
        } => (Some(agency_id.as_str()), false),
        Sender::Owner { .. } => (None, true),
        _ => {
            return Ok(Err("Only your agency's admins may remove users.".into()));
        }
    };
    if intake.directory().user(&email).is_some() {
        return Ok(Err(
            "They are listed in the directory file: ask the company's owners to remove them there."
                .into(),
        ));
    }
    let user = intake.pipeline.store.db_user(&email).await?;
    let not_found = || Ok(Err(format!("{email} is not a user of your agency.")));
    let Some(user) = user.filter(|u| u.active) else {
        return not_found();
    };
    if own_agency.is_some_and(|a| a != user.agency_id) {
        return not_found();
    }
    if !owner && user.role == "admin" {
        return Ok(Err(
            "Admins remove editors only; ask the company's owners to remove an admin.".into(),
        ));
    }
    Ok(Ok(Effect::Remove { email }))
}
