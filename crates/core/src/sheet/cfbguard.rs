//! OLE compound files: an xls workbook, an encrypted OOXML workbook (Excel wraps a
//! password-protected xlsx in a compound file with `EncryptionInfo` and `EncryptedPackage`
//! streams), or some other Office document.
//!
//! For xls, calamine reads the whole `Workbook` stream, reserves the area each sheet's DIMENSIONS
//! record declares, and builds dense ranges over the cells (and formulas) of every sheet at
//! once. This guard walks the BIFF records first, keeping only counters, and refuses when the
//! dense cells pass `limits.max_cells` or the estimated bytes pass [`XLS_BUDGET`]. A FILEPASS
//! record (a password to open) is refused as password-protected.

use std::io::{Cursor, Read};

use super::{Limits, SheetError};

/// Estimated heap bytes calamine may use for an xls file.
pub(crate) const XLS_BUDGET: u64 = 96 * 1024 * 1024;

const F: &str = "Excel 97-2003 (.xls)";

/// What a compound file holds, once it passed the checks.
pub(crate) enum CfbKind {
    Xls,
}

pub(crate) fn inspect(bytes: &[u8], limits: &Limits) -> Result<CfbKind, SheetError> {
    let cf = cfb::CompoundFile::open(Cursor::new(bytes)).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            SheetError::Truncated {
                detail: "the Office file ends early".into(),
            }
        } else {
            SheetError::malformed(F, e)
        }
    })?;
    let mut cf = cf;
    if cf.is_stream("EncryptionInfo") || cf.is_stream("EncryptedPackage") {
        return Err(SheetError::PasswordProtected);
    }
    let path = if cf.is_stream("Workbook") {
        "Workbook"
    } else if cf.is_stream("Book") {
        "Book"
    } else if cf.is_stream("WordDocument") {
        return Err(SheetError::NotASpreadsheet {
            what: "a Word 97-2003 document".into(),
        });
    } else if cf.is_stream("PowerPoint Document") {
        return Err(SheetError::NotASpreadsheet {
            what: "a PowerPoint 97-2003 presentation".into(),
        });
    } else {
        return Err(SheetError::NotASpreadsheet {
            what: "an Office file without a workbook in it".into(),
        });
    };
    let mut stream = cf
        .open_stream(path)
        .map_err(|e| SheetError::malformed(F, e))?;
    if stream.len() > bytes.len() as u64 {
        return Err(SheetError::Truncated {
            detail: "the workbook stream is longer than the file".into(),
        });
    }
    let mut data = Vec::with_capacity(stream.len() as usize);
    stream
        .read_to_end(&mut data)
        .map_err(|e| SheetError::Truncated {
            detail: format!("the workbook stream cannot be read whole: {e}"),
        })?;
    check_biff(&data, limits)?;
    Ok(CfbKind::Xls)
}

fn u16_at(d: &[u8], i: usize) -> u64 {
    d.get(i..i + 2)
        .map_or(0, |b| u64::from(u16::from_le_bytes([b[0], b[1]])))
}

fn u32_at(d: &[u8], i: usize) -> u64 {
    d.get(i..i + 4).map_or(0, |b| {
        u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    })
}

/// BIFF records from `pos`: (type, data), stopping at the end or at a record that runs past it.
fn records(stream: &[u8], mut pos: usize) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let head = stream.get(pos..pos + 4)?;
        let typ = u16::from_le_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
        let data = stream.get(pos + 4..pos + 4 + len)?;
        pos += 4 + len;
        Some((typ, data))
    })
}

/// Sizes calamine allocates, in bytes, per value (a positioned value, a dense value, a dense
/// formula string).
const SPARSE: u64 = 40;
const DENSE: u64 = 32;
const FORMULA: u64 = 24;

#[derive(Default)]
struct Bounds {
    min: Option<(u64, u64)>,
    max: (u64, u64),
    count: u64,
}

impl Bounds {
    fn add(&mut self, row: u64, col_first: u64, col_last: u64) {
        let (r0, c0) = self.min.unwrap_or((row, col_first));
        self.min = Some((r0.min(row), c0.min(col_first)));
        self.max = (self.max.0.max(row), self.max.1.max(col_last));
        self.count += col_last.saturating_sub(col_first) + 1;
    }

    fn dense(&self) -> u64 {
        match self.min {
            Some((r0, c0)) => (self.max.0 - r0 + 1).saturating_mul(self.max.1 - c0 + 1),
            None => 0,
        }
    }
}

