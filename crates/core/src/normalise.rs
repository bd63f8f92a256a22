//! Normalisation (SPEC §6.1): what identity is compared on. Display values keep what the agency
//! wrote, cleaned; keys are what rows and candidates are matched on.
//!
//! - Names: display = [`text::clean`]; key = [`text::match_key`].
//! - Email: display trimmed and cleaned; key lower-case, and for gmail.com/googlemail.com the dots and
//!   `+tag` of the local part are ignored (googlemail.com becomes gmail.com).
//! - Phone: parsed by the `phonenumber` crate (libphonenumber's metadata) with the agency's country as
//!   the default region, stored as E.164; the key is the E.164 digits. Excel damage is repaired where it
//!   is unambiguous (see [`PhoneRules::normalise`]).

use phonenumber::metadata::{Metadata, DATABASE};
use phonenumber::{country, PhoneNumber, Type};

use crate::sheet::Cell;
use crate::text;

/// The text a person sees in a cell (numbers without a spurious `.0`).
pub fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Empty => String::new(),
        Cell::Text(s) | Cell::Date(s) | Cell::Error(s) => s.clone(),
        Cell::Number(f) => number_text(*f),
        Cell::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
    }
}

fn number_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// Values people type to mean "nothing here": treated as an empty cell.
pub fn is_placeholder(cleaned: &str) -> bool {
    if cleaned.is_empty() {
        return true;
    }
    if cleaned.chars().all(|c| !c.is_alphanumeric()) {
        return true; // "-", "--", "—", ".", "?"
    }
    if cleaned.len() > 12 {
        return false; // longer than any placeholder, even with punctuation
    }
    // Every placeholder word starts with n, w or 0: skip the key for everything else.
    let first = cleaned.chars().find(|c| c.is_alphanumeric());
    if !matches!(first, Some('n' | 'N' | 'w' | 'W' | '0')) {
        return false;
    }
    matches!(
        text::compact_key(cleaned).as_str(),
        "na" | "none"
            | "nil"
            | "null"
            | "0"
            | "wala"
            | "ninguno"
            | "ninguna"
            | "nenhum"
            | "nenhuma"
    )
}

