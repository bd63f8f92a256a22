//! Names: display = [`text::clean`]; key = [`text::match_key`]; a full name split in two.

use crate::text;

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
