//! Phone: parsed with the agency's country as the default region, stored as E.164, Excel damage
//! repaired where it is unambiguous ([`PhoneRules::normalise`]).

use phonenumber::metadata::{Metadata, DATABASE};
use phonenumber::{country, PhoneNumber, Type};

use super::is_placeholder;
use crate::sheet::Cell;
use crate::text;

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
    pub(super) code: u16,
    country: String,
    pub(super) meta: &'static Metadata,
    pub(super) fast: Option<FastPath>,
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
pub(super) struct FastPath {
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

    pub(super) fn normalise(&self, text: &str) -> Option<Phone> {
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
