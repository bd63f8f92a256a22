//! The mail templates (SPEC §7): `config/templates/<name>.txt` (blocks `subject` and `body`) and
//! `<name>.html`, rendered with minijinja. Files are read again for every message, so owners change
//! wording without rebuilding or restarting. A missing file falls back to the shipped version built
//! into the binary; a broken one is reported when the composer is created (so `run` refuses to start)
//! and, if broken later, is logged and replaced by the shipped version for that message, so a typo
//! never blocks a receipt.

use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior, Value};

use super::message::header_text;
use super::MailError;
use crate::i18n::{self, Catalogue, Lang};

/// Templates written in every language: what an agency's people receive (SPEC §7 (r2)). The others
/// (owner alerts, the owner and recruiter digests) are for owners and recruiters and exist in
/// English only, in `en/`.
pub const TRANSLATED: &[&str] = &[
    "receipt",
    "invitation",
    "reply",
    "digest-agency",
    "review-decision",
];

macro_rules! shipped {
    ($lang:literal, $($name:literal),* $(,)?) => {
        [$(
            (
                $lang,
                concat!($name, ".txt"),
                include_str!(concat!("../../config/templates/", $lang, "/", $name, ".txt")),
            ),
            (
                $lang,
                concat!($name, ".html"),
                include_str!(concat!("../../config/templates/", $lang, "/", $name, ".html")),
            ),
        )*]
    };
}

const SHIPPED_EN: [(&str, &str, &str); 24] = shipped!(
    "en",
    "alert-talkpush",
    "reply",
    "review-decision",
    "alert-failed-message",
    "receipt",
    "invitation",
    "alert-directory",
    "alert-drop-folder",
    "alert-send-failure",
    "digest-agency",
    "digest-owner",
    "digest-recruiter",
);
const SHIPPED_ES: [(&str, &str, &str); 10] = shipped!(
    "es",
    "receipt",
    "invitation",
    "reply",
    "digest-agency",
    "review-decision",
);
const SHIPPED_PT: [(&str, &str, &str); 10] = shipped!(
    "pt",
    "receipt",
    "invitation",
    "reply",
    "digest-agency",
    "review-decision",
);

/// Every shipped template: (language, file, text).
fn all_shipped() -> impl Iterator<Item = &'static (&'static str, &'static str, &'static str)> {
    SHIPPED_EN.iter().chain(&SHIPPED_ES).chain(&SHIPPED_PT)
}

/// A rendered message text: subject, text body, HTML body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, Clone)]
pub struct Templates {
    dir: PathBuf,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env
}

/// The shipped text of `file` in `lang`, if the binary has one.
fn shipped(lang: Lang, file: &str) -> Option<&'static str> {
    all_shipped()
        .find(|(l, f, _)| *l == lang.code() && *f == file)
        .map(|(_, _, s)| *s)
}

/// The language a template `name` is written in for a reader of `lang`: English for the
/// templates that exist only in English.
fn language_of(name: &str, lang: Lang) -> Lang {
    if TRANSLATED.contains(&name) {
        lang
    } else {
        Lang::En
    }
}

impl Templates {
    /// Checks every template present in `dir` compiles (missing ones use the shipped version, or
    /// English for a language: see [`Templates::missing`], which is warned about here).
    pub fn load(dir: &Path) -> Result<Templates, MailError> {
        let templates = Templates {
            dir: dir.to_path_buf(),
        };
        for (lang, file, _) in all_shipped() {
            let mut paths = vec![dir.join(lang).join(file)];
            if *lang == "en" {
                // The layout before languages: the English templates directly in the folder.
                paths.push(dir.join(file));
            }
            for path in paths {
                if let Some(source) = read(&path)? {
                    let mut env = environment();
                    env.add_template_owned(file.to_string(), source)
                        .map_err(|e| MailError::Template {
                            path: path.clone(),
                            message: describe(&e),
                        })?;
                }
            }
        }
        for missing in templates.missing() {
            tracing::warn!("{missing}");
        }
        Ok(templates)
    }

