//! Gathering what the database knows about a file's people: the exact keys to look up.

use crate::submission::Input;

/// The exact keys to look people up by, for the valid rows: sorted, each once, borrowed from the
/// rows.
pub(super) struct LookupKeys<'a> {
    pub(super) emails: Vec<&'a str>,
    pub(super) phones: Vec<&'a str>,
}

pub(super) fn lookup_keys<'a>(inputs: &[Input<'a>]) -> LookupKeys<'a> {
    let valid = || inputs.iter().filter(|r| r.invalid.is_none());
    let sorted = |mut keys: Vec<&'a str>| {
        keys.sort_unstable();
        keys.dedup();
        keys
    };
    LookupKeys {
        emails: sorted(valid().filter_map(|r| r.identity.email_key).collect()),
        phones: sorted(valid().filter_map(|r| r.identity.phone_key).collect()),
    }
}
