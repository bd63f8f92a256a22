//! What the bytes are, from their first bytes only (never from the file name).

/// The container found at the start of the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Container {
    /// A zip archive: xlsx, xlsm, xlsb or ods (decided by looking inside).
    Zip,
    /// An OLE compound file: xls, or an encrypted OOXML workbook.
    Cfb,
    /// A known non-spreadsheet format, described for the reason.
    Other(&'static str),
    /// Anything else is tried as delimited text (CSV, TSV, .txt).
    Text,
}

const CFB_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

pub(crate) fn sniff(bytes: &[u8]) -> Container {
    let starts = |m: &[u8]| bytes.starts_with(m);
    if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08") {
        return Container::Zip;
    }
    if starts(CFB_MAGIC) {
        return Container::Cfb;
    }
    if starts(b"%PDF") {
        return Container::Other("a PDF document");
    }
    if starts(b"\x89PNG")
        || starts(b"\xFF\xD8\xFF")
        || starts(b"GIF8")
        || (starts(b"BM") && bytes.len() > 14 && bytes[6..10] == [0, 0, 0, 0])
    {
        return Container::Other("an image");
    }
    if starts(b"{\\rtf") {
        return Container::Other("a rich-text (RTF) document");
    }
    if starts(b"\x1F\x8B") || starts(b"Rar!") || starts(b"7z\xBC\xAF\x27\x1C") {
        return Container::Other("a compressed archive");
    }
    // Text-based formats some programs save with an .xls name.
    let head = &bytes[..bytes.len().min(2048)];
    let head_lower: Vec<u8> = head
        .iter()
        .skip_while(|b| b.is_ascii_whitespace() || **b == 0xEF || **b == 0xBB || **b == 0xBF)
        .map(|b| b.to_ascii_lowercase())
        .collect();
    let has = |needle: &[u8]| head_lower.windows(needle.len()).any(|w| w == needle);
    if head_lower.starts_with(b"<?xml") && has(b"urn:schemas-microsoft-com:office:spreadsheet") {
        return Container::Other(
            "an Excel 2003 XML spreadsheet, an old format we do not read; save it as .xlsx",
        );
    }
    if head_lower.starts_with(b"<!doctype html")
        || head_lower.starts_with(b"<html")
        || head_lower.starts_with(b"<table")
    {
        return Container::Other(
            "a web page (HTML), as some systems export under an .xls name; open it in your \
             spreadsheet program and save it as .xlsx",
        );
    }
    Container::Text
}