    /// The agency templates the owners wrote in English but not in another language (agencies
    /// of that language get the owners' English one): for `config check` and the start of `run`.
    pub fn missing(&self) -> Vec<String> {
        if self.dir.as_os_str().is_empty() || !self.dir.is_dir() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for lang in [Lang::Es, Lang::Pt] {
            for name in TRANSLATED {
                for ext in ["txt", "html"] {
                    let file = format!("{name}.{ext}");
                    let path = self.dir.join(lang.code()).join(&file);
                    if !path.is_file() && self.owners_file(&file, Lang::En).is_some() {
                        out.push(format!(
                            "template {} is missing: agencies in {lang} get your English {file}; \
                             copy the shipped file (config/templates/{lang}/{file}) there and \
                             make the same changes",
                            path.display()
                        ));
                    }
                }
            }
        }
        out
    }

    /// Only the shipped templates (tests, tools).
    pub fn shipped() -> Templates {
        Templates {
            dir: PathBuf::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The message catalogue of `lang` for these templates ([`i18n::load`]).
    pub fn catalogue(&self, lang: Lang) -> Catalogue {
        i18n::load(&self.dir, lang)
    }

    /// Renders `<name>.txt` (blocks `subject`, `body`) and `<name>.html` with `ctx`, in English.
    pub fn render(&self, name: &str, ctx: &Value) -> Rendered {
        self.render_in(name, Lang::En, ctx)
    }

    /// Renders template `name` in `lang`: the owners' version in `<dir>/<lang>/`, else (a language
    /// file missing) the owners' English one, else the shipped one of `lang`; a file that does not
    /// render is replaced by the shipped version of its language for this message.
    pub fn render_in(&self, name: &str, lang: Lang, ctx: &Value) -> Rendered {
        let lang = language_of(name, lang);
        let txt = format!("{name}.txt");
        let html = format!("{name}.html");
        let (subject, text) = self.render_file(&txt, lang, ctx, true);
        let (_, html_body) = self.render_file(&html, lang, ctx, false);
        Rendered {
            subject: header_text(&subject),
            text,
            html: html_body,
        }
    }

    fn render_file(&self, file: &str, lang: Lang, ctx: &Value, text: bool) -> (String, String) {
        let render = |source: &str| {
            if text {
                render_text(source, ctx)
            } else {
                render_html(file, source, ctx).map(|b| (String::new(), b))
            }
        };
        let (used, source) = match self.owners_file(file, lang) {
            Some((used, source)) => (used, Some(source)),
            // The folder lacks this language's file but has the owners' English one: their
            // wording wins over the shipped translation (reported by `missing`).
            None => match self.owners_file(file, Lang::En) {
                Some((used, source)) => (used, Some(source)),
                None => (lang, None),
            },
        };
        if let Some(source) = source {
            match render(&source) {
                Ok(r) => return r,
                Err(e) => tracing::error!(
                    template = %self.dir.join(used.code()).join(file).display(),
                    "template does not render: {}; using the shipped template for this message",
                    describe(&e)
                ),
            }
        }
        let shipped = shipped(used, file)
            .or_else(|| shipped(Lang::En, file))
            .expect("every template is shipped in English");
        render(shipped).expect("shipped template renders")
    }

    /// The owners' version of `file` in `lang` (English also directly in the folder, the layout
    /// before languages), if present and readable.
    fn owners_file(&self, file: &str, lang: Lang) -> Option<(Lang, String)> {
        if self.dir.as_os_str().is_empty() {
            return None;
        }
        let mut paths = vec![self.dir.join(lang.code()).join(file)];
        if lang == Lang::En {
            paths.push(self.dir.join(file));
        }
        for path in paths {
            match read(&path) {
                Ok(Some(s)) => return Some((lang, s)),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!("{e}; using the shipped template");
                    return None;
                }
            }
        }
        None
    }
}

/// `config check` of the templates folder (SPEC §7 (r2)): a template that does not compile is an
/// error; a language's file or a catalogue key missing is a note (those texts fall back, see
/// [`Templates::missing`] and [`i18n::check`]).
pub fn check(dir: &Path) -> Result<Vec<String>, MailError> {
    let mut notes = Templates::load(dir)?.missing();
    if dir.is_dir() {
        notes.extend(i18n::check(dir).iter().map(ToString::to_string));
    }
    Ok(notes)
}

fn read(path: &Path) -> Result<Option<String>, MailError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MailError::Template {
            path: path.to_path_buf(),
            message: format!("cannot read it: {e}"),
        }),
    }
}

