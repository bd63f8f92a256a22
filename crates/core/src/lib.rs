//! agency-portal's pure core: bytes → sheet → rows → normalised → validated → decided, and the
//! models the daemon's adapters fill (the directory, the settings, an inbound message, a command).
//!
//! It knows nothing about where bytes come from or go to: no async runtime, no database, no
//! mailbox or SMTP, no network, no file system. Text and bytes in, values and problems out; the
//! daemon (`agency_portal`) reads the files, talks to the servers and stores what comes out.
//! `Cargo.toml` is the proof: none of tokio, sqlx, lettre, async-imap, axum or hyper is a
//! dependency (`cargo tree -p agency-portal-core -e normal`).

pub mod candidate;
pub mod check;
pub mod country;
pub mod decide;
pub mod directory;
pub mod email;
pub mod email_commands;
pub mod field;
pub mod hash_runs;
pub mod header;
pub mod i18n;
pub mod inbound;
pub mod normalise;
pub mod outcome;
pub mod parallel;
pub mod review_prefilter;
pub mod rows;
pub mod schedule;
pub mod sender_auth;
pub mod settings;
pub mod sheet;
pub mod spanned;
pub mod submission;
pub mod text;
pub mod validation;
pub mod who_is_who;
