//! Email: display trimmed and cleaned; key lower-case, Gmail's dots and `+tag` ignored.

use crate::text;

/// The display form of an email cell: cleaned, without a `mailto:` prefix or surrounding `<>`.
pub fn email_display(raw: &str) -> String {
    email_display_of_cleaned(text::clean(raw))
}

/// [`email_display`] of a value already [`text::clean`]ed.
pub fn email_display_of_cleaned(cleaned: String) -> String {
    let mut s = cleaned.as_str();
    if s.len() > 7 && s[..7].eq_ignore_ascii_case("mailto:") {
        s = &s[7..];
    }
    let s = s.trim();
    let s = s
        .strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(s)
        .trim();
    if s.len() == cleaned.len() {
        cleaned
    } else {
        s.to_string()
    }
}

/// The email match key: lower-case; for gmail.com/googlemail.com the dots and `+tag` of the local
/// part are ignored and the domain is gmail.com.
pub fn email_key(display: &str) -> String {
    let lower = display.trim().to_lowercase();
    let Some((local, domain)) = lower.rsplit_once('@') else {
        return lower;
    };
    if domain == "gmail.com" || domain == "googlemail.com" {
        let local = local.split('+').next().unwrap_or("");
        let local: String = local.chars().filter(|&c| c != '.').collect();
        format!("{local}@gmail.com")
    } else {
        lower
    }
}

/// The domain of an email (lower-case), if it has one.
pub fn email_domain(key: &str) -> Option<&str> {
    key.rsplit_once('@').map(|(_, d)| d)
}
