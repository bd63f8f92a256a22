//! Tests of [`super`]: synonyms, typos, finding the header row, roles.

use super::synonyms::{typo_match, CAMPAIGN, EMAIL, FIRST, LAST, PHONE};
use super::*;
use crate::sheet::{Cell, Format, Row, Sheet, Workbook};
use std::collections::HashMap;

fn row(number: u32, cells: &[&str]) -> Row {
    Row {
        number,
        cells: cells
            .iter()
            .map(|s| {
                if s.is_empty() {
                    Cell::Empty
                } else {
                    Cell::Text(s.to_string())
                }
            })
            .collect(),
    }
}

fn book(sheets: Vec<(&str, Vec<Row>)>) -> Workbook {
    Workbook {
        format: Format::Xlsx,
        sheets: sheets
            .into_iter()
            .map(|(name, rows)| Sheet {
                name: name.into(),
                rows,
            })
            .collect(),
    }
}

fn roles(m: &Mapping) -> Vec<(String, Role)> {
    m.columns
        .iter()
        .map(|c| (c.header.clone(), c.role))
        .collect()
}

#[test]
fn synonyms_in_four_languages() {
    for (h, k) in [
        ("First Name", FIRST),
        ("GIVEN NAME", FIRST),
        ("forename", FIRST),
        ("Primer nombre", FIRST),
        ("Unang pangalan", FIRST),
        ("Nombre(s)", Kind::Name),
        ("Pangalan", Kind::Name),
        ("Last Name", LAST),
        ("Surname", LAST),
        ("Family name", LAST),
        ("Apellido(s)", LAST),
        ("Sobrenome", LAST),
        ("Apelido", LAST),
        ("Apelyido", LAST),
        ("Mobile", PHONE),
        ("Mobile No.", PHONE),
        ("Contact No.", PHONE),
        ("Cellphone", PHONE),
        ("Celular", PHONE),
        ("Telefone", PHONE),
        ("Teléfono", PHONE),
        ("TELEFONO", PHONE),
        ("Phone", PHONE),
        ("Numero", PHONE),
        ("E-mail Address", EMAIL),
        ("Email", EMAIL),
        ("Correo", EMAIL),
        ("Correo electrónico", EMAIL),
        ("e-mail", EMAIL),
        ("Campaign", CAMPAIGN),
        ("Campaña", CAMPAIGN),
        ("Campanha", CAMPAIGN),
        ("Campaign ID", CAMPAIGN),
        ("Full Name", Kind::FullName),
        ("Name", Kind::Name),
        ("Nombre completo", Kind::FullName),
        ("Nome completo", Kind::FullName),
        ("Buong pangalan", Kind::FullName),
    ] {
        assert_eq!(classify(h), Some(k), "{h}");
    }
}

#[test]
fn insensitive_to_case_space_accents_punctuation() {
    assert_eq!(classify("  e-MAIL   address: "), Some(EMAIL));
    assert_eq!(classify("\u{00A0}Teléfono\u{200B}"), Some(PHONE));
    assert_eq!(classify("CORREO ELECTRONICO"), Some(EMAIL));
    assert_eq!(classify("first_name"), Some(FIRST));
    assert_eq!(classify("Phone (with country code)"), Some(PHONE));
    assert_eq!(classify("Candidate Email"), Some(EMAIL));
    assert_eq!(classify("Applicant Full Name"), Some(Kind::FullName));
}

#[test]
fn close_typos_map_but_never_ambiguously() {
    assert_eq!(classify("Emial"), Some(EMAIL));
    assert_eq!(classify("Frist Name"), Some(FIRST));
    assert_eq!(classify("Last Nmae"), Some(LAST));
    assert_eq!(classify("Telefno"), Some(PHONE));
    assert_eq!(classify("Celullar"), Some(PHONE));
    assert_eq!(classify("Nmae"), Some(Kind::Name)); // swap on a 4-letter key
                                                    // Substitutions on 4-letter keys do not count.
    assert_eq!(classify("List"), None);
    assert_eq!(classify("Call"), None);
    assert_eq!(classify("Same"), None);
    // Too short for typos.
    assert_eq!(classify("Age"), None);
    // Unrelated columns stay custom.
    for h in [
        "Notes",
        "Position",
        "Source",
        "Birthday",
        "Middle Name",
        "Address",
    ] {
        assert_eq!(classify(h), None, "{h}");
    }
}