/// A cleaned cell value, or `None` when it is empty or a placeholder such as "N/A".
pub fn cleaned_value(cell: &Cell) -> Option<String> {
    let s = match cell {
        Cell::Empty => return None,
        Cell::Text(s) => text::clean(s),
        other => text::clean(&cell_text(other)),
    };
    if is_placeholder(&s) {
        None
    } else {
        Some(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Names

/// A name part as stored: what the agency wrote (cleaned) and its match key.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Name {
    pub display: String,
    pub key: String,
}

impl Name {
    pub fn new(display: String) -> Name {
        let key = text::match_key(&display);
        Name { display, key }
    }
    pub fn is_empty(&self) -> bool {
        self.key.is_empty()
    }
}

/// Words that belong to the surname that follows them ("Juan dela Cruz", "Ana de los Santos",
/// "Ludwig van Beethoven"), compared on their match key.
const SURNAME_PARTICLES: &[&str] = &[
    "de", "del", "dela", "della", "delos", "las", "los", "da", "das", "do", "dos", "du", "van",
    "von", "der", "den", "di", "la", "le", "st", "san", "santa",
];

/// Generational suffixes kept with the surname ("Jose Rizal Jr." → last name "Rizal Jr.").
const NAME_SUFFIXES: &[&str] = &["jr", "sr", "ii", "iii", "iv"];

/// Splits a full name into (first name, last name), both cleaned. The rule:
/// - "Last, First" (a comma, and what follows it is not a suffix like "Jr.") → split at the comma;
/// - otherwise the last word is the last name, together with the surname particles just before it
///   ("Maria de la Cruz" → "Maria" / "de la Cruz") and a trailing suffix ("Jr.", "Sr.", "III");
///   everything before is the first name; at least one word stays the first name;
/// - a single word is a first name with an empty last name.
///
/// Two-surname Spanish names ("Juan Pérez García") cannot be told from two given names by text alone:
/// the last word is the last name ("Juan Pérez" / "García"). Matching uses both keys, so the split
/// only affects display.
pub fn split_full_name(full: &str) -> (String, String) {
    let full = text::clean(full);
    if let Some((before, after)) = full.split_once(',') {
        let after = after.trim();
        let before = before.trim();
        let after_is_suffix = NAME_SUFFIXES.contains(&text::match_key(after).as_str());
        if !after_is_suffix && !before.is_empty() && !after.is_empty() {
            return (text::clean(after), text::clean(before));
        }
    }
    let full = full.replace(',', " ");
    let words: Vec<&str> = full.split_whitespace().collect();
    if words.len() <= 1 {
        return (
            words.first().map(|w| w.to_string()).unwrap_or_default(),
            String::new(),
        );
    }
    let mut end = words.len();
    if words.len() >= 3 && NAME_SUFFIXES.contains(&text::match_key(words[end - 1]).as_str()) {
        end -= 1;
    }
    let mut start = end - 1;
    while start > 1 && SURNAME_PARTICLES.contains(&text::match_key(words[start - 1]).as_str()) {
        start -= 1;
    }
    (words[..start].join(" "), words[start..].join(" "))
}

// ---------------------------------------------------------------------------------------------
// Email

/// The display form of an email cell: cleaned, without a `mailto:` prefix or surrounding `<>`.
pub fn email_display(raw: &str) -> String {
    email_display_of_cleaned(text::clean(raw))
}

/// [`email_display`] of a value already [`text::clean`]ed.
pub fn email_display_of_cleaned(cleaned: String) -> String {
    let mut s = cleaned.as_str();
    if s.len() > 7 && s[..7].eq_ignore_ascii_case("mailto:") {
        s = &s[7..];
    }
    let s = s.trim();
    let s = s
        .strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(s)
        .trim();
    if s.len() == cleaned.len() {
        cleaned
    } else {
        s.to_string()
    }
}

/// The email match key: lower-case; for gmail.com/googlemail.com the dots and `+tag` of the local
/// part are ignored and the domain is gmail.com.
pub fn email_key(display: &str) -> String {
    let lower = display.trim().to_lowercase();
    let Some((local, domain)) = lower.rsplit_once('@') else {
        return lower;
    };
    if domain == "gmail.com" || domain == "googlemail.com" {
        let local = local.split('+').next().unwrap_or("");
        let local: String = local.chars().filter(|&c| c != '.').collect();
        format!("{local}@gmail.com")
    } else {
        lower
    }
}

/// The domain of an email (lower-case), if it has one.
pub fn email_domain(key: &str) -> Option<&str> {
    key.rsplit_once('@').map(|(_, d)| d)
}

// ---------------------------------------------------------------------------------------------
// Phone

/// A phone number as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// E.164, e.g. `+639171234567`.
    pub e164: String,
}

impl Phone {
    /// The match key: the E.164 digits.
    pub fn key(&self) -> &str {
        &self.e164[1..]
    }
}

/// Why a phone cell could not be normalised. [`PhoneProblem::describe`] words it for agency staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneProblem {
    /// No digits, or something that is not a phone number at all (a date, TRUE, a fraction).
    NotANumber,
    /// The cell holds a spreadsheet error such as `#N/A`.
    SpreadsheetError,
    /// Excel showed the number in scientific notation and digits were lost (`9.17123E+09`).
    ShortenedByExcel,
    /// `country`: the ISO code of the country the number was read for.
    TooShort {
        country: String,
    },
    TooLong {
        country: String,
    },
    /// Right length but not a number that exists (wrong area or mobile prefix).
    NotValid {
        country: String,
    },
    UnknownCountryCode,
}

impl PhoneProblem {
    /// Plain English words, without the field name and without the value (the catalogue's
    /// `reason.phone_*` texts).
    pub fn describe(&self) -> String {
        let text = crate::i18n::Part::Phone(self.clone()).render(crate::i18n::Catalogue::english());
        match text.strip_prefix("phone: ") {
            Some(rest) => rest.to_string(),
            None => text,
        }
    }
}

/// The English name of a country (ISO code), as reasons say it (the catalogue's `[country]`).
pub fn country_name(code: &str) -> String {
    crate::i18n::Catalogue::english().country(code)
}

/// The phone rules of one agency's country, built once per submission (the metadata lookups are
/// done here, not per row).
#[derive(Debug, Clone)]
pub struct PhoneRules {
    region: country::Id,
    code: u16,
    country: String,
    meta: &'static Metadata,
    fast: Option<FastPath>,
}

/// A shortcut for the plainest inputs of the agency's own country (digits with spaces, dashes,
/// dots or brackets, in national form or with `+` and the country code), built from the crate's own
/// metadata patterns compiled once per submission.
///
/// It only ever *accepts*: when it cannot tell, or the number is not valid, the crate decides (and
/// words the problem). It is used only where the crate's parse is plain prefix handling: a calling
/// code used by one region only, no part of the input matching the international or carrier
/// prefixes, no national-prefix transformation taking place, no leading zero in the national
/// number. `fast_path_agrees_with_the_crate` checks it against the crate on generated input.
#[derive(Debug, Clone)]
struct FastPath {
    code: String,
    national_prefix: Option<String>,
    /// `^(?:…)` of the crate's national-prefix-for-parsing pattern.
    prefix_for_parsing: Option<regex::Regex>,
    /// `^(?:…)` of the international dialling prefix pattern.
    idd: Option<regex::Regex>,
    general: Pattern,
    /// Every number type the crate counts as valid.
    types: Vec<Pattern>,
}