fn check_biff(stream: &[u8], limits: &Limits) -> Result<(), SheetError> {
    let mut sheets = Vec::new();
    let mut bytes: u64 = 0;
    let mut recs = records(stream, 0).peekable();
    while let Some((typ, data)) = recs.next() {
        match typ {
            0x002F if u16_at(data, 0) != 0 => return Err(SheetError::PasswordProtected),
            0x0085 => sheets.push(u32_at(data, 0) as usize),
            0x00FC => {
                let mut segments = vec![data];
                while let Some((0x003C, cont)) = recs.peek() {
                    segments.push(cont);
                    recs.next();
                }
                bytes = bytes.saturating_add(sst_estimate(&segments));
            }
            0x000A => break,
            _ => {}
        }
    }
    let mut dense_total: u64 = 0;
    for pos in sheets {
        if pos >= stream.len() {
            return Err(SheetError::Truncated {
                detail: "a sheet starts past the end of the workbook".into(),
            });
        }
        let mut cells = Bounds::default();
        let mut formulas = Bounds::default();
        let mut declared: u64 = 0;
        for (typ, d) in records(stream, pos) {
            match typ {
                0x0200 => {
                    let (rf, rl, cf, cl) = match d.len() {
                        10 => (u16_at(d, 0), u16_at(d, 2), u16_at(d, 4), u16_at(d, 6)),
                        14 => (u32_at(d, 0), u32_at(d, 4), u16_at(d, 8), u16_at(d, 10)),
                        _ => continue,
                    };
                    let cf = if cf > 0xFF || cl < cf { 0 } else { cf };
                    if rl >= 1 && cl >= 1 {
                        if rl - 1 < rf {
                            return Err(SheetError::malformed(
                                F,
                                "a sheet declares impossible dimensions",
                            ));
                        }
                        declared = (rl - rf).saturating_mul((cl - 1).saturating_sub(cf) + 1);
                    }
                }
                0x0203 | 0x0204 | 0x0205 | 0x027E | 0x00FD => {
                    cells.add(u16_at(d, 0), u16_at(d, 2), u16_at(d, 2));
                }
                0x00BD if d.len() >= 6 => {
                    let last = u16_at(d, d.len() - 2);
                    cells.add(u16_at(d, 0), u16_at(d, 2), last.max(u16_at(d, 2)));
                }
                0x0006 => {
                    cells.add(u16_at(d, 0), u16_at(d, 2), u16_at(d, 2));
                    formulas.add(u16_at(d, 0), u16_at(d, 2), u16_at(d, 2));
                }
                0x000A => break,
                _ => {}
            }
        }
        dense_total = dense_total.saturating_add(cells.dense());
        bytes = bytes
            .saturating_add(declared.saturating_mul(SPARSE))
            .saturating_add(cells.count.saturating_mul(SPARSE))
            .saturating_add(cells.dense().saturating_mul(DENSE))
            .saturating_add(formulas.count.saturating_mul(SPARSE))
            .saturating_add(formulas.dense().saturating_mul(FORMULA));
        if dense_total > limits.max_cells {
            return Err(SheetError::TooManyCells {
                max: limits.max_cells,
            });
        }
        if bytes > XLS_BUDGET {
            return Err(SheetError::TooMuchData {
                max_mib: XLS_BUDGET >> 20,
            });
        }
    }
    if bytes > XLS_BUDGET {
        return Err(SheetError::TooMuchData {
            max_mib: XLS_BUDGET >> 20,
        });
    }
    Ok(())
}

/// Estimated heap bytes of the shared string table once loaded: it walks the strings of the SST
/// record and its CONTINUE records (a string's characters may continue in the next record,
/// which then starts with a fresh flags byte).
fn sst_estimate(segments: &[&[u8]]) -> u64 {
    struct Cur<'a> {
        segs: &'a [&'a [u8]],
        seg: usize,
        pos: usize,
    }
    impl Cur<'_> {
        fn left(&self) -> usize {
            self.segs.get(self.seg).map_or(0, |s| s.len() - self.pos)
        }
        fn next_seg(&mut self) -> bool {
            self.seg += 1;
            self.pos = 0;
            self.seg < self.segs.len()
        }
        fn byte(&mut self) -> Option<u8> {
            while self.left() == 0 {
                if !self.next_seg() {
                    return None;
                }
            }
            let b = self.segs[self.seg][self.pos];
            self.pos += 1;
            Some(b)
        }
        fn skip(&mut self, mut n: u64) -> Option<()> {
            while n > 0 {
                if self.left() == 0 && !self.next_seg() {
                    return None;
                }
                let k = (self.left() as u64).min(n);
                self.pos += k as usize;
                n -= k;
            }
            Some(())
        }
    }
    let mut c = Cur {
        segs: segments,
        seg: 0,
        pos: 0,
    };
    let mut count: u64 = 0;
    let mut text: u64 = 0;
    if c.skip(8).is_none() {
        return 0;
    }
    let mut walk = || -> Option<()> {
        loop {
            let cch = u64::from(c.byte()?) | (u64::from(c.byte()?) << 8);
            let flags = c.byte()?;
            let mut wide = flags & 1 != 0;
            let runs = if flags & 8 != 0 {
                u64::from(c.byte()?) | (u64::from(c.byte()?) << 8)
            } else {
                0
            };
            let ext = if flags & 4 != 0 {
                let mut v = 0u64;
                for i in 0..4 {
                    v |= u64::from(c.byte()?) << (8 * i);
                }
                v
            } else {
                0
            };
            let mut left = cch;
            while left > 0 {
                if c.left() == 0 {
                    if !c.next_seg() {
                        return None;
                    }
                    wide = c.byte()? & 1 != 0;
                }
                let per = if wide { 2 } else { 1 };
                let n = ((c.left() / per) as u64).min(left).max(1);
                c.skip(n * per as u64)?;
                left -= n;
            }
            c.skip(runs * 4 + ext)?;
            count += 1;
            text += cch * if wide { 3 } else { 1 };
        }
    };
    walk();
    count * 56 + text
}
