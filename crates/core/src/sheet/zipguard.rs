//! Checks a zip container (xlsx, xlsm, xlsb, ods) before any reader inflates it.
//!
//! 1. The end-of-archive record must exist (else the file is cut off) and declare at most
//!    [`MAX_ENTRIES`] entries.
//! 2. From the central directory, without inflating anything: no encrypted entry; the sum of the
//!    declared uncompressed sizes is at most `limits.max_unpacked_bytes`; no entry over 1 MiB
//!    claims a compression ratio above [`MAX_RATIO`].
//! 3. Every entry is then inflated once through a fixed 64 KiB buffer (nothing is kept), so sizes
//!    that lie are caught: an entry may not inflate to more than it declares and the total may not
//!    pass the limit. This pass also refuses XML parts with a DTD (entity bombs), and measures the
//!    shared-strings part, which the reader loads whole, against [`SHARED_STRINGS_BUDGET`].

use std::io::{Cursor, Read};

use zip::result::ZipError;
use zip::ZipArchive;

use super::SheetError;

/// More entries than any spreadsheet has.
pub(crate) const MAX_ENTRIES: u64 = 10_000;
/// Deflate cannot exceed about 1032:1; real sheets stay well under 100:1.
pub(crate) const MAX_RATIO: u64 = 250;
/// Estimated heap bytes the shared-strings table may take once loaded.
pub(crate) const SHARED_STRINGS_BUDGET: u64 = 64 * 1024 * 1024;
/// Parts a reader loads whole besides shared strings (workbook list, relationships, content
/// types, styles) may not be larger than this.
const MAX_AUX_PART: u64 = 16 * 1024 * 1024;
/// An XML prolog (before the root element) longer than this is refused.
const MAX_PROLOG: usize = 64 * 1024;

/// What the zip holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ZipKind {
    Xlsx,
    Xlsm,
    Xlsb,
    Ods,
}

const ODS_MIME: &[u8] = b"application/vnd.oasis.opendocument.spreadsheet";

pub(crate) fn inspect(bytes: &[u8], max_unpacked: u64) -> Result<ZipKind, SheetError> {
    let entries = declared_entries(bytes)?;
    if entries > MAX_ENTRIES {
        return Err(SheetError::ZipBomb {
            detail: format!("it declares {entries} parts"),
        });
    }
    let mut zip = ZipArchive::new(Cursor::new(bytes)).map_err(zip_error)?;

    let names = declared_parts(&mut zip, bytes.len(), max_unpacked)?;
    let kind = kind_of(&mut zip, &names)?;
    let macro_content_type = inflate_all(&mut zip, max_unpacked)?;
    Ok(if kind == ZipKind::Xlsx && macro_content_type {
        ZipKind::Xlsm
    } else {
        kind
    })
}

type Zip<'a> = ZipArchive<Cursor<&'a [u8]>>;

/// Pass 1, the central directory only: each part's name, once no part is encrypted and the sizes and
/// ratios declared are within limits.
fn declared_parts(
    zip: &mut Zip<'_>,
    file_len: usize,
    max_unpacked: u64,
) -> Result<Vec<String>, SheetError> {
    let mut declared_total: u64 = 0;
    let mut names = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let f = zip.by_index_raw(i).map_err(zip_error)?;
        if f.encrypted() {
            return Err(SheetError::PasswordProtected);
        }
        let size = f.size();
        declared_total = declared_total.saturating_add(size);
        if declared_total > max_unpacked {
            return Err(SheetError::ZipBomb {
                detail: format!(
                    "its parts declare more than {max_unpacked} bytes once unpacked, from a \
                     {}-byte file",
                    file_len
                ),
            });
        }
        if size > 1024 * 1024 && size / f.compressed_size().max(1) > MAX_RATIO {
            return Err(SheetError::ZipBomb {
                detail: format!(
                    "one part is compressed {} to 1, far beyond what spreadsheet content allows",
                    size / f.compressed_size().max(1)
                ),
            });
        }
        names.push(f.name().to_owned());
    }

    Ok(names)
}

