//! The integration tests: one binary, a module per area (`scripts/test -- -E 'binary(it)'`, or
//! `-E 'binary(it) & test(/^sftp::/)'` for one area). A new area is a new module here, not a file
//! in tests/: each of those is a binary linking every dependency (27 of them were 1,086 MB, this
//! one is 82 MB; Cargo.toml).
//!
//! `support` gives them fresh SQLite and Postgres databases, the `agency-portal` command (`portal`,
//! and `Portal`: a portal on a fresh database), the private mail services and the Talkpush
//! stand-in. nextest runs each test in a process of its own, `cargo test` runs them as threads of
//! one: a test must not change this process's environment, current folder or signal handling; what
//! needs a process of its own (a peak memory, a signal, a crash) runs `agency-portal` as a child.

#[macro_use]
mod support;

mod block_runs;
mod cli;
mod daemon;
mod daemons_shared;
mod demo;
mod digest;
mod digest_schedule;
mod drop;
mod drop_faults;
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
