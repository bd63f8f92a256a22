//! Finding the header row and mapping its cells to fields (SPEC §5).
//!
//! The header is the first row, in the first sheet (in order) that has one, among the first
//! [`HEADER_SEARCH_ROWS`] non-blank rows, that is recognisable: it has a first name and a last name
//! column (or one full-name column) **and** an email or a phone column.
//!
//! Header cells are compared on [`text::compact_key`] (case, spaces, accents and punctuation ignored)
//! against synonyms in English, Spanish, Portuguese and Filipino; failing that, without a
//! parenthesised part ("Phone (with country code)"), without a leading "Candidate"/"Applicant"-like
//! word, and finally with one typo (one insertion, deletion, substitution or swap of two neighbouring
//! letters) when exactly one field is that close. Typos are only tried for keys of at least 4
//! characters; against 4-character synonyms ("last", "cell", "mail", "name") only a swap counts, so
//! "List" or "Call" stay custom fields.
//!
//! Name columns: "Full Name"-like headers are split into first and last name
//! ([`crate::normalise::split_full_name`]). A bare "Name" / "Nombre(s)" / "Nome" / "Pangalan" is the
//! first name when the sheet also has a last-name column ("Nome" + "Sobrenome", "Nombres" +
//! "Apellidos"), and a full name otherwise. When a sheet has both a first and a last name column, a
//! full-name column is kept as a custom field; when it has only one of them, the full name fills the
//! other.
//!
//! The first column of each field wins; a second column that maps to the same field ("Phone 2") is
//! kept as a custom field. Columns with a blank header are skipped; every other column is kept as a
//! custom field under its header text.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use crate::field::Field;
use crate::normalise::cell_text;
use crate::sheet::{Cell, Row, Workbook};
use crate::text;

/// How many non-blank rows at the top of each sheet are searched for the header.
pub const HEADER_SEARCH_ROWS: usize = 20;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Field(Field),
    /// A full name, split into first and last name (fills whichever has no column of its own).
    FullName,
    /// Kept as a custom field of the candidate under its header text.
    Custom,
}

/// One kept column of the header row.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Index of the cell in [`Row::cells`].
    pub index: usize,
    /// The header text as the agency wrote it (cleaned).
    pub header: String,
    pub role: Role,
}

/// Where the header is and what each column means.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub sheet: String,
    /// Index of the sheet in [`Workbook::sheets`].
    pub sheet_index: usize,
    /// The header's row number as the spreadsheet shows it.
    pub header_row: u32,
    /// Index in the sheet's `rows` of the first row after the header.
    pub first_data_row: usize,
    /// The non-blank header cells, left to right.
    pub columns: Vec<Column>,
}

impl Mapping {
    /// The column of a field, if the sheet has one.
    pub fn column(&self, field: Field) -> Option<&Column> {
        self.columns.iter().find(|c| c.role == Role::Field(field))
    }

    /// The header texts, left to right.
    pub fn headers(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.header.as_str()).collect()
    }
}

/// No sheet has a recognisable header: what was found and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct HeaderError {
    /// Sheet and row number of the closest candidate row, if any row had text.
    pub sheet: Option<String>,
    pub row: Option<u32>,
    /// The header-looking cells of that row (cells that look like emails or phone numbers are left
    /// out, long texts shortened).
    pub found: Vec<String>,
    /// What that row lacked, in plain words ("a last name column (or one full-name column)").
    pub missing: Vec<&'static str>,
}

