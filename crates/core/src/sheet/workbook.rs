//! Workbooks through calamine: xlsx/xlsm/xlsb with the streaming cell readers (nothing dense is
//! ever allocated), ods and xls through calamine's ranges after a guard has bounded what calamine
//! will allocate.
//!
//! - Formulas: the value cached in the file is taken; nothing is evaluated. A formula saved
//!   without a cached value (some generators do this) reads as an empty cell.
//! - Hidden and very hidden sheets are skipped, as are chart, dialog and macro sheets.
//! - Merged cells: the value sits in the top-left cell; the other cells of the merge are empty.
//! - Dates become ISO 8601 text (`2024-03-01`, or `2024-03-01T08:30:00` with a time); durations
//!   `HH:MM:SS`.

use std::fmt::Display;
use std::io::Cursor;
use std::ops::ControlFlow;

use calamine::{
    Data, DataRef, Dimensions, ExcelDateTime, Ods, Range, Reader, SheetType, SheetVisible, Xls,
    Xlsb, Xlsx,
};

use super::builder::{Budget, SheetBuilder};
use super::{Cell, Event, SheetError, Sink};

/// Turns a calamine error into a reason. Calamine's error types differ per format; their
/// messages name structure (tags, records), never cell contents.
fn calamine_error(format: &'static str, e: impl Display) -> SheetError {
    let msg = e.to_string();
    let lower = msg.to_ascii_lowercase();
    if lower.contains("password") || lower.contains("encrypt") {
        SheetError::PasswordProtected
    } else if lower.contains("eof")
        || lower.contains("end of file")
        || lower.contains("unexpected end")
        || lower.contains("eostream")
    {
        SheetError::Truncated { detail: msg }
    } else {
        SheetError::malformed(format, msg)
    }
}

fn visible_worksheets(meta: &[calamine::Sheet]) -> (Vec<String>, bool) {
    let mut hidden = false;
    let mut names = Vec::new();
    for s in meta {
        if s.typ != SheetType::WorkSheet {
            continue;
        }
        if s.visible != SheetVisible::Visible {
            hidden = true;
            continue;
        }
        names.push(s.name.clone());
    }
    (names, hidden)
}

/// The body of [`read_xlsx`] and [`read_xlsb`]: calamine gives both formats a streaming cell reader
/// with the same methods, but no trait they share.
///
/// A sheet whose declared size (`<dimension>`) has more rows than the limits still allow, or that
/// declares none (or a single cell), is counted first with its rows freed as they come: one over
/// `max_rows` is refused before a row is handed over, however big, and one within is then read.
macro_rules! stream_worksheets {
    ($wb:expr, $format:expr, $budget:expr, $sink:expr) => {{
        let mut wb = $wb;
        let (names, hidden) = visible_worksheets(wb.sheets_metadata());
        for name in names {
            let mut cells = wb
                .worksheet_cells_reader(&name)
                .map_err(|e| calamine_error($format, e))?;
            let counting = needs_count(cells.dimensions(), $budget).then(|| $budget.clone());
            let mut sheet = SheetBuilder::new($budget, $sink, name.clone());
            if let (Some(counting), false) = (counting, sheet.stopped()) {
                count_rows(counting, &name, || {
                    let cell = cells.next_cell().map_err(|e| calamine_error($format, e))?;
                    Ok(cell.map(|c| {
                        let (row, col) = c.get_position();
                        (row, col, from_data_ref(c.get_value()))
                    }))
                })?;
                drop(cells);
                cells = wb
                    .worksheet_cells_reader(&name)
                    .map_err(|e| calamine_error($format, e))?;
            }
            fill(&mut sheet, || {
                let cell = cells.next_cell().map_err(|e| calamine_error($format, e))?;
                Ok(cell.map(|c| {
                    let (row, col) = c.get_position();
                    (row, col, from_data_ref(c.get_value()))
                }))
            })?;
            if sheet.finish()? {
                break;
            }
        }
        Ok(hidden)
    }};
}

/// Whether a sheet of these declared dimensions is to be counted before it is read: it declares
/// more rows than `budget` still allows, or nothing (calamine gives a missing `<dimension>` as the
/// single cell A1).
fn needs_count(declared: Dimensions, budget: &Budget) -> bool {
    let rows = u64::from(declared.end.0.saturating_sub(declared.start.0)) + 1;
    declared.start == declared.end || rows > budget.rows_left()
}

/// Reads a sheet's cells from `next` to count its rows against `budget` (a copy: the real read
/// counts them again), each batch of rows freed as it is made; an error is what the read would
/// have met.
fn count_rows(
    mut budget: Budget,
    name: &str,
    next: impl FnMut() -> Result<Option<(u32, u32, Cell)>, SheetError>,
) -> Result<(), SheetError> {
    let mut discard = |_: Event| ControlFlow::Continue(());
    let mut sheet = SheetBuilder::new(&mut budget, &mut discard, name);
    fill(&mut sheet, next)?;
    sheet.finish().map(drop)
}

/// Streams the visible worksheets of an xlsx or xlsm file; returns whether some sheets are hidden.
pub(crate) fn read_xlsx(
    bytes: &[u8],
    budget: &mut Budget,
    sink: &mut Sink<'_>,
) -> Result<bool, SheetError> {
    const F: &str = "Excel";
    let wb: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(|e| calamine_error(F, e))?;
    stream_worksheets!(wb, F, budget, sink)
}

