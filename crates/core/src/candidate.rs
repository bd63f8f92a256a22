//! A prepared row's candidate, its texts in one allocation ([`PackedCandidate`]).
//!
//! A [`Candidate`] holds nine strings, each its own allocation: for a 199,000-row file that was
//! 1.8 million allocations and some 85 MB more than the same texts in one buffer per row (issue
//! 10: any file within the limits stays under 256 MB). Rows keep the packed form; the owned
//! [`Candidate`] is made for one row at a time where it is needed (`review`, tests).

use crate::normalise::Name;
use crate::validation::Candidate;

/// The texts of a [`Candidate`] (custom fields aside: a row keeps those as its cells), one after
/// another in one allocation.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PackedCandidate {
    text: Box<str>,
    /// Where each field ends in `text`, in the order of the constants below.
    ends: [u32; FIELDS],
    /// Bit `k` set: optional field `k` is present (an absent one is empty in `text`).
    present: u16,
}

const FIELDS: usize = 9;
const FIRST: usize = 0;
const FIRST_KEY: usize = 1;
const LAST: usize = 2;
const LAST_KEY: usize = 3;
const EMAIL: usize = 4;
const EMAIL_KEY: usize = 5;
const PHONE: usize = 6;
const PHONE_KEY: usize = 7;
const CAMPAIGN: usize = 8;

/// A name of a [`PackedCandidate`]: as written (cleaned) and its match key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameRef<'a> {
    pub display: &'a str,
    pub key: &'a str,
}

impl NameRef<'_> {
    pub fn is_empty(&self) -> bool {
        self.key.is_empty()
    }
}

impl PackedCandidate {
    /// `c` packed; its custom fields are not kept.
    pub fn pack(c: &Candidate) -> PackedCandidate {
        let fields: [Option<&str>; FIELDS] = [
            Some(&c.first_name.display),
            Some(&c.first_name.key),
            Some(&c.last_name.display),
            Some(&c.last_name.key),
            c.email.as_deref(),
            c.email_key.as_deref(),
            c.phone.as_deref(),
            c.phone_key.as_deref(),
            c.campaign_id.as_deref(),
        ];
        let mut text = String::with_capacity(fields.iter().flatten().map(|s| s.len()).sum());
        let mut ends = [0; FIELDS];
        let mut present = 0;
        for (k, field) in fields.iter().enumerate() {
            if let Some(s) = field {
                text.push_str(s);
                present |= 1 << k;
            }
            // A row's texts are bounded far below 4 GiB by the sheet limits.
            ends[k] = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        PackedCandidate {
            text: text.into_boxed_str(),
            ends,
            present,
        }
    }

    fn get(&self, k: usize) -> &str {
        let start = k.checked_sub(1).map_or(0, |p| self.ends[p] as usize);
        self.text
            .get(start..self.ends[k] as usize)
            .unwrap_or_default()
    }

    fn optional(&self, k: usize) -> Option<&str> {
        (self.present & (1 << k) != 0).then(|| self.get(k))
    }

    pub fn first_name(&self) -> NameRef<'_> {
        NameRef {
            display: self.get(FIRST),
            key: self.get(FIRST_KEY),
        }
    }

    pub fn last_name(&self) -> NameRef<'_> {
        NameRef {
            display: self.get(LAST),
            key: self.get(LAST_KEY),
        }
    }

    /// The email as written (cleaned), when there was one.
    pub fn email(&self) -> Option<&str> {
        self.optional(EMAIL)
    }

    /// The email match key, only when the email is a valid address.
    pub fn email_key(&self) -> Option<&str> {
        self.optional(EMAIL_KEY)
    }

    /// E.164, only when the phone is a valid number.
    pub fn phone(&self) -> Option<&str> {
        self.optional(PHONE)
    }

    /// The E.164 digits, only when the phone is valid.
    pub fn phone_key(&self) -> Option<&str> {
        self.optional(PHONE_KEY)
    }

    /// The resolved campaign's ID.
    pub fn campaign_id(&self) -> Option<&str> {
        self.optional(CAMPAIGN)
    }

    /// The owned [`Candidate`], with no custom fields.
    pub fn unpack(&self) -> Candidate {
        let name = |n: NameRef| Name {
            display: n.display.to_string(),
            key: n.key.to_string(),
        };
        Candidate {
            first_name: name(self.first_name()),
            last_name: name(self.last_name()),
            email: self.email().map(str::to_string),
            email_key: self.email_key().map(str::to_string),
            phone: self.phone().map(str::to_string),
            phone_key: self.phone_key().map(str::to_string),
            campaign_id: self.campaign_id().map(str::to_string),
            custom: Vec::new(),
        }
    }
}

impl std::fmt::Debug for PackedCandidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.unpack().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(email: Option<&str>, phone: Option<&str>) -> Candidate {
        Candidate {
            first_name: Name::new("María José".into()),
            last_name: Name::new("".into()),
            email: email.map(str::to_string),
            email_key: email.map(str::to_lowercase),
            phone: phone.map(str::to_string),
            phone_key: phone.map(|p| p.trim_start_matches('+').to_string()),
            campaign_id: Some("40123".into()),
            custom: Vec::new(),
        }
    }

    #[test]
    fn a_packed_candidate_gives_back_every_field_and_which_are_absent() {
        for (email, phone) in [
            (Some("Ana@Example.test"), Some("+639171234567")),
            (None, Some("+639171234567")),
            (Some("ana@example.test"), None),
            (None, None),
            (Some(""), Some("")),
        ] {
            let c = candidate(email, phone);
            let p = PackedCandidate::pack(&c);
            assert_eq!(p.unpack(), c);
            assert_eq!(p.first_name().display, "María José");
            assert_eq!(p.first_name().key, c.first_name.key);
            assert!(p.last_name().is_empty());
            assert_eq!(p.email(), email);
            assert_eq!(p.phone_key(), c.phone_key.as_deref());
        }
    }
}
