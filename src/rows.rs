//! The row pipeline after reading: find the header, then normalise and validate every data row
//! (SPEC §5, §6.1, §6.2). Pure: the workbook in, prepared rows out.
//!
//! Data rows are the rows after the header row in the header's sheet (other sheets are ignored).
//! Rows whose kept columns are all empty, and rows that repeat the header texts (a header pasted
//! twice), are skipped: they get no outcome. Only columns with a non-blank header are kept; cells
//! under a blank header are not carried to the results workbook.

use std::borrow::Cow;
use std::sync::Arc;

use crate::header::{self, HeaderError, Mapping, Role};
use crate::normalise::cell_text;
use crate::sheet::{Cell, Row, Workbook};
use crate::text;
use crate::validation::{Candidate, Context, RowCells, Validator};

use crate::field::Field;

/// A workbook's mapping and its data rows, in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub mapping: Mapping,
    pub rows: Vec<PreparedRow>,
}

/// One data row.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedRow {
    /// The row number as the spreadsheet shows it.
    pub number: u32,
    /// The cells as the agency wrote them, one per [`Mapping::columns`] entry (for the results
    /// workbook).
    pub cells: Vec<String>,
    /// What could be parsed (also for invalid rows).
    pub candidate: Candidate,
    /// `Some(reason)` when the row is invalid (SPEC §6.2).
    pub invalid: Option<String>,
}

impl PreparedRow {
    pub fn is_valid(&self) -> bool {
        self.invalid.is_none()
    }
}

/// Prepares rows one at a time for a mapping (for callers that report progress).
pub struct Preparer<'a> {
    mapping: Mapping,
    validator: Validator<'a>,
    first_name: Option<usize>,
    last_name: Option<usize>,
    full_name: Option<usize>,
    email: Option<usize>,
    phone: Option<usize>,
    campaign: Option<usize>,
    /// (position in `mapping.columns`, header) of custom columns.
    custom: Vec<(usize, Arc<str>)>,
    /// Per column: the position of an earlier column reading the same cell, if any.
    first_of_index: Vec<Option<usize>>,
}

impl<'a> Preparer<'a> {
    pub fn new(mapping: Mapping, ctx: Context<'a>) -> Preparer<'a> {
        let field = |f: Field| mapping.column(f).map(|c| c.index);
        let full_name = mapping
            .columns
            .iter()
            .find(|c| c.role == Role::FullName)
            .map(|c| c.index);
        let custom = mapping
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.role == Role::Custom)
            .map(|(pos, c)| (pos, Arc::from(c.header.as_str())))
            .collect();
        let first_of_index = mapping
            .columns
            .iter()
            .enumerate()
            .map(|(k, c)| mapping.columns[..k].iter().position(|p| p.index == c.index))
            .collect();
        Preparer {
            first_of_index,
            first_name: field(Field::FirstName),
            last_name: field(Field::LastName),
            email: field(Field::Email),
            phone: field(Field::Phone),
            campaign: field(Field::Campaign),
            full_name,
            custom,
            validator: Validator::new(ctx),
            mapping,
        }
    }

    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    pub fn into_mapping(self) -> Mapping {
        self.mapping
    }

    /// The data rows of the workbook the mapping was found in.
    pub fn data_rows<'w>(&self, workbook: &'w Workbook) -> &'w [Row] {
        workbook
            .sheets
            .get(self.mapping.sheet_index)
            .and_then(|s| s.rows.get(self.mapping.first_data_row..))
            .unwrap_or(&[])
    }

    /// One data row, or `None` when it is skipped (all kept cells empty, or a repeated header).
    pub fn row(&self, row: &Row) -> Option<PreparedRow> {
        self.take_row(row.clone())
    }

    /// [`Preparer::row`] taking the row: its texts move into the prepared row instead of being
    /// copied, so a caller that hands over the workbook's rows one by one never holds a file twice.
    pub fn take_row(&self, mut row: Row) -> Option<PreparedRow> {
        let texts: Vec<Cow<'_, str>> = self
            .mapping
            .columns
            .iter()
            .map(|c| match row.cells.get(c.index) {
                Some(Cell::Text(s)) => Cow::Borrowed(s.as_str()),
                Some(other) => Cow::Owned(cell_text(other)),
                None => Cow::Borrowed(""),
            })
            .collect();
        if texts.iter().all(|s| is_blank(s)) || self.repeats_header(&texts) {
            return None;
        }
        let get = |i: Option<usize>| i.and_then(|i| row.cells.get(i));
        let (mut candidate, invalid) = self.validator.row(RowCells {
            first_name: get(self.first_name),
            last_name: get(self.last_name),
            full_name: get(self.full_name),
            email: get(self.email),
            phone: get(self.phone),
            campaign: get(self.campaign),
        });
        for (pos, header) in &self.custom {
            let raw = &texts[*pos];
            if !raw.is_empty() {
                let value = text::clean(raw);
                if !value.is_empty() {
                    candidate.custom.push((header.clone(), value));
                }
            }
        }
        // The texts as the agency wrote them: moved out of the row (a column read twice is copied).
        let owned: Vec<Option<String>> = texts
            .into_iter()
            .map(|t| match t {
                Cow::Owned(s) => Some(s),
                Cow::Borrowed(_) => None,
            })
            .collect();
        let mut cells = Vec::with_capacity(owned.len());
        for (k, (c, o)) in self.mapping.columns.iter().zip(owned).enumerate() {
            let text = match (o, self.first_of_index[k]) {
                (Some(s), _) => s,
                (None, Some(earlier)) => {
                    let s: &String = &cells[earlier];
                    s.clone()
                }
                (None, None) => match row.cells.get_mut(c.index) {
                    Some(Cell::Text(s)) => std::mem::take(s),
                    _ => String::new(),
                },
            };
            cells.push(text);
        }
        Some(PreparedRow {
            number: row.number,
            cells,
            candidate,
            invalid,
        })
    }

    fn repeats_header(&self, cells: &[Cow<'_, str>]) -> bool {
        let mut any = false;
        for (cell, column) in cells.iter().zip(&self.mapping.columns) {
            if is_blank(cell) {
                continue;
            }
            let same = if cell.is_ascii() {
                cell.split_whitespace().eq(column.header.split(' '))
            } else {
                text::clean(cell) == column.header
            };
            if !same {
                return false;
            }
            any = true;
        }
        any
    }
}

