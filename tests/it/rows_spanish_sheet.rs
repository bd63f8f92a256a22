//! Issue acceptance 3: a sheet with Spanish headers two rows down, a "Nombre completo" column and
//! a misspelt "Emial" column maps and prepares correctly; the results workbook reads back as text.

use agency_portal::directory::{Agency, Campaign, Directory, Role as UserRole, User};
use agency_portal::field::Field;
use agency_portal::header::Role;
use agency_portal::i18n::{Catalogue, Lang};
use agency_portal::outcome::Outcome;
use agency_portal::results::{self, FixRow, ResultRow};
use agency_portal::rows::prepare;
use agency_portal::sheet::{Cell, Format, Row, Sheet, Workbook};
use agency_portal::validation::Context;

fn directory() -> Directory {
    Directory {
        owners: vec![],
        recruiters: vec![],
        agencies: vec![Agency {
            id: "talento-mx".into(),
            name: "Talento MX".into(),
            country: "MX".into(),
            active: true,
            added_by: "olivia@company.example".into(),
            added_on: None,
            logo: None,
            domains: vec!["talento.mx".into()],
            language: agency_portal::i18n::Lang::Es,
            users: vec![User {
                email: "rh@talento.mx".into(),
                name: "Recursos Humanos".into(),
                role: UserRole::Admin,
            }],
        }],
        campaigns: vec![
            Campaign {
                id: "50100".into(),
                name: "Atención a Clientes CDMX".into(),
                country: "MX".into(),
                active: true,
                created_by: "olivia@company.example".into(),
                created_on: None,
                required: None,
            },
            Campaign {
                id: "50101".into(),
                name: "Soporte Técnico Guadalajara".into(),
                country: "MX".into(),
                active: true,
                created_by: "olivia@company.example".into(),
                created_on: None,
                required: None,
            },
        ],
    }
}

fn t(s: &str) -> Cell {
    if s.is_empty() {
        Cell::Empty
    } else {
        Cell::Text(s.into())
    }
}