/// A metadata pattern with the crate's matching rule: the possible lengths, then a match at the
/// start.
#[derive(Debug, Clone)]
struct Pattern {
    re: regex::Regex,
    lengths: Vec<u16>,
}

impl Pattern {
    fn new(d: &phonenumber::metadata::Descriptor) -> Option<Pattern> {
        Some(Pattern {
            re: anchored(d.national_number().as_str())?,
            lengths: d.possible_length().to_vec(),
        })
    }
    fn is_match(&self, nsn: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(nsn.len() as u16)))
            && self.re.is_match(nsn)
    }
}

fn anchored(source: &str) -> Option<regex::Regex> {
    regex::RegexBuilder::new(&format!("^(?:{source})"))
        .ignore_whitespace(true)
        .build()
        .ok()
}

impl FastPath {
    fn new(meta: &'static Metadata) -> Option<FastPath> {
        let code = meta.country_code();
        let code_text = code.to_string();
        // One region for the calling code, and no shorter calling code the digits also start with.
        if DATABASE.region(&code)?.len() != 1 {
            return None;
        }
        for len in 1..code_text.len() {
            let shorter: u16 = code_text[..len].parse().ok()?;
            if DATABASE.by_code(&shorter).is_some() {
                return None;
            }
        }
        let d = meta.descriptors();
        let mut types = Vec::new();
        for desc in [
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ]
        .into_iter()
        .flatten()
        {
            types.push(Pattern::new(desc)?);
        }
        let compile = |source: Option<&str>| match source {
            None => Some(None),
            Some(source) => anchored(source).map(Some),
        };
        Some(FastPath {
            code: code_text,
            national_prefix: meta.national_prefix().map(str::to_string),
            prefix_for_parsing: compile(meta.national_prefix_for_parsing().map(|r| r.as_str()))?,
            idd: compile(meta.international_prefix().map(|r| r.as_str()))?,
            general: Pattern::new(d.general())?,
            types,
        })
    }

    fn normalise(&self, text: &str) -> Option<Phone> {
        let mut plus = false;
        let mut digits = String::with_capacity(text.len());
        for (i, c) in text.char_indices() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => plus = true,
                ' ' | '-' | '(' | ')' | '.' => {}
                _ => return None,
            }
        }
        if digits.len() < 5 || digits.len() > 17 {
            return None;
        }
        if self.idd.as_ref().is_some_and(|re| re.is_match(&digits)) {
            return None;
        }
        let national: &str = if plus {
            digits.strip_prefix(self.code.as_str())?
        } else if digits.starts_with(self.code.as_str()) {
            return None;
        } else {
            match &self.national_prefix {
                Some(p) if digits.starts_with(p.as_str()) => {
                    if let Some(re) = &self.prefix_for_parsing {
                        if re.find(&digits).map(|m| m.end()) != Some(p.len()) {
                            return None;
                        }
                    }
                    &digits[p.len()..]
                }
                _ => &digits,
            }
        };
        if national.starts_with('0')
            || self
                .national_prefix
                .as_ref()
                .is_some_and(|p| national.starts_with(p.as_str()))
            || self
                .prefix_for_parsing
                .as_ref()
                .and_then(|re| re.find(national))
                .is_some_and(|m| !m.is_empty())
        {
            return None;
        }
        if self.general.is_match(national) && self.types.iter().any(|t| t.is_match(national)) {
            Some(Phone {
                e164: format!("+{}{}", self.code, national),
            })
        } else {
            None
        }
    }
}

/// What the cell held after repairing Excel damage.
struct Repaired {
    text: String,
    /// The cell was (or had been) a number: leading `0`/`+` may have been lost.
    numeric: bool,
}

impl PhoneRules {
    /// `None` when the country code (ISO 3166-1 alpha-2) has no phone metadata.
    pub fn new(country: &str) -> Option<PhoneRules> {
        let upper = country.trim().to_ascii_uppercase();
        let region: country::Id = upper.parse().ok()?;
        let meta = DATABASE.by_id(region.as_ref())?;
        Some(PhoneRules {
            region,
            code: meta.country_code(),
            country: upper,
            meta,
            fast: FastPath::new(meta),
        })
    }