fn render_text(source: &str, ctx: &Value) -> Result<(String, String), minijinja::Error> {
    let mut env = environment();
    // `.txt`: no HTML escaping.
    env.add_template_owned("message.txt".to_string(), source.to_string())?;
    let tmpl = env.get_template("message.txt")?;
    // `eval_to_state` is the one API that renders single blocks (`render_captured` gives no `&mut`).
    #[allow(deprecated)]
    let mut state = tmpl.eval_to_state(ctx)?;
    let subject = state.render_block("subject")?;
    let body = state.render_block("body")?;
    let mut body = body.trim_start_matches(['\n', '\r']).trim_end().to_string();
    body.push('\n');
    Ok((subject, body))
}

fn render_html(name: &str, source: &str, ctx: &Value) -> Result<String, minijinja::Error> {
    let mut env = environment();
    // `.html`: values are HTML-escaped.
    env.add_template_owned(name.to_string(), source.to_string())?;
    env.get_template(name)?.render(ctx)
}

fn describe(e: &minijinja::Error) -> String {
    match e.line() {
        Some(line) => format!("line {line}: {e}"),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_template_compiles() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/templates");
        let t = Templates::load(&dir).unwrap();
        for (lang, file, _) in all_shipped() {
            assert!(
                dir.join(lang).join(file).is_file(),
                "{lang}/{file} is shipped in config/templates"
            );
        }
        assert_eq!(t.missing(), Vec::<String>::new());
    }

    #[test]
    fn owners_edit_wording_and_broken_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("en")).unwrap();
        std::fs::write(
            dir.path().join("en").join("alert-directory.txt"),
            "{% block subject %}Directory broken: {{ problems|length }}{% endblock %}\n{% block body %}Fix it{% endblock %}",
        )
        .unwrap();
        let t = Templates::load(dir.path()).unwrap();
        let ctx =
            Value::from_serialize(serde_json::json!({"problems": ["a", "b"], "file": "d.toml"}));
        let r = t.render("alert-directory", &ctx);
        assert_eq!(r.subject, "Directory broken: 2");
        assert_eq!(r.text, "Fix it\n");
        assert!(r.html.contains("d.toml"), "shipped HTML used: {}", r.html);
        // An owner-only template is English for every reader.
        assert_eq!(t.render_in("alert-directory", Lang::Es, &ctx), r);

        std::fs::write(dir.path().join("en").join("receipt.html"), "{% if %}").unwrap();
        let err = Templates::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("receipt.html"), "{err}");
    }

    /// A language's file missing from the folder where the owners wrote an English one: theirs,
    /// reported; else the shipped one of the language. The layout before languages (files
    /// directly in the folder) is English.
    #[test]
    fn a_missing_language_file_is_english_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("reply.txt"),
            "{% block subject %}{{ heading }}{% endblock %}{% block body %}Ours: {{ heading }}{% endblock %}",
        )
        .unwrap();
        let t = Templates::load(dir.path()).unwrap();
        let ctx = Value::from_serialize(serde_json::json!({
            "name": "Ana", "heading": "Hola", "paragraphs": [], "items": [],
            "intake_address": "cv@x.example"
        }));
        assert_eq!(t.render_in("reply", Lang::Es, &ctx).text, "Ours: Hola\n");
        let missing = t.missing().join("\n");
        assert!(missing.contains("es/reply.txt is missing"), "{missing}");
        assert!(missing.contains("pt/reply.txt is missing"), "{missing}");
        assert_eq!(t.missing().len(), 2, "{missing}");
        // The owners did not write the HTML part: the shipped Spanish one.
        assert!(t
            .render_in("reply", Lang::Es, &ctx)
            .html
            .contains("Hola, Ana"));
        // Shipped: each language's own text.
        let shipped = Templates::shipped().render_in("reply", Lang::Pt, &ctx);
        assert!(shipped.text.starts_with("Olá, Ana"), "{}", shipped.text);
    }
}
