//! Talkpush sync (SPEC §11 (r2)): every `new` candidate (and every `review` accepted) becomes a lead
//! of its campaign in the company's Talkpush, exactly once.
//!
//! - [`settings`]: the `[talkpush]` section and its checks;
//! - [`client`]: a thin adapter of the public Leads API (create, search);
//! - [`worker`]: the push worker several daemons share (queue in [`crate::store::talkpush`]);
//! - [`import`]: `import-existing --from-talkpush`, the company's leads into the `blocked` list.

pub mod client;
pub mod import;
pub mod settings;
pub mod worker;

/// The worker `[talkpush]` describes; an error saying how to turn it on when it is off.
pub fn pusher(app: &crate::app::App) -> anyhow::Result<worker::Pusher> {
    let Some(settings) = app.settings.talkpush() else {
        return Err(crate::app::BadInput(format!(
            "Talkpush sync is off: add a [talkpush] section (base_url, api_key_env) with \
             enabled = true to {}; the README's \"Talkpush sync\" says how",
            app.settings.file.display()
        ))
        .into());
    };
    worker::Pusher::new(app.store.clone(), settings, app.composer.clone())
        .map_err(|e| crate::app::BadInput(format!("[talkpush]: {e}")).into())
}