    /// The agency's country code (ISO alpha-2).
    pub fn country(&self) -> &str {
        &self.country
    }

    /// Normalises one phone cell. `Ok(None)`: the cell is empty (or "N/A" and the like).
    ///
    /// Repairs, each applied only when the result is unambiguous:
    /// - a number cell (`9171234567.0` as Excel stores it) or the text `9171234567.0` → its digits;
    /// - scientific text `9.171234567E+09` (or `9,171234567E+09`) → its digits when every digit is
    ///   still there; `9.17123E+09` lost digits and is refused ([`PhoneProblem::ShortenedByExcel`]);
    /// - a leading apostrophe (Excel's text marker), stray, non-breaking and zero-width spaces;
    /// - lost leading zeros: digits that are not a valid number as they are are tried with the
    ///   national prefix `0` of the agency's country and as international (`+`) digits, only for cells
    ///   that were (or looked like) numbers, and only the one interpretation that is valid is taken;
    /// - Mexico: the mobile `1` after +52 and the `01`/`044`/`045` prefixes, abolished in 2019, are
    ///   dropped.
    pub fn normalise(&self, cell: &Cell) -> Result<Option<Phone>, PhoneProblem> {
        let repaired = match self.repair(cell)? {
            Some(r) => r,
            None => return Ok(None),
        };
        if let Some(phone) = self.fast.as_ref().and_then(|f| f.normalise(&repaired.text)) {
            return Ok(Some(phone));
        }
        let first = self.parse(&repaired.text);
        if let Ok(Some(phone)) = &first {
            return Ok(Some(phone.clone()));
        }
        for alternative in self.alternatives(&repaired) {
            if let Ok(Some(phone)) = self.parse(&alternative) {
                return Ok(Some(phone));
            }
        }
        match first {
            Ok(_) => unreachable!("a valid first parse returned above"),
            Err(problem) => Err(problem),
        }
    }

    fn repair(&self, cell: &Cell) -> Result<Option<Repaired>, PhoneProblem> {
        let raw = match cell {
            Cell::Empty => return Ok(None),
            Cell::Number(f) => {
                let f = *f;
                if !f.is_finite() || f < 0.0 || f.fract() != 0.0 || f >= 1e15 {
                    return Err(PhoneProblem::NotANumber);
                }
                return Ok(Some(Repaired {
                    text: format!("{}", f as u64),
                    numeric: true,
                }));
            }
            Cell::Text(s) => s,
            Cell::Error(_) => return Err(PhoneProblem::SpreadsheetError),
            Cell::Bool(_) | Cell::Date(_) => return Err(PhoneProblem::NotANumber),
        };
        let cleaned = text::clean(raw);
        if is_placeholder(&cleaned) {
            return Ok(None);
        }
        let s = cleaned.strip_prefix('\'').unwrap_or(&cleaned).trim();
        if let Some(digits) = strip_point_zero(s) {
            return Ok(Some(Repaired {
                text: digits.to_string(),
                numeric: true,
            }));
        }
        if let Some(expanded) = expand_scientific(s) {
            return expanded.map(|text| {
                Some(Repaired {
                    text,
                    numeric: true,
                })
            });
        }
        if !s.bytes().any(|b| b.is_ascii_digit()) {
            return Err(PhoneProblem::NotANumber);
        }
        let numeric = s.bytes().all(|b| b.is_ascii_digit());
        Ok(Some(Repaired {
            text: s.to_string(),
            numeric,
        }))
    }

    /// Other readings of damaged input, tried only when the plain reading is not valid.
    fn alternatives(&self, r: &Repaired) -> Vec<String> {
        let mut out = Vec::new();
        let digits: String = r.text.chars().filter(|c| c.is_ascii_digit()).collect();
        let plus = r.text.trim_start().starts_with('+');
        if r.numeric {
            if let Some(prefix) = self.meta.national_prefix() {
                out.push(format!("{prefix}{digits}"));
            }
            out.push(format!("+{digits}"));
        }
        if self.country == "MX" {
            // 2019 numbering reform: 10-digit national numbers, no 1/044/045 mobile prefixes.
            if plus && digits.len() == 13 && digits.starts_with("521") {
                out.push(format!("+52{}", &digits[3..]));
            } else if !plus {
                if digits.len() == 11 && digits.starts_with('1') {
                    out.push(digits[1..].to_string());
                }
                if digits.len() == 12 && digits.starts_with("01") {
                    out.push(digits[2..].to_string());
                }
                if digits.len() == 13 && (digits.starts_with("044") || digits.starts_with("045")) {
                    out.push(digits[3..].to_string());
                }
                if digits.len() == 13 && digits.starts_with("521") {
                    out.push(format!("+52{}", &digits[3..]));
                }
            }
        }
        out
    }

