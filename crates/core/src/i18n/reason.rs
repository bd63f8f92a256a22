//! A row's reason as a structured value: the problems found, each a code with its arguments,
//! rendered in a language by a [`Catalogue`] (`reason.*` keys). Cheap to clone (shared): a reason is
//! made once by validation and carried to the decision, the store and the receipt.

use std::fmt;
use std::sync::Arc;

use super::Catalogue;
use crate::field::Field;
use crate::normalise::PhoneProblem;

/// One problem of a row (SPEC §6.2, §6.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    AgencyInactive,
    SubmitterInactive,
    AgencyContact,
    EmailInvalid,
    Missing(Field),
    EmailOrPhoneMissing,
    Phone(PhoneProblem),
    /// Numbers of a country without phone metadata (ISO code).
    PhoneUnchecked {
        country: String,
    },
    /// `given`: the campaign given with the file (not the row's own).
    Campaign {
        given: bool,
        problem: CampaignProblem,
    },
    /// No campaign; `open`: how many are open in the agency's country.
    CampaignMissing {
        open: usize,
    },
    Duplicate,
    Blocked,
    PreviouslySubmitted,
    ReviewConflict,
    ReviewSimilar,
    ReviewTwoRows {
        first: u32,
        second: u32,
    },
    ReviewSimilarRow {
        row: u32,
    },
    Repeated {
        row: u32,
    },
    /// A text kept as it was stored (outcomes read back from the database), shown as is.
    Text(String),
}

/// What is wrong with a campaign reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CampaignProblem {
    /// The value as written (shortened).
    Ambiguous {
        value: String,
    },
    Unknown {
        value: String,
    },
    Closed {
        name: String,
        id: String,
    },
    /// For candidates of `country`, not of the agency's `agency_country` (ISO codes).
    OtherCountry {
        name: String,
        id: String,
        country: String,
        agency_country: String,
    },
}

fn field_key(f: Field) -> &'static str {
    match f {
        Field::FirstName => "field.first_name",
        Field::LastName => "field.last_name",
        Field::Email => "field.email",
        Field::Phone => "field.phone",
        Field::Campaign => "field.campaign",
    }
}

impl Part {
    /// The part's text in the catalogue's language.
    pub fn render(&self, c: &Catalogue) -> String {
        match self {
            Part::AgencyInactive => c.text("reason.agency_inactive").into(),
            Part::SubmitterInactive => c.text("reason.submitter_inactive").into(),
            Part::AgencyContact => c.text("reason.agency_contact").into(),
            Part::EmailInvalid => c.text("reason.email_invalid").into(),
            Part::Missing(f) => c.fmt("reason.missing", &[("field", c.text(field_key(*f)))]),
            Part::EmailOrPhoneMissing => c.text("reason.email_or_phone_missing").into(),
            Part::Phone(p) => phone(p, c),
            Part::PhoneUnchecked { country } => c.fmt(
                "reason.phone_unchecked",
                &[("country", &c.country(country))],
            ),
            Part::Campaign { given, problem } => {
                let problem = campaign(problem, c);
                let key = if *given {
                    "reason.campaign_given"
                } else {
                    "reason.campaign"
                };
                c.fmt(key, &[("problem", &problem)])
            }
            Part::CampaignMissing { open: 0 } => c.text("reason.campaign_missing").into(),
            Part::CampaignMissing { open } => c.fmt(
                "reason.campaign_missing_open",
                &[("open", &open.to_string())],
            ),
            Part::Duplicate => c.text("reason.duplicate").into(),
            Part::Blocked => c.text("reason.blocked").into(),
            Part::PreviouslySubmitted => c.text("reason.previously_submitted").into(),
            Part::ReviewConflict => c.text("reason.review_conflict").into(),
            Part::ReviewSimilar => c.text("reason.review_similar").into(),
            Part::ReviewTwoRows { first, second } => c.fmt(
                "reason.review_two_rows",
                &[
                    ("first", &first.to_string()),
                    ("second", &second.to_string()),
                ],
            ),
            Part::ReviewSimilarRow { row } => {
                c.fmt("reason.review_similar_row", &[("row", &row.to_string())])
            }
            Part::Repeated { row } => c.fmt("reason.repeated", &[("row", &row.to_string())]),
            Part::Text(t) => t.clone(),
        }
    }

