//! Hostile and broken spreadsheets (issue 3): each is refused with its specific reason (or read,
//! where reading is right), in a child process whose peak RSS (VmHWM) must stay under 256 MB.
//! The child is this test binary re-run with `SHEET_READ_CHILD=<file>`, selecting `child_entry`,
//! under a 1 GiB address-space limit as a safety net. `hostile_files_then_valid_in_one_process`
//! reads all of them in one child, then a valid file.
//!
//! Small fixtures: tests/fixtures/hostile/ (made by scripts/make-hostile-fixtures). Large ones
//! (30 MB file, 5 million cells, 200,001 rows) are generated here into a temp dir.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use agency_portal::sheet::{read, Cell, Format, Limits, SheetError, Workbook};

use crate::support;

const CHILD_ENV: &str = "SHEET_READ_CHILD";
const MAX_RSS_KB: u64 = 256 * 1024;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hostile")
        .join(name)
}

/// One line describing the outcome of a read, the same in parent and child.
fn describe(r: &Result<Workbook, SheetError>) -> String {
    match r {
        Ok(wb) => format!(
            "Ok {:?} sheets={} rows={}",
            wb.format,
            wb.sheets.len(),
            wb.sheets.iter().map(|s| s.rows.len()).sum::<usize>()
        ),
        Err(e) => format!("Err {e:?}"),
    }
}

fn vm_hwm_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// In a normal run: a valid file reads in-process. In child mode: reads the files named in
/// `SHEET_READ_CHILD` (separated by newlines) and prints each outcome and the peak RSS.
#[test]
fn child_entry() {
    let Ok(files) = std::env::var(CHILD_ENV) else {
        let wb = read(
            &std::fs::read(fixture("valid.xlsx")).unwrap(),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(wb.sheets[0].rows.len(), 2);
        return;
    };
    for file in files.lines() {
        let bytes = std::fs::read(file).unwrap();
        let r = read(&bytes, &Limits::default());
        println!("OUTCOME\t{}", describe(&r));
    }
    println!("VMHWM\t{}", vm_hwm_kb());
}

struct ChildReport {
    outcomes: Vec<String>,
    hwm_kb: u64,
}

fn run_child(files: &[PathBuf]) -> ChildReport {
    let list: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let mut cmd = support::this_test_binary(module_path!(), "child_entry");
    cmd.env(CHILD_ENV, list.join("\n"));
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 1 << 30,
                rlim_max: 1 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed on {list:?}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let outcomes = stdout
        .lines()
        .filter_map(|l| l.split_once("OUTCOME\t").map(|(_, o)| o))
        .map(str::to_owned)
        .collect::<Vec<_>>();
    let hwm_kb = stdout
        .lines()
        .find_map(|l| l.split_once("VMHWM\t").map(|(_, v)| v.trim()))
        .and_then(|v| v.parse().ok())
        .expect("child printed its peak RSS");
    assert_eq!(outcomes.len(), files.len());
    ChildReport { outcomes, hwm_kb }
}

/// Reads `file` in a child, checks the outcome starts with `expected`, and the memory bound.
fn refuse(file: PathBuf, expected: &str) {
    let report = run_child(std::slice::from_ref(&file));
    let outcome = &report.outcomes[0];
    eprintln!(
        "{}: {outcome}; peak RSS {} KiB",
        file.file_name().unwrap().to_string_lossy(),
        report.hwm_kb
    );
    assert!(
        outcome.starts_with(expected),
        "{}: expected {expected}, got {outcome}",
        file.display()
    );
    assert!(
        report.hwm_kb < MAX_RSS_KB,
        "{}: peak RSS {} KiB",
        file.display(),
        report.hwm_kb
    );
}

fn read_fixture(name: &str) -> Result<Workbook, SheetError> {
    read(&std::fs::read(fixture(name)).unwrap(), &Limits::default())
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_owned())
}

// ---- Large files, generated once per test process ----

fn big_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

fn big_file(name: &str, make: impl FnOnce(&Path)) -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap();
    let path = big_dir().join(name);
    if !path.exists() {
        make(&path);
    }
    path
}

/// A minimal zip writer: (name, data) entries, the big ones deflated from a repeated block.
struct Part<'a> {
    name: &'a str,
    head: &'a [u8],
    block: &'a [u8],
    times: usize,
    tail: &'a [u8],
}