/// What the zip is, from its parts' names (and an OpenDocument's `mimetype`).
fn kind_of(zip: &mut Zip<'_>, names: &[String]) -> Result<ZipKind, SheetError> {
    let has = |n: &str| names.iter().any(|x| x.eq_ignore_ascii_case(n));
    Ok(if has("xl/workbook.xml") {
        let macros = has("xl/vbaProject.bin");
        if macros {
            ZipKind::Xlsm
        } else {
            ZipKind::Xlsx
        }
    } else if has("xl/workbook.bin") {
        ZipKind::Xlsb
    } else if has("mimetype") {
        let mut mime = Vec::new();
        zip.by_name("mimetype")
            .map_err(zip_error)?
            .take(200)
            .read_to_end(&mut mime)
            .map_err(io_error)?;
        if mime.trim_ascii() == ODS_MIME {
            ZipKind::Ods
        } else if mime.starts_with(b"application/vnd.oasis.opendocument.text") {
            return Err(not_spreadsheet("an OpenDocument text document"));
        } else {
            return Err(not_spreadsheet("an archive of some other document type"));
        }
    } else if has("word/document.xml") {
        return Err(not_spreadsheet("a Word document"));
    } else if has("ppt/presentation.xml") {
        return Err(not_spreadsheet("a PowerPoint presentation"));
    } else {
        return Err(not_spreadsheet(
            "a zip archive without a spreadsheet in it; send the spreadsheet itself, not zipped",
        ));
    })
}

/// Pass 2: inflates every part once, keeping nothing, to catch sizes that lie (and XML prologs,
/// shared strings past their budget, encrypted OpenDocument); whether the content types name macros.
fn inflate_all(zip: &mut Zip<'_>, max_unpacked: u64) -> Result<bool, SheetError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut actual_total: u64 = 0;
    let mut macro_content_type = false;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(zip_error)?;
        let name = f.name().to_owned();
        let declared = f.size();
        let lower = name.to_ascii_lowercase();
        let aux = matches!(
            lower.as_str(),
            "xl/workbook.xml"
                | "xl/_rels/workbook.xml.rels"
                | "[content_types].xml"
                | "xl/styles.xml"
                | "xl/styles.bin"
                | "xl/workbook.bin"
                | "xl/_rels/workbook.bin.rels"
                | "meta-inf/manifest.xml"
        );
        let is_xml = lower.ends_with(".xml") || lower.ends_with(".rels");
        let mut prolog = is_xml.then(Vec::new);
        let mut si = (lower == "xl/sharedstrings.xml").then(SiCounter::default);
        let mut sst = (lower == "xl/sharedstrings.bin").then(BinCounter::default);
        let keep = lower == "[content_types].xml" || lower == "meta-inf/manifest.xml";
        let mut kept = Vec::new();
        let mut actual: u64 = 0;
        loop {
            let n = f.read(&mut buf).map_err(io_error)?;
            if n == 0 {
                break;
            }
            let chunk = &buf[..n];
            actual += n as u64;
            actual_total += n as u64;
            if actual > declared {
                return Err(SheetError::ZipBomb {
                    detail: format!(
                        "the part {name} unpacks to more than the {declared} bytes it declares"
                    ),
                });
            }
            if actual_total > max_unpacked {
                return Err(SheetError::ZipBomb {
                    detail: format!("it unpacks to more than {max_unpacked} bytes"),
                });
            }
            if aux && actual > MAX_AUX_PART {
                return Err(SheetError::TooMuchData {
                    max_mib: MAX_AUX_PART >> 20,
                });
            }
            if let Some(p) = prolog.as_mut() {
                p.extend_from_slice(&chunk[..chunk.len().min(MAX_PROLOG + 1 - p.len())]);
                if check_prolog(p, &name, false)? {
                    prolog = None;
                }
            }
            if let Some(c) = si.as_mut() {
                c.feed(chunk);
            }
            if let Some(c) = sst.as_mut() {
                c.feed(chunk);
            }
            if keep {
                kept.extend_from_slice(chunk);
            }
        }
        if let Some(p) = prolog {
            check_prolog(&p, &name, true)?;
        }
        let estimate = si
            .map(|c| c.estimate())
            .or(sst.map(|c| c.estimate()))
            .unwrap_or(0);
        if estimate > SHARED_STRINGS_BUDGET {
            return Err(SheetError::TooMuchData {
                max_mib: SHARED_STRINGS_BUDGET >> 20,
            });
        }
        if lower == "[content_types].xml" {
            macro_content_type = contains(&kept, b"macroEnabled");
        }
        if lower == "meta-inf/manifest.xml" && contains(&kept, b"encryption-data") {
            return Err(SheetError::PasswordProtected);
        }
    }
    Ok(macro_content_type)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn not_spreadsheet(what: &str) -> SheetError {
    SheetError::NotASpreadsheet { what: what.into() }
}