#[test]
fn typo_match_refuses_ambiguity() {
    let mut map = HashMap::new();
    map.insert("abcde".to_string(), EMAIL);
    map.insert("abcdf".to_string(), PHONE);
    assert_eq!(typo_match("abcdx", &map), None);
    assert_eq!(typo_match("abdce", &map), Some(EMAIL));
}

#[test]
fn first_recognisable_row_of_first_sheet_that_has_one() {
    let wb = book(vec![
        ("Instructions", vec![row(1, &["Fill in the next sheet"])]),
        (
            "Candidates",
            vec![
                row(1, &["ACME Staffing — March"]),
                row(3, &["First Name", "", "Last Name", "Email", "Notes"]),
                row(4, &["Ana", "", "Reyes", "ana@example.com", "x"]),
            ],
        ),
    ]);
    let m = find_header(&wb).unwrap();
    assert_eq!(m.sheet, "Candidates");
    assert_eq!(m.sheet_index, 1);
    assert_eq!(m.header_row, 3);
    assert_eq!(m.first_data_row, 2);
    assert_eq!(
        roles(&m),
        vec![
            ("First Name".into(), Role::Field(Field::FirstName)),
            ("Last Name".into(), Role::Field(Field::LastName)),
            ("Email".into(), Role::Field(Field::Email)),
            ("Notes".into(), Role::Custom),
        ]
    );
    assert_eq!(m.columns[1].index, 2, "blank column skipped, index kept");
}

#[test]
fn name_columns_resolve_by_context() {
    let m = |cells: &[&str]| {
        find_header(&book(vec![("S", vec![row(1, cells)])]))
            .map(|m| roles(&m).into_iter().map(|(_, r)| r).collect::<Vec<_>>())
    };
    use Role::*;
    // Nome + Sobrenome: Nome is the first name.
    assert_eq!(
        m(&["Nome", "Sobrenome", "Celular"]).unwrap(),
        vec![
            Field(crate::field::Field::FirstName),
            Field(crate::field::Field::LastName),
            Field(crate::field::Field::Phone)
        ]
    );
    // Name alone: a full name.
    assert_eq!(
        m(&["Name", "Email"]).unwrap(),
        vec![FullName, Field(crate::field::Field::Email)]
    );
    // First + Last + Full Name: the full name is custom.
    assert_eq!(
        m(&["Full Name", "First Name", "Last Name", "Phone"]).unwrap()[0],
        Custom
    );
    // First name only + Full name: the full name fills the last name.
    assert_eq!(
        m(&["First Name", "Full Name", "Phone"]).unwrap()[1],
        FullName
    );
    // A second email column is custom.
    assert_eq!(m(&["Full Name", "Email", "Email 2"]).unwrap()[2], Custom);
}

#[test]
fn header_needs_names_and_a_contact() {
    let wb = book(vec![(
        "Sheet1",
        vec![
            row(1, &["First Name", "Last Name", "Birthday"]),
            row(2, &["Ana", "Reyes", "ana@example.com"]),
        ],
    )]);
    let e = find_header(&wb).unwrap_err();
    assert_eq!(e.sheet.as_deref(), Some("Sheet1"));
    assert_eq!(e.row, Some(1));
    assert_eq!(e.found, vec!["First Name", "Last Name", "Birthday"]);
    assert_eq!(e.missing, vec!["an email or a phone column"]);
    let msg = e.to_string();
    assert!(msg.contains("\"Birthday\""), "{msg}");
    assert!(msg.contains("an email or a phone column"), "{msg}");
    assert!(
        msg.contains("First Name, Last Name, Email, Mobile"),
        "{msg}"
    );
}

#[test]
fn header_error_never_shows_emails_or_phones() {
    let wb = book(vec![(
        "S",
        vec![row(1, &["Ana Reyes", "ana@example.com", "0917 123 4567"])],
    )]);
    let e = find_header(&wb).unwrap_err();
    assert!(!e.to_string().contains('@'));
    assert!(!e.to_string().contains("4567"));
}

#[test]
fn header_beyond_the_search_window_is_not_found() {
    let mut rows: Vec<Row> = (1..=20).map(|n| row(n, &["filler"])).collect();
    rows.push(row(21, &["First Name", "Last Name", "Email"]));
    let e = find_header(&book(vec![("S", rows)])).unwrap_err();
    assert!(e.to_string().contains("first 20 rows"));
    let e = find_header(&book(vec![])).unwrap_err();
    assert!(e.found.is_empty());
    assert!(e
        .to_string()
        .contains("no row that looks like column headers"));
}