impl HeaderError {
    /// The text in the catalogue's language (`unreadable.no_header` and after).
    pub fn render(&self, c: &crate::i18n::Catalogue) -> String {
        let mut out = c.fmt(
            "unreadable.no_header",
            &[("rows", &HEADER_SEARCH_ROWS.to_string())],
        );
        match (&self.sheet, self.row) {
            (Some(sheet), Some(row)) if !self.found.is_empty() => {
                let found: Vec<String> = self.found.iter().map(|h| format!("\"{h}\"")).collect();
                out.push_str(&c.fmt(
                    "unreadable.closest",
                    &[
                        ("row", &row.to_string()),
                        ("sheet", sheet),
                        ("found", &found.join(", ")),
                    ],
                ));
                if !self.missing.is_empty() {
                    let missing: Vec<&str> = self
                        .missing
                        .iter()
                        .map(|m| match MISSING_KEYS.iter().find(|(text, _)| text == m) {
                            Some((_, key)) => c.text(key),
                            None => m,
                        })
                        .collect();
                    out.push_str(&c.fmt(
                        "unreadable.closest_missing",
                        &[("missing", &missing.join(c.text("unreadable.and")))],
                    ));
                }
            }
            _ => out.push_str(c.text("unreadable.no_header_row")),
        }
        out.push_str(c.text("unreadable.expected"));
        out
    }
}

/// What a header row lacked ([`HeaderError::missing`]), with its catalogue key.
const MISSING_KEYS: [(&str, &str); 4] = [
    (MISSING_LAST_NAME, "unreadable.missing_last_name"),
    (MISSING_FIRST_NAME, "unreadable.missing_first_name"),
    (MISSING_NAMES, "unreadable.missing_names"),
    (MISSING_CONTACT, "unreadable.missing_contact"),
];
const MISSING_LAST_NAME: &str = "a last name column (or one full-name column)";
const MISSING_FIRST_NAME: &str = "a first name column (or one full-name column)";
const MISSING_NAMES: &str = "first and last name columns (or one full-name column)";
const MISSING_CONTACT: &str = "an email or a phone column";

/// In English (logs, the stored record); [`HeaderError::render`] words it in any language.
impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(crate::i18n::Catalogue::english()))
    }
}

/// What a header cell means before the sheet's other columns are considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Field(Field),
    /// "Full Name", "Nombre completo": always a full name.
    FullName,
    /// "Name", "Nombre", "Nome", "Pangalan": the first name next to a last-name column, else a full
    /// name.
    Name,
}

const FIRST: Kind = Kind::Field(Field::FirstName);
const LAST: Kind = Kind::Field(Field::LastName);
const EMAIL: Kind = Kind::Field(Field::Email);
const PHONE: Kind = Kind::Field(Field::Phone);
const CAMPAIGN: Kind = Kind::Field(Field::Campaign);

