//! Reading spreadsheets (SPEC §5): bytes → [`Workbook`]. Pure: no I/O besides the given bytes.
//!
//! The format is detected from the bytes, never from the name. Every reader enforces [`Limits`]
//! before it can allocate more than they allow.

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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 26_214_400,
            max_rows: 200_000,
            max_cells: 5_000_000,
            max_unpacked_bytes: 209_715_200,
        }
    }
}