    /// One parse with the crate: `Ok(Some)` when valid, the problem otherwise.
    /// The crate alone, without the shortcut (for tests and benchmarks).
    pub fn normalise_with_crate_only(&self, cell: &Cell) -> Result<Option<Phone>, PhoneProblem> {
        let without = PhoneRules {
            fast: None,
            ..self.clone()
        };
        without.normalise(cell)
    }

    /// Whether the shortcut is available for this country.
    pub fn has_fast_path(&self) -> bool {
        self.fast.is_some()
    }

    fn parse(&self, text: &str) -> Result<Option<Phone>, PhoneProblem> {
        let number = match phonenumber::parse(Some(self.region), text) {
            Ok(n) => n,
            Err(e) => {
                return Err(match e {
                    phonenumber::ParseError::NoNumber => PhoneProblem::NotANumber,
                    phonenumber::ParseError::InvalidCountryCode => PhoneProblem::UnknownCountryCode,
                    phonenumber::ParseError::TooShortAfterIdd
                    | phonenumber::ParseError::TooShortNsn => PhoneProblem::TooShort {
                        country: self.country.clone(),
                    },
                    phonenumber::ParseError::TooLong => PhoneProblem::TooLong {
                        country: self.country.clone(),
                    },
                    phonenumber::ParseError::MalformedInteger(_) => PhoneProblem::NotANumber,
                })
            }
        };
        if number.number_type(&DATABASE) != Type::Unknown {
            return Ok(Some(Phone {
                e164: e164(&number),
            }));
        }
        Err(self.why_invalid(&number))
    }

    fn why_invalid(&self, number: &PhoneNumber) -> PhoneProblem {
        let code = number.code().value();
        let (meta, country) = if code == self.code {
            (Some(self.meta), self.country.clone())
        } else {
            let meta = DATABASE.by_code(&code).and_then(|m| m.into_iter().next());
            match meta {
                None => return PhoneProblem::UnknownCountryCode,
                Some(m) => (Some(m), m.id().to_string()),
            }
        };
        let len = number.national().to_string().len() as u16;
        let lengths = meta.map(possible_lengths).unwrap_or_default();
        match (lengths.iter().min(), lengths.iter().max()) {
            (Some(&min), _) if len < min => PhoneProblem::TooShort { country },
            (_, Some(&max)) if len > max => PhoneProblem::TooLong { country },
            _ => PhoneProblem::NotValid { country },
        }
    }
}

/// The national-number lengths of the number types people are reached on.
fn possible_lengths(meta: &Metadata) -> Vec<u16> {
    let d = meta.descriptors();
    let mut lengths: Vec<u16> = d.general().possible_length().to_vec();
    if lengths.is_empty() {
        for desc in [d.fixed_line(), d.mobile()].into_iter().flatten() {
            lengths.extend_from_slice(desc.possible_length());
        }
    }
    lengths
}

fn e164(number: &PhoneNumber) -> String {
    format!("+{}{}", number.code().value(), number.national())
}

/// "9171234567.0" → "9171234567".
fn strip_point_zero(s: &str) -> Option<&str> {
    let (int, frac) = s.split_once(['.', ','])?;
    if !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && !frac.is_empty()
        && frac.bytes().all(|b| b == b'0')
    {
        Some(int)
    } else {
        None
    }
}