/// Header synonyms (written as people write them; compared on their compact key).
const SYNONYMS: &[(&str, Kind)] = &[
    // First name
    ("First Name", FIRST),
    ("First Names", FIRST),
    ("First", FIRST),
    ("FName", FIRST),
    ("Given Name", FIRST),
    ("Given Names", FIRST),
    ("Forename", FIRST),
    ("Forenames", FIRST),
    ("Primer Nombre", FIRST),
    ("Nombre de pila", FIRST),
    ("Primeiro Nome", FIRST),
    ("Prenome", FIRST),
    ("Unang Pangalan", FIRST),
    ("Pangalan (Una)", FIRST),
    // Bare names
    ("Name", Kind::Name),
    ("Names", Kind::Name),
    ("Nombre", Kind::Name),
    ("Nombres", Kind::Name),
    ("Nombre(s)", Kind::Name),
    ("Nome", Kind::Name),
    ("Pangalan", Kind::Name),
    // Full names
    ("Full Name", Kind::FullName),
    ("Complete Name", Kind::FullName),
    ("Name and Surname", Kind::FullName),
    ("Full Name (First Last)", Kind::FullName),
    ("Nombre completo", Kind::FullName),
    ("Nombres completos", Kind::FullName),
    ("Nombre y apellido", Kind::FullName),
    ("Nombre y apellidos", Kind::FullName),
    ("Nombres y apellidos", Kind::FullName),
    ("Nome completo", Kind::FullName),
    ("Nome e sobrenome", Kind::FullName),
    ("Buong pangalan", Kind::FullName),
    ("Kumpletong pangalan", Kind::FullName),
    ("Pangalan at apelyido", Kind::FullName),
    // Last name
    ("Last Name", LAST),
    ("Last Names", LAST),
    ("Last", LAST),
    ("LName", LAST),
    ("Surname", LAST),
    ("Surnames", LAST),
    ("Family Name", LAST),
    ("Family Names", LAST),
    ("Apellido", LAST),
    ("Apellidos", LAST),
    ("Apellido(s)", LAST),
    ("Primer apellido", LAST),
    ("Apellido paterno", LAST),
    ("Sobrenome", LAST),
    ("Sobrenomes", LAST),
    ("Apelido", LAST),
    ("Último nome", LAST),
    ("Apelyido", LAST),
    ("Huling pangalan", LAST),
    // Email
    ("Email", EMAIL),
    ("E-mail", EMAIL),
    ("Emails", EMAIL),
    ("Email Address", EMAIL),
    ("E-mail Address", EMAIL),
    ("Email Add", EMAIL),
    ("Email ID", EMAIL),
    ("Mail", EMAIL),
    ("Correo", EMAIL),
    ("Correo electrónico", EMAIL),
    ("Correo-e", EMAIL),
    ("Dirección de correo", EMAIL),
    ("Dirección de correo electrónico", EMAIL),
    ("Dirección de email", EMAIL),
    ("Correio", EMAIL),
    ("Correio eletrônico", EMAIL),
    ("Endereço de e-mail", EMAIL),
    ("Endereço de email", EMAIL),
    // Phone
    ("Mobile", PHONE),
    ("Mobile No.", PHONE),
    ("Mobile Number", PHONE),
    ("Mobile Num", PHONE),
    ("Mobile Phone", PHONE),
    ("Mobile #", PHONE),
    ("Phone", PHONE),
    ("Phone No.", PHONE),
    ("Phone Number", PHONE),
    ("Phone #", PHONE),
    ("Telephone", PHONE),
    ("Telephone No.", PHONE),
    ("Telephone Number", PHONE),
    ("Tel", PHONE),
    ("Tel No.", PHONE),
    ("Contact", PHONE),
    ("Contact No.", PHONE),
    ("Contact Nos.", PHONE),
    ("Contact Number", PHONE),
    ("Contact #", PHONE),
    ("Cellphone", PHONE),
    ("Cellphone No.", PHONE),
    ("Cellphone Number", PHONE),
    ("Cell Phone", PHONE),
    ("Cell", PHONE),
    ("Cell No.", PHONE),
    ("Cell Number", PHONE),
    ("Cellular", PHONE),
    ("CP No.", PHONE),
    ("CP Number", PHONE),
    ("Mobile/Phone", PHONE),
    ("Phone/Mobile", PHONE),
    ("WhatsApp", PHONE),
    ("Celular", PHONE),
    ("Número de celular", PHONE),
    ("Número celular", PHONE),
    ("Celular/WhatsApp", PHONE),
    ("Teléfono", PHONE),
    ("Teléfono celular", PHONE),
    ("Teléfono móvil", PHONE),
    ("Número de teléfono", PHONE),
    ("Móvil", PHONE),
    ("Número", PHONE),
    ("Numero", PHONE),
    ("Telefone", PHONE),
    ("Telefone celular", PHONE),
    ("Número de telefone", PHONE),
    ("Telepono", PHONE),
    ("Numero ng telepono", PHONE),
    ("Selpon", PHONE),
    ("Numero ng selpon", PHONE),
    // Campaign
    ("Campaign", CAMPAIGN),
    ("Campaign ID", CAMPAIGN),
    ("Campaign Name", CAMPAIGN),
    ("Campaign Code", CAMPAIGN),
    ("Talkpush Campaign", CAMPAIGN),
    ("Campaña", CAMPAIGN),
    ("ID Campaña", CAMPAIGN),
    ("ID de campaña", CAMPAIGN),
    ("Nombre de campaña", CAMPAIGN),
    ("Campanha", CAMPAIGN),
    ("ID Campanha", CAMPAIGN),
    ("Nome da campanha", CAMPAIGN),
    ("Kampanya", CAMPAIGN),
];

/// Leading words that do not change what a column is ("Candidate Email", "Applicant Name").
const NOISE_PREFIXES: &[&str] = &[
    "candidates",
    "candidate",
    "applicants",
    "applicant",
    "candidato",
    "candidata",
    "aplicante",
    "postulante",
    "solicitante",
    "your",
    "tu",
    "su",
    "seu",
    "sua",
];

