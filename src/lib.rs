//! agency-portal: recruitment agencies submit candidates by email and SFTP drop folder.
//!
//! The core is pure (bytes → sheet → rows → normalised → validated → decided); adapters at the edges
//! talk to the mailbox, the drop folder, the database and outgoing mail.

pub mod check;
pub mod cli;
pub mod country;
pub mod directory;
pub mod email;
pub mod field;
pub mod mail;
pub mod schedule;
pub mod settings;
pub mod sheet;
pub mod spanned;
pub mod store;
pub mod text;
pub mod views;
pub mod who_is_who;