fn io_error(e: std::io::Error) -> SheetError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => SheetError::Truncated {
            detail: "a part of the zip archive ends early".into(),
        },
        _ => SheetError::malformed("zip", format!("a part cannot be unpacked: {e}")),
    }
}

pub(crate) fn zip_error(e: ZipError) -> SheetError {
    match e {
        ZipError::Io(e) => io_error(e),
        ZipError::UnsupportedArchive(m) if m == ZipError::PASSWORD_REQUIRED => {
            SheetError::PasswordProtected
        }
        ZipError::UnsupportedArchive(m) => SheetError::malformed("zip", m),
        ZipError::InvalidArchive(m) => SheetError::Truncated {
            detail: format!("the zip archive is incomplete or invalid: {m}"),
        },
        other => SheetError::malformed("zip", other),
    }
}

/// Entry count from the end-of-central-directory record (zip64 aware), or why there is none.
fn declared_entries(bytes: &[u8]) -> Result<u64, SheetError> {
    const EOCD: &[u8] = b"PK\x05\x06";
    let from = bytes.len().saturating_sub(22 + 65_535);
    let pos = (from..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| &bytes[i..i + 4] == EOCD)
        .ok_or_else(|| SheetError::Truncated {
            detail: "the end of the zip archive is missing".into(),
        })?;
    let u16_at = |i: usize| u64::from(u16::from_le_bytes([bytes[i], bytes[i + 1]]));
    let mut entries = u16_at(pos + 10);
    if entries == 0xFFFF && pos >= 20 && &bytes[pos - 20..pos - 16] == b"PK\x06\x07" {
        let off = u64::from_le_bytes(bytes[pos - 12..pos - 4].try_into().unwrap_or_default());
        let off = usize::try_from(off).unwrap_or(usize::MAX);
        if off.checked_add(40).is_some_and(|end| end <= bytes.len())
            && &bytes[off..off + 4] == b"PK\x06\x06"
        {
            entries = u64::from_le_bytes(bytes[off + 32..off + 40].try_into().unwrap_or_default());
        }
    }
    Ok(entries)
}

