//! Intake: how files come in and what becomes of each. The `pipeline` takes one file from bytes to
//! recorded outcomes and workbooks; the `mailbox` (IMAP or a Maildir) and the `drop` folder (SFTP)
//! hand it files and answer their senders.

pub mod drop;
pub mod mailbox;
pub mod pipeline;
