//! The `sftp-key` command (SPEC §7 (r2)): an agency admin (own agency) or an owner (`[agency ID]` in
//! the subject) registers, lists or removes the OpenSSH public keys of the agency's SFTP account,
//! in the file `sftp-setup` names for it (`intake.drop.authorized_keys`). With `require_auth` on,
//! mail that fails sender authentication never gets here (it is rejected before any command).
//!
//! The file is changed when the command runs, before the reply is committed: a message tried
//! again after a crash finds the key already there (or already gone) and says so.

use super::{LedgerEntry, MailIntake, Sender};
use crate::directory::{Agency, Role};
use crate::email_commands::{self, SftpKey};
use crate::i18n::{Catalogue, Told};
use crate::inbound::Inbound;
use crate::intake::drop::sftp_keys;
use crate::mail::{MailError, Outgoing};

/// Runs `sftp-key …` and words the reply.
pub(crate) fn run(
    intake: &MailIntake,
    entry: &LedgerEntry,
    message: &Inbound,
    sender: &Sender,
    what: SftpKey,
) -> Result<Outgoing, MailError> {
    let t = intake.catalogue(sender);
    let (heading, paragraphs, items) = match answer(intake, message, sender, what, &t) {
        Ok(reply) => reply,
        Err(why) => (
            t.text("reply.sftp_key_not_done").to_string(),
            vec![why.render(&t)],
            vec![],
        ),
    };
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
}

type Reply = (String, Vec<String>, Vec<String>);

fn answer(
    intake: &MailIntake,
    message: &Inbound,
    sender: &Sender,
    what: SftpKey,
    t: &Catalogue,
) -> Result<Reply, Told> {
    let agency = agency(intake, message, sender)?;
    let pattern = intake
        .options
        .authorized_keys
        .as_deref()
        .ok_or(Told::new("reply.sftp_key_not_offered"))?;
    let path = sftp_keys::keys_file(pattern, &agency.id).map_err(|e| {
        tracing::error!("sftp-key: {e}");
        Told::new("reply.sftp_key_failed")
    })?;
    let account = crate::intake::drop::sftp_setup::account(&agency.id);
    let failed = |e: std::io::Error| {
        tracing::error!(
            "sftp-key: cannot change {}: {e}; the daemon must run as root to write the SFTP \
             accounts' keys",
            path.display()
        );
        Told::new("reply.sftp_key_failed")
    };
    let show = |k: &sftp_keys::PublicKey| {
        format!("{} ({}) {}", k.fingerprint(), k.describe(), k.comment)
            .trim_end()
            .to_string()
    };
    let args = |k: &sftp_keys::PublicKey| {
        [
            ("account", account.clone()),
            ("fingerprint", k.fingerprint()),
            ("key", k.describe()),
        ]
    };
    let fmt = |key: &str, values: &[(&str, String)]| {
        let v: Vec<(&str, &str)> = values.iter().map(|(n, s)| (*n, s.as_str())).collect();
        t.fmt(key, &v)
    };
    Ok(match what {
        SftpKey::Add(text) => {
            let key = sftp_keys::parse(&text)?;
            let added = sftp_keys::add(&path, &key).map_err(failed)?;
            tracing::info!(
                agency = %agency.id,
                fingerprint = %key.fingerprint(),
                added,
                "sftp-key registered"
            );
            let heading = if added {
                "reply.sftp_key_added"
            } else {
                "reply.sftp_key_already"
            };
            (
                fmt(heading, &args(&key)),
                vec![fmt("reply.sftp_key_added_text", &args(&key))],
                vec![],
            )
        }
        SftpKey::List => {
            let keys = sftp_keys::list(&path).map_err(failed)?;
            let heading = fmt(
                "reply.sftp_key_list",
                &[
                    ("account", account.clone()),
                    ("count", keys.len().to_string()),
                ],
            );
            let text = if keys.is_empty() {
                "reply.sftp_key_list_none"
            } else {
                "reply.sftp_key_list_text"
            };
            (
                heading,
                vec![t.text(text).to_string()],
                keys.iter().map(show).collect(),
            )
        }
        SftpKey::Remove(fp) => match sftp_keys::remove(&path, &fp).map_err(failed)? {
            Some(key) => {
                tracing::info!(agency = %agency.id, fingerprint = %fp, "sftp-key removed");
                (
                    fmt("reply.sftp_key_removed", &args(&key)),
                    vec![fmt("reply.sftp_key_removed_text", &args(&key))],
                    vec![],
                )
            }
            None => {
                return Err(Told::new("reply.sftp_key_no_such")
                    .with("fingerprint", fp)
                    .with("account", account))
            }
        },
    })
}

/// The agency whose keys the sender may change.
fn agency<'d>(
    intake: &'d MailIntake,
    message: &Inbound,
    sender: &Sender,
) -> Result<&'d Agency, Told> {
    let dir = intake.directory();
    let agency = match sender {
        Sender::User {
            agency_id,
            role: Role::Admin,
            ..
        } => dir.agency(agency_id),
        Sender::Owner { .. } => {
            let id = email_commands::tags(&message.subject)
                .agency
                .ok_or(Told::new("reply.sftp_key_say_agency"))?;
            Some(
                dir.agency(&id)
                    .ok_or(Told::new("reply.refused_no_agency").with("id", id))?,
            )
        }
        _ => return Err(Told::new("reply.sftp_key_admins_only")),
    }
    .ok_or(Told::new("reply.invite_no_agency"))?;
    if !agency.active {
        return Err(Told::new("reply.invite_inactive").with("agency", &agency.name));
    }
    Ok(agency)
}
