//! The workbooks we send back (SPEC §5, §7): the results workbook, the to-fix workbook and the
//! template. Written to bytes with rust_xlsxwriter; the results and to-fix sheets in its constant
//! memory mode (each row goes to a temporary file as it is written, texts inline), so a workbook of
//! 100,000 rows is never held as cells in memory.
//!
//! Every cell is written with `write_string`, never as a formula or a number, so what the agency
//! typed comes back as text. A text starting with `=`, `+`, `-`, `@`, tab or CR additionally gets
//! Excel's quote prefix (the cell stays text even when someone edits it), and texts longer than
//! Excel's 32,767-character cell limit are shortened.
//!
//! Every sheet has an autofilter on its header row and column widths fitted to what was written
//! (between [`MIN_WIDTH`] and [`MAX_WIDTH`] characters), measured while the rows stream by.

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use crate::outcome::Outcome;
use crate::rows::Cells;

/// Excel's limit on the characters in one cell.
const MAX_CELL_CHARS: usize = 32_767;

/// The columns added after the original ones in the results workbook.
pub const RESULT_HEADERS: [&str; 3] = ["Outcome", "Reason", "Candidate ID"];

/// Column widths, in characters: fitted to the longest text written, within these bounds.
const MIN_WIDTH: usize = 8;
const MAX_WIDTH: usize = 60;

/// The sheet names and added column headers of the results and to-fix workbooks, in the agency's
/// language (SPEC §7 (r2)); the outcome codes in the cells stay as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    pub results_sheet: String,
    pub to_fix_sheet: String,
    /// Outcome, Reason, Candidate ID.
    pub columns: [String; 3],
    /// The results workbook's last column: the row's number in the agency's own file, the number
    /// reasons name ("the same person as row 2"), so the results can be sorted and filtered and
    /// still be matched to the file sent.
    pub source_row: String,
}

impl Labels {
    /// From the catalogue's `[workbook]` texts.
    pub fn new(c: &crate::i18n::Catalogue) -> Labels {
        Labels {
            results_sheet: c.text("workbook.results_sheet").into(),
            to_fix_sheet: c.text("workbook.to_fix_sheet").into(),
            columns: [
                c.text("workbook.outcome").into(),
                c.text("workbook.reason").into(),
                c.text("workbook.candidate_id").into(),
            ],
            source_row: c.text("workbook.source_row").into(),
        }
    }

    pub fn english() -> Labels {
        Labels::new(crate::i18n::Catalogue::english())
    }
}

/// The headers of the template workbook.
pub const TEMPLATE_HEADERS: [&str; 5] = ["First Name", "Last Name", "Email", "Mobile", "Campaign"];

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("could not write the {what} workbook: {source}")]
    Xlsx {
        what: &'static str,
        #[source]
        source: XlsxError,
    },
}

/// One row of the results workbook.
#[derive(Debug, Clone, Copy)]
pub struct ResultRow<'a> {
    /// The original cells, one per header.
    pub cells: &'a Cells,
    pub outcome: Outcome,
    /// Empty for rows without a reason.
    pub reason: &'a str,
    pub candidate_id: Option<i64>,
    /// The row's number in the agency's file, as the spreadsheet shows it (and reasons name it).
    pub source_row: u32,
}

/// One row of the to-fix workbook.
#[derive(Debug, Clone, Copy)]
pub struct FixRow<'a> {
    pub cells: &'a Cells,
    pub reason: &'a str,
}

