//! Delimited text: CSV, TSV and .txt holding either.
//!
//! Encoding, in this order:
//! - a byte-order mark decides: UTF-8, UTF-16 LE or UTF-16 BE;
//! - UTF-16 **without** a byte-order mark is read when the NUL pattern is unambiguous (in the first
//!   64 KiB, at least 90% of the high bytes are NUL and at most 10% of the low bytes are), which is
//!   how Latin-script text (names, e-mails, phones) always looks in UTF-16; anything less clear is
//!   refused as text with NUL bytes;
//! - text that is valid UTF-8 is UTF-8; anything else is Windows-1252 (a superset of Latin-1).
//!
//! Text with NUL bytes (outside UTF-16) is refused, not cleaned; text with more than 1% control
//! characters other than NUL is binary junk and refused.
//!
//! The delimiter is the one of `,` `;` tab `|` that splits the first 30 records into the same
//! number (above one) of fields most consistently; ties go to the larger number of fields, then
//! to that order. Quoted fields may hold delimiters, doubled quotes and line breaks. Every field is
//! kept as text, exactly as written (numbers are not parsed: a phone stays `"09171234567"`).
//! `Row.number` is the line number a spreadsheet program shows for the record (a record whose
//! quoted field spans lines counts once).

use std::borrow::Cow;

use encoding_rs::{UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252};

use super::builder::{Budget, SheetBuilder};
use super::{Cell, Format, SheetError, Sink};

const SAMPLE: usize = 64 * 1024;
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// Streams a delimited text file as one sheet; returns its format (CSV or TSV).
pub(crate) fn read(
    bytes: &[u8],
    budget: &mut Budget,
    sink: &mut Sink<'_>,
) -> Result<Format, SheetError> {
    let text = decode(bytes)?;
    let delimiter = detect_delimiter(&text);
    let format = if delimiter == b'\t' {
        Format::Tsv
    } else {
        Format::Csv
    };
    let mut sheet = SheetBuilder::new(budget, sink, "Sheet1");
    let mut reader = reader(delimiter, text.as_bytes());
    let mut record = csv::StringRecord::new();
    // Line breaks inside quoted fields so far: a record's row number is its line minus these.
    let mut embedded: u64 = 0;
    let mut last: Option<(u64, u64, bool)> = None; // (start byte, line, has a line break)
    while !sheet.stopped() {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(SheetError::malformed("CSV", e)),
        }
        let pos = record
            .position()
            .cloned()
            .unwrap_or_else(csv::Position::new);
        // The position is where the previous record ended: skip the line ends (and blank lines)
        // between it and this record to find the line this record starts on.
        let start = (pos.byte() as usize).min(text.len());
        let gap = &text.as_bytes()[start..];
        let skipped = gap
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .filter(|b| **b == b'\n')
            .count() as u64;
        let line = pos.line() + skipped;
        let row = line.saturating_sub(embedded).max(1);
        let mut breaks = 0u64;
        for (col, field) in record.iter().enumerate() {
            breaks += field.bytes().filter(|b| *b == b'\n').count() as u64;
            let col = u32::try_from(col).unwrap_or(u32::MAX);
            let row0 = u32::try_from(row - 1).unwrap_or(u32::MAX);
            sheet.push(row0, col, Cell::Text(field.to_owned()))?;
        }
        embedded += breaks;
        last = Some((pos.byte(), line, breaks > 0));
    }
    // The csv crate ends an unclosed quoted field at the end of the file without complaint; such
    // a last record swallowed the lines after the quote. Its raw text has an odd number of quotes.
    if let Some((start, line, true)) = last {
        let tail = &text.as_bytes()[(start as usize).min(text.len())..];
        if tail.iter().filter(|b| **b == b'"').count() % 2 == 1 {
            return Err(SheetError::UnclosedQuote { line });
        }
    }
    sheet.finish()?;
    Ok(format)
}

fn reader(delimiter: u8, bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes)
}

/// Bytes to text, or the reason they are not text.
pub(crate) fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, SheetError> {
    let utf16 = if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        let (text, _) = UTF_8.decode_without_bom_handling(&bytes[3..]);
        return check_controls(text, None);
    } else if bytes.starts_with(&[0xFF, 0xFE]) {
        Some((UTF_16LE, &bytes[2..]))
    } else if bytes.starts_with(&[0xFE, 0xFF]) {
        Some((UTF_16BE, &bytes[2..]))
    } else {
        utf16_without_bom(bytes).map(|e| (e, bytes))
    };
    if let Some((encoding, body)) = utf16 {
        let (text, _) = encoding.decode_without_bom_handling(body);
        return check_controls(text, Some(2));
    }
    // 8-bit text: refuse binary data and NUL bytes before decoding.
    // NUL bytes are not counted here: a text file with a few gets its own reason below.
    let controls = bytes
        .iter()
        .filter(|b| **b != 0 && is_control_byte(**b))
        .count();
    if controls > 0 && controls * 100 > bytes.len() {
        return Err(binary());
    }
    if let Some(offset) = bytes.iter().position(|b| *b == 0) {
        return Err(SheetError::NulBytes {
            offset: offset as u64,
        });
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(Cow::Borrowed(s)),
        Err(_) => {
            let (text, _) = WINDOWS_1252.decode_without_bom_handling(bytes);
            check_controls(text, None)
        }
    }
}

fn binary() -> SheetError {
    SheetError::NotASpreadsheet {
        what: "binary data, neither a spreadsheet nor text".into(),
    }
}

fn is_control_byte(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0E..=0x1F | 0x7F)
}

fn is_control_char(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{E}'..='\u{1F}' | '\u{7F}'..='\u{9F}')
}

