//! Languages and the message catalogue ([`agency_portal_core::i18n`]), and the reading of the
//! owners' catalogue files (`config/templates/<lang>/messages.toml`) from the templates folder.

use std::path::{Path, PathBuf};

pub use agency_portal_core::i18n::*;

/// Something wrong with an owner's catalogue, for `config check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueProblem {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for CatalogueProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

/// The catalogue of `lang` for the templates folder `dir` (empty: the shipped one).
pub fn load(dir: &Path, lang: Lang) -> Catalogue {
    if dir.as_os_str().is_empty() {
        return Catalogue::shipped(lang).clone();
    }
    let path = dir.join(lang.code()).join(MESSAGES_FILE);
    let source = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && lang != Lang::En
                && dir.join("en").join(MESSAGES_FILE).is_file() =>
        {
            tracing::debug!(path = %path.display(), "no catalogue: the owners' English one");
            return load(dir, Lang::En);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Catalogue::shipped(lang).clone();
        }
        Err(e) => {
            tracing::error!(path = %path.display(), "cannot read the catalogue: {e}; using the shipped one");
            return Catalogue::shipped(lang).clone();
        }
    };
    match Catalogue::with_owners_texts(lang, &source) {
        Ok(catalogue) => catalogue,
        Err(e) => {
            tracing::error!(
                path = %path.display(),
                "the catalogue does not read: {e}; using the shipped one (see `agency-portal config check`)"
            );
            Catalogue::shipped(lang).clone()
        }
    }
}

/// What is wrong with the owners' catalogues in `dir`: files missing, keys missing or unknown,
/// placeholders that would be shown as written.
pub fn check(dir: &Path) -> Vec<CatalogueProblem> {
    let mut problems = Vec::new();
    for lang in Lang::ALL {
        let path = dir.join(lang.code()).join(MESSAGES_FILE);
        let messages = match std::fs::read_to_string(&path) {
            Ok(source) => Catalogue::check_source(lang, &source),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if lang != Lang::En && dir.join("en").join(MESSAGES_FILE).is_file() {
                    vec![format!(
                        "missing: agencies in {lang} get your English texts; copy the \
                         shipped file (config/templates/{lang}/{MESSAGES_FILE}) here"
                    )]
                } else {
                    Vec::new()
                }
            }
            Err(e) => vec![format!("cannot be read: {e}")],
        };
        problems.extend(messages.into_iter().map(|message| CatalogueProblem {
            path: path.clone(),
            message,
        }));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_texts_replace_the_shipped_ones_and_a_missing_file_is_english() {
        let dir = tempfile::tempdir().unwrap();
        // Nothing in the folder: the shipped catalogue of each language.
        assert_eq!(load(dir.path(), Lang::Pt).lang(), Lang::Pt);
        assert!(check(dir.path()).is_empty());
        std::fs::create_dir(dir.path().join("es")).unwrap();
        std::fs::create_dir(dir.path().join("en")).unwrap();
        std::fs::write(
            dir.path().join("en").join(MESSAGES_FILE),
            "[reason]\nblocked = \"ours\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("es").join(MESSAGES_FILE),
            "[reason]\nrepeated = \"repetida: fila {row}\"\nduplicate = \"{agencia}\"\n",
        )
        .unwrap();
        let es = load(dir.path(), Lang::Es);
        assert_eq!(
            es.fmt("reason.repeated", &[("row", "3")]),
            "repetida: fila 3"
        );
        assert_eq!(
            es.text("reason.blocked"),
            Catalogue::shipped(Lang::Es).text("reason.blocked")
        );
        let pt = load(dir.path(), Lang::Pt);
        assert_eq!(pt.lang(), Lang::En);

        let problems: Vec<String> = check(dir.path()).iter().map(|p| p.to_string()).collect();
        let all = problems.join("\n");
        assert!(all.contains("pt/messages.toml: missing"), "{all}");
        assert!(!all.contains("es/messages.toml: missing"), "{all}");
        assert!(all.contains("key reason.blocked is missing"), "{all}");
        assert!(all.contains("{agencia} is not one of its values"), "{all}");
    }
}
