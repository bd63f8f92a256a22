//! `[talkpush]` (SPEC §11 (r2)): where the company's Talkpush is, its API key, the lead source.
//! Checked by `config check` (every problem with file, line and column) and, online, by one
//! authenticated search that proves the key works (see `agency_portal::talkpush::client::Client::probe`).

use std::time::Duration;

use serde::Deserialize;

use super::Secret;
use crate::check::Checker;
use crate::spanned::{Node, Value};

/// The settings keys `[talkpush]` knows.
pub const KEYS: &[&str] = &[
    "base_url",
    "api_key",
    "api_key_env",
    "api_secret",
    "api_secret_env",
    "source",
    "enabled",
    "timeout_secs",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TalkpushSettings {
    /// `https://{company}.talkpush.com/api/talkpush_services`.
    pub base_url: String,
    /// The key itself (prefer `api_key_env`).
    pub api_key: Option<Secret>,
    pub api_key_env: Option<String>,
    /// Optional: sent when the tenant issued one.
    pub api_secret: Option<Secret>,
    pub api_secret_env: Option<String>,
    /// The lead source; the agency's name is appended ("Agency Portal - Acme Staffing").
    pub source: String,
    pub enabled: bool,
    /// How long one call may take, connecting included.
    pub timeout_secs: u64,
}

impl Default for TalkpushSettings {
    fn default() -> Self {
        TalkpushSettings {
            base_url: String::new(),
            api_key: None,
            api_key_env: None,
            api_secret: None,
            api_secret_env: None,
            source: "Agency Portal".into(),
            enabled: true,
            timeout_secs: 30,
        }
    }
}

impl TalkpushSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.max(1))
    }

    /// The lead source of a candidate of `agency_name`.
    pub fn source_for(&self, agency_name: &str) -> String {
        match (self.source.trim(), agency_name.trim()) {
            ("", a) => a.to_string(),
            (s, "") => s.to_string(),
            (s, a) => format!("{s} - {a}"),
        }
    }
}

/// Whether `base_url` is one the client can call: `https://HOST/PATH`, or `http://` on this
/// machine only (a local stand-in); `Err` says what is wrong.
pub fn check_base_url(base_url: &str) -> Result<url::Url, String> {
    let example = "e.g. base_url = \"https://acme.talkpush.com/api/talkpush_services\"";
    let url = url::Url::parse(base_url.trim())
        .map_err(|e| format!("`base_url` is not a URL ({e}); {example}"))?;
    let local = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        "http" => {
            return Err(format!(
                "`base_url` must use https (the API key travels in it); {example}"
            ))
        }
        other => return Err(format!("`base_url` scheme {other} is not https; {example}")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`base_url` names no host; {example}"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`base_url` must not carry a query or fragment (the key goes in api_key_env); {example}"
        ));
    }
    Ok(url)
}

/// `config check` of a `[talkpush]` table.
pub fn check(c: &mut Checker, t: &Node) {
    c.known_keys(t, "[talkpush]", KEYS);
    let enabled = c.boolean(t, "enabled", true);
    if let Some((url, span)) = c.string(t, "base_url", "[talkpush]", true) {
        if let Err(e) = check_base_url(&url) {
            c.report(span, e);
        }
    }
    let _ = c.string(t, "source", "[talkpush]", false);
    if enabled && t.get("api_key").is_none() && t.get("api_key_env").is_none() {
        c.report(
            &t.span,
            "[talkpush] has no API key: add api_key_env = \"TALKPUSH_API_KEY\" (the variable \
             holding it), or set enabled = false",
        );
    }
    if let Some(e) = t.get("timeout_secs") {
        if !matches!(e.node.value, Value::Integer(i) if (1..=600).contains(&i)) {
            c.report(
                &e.node.span,
                "`timeout_secs` must be a whole number of seconds from 1 to 600, e.g. 30",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_must_be_https_except_on_this_machine() {
        assert!(check_base_url("https://acme.talkpush.com/api/talkpush_services").is_ok());
        assert!(check_base_url("http://127.0.0.1:8080/api/talkpush_services").is_ok());
        assert!(check_base_url("http://localhost:8080/api").is_ok());
        assert!(check_base_url("http://acme.talkpush.com/api").is_err());
        assert!(check_base_url("acme.talkpush.com").is_err());
        assert!(check_base_url("https://acme.talkpush.com/api?api_key=x").is_err());
    }

    #[test]
    fn the_source_names_the_agency() {
        let s = TalkpushSettings::default();
        assert_eq!(
            s.source_for("Acme Staffing"),
            "Agency Portal - Acme Staffing"
        );
        let s = TalkpushSettings {
            source: String::new(),
            ..TalkpushSettings::default()
        };
        assert_eq!(s.source_for("Acme"), "Acme");
    }
}
