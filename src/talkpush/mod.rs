//! Talkpush sync (SPEC §11 (r2)): every `new` candidate (and every `review` accepted) becomes a lead
//! of its campaign in the company's Talkpush, exactly once.
//!
//! - [`settings`]: the `[talkpush]` section and its checks;
//! - [`client`]: a thin adapter of the public Leads API (create, search);
//! - [`worker`]: the push worker several daemons share (queue in [`crate::store::talkpush`]);
//! - [`import`]: `import-existing --from-talkpush`, the company's leads into the `blocked` list.

pub mod client;
pub mod command;
pub mod import;
pub mod settings;
pub mod worker;