fn synonyms() -> &'static HashMap<String, Kind> {
    static MAP: OnceLock<HashMap<String, Kind>> = OnceLock::new();
    MAP.get_or_init(|| {
        SYNONYMS
            .iter()
            .map(|(s, k)| (text::compact_key(s), *k))
            .collect()
    })
}

/// What a header cell means on its own, or `None` (a custom field).
pub fn classify(header: &str) -> Option<Kind> {
    let key = text::compact_key(header);
    if key.is_empty() {
        return None;
    }
    let without_parens = text::compact_key(&strip_parenthesised(header));
    let mut keys = vec![key];
    if !without_parens.is_empty() && without_parens != keys[0] {
        keys.push(without_parens);
    }
    for i in 0..keys.len() {
        for prefix in NOISE_PREFIXES {
            if let Some(rest) = keys[i].strip_prefix(prefix) {
                if rest.len() >= 3 {
                    keys.push(rest.to_string());
                }
            }
        }
    }
    let map = synonyms();
    if let Some(kind) = keys.iter().find_map(|k| map.get(k)) {
        return Some(*kind);
    }
    keys.iter().find_map(|k| typo_match(k, map))
}

/// The one field a key is one typo away from, if exactly one.
fn typo_match(key: &str, map: &HashMap<String, Kind>) -> Option<Kind> {
    if key.chars().count() < 4 {
        return None;
    }
    let mut found: Option<Kind> = None;
    for (synonym, kind) in map {
        let len = synonym.len();
        if len < 4 || len.abs_diff(key.len()) > 1 {
            continue;
        }
        let close = if len == 4 {
            is_transposition(key, synonym)
        } else {
            strsim::osa_distance(key, synonym) <= 1
        };
        if close {
            match found {
                Some(k) if k != *kind => return None, // ambiguous
                _ => found = Some(*kind),
            }
        }
    }
    found
}

/// `a` is `b` with two neighbouring characters swapped.
fn is_transposition(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len() != b.len() {
        return false;
    }
    let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    diff.len() == 2
        && diff[1] == diff[0] + 1
        && a[diff[0]] == b[diff[1]]
        && a[diff[1]] == b[diff[0]]
}

fn strip_parenthesised(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// A row considered as a header: its columns with roles, and how close it is to a real header.
struct Candidate {
    columns: Vec<Column>,
    has_name: bool,
    has_contact: bool,
    /// Number of distinct fields recognised.
    score: usize,
    missing: Vec<&'static str>,
}

fn header_text(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Empty => None,
        Cell::Text(s) => Some(text::clean(s)),
        other => Some(text::clean(&cell_text(other))),
    }
    .filter(|s| !s.is_empty())
}

fn evaluate(row: &Row) -> Candidate {
    let mut cells: Vec<(usize, String, Option<Kind>)> = Vec::new();
    for (index, cell) in row.cells.iter().enumerate() {
        if let Some(h) = header_text(cell) {
            let kind = match cell {
                Cell::Text(_) => classify(&h),
                _ => None,
            };
            cells.push((index, h, kind));
        }
    }
    let first_of = |k: Kind| cells.iter().position(|c| c.2 == Some(k));
    let first = first_of(FIRST);
    let last = first_of(LAST);
    let full = first_of(Kind::FullName);
    let name = first_of(Kind::Name);

    // Decide the name columns.
    let mut first_col = first;
    let last_col = last;
    let mut full_col = None;
    if first.is_none() && last.is_some() {
        if let Some(n) = name {
            first_col = Some(n);
        } else if full.is_some() {
            full_col = full;
        }
    } else if first.is_none() || last.is_none() {
        full_col = full.or(name);
    }

    let mut seen: Vec<Field> = Vec::new();
    let mut columns = Vec::with_capacity(cells.len());
    for (pos, (index, header, kind)) in cells.into_iter().enumerate() {
        let role = if Some(pos) == full_col {
            Role::FullName
        } else if Some(pos) == first_col {
            seen.push(Field::FirstName);
            Role::Field(Field::FirstName)
        } else if Some(pos) == last_col {
            seen.push(Field::LastName);
            Role::Field(Field::LastName)
        } else {
            match kind {
                Some(Kind::Field(f))
                    if !matches!(f, Field::FirstName | Field::LastName) && !seen.contains(&f) =>
                {
                    seen.push(f);
                    Role::Field(f)
                }
                _ => Role::Custom,
            }
        };
        columns.push(Column {
            index,
            header,
            role,
        });
    }
    let has = |f: Field| seen.contains(&f);
    let has_full = full_col.is_some();
    let has_name = (has(Field::FirstName) && has(Field::LastName)) || has_full;
    let has_contact = has(Field::Email) || has(Field::Phone);
    let mut missing = Vec::new();
    if !has_name {
        missing.push(match (has(Field::FirstName), has(Field::LastName)) {
            (true, false) => MISSING_LAST_NAME,
            (false, true) => MISSING_FIRST_NAME,
            _ => MISSING_NAMES,
        });
    }
    if !has_contact {
        missing.push(MISSING_CONTACT);
    }
    Candidate {
        score: seen.len() + usize::from(has_full),
        columns,
        has_name,
        has_contact,
        missing,
    }
}

