//! Email address syntax, shared by the directory (users, owners) and candidate rows (SPEC §6.2).

/// A plausible deliverable address: RFC 5322 addr-spec syntax, and a domain with a dot
/// (so "ana@localhost" and "ana@acme" are refused: agencies mean real mailboxes).
pub fn is_valid(address: &str) -> bool {
    let address = address.trim();
    if !email_address::EmailAddress::is_valid(address) {
        return false;
    }
    match domain(address) {
        Some(d) => {
            d.contains('.')
                && !d.starts_with('.')
                && !d.ends_with('.')
                && !d.starts_with('[')
                && d.split('.').all(|label| !label.is_empty())
        }
        None => false,
    }
}

/// The lower-case domain part, if there is one.
pub fn domain(address: &str) -> Option<String> {
    address
        .trim()
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
}

/// A mail domain as written in the directory's `domains`: letters, digits, `-`, with dots between labels.
pub fn is_valid_domain(domain: &str) -> bool {
    let d = domain.trim();
    d.contains('.')
        && d.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(is_valid("ana@acme-staffing.ph"));
        assert!(is_valid(" Ana.Maria+x@Gmail.com "));
        assert!(!is_valid("ana@acme"));
        assert!(!is_valid("ana.acme.ph"));
        assert!(!is_valid("ana@@acme.ph"));
        assert!(!is_valid("ana@acme..ph"));
        assert_eq!(domain("Ana@Acme.PH").as_deref(), Some("acme.ph"));
    }

    #[test]
    fn domains() {
        assert!(is_valid_domain("acme-staffing.ph"));
        assert!(!is_valid_domain("acme"));
        assert!(!is_valid_domain("-acme.ph"));
        assert!(!is_valid_domain("acme.ph/x"));
    }
}
