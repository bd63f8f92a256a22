//! What a header cell means on its own: the synonyms people write in four languages, noise
//! around them, and typos.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::field::Field;
use crate::text;

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

pub(super) const FIRST: Kind = Kind::Field(Field::FirstName);
pub(super) const LAST: Kind = Kind::Field(Field::LastName);
pub(super) const EMAIL: Kind = Kind::Field(Field::Email);
pub(super) const PHONE: Kind = Kind::Field(Field::Phone);
pub(super) const CAMPAIGN: Kind = Kind::Field(Field::Campaign);

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
pub(super) fn typo_match(key: &str, map: &HashMap<String, Kind>) -> Option<Kind> {
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
