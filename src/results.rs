//! The workbooks we send back (SPEC §5, §7): the results workbook, the to-fix workbook and the
//! template. Written to bytes with rust_xlsxwriter; the results and to-fix sheets in its constant
//! memory mode (each row goes to a temporary file as it is written, texts inline), so a workbook of
//! 100,000 rows is never held as cells in memory.
//!
//! Every cell is written with `write_string`, never as a formula or a number, so what the agency
//! typed comes back as text. A text starting with `=`, `+`, `-`, `@`, tab or CR additionally gets
//! Excel's quote prefix (the cell stays text even when someone edits it), and texts longer than
//! Excel's 32,767-character cell limit are shortened.

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use crate::outcome::Outcome;
use crate::rows::Cells;

/// Excel's limit on the characters in one cell.
const MAX_CELL_CHARS: usize = 32_767;

/// The columns added after the original ones in the results workbook.
pub const RESULT_HEADERS: [&str; 3] = ["Outcome", "Reason", "Candidate ID"];

/// The sheet names and added column headers of the results and to-fix workbooks, in the agency's
/// language (SPEC §7 (r2)); the outcome codes in the cells stay as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    pub results_sheet: String,
    pub to_fix_sheet: String,
    /// Outcome, Reason, Candidate ID.
    pub columns: [String; 3],
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

fn write_text(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    s: &str,
    f: &Formats,
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
) -> Result<u16, XlsxError> {
    let mut col = 0u16;
    for h in headers {
        let h = h.as_ref();
        if looks_like_formula(h) {
            ws.write_string_with_format(0, col, h, &f.quoted)?;
        } else {
            ws.write_string_with_format(0, col, h, &f.header)?;
        }
        ws.set_column_width(col, 18)?;
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
/// `Outcome`, `Reason`, `Candidate ID`; one row per input row, in the order given.
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
        let n = column(headers.len())?;
        write_headers(
            ws,
            headers
                .iter()
                .map(AsRef::as_ref)
                .chain(labels.columns.iter().map(String::as_str)),
            &f,
        )?;
        ws.set_column_width(n, 22)?;
        ws.set_column_width(n + 1, 60)?;
        ws.set_column_width(n + 2, 38)?;
        let mut id_text = String::new();
        for (i, r) in rows.into_iter().enumerate() {
            let row = u32::try_from(i + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
            for (c, cell) in r.cells.iter().take(headers.len()).enumerate() {
                write_text(ws, row, column(c)?, cell, &f)?;
            }
            ws.write_string(row, n, r.outcome.as_str())?;
            write_text(ws, row, n + 1, r.reason, &f)?;
            if let Some(id) = r.candidate_id {
                // As text, as the id is shown everywhere else; one buffer for every row.
                use std::fmt::Write as _;
                id_text.clear();
                write!(id_text, "{id}").ok();
                write_text(ws, row, n + 2, &id_text, &f)?;
            }
        }
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
        let n = column(headers.len())?;
        write_headers(
            ws,
            headers
                .iter()
                .map(AsRef::as_ref)
                .chain([labels.columns[1].as_str()]),
            &f,
        )?;
        ws.set_column_width(n, 60)?;
        for (i, r) in rows.into_iter().enumerate() {
            let row = u32::try_from(i + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
            for (c, cell) in r.cells.iter().take(headers.len()).enumerate() {
                write_text(ws, row, column(c)?, cell, &f)?;
            }
            write_text(ws, row, n, r.reason, &f)?;
        }
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
        write_headers(ws, headers.iter().map(AsRef::as_ref), &f)?;
        for (i, cells) in rows.iter().enumerate() {
            let row = u32::try_from(i + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
            for (c, cell) in cells.iter().take(headers.len()).enumerate() {
                write_text(ws, row, column(c)?, cell, &f)?;
            }
        }
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
                },
                ResultRow {
                    cells: &b,
                    outcome: Outcome::New,
                    reason: "",
                    candidate_id: Some(190),
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
                s("Candidate ID")
            ]
        );
        assert_eq!(rows[1][0], s("=HYPERLINK(\"http://x\")"));
        assert_eq!(rows[1][1], s("+63 917"));
        assert_eq!(rows[1][2], s("invalid"));
        assert_eq!(rows[1][3], s("-email: not valid"));
        assert_eq!(rows[2][1], s("0917"), "numbers-looking text stays text");
        assert_eq!(rows[2][2], s("new"));
        assert_eq!(rows[2][4], s("190"));
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
