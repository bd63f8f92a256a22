//! Why a file could not be read, in words an agency staffer understands, with what to do next.

use thiserror::Error;

/// A file that could not be read. Every message says what is wrong and what to do; none quotes
/// cell contents (they may hold candidates' personal data).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SheetError {
    #[error("the file is empty (0 bytes): attach the spreadsheet again and resend")]
    Empty,

    #[error(
        "the file is {size} bytes, over the {max}-byte limit: split the candidates into smaller \
         files and send them separately"
    )]
    FileTooLarge { size: u64, max: u64 },

    #[error(
        "the file has more than {max} rows with data: split the candidates into smaller files and \
         send them separately"
    )]
    TooManyRows { max: u64 },

    #[error(
        "the file has more than {max} cells (counting blank cells between filled ones): remove \
         unused columns or split the candidates into smaller files"
    )]
    TooManyCells { max: u64 },

    #[error(
        "the file holds more data than we accept in one file (over {max_mib} MiB once opened): \
         remove unused columns or split the candidates into smaller files"
    )]
    TooMuchData { max_mib: u64 },

    #[error(
        "the file unpacks to far more data than a spreadsheet of its size can hold ({detail}); it \
         looks like a zip bomb and was not opened: save the spreadsheet again from your \
         spreadsheet program and resend"
    )]
    ZipBomb { detail: String },

    #[error(
        "the file is password-protected (encrypted), so we cannot read it: save it without a \
         password and send it again"
    )]
    PasswordProtected,

    #[error(
        "the file appears to be cut off or damaged ({detail}): save it again from your \
         spreadsheet program and resend, or export it as CSV"
    )]
    Truncated { detail: String },

    #[error(
        "the {format} file is damaged and cannot be read ({detail}): open it in your spreadsheet \
         program, save it again (or export it as CSV) and resend"
    )]
    Malformed {
        format: &'static str,
        detail: String,
    },

    #[error(
        "the file contains a document type declaration (DTD), which spreadsheet programs never \
         write and which can hide an entity bomb; it was not opened: save the spreadsheet again \
         from your spreadsheet program and resend"
    )]
    XmlDtd,

    #[error(
        "the file is not a spreadsheet ({what}): send an Excel (.xlsx, .xls), OpenDocument (.ods) \
         or CSV file"
    )]
    NotASpreadsheet { what: String },

    #[error(
        "the text file contains NUL bytes (at byte {offset}), so it is not plain text; if it is \
         UTF-16 without a byte-order mark, re-save it as \"CSV UTF-8\"; otherwise send the \
         original spreadsheet"
    )]
    NulBytes { offset: u64 },

    #[error(
        "the file looks like UTF-16 text without a byte-order mark, which we cannot read reliably: \
         re-save it as \"CSV UTF-8\" (or as an Excel workbook) and resend"
    )]
    Utf16WithoutBom,

    #[error(
        "line {line} of the CSV file has a quote that is never closed: fix the quoting (or re-save \
         the file from your spreadsheet program) and resend"
    )]
    UnclosedQuote { line: u64 },

    #[error(
        "the cell at row {row}, column {column} has more than {max} characters, more than a \
         spreadsheet cell can hold (often a quote that is never closed): fix that cell and resend"
    )]
    CellTooLong {
        row: u64,
        column: String,
        max: usize,
    },

    #[error(
        "the file has no data: the sheets that are shown are empty{hidden}; put the candidates on \
         the first sheet and resend"
    )]
    NoData {
        /// Either "" or a remark that hidden sheets (which we do not read) exist.
        hidden: &'static str,
    },
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
    pub(crate) fn malformed(format: &'static str, detail: impl std::fmt::Display) -> Self {
        SheetError::Malformed {
            format,
            detail: detail.to_string(),
        }
    }
}