#[test]
fn spanish_sheet_with_blank_rows_full_name_and_misspelt_email() {
    // Rows 1 and 2 are blank: the reader leaves them out, the header is row 3.
    let wb = Workbook {
        format: Format::Xlsx,
        sheets: vec![Sheet {
            name: "Candidatos".into(),
            rows: vec![
                Row {
                    number: 3,
                    cells: vec![
                        t("Nombre completo"),
                        t("Emial"),
                        t("Teléfono"),
                        t("Campaña"),
                        t(""),
                        t("Observaciones"),
                    ],
                },
                Row {
                    number: 4,
                    cells: vec![
                        t("  María José  Hernández López "),
                        t("MJ.Hernandez@Gmail.com"),
                        t("55 1234 5678"),
                        t("atencion a clientes cdmx"),
                        t(""),
                        t("Turno matutino"),
                    ],
                },
                Row {
                    number: 5,
                    cells: vec![
                        t("Pérez, Juan Carlos"),
                        t(""),
                        Cell::Number(3312345678.0),
                        t("50101"),
                    ],
                },
                Row {
                    number: 6,
                    cells: vec![
                        t("Luis"),
                        t("rh@talento.mx"),
                        t("=HYPERLINK(\"http://x\")"),
                        t("50100"),
                    ],
                },
            ],
        }],
    };
    let d = directory();
    let ctx = Context {
        directory: &d,
        agency: d.agency("talento-mx").unwrap(),
        submitter_active: true,
        default_campaign: None,
    };
    let p = prepare(&wb, &ctx).expect("header found");

    assert_eq!(p.mapping.sheet, "Candidatos");
    assert_eq!(p.mapping.header_row, 3);
    let roles: Vec<(&str, Role)> = p
        .mapping
        .columns
        .iter()
        .map(|c| (c.header.as_str(), c.role))
        .collect();
    assert_eq!(
        roles,
        vec![
            ("Nombre completo", Role::FullName),
            ("Emial", Role::Field(Field::Email)),
            ("Teléfono", Role::Field(Field::Phone)),
            ("Campaña", Role::Field(Field::Campaign)),
            ("Observaciones", Role::Custom),
        ]
    );

    assert_eq!(p.rows.len(), 3);
    let maria = &p.rows[0];
    assert_eq!(maria.number, 4);
    assert_eq!(maria.invalid, None);
    assert_eq!(maria.candidate.first_name().display, "María José Hernández");
    assert_eq!(maria.candidate.last_name().display, "López");
    assert_eq!(maria.candidate.email_key(), Some("mjhernandez@gmail.com"));
    assert_eq!(maria.candidate.phone(), Some("+525512345678"));
    assert_eq!(maria.candidate.campaign_id(), Some("50100"));
    assert_eq!(
        maria.custom(),
        vec![(
            std::sync::Arc::from("Observaciones"),
            "Turno matutino".to_string()
        )]
    );

    let juan = &p.rows[1];
    assert_eq!(juan.number, 5);
    assert_eq!(juan.invalid, None);
    assert_eq!(juan.candidate.first_name().display, "Juan Carlos");
    assert_eq!(juan.candidate.last_name().display, "Pérez");
    assert_eq!(juan.candidate.phone(), Some("+523312345678"));
    assert_eq!(&juan.cells[2], "3312345678");

    let luis = &p.rows[2];
    let reason = luis.invalid.as_ref().unwrap().english();
    assert!(reason.starts_with("last name: missing"), "{reason}");
    assert!(
        reason.contains("email: this is your agency's contact, not the candidate's"),
        "{reason}"
    );
    assert!(reason.contains("phone: not a phone number"), "{reason}");

    // Results and to-fix workbooks read back with the agency's text intact, in its language
    // (SPEC §7 (r2)): sheet, added columns and reasons in Spanish, outcome codes as they are.
    let es = Catalogue::shipped(Lang::Es);
    let reasons: Vec<String> = p
        .rows
        .iter()
        .map(|r| r.invalid.as_ref().map(|i| i.render(es)).unwrap_or_default())
        .collect();
    assert_eq!(
        reasons[2],
        "apellido: falta este dato; teléfono: no es un número de teléfono; correo: este es un \
         contacto de su agencia, no del candidato"
    );
    let labels = results::Labels::new(es);
    let headers = p.mapping.headers();
    let outcomes: Vec<Outcome> = p
        .rows
        .iter()
        .map(|r| {
            if r.is_valid() {
                Outcome::New
            } else {
                Outcome::Invalid
            }
        })
        .collect();
    let bytes = results::results_workbook_in(
        &headers,
        &labels,
        p.rows
            .iter()
            .zip(&outcomes)
            .zip(&reasons)
            .map(|((r, o), reason)| ResultRow {
                cells: &r.cells,
                outcome: *o,
                reason,
                candidate_id: None,
                source_row: r.number,
            }),
    )
    .unwrap();
    let fix = results::to_fix_workbook_in(
        &headers,
        &labels,
        p.rows
            .iter()
            .zip(&reasons)
            .filter(|(r, _)| !r.is_valid())
            .map(|(r, reason)| FixRow {
                cells: &r.cells,
                reason,
            }),
    )
    .unwrap();

    use calamine::{Data, Reader, Xlsx};
    let mut x: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let range = x.worksheet_range("Resultados").unwrap();
    let rows: Vec<&[Data]> = range.rows().collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0][0], Data::String("Nombre completo".into()));
    assert_eq!(rows[0][5], Data::String("Resultado".into()));
    assert_eq!(rows[0][6], Data::String("Motivo".into()));
    assert_eq!(rows[3][6], Data::String(reasons[2].clone()));
    assert_eq!(rows[3][2], Data::String("=HYPERLINK(\"http://x\")".into()));
    assert_eq!(rows[3][5], Data::String("invalid".into()));
    assert_eq!(rows[0][8], Data::String("Fila de origen".into()));
    assert_eq!(rows[3][8], Data::Float(f64::from(p.rows[2].number)));

    let mut x: Xlsx<_> = Xlsx::new(std::io::Cursor::new(fix)).unwrap();
    let range = x.worksheet_range("Por corregir").unwrap();
    let rows: Vec<&[Data]> = range.rows().collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][5], Data::String("Motivo".into()));
    assert_eq!(rows[1][0], Data::String("Luis".into()));
}
