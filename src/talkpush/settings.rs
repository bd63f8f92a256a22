//! `[talkpush]` (SPEC §11 (r2)): the settings model and its check are the core's
//! ([`agency_portal_core::settings::talkpush`]); this reads the secrets from the environment.

pub use agency_portal_core::settings::talkpush::*;

use crate::settings::Secret;

/// Reads `api_key_env` (required when enabled and no `api_key` is given) and `api_secret_env`
/// (optional: an unset or empty variable means the tenant has no secret).
pub(crate) fn resolve(t: &mut TalkpushSettings) -> Result<(), String> {
    if let Some(var) = t.api_key_env.as_deref().filter(|v| !v.is_empty()) {
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => t.api_key = Some(Secret::new(v.trim())),
            _ if t.enabled => {
                return Err(format!(
                    "`talkpush.api_key_env` names the environment variable {var}, which is not \
                     set: export it with the Talkpush API key, or set enabled = false"
                ))
            }
            _ => {}
        }
    }
    if let Some(var) = t.api_secret_env.as_deref().filter(|v| !v.is_empty()) {
        if let Ok(v) = std::env::var(var) {
            if !v.trim().is_empty() {
                t.api_secret = Some(Secret::new(v.trim()));
            }
        }
    }
    Ok(())
}
