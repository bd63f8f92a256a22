//! agency-portal: recruitment agencies submit candidates by email and SFTP drop folder.
//!
//! The core is pure (bytes → sheet → rows → normalised → validated → decided); adapters at the edges
//! talk to the mailbox, the drop folder, the database and outgoing mail.

pub mod directory;
pub mod field;
pub mod header;
pub mod normalise;
pub mod outcome;
pub mod results;
pub mod rows;
pub mod sheet;
pub mod text;
pub mod validation;
