//! Bounds what calamine will allocate for an ods file before it reads one.
//!
//! Calamine loads every table of `content.xml` at once (hidden ones too) and expands repeated
//! rows and columns into a dense range. This guard streams `content.xml` once with quick-xml,
//! keeping only counters, and computes what calamine would build: the cells it pushes while
//! reading each row, then the dense range from the first to the last non-empty row and up to
//! the last non-empty column (repeats expanded). It refuses when the dense cells pass
//! `limits.max_cells` or the estimated bytes pass [`ODS_BUDGET`].

use std::io::{BufReader, Cursor};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{Limits, SheetError};

/// Estimated heap bytes calamine may use for an ods file's tables.
pub(crate) const ODS_BUDGET: u64 = 96 * 1024 * 1024;
/// A calamine value plus its parallel formula string, per cell, as estimated here.
const CELL_BYTES: u64 = 56;

const F: &str = "OpenDocument";

#[derive(Default)]
struct Table {
    row: u64,
    first: Option<u64>,
    last_end: u64,
    max_col: u64,
    raw: u64,
    row_elements: u64,
}

impl Table {
    fn dense(&self) -> u64 {
        match self.first {
            Some(first) => self
                .last_end
                .saturating_sub(first)
                .saturating_mul(self.max_col),
            None => 0,
        }
    }
}

fn repeats(e: &BytesStart<'_>, name: &[u8]) -> Result<u64, SheetError> {
    match e.try_get_attribute(name) {
        Ok(Some(a)) => std::str::from_utf8(&a.value)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| SheetError::malformed(F, "a repeat count is not a number")),
        Ok(None) => Ok(1),
        Err(e) => Err(SheetError::malformed(F, e)),
    }
}

fn has_value(e: &BytesStart<'_>) -> bool {
    e.attributes().flatten().any(|a| {
        let k = a.key.as_ref();
        k == b"office:value-type" || k == b"table:formula"
    })
}

pub(crate) fn check(bytes: &[u8], limits: &Limits) -> Result<(), SheetError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(super::zipguard::zip_error)?;
    let content = zip
        .by_name("content.xml")
        .map_err(|_| SheetError::malformed(F, "the file has no content.xml part"))?;
    let mut xml = Reader::from_reader(BufReader::new(content));
    xml.config_mut().check_end_names = false;
    let mut buf = Vec::with_capacity(4096);

    let mut dense_total: u64 = 0;
    let mut bytes_total: u64 = 0;
    let mut table: Option<Table> = None;
    // Within a row: (row repeats, expanded column, end of last non-empty cell, pending empties).
    let mut row: Option<(u64, u64, u64, u64)> = None;
    loop {
        buf.clear();
        let ev = xml
            .read_event_into(&mut buf)
            .map_err(|e| SheetError::malformed(F, e))?;
        let (start, empty) = match &ev {
            Event::Start(e) => (Some(e), false),
            Event::Empty(e) => (Some(e), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            match e.name().as_ref() {
                b"table:table" if !empty => table = Some(Table::default()),
                b"table:table-row" => {
                    if let Some(t) = table.as_mut() {
                        t.row_elements += 1;
                        let rep = repeats(e, b"table:number-rows-repeated")?;
                        if empty {
                            t.row = t.row.saturating_add(rep);
                        } else {
                            row = Some((rep, 0, 0, 0));
                        }
                    }
                }
                b"table:table-cell" | b"table:covered-table-cell" => {
                    if let (Some(t), Some((_, col, end, pending))) = (table.as_mut(), row.as_mut())
                    {
                        let rep = repeats(e, b"table:number-columns-repeated")?;
                        *col = col.saturating_add(rep);
                        if !empty || has_value(e) {
                            t.raw = t.raw.saturating_add(*pending).saturating_add(rep);
                            *pending = 0;
                            *end = *col;
                        } else {
                            *pending = pending.saturating_add(rep);
                        }
                    }
                }
                _ => {}
            }
        }
        match ev {
            Event::End(e) if e.name().as_ref() == b"table:table-row" => {
                if let (Some(t), Some((rep, _, end, _))) = (table.as_mut(), row.take()) {
                    if end > 0 {
                        t.first.get_or_insert(t.row);
                        t.last_end = t.row.saturating_add(rep);
                        t.max_col = t.max_col.max(end);
                    }
                    t.row = t.row.saturating_add(rep);
                }
            }
            Event::End(e) if e.name().as_ref() == b"table:table" => {
                if let Some(t) = table.take() {
                    let dense = t.dense();
                    dense_total = dense_total.saturating_add(dense);
                    bytes_total = bytes_total
                        .saturating_add(t.raw.saturating_add(dense).saturating_mul(CELL_BYTES))
                        .saturating_add(t.row_elements.saturating_mul(16));
                }
            }
            Event::Eof => break,
            _ => {}
        }
        let open = table.as_ref().map_or(0, |t| {
            t.raw
                .saturating_add(t.dense())
                .saturating_mul(CELL_BYTES)
                .saturating_add(t.row_elements.saturating_mul(16))
        });
        if dense_total > limits.max_cells
            || table.as_ref().is_some_and(|t| t.dense() > limits.max_cells)
        {
            return Err(SheetError::TooManyCells {
                max: limits.max_cells,
            });
        }
        if bytes_total.saturating_add(open) > ODS_BUDGET {
            return Err(SheetError::TooMuchData {
                max_mib: ODS_BUDGET >> 20,
            });
        }
    }
    Ok(())
}
