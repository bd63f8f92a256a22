//! Collects cells streamed by a reader into [`Row`]s, handed to the reader's [`Sink`] in batches,
//! while enforcing [`Limits`] and a memory budget on every cell, so no reader can build more than
//! the limits allow.

use std::ops::ControlFlow;

use super::error::{column_name, MAX_CELL_CHARS};
use super::{Cell, Event, Limits, Row, SheetError, Sink};

/// Rows handed over at a time.
const BATCH_ROWS: usize = 512;

/// Upper bound on the estimated heap size of the rows of one workbook collected whole
/// ([`super::read`]). With the other buffers of a reader (shared strings, at most
/// [`SHARED_STRINGS_BUDGET`]) this keeps a read under 256 MB.
/// It is reached by about 5 million number cells or 2.5 million short text cells.
pub(crate) const WORKBOOK_BUDGET: u64 = 160 * 1024 * 1024;

/// Upper bound on the estimated size of what a consumer of a streamed read ([`super::stream`])
/// keeps of its rows: their texts, one after another, and an end offset per cell (the rows
/// themselves are freed batch by batch). A file within every limit of short values (200,000 rows
/// of 16 cells of 12 characters) is 65 MB of it; the pipeline keeps 256 MB with this much.
pub(crate) const STREAM_BUDGET: u64 = 96 * 1024 * 1024;

/// Estimated bytes a streamed cell leaves its consumer besides its text (its end offset).
const STREAM_CELL_BYTES: u64 = 8;
/// Estimated bytes a streamed row leaves its consumer besides its cells.
const STREAM_ROW_BYTES: u64 = 64;

/// Estimated heap bytes of one stored cell, ignoring its text.
const CELL_BYTES: u64 = std::mem::size_of::<Cell>() as u64;
/// Estimated heap bytes of one stored row besides its cells (the `Row` and malloc overhead).
const ROW_BYTES: u64 = std::mem::size_of::<Row>() as u64 + 16;

/// Estimated heap bytes of a string with `len` bytes (malloc rounds up and adds a header).
pub(crate) fn string_bytes(len: usize) -> u64 {
    if len == 0 {
        0
    } else {
        (len as u64).div_ceil(16) * 16 + 16
    }
}

/// Counts across all sheets of a workbook (rows handed over count even once the consumer has
/// freed them: the budget bounds what a reader may produce, whoever holds it).
#[derive(Clone)]
pub(crate) struct Budget {
    limits: Limits,
    pub(crate) rows: u64,
    cells: u64,
    bytes: u64,
    /// The rows are collected whole ([`WORKBOOK_BUDGET`] on their `Row`s and `Cell`s), or only
    /// their texts are kept ([`STREAM_BUDGET`]).
    whole: bool,
}

impl Budget {
    /// For rows collected whole, as [`super::read`] does.
    pub(crate) fn whole(limits: &Limits) -> Self {
        Budget {
            limits: *limits,
            rows: 0,
            cells: 0,
            bytes: 0,
            whole: true,
        }
    }

    /// For rows handed over and freed batch by batch, their texts kept ([`super::stream`]).
    pub(crate) fn streamed(limits: &Limits) -> Self {
        Budget {
            whole: false,
            ..Budget::whole(limits)
        }
    }

    /// Rows the limits still allow.
    pub(crate) fn rows_left(&self) -> u64 {
        self.limits.max_rows.saturating_sub(self.rows)
    }

    fn max_bytes(&self) -> u64 {
        if self.whole {
            WORKBOOK_BUDGET
        } else {
            STREAM_BUDGET
        }
    }

    /// `n` cells more, with a text of `text_len` bytes (0: none).
    fn add_cells(&mut self, n: u64, text_len: usize) -> Result<(), SheetError> {
        self.cells += n;
        if self.cells > self.limits.max_cells {
            return Err(SheetError::TooManyCells {
                max: self.limits.max_cells,
            });
        }
        self.bytes += if self.whole {
            n * CELL_BYTES + string_bytes(text_len)
        } else {
            n * STREAM_CELL_BYTES + text_len as u64
        };
        if self.bytes > self.max_bytes() {
            return Err(SheetError::TooMuchData {
                max_mib: self.max_bytes() >> 20,
            });
        }
        Ok(())
    }

    fn add_row(&mut self) -> Result<(), SheetError> {
        self.rows += 1;
        if self.rows > self.limits.max_rows {
            return Err(SheetError::TooManyRows {
                max: self.limits.max_rows,
            });
        }
        self.bytes += if self.whole {
            ROW_BYTES
        } else {
            STREAM_ROW_BYTES
        };
        Ok(())
    }
}

