//! The row pipeline after reading: find the header, then normalise and validate every data row
//! (SPEC §5, §6.1, §6.2). Pure: the workbook in, prepared rows out.
//!
//! Data rows are the rows after the header row in the header's sheet (other sheets are ignored).
//! Rows whose kept columns are all empty, and rows that repeat the header texts (a header pasted
//! twice), are skipped: they get no outcome. Only columns with a non-blank header are kept; cells
//! under a blank header are not carried to the results workbook.

use std::borrow::Cow;
use std::sync::Arc;

use std::ops::ControlFlow;

use crate::candidate::PackedCandidate;
use crate::header::{HeaderError, HeaderSearch, Mapping, Role, HEADER_SEARCH_ROWS};
use crate::normalise::cell_text;
use crate::sheet::{Cell, Event, Row, Workbook};
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
    pub cells: Cells,
    /// What could be parsed (also for invalid rows). Its `custom` is left empty: the row's custom
    /// values are its cells under [`PreparedRow::custom_columns`], cleaned when needed
    /// ([`PreparedRow::custom`]): a copy of every other column of a big file took more memory
    /// than the rest of its rows.
    pub candidate: PackedCandidate,
    /// `Some(reason)` when the row is invalid (SPEC §6.2).
    pub invalid: Option<crate::i18n::Reason>,
    /// For an invalid row: only missing or malformed fields (see [`crate::validation::Invalid`]), so
    /// that its email or phone may still identify the person (SPEC §6.4 (r2)).
    pub fields_only: bool,
    /// The custom columns of the file, shared by its rows: (position in `cells`, header as
    /// written), left to right.
    pub custom_columns: CustomColumns,
}

/// The custom columns of a file: (position in a row's [`Cells`], header as written).
pub type CustomColumns = Arc<[(usize, Arc<str>)]>;

impl PreparedRow {
    pub fn is_valid(&self) -> bool {
        self.invalid.is_none()
    }

    /// The row's other columns: (header as written, cleaned value), non-empty values only, left to
    /// right (the candidate's custom fields).
    pub fn custom(&self) -> Vec<(Arc<str>, String)> {
        let mut custom = Vec::new();
        for (pos, header) in self.custom_columns.iter() {
            let raw = self.cells.get(*pos).unwrap_or_default();
            if !raw.is_empty() {
                let value = text::clean(raw);
                if !value.is_empty() {
                    custom.push((header.clone(), value));
                }
            }
        }
        custom
    }

    /// The candidate with its custom fields ([`PreparedRow::custom`]).
    pub fn full_candidate(&self) -> Candidate {
        Candidate {
            custom: self.custom(),
            ..self.candidate.unpack()
        }
    }
}

/// A row's cells as texts, in one allocation: a prepared file of 100,000 rows holds a million of
/// them, and one string each would cost more in allocator overhead than in text.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Cells {
    text: Box<str>,
    /// Where each cell ends in `text`.
    ends: Box<[u32]>,
}

impl Cells {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, k: usize) -> Option<&str> {
        let end = *self.ends.get(k)? as usize;
        let start = k.checked_sub(1).map_or(0, |p| self.ends[p] as usize);
        self.text.get(start..end)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|k| self.get(k).unwrap_or_default())
    }
}