    /// One example of every kind of part, for tests that render them all.
    pub fn examples() -> Vec<Part> {
        let campaign = |given, problem| Part::Campaign { given, problem };
        vec![
            Part::AgencyInactive,
            Part::SubmitterInactive,
            Part::AgencyContact,
            Part::EmailInvalid,
            Part::Missing(Field::FirstName),
            Part::Missing(Field::LastName),
            Part::Missing(Field::Email),
            Part::Missing(Field::Phone),
            Part::Missing(Field::Campaign),
            Part::EmailOrPhoneMissing,
            Part::Phone(PhoneProblem::NotANumber),
            Part::Phone(PhoneProblem::SpreadsheetError),
            Part::Phone(PhoneProblem::ShortenedByExcel),
            Part::Phone(PhoneProblem::TooShort {
                country: "BR".into(),
            }),
            Part::Phone(PhoneProblem::TooLong {
                country: "MX".into(),
            }),
            Part::Phone(PhoneProblem::NotValid {
                country: "CO".into(),
            }),
            Part::Phone(PhoneProblem::UnknownCountryCode),
            Part::PhoneUnchecked {
                country: "XK".into(),
            },
            campaign(
                false,
                CampaignProblem::Ambiguous {
                    value: "Ventas".into(),
                },
            ),
            campaign(
                true,
                CampaignProblem::Unknown {
                    value: "9999".into(),
                },
            ),
            campaign(
                false,
                CampaignProblem::Closed {
                    name: "Ventas CDMX".into(),
                    id: "40300".into(),
                },
            ),
            campaign(
                false,
                CampaignProblem::OtherCountry {
                    name: "Atendimento SP".into(),
                    id: "40400".into(),
                    country: "BR".into(),
                    agency_country: "MX".into(),
                },
            ),
            Part::CampaignMissing { open: 0 },
            Part::CampaignMissing { open: 3 },
            Part::Duplicate,
            Part::Blocked,
            Part::PreviouslySubmitted,
            Part::ReviewConflict,
            Part::ReviewSimilar,
            Part::ReviewTwoRows {
                first: 3,
                second: 5,
            },
            Part::ReviewSimilarRow { row: 4 },
            Part::Repeated { row: 2 },
        ]
    }
}

fn phone(p: &PhoneProblem, c: &Catalogue) -> String {
    match p {
        PhoneProblem::NotANumber => c.text("reason.phone_not_a_number").into(),
        PhoneProblem::SpreadsheetError => c.text("reason.phone_spreadsheet_error").into(),
        PhoneProblem::ShortenedByExcel => c.text("reason.phone_shortened_by_excel").into(),
        PhoneProblem::TooShort { country } => c.fmt(
            "reason.phone_too_short",
            &[("in_country", &c.in_country(country))],
        ),
        PhoneProblem::TooLong { country } => c.fmt(
            "reason.phone_too_long",
            &[("in_country", &c.in_country(country))],
        ),
        PhoneProblem::NotValid { country } => c.fmt(
            "reason.phone_not_valid",
            &[("in_country", &c.in_country(country))],
        ),
        PhoneProblem::UnknownCountryCode => c.text("reason.phone_unknown_country_code").into(),
    }
}

fn campaign(p: &CampaignProblem, c: &Catalogue) -> String {
    match p {
        CampaignProblem::Ambiguous { value } => {
            c.fmt("reason.campaign_ambiguous", &[("value", value)])
        }
        CampaignProblem::Unknown { value } => c.fmt("reason.campaign_unknown", &[("value", value)]),
        CampaignProblem::Closed { name, id } => {
            c.fmt("reason.campaign_closed", &[("name", name), ("id", id)])
        }
        CampaignProblem::OtherCountry {
            name,
            id,
            country,
            agency_country,
        } => c.fmt(
            "reason.campaign_other_country",
            &[
                ("name", name),
                ("id", id),
                ("in_country", &c.in_country(country)),
                ("in_agency_country", &c.in_country(agency_country)),
            ],
        ),
    }
}

