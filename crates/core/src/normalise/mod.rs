//! Normalisation (SPEC §6.1): what identity is compared on. Display values keep what the agency
//! wrote, cleaned; keys are what rows and candidates are matched on.
//!
//! - Names: display = [`text::clean`]; key = [`text::match_key`].
//! - Email: display trimmed and cleaned; key lower-case, and for gmail.com/googlemail.com the dots and
//!   `+tag` of the local part are ignored (googlemail.com becomes gmail.com).
//! - Phone: parsed by the `phonenumber` crate (libphonenumber's metadata) with the agency's country as
//!   the default region, stored as E.164; the key is the E.164 digits. Excel damage is repaired where it
//!   is unambiguous (see [`PhoneRules::normalise`]).

use crate::sheet::Cell;
use crate::text;

mod email;
mod name;
mod phone;
#[cfg(test)]
mod tests;

pub use email::{email_display, email_display_of_cleaned, email_domain, email_key};
pub use name::{split_full_name, Name};
pub use phone::{country_name, Phone, PhoneProblem, PhoneRules};

/// The text a person sees in a cell (numbers without a spurious `.0`).
pub fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Empty => String::new(),
        Cell::Text(s) | Cell::Date(s) | Cell::Error(s) => s.clone(),
        Cell::Number(f) => number_text(*f),
        Cell::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
    }
}

fn number_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// Values people type to mean "nothing here": treated as an empty cell.
pub fn is_placeholder(cleaned: &str) -> bool {
    if cleaned.is_empty() {
        return true;
    }
    if cleaned.chars().all(|c| !c.is_alphanumeric()) {
        return true; // "-", "--", "—", ".", "?"
    }
    if cleaned.len() > 12 {
        return false; // longer than any placeholder, even with punctuation
    }
    // Every placeholder word starts with n, w or 0: skip the key for everything else.
    let first = cleaned.chars().find(|c| c.is_alphanumeric());
    if !matches!(first, Some('n' | 'N' | 'w' | 'W' | '0')) {
        return false;
    }
    matches!(
        text::compact_key(cleaned).as_str(),
        "na" | "none"
            | "nil"
            | "null"
            | "0"
            | "wala"
            | "ninguno"
            | "ninguna"
            | "nenhum"
            | "nenhuma"
    )
}

/// A cleaned cell value, or `None` when it is empty or a placeholder such as "N/A".
pub fn cleaned_value(cell: &Cell) -> Option<String> {
    let s = match cell {
        Cell::Empty => return None,
        Cell::Text(s) => text::clean(s),
        other => text::clean(&cell_text(other)),
    };
    if is_placeholder(&s) {
        None
    } else {
        Some(s)
    }
}