impl<S: AsRef<str>> FromIterator<S> for Cells {
    fn from_iter<I: IntoIterator<Item = S>>(texts: I) -> Cells {
        let mut text = String::new();
        let mut ends = Vec::new();
        for t in texts {
            text.push_str(t.as_ref());
            // A row's texts are bounded far below 4 GiB by the sheet limits.
            ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
        }
        Cells {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }
}

impl std::ops::Index<usize> for Cells {
    type Output = str;
    fn index(&self, k: usize) -> &str {
        match self.get(k) {
            Some(s) => s,
            None => panic!("cell {k} of a row of {} cells", self.len()),
        }
    }
}

impl std::fmt::Debug for Cells {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// As a list of strings (the JSON of a recorded row's cells).
impl serde::Serialize for Cells {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for Cells {
    fn eq(&self, other: &Vec<S>) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a == b.as_ref())
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
    custom: CustomColumns,
}

impl<'a> Preparer<'a> {
    pub fn new(mapping: Mapping, ctx: Context<'a>) -> Preparer<'a> {
        Preparer::with_validator(mapping, Validator::new(ctx))
    }

    /// A preparer with a validator built beforehand (building one loads the phone rules).
    pub fn with_validator(mapping: Mapping, validator: Validator<'a>) -> Preparer<'a> {
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
        Preparer {
            first_name: field(Field::FirstName),
            last_name: field(Field::LastName),
            email: field(Field::Email),
            phone: field(Field::Phone),
            campaign: field(Field::Campaign),
            full_name,
            custom,
            validator,
            mapping,
        }
    }

    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    pub fn into_mapping(self) -> Mapping {
        self.mapping
    }

    /// One data row, or `None` when it is skipped (all kept cells empty, or a repeated header).
    pub fn row(&self, row: &Row) -> Option<PreparedRow> {
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
        let (candidate, invalid) = self.validator.check(RowCells {
            first_name: get(self.first_name),
            last_name: get(self.last_name),
            full_name: get(self.full_name),
            email: get(self.email),
            phone: get(self.phone),
            campaign: get(self.campaign),
        });
        let cells: Cells = texts.iter().collect();
        Some(PreparedRow {
            number: row.number,
            cells,
            candidate: PackedCandidate::pack(&candidate),
            fields_only: invalid.as_ref().is_some_and(|i| i.fields_only),
            invalid: invalid.map(|i| i.reason),
            custom_columns: Arc::clone(&self.custom),
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

/// Finds the header, then normalises and validates every data row (the rows of a [`Workbook`] in
/// hand, through the same [`RowStream`] a file being read goes through), by row number.
pub fn prepare(workbook: &Workbook, ctx: &Context) -> Result<Prepared, HeaderError> {
    let mut stream = RowStream::new(*ctx);
    for sheet in &workbook.sheets {
        if stream.sheet(sheet.name.clone()).is_break() {
            break;
        }
        sheet.rows.iter().for_each(|row| stream.row(row));
    }
    let (mapping, rows) = stream.finish()?;
    Ok(Prepared { mapping, rows })
}

/// Rows prepared while the file is still being read (fed by [`crate::sheet::stream`]): the header
/// is searched for in the first rows of each sheet as they arrive, as [`crate::header::find_header`] does;
/// once it is found, the rows after it in that sheet are prepared batch by batch, and the read is
/// stopped when the next sheet begins. So the file's rows are never all held at once, and a
/// reading thread and a preparing thread can work side by side.
pub struct RowStream<'a> {
    /// Built first (it loads the phone rules) and handed to the preparer with the header.
    validator: Option<Validator<'a>>,
    preparer: Option<Preparer<'a>>,
    search: HeaderSearch,
    /// The sheet being read: (index among the sheets read, name, rows seen in it).
    sheet: Option<(usize, String, usize)>,
    rows: Vec<PreparedRow>,
    in_order: bool,
}

impl<'a> RowStream<'a> {
    pub fn new(ctx: Context<'a>) -> RowStream<'a> {
        RowStream {
            validator: Some(Validator::new(ctx)),
            preparer: None,
            search: HeaderSearch::default(),
            sheet: None,
            rows: Vec::new(),
            in_order: true,
        }
    }

    /// Rows prepared so far.
    pub fn prepared(&self) -> usize {
        self.rows.len()
    }

    /// Takes the next part of the read; [`ControlFlow::Break`] once nothing more is needed.
    pub fn feed(&mut self, event: Event) -> ControlFlow<()> {
        match event {
            Event::Sheet(name) => return self.sheet(name),
            // Each row is freed as soon as it is prepared.
            Event::Rows(batch) => batch.into_iter().for_each(|row| self.row(&row)),
        }
        ControlFlow::Continue(())
    }

    /// A sheet begins; [`ControlFlow::Break`] when the header's sheet has ended (nothing more is
    /// needed).
    pub fn sheet(&mut self, name: String) -> ControlFlow<()> {
        if self.preparer.is_some() {
            return ControlFlow::Break(());
        }
        let index = self.sheet.as_ref().map_or(0, |(i, ..)| i + 1);
        self.sheet = Some((index, name, 0));
        ControlFlow::Continue(())
    }

    /// The next row of the current sheet.
    pub fn row(&mut self, row: &Row) {
        if let Some(preparer) = &self.preparer {
            if let Some(p) = preparer.row(row) {
                if self.rows.last().is_some_and(|l| l.number > p.number) {
                    self.in_order = false;
                }
                self.rows.push(p);
            }
            return;
        }
        let Some((index, name, seen)) = &mut self.sheet else {
            return;
        };
        if *seen >= HEADER_SEARCH_ROWS {
            return;
        }
        *seen += 1;
        if let Some(mapping) = self.search.offer(*index, name, *seen - 1, row) {
            if let Some(validator) = self.validator.take() {
                self.preparer = Some(Preparer::with_validator(mapping, validator));
            }
        }
    }

    /// The mapping and the prepared rows (by row number), or why no header was found.
    pub fn finish(self) -> Result<(Mapping, Vec<PreparedRow>), HeaderError> {
        let Some(preparer) = self.preparer else {
            return Err(self.search.fail());
        };
        let mut rows = self.rows;
        if !self.in_order {
            rows.sort_by_key(|r| r.number);
        }
        // The rows are kept to the end of the submission: without the growth slack.
        rows.shrink_to_fit();
        Ok((preparer.into_mapping(), rows))
    }
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
        assert_eq!(a.candidate.phone(), Some("+639171234567"));
        assert_eq!(
            a.custom(),
            vec![(Arc::from("Source"), "Facebook".to_string())]
        );
        let b = &p.rows[1];
        assert_eq!(b.number, 5);
        let reason = b.invalid.as_ref().unwrap().english();
        assert!(reason.starts_with("last name: missing; "), "{reason}");
        assert!(reason.contains("email: not a valid address"), "{reason}");
        assert!(reason.contains("phone: not a phone number"), "{reason}");
        assert_eq!(b.candidate.first_name().display, "Ben");
    }

    /// Rows prepared while streaming are what the whole-workbook header search and a preparer give,
    /// the header found in a later sheet; the next sheet is not asked for.
    #[test]
    fn a_stream_finds_the_header_sheet_prepares_its_rows_and_stops_there() {
        let d = directory();
        let mut first: Vec<Row> = (1..=25).map(|n| row(n, &["notes", "x"])).collect();
        first.push(row(26, &["First Name", "Last Name", "Mobile"]));
        let wb = Workbook {
            format: Format::Xlsx,
            sheets: vec![
                Sheet {
                    name: "Read me".into(),
                    rows: first,
                },
                Sheet {
                    name: "Candidates".into(),
                    rows: vec![
                        row(3, &["First Name", "Last Name", "Mobile"]),
                        row(4, &["Ana", "Reyes", "0917 123 4567"]),
                        row(6, &["Ben", "Cruz", "0918 765 4321"]),
                        row(5, &["Cy", "Lim", "bad"]),
                    ],
                },
                Sheet {
                    name: "Other".into(),
                    rows: vec![row(1, &["First Name", "Last Name", "Email"])],
                },
            ],
        };
        // What the header search of a whole workbook and a preparer of its data rows give.
        let mapping = crate::header::find_header(&wb).unwrap();
        let preparer = Preparer::new(mapping.clone(), ctx(&d));
        let mut expected: Vec<PreparedRow> = wb.sheets[mapping.sheet_index].rows
            [mapping.first_data_row..]
            .iter()
            .filter_map(|r| preparer.row(r))
            .collect();
        expected.sort_by_key(|r| r.number);
        let mut stream = RowStream::new(ctx(&d));
        let mut asked = Vec::new();
        'sheets: for sheet in &wb.sheets {
            asked.push(sheet.name.clone());
            if stream.feed(Event::Sheet(sheet.name.clone())).is_break() {
                break;
            }
            for r in &sheet.rows {
                if stream.feed(Event::Rows(vec![r.clone()])).is_break() {
                    break 'sheets;
                }
            }
        }
        let (streamed, rows) = stream.finish().unwrap();
        assert_eq!(streamed, mapping);
        assert_eq!(streamed.sheet, "Candidates");
        // Stored out of order (rows 6 then 5), given back by row number.
        assert_eq!(rows, expected);
        assert_eq!(rows.iter().map(|r| r.number).collect::<Vec<_>>(), [4, 5, 6]);
        assert_eq!(prepare(&wb, &ctx(&d)).unwrap().rows, expected);
        assert_eq!(asked, ["Read me", "Candidates", "Other"]);
        let mut none = RowStream::new(ctx(&d));
        let _ = none.feed(Event::Sheet("S".into()));
        let _ = none.feed(Event::Rows(vec![row(1, &["Foo", "Bar"])]));
        assert_eq!(none.finish().unwrap_err().found, vec!["Foo", "Bar"]);
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
