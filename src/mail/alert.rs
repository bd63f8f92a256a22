//! Owner alerts (SPEC §3.2, §7): an invalid directory reload (every problem listed) and a message we
//! could not deliver (permanent failure). They go to the active owners the database knows.

use super::message::Address;
use super::{Composer, MailError, MailKind, Outgoing};
use crate::check::Problems;

/// A message the worker gave up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedMessage {
    pub outbox_id: i64,
    pub kind: String,
    pub message_id: String,
    pub recipients: Vec<String>,
    pub attempts: i64,
    pub error: String,
    /// How often `outbox resend` sent it again before this failure (0: never).
    pub resends: i64,
}

/// A Talkpush push given up on (SPEC §11): the API's answer, no personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedPush {
    pub push_id: i64,
    pub candidate_id: i64,
    pub campaign_id: String,
    pub agency_id: String,
    pub error: String,
}

impl Composer {
    /// The alert for a candidate Talkpush refused (a 4xx other than 429) or that kept failing:
    /// one per failure.
    pub fn talkpush_alert(
        &self,
        owners: &[Address],
        failed: &FailedPush,
    ) -> Result<Outgoing, MailError> {
        let ctx = minijinja::Value::from_serialize(serde_json::json!({
            "push_id": failed.push_id,
            "candidate_id": failed.candidate_id,
            "campaign_id": failed.campaign_id,
            "agency_id": failed.agency_id,
            "error": failed.error,
        }));
        let mut draft = self.draft(MailKind::Alert, "alert-talkpush", &ctx, owners.to_vec());
        draft.dedupe_key = Some(format!(
            "alert:talkpush:{}:{}",
            failed.push_id,
            uuid::Uuid::new_v4().simple()
        ));
        draft.build(self.domain())
    }

    /// The alert for an invalid directory file: once per file content (`sha256`).
    pub fn directory_alert(
        &self,
        owners: &[Address],
        file: &str,
        sha256: &str,
        problems: &Problems,
    ) -> Result<Outgoing, MailError> {
        let list: Vec<String> = problems.0.iter().map(ToString::to_string).collect();
        let ctx = minijinja::Value::from_serialize(serde_json::json!({
            "file": file,
            "problems": list,
        }));
        let mut draft = self.draft(MailKind::Alert, "alert-directory", &ctx, owners.to_vec());
        draft.dedupe_key = Some(format!("alert:directory:{sha256}"));
        draft.build(self.domain())
    }

    /// The alert for a drop folder that cannot be used (`<agency>/<name>`): once per folder.
    pub fn drop_folder_alert(
        &self,
        owners: &[Address],
        folder: &str,
        why: &str,
    ) -> Result<Outgoing, MailError> {
        let ctx = minijinja::Value::from_serialize(serde_json::json!({
            "folder": folder,
            "why": why,
        }));
        let mut draft = self.draft(MailKind::Alert, "alert-drop-folder", &ctx, owners.to_vec());
        draft.dedupe_key = Some(format!("alert:drop-folder:{folder}"));
        draft.build(self.domain())
    }

    /// The alert for a message that could not be delivered: once per outbox row.
    pub fn send_failure_alert(
        &self,
        owners: &[Address],
        failed: &FailedMessage,
    ) -> Result<Outgoing, MailError> {
        let ctx = minijinja::Value::from_serialize(serde_json::json!({
            "outbox_id": failed.outbox_id,
            "kind": failed.kind,
            "message_id": failed.message_id,
            "recipients": failed.recipients,
            "attempts": failed.attempts,
            "error": failed.error,
        }));
        let mut draft = self.draft(MailKind::Alert, "alert-send-failure", &ctx, owners.to_vec());
        // Once per failure: a message resent by hand that fails again is alerted again.
        draft.dedupe_key = Some(match failed.resends {
            0 => format!("alert:send-failure:{}", failed.outbox_id),
            n => format!("alert:send-failure:{}:resend-{n}", failed.outbox_id),
        });
        draft.build(self.domain())
    }
}

/// A message of the intake mailbox given up on after three failed tries (SPEC §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoisonMessage {
    pub ledger_id: i64,
    pub mailbox: String,
    pub folder: String,
    pub message_id: String,
    pub sender: String,
    pub subject: String,
    pub attempts: i64,
    pub reason: String,
}

impl Composer {
    /// The alert for a poison message: once per ledger row.
    pub fn failed_message_alert(
        &self,
        owners: &[Address],
        m: &PoisonMessage,
    ) -> Result<Outgoing, MailError> {
        let ctx = minijinja::Value::from_serialize(serde_json::json!({
            "mailbox": m.mailbox,
            "folder": m.folder,
            "message_id": m.message_id,
            "sender": m.sender,
            "subject": super::message::header_text(&m.subject),
            "attempts": m.attempts,
            "reason": m.reason,
        }));
        let mut draft = self.draft(
            MailKind::Alert,
            "alert-failed-message",
            &ctx,
            owners.to_vec(),
        );
        draft.dedupe_key = Some(format!("alert:failed-message:{}", m.ledger_id));
        draft.build(self.domain())
    }
}
