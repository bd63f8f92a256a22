//! Finding the header row and mapping its cells to fields (SPEC §5).
//!
//! The header is the first row, in the first sheet (in order) that has one, among the first
//! [`HEADER_SEARCH_ROWS`] non-blank rows, that is recognisable: it has a first name and a last name
//! column (or one full-name column) **and** an email or a phone column.
//!
//! Header cells are compared on [`text::compact_key`] (case, spaces, accents and punctuation ignored)
//! against synonyms in English, Spanish, Portuguese and Filipino; failing that, without a
//! parenthesised part ("Phone (with country code)"), without a leading "Candidate"/"Applicant"-like
//! word, and finally with one typo (one insertion, deletion, substitution or swap of two neighbouring
//! letters) when exactly one field is that close. Typos are only tried for keys of at least 4
//! characters; against 4-character synonyms ("last", "cell", "mail", "name") only a swap counts, so
//! "List" or "Call" stay custom fields.
//!
//! Name columns: "Full Name"-like headers are split into first and last name
//! ([`crate::normalise::split_full_name`]). A bare "Name" / "Nombre(s)" / "Nome" / "Pangalan" is the
//! first name when the sheet also has a last-name column ("Nome" + "Sobrenome", "Nombres" +
//! "Apellidos"), and a full name otherwise. When a sheet has both a first and a last name column, a
//! full-name column is kept as a custom field; when it has only one of them, the full name fills the
//! other.
//!
//! The first column of each field wins; a second column that maps to the same field ("Phone 2") is
//! kept as a custom field. Columns with a blank header are skipped; every other column is kept as a
//! custom field under its header text.

use std::fmt;

use crate::field::Field;

mod search;
mod synonyms;
#[cfg(test)]
mod tests;

pub use search::{find_header, HeaderSearch};
pub use synonyms::{classify, Kind};

/// How many non-blank rows at the top of each sheet are searched for the header.
pub const HEADER_SEARCH_ROWS: usize = 20;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Field(Field),
    /// A full name, split into first and last name (fills whichever has no column of its own).
    FullName,
    /// Kept as a custom field of the candidate under its header text.
    Custom,
}

/// One kept column of the header row.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Index of the cell in [`Row::cells`].
    pub index: usize,
    /// The header text as the agency wrote it (cleaned).
    pub header: String,
    pub role: Role,
}

/// Where the header is and what each column means.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub sheet: String,
    /// Index of the sheet in [`Workbook::sheets`].
    pub sheet_index: usize,
    /// The header's row number as the spreadsheet shows it.
    pub header_row: u32,
    /// Index in the sheet's `rows` of the first row after the header.
    pub first_data_row: usize,
    /// The non-blank header cells, left to right.
    pub columns: Vec<Column>,
}

impl Mapping {
    /// The column of a field, if the sheet has one.
    pub fn column(&self, field: Field) -> Option<&Column> {
        self.columns.iter().find(|c| c.role == Role::Field(field))
    }

    /// The header texts, left to right.
    pub fn headers(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.header.as_str()).collect()
    }
}

/// No sheet has a recognisable header: what was found and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct HeaderError {
    /// Sheet and row number of the closest candidate row, if any row had text.
    pub sheet: Option<String>,
    pub row: Option<u32>,
    /// The header-looking cells of that row (cells that look like emails or phone numbers are left
    /// out, long texts shortened).
    pub found: Vec<String>,
    /// What that row lacked, in plain words ("a last name column (or one full-name column)").
    pub missing: Vec<&'static str>,
}

impl HeaderError {
    /// The text in the catalogue's language (`unreadable.no_header` and after).
    pub fn render(&self, c: &crate::i18n::Catalogue) -> String {
        let mut out = c.fmt(
            "unreadable.no_header",
            &[("rows", &HEADER_SEARCH_ROWS.to_string())],
        );
        match (&self.sheet, self.row) {
            (Some(sheet), Some(row)) if !self.found.is_empty() => {
                let found: Vec<String> = self.found.iter().map(|h| format!("\"{h}\"")).collect();
                out.push_str(&c.fmt(
                    "unreadable.closest",
                    &[
                        ("row", &row.to_string()),
                        ("sheet", sheet),
                        ("found", &found.join(", ")),
                    ],
                ));
                if !self.missing.is_empty() {
                    let missing: Vec<&str> = self
                        .missing
                        .iter()
                        .map(|m| match MISSING_KEYS.iter().find(|(text, _)| text == m) {
                            Some((_, key)) => c.text(key),
                            None => m,
                        })
                        .collect();
                    out.push_str(&c.fmt(
                        "unreadable.closest_missing",
                        &[("missing", &missing.join(c.text("unreadable.and")))],
                    ));
                }
            }
            _ => out.push_str(c.text("unreadable.no_header_row")),
        }
        out.push_str(c.text("unreadable.expected"));
        out
    }
}

/// What a header row lacked ([`HeaderError::missing`]), with its catalogue key.
const MISSING_KEYS: [(&str, &str); 4] = [
    (MISSING_LAST_NAME, "unreadable.missing_last_name"),
    (MISSING_FIRST_NAME, "unreadable.missing_first_name"),
    (MISSING_NAMES, "unreadable.missing_names"),
    (MISSING_CONTACT, "unreadable.missing_contact"),
];
const MISSING_LAST_NAME: &str = "a last name column (or one full-name column)";
const MISSING_FIRST_NAME: &str = "a first name column (or one full-name column)";
const MISSING_NAMES: &str = "first and last name columns (or one full-name column)";
const MISSING_CONTACT: &str = "an email or a phone column";

/// In English (logs, the stored record); [`HeaderError::render`] words it in any language.
impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(crate::i18n::Catalogue::english()))
    }
}
