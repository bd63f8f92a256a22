//! The message catalogue: `config/templates/<lang>/messages.toml`, keys in sections (`[reason]`,
//! `[field]`, ...) each a text with `{name}` placeholders. The shipped catalogues are built into
//! the binary; an owner's file in the templates folder replaces the texts it has. Read again for
//! every submission or message, like the templates, so wording changes need no restart.
//!
//! A language whose file is missing from a templates folder that has the owners' English file is
//! written with the owners' English texts (their wording wins), as templates are; else the shipped
//! catalogue of the language. `config check` reports it. A key missing from an owner's file keeps
//! the shipped text of its language.
//!
//! This is the catalogue from text; the daemon reads the owners' files (`agency_portal::i18n`).

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use super::Lang;

/// The catalogue's file name in each language's templates folder.
pub const MESSAGES_FILE: &str = "messages.toml";

fn shipped_source(lang: Lang) -> &'static str {
    match lang {
        Lang::En => include_str!("../../../../config/templates/en/messages.toml"),
        Lang::Es => include_str!("../../../../config/templates/es/messages.toml"),
        Lang::Pt => include_str!("../../../../config/templates/pt/messages.toml"),
    }
}

/// The texts of one language, by `section.key`.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalogue {
    lang: Lang,
    texts: HashMap<String, String>,
}

/// Reads a catalogue file's texts (`section.key` → text).
fn parse(source: &str) -> Result<HashMap<String, String>, String> {
    let doc: toml_edit::DocumentMut = source.parse().map_err(|e| format!("{e}"))?;
    let mut texts = HashMap::new();
    for (section, item) in doc.as_table().iter() {
        let Some(table) = item.as_table_like() else {
            return Err(format!(
                "`{section}` is not a section: every text belongs under a [section]"
            ));
        };
        for (key, value) in table.iter() {
            let Some(text) = value.as_str() else {
                return Err(format!("{section}.{key} is not a text in quotes"));
            };
            texts.insert(format!("{section}.{key}"), text.to_string());
        }
    }
    Ok(texts)
}

/// The `{name}` placeholders of a text.
fn placeholders(text: &str) -> BTreeSet<&str> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        out.insert(&rest[start + 1..start + len]);
        rest = &rest[start + len + 1..];
    }
    out
}

impl Catalogue {
    /// The catalogue built into the binary.
    pub fn shipped(lang: Lang) -> &'static Catalogue {
        static SHIPPED: OnceLock<[Catalogue; 3]> = OnceLock::new();
        let all = SHIPPED.get_or_init(|| {
            Lang::ALL.map(|lang| Catalogue {
                lang,
                texts: parse(shipped_source(lang)).expect("the shipped catalogue is valid TOML"),
            })
        });
        &all[lang as usize]
    }

    /// The shipped English catalogue: the language of what is stored and of owners.
    pub fn english() -> &'static Catalogue {
        Catalogue::shipped(Lang::En)
    }

    /// The shipped catalogue of `lang` with the texts of an owner's catalogue file (`source`, its
    /// text) in place of the shipped ones; why the file does not read when it does not.
    pub fn with_owners_texts(lang: Lang, source: &str) -> Result<Catalogue, String> {
        let mut catalogue = Catalogue::shipped(lang).clone();
        catalogue.texts.extend(parse(source)?);
        Ok(catalogue)
    }

    /// What is wrong with the text of an owner's catalogue file: it does not read, keys missing or
    /// unknown, placeholders that would be shown as written. `lang` names the shipped texts that
    /// stand in for missing keys.
    pub fn check_source(lang: Lang, source: &str) -> Vec<String> {
        let english = Catalogue::english();
        let texts = match parse(source) {
            Ok(t) => t,
            Err(e) => return vec![format!("does not read: {e}")],
        };
        let mut problems = Vec::new();
        let mut missing: Vec<&String> = english
            .texts
            .keys()
            .filter(|k| !texts.contains_key(*k))
            .collect();
        missing.sort();
        for key in missing {
            problems.push(format!(
                "key {key} is missing (the shipped {lang} text is used)"
            ));
        }
        let mut keys: Vec<&String> = texts.keys().collect();
        keys.sort();
        for key in keys {
            let Some(en) = english.texts.get(key) else {
                problems.push(format!(
                    "key {key} is not one the portal uses: check its spelling"
                ));
                continue;
            };
            let known = placeholders(en);
            for p in placeholders(&texts[key]) {
                if !known.contains(p) {
                    problems.push(format!(
                        "key {key}: {{{p}}} is not one of its values ({}); it would be shown as written",
                        known.iter().map(|k| format!("{{{k}}}")).collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
        problems
    }

    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// Every key (for tests and `config check`).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.texts.keys().map(String::as_str)
    }

    /// The text of `key`: this language's, else the shipped English one, else the key itself.
    pub fn text<'a>(&'a self, key: &'a str) -> &'a str {
        match self.texts.get(key) {
            Some(t) => t,
            None => match Catalogue::english().texts.get(key) {
                Some(t) => t,
                None => key,
            },
        }
    }

    /// The text of `key` with its `{name}` placeholders replaced; unknown ones stay as written.
    pub fn fmt(&self, key: &str, args: &[(&str, &str)]) -> String {
        let text = self.text(key);
        let mut out = String::with_capacity(text.len() + 16);
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let after = &rest[start..];
            match after.find('}') {
                Some(len) => {
                    let name = &after[1..len];
                    match args.iter().find(|(n, _)| *n == name) {
                        Some((_, v)) => out.push_str(v),
                        None => out.push_str(&after[..=len]),
                    }
                    rest = &after[len + 1..];
                }
                None => {
                    out.push_str(after);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// A country's name (ISO 3166-1 alpha-2 code), as a reason says it.
    pub fn country(&self, code: &str) -> String {
        self.country_in("country", code)
    }

    /// "in <country>" as a reason says it (in Portuguese with its article: "no Brasil").
    pub fn in_country(&self, code: &str) -> String {
        self.country_in("in_country", code)
    }

    fn country_in(&self, section: &str, code: &str) -> String {
        let key = format!("{section}.{code}");
        match self.texts.get(&key) {
            Some(t) => t.clone(),
            None => self.fmt(&format!("{section}.other"), &[("code", code)]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_key_with_the_same_placeholders() {
        let en = Catalogue::english();
        for lang in [Lang::Es, Lang::Pt] {
            let c = Catalogue::shipped(lang);
            let mut en_keys: Vec<&str> = en.keys().collect();
            let mut keys: Vec<&str> = c.keys().collect();
            en_keys.sort();
            keys.sort();
            assert_eq!(keys, en_keys, "{lang}: the same keys as English");
            for key in en_keys {
                assert_eq!(
                    placeholders(c.text(key)),
                    placeholders(en.text(key)),
                    "{lang}: {key} has the values of its English text"
                );
            }
        }
    }

    #[test]
    fn placeholders_are_replaced_and_countries_named() {
        let es = Catalogue::shipped(Lang::Es);
        assert_eq!(
            es.fmt("reason.repeated", &[("row", "7")]),
            "es la misma persona de la fila 7 de este archivo"
        );
        assert_eq!(es.fmt("reason.repeated", &[]), es.text("reason.repeated"));
        assert_eq!(Catalogue::shipped(Lang::Pt).in_country("BR"), "no Brasil");
        assert_eq!(Catalogue::english().country("XX"), "country XX");
    }
}
