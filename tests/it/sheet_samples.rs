//! The same 50 people written by different writers (samples/, made by scripts/make-samples)
//! read to the same cell texts once numbers are rendered. samples/people.csv is the truth, read
//! here with the csv crate directly, independent of the reader under test.

use std::path::Path;

use agency_portal::sheet::{read, Cell, Format, Limits, Row};

fn samples() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/samples"))
}

fn truth() -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(samples().join("people.csv")).unwrap();
    let rows: Vec<Vec<String>> = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.len(), 50);
    rows
}

/// A cell as text: whole numbers without a decimal point (a phone 639171234567.0 → "639171234567").
fn render(c: &Cell) -> String {
    match c {
        Cell::Empty => String::new(),
        Cell::Text(s) | Cell::Date(s) | Cell::Error(s) => s.clone(),
        Cell::Number(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Cell::Number(f) => f.to_string(),
        Cell::Bool(b) => b.to_string(),
    }
}

fn rendered(row: &Row) -> Vec<String> {
    let mut v: Vec<String> = row.cells.iter().map(render).collect();
    v.resize(6, String::new());
    v
}

/// Reads a sample; returns its header row and data rows.
fn check(name: &str, format: Format, header: [&str; 6]) -> Vec<Row> {
    let bytes = std::fs::read(samples().join(name)).unwrap();
    let wb = read(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(wb.format, format, "{name}");
    let sheet = &wb.sheets[0];
    let header_at = sheet
        .rows
        .iter()
        .position(|r| r.cells.first() == Some(&Cell::Text(header[0].into())))
        .unwrap_or_else(|| panic!("{name}: header not found"));
    let head = rendered(&sheet.rows[header_at]);
    assert_eq!(head, header.map(String::from).to_vec(), "{name}");
    let data = &sheet.rows[header_at + 1..];
    assert_eq!(data.len(), 50, "{name}");
    for (i, (row, want)) in data.iter().zip(truth()).enumerate() {
        // Line breaks in cells: LibreOffice may write CRLF inside a cell; compare with LF.
        let got: Vec<String> = rendered(row)
            .iter()
            .map(|s| s.replace("\r\n", "\n"))
            .collect();
        assert_eq!(
            got,
            want,
            "{name}: data row {} (sheet row {})",
            i + 1,
            row.number
        );
    }
    data.to_vec()
}

const EN: [&str; 6] = [
    "First Name",
    "Last Name",
    "Email",
    "Mobile",
    "Campaign",
    "Notes",
];

/// In workbooks, digit-only phones and campaign IDs were typed as numbers and must arrive as
/// exact floats (no digits lost).
fn assert_numbers_are_floats(name: &str, rows: &[Row]) {
    let first = &rows[0];
    assert_eq!(first.cells[3], Cell::Number(9273057718.0), "{name}");
    assert_eq!(first.cells[4], Cell::Number(40123.0), "{name}");
    let ph12 = rows
        .iter()
        .find(|r| r.cells[3] == Cell::Number(639184627813.0));
    assert!(ph12.is_some(), "{name}: 639184627813 as a number");
    // A phone with a leading zero was typed as text and stays text.
    assert!(rows
        .iter()
        .any(|r| r.cells[3] == Cell::Text("09186312223".into())));
}

#[test]
fn truth_csv_reads_as_itself() {
    check("people.csv", Format::Csv, EN);
}

#[test]
fn openpyxl_xlsx() {
    let rows = check("people-openpyxl.xlsx", Format::Xlsx, EN);
    assert_numbers_are_floats("openpyxl", &rows);
}

#[test]
fn xlsxwriter_xlsx_with_title_and_other_headers() {
    let rows = check(
        "people-xlsxwriter.xlsx",
        Format::Xlsx,
        [
            "Given name",
            "Surname",
            "E-mail Address",
            "Contact No.",
            "Campaign ID",
            "Source",
        ],
    );
    assert_numbers_are_floats("xlsxwriter", &rows);
    // The title is row 1, the header row 3 (row 2 is blank and dropped): numbers as shown.
    assert_eq!(rows[0].number, 4);
}

#[test]
fn libreoffice_xlsx() {
    let rows = check("people-libreoffice.xlsx", Format::Xlsx, EN);
    assert_numbers_are_floats("libreoffice xlsx", &rows);
}

#[test]
fn libreoffice_ods() {
    let rows = check("people-libreoffice.ods", Format::Ods, EN);
    assert_numbers_are_floats("libreoffice ods", &rows);
}

#[test]
fn libreoffice_xls() {
    let rows = check("people-libreoffice.xls", Format::Xls, EN);
    assert_numbers_are_floats("libreoffice xls", &rows);
}

#[test]
fn excel_csv_utf8_with_bom_and_crlf() {
    let bytes = std::fs::read(samples().join("people-excel-utf8.csv")).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF") && bytes.windows(2).any(|w| w == b"\r\n"));
    check("people-excel-utf8.csv", Format::Csv, EN);
}

#[test]
fn spanish_excel_csv_semicolons_windows_1252() {
    let bytes = std::fs::read(samples().join("people-excel-es.csv")).unwrap();
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "written as Windows-1252"
    );
    check(
        "people-excel-es.csv",
        Format::Csv,
        [
            "Nombre", "Apellido", "Correo", "Celular", "Campaña", "Notas",
        ],
    );
}

#[test]
fn google_sheets_csv() {
    check("people-google-sheets.csv", Format::Csv, EN);
}

#[test]
fn tsv() {
    check("people.tsv", Format::Tsv, EN);
}