/// Every problem of a row, in the order told (empty: no reason).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Reason(Option<Arc<[Part]>>);

impl Reason {
    pub fn new(parts: Vec<Part>) -> Reason {
        if parts.is_empty() {
            Reason(None)
        } else {
            Reason(Some(parts.into()))
        }
    }

    /// A reason as stored (English text), shown as is in every language; empty: none.
    pub fn stored(text: String) -> Reason {
        if text.is_empty() {
            Reason(None)
        } else {
            Reason::new(vec![Part::Text(text)])
        }
    }

    pub fn parts(&self) -> &[Part] {
        self.0.as_deref().unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// This reason's problems, then `other`'s.
    pub fn and(&self, other: &Reason) -> Reason {
        Reason::new(self.parts().iter().chain(other.parts()).cloned().collect())
    }

    /// The text in the catalogue's language, problems joined by its separator ("; ").
    pub fn render(&self, c: &Catalogue) -> String {
        let parts = self.parts();
        match parts {
            [] => String::new(),
            [one] => one.render(c),
            _ => {
                let sep = c.text("reason.separator");
                parts
                    .iter()
                    .map(|p| p.render(c))
                    .collect::<Vec<_>>()
                    .join(sep)
            }
        }
    }

    /// The English text: what is stored and what owners read.
    pub fn english(&self) -> String {
        self.render(Catalogue::english())
    }
}

impl From<Part> for Reason {
    fn from(p: Part) -> Reason {
        Reason::new(vec![p])
    }
}

/// A text as stored, shown as is (see [`Reason::stored`]).
impl From<&str> for Reason {
    fn from(text: &str) -> Reason {
        Reason::stored(text.to_string())
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.english())
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.english(), f)
    }
}

impl PartialEq<str> for Reason {
    fn eq(&self, other: &str) -> bool {
        self.english() == other
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.english() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn english_is_as_before() {
        let r = Reason::new(vec![
            Part::Missing(Field::FirstName),
            Part::Phone(PhoneProblem::TooShort {
                country: "PH".into(),
            }),
        ]);
        assert_eq!(
            r,
            "first name: missing; phone: too short for a phone number in the Philippines"
        );
        assert_eq!(
            Reason::from(Part::CampaignMissing { open: 2 }).english(),
            "campaign: missing; add a Campaign column with the campaign ID or name, or name the \
             campaign when you send the file (there are 2 open campaigns; send \"campaigns\" for \
             the list)"
        );
        assert_eq!(Reason::stored("as stored".into()).english(), "as stored");
        assert!(Reason::stored(String::new()).is_empty());
    }

    #[test]
    fn every_part_renders_in_every_language_with_no_key_or_value_left() {
        for lang in Lang::ALL {
            let c = Catalogue::shipped(lang);
            for p in Part::examples() {
                let text = p.render(c);
                assert!(!text.is_empty(), "{lang}: {p:?}");
                assert!(
                    !text.contains('{') && !text.contains("reason.") && !text.contains("field."),
                    "{lang}: {p:?} renders as {text}"
                );
                if lang != Lang::En {
                    assert_ne!(text, p.render(Catalogue::english()), "{lang}: {p:?}");
                }
            }
        }
        let pt = Reason::from(Part::Campaign {
            given: false,
            problem: CampaignProblem::OtherCountry {
                name: "Vendas".into(),
                id: "1".into(),
                country: "BR".into(),
                agency_country: "MX".into(),
            },
        });
        assert_eq!(
            pt.render(Catalogue::shipped(Lang::Pt)),
            "campanha: \"Vendas\" (1) é para candidatos no Brasil, não no México"
        );
    }
}