/// Whether a spreadsheet program could take this text for a formula.
pub fn looks_like_formula(s: &str) -> bool {
    matches!(
        s.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

struct Formats {
    header: Format,
    quoted: Format,
}

impl Formats {
    fn new() -> Formats {
        Formats {
            header: Format::new().set_bold(),
            quoted: Format::new().set_quote_prefix(),
        }
    }
}

/// The widest text of each column so far, in characters (one line of a multi-line text).
struct Widths(Vec<usize>);

impl Widths {
    fn new() -> Widths {
        Widths(Vec::new())
    }

    fn see(&mut self, col: u16, s: &str) {
        let col = usize::from(col);
        if self.0.len() <= col {
            self.0.resize(col + 1, 0);
        }
        let w = s.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        self.0[col] = self.0[col].max(w);
    }

    /// Sets every column's width, and the autofilter over `last_row` rows below the header.
    fn apply(&self, ws: &mut Worksheet, last_row: u32) -> Result<(), XlsxError> {
        for (col, w) in self.0.iter().enumerate() {
            // 2 characters for the padding, 2 for the filter button of the header.
            let w = (w + 4).clamp(MIN_WIDTH, MAX_WIDTH);
            ws.set_column_width(column(col)?, w as f64)?;
        }
        if let Some(last_col) = self.0.len().checked_sub(1) {
            ws.autofilter(0, 0, last_row, column(last_col)?)?;
        }
        Ok(())
    }
}

fn write_text(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    s: &str,
    f: &Formats,
    widths: &mut Widths,
) -> Result<(), XlsxError> {
    if s.is_empty() {
        return Ok(());
    }
    let s = if s.chars().count() > MAX_CELL_CHARS {
        let end = s
            .char_indices()
            .nth(MAX_CELL_CHARS)
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        &s[..end]
    } else {
        s
    };
    widths.see(col, s);
    if looks_like_formula(s) {
        ws.write_string_with_format(row, col, s, &f.quoted)?;
    } else {
        ws.write_string(row, col, s)?;
    }
    Ok(())
}

fn write_headers(
    ws: &mut Worksheet,
    headers: impl IntoIterator<Item = impl AsRef<str>>,
    f: &Formats,
    widths: &mut Widths,
) -> Result<u16, XlsxError> {
    let mut col = 0u16;
    for h in headers {
        let h = h.as_ref();
        widths.see(col, h);
        if looks_like_formula(h) {
            ws.write_string_with_format(0, col, h, &f.quoted)?;
        } else {
            ws.write_string_with_format(0, col, h, &f.header)?;
        }
        col += 1;
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(col)
}

fn column(n: usize) -> Result<u16, XlsxError> {
    u16::try_from(n).map_err(|_| XlsxError::RowColumnLimitError)
}

fn wrap(what: &'static str) -> impl Fn(XlsxError) -> ResultsError {
    move |source| ResultsError::Xlsx { what, source }
}

/// The results workbook: the original columns (original header texts, original order), then
/// `Outcome`, `Reason`, `Candidate ID`, `Source row`; one row per input row, in the order given.
pub fn results_workbook<'a, H: AsRef<str>>(
    headers: &[H],
    rows: impl IntoIterator<Item = ResultRow<'a>>,
) -> Result<Vec<u8>, ResultsError> {
    results_workbook_in(headers, &Labels::english(), rows)
}

/// [`results_workbook`] with the sheet and added columns named in a language.
pub fn results_workbook_in<'a, H: AsRef<str>>(
    headers: &[H],
    labels: &Labels,
    rows: impl IntoIterator<Item = ResultRow<'a>>,
) -> Result<Vec<u8>, ResultsError> {
    let build = || -> Result<Vec<u8>, XlsxError> {
        let f = Formats::new();
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet_with_constant_memory();
        ws.set_name(&labels.results_sheet)?;
        let mut widths = Widths::new();
        let n = column(headers.len())?;
        write_headers(
            ws,
            headers
                .iter()
                .map(AsRef::as_ref)
                .chain(labels.columns.iter().map(String::as_str))
                .chain([labels.source_row.as_str()]),
            &f,
            &mut widths,
        )?;
        let mut id_text = String::new();
        let mut last_row = 0;
        for (i, r) in rows.into_iter().enumerate() {
            let row = u32::try_from(i + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
            for (c, cell) in r.cells.iter().take(headers.len()).enumerate() {
                write_text(ws, row, column(c)?, cell, &f, &mut widths)?;
            }
            write_text(ws, row, n, r.outcome.as_str(), &f, &mut widths)?;
            write_text(ws, row, n + 1, r.reason, &f, &mut widths)?;
            if let Some(id) = r.candidate_id {
                // As text, as the id is shown everywhere else; one buffer for every row.
                use std::fmt::Write as _;
                id_text.clear();
                write!(id_text, "{id}").ok();
                write_text(ws, row, n + 2, &id_text, &f, &mut widths)?;
            }
            // A number, so that sorting by it gives the file's order back.
            ws.write_number(row, n + 3, r.source_row)?;
            last_row = row;
        }
        widths.apply(ws, last_row)?;
        wb.save_to_buffer()
    };
    build().map_err(wrap("results"))
}

/// The to-fix workbook: only the invalid rows, the original columns plus `Reason`, ready to be
/// corrected and sent back (its header row is the original one, so it maps the same way).
pub fn to_fix_workbook<'a, H: AsRef<str>>(
    headers: &[H],
    rows: impl IntoIterator<Item = FixRow<'a>>,
) -> Result<Vec<u8>, ResultsError> {
    to_fix_workbook_in(headers, &Labels::english(), rows)
}

/// [`to_fix_workbook`] with the sheet and the reason column named in a language.
pub fn to_fix_workbook_in<'a, H: AsRef<str>>(
    headers: &[H],
    labels: &Labels,
    rows: impl IntoIterator<Item = FixRow<'a>>,
) -> Result<Vec<u8>, ResultsError> {
    let build = || -> Result<Vec<u8>, XlsxError> {
        let f = Formats::new();
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet_with_constant_memory();
        ws.set_name(&labels.to_fix_sheet)?;
        let mut widths = Widths::new();
        let n = column(headers.len())?;
        write_headers(
            ws,
            headers
                .iter()
                .map(AsRef::as_ref)
                .chain([labels.columns[1].as_str()]),
            &f,
            &mut widths,
        )?;
        let mut last_row = 0;
        for (i, r) in rows.into_iter().enumerate() {
            let row = u32::try_from(i + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
            for (c, cell) in r.cells.iter().take(headers.len()).enumerate() {
                write_text(ws, row, column(c)?, cell, &f, &mut widths)?;
            }
            write_text(ws, row, n, r.reason, &f, &mut widths)?;
            last_row = row;
        }
        widths.apply(ws, last_row)?;
        wb.save_to_buffer()
    };
    build().map_err(wrap("to-fix"))
}

/// A plain table workbook (one sheet named `sheet`, bold frozen header row, every cell text, with the
/// same formula-injection safety as the results workbook): the recruiter digest's attachment.
pub fn table_workbook<H: AsRef<str>>(
    sheet: &str,
    headers: &[H],
    rows: &[Vec<String>],
) -> Result<Vec<u8>, ResultsError> {
    let build = || -> Result<Vec<u8>, XlsxError> {
        let f = Formats::new();
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        ws.set_name(sheet)?;
        let mut widths = Widths::new();
        write_headers(ws, headers.iter().map(AsRef::as_ref), &f, &mut widths)?;
        let mut last_row = 0;
        for (i, cells) in rows.iter().enumerate() {
            let row = u32::try_from(i + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
            for (c, cell) in cells.iter().take(headers.len()).enumerate() {
                write_text(ws, row, column(c)?, cell, &f, &mut widths)?;
            }
            last_row = row;
        }
        widths.apply(ws, last_row)?;
        wb.save_to_buffer()
    };
    build().map_err(wrap("table"))
}

/// The template agencies fill in, in English ([`crate::template_workbook`] words it in any
/// language).
pub fn template_workbook() -> Vec<u8> {
    crate::template_workbook::template_workbook(crate::i18n::Catalogue::english())
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader, Xlsx};
    use std::io::Cursor;

    fn read(bytes: Vec<u8>) -> Vec<(String, Vec<Vec<Data>>)> {
        let mut x: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).unwrap();
        let names = x.sheet_names().to_vec();
        names
            .into_iter()
            .map(|n| {
                let r = x.worksheet_range(&n).unwrap();
                let rows = r.rows().map(|row| row.to_vec()).collect();
                (n, rows)
            })
            .collect()
    }

    fn s(x: &str) -> Data {
        Data::String(x.into())
    }

    #[test]
    fn results_workbook_keeps_columns_order_and_formula_text() {
        let headers = vec!["Nombre completo".to_string(), "Emial".to_string()];
        let a: Cells = ["=HYPERLINK(\"http://x\")", "+63 917"]
            .into_iter()
            .collect();
        let b: Cells = ["Ana Reyes", "0917"].into_iter().collect();
        let bytes = results_workbook(
            &headers,
            [
                ResultRow {
                    cells: &a,
                    outcome: Outcome::Invalid,
                    reason: "-email: not valid",
                    candidate_id: None,
                    source_row: 2,
                },
                ResultRow {
                    cells: &b,
                    outcome: Outcome::New,
                    reason: "",
                    candidate_id: Some(190),
                    source_row: 5,
                },
            ],
        )
        .unwrap();
        let sheets = read(bytes);
        assert_eq!(sheets.len(), 1);
        let (name, rows) = &sheets[0];
        assert_eq!(name, "Results");
        assert_eq!(
            rows[0],
            vec![
                s("Nombre completo"),
                s("Emial"),
                s("Outcome"),
                s("Reason"),
                s("Candidate ID"),
                s("Source row")
            ]
        );
        assert_eq!(rows[1][0], s("=HYPERLINK(\"http://x\")"));
        assert_eq!(rows[1][1], s("+63 917"));
        assert_eq!(rows[1][2], s("invalid"));
        assert_eq!(rows[1][3], s("-email: not valid"));
        assert_eq!(rows[2][1], s("0917"), "numbers-looking text stays text");
        assert_eq!(rows[2][2], s("new"));
        assert_eq!(rows[2][4], s("190"));
        assert_eq!(rows[1][5], Data::Float(2.0));
        assert_eq!(rows[2][5], Data::Float(5.0));
    }

    /// The XML of a workbook's first sheet, and its styles.
    fn sheet_xml(bytes: &[u8]) -> (String, String) {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut part = |name: &str| {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut s).unwrap();
            s
        };
        (part("xl/worksheets/sheet1.xml"), part("xl/styles.xml"))
    }

    /// The `<c …>…</c>` element of cell `r` (e.g. "A2").
    fn cell_xml<'a>(sheet: &'a str, r: &str) -> &'a str {
        let start = sheet
            .find(&format!("<c r=\"{r}\""))
            .unwrap_or_else(|| panic!("no cell {r} in {sheet}"));
        let len = sheet[start..].find("</c>").unwrap() + 4;
        &sheet[start..start + len]
    }

    /// SPEC §5, §9 (r2): a text starting with `=`, `+`, `-`, `@`, tab or CR is written as a text
    /// cell (an inline or shared string, never a formula `<f>` nor a `str` formula result) with
    /// Excel's quote prefix, in every workbook we write; read back as text by a reader.
    #[test]
    fn formula_like_texts_are_text_cells_with_a_quote_prefix() {
        let risky = ["=1+1", "+63 917", "-2", "@SUM(A1)", "\tx", "\rx"];
        let cells: Cells = risky.into_iter().collect();
        let headers = ["A", "B", "C", "D", "E", "F"];
        let results = results_workbook(
            &headers,
            [ResultRow {
                cells: &cells,
                outcome: Outcome::New,
                reason: "=reason",
                candidate_id: None,
                source_row: 2,
            }],
        )
        .unwrap();
        let fix = to_fix_workbook(
            &headers,
            [FixRow {
                cells: &cells,
                reason: "=reason",
            }],
        )
        .unwrap();
        let rows: Vec<Vec<String>> = vec![risky.iter().map(|s| s.to_string()).collect()];
        let table = table_workbook("T", &headers, &rows).unwrap();
        for (what, bytes) in [("results", results), ("to-fix", fix), ("table", table)] {
            let (sheet, styles) = sheet_xml(&bytes);
            assert!(
                !sheet.contains("<f>") && !sheet.contains("<f "),
                "{what}: {sheet}"
            );
            let cell_xfs = &styles[styles.find("<cellXfs").unwrap()..];
            let xfs: Vec<&str> = cell_xfs[..cell_xfs.find("</cellXfs>").unwrap()]
                .split("<xf ")
                .skip(1)
                .collect();
            for col in ["A", "B", "C", "D", "E", "F"] {
                let c = cell_xml(&sheet, &format!("{col}2"));
                assert!(
                    c.contains("t=\"inlineStr\"") || c.contains("t=\"s\""),
                    "{what} {col}2 is a string cell: {c}"
                );
                let style = &c[c.find(" s=\"").expect("a style") + 4..];
                let style: usize = style[..style.find('"').unwrap()].parse().unwrap();
                assert!(
                    xfs[style].contains("quotePrefix=\"1\""),
                    "{what} {col}2 has the quote prefix: {c} {}",
                    xfs[style]
                );
            }
            let mut x: Xlsx<_> = Xlsx::new(Cursor::new(bytes.clone())).unwrap();
            let range = x.worksheet_range_at(0).unwrap().unwrap();
            for (i, want) in risky.iter().enumerate() {
                assert_eq!(range.get((1, i)), Some(&s(want)), "{what} column {i}");
            }
        }
    }

    /// Issue [12]: every sheet we write filters on its header row, and its columns are as wide as
    /// their longest text (within bounds), not a fixed width.
    #[test]
    fn sheets_have_an_autofilter_and_fitted_widths() {
        let headers = ["First Name", "Notes"];
        let a: Cells = ["Ana", &"long ".repeat(40)].into_iter().collect();
        let bytes = results_workbook(
            &headers,
            [ResultRow {
                cells: &a,
                outcome: Outcome::PreviouslySubmitted,
                reason: "your agency already submitted this person",
                candidate_id: Some(7),
                source_row: 9,
            }],
        )
        .unwrap();
        let (sheet, _) = sheet_xml(&bytes);
        assert!(sheet.contains("<autoFilter ref=\"A1:F2\""), "{sheet}");
        let widths: Vec<f64> = sheet
            .split("<col ")
            .skip(1)
            .map(|c| {
                let w = &c[c.find("width=\"").unwrap() + 7..];
                w[..w.find('"').unwrap()].parse().unwrap()
            })
            .collect();
        assert_eq!(widths.len(), 6, "{sheet}");
        // "First Name" + padding; Notes capped; "previously_submitted"; the reason; "Candidate ID";
        // "Source row".
        let chars: Vec<usize> = widths.iter().map(|w| w.floor() as usize).collect();
        assert_eq!(chars[0], 14, "{widths:?}");
        assert_eq!(chars[1], MAX_WIDTH, "{widths:?}");
        assert_eq!(chars[2], 24, "{widths:?}");
        assert_eq!(chars[3], 45, "{widths:?}");
        assert_eq!(chars[4], 16, "{widths:?}");
        assert_eq!(chars[5], 14, "{widths:?}");
        let (sheet, _) = sheet_xml(&template_workbook());
        assert!(sheet.contains("<autoFilter ref=\"A1:E1\""), "{sheet}");
    }

    #[test]
    fn formula_cells_are_not_formulas_in_the_xml() {
        let headers = ["A"];
        let a: Cells = ["=HYPERLINK(\"http://x\")"].into_iter().collect();
        let bytes = to_fix_workbook(
            &headers,
            [FixRow {
                cells: &a,
                reason: "@risky",
            }],
        )
        .unwrap();
        let mut x: Xlsx<_> = Xlsx::new(Cursor::new(bytes.clone())).unwrap();
        let formulas = x.worksheet_formula("To fix").unwrap();
        assert!(
            formulas.used_cells().all(|(_, _, f)| f.is_empty()),
            "no formula in the sheet"
        );
        let sheets = read(bytes);
        assert_eq!(sheets[0].1[0], vec![s("A"), s("Reason")]);
        assert_eq!(
            sheets[0].1[1],
            vec![s("=HYPERLINK(\"http://x\")"), s("@risky")]
        );
    }

    #[test]
    fn long_texts_are_shortened_and_control_characters_survive() {
        let headers = ["Notes"];
        let long: Cells = ["x".repeat(40_000)].into_iter().collect();
        let ctrl: Cells = ["a\u{1}b\tc"].into_iter().collect();
        let bytes = to_fix_workbook(
            &headers,
            [
                FixRow {
                    cells: &long,
                    reason: "r",
                },
                FixRow {
                    cells: &ctrl,
                    reason: "\tr",
                },
            ],
        )
        .unwrap();
        let rows = &read(bytes)[0].1;
        assert_eq!(rows[1][0], s(&"x".repeat(MAX_CELL_CHARS)));
        assert_eq!(rows[2][0], s("a\u{1}b\tc"));
        assert_eq!(rows[2][1], s("\tr"));
    }

    #[test]
    fn template_maps_with_our_own_header_detection() {
        let sheets = read(template_workbook());
        assert_eq!(sheets[0].0, "Candidates");
        assert_eq!(
            sheets[0].1[0],
            TEMPLATE_HEADERS.iter().map(|h| s(h)).collect::<Vec<_>>()
        );
        assert_eq!(
            sheets[0].1.len(),
            1,
            "no example row on the candidates sheet"
        );
        assert_eq!(sheets[1].0, "How to fill");
        for h in TEMPLATE_HEADERS {
            assert!(crate::header::classify(h).is_some(), "{h}");
        }
    }

    #[test]
    fn risky_prefixes() {
        for x in ["=1+1", "+63", "-5", "@SUM(A1)", "\tx", "\rx"] {
            assert!(looks_like_formula(x), "{x:?}");
        }
        for x in ["", "Ana", "0917", " =x"] {
            assert!(!looks_like_formula(x), "{x:?}");
        }
    }
}
