//! Why a file could not be read, in words an agency staffer understands, with what to do next.

use thiserror::Error;

use crate::i18n::Told;

/// A file that could not be read. Every message says what is wrong and what to do; none quotes
/// cell contents (they may hold candidates' personal data).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SheetError {
    Empty,

    FileTooLarge {
        size: u64,
        max: u64,
    },

    TooManyRows {
        max: u64,
    },

    TooManyCells {
        max: u64,
    },

    TooMuchData {
        max_mib: u64,
    },

    ZipBomb {
        detail: String,
    },

    PasswordProtected,

    Truncated {
        detail: String,
    },

    Malformed {
        format: &'static str,
        detail: String,
    },

    XmlDtd,

    NotASpreadsheet {
        what: String,
    },

    NulBytes {
        offset: u64,
    },

    Utf16WithoutBom,

    UnclosedQuote {
        line: u64,
    },

    CellTooLong {
        row: u64,
        column: String,
        max: usize,
    },

    NoData {
        /// Either "" or a remark that hidden sheets (which we do not read) exist.
        hidden: &'static str,
    },
}

/// In English (logs, the stored record); [`SheetError::told`] words it in any language.
impl std::fmt::Display for SheetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.told().fmt(f)
    }
}

/// Excel's own limit on the characters of one cell; a longer cell cannot come from a spreadsheet.
pub const MAX_CELL_CHARS: usize = 32_767;

/// The column letters a spreadsheet program shows for a 0-based column index (0 → "A").
pub fn column_name(col: u32) -> String {
    let mut n = col as u64 + 1;
    let mut out = Vec::new();
    while n > 0 {
        let r = ((n - 1) % 26) as u8;
        out.push(b'A' + r);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

impl SheetError {
    /// What is wrong, as a catalogue text (`unreadable.*`), worded in the reader's language.
    pub fn told(&self) -> Told {
        let t = Told::new;
        match self {
            SheetError::Empty => t("unreadable.empty"),
            SheetError::FileTooLarge { size, max } => t("unreadable.file_too_large")
                .with("size", size.to_string())
                .with("max", max.to_string()),
            SheetError::TooManyRows { max } => {
                t("unreadable.too_many_rows").with("max", max.to_string())
            }
            SheetError::TooManyCells { max } => {
                t("unreadable.too_many_cells").with("max", max.to_string())
            }
            SheetError::TooMuchData { max_mib } => {
                t("unreadable.too_much_data").with("max_mib", max_mib.to_string())
            }
            SheetError::ZipBomb { detail } => t("unreadable.zip_bomb").with("detail", detail),
            SheetError::PasswordProtected => t("unreadable.password_protected"),
            SheetError::Truncated { detail } => t("unreadable.truncated").with("detail", detail),
            SheetError::Malformed { format, detail } => t("unreadable.malformed")
                .with("format", *format)
                .with("detail", detail),
            SheetError::XmlDtd => t("unreadable.xml_dtd"),
            SheetError::NotASpreadsheet { what } => {
                t("unreadable.not_a_spreadsheet").with("what", what)
            }
            SheetError::NulBytes { offset } => {
                t("unreadable.nul_bytes").with("offset", offset.to_string())
            }
            SheetError::Utf16WithoutBom => t("unreadable.utf16_without_bom"),
            SheetError::UnclosedQuote { line } => {
                t("unreadable.unclosed_quote").with("line", line.to_string())
            }
            SheetError::CellTooLong { row, column, max } => t("unreadable.cell_too_long")
                .with("row", row.to_string())
                .with("column", column)
                .with("max", max.to_string()),
            SheetError::NoData { hidden: "" } => t("unreadable.no_data"),
            SheetError::NoData { .. } => t("unreadable.no_data_hidden"),
        }
    }

    pub(crate) fn malformed(format: &'static str, detail: impl std::fmt::Display) -> Self {
        SheetError::Malformed {
            format,
            detail: detail.to_string(),
        }
    }
}