/// Scientific notation as Excel shows it: `None` when `s` is not scientific notation;
/// `Some(Ok(digits))` when every digit survived; `Some(Err)` when digits were lost or it is not a
/// whole number.
fn expand_scientific(s: &str) -> Option<Result<String, PhoneProblem>> {
    let (mantissa, exponent) = s.split_once(['e', 'E'])?;
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    if exponent.is_empty() || !exponent.bytes().all(|b| b.is_ascii_digit()) || exponent.len() > 2 {
        return None;
    }
    let exp: usize = exponent.parse().ok()?;
    let (int, frac) = match mantissa.split_once(['.', ',']) {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    if frac.len() > exp {
        // More decimals than the exponent shifts: whole only if the extra decimals are zeros.
        if frac[exp..].bytes().all(|b| b == b'0') {
            return Some(Ok(format!("{int}{}", &frac[..exp])));
        }
        return Some(Err(PhoneProblem::NotANumber));
    }
    if frac.len() < exp {
        return Some(Err(PhoneProblem::ShortenedByExcel));
    }
    Some(Ok(format!("{int}{frac}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(c: &str) -> PhoneRules {
        PhoneRules::new(c).unwrap()
    }

    fn ok(c: &str, cell: Cell) -> String {
        match rules(c).normalise(&cell) {
            Ok(Some(p)) => p.e164,
            other => panic!("{c} {cell:?}: {other:?}"),
        }
    }

    fn text_ok(c: &str, s: &str) -> String {
        ok(c, Cell::Text(s.into()))
    }

    fn text_err(c: &str, s: &str) -> PhoneProblem {
        match rules(c).normalise(&Cell::Text(s.into())) {
            Err(p) => p,
            other => panic!("{c} {s:?} should fail: {other:?}"),
        }
    }

    #[test]
    fn ph_acceptance_forms_all_give_the_same_e164() {
        for s in [
            "09171234567",
            "+63 917 123 4567",
            "639171234567",
            "(0917) 123-4567",
            "9171234567.0",
            "9.171234567E+09",
            "9,171234567E+09",
            "'09171234567",
            "\u{00A0}0917\u{200B} 123 4567 ",
            "0063 917 123 4567",
            "9171234567",
        ] {
            assert_eq!(text_ok("PH", s), "+639171234567", "{s}");
        }
        assert_eq!(ok("PH", Cell::Number(9171234567.0)), "+639171234567");
        assert_eq!(ok("PH", Cell::Number(639171234567.0)), "+639171234567");
    }

    #[test]
    fn ph_landline_and_rejections() {
        assert_eq!(text_ok("PH", "(02) 8234 5678"), "+63282345678");
        assert!(matches!(
            text_err("PH", "0917 123 456"),
            PhoneProblem::NotValid { .. } | PhoneProblem::TooShort { .. }
        ));
        assert!(matches!(
            text_err("PH", "1234"),
            PhoneProblem::TooShort { .. } | PhoneProblem::NotANumber
        ));
        assert!(matches!(
            text_err("PH", "0917 123 4567 890"),
            PhoneProblem::TooLong { .. }
        ));
    }

    #[test]
    fn lossy_scientific_text_is_refused_with_its_reason() {
        let p = text_err("PH", "9.17123E+09");
        assert_eq!(p, PhoneProblem::ShortenedByExcel);
        assert!(p.describe().contains("last digits are lost"));
    }

    #[test]
    fn numbers_that_are_not_whole_are_refused() {
        assert_eq!(
            rules("PH").normalise(&Cell::Number(917.5)),
            Err(PhoneProblem::NotANumber)
        );
        assert_eq!(text_err("PH", "9.1712345675E+09"), PhoneProblem::NotANumber);
        assert_eq!(text_err("PH", "call me"), PhoneProblem::NotANumber);
        assert_eq!(
            rules("PH").normalise(&Cell::Error("#N/A".into())),
            Err(PhoneProblem::SpreadsheetError)
        );
    }

    #[test]
    fn empty_and_placeholders_are_no_phone() {
        for s in ["", "  ", "N/A", "n/a", "-", "none", "\u{200B}"] {
            assert_eq!(
                rules("PH").normalise(&Cell::Text(s.into())),
                Ok(None),
                "{s:?}"
            );
        }
        assert_eq!(rules("PH").normalise(&Cell::Empty), Ok(None));
    }

    #[test]
    fn mexico() {
        // Mobile (Mexico City) and landline (Guadalajara): 10 digits since 2019.
        assert_eq!(text_ok("MX", "55 1234 5678"), "+525512345678");
        assert_eq!(text_ok("MX", "+52 33 1234 5678"), "+523312345678");
        // Legacy mobile prefixes are dropped.
        assert_eq!(text_ok("MX", "+52 1 55 1234 5678"), "+525512345678");
        assert_eq!(text_ok("MX", "044 55 1234 5678"), "+525512345678");
        assert_eq!(text_ok("MX", "01 33 1234 5678"), "+523312345678");
        assert!(matches!(
            text_err("MX", "55 1234 567"),
            PhoneProblem::TooShort { .. } | PhoneProblem::NotValid { .. }
        ));
        assert!(matches!(
            text_err("MX", "12345"),
            PhoneProblem::TooShort { .. } | PhoneProblem::NotValid { .. }
        ));
        // No Mexican number starts with 0 after the country code.
        assert!(matches!(
            text_err("MX", "+52 05 1234 5678"),
            PhoneProblem::NotValid { .. } | PhoneProblem::TooShort { .. }
        ));
    }

    #[test]
    fn colombia() {
        assert_eq!(text_ok("CO", "300 123 4567"), "+573001234567"); // mobile
        assert_eq!(text_ok("CO", "601 234 5678"), "+576012345678"); // Bogotá landline (2021 plan)
        assert_eq!(text_ok("CO", "+57 321 765 4321"), "+573217654321");
        assert!(matches!(
            text_err("CO", "300 123 45"),
            PhoneProblem::TooShort { .. } | PhoneProblem::NotValid { .. }
        ));
        // Wrong prefix: Colombian numbers do not start with 1 or 2 after the country code.
        assert!(matches!(
            text_err("CO", "100 123 4567"),
            PhoneProblem::NotValid { .. }
        ));
    }

    #[test]
    fn brazil() {
        assert_eq!(text_ok("BR", "(11) 91234-5678"), "+5511912345678"); // São Paulo mobile
        assert_eq!(text_ok("BR", "(11) 3123-4567"), "+551131234567"); // São Paulo landline
        assert_eq!(text_ok("BR", "0 21 98765 4321"), "+5521987654321"); // trunk 0
        assert_eq!(ok("BR", Cell::Number(11912345678.0)), "+5511912345678");
        assert!(matches!(
            text_err("BR", "(11) 9123-456"),
            PhoneProblem::TooShort { .. } | PhoneProblem::NotValid { .. }
        ));
        // A 10-digit number starting with 9 after the area code is an old-style mobile without the 9.
        assert!(matches!(
            text_err("BR", "(11) 9123-4567"),
            PhoneProblem::NotValid { .. }
        ));
    }

    #[test]
    fn united_states() {
        assert_eq!(text_ok("US", "(201) 555-0123"), "+12015550123");
        assert_eq!(text_ok("US", "1 415 555 2671"), "+14155552671");
        assert_eq!(text_ok("US", "+1 212-555-0100"), "+12125550100");
        assert!(matches!(
            text_err("US", "555-0123"),
            PhoneProblem::TooShort { .. } | PhoneProblem::NotValid { .. }
        ));
        // Exchange codes never start with 0 or 1; area code 211 is a service code.
        assert!(matches!(
            text_err("US", "(201) 055-0123"),
            PhoneProblem::NotValid { .. }
        ));
        assert!(matches!(
            text_err("US", "(211) 555-0123"),
            PhoneProblem::NotValid { .. }
        ));
    }

    #[test]
    fn india() {
        assert_eq!(text_ok("IN", "98765 43210"), "+919876543210"); // mobile
        assert_eq!(text_ok("IN", "098765 43210"), "+919876543210"); // with trunk 0
        assert_eq!(text_ok("IN", "011 2345 6789"), "+911123456789"); // Delhi landline
        assert!(matches!(
            text_err("IN", "98765 4321"),
            PhoneProblem::TooShort { .. } | PhoneProblem::NotValid { .. }
        ));
        // No Indian number of 10 digits starts with 4 or 3 (mobiles start with 6-9).
        assert!(matches!(
            text_err("IN", "41234 56789"),
            PhoneProblem::NotValid { .. }
        ));
        assert!(matches!(
            text_err("IN", "98765 432101"),
            PhoneProblem::TooLong { .. } | PhoneProblem::NotValid { .. }
        ));
    }

    #[test]
    fn foreign_numbers_are_kept_in_their_own_country() {
        assert_eq!(text_ok("PH", "+1 (201) 555-0123"), "+12015550123");
        let p = text_err("PH", "+52 55 1234 567");
        assert!(p.describe().contains("Mexico"), "{}", p.describe());
    }

    #[test]
    fn lost_plus_on_a_foreign_number_stored_as_a_number() {
        // A Hong Kong mobile typed as +852 9123 4567 that Excel turned into a number: not valid as a
        // Philippine number, valid only with its + back.
        assert_eq!(ok("PH", Cell::Number(85291234567.0)), "+85291234567");
        // The same digits typed as text with spaces are not repaired (no sign of Excel damage).
        assert!(rules("PH")
            .normalise(&Cell::Text("852 9123 4567".into()))
            .is_err());
    }

    #[test]
    fn reasons_name_the_country_and_never_the_value() {
        let d = text_err("PH", "0917 123 45").describe();
        assert!(d.contains("the Philippines"), "{d}");
        assert!(!d.contains("917"), "{d}");
    }

    /// The shortcut never accepts what the crate would not accept the same way.
    #[test]
    fn fast_path_agrees_with_the_crate() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut fast_taken = 0;
        for country in [
            "PH", "MX", "CO", "BR", "IN", "AR", "DE", "ES", "FR", "CL", "PE", "GB", "US", "IT",
        ] {
            let r = rules(country);
            let code = r.code.to_string();
            for _ in 0..1500 {
                let len = 5 + next(10) as usize;
                let mut digits: String = (0..len)
                    .map(|_| char::from(b'0' + next(10) as u8))
                    .collect();
                match next(5) {
                    0 => digits.insert(0, '0'),
                    1 => digits.insert_str(0, &code),
                    2 => digits.insert_str(0, "00"),
                    _ => {}
                }
                // Also take real example numbers of the country, in several shapes.
                if next(3) == 0 {
                    let d = r.meta.descriptors();
                    let ex = [d.mobile(), d.fixed_line()][next(2) as usize]
                        .and_then(|x| x.example())
                        .unwrap_or("");
                    digits = match next(4) {
                        0 => ex.to_string(),
                        1 => format!("0{ex}"),
                        2 => format!("+{code}{ex}"),
                        _ => format!("{code}{ex}"),
                    };
                }
                let text = match next(4) {
                    0 => format!("+{digits}"),
                    1 if digits.len() > 6 => {
                        format!("({}) {}-{}", &digits[..3], &digits[3..6], &digits[6..])
                    }
                    2 if digits.len() > 4 => format!("{} {}", &digits[..4], &digits[4..]),
                    _ => digits.clone(),
                };
                if let Some(fast) = r.fast.as_ref().and_then(|f| f.normalise(&text)) {
                    fast_taken += 1;
                    let slow = r.normalise_with_crate_only(&Cell::Text(text.clone()));
                    assert_eq!(slow, Ok(Some(fast)), "{country} {text:?}");
                }
            }
        }
        assert!(
            fast_taken > 200,
            "the shortcut was exercised ({fast_taken})"
        );
        assert!(rules("PH").has_fast_path());
        assert!(!rules("US").has_fast_path(), "+1 is shared by many regions");
    }

    #[test]
    fn phone_key_is_the_e164_digits() {
        let p = rules("PH")
            .normalise(&Cell::Text("0917 123 4567".into()))
            .unwrap()
            .unwrap();
        assert_eq!(p.key(), "639171234567");
    }

    #[test]
    fn email_keys_fold_gmail_only() {
        assert_eq!(
            email_key("Juan.Dela.Cruz+jobs@GoogleMail.com"),
            "juandelacruz@gmail.com"
        );
        assert_eq!(email_key("j.cruz+x@gmail.com"), "jcruz@gmail.com");
        assert_eq!(email_key("J.Cruz+x@Yahoo.com"), "j.cruz+x@yahoo.com");
        assert_eq!(
            email_display(" mailto:Ana@Example.com\u{200B} "),
            "Ana@Example.com"
        );
        assert_eq!(email_display("<ana@example.com>"), "ana@example.com");
        assert_eq!(email_domain("ana@example.com"), Some("example.com"));
    }

    #[test]
    fn names_are_cleaned_and_keyed() {
        let n = Name::new(text::clean("  José\u{00A0} María "));
        assert_eq!(n.display, "José María");
        assert_eq!(n.key, "jose maria");
    }

    #[test]
    fn full_names_split() {
        let s = |x: &str| {
            let (a, b) = split_full_name(x);
            (a, b)
        };
        assert_eq!(s("Juan Dela Cruz"), ("Juan".into(), "Dela Cruz".into()));
        assert_eq!(s("Maria de la Cruz"), ("Maria".into(), "de la Cruz".into()));
        assert_eq!(s("Ana Sofia Reyes"), ("Ana Sofia".into(), "Reyes".into()));
        assert_eq!(s("Reyes, Ana Sofia"), ("Ana Sofia".into(), "Reyes".into()));
        assert_eq!(s("Jose Rizal Jr."), ("Jose".into(), "Rizal Jr.".into()));
        assert_eq!(s("Jose Rizal, Jr."), ("Jose".into(), "Rizal Jr.".into()));
        assert_eq!(s("Madonna"), ("Madonna".into(), "".into()));
        assert_eq!(s("  "), ("".into(), "".into()));
        // A particle never takes the first word.
        assert_eq!(s("De Guzman"), ("De".into(), "Guzman".into()));
    }

    #[test]
    fn cell_texts() {
        assert_eq!(cell_text(&Cell::Number(9171234567.0)), "9171234567");
        assert_eq!(cell_text(&Cell::Number(2.5)), "2.5");
        assert_eq!(cell_text(&Cell::Bool(true)), "TRUE");
        assert_eq!(cleaned_value(&Cell::Text(" N/A ".into())), None);
        assert_eq!(
            cleaned_value(&Cell::Text(" Ana ".into())),
            Some("Ana".into())
        );
    }
}
