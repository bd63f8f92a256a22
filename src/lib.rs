//! agency-portal: recruitment agencies submit candidates by email and SFTP drop folder.
//!
//! The core is pure (bytes → sheet → rows → normalised → validated → decided); adapters at the edges
//! talk to the mailbox, the drop folder, the database and outgoing mail.

pub mod app;
pub mod candidate;
pub mod check;
pub mod cli;
pub mod clock;
pub mod country;
pub mod daemon;
pub mod decide;
pub mod demo;
pub mod digest;
pub mod directory;
pub mod email;
pub mod email_commands;
pub mod field;
pub mod hash_runs;
pub mod header;
pub mod i18n;
pub mod inbound;
pub mod intake;
pub mod mail;
pub mod memory;
pub mod normalise;
pub mod outcome;
pub mod parallel;
pub mod reach;
pub mod results;
pub mod review_prefilter;
pub mod rows;
pub mod schedule;
pub mod sender_auth;
pub mod settings;
pub mod sheet;
pub mod spanned;
pub mod store;
pub mod submission;
pub mod talkpush;
pub mod template_workbook;
pub mod text;
pub mod tls;
pub mod validation;
pub mod views;
pub mod who_is_who;