/// Whether a cell of a non-header row could be shown as "found" without leaking a candidate's
/// email or phone into a reason.
fn looks_like_header(h: &str) -> bool {
    !h.contains('@') && h.chars().filter(|c| c.is_ascii_digit()).count() < 5
}

/// Finds the header (see the module documentation).
pub fn find_header(workbook: &Workbook) -> Result<Mapping, HeaderError> {
    let mut search = HeaderSearch::default();
    for (sheet_index, sheet) in workbook.sheets.iter().enumerate() {
        for (row_index, row) in sheet.rows.iter().take(HEADER_SEARCH_ROWS).enumerate() {
            if let Some(mapping) = search.offer(sheet_index, &sheet.name, row_index, row) {
                return Ok(mapping);
            }
        }
    }
    Err(search.fail())
}

/// The header search of [`find_header`], fed one row at a time (for rows that arrive while the
/// file is still being read). The caller offers at most the first [`HEADER_SEARCH_ROWS`] rows of
/// each sheet, sheets in order.
#[derive(Default)]
pub struct HeaderSearch {
    /// (score, sheet name, row number, best row so far).
    best: Option<(usize, String, u32, Candidate)>,
}

impl HeaderSearch {
    /// The mapping when `row` (the `row_index`-th row of sheet `sheet_index`) is the header.
    pub fn offer(
        &mut self,
        sheet_index: usize,
        sheet: &str,
        row_index: usize,
        row: &Row,
    ) -> Option<Mapping> {
        let candidate = evaluate(row);
        if candidate.has_name && candidate.has_contact {
            return Some(Mapping {
                sheet: sheet.to_string(),
                sheet_index,
                header_row: row.number,
                first_data_row: row_index + 1,
                columns: candidate.columns,
            });
        }
        let better = match &self.best {
            None => !candidate.columns.is_empty(),
            Some((.., b)) => candidate.score > b.score,
        };
        if better {
            self.best = Some((candidate.score, sheet.to_string(), row.number, candidate));
        }
        None
    }

    /// Why no row offered was a header.
    pub fn fail(self) -> HeaderError {
        match self.best {
            None => HeaderError {
                sheet: None,
                row: None,
                found: Vec::new(),
                missing: vec![
                    "first and last name columns (or one full-name column)",
                    "an email or a phone column",
                ],
            },
            Some((_, sheet, row, candidate)) => HeaderError {
                sheet: Some(sheet),
                row: Some(row),
                found: candidate
                    .columns
                    .iter()
                    .map(|c| c.header.as_str())
                    .filter(|h| looks_like_header(h))
                    .take(30)
                    .map(|h| {
                        if h.chars().count() > 40 {
                            format!("{}…", h.chars().take(40).collect::<String>())
                        } else {
                            h.to_string()
                        }
                    })
                    .collect(),
                missing: candidate.missing,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sheet::{Format, Sheet};

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
}