fn write_zip(path: &Path, parts: &[Part<'_>]) {
    use flate2::{Compress, Compression, FlushCompress};
    let mut out = Vec::new();
    let mut central = Vec::new();
    let mut count = 0u16;
    for p in parts {
        // Deflate head, then the block `times` times (a full flush makes every repetition
        // compress to the same bytes), then the tail.
        let deflate = |input: &[u8], c: &mut Compress, flush| {
            let mut buf = Vec::with_capacity(input.len() + 1024);
            c.compress_vec(input, &mut buf, flush).unwrap();
            buf
        };
        let mut c = Compress::new(Compression::default(), false);
        let mut data = deflate(p.head, &mut c, FlushCompress::Full);
        let first = deflate(p.block, &mut c, FlushCompress::Full);
        let again = deflate(p.block, &mut c, FlushCompress::Full);
        data.extend_from_slice(&first);
        for _ in 1..p.times {
            data.extend_from_slice(&again);
        }
        data.extend(deflate(p.tail, &mut c, FlushCompress::Finish));
        let mut crc = crc32fast::Hasher::new();
        crc.update(p.head);
        for _ in 0..p.times {
            crc.update(p.block);
        }
        crc.update(p.tail);
        let crc = crc.finalize();
        let size = (p.head.len() + p.block.len() * p.times + p.tail.len()) as u32;
        let offset = out.len() as u32;
        let name = p.name.as_bytes();
        let common = |v: &mut Vec<u8>| {
            v.extend(8u16.to_le_bytes()); // deflate
            v.extend(0u32.to_le_bytes()); // time, date
            v.extend(crc.to_le_bytes());
            v.extend((data.len() as u32).to_le_bytes());
            v.extend(size.to_le_bytes());
            v.extend((name.len() as u16).to_le_bytes());
            v.extend(0u16.to_le_bytes()); // extra
        };
        out.extend(0x04034b50u32.to_le_bytes());
        out.extend(20u16.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        common(&mut out);
        out.extend(name);
        out.extend(&data);
        central.extend(0x02014b50u32.to_le_bytes());
        central.extend(20u16.to_le_bytes());
        central.extend(20u16.to_le_bytes());
        central.extend(0u16.to_le_bytes());
        common(&mut central);
        central.extend([0u8; 10]); // comment length, disk, internal and external attributes
        central.extend(offset.to_le_bytes());
        central.extend(name);
        count += 1;
    }
    let cd_offset = out.len() as u32;
    out.extend(&central);
    out.extend(0x06054b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend(count.to_le_bytes());
    out.extend(count.to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    std::fs::write(path, out).unwrap();
}

fn small(name: &'static str, xml: &'static [u8]) -> Part<'static> {
    Part {
        name,
        head: xml,
        block: b"",
        times: 0,
        tail: b"",
    }
}

/// An xlsx whose sheet holds `rows` identical rows of `cols` number cells.
fn grid_xlsx(path: &Path, rows: usize, cols: usize) {
    let block: Vec<u8> = [
        b"<row>".to_vec(),
        b"<c><v>1</v></c>".repeat(cols),
        b"</row>".to_vec(),
    ]
    .concat();
    write_zip(
        path,
        &[
            small(
                "[Content_Types].xml",
                br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
            ),
            small(
                "_rels/.rels",
                br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
            ),
            small(
                "xl/workbook.xml",
                br#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
            ),
            small(
                "xl/_rels/workbook.xml.rels",
                br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
            ),
            Part {
                name: "xl/worksheets/sheet1.xml",
                head: br#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
                block: &block,
                times: rows,
                tail: b"</sheetData></worksheet>",
            },
        ],
    );
}

fn five_million_cells() -> PathBuf {
    // 100,001 rows x 50 columns = 5,000,050 cells: over max_cells, under max_rows.
    big_file("five_million_cells.xlsx", |p| grid_xlsx(p, 100_001, 50))
}

fn over_max_file_bytes() -> PathBuf {
    big_file("thirty_mb.csv", |p| {
        let mut f = std::io::BufWriter::new(std::fs::File::create(p).unwrap());
        writeln!(f, "First Name,Last Name,Email,Mobile,Campaign").unwrap();
        let line = b"Ana,Reyes,ana.reyes@example.com,0917 123 4567,40123\n";
        for _ in 0..(30 * 1024 * 1024 / line.len() + 1) {
            f.write_all(line).unwrap();
        }
    })
}

fn too_many_rows() -> PathBuf {
    big_file("too_many_rows.csv", |p| {
        std::fs::write(p, b"a\n".repeat(200_001)).unwrap();
    })
}

// ---- One test per hostile file: refused with its reason, or read, within the memory bound ----

#[test]
fn zip_bomb_is_refused_from_declared_sizes() {
    refuse(fixture("zip_bomb.xlsx"), "Err ZipBomb");
}

#[test]
fn zip_bomb_with_lying_sizes_is_refused_while_inflating() {
    refuse(
        fixture("zip_bomb_lying_sizes.xlsx"),
        "Err ZipBomb { detail: \"the part xl/worksheets/sheet1.xml unpacks to more than the 1000",
    );
}

#[test]
fn cell_at_xfd1048576_reads_without_a_dense_range() {
    refuse(
        fixture("far_cell_xfd1048576.xlsx"),
        "Ok Xlsx sheets=1 rows=2",
    );
    let wb = read_fixture("far_cell_xfd1048576.xlsx").unwrap();
    let last = wb.sheets[0].rows.last().unwrap();
    assert_eq!(last.number, 1_048_576);
    assert_eq!(last.cells.len(), 16_384);
    assert_eq!(last.cells[16_383], text("far"));
}

#[test]
fn ods_with_far_cell_is_refused_before_calamine_densifies_it() {
    refuse(fixture("far_cell.ods"), "Err TooManyCells { max: 5000000 }");
}

#[test]
fn five_million_cells_are_refused() {
    refuse(five_million_cells(), "Err TooManyCells { max: 5000000 }");
}

#[test]
fn more_than_max_rows_are_refused() {
    refuse(too_many_rows(), "Err TooManyRows { max: 200000 }");
}

#[test]
fn billion_laughs_is_refused() {
    refuse(fixture("billion_laughs.xlsx"), "Err XmlDtd");
}

#[test]
fn encrypted_workbook_is_password_protected() {
    refuse(fixture("encrypted.xlsx"), "Err PasswordProtected");
    let msg = read_fixture("encrypted.xlsx").unwrap_err().to_string();
    assert!(msg.contains("save it without a password"), "{msg}");
}

#[test]
fn truncated_xlsx_is_refused() {
    refuse(fixture("truncated.xlsx"), "Err Truncated");
}

#[test]
fn xlsx_named_csv_is_read_as_xlsx() {
    refuse(fixture("xlsx_renamed.csv"), "Ok Xlsx sheets=1 rows=2");
}

#[test]
fn csv_named_xlsx_is_read_as_csv() {
    refuse(fixture("csv_renamed.xlsx"), "Ok Csv sheets=1 rows=2");
    let wb = read_fixture("csv_renamed.xlsx").unwrap();
    assert_eq!(wb.sheets[0].rows[1].cells[3], text("0917 123 4567"));
}

#[test]
fn empty_file_is_refused() {
    refuse(fixture("empty.csv"), "Err Empty");
}

#[test]
fn header_only_reads_one_row() {
    refuse(fixture("header_only.xlsx"), "Ok Xlsx sheets=1 rows=1");
}

#[test]
fn no_recognisable_header_still_returns_rows() {
    refuse(fixture("no_header.csv"), "Ok Csv sheets=1 rows=10");
}

#[test]
fn binary_junk_is_not_a_spreadsheet() {
    refuse(
        fixture("binary_junk.xlsx"),
        "Err NotASpreadsheet { what: \"binary data",
    );
}

#[test]
fn formulas_give_their_cached_values() {
    refuse(fixture("formulas.xlsx"), "Ok Xlsx sheets=1 rows=3");
    let wb = read_fixture("formulas.xlsx").unwrap();
    let rows = &wb.sheets[0].rows;
    assert_eq!(rows[1].cells[5], Cell::Number(2.0));
    assert_eq!(rows[2].cells, vec![text("http://x")]);
    // openpyxl saves formulas without a cached value: the cell reads as empty (and trailing
    // empty cells are dropped).
    let wb = read_fixture("formulas_no_cache.xlsx").unwrap();
    assert_eq!(wb.sheets[0].rows[1].cells.len(), 5);
}

#[test]
fn merged_header_cells_keep_the_value_in_the_first_cell() {
    refuse(fixture("merged_header.xlsx"), "Ok Xlsx sheets=1 rows=3");
    let wb = read_fixture("merged_header.xlsx").unwrap();
    let rows = &wb.sheets[0].rows;
    assert_eq!(rows[0].cells, vec![text("Candidates for March")]);
    assert_eq!(
        rows[1].cells[..3],
        [text("Name"), Cell::Empty, text("Email")]
    );
}

#[test]
fn hidden_first_sheet_is_skipped() {
    refuse(
        fixture("hidden_first_sheet.xlsx"),
        "Ok Xlsx sheets=1 rows=2",
    );
    let wb = read_fixture("hidden_first_sheet.xlsx").unwrap();
    assert_eq!(wb.sheets[0].name, "Candidates");
    refuse(
        fixture("only_hidden_sheet.xlsx"),
        "Err NoData { hidden: \" (it has hidden sheets",
    );
}

#[test]
fn two_hundred_columns_are_read() {
    refuse(fixture("wide_200_columns.xlsx"), "Ok Xlsx sheets=1 rows=2");
    let wb = read_fixture("wide_200_columns.xlsx").unwrap();
    assert!(wb.sheets[0].rows.iter().all(|r| r.cells.len() == 200));
}

#[test]
fn file_over_max_file_bytes_is_refused() {
    refuse(over_max_file_bytes(), "Err FileTooLarge");
}

#[test]
fn utf16_without_bom_is_decoded() {
    refuse(fixture("utf16_no_bom.csv"), "Ok Csv sheets=1 rows=2");
    let wb = read_fixture("utf16_no_bom.csv").unwrap();
    assert_eq!(wb.sheets[0].rows[1].cells[0], text("José"));
}

#[test]
fn nul_bytes_are_refused() {
    refuse(fixture("nul_bytes.csv"), "Err NulBytes { offset: 20 }");
}

#[test]
fn ten_thousand_character_cell_is_accepted_and_longer_than_excel_allows_is_refused() {
    refuse(fixture("long_cell_10000.csv"), "Ok Csv sheets=1 rows=2");
    let wb = read_fixture("long_cell_10000.csv").unwrap();
    assert!(matches!(&wb.sheets[0].rows[1].cells[5], Cell::Text(s) if s.len() == 10_000));
    refuse(
        fixture("long_cell_40000.csv"),
        "Err CellTooLong { row: 2, column: \"F\", max: 32767 }",
    );
}

#[test]
fn unclosed_quote_is_refused_with_its_line() {
    refuse(
        fixture("unclosed_quote.csv"),
        "Err UnclosedQuote { line: 2 }",
    );
}

#[test]
fn other_documents_named_as_spreadsheets_are_refused() {
    refuse(
        fixture("word_document.xlsx"),
        "Err NotASpreadsheet { what: \"a Word document\" }",
    );
    refuse(
        fixture("html_page.xls"),
        "Err NotASpreadsheet { what: \"a web page (HTML)",
    );
}

#[test]
fn xls_with_absurd_declared_dimensions_is_refused() {
    refuse(fixture("huge_dimensions.xls"), "Err TooMuchData");
    refuse(fixture("valid.xls"), "Ok Xls sheets=1 rows=1");
}

#[test]
fn hostile_files_then_valid_in_one_process() {
    let mut files: Vec<PathBuf> = [
        "zip_bomb.xlsx",
        "zip_bomb_lying_sizes.xlsx",
        "billion_laughs.xlsx",
        "encrypted.xlsx",
        "truncated.xlsx",
        "empty.csv",
        "binary_junk.xlsx",
        "nul_bytes.csv",
        "long_cell_40000.csv",
        "unclosed_quote.csv",
        "far_cell.ods",
        "huge_dimensions.xls",
        "far_cell_xfd1048576.xlsx",
    ]
    .iter()
    .map(|n| fixture(n))
    .collect();
    files.push(five_million_cells());
    files.push(over_max_file_bytes());
    files.push(too_many_rows());
    files.push(fixture("valid.xlsx"));
    let report = run_child(&files);
    eprintln!(
        "all hostile files in one process: peak RSS {} KiB",
        report.hwm_kb
    );
    let (last, hostile) = report.outcomes.split_last().unwrap();
    assert!(
        hostile[..12].iter().all(|o| o.starts_with("Err ")),
        "{hostile:?}"
    );
    assert_eq!(last, "Ok Xlsx sheets=1 rows=2");
    assert!(report.hwm_kb < MAX_RSS_KB, "peak RSS {} KiB", report.hwm_kb);
}

#[test]
fn valid_file_reads_after_refusals_in_this_process() {
    for name in ["zip_bomb.xlsx", "billion_laughs.xlsx", "encrypted.xlsx"] {
        assert!(read_fixture(name).is_err());
    }
    let wb = read_fixture("valid.xlsx").unwrap();
    assert_eq!(wb.format, Format::Xlsx);
    assert_eq!(
        wb.sheets[0].rows[1].cells,
        vec![
            text("Ana"),
            text("Reyes"),
            text("ana.reyes@example.com"),
            text("0917 123 4567"),
            text("40123")
        ]
    );
}