fn is_blank(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_whitespace()
            || matches!(
                c,
                '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}'
            )
    })
}

/// Finds the header, then normalises and validates every data row in input order.
pub fn prepare(workbook: &Workbook, ctx: &Context) -> Result<Prepared, HeaderError> {
    let mapping = header::find_header(workbook)?;
    let preparer = Preparer::new(mapping, *ctx);
    let data = preparer.data_rows(workbook);
    let mut rows = Vec::with_capacity(data.len());
    rows.extend(data.iter().filter_map(|r| preparer.row(r)));
    Ok(Prepared {
        mapping: preparer.into_mapping(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sheet::{Cell, Format, Sheet};
    use crate::validation::tests::directory;

    fn t(s: &str) -> Cell {
        if s.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(s.into())
        }
    }

    fn row(number: u32, cells: &[&str]) -> Row {
        Row {
            number,
            cells: cells.iter().map(|s| t(s)).collect(),
        }
    }

    fn ctx(d: &crate::directory::Directory) -> Context<'_> {
        Context {
            directory: d,
            agency: d.agency("acme").unwrap(),
            submitter_active: true,
            default_campaign: Some("40123"),
        }
    }

    #[test]
    fn rows_in_order_with_original_cells_and_custom_fields() {
        let d = directory();
        let wb = Workbook {
            format: Format::Csv,
            sheets: vec![Sheet {
                name: "Sheet1".into(),
                rows: vec![
                    row(
                        1,
                        &["First Name", "Last Name", "", "Mobile", "Email", "Source"],
                    ),
                    row(
                        2,
                        &["Ana", "Reyes", "junk", "0917 123 4567", "", "Facebook"],
                    ),
                    row(3, &["", "", "only junk", "", "", ""]),
                    row(
                        4,
                        &["First Name", "Last Name", "", "Mobile", "Email", "Source"],
                    ),
                    row(
                        5,
                        &["Ben", "", "", "=HYPERLINK(\"http://x\")", "ben@example", ""],
                    ),
                ],
            }],
        };
        let p = prepare(&wb, &ctx(&d)).unwrap();
        assert_eq!(p.mapping.header_row, 1);
        assert_eq!(p.rows.len(), 2);
        let a = &p.rows[0];
        assert_eq!(a.number, 2);
        assert_eq!(
            a.cells,
            vec!["Ana", "Reyes", "0917 123 4567", "", "Facebook"]
        );
        assert!(a.is_valid());
        assert_eq!(a.candidate.phone.as_deref(), Some("+639171234567"));
        assert_eq!(
            a.candidate.custom,
            vec![(Arc::from("Source"), "Facebook".to_string())]
        );
        let b = &p.rows[1];
        assert_eq!(b.number, 5);
        let reason = b.invalid.as_deref().unwrap();
        assert!(reason.starts_with("last name: missing; "), "{reason}");
        assert!(reason.contains("email: not a valid address"), "{reason}");
        assert!(reason.contains("phone: not a phone number"), "{reason}");
        assert_eq!(b.candidate.first_name.display, "Ben");
    }

    #[test]
    fn no_header_is_an_error() {
        let d = directory();
        let wb = Workbook {
            format: Format::Csv,
            sheets: vec![Sheet {
                name: "Sheet1".into(),
                rows: vec![row(1, &["Foo", "Bar"])],
            }],
        };
        let e = prepare(&wb, &ctx(&d)).unwrap_err();
        assert_eq!(e.found, vec!["Foo", "Bar"]);
    }
}
