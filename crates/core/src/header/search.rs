//! Finding the header row among a sheet's first rows and giving every column its role.

use super::synonyms::{classify, Kind, FIRST, LAST};
use super::{
    Column, HeaderError, Mapping, Role, HEADER_SEARCH_ROWS, MISSING_CONTACT, MISSING_FIRST_NAME,
    MISSING_LAST_NAME, MISSING_NAMES,
};
use crate::field::Field;
use crate::normalise::cell_text;
use crate::sheet::{Cell, Row, Workbook};
use crate::text;

/// A row considered as a header: its columns with roles, and how close it is to a real header.
struct Candidate {
    columns: Vec<Column>,
    has_name: bool,
    has_contact: bool,
    /// Number of distinct fields recognised.
    score: usize,
    missing: Vec<&'static str>,
}

fn header_text(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Empty => None,
        Cell::Text(s) => Some(text::clean(s)),
        other => Some(text::clean(&cell_text(other))),
    }
    .filter(|s| !s.is_empty())
}

fn evaluate(row: &Row) -> Candidate {
    let mut cells: Vec<(usize, String, Option<Kind>)> = Vec::new();
    for (index, cell) in row.cells.iter().enumerate() {
        if let Some(h) = header_text(cell) {
            let kind = match cell {
                Cell::Text(_) => classify(&h),
                _ => None,
            };
            cells.push((index, h, kind));
        }
    }
    let first_of = |k: Kind| cells.iter().position(|c| c.2 == Some(k));
    let first = first_of(FIRST);
    let last = first_of(LAST);
    let full = first_of(Kind::FullName);
    let name = first_of(Kind::Name);

    // Decide the name columns.
    let mut first_col = first;
    let last_col = last;
    let mut full_col = None;
    if first.is_none() && last.is_some() {
        if let Some(n) = name {
            first_col = Some(n);
        } else if full.is_some() {
            full_col = full;
        }
    } else if first.is_none() || last.is_none() {
        full_col = full.or(name);
    }

    let mut seen: Vec<Field> = Vec::new();
    let mut columns = Vec::with_capacity(cells.len());
    for (pos, (index, header, kind)) in cells.into_iter().enumerate() {
        let role = if Some(pos) == full_col {
            Role::FullName
        } else if Some(pos) == first_col {
            seen.push(Field::FirstName);
            Role::Field(Field::FirstName)
        } else if Some(pos) == last_col {
            seen.push(Field::LastName);
            Role::Field(Field::LastName)
        } else {
            match kind {
                Some(Kind::Field(f))
                    if !matches!(f, Field::FirstName | Field::LastName) && !seen.contains(&f) =>
                {
                    seen.push(f);
                    Role::Field(f)
                }
                _ => Role::Custom,
            }
        };
        columns.push(Column {
            index,
            header,
            role,
        });
    }
    let has = |f: Field| seen.contains(&f);
    let has_full = full_col.is_some();
    let has_name = (has(Field::FirstName) && has(Field::LastName)) || has_full;
    let has_contact = has(Field::Email) || has(Field::Phone);
    let mut missing = Vec::new();
    if !has_name {
        missing.push(match (has(Field::FirstName), has(Field::LastName)) {
            (true, false) => MISSING_LAST_NAME,
            (false, true) => MISSING_FIRST_NAME,
            _ => MISSING_NAMES,
        });
    }
    if !has_contact {
        missing.push(MISSING_CONTACT);
    }
    Candidate {
        score: seen.len() + usize::from(has_full),
        columns,
        has_name,
        has_contact,
        missing,
    }
}

/// Whether a cell of a non-header row could be shown as "found" without leaking a candidate's
/// email or phone into a reason.
fn looks_like_header(h: &str) -> bool {
    !h.contains('@') && h.chars().filter(|c| c.is_ascii_digit()).count() < 5
}

/// Finds the header (see the module documentation).
pub fn find_header(workbook: &Workbook) -> Result<Mapping, HeaderError> {
    let mut search = HeaderSearch::default();
    for (sheet_index, sheet) in workbook.sheets.iter().enumerate() {
        for (row_index, row) in sheet.rows.iter().take(HEADER_SEARCH_ROWS).enumerate() {
            if let Some(mapping) = search.offer(sheet_index, &sheet.name, row_index, row) {
                return Ok(mapping);
            }
        }
    }
    Err(search.fail())
}

/// The header search of [`find_header`], fed one row at a time (for rows that arrive while the
/// file is still being read). The caller offers at most the first [`HEADER_SEARCH_ROWS`] rows of
/// each sheet, sheets in order.
#[derive(Default)]
pub struct HeaderSearch {
    /// (score, sheet name, row number, best row so far).
    best: Option<(usize, String, u32, Candidate)>,
}

impl HeaderSearch {
    /// The mapping when `row` (the `row_index`-th row of sheet `sheet_index`) is the header.
    pub fn offer(
        &mut self,
        sheet_index: usize,
        sheet: &str,
        row_index: usize,
        row: &Row,
    ) -> Option<Mapping> {
        let candidate = evaluate(row);
        if candidate.has_name && candidate.has_contact {
            return Some(Mapping {
                sheet: sheet.to_string(),
                sheet_index,
                header_row: row.number,
                first_data_row: row_index + 1,
                columns: candidate.columns,
            });
        }
        let better = match &self.best {
            None => !candidate.columns.is_empty(),
            Some((.., b)) => candidate.score > b.score,
        };
        if better {
            self.best = Some((candidate.score, sheet.to_string(), row.number, candidate));
        }
        None
    }

    /// Why no row offered was a header.
    pub fn fail(self) -> HeaderError {
        match self.best {
            None => HeaderError {
                sheet: None,
                row: None,
                found: Vec::new(),
                missing: vec![
                    "first and last name columns (or one full-name column)",
                    "an email or a phone column",
                ],
            },
            Some((_, sheet, row, candidate)) => HeaderError {
                sheet: Some(sheet),
                row: Some(row),
                found: candidate
                    .columns
                    .iter()
                    .map(|c| c.header.as_str())
                    .filter(|h| looks_like_header(h))
                    .take(30)
                    .map(|h| {
                        if h.chars().count() > 40 {
                            format!("{}…", h.chars().take(40).collect::<String>())
                        } else {
                            h.to_string()
                        }
                    })
                    .collect(),
                missing: candidate.missing,
            },
        }
    }
}