/// Refuses decoded text that is mostly control characters (junk) or holds NUL characters.
/// `unit` is the bytes per code unit, to report a NUL's byte offset.
fn check_controls(text: Cow<'_, str>, unit: Option<u64>) -> Result<Cow<'_, str>, SheetError> {
    let mut chars = 0usize;
    let mut controls = 0usize;
    let mut first_nul = None;
    for (i, c) in text.chars().enumerate() {
        chars += 1;
        if c == '\0' {
            first_nul = first_nul.or(Some(i as u64));
        } else if is_control_char(c) {
            controls += 1;
        }
    }
    if controls > 0 && controls * 100 > chars {
        return Err(binary());
    }
    if let Some(i) = first_nul {
        return Err(SheetError::NulBytes {
            offset: i * unit.unwrap_or(1),
        });
    }
    Ok(text)
}

/// UTF-16 without a byte-order mark, when the NUL pattern leaves no doubt.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let sample = &bytes[..bytes.len().min(SAMPLE) & !1];
    let pairs = sample.len() / 2;
    if pairs < 2 {
        return None;
    }
    let (mut even_nul, mut odd_nul) = (0usize, 0usize);
    for pair in sample.chunks_exact(2) {
        even_nul += usize::from(pair[0] == 0);
        odd_nul += usize::from(pair[1] == 0);
    }
    let clear = |high: usize, low: usize| high * 10 >= pairs * 9 && low * 10 <= pairs;
    if clear(odd_nul, even_nul) {
        Some(UTF_16LE)
    } else if clear(even_nul, odd_nul) {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// The delimiter that splits the first records most consistently into more than one field.
fn detect_delimiter(text: &str) -> u8 {
    let mut end = text.len().min(SAMPLE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let sample = &text.as_bytes()[..end];
    let mut best = (0usize, 0usize, b',');
    for delimiter in DELIMITERS {
        let mut counts: Vec<usize> = Vec::new();
        let mut rdr = reader(delimiter, sample);
        let mut rec = csv::ByteRecord::new();
        while counts.len() < 30 {
            match rdr.read_byte_record(&mut rec) {
                Ok(true) => counts.push(rec.len()),
                _ => break,
            }
        }
        // The most common field count, and how many records have it.
        let mut mode = (0usize, 0usize);
        for &n in &counts {
            let freq = counts.iter().filter(|&&m| m == n).count();
            if (freq, n) > (mode.1, mode.0) {
                mode = (n, freq);
            }
        }
        if mode.0 > 1 && (mode.1, mode.0) > (best.0, best.1) {
            best = (mode.1, mode.0, delimiter);
        }
    }
    best.2
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sheet::{Limits, Workbook};

    /// The whole read (detection included), collected.
    fn read(bytes: &[u8], limits: &Limits) -> Result<Workbook, SheetError> {
        crate::sheet::read(bytes, limits)
    }

    fn texts(wb: &Workbook) -> Vec<(u32, Vec<String>)> {
        wb.sheets[0]
            .rows
            .iter()
            .map(|r| {
                let cells = r
                    .cells
                    .iter()
                    .map(|c| match c {
                        Cell::Text(s) => s.clone(),
                        Cell::Empty => String::new(),
                        other => format!("{other:?}"),
                    })
                    .collect();
                (r.number, cells)
            })
            .collect()
    }

    #[test]
    fn detects_semicolon_and_keeps_row_numbers_across_blank_lines_and_multiline_fields() {
        let data = "Nombre;Notas\r\n\r\nAna;\"uno\r\ndos; tres\"\r\nJosé;x;;\r\n";
        let wb = read(data.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(wb.format, Format::Csv);
        assert_eq!(
            texts(&wb),
            vec![
                (1, vec!["Nombre".into(), "Notas".into()]),
                (3, vec!["Ana".into(), "uno\r\ndos; tres".into()]),
                (4, vec!["José".into(), "x".into()]),
            ]
        );
    }

    #[test]
    fn tab_delimited_is_tsv() {
        let wb = read(b"a\tb\tc\n1\t2\t3\n", &Limits::default()).unwrap();
        assert_eq!(wb.format, Format::Tsv);
        assert_eq!(wb.sheets[0].rows[1].cells.len(), 3);
    }

    #[test]
    fn windows_1252_and_utf16_are_decoded() {
        let wb = read(b"Nombre,Campa\xf1a\nJos\xe9,1\n", &Limits::default()).unwrap();
        assert_eq!(texts(&wb)[1].1[0], "José");
        let utf16: Vec<u8> = "a,b\nJosé,2\n"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        let wb = read(&utf16, &Limits::default()).unwrap();
        assert_eq!(texts(&wb)[1].1[0], "José");
        let mut be = vec![0xFE, 0xFF];
        be.extend("a,b\nJosé,2\n".encode_utf16().flat_map(|u| u.to_be_bytes()));
        let wb = read(&be, &Limits::default()).unwrap();
        assert_eq!(texts(&wb)[1].1[0], "José");
    }

    #[test]
    fn unclosed_quote_is_refused_with_its_line() {
        let err = read(b"a,b\n1,\"open\n2,3\n4,5\n", &Limits::default()).unwrap_err();
        assert_eq!(err, SheetError::UnclosedQuote { line: 2 });
        // A closed multi-line field at the end is fine.
        assert!(read(b"a,b\n1,\"two\nlines\"\n", &Limits::default()).is_ok());
    }

    #[test]
    fn pipe_delimiter() {
        let wb = read(b"a|b|c\n1|2|3\n", &Limits::default()).unwrap();
        assert_eq!(texts(&wb)[1].1, vec!["1", "2", "3"]);
    }
}
