//! The outcome of one row (SPEC §6.4): exactly one per row.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    New,
    PreviouslySubmitted,
    Duplicate,
    Blocked,
    Review,
    Repeated,
    Invalid,
}

impl Outcome {
    /// Every outcome, in the order of the receipt's counts line (SPEC §7).
    pub const ALL: [Outcome; 7] = [
        Outcome::New,
        Outcome::PreviouslySubmitted,
        Outcome::Duplicate,
        Outcome::Blocked,
        Outcome::Review,
        Outcome::Repeated,
        Outcome::Invalid,
    ];

    /// The code of SPEC §6.4 (a public contract: JSON, receipts, database).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::New => "new",
            Outcome::PreviouslySubmitted => "previously_submitted",
            Outcome::Duplicate => "duplicate",
            Outcome::Blocked => "blocked",
            Outcome::Review => "review",
            Outcome::Repeated => "repeated",
            Outcome::Invalid => "invalid",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_spec_codes_in_receipt_order() {
        let codes: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            codes,
            [
                "new",
                "previously_submitted",
                "duplicate",
                "blocked",
                "review",
                "repeated",
                "invalid"
            ]
        );
    }

    #[test]
    fn parse_round_trips() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
            assert_eq!(o.to_string(), o.as_str());
        }
        assert_eq!(Outcome::parse("New"), None);
    }
}
