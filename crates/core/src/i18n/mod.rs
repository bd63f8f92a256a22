//! Languages (SPEC §3.2, §7 (r2) "Language"): everything an agency's people receive is written in
//! the agency's language, from per-language templates (`config/templates/<lang>/`) and one message
//! catalogue per language (`config/templates/<lang>/messages.toml`).
//!
//! The core keeps what it tells as structured values ([`Reason`]: a code and its arguments);
//! texts are made at the edge, by a [`Catalogue`], in the reader's language. English is also the
//! language of what is stored and of what owners read (`reason` columns, views, logs).

mod catalogue;
mod reason;

use std::fmt;

pub use catalogue::{Catalogue, MESSAGES_FILE};
pub use reason::{CampaignProblem, Part, Reason};

/// A language an agency's people can be written to in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Lang {
    #[default]
    En,
    Es,
    Pt,
}

/// Countries whose agencies get Spanish unless their entry says otherwise.
const SPANISH: &[&str] = &[
    "AR", "BO", "CL", "CO", "CR", "CU", "DO", "EC", "ES", "GQ", "GT", "HN", "MX", "NI", "PA", "PE",
    "PR", "PY", "SV", "UY", "VE",
];
/// Countries whose agencies get Portuguese unless their entry says otherwise.
const PORTUGUESE: &[&str] = &["AO", "BR", "CV", "GW", "MZ", "PT", "ST", "TL"];

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Es, Lang::Pt];

    /// The code used in the directory (`language = "es"`) and as the templates' folder name.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
            Lang::Pt => "pt",
        }
    }

    /// The language's name, in English (for owners).
    pub fn english_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Es => "Spanish",
            Lang::Pt => "Portuguese",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code() == s)
    }

    /// The default language of an agency in `country` (ISO 3166-1 alpha-2): Spanish for Spanish-
    /// speaking countries, Portuguese for Portuguese-speaking ones, else English (SPEC §3.2).
    pub fn for_country(country: &str) -> Lang {
        let upper = country.trim().to_ascii_uppercase();
        if SPANISH.contains(&upper.as_str()) {
            Lang::Es
        } else if PORTUGUESE.contains(&upper.as_str()) {
            Lang::Pt
        } else {
            Lang::En
        }
    }
}

/// A text to tell someone, kept as a catalogue key and its values until it is worded in the
/// reader's language ([`Told::render`]); in English ([`fmt::Display`]) for what owners read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Told {
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl Told {
    pub fn new(key: &'static str) -> Told {
        Told {
            key,
            args: Vec::new(),
        }
    }

    /// With the value of `{name}`.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Told {
        self.args.push((name, value.into()));
        self
    }

    pub fn render(&self, c: &Catalogue) -> String {
        let args: Vec<(&str, &str)> = self.args.iter().map(|(n, v)| (*n, v.as_str())).collect();
        c.fmt(self.key, &args)
    }
}

impl fmt::Display for Told {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Catalogue::english()))
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_follows_the_country_unless_told() {
        assert_eq!(Lang::for_country("MX"), Lang::Es);
        assert_eq!(Lang::for_country("co"), Lang::Es);
        assert_eq!(Lang::for_country("ES"), Lang::Es);
        assert_eq!(Lang::for_country("BR"), Lang::Pt);
        assert_eq!(Lang::for_country("PT"), Lang::Pt);
        assert_eq!(Lang::for_country("PH"), Lang::En);
        assert_eq!(Lang::for_country("US"), Lang::En);
        for l in Lang::ALL {
            assert_eq!(Lang::parse(l.code()), Some(l));
        }
        assert_eq!(Lang::parse("fr"), None);
    }
}
