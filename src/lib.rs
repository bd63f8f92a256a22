//! agency-portal: recruitment agencies submit candidates by email and SFTP drop folder.
//!
//! The core is pure (bytes → sheet → rows → normalised → validated → decided) and lives in its own
//! crate, `agency_portal_core` (crates/core), re-exported here under the same module names; this
//! crate holds the adapters at the edges that talk to the mailbox, the drop folder, the database and
//! outgoing mail, and the parts of `i18n`, `directory`, `settings` and `parallel` that read files
//! or know the runtime.

pub mod app;
pub use agency_portal_core::candidate;
pub use agency_portal_core::check;
pub mod cli;
pub mod clock;
pub use agency_portal_core::country;
pub mod daemon;
pub use agency_portal_core::decide;
pub mod demo;
pub mod digest;
pub mod directory;
pub use agency_portal_core::email;
pub use agency_portal_core::email_commands;
pub use agency_portal_core::field;
pub use agency_portal_core::hash_runs;
pub use agency_portal_core::header;
pub mod i18n;
pub use agency_portal_core::inbound;
pub mod intake;
pub mod mail;
pub mod memory;
pub use agency_portal_core::normalise;
pub use agency_portal_core::outcome;
pub mod parallel;
pub mod reach;
pub mod results;
pub use agency_portal_core::review_prefilter;
pub use agency_portal_core::rows;
pub use agency_portal_core::schedule;
pub use agency_portal_core::sender_auth;
pub mod settings;
pub use agency_portal_core::sheet;
pub use agency_portal_core::spanned;
pub mod store;
pub use agency_portal_core::submission;
pub mod talkpush;
pub mod template_workbook;
pub use agency_portal_core::text;
pub mod tls;
pub use agency_portal_core::validation;
pub mod views;
pub use agency_portal_core::who_is_who;
