//! The integration tests: one binary, a module per area (`cargo nextest run -E 'binary(it)'`, or
//! `-E 'test(/^sftp::/)'` for one area). One binary links the dependencies once; 27 binaries, one
//! per file, took 1.1 GB of test executables (issue 15, Cargo.toml).
//!
//! `support` gives them fresh SQLite and Postgres databases, the private mail services, the Talkpush
//! stand-in and the portal command. Every module is one area; a test that needs a process of its
//! own (its peak memory, a signal) runs the `agency-portal` binary as a child.

#[macro_use]
mod support;

mod block_runs;
mod cli;
mod daemon;
mod daemons_shared;
mod demo;
mod digest;
mod drop;
mod email_imap;
mod email_intake;
mod ingest;
mod ingest_memory;
mod mail_oauth2;
mod migrations;
mod outbox;
mod outbox_smtp;
mod outcomes;
mod race;
mod receipt_e2e;
mod records;
mod rows_spanish_sheet;
mod sftp;
mod sheet_hostile;
mod sheet_samples;
mod store_directory;
mod support_smoke;
mod talkpush;
mod talkpush_daemons;