/// Refuses a DTD before the root element of an XML part. Returns whether the prolog was seen
/// whole (`complete` says no more bytes will come).
fn check_prolog(p: &[u8], name: &str, complete: bool) -> Result<bool, SheetError> {
    // UTF-16 XML: markup is ASCII, so dropping NUL bytes leaves it readable.
    let owned: Vec<u8>;
    let mut s = p;
    if s.starts_with(&[0xFF, 0xFE]) || s.starts_with(&[0xFE, 0xFF]) {
        owned = s[2..].iter().copied().filter(|b| *b != 0).collect();
        s = &owned;
    }
    s = s.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(s);
    loop {
        s = s.trim_ascii_start();
        if s.is_empty() {
            break;
        }
        if s.starts_with(b"<?") {
            match find(s, b"?>") {
                Some(i) => s = &s[i + 2..],
                None => break,
            }
        } else if s.starts_with(b"<!--") {
            match find(s, b"-->") {
                Some(i) => s = &s[i + 3..],
                None => break,
            }
        } else if s.starts_with(b"<!") {
            if s.len() < 4 && !complete {
                break; // Maybe the start of a comment: wait for more bytes.
            }
            return Err(SheetError::XmlDtd);
        } else if s.len() < 2 && !complete {
            break; // "<" alone: wait for the next byte.
        } else {
            return Ok(true);
        }
    }
    if p.len() > MAX_PROLOG {
        Err(SheetError::malformed(
            "spreadsheet",
            format!("the part {name} starts with over {MAX_PROLOG} bytes before its content"),
        ))
    } else {
        // An unfinished prolog at the end of a part: the reader says what is wrong with it.
        Ok(complete)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Counts `<si>` elements and character data of `sharedStrings.xml`, streamed in chunks.
#[derive(Default)]
struct SiCounter {
    in_tag: bool,
    name: Vec<u8>,
    naming: bool,
    count: u64,
    text: u64,
}

impl SiCounter {
    fn feed(&mut self, chunk: &[u8]) {
        for &b in chunk {
            if self.in_tag {
                if self.naming {
                    if b.is_ascii_whitespace() || b == b'>' || b == b'/' {
                        self.naming = false;
                        let local = self.name.rsplit(|c| *c == b':').next().unwrap_or(&[]);
                        if local == b"si" {
                            self.count += 1;
                        }
                    } else if self.name.len() < 16 {
                        self.name.push(b);
                    }
                }
                if b == b'>' {
                    self.in_tag = false;
                }
            } else if b == b'<' {
                self.in_tag = true;
                self.naming = true;
                self.name.clear();
            } else {
                self.text += 1;
            }
        }
    }

    fn estimate(&self) -> u64 {
        // A String (24 bytes) plus the smallest heap block for each, and the text itself.
        self.count * 56 + self.text
    }
}

/// Counts the string items (record type 19) of `sharedStrings.bin`, streamed in chunks.
#[derive(Default)]
struct BinCounter {
    state: BinState,
    count: u64,
    text: u64,
}

#[derive(Default)]
enum BinState {
    #[default]
    Type0,
    Type1(u32),
    Size {
        typ: u32,
        value: u64,
        shift: u32,
    },
    Skip(u64),
}

impl BinCounter {
    fn feed(&mut self, mut chunk: &[u8]) {
        while let Some((&b, rest)) = chunk.split_first() {
            match self.state {
                BinState::Type0 => {
                    self.state = if b & 0x80 != 0 {
                        BinState::Type1(u32::from(b & 0x7F))
                    } else {
                        BinState::Size {
                            typ: u32::from(b),
                            value: 0,
                            shift: 0,
                        }
                    };
                    chunk = rest;
                }
                BinState::Type1(lo) => {
                    self.state = BinState::Size {
                        typ: lo | (u32::from(b & 0x7F) << 7),
                        value: 0,
                        shift: 0,
                    };
                    chunk = rest;
                }
                BinState::Size { typ, value, shift } => {
                    let value = value | (u64::from(b & 0x7F) << shift);
                    chunk = rest;
                    if b & 0x80 != 0 && shift < 21 {
                        self.state = BinState::Size {
                            typ,
                            value,
                            shift: shift + 7,
                        };
                    } else {
                        if typ == 19 {
                            self.count += 1;
                            self.text += value;
                        }
                        self.state = if value == 0 {
                            BinState::Type0
                        } else {
                            BinState::Skip(value)
                        };
                    }
                }
                BinState::Skip(left) => {
                    let n = (left as usize).min(chunk.len());
                    chunk = &chunk[n..];
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        BinState::Type0
                    } else {
                        BinState::Skip(left)
                    };
                }
            }
        }
    }

    fn estimate(&self) -> u64 {
        self.count * 56 + self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_shared_strings_across_chunks() {
        let mut c = SiCounter::default();
        let xml = b"<sst><si><t>a</t></si><x:si><x:t>bc</x:t></x:si><sin/></sst>";
        for part in xml.chunks(3) {
            c.feed(part);
        }
        assert_eq!(c.count, 2);
        assert_eq!(c.text, 3);
    }

    #[test]
    fn dtd_in_prolog_is_refused() {
        let bomb =
            b"<?xml version=\"1.0\"?>\n<!-- c --><!DOCTYPE lolz [<!ENTITY lol \"lol\">]><sst/>";
        assert_eq!(check_prolog(bomb, "x", true), Err(SheetError::XmlDtd));
        let ok = b"<?xml version=\"1.0\"?><sst/>";
        assert_eq!(check_prolog(ok, "x", false), Ok(true));
        assert_eq!(check_prolog(&ok[..10], "x", false), Ok(false));
    }
}