/// Builds one sheet from cells given with 0-based (row, column) positions, normally in reading
/// order, and hands its rows to the sink as they are finished (after an [`Event::Sheet`] with its
/// name). Blank rows are dropped, trailing empty cells are not kept, and `Text("")` is stored as
/// `Empty`. A row is blank when every cell is empty or text made only of spaces and invisible
/// characters. Rows are handed over in the order the file stores them.
///
/// When the sink answers [`ControlFlow::Break`], the builder stops handing over rows (and
/// [`SheetBuilder::stopped`] says so, so the reader can stop reading).
pub(crate) struct SheetBuilder<'b, 's> {
    budget: &'b mut Budget,
    sink: &'b mut Sink<'s>,
    rows: Vec<Row>,
    current: Option<u32>,
    cells: Vec<Cell>,
    stopped: bool,
}

impl<'b, 's> SheetBuilder<'b, 's> {
    pub(crate) fn new(
        budget: &'b mut Budget,
        sink: &'b mut Sink<'s>,
        name: impl Into<String>,
    ) -> Self {
        let name: String = name.into();
        let name = crate::text::storable(&name).into_owned();
        let stopped = sink(Event::Sheet(name)).is_break();
        SheetBuilder {
            budget,
            sink,
            rows: Vec::with_capacity(BATCH_ROWS),
            current: None,
            cells: Vec::new(),
            stopped,
        }
    }

    /// The consumer wants no more rows: the reader may stop.
    pub(crate) fn stopped(&self) -> bool {
        self.stopped
    }

    /// Adds a cell at 0-based `row` and `col`. Empty cells cost nothing.
    pub(crate) fn push(&mut self, row: u32, col: u32, cell: Cell) -> Result<(), SheetError> {
        let cell = match cell {
            Cell::Text(s) if s.is_empty() => Cell::Empty,
            // Poison values (SPEC §5 (r2)): a NUL (`_x0000_` in an xlsx cell) or another control
            // character is dropped here, the one place every format's cells pass through.
            Cell::Text(s) if s.contains(crate::text::is_unstorable) => {
                Cell::Text(crate::text::storable(&s).into_owned())
            }
            other => other,
        };
        if cell == Cell::Empty || self.stopped {
            return Ok(());
        }
        if self.current != Some(row) {
            self.finish_row()?;
            self.current = Some(row);
        }
        let text = match &cell {
            Cell::Text(s) | Cell::Date(s) | Cell::Error(s) => {
                if s.len() > MAX_CELL_CHARS && s.chars().count() > MAX_CELL_CHARS {
                    return Err(SheetError::CellTooLong {
                        row: u64::from(row) + 1,
                        column: column_name(col),
                        max: MAX_CELL_CHARS,
                    });
                }
                s.len()
            }
            _ => 0,
        };
        let col = col as usize;
        if col < self.cells.len() {
            // A repeated position (malformed or out of order): the later value wins.
            self.budget.add_cells(0, text)?;
            self.cells[col] = cell;
        } else {
            let pad = (col - self.cells.len()) as u64;
            self.budget.add_cells(pad + 1, text)?;
            self.cells.resize(col, Cell::Empty);
            self.cells.push(cell);
        }
        Ok(())
    }

    fn finish_row(&mut self) -> Result<(), SheetError> {
        let Some(row) = self.current.take() else {
            return Ok(());
        };
        let blank = self.cells.iter().all(|c| match c {
            Cell::Empty => true,
            Cell::Text(s) => s.chars().all(|c| {
                c.is_whitespace()
                    || matches!(
                        c,
                        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
                    )
            }),
            _ => false,
        });
        if blank {
            self.cells.clear();
            return Ok(());
        }
        while self.cells.last() == Some(&Cell::Empty) {
            self.cells.pop();
        }
        self.budget.add_row()?;
        // Collecting from a drain allocates exactly, keeping no growth slack per row.
        let cells: Vec<Cell> = self.cells.drain(..).collect();
        self.rows.push(Row {
            number: row.saturating_add(1),
            cells,
        });
        if self.rows.len() >= BATCH_ROWS {
            self.hand_over();
        }
        Ok(())
    }

    fn hand_over(&mut self) {
        if self.rows.is_empty() || self.stopped {
            return;
        }
        let batch = std::mem::replace(&mut self.rows, Vec::with_capacity(BATCH_ROWS));
        if let ControlFlow::Break(()) = (self.sink)(Event::Rows(batch)) {
            self.stopped = true;
        }
    }

    /// Hands over the last rows; `true` when the consumer wants no more (no further sheet is read).
    pub(crate) fn finish(mut self) -> Result<bool, SheetError> {
        self.finish_row()?;
        self.hand_over();
        Ok(self.stopped)
    }
}