/// Streams the visible worksheets of an xlsb file; returns whether some sheets are hidden.
pub(crate) fn read_xlsb(
    bytes: &[u8],
    budget: &mut Budget,
    sink: &mut Sink<'_>,
) -> Result<bool, SheetError> {
    const F: &str = "Excel binary (.xlsb)";
    let wb: Xlsb<_> = Xlsb::new(Cursor::new(bytes)).map_err(|e| calamine_error(F, e))?;
    stream_worksheets!(wb, F, budget, sink)
}

/// Reads an ods file (the caller has run the ODS guard); returns whether some sheets are hidden.
pub(crate) fn read_ods(
    bytes: &[u8],
    budget: &mut Budget,
    sink: &mut Sink<'_>,
) -> Result<bool, SheetError> {
    const F: &str = "OpenDocument";
    let mut wb: Ods<_> = Ods::new(Cursor::new(bytes)).map_err(|e| calamine_error(F, e))?;
    let (names, hidden) = visible_worksheets(wb.sheets_metadata());
    for name in names {
        let range = wb
            .worksheet_range(&name)
            .map_err(|e| calamine_error(F, e))?;
        if from_range(budget, sink, name, &range)? {
            break;
        }
    }
    Ok(hidden)
}

/// Reads an xls file (the caller has run the XLS guard); returns whether some sheets are hidden.
pub(crate) fn read_xls(
    bytes: &[u8],
    budget: &mut Budget,
    sink: &mut Sink<'_>,
) -> Result<bool, SheetError> {
    const F: &str = "Excel 97-2003 (.xls)";
    let mut wb: Xls<_> = Xls::new(Cursor::new(bytes)).map_err(|e| calamine_error(F, e))?;
    let (names, hidden) = visible_worksheets(wb.sheets_metadata());
    for name in names {
        let range = wb
            .worksheet_range(&name)
            .map_err(|e| calamine_error(F, e))?;
        if from_range(budget, sink, name, &range)? {
            break;
        }
    }
    Ok(hidden)
}

/// Hands over a range's rows; `true` when the consumer wants no more.
fn from_range(
    budget: &mut Budget,
    sink: &mut Sink<'_>,
    name: String,
    range: &Range<Data>,
) -> Result<bool, SheetError> {
    let (r0, c0) = range.start().unwrap_or((0, 0));
    let mut cells = range.used_cells().map(|(r, c, v)| {
        let row = r0.saturating_add(u32::try_from(r).unwrap_or(u32::MAX));
        let col = c0.saturating_add(u32::try_from(c).unwrap_or(u32::MAX));
        (row, col, from_data(v))
    });
    stream_sheet(budget, sink, name, || Ok(cells.next()))
}

/// Hands over one sheet whose cells `next` gives as (0-based row, 0-based column, cell), until
/// they end or the consumer wants no more; `true` in the latter case (no further sheet is read).
fn stream_sheet(
    budget: &mut Budget,
    sink: &mut Sink<'_>,
    name: String,
    next: impl FnMut() -> Result<Option<(u32, u32, Cell)>, SheetError>,
) -> Result<bool, SheetError> {
    let mut sheet = SheetBuilder::new(budget, sink, name);
    fill(&mut sheet, next)?;
    sheet.finish()
}

/// Hands the cells `next` gives to `sheet` until they end or its consumer wants no more.
fn fill(
    sheet: &mut SheetBuilder<'_, '_>,
    mut next: impl FnMut() -> Result<Option<(u32, u32, Cell)>, SheetError>,
) -> Result<(), SheetError> {
    while !sheet.stopped() {
        let Some((row, col, cell)) = next()? else {
            break;
        };
        sheet.push(row, col, cell)?;
    }
    Ok(())
}

fn from_data_ref(v: &DataRef<'_>) -> Cell {
    match v {
        DataRef::Int(i) => Cell::Number(*i as f64),
        DataRef::Float(f) => Cell::Number(*f),
        DataRef::String(s) => Cell::Text(s.clone()),
        DataRef::SharedString(s) => Cell::Text((*s).to_owned()),
        DataRef::Bool(b) => Cell::Bool(*b),
        DataRef::DateTime(d) => date(d),
        DataRef::DateTimeIso(s) => Cell::Date(s.clone()),
        DataRef::DurationIso(s) => Cell::Text(s.clone()),
        DataRef::Error(e) => Cell::Error(e.to_string()),
        DataRef::Empty => Cell::Empty,
    }
}

fn from_data(v: &Data) -> Cell {
    match v {
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Float(f) => Cell::Number(*f),
        Data::String(s) => Cell::Text(s.clone()),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(d) => date(d),
        Data::DateTimeIso(s) => Cell::Date(s.clone()),
        Data::DurationIso(s) => Cell::Text(s.clone()),
        Data::Error(e) => Cell::Error(e.to_string()),
        Data::Empty => Cell::Empty,
    }
}

fn date(d: &ExcelDateTime) -> Cell {
    if d.is_duration() {
        let secs = (d.as_f64() * 86_400.0).round() as i64;
        let sign = if secs < 0 { "-" } else { "" };
        let secs = secs.abs();
        return Cell::Text(format!(
            "{sign}{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        ));
    }
    let (y, mo, da, h, mi, s, ms) = d.to_ymd_hms_milli();
    if (h, mi, s, ms) == (0, 0, 0, 0) {
        Cell::Date(format!("{y:04}-{mo:02}-{da:02}"))
    } else {
        Cell::Date(format!("{y:04}-{mo:02}-{da:02}T{h:02}:{mi:02}:{s:02}"))
    }
}
