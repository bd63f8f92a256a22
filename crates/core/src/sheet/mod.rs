//! Reading spreadsheets (SPEC §5): bytes → [`Workbook`]. Pure: no I/O besides the given bytes.
//!
//! The format is detected from the bytes, never from the name. Every reader enforces [`Limits`]
//! before it can allocate more than they allow.
//!
//! - Zip files are xlsx, xlsm (macros are never run), xlsb or ods, decided by what is inside;
//!   the zip is checked against `max_unpacked_bytes` before anything is inflated
//!   (see `zipguard`).
//! - OLE compound files are xls, or an encrypted workbook (refused as password-protected).
//! - Everything else is read as delimited text (CSV, TSV, .txt), unless it is binary junk.
//!   A file named `.xlsx` that holds CSV is read as CSV, and the other way round.
//! - Hidden sheets are not read. Blank rows are dropped; `Row.number` stays the number the
//!   spreadsheet program shows. Trailing empty cells are dropped; cells are not cleaned.
//! - A cell of up to 32,767 characters (Excel's own limit) is accepted as is, so a 10,000-character
//!   cell reaches validation; a longer one is refused ([`SheetError::CellTooLong`]).
//! - Besides `max_rows` and `max_cells` (blank cells between filled ones in a row count), the
//!   rows read are held to an estimated 160 MiB ([`read`]), or what a consumer keeps of rows
//!   streamed (their texts) to an estimated 96 MiB ([`stream`]), so one read stays well under
//!   256 MB. Both stop reading at the limit they reach.
//! - A worksheet whose declared size (an xlsx `<dimension>`) holds more rows than `max_rows` allows,
//!   or that declares none, is counted first, its rows freed as they are read: one over the limit
//!   is refused before any row is handed over.
//!
//! [`stream`] hands rows over in batches as they are read, so a consumer can work on them while
//! the rest is read, and can stop the read after the sheet it needs; [`read`] collects them.
//! Both are synchronous and CPU-bound: call them from a blocking thread (`spawn_blocking`).

use std::ops::ControlFlow;

mod builder;
mod cfbguard;
mod csv;
mod detect;
mod error;
mod odsguard;
mod workbook;
mod zipguard;

pub use error::{column_name, SheetError, MAX_CELL_CHARS};

/// One cell as the file stored it. Readers do not interpret values; normalisation does.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    /// Any number (Excel stores integers as floats too).
    Number(f64),
    Bool(bool),
    /// A date or date-time, already rendered as ISO 8601 text.
    Date(String),
    /// An error value such as `#N/A`, kept as its text.
    Error(String),
}

/// One row of a sheet, with the row number a person sees in the spreadsheet program (1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub number: u32,
    pub cells: Vec<Cell>,
}

/// One sheet: its name and its non-blank rows in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    pub name: String,
    pub rows: Vec<Row>,
}

/// The format found in the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xlsx,
    Xlsm,
    Xlsb,
    Xls,
    Ods,
    Csv,
    Tsv,
}

/// Sheets in workbook order (a CSV is one sheet).
#[derive(Debug, Clone, PartialEq)]
pub struct Workbook {
    pub format: Format,
    pub sheets: Vec<Sheet>,
}

/// The bounds of SPEC §3.1 `[limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_file_bytes: u64,
    pub max_rows: u64,
    pub max_cells: u64,
    pub max_unpacked_bytes: u64,
    /// Spreadsheets one message may hold (SPEC §3.1 (r2)): a message with more is refused whole,
    /// with one reply that says why.
    pub max_attachments: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 26_214_400,
            max_rows: 200_000,
            max_cells: 5_000_000,
            max_unpacked_bytes: 209_715_200,
            max_attachments: 20,
        }
    }
}

/// What [`stream`] hands over, in order: each visible sheet's name, then its rows in batches, in
/// the order the file stores them (normally by row number; see [`read`] for files that do not).
#[derive(Debug)]
pub enum Event {
    Sheet(String),
    Rows(Vec<Row>),
}

/// Where [`stream`] hands its rows. [`ControlFlow::Break`] stops the read: no further rows are
/// handed over and no further sheet is read.
pub type Sink<'a> = dyn FnMut(Event) -> ControlFlow<()> + 'a;

/// Reads a spreadsheet from its bytes, whatever its name says, collecting every visible sheet.
/// Rows stored out of order by a malformed file are sorted by their number.
pub fn read(bytes: &[u8], limits: &Limits) -> Result<Workbook, SheetError> {
    let mut sheets: Vec<Sheet> = Vec::new();
    let budget = builder::Budget::whole(limits);
    let format = stream_within(bytes, limits, budget, &mut |event| {
        match event {
            Event::Sheet(name) => sheets.push(Sheet {
                name,
                rows: Vec::new(),
            }),
            Event::Rows(mut rows) => {
                if let Some(sheet) = sheets.last_mut() {
                    sheet.rows.append(&mut rows);
                }
            }
        }
        ControlFlow::Continue(())
    })?;
    for sheet in &mut sheets {
        if !sheet.rows.is_sorted_by_key(|r| r.number) {
            sheet.rows.sort_by_key(|r| r.number);
        }
        sheet.rows.shrink_to_fit();
    }
    Ok(Workbook { format, sheets })
}

/// Reads a spreadsheet from its bytes, whatever its name says, handing its rows to `sink` as they
/// are read; returns the format found. Every limit holds as in [`read`]; a file with no data is an
/// error here too.
pub fn stream(bytes: &[u8], limits: &Limits, sink: &mut Sink<'_>) -> Result<Format, SheetError> {
    stream_within(bytes, limits, builder::Budget::streamed(limits), sink)
}

fn stream_within(
    bytes: &[u8],
    limits: &Limits,
    mut budget: builder::Budget,
    sink: &mut Sink<'_>,
) -> Result<Format, SheetError> {
    if bytes.is_empty() {
        return Err(SheetError::Empty);
    }
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(SheetError::FileTooLarge {
            size: bytes.len() as u64,
            max: limits.max_file_bytes,
        });
    }
    let b = &mut budget;
    let (format, hidden) = match detect::sniff(bytes) {
        detect::Container::Zip => match zipguard::inspect(bytes, limits.max_unpacked_bytes)? {
            zipguard::ZipKind::Xlsx => (Format::Xlsx, workbook::read_xlsx(bytes, b, sink)?),
            zipguard::ZipKind::Xlsm => (Format::Xlsm, workbook::read_xlsx(bytes, b, sink)?),
            zipguard::ZipKind::Xlsb => (Format::Xlsb, workbook::read_xlsb(bytes, b, sink)?),
            zipguard::ZipKind::Ods => {
                odsguard::check(bytes, limits)?;
                (Format::Ods, workbook::read_ods(bytes, b, sink)?)
            }
        },
        detect::Container::Cfb => match cfbguard::inspect(bytes, limits)? {
            cfbguard::CfbKind::Xls => (Format::Xls, workbook::read_xls(bytes, b, sink)?),
        },
        detect::Container::Other(what) => {
            return Err(SheetError::NotASpreadsheet { what: what.into() })
        }
        detect::Container::Text => (csv::read(bytes, b, sink)?, false),
    };
    if budget.rows == 0 {
        return Err(SheetError::NoData {
            hidden: if hidden {
                " (it has hidden sheets, which we do not read)"
            } else {
                ""
            },
        });
    }
    Ok(format)
}
