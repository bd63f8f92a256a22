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

/// Every template the composer uses, with the shipped version.
const SHIPPED: &[(&str, &str)] = &[
    (
        "reply.txt",
        include_str!("../../config/templates/reply.txt"),
    ),
    (
        "reply.html",
        include_str!("../../config/templates/reply.html"),
    ),
    (
        "alert-failed-message.txt",
        include_str!("../../config/templates/alert-failed-message.txt"),
    ),
    (
        "alert-failed-message.html",
        include_str!("../../config/templates/alert-failed-message.html"),
    ),
    (
        "receipt.txt",
        include_str!("../../config/templates/receipt.txt"),
    ),
    (
        "receipt.html",
        include_str!("../../config/templates/receipt.html"),
    ),
    (
        "invitation.txt",
        include_str!("../../config/templates/invitation.txt"),
    ),
    (
        "invitation.html",
        include_str!("../../config/templates/invitation.html"),
    ),
    (
        "alert-directory.txt",
        include_str!("../../config/templates/alert-directory.txt"),
    ),
    (
        "alert-directory.html",
        include_str!("../../config/templates/alert-directory.html"),
    ),
    (
        "alert-drop-folder.txt",
        include_str!("../../config/templates/alert-drop-folder.txt"),
    ),
    (
        "alert-drop-folder.html",
        include_str!("../../config/templates/alert-drop-folder.html"),
    ),
    (
        "alert-talkpush.txt",
        include_str!("../../config/templates/alert-talkpush.txt"),
    ),
    (
        "alert-talkpush.html",
        include_str!("../../config/templates/alert-talkpush.html"),
    ),
    (
        "alert-send-failure.txt",
        include_str!("../../config/templates/alert-send-failure.txt"),
    ),
    (
        "alert-send-failure.html",
        include_str!("../../config/templates/alert-send-failure.html"),
    ),
    (
        "digest-agency.txt",
        include_str!("../../config/templates/digest-agency.txt"),
    ),
    (
        "digest-agency.html",
        include_str!("../../config/templates/digest-agency.html"),
    ),
    (
        "digest-owner.txt",
        include_str!("../../config/templates/digest-owner.txt"),
    ),
    (
        "digest-owner.html",
        include_str!("../../config/templates/digest-owner.html"),
    ),
    (
        "digest-recruiter.txt",
        include_str!("../../config/templates/digest-recruiter.txt"),
    ),
    (
        "digest-recruiter.html",
        include_str!("../../config/templates/digest-recruiter.html"),
    ),
];

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

fn shipped(file: &str) -> &'static str {
    SHIPPED
        .iter()
        .find(|(n, _)| *n == file)
        .map(|(_, s)| *s)
        .unwrap_or_default()
}

impl Templates {
    /// Checks every template present in `dir` compiles; missing ones use the shipped version.
    pub fn load(dir: &Path) -> Result<Templates, MailError> {
        let templates = Templates {
            dir: dir.to_path_buf(),
        };
        for (file, _) in SHIPPED {
            let path = dir.join(file);
            if let Some(source) = read(&path)? {
                let mut env = environment();
                env.add_template_owned(file.to_string(), source)
                    .map_err(|e| MailError::Template {
                        path: path.clone(),
                        message: describe(&e),
                    })?;
            }
        }
        Ok(templates)
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

    /// Renders `<name>.txt` (blocks `subject`, `body`) and `<name>.html` with `ctx`.
    pub fn render(&self, name: &str, ctx: &Value) -> Rendered {
        let txt = format!("{name}.txt");
        let html = format!("{name}.html");
        let (subject, text) = self
            .render_one(&txt, ctx, true)
            .unwrap_or_else(|| render_text(shipped(&txt), ctx).expect("shipped template renders"));
        let html_body = self
            .render_one(&html, ctx, false)
            .map(|(_, b)| b)
            .unwrap_or_else(|| {
                render_html(&html, shipped(&html), ctx).expect("shipped template renders")
            });
        Rendered {
            subject: header_text(&subject),
            text,
            html: html_body,
        }
    }

    /// The owner's version from the folder, if present and it renders; `None` → use the shipped one.
    fn render_one(&self, file: &str, ctx: &Value, text: bool) -> Option<(String, String)> {
        if self.dir.as_os_str().is_empty() {
            return None;
        }
        let path = self.dir.join(file);
        let source = match read(&path) {
            Ok(Some(s)) => s,
            Ok(None) => return None,
            Err(e) => {
                tracing::error!("{e}; using the shipped template");
                return None;
            }
        };
        let result = if text {
            render_text(&source, ctx)
        } else {
            render_html(file, &source, ctx).map(|b| (String::new(), b))
        };
        match result {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!(
                    template = %path.display(),
                    "template does not render: {}; using the shipped template for this message",
                    describe(&e)
                );
                None
            }
        }
    }
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
        Templates::load(&dir).unwrap();
        for (file, _) in SHIPPED {
            assert!(
                dir.join(file).is_file(),
                "{file} is shipped in config/templates"
            );
        }
    }

    #[test]
    fn owners_edit_wording_and_broken_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("alert-directory.txt"),
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

        std::fs::write(dir.path().join("receipt.html"), "{% if %}").unwrap();
        let err = Templates::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("receipt.html"), "{err}");
    }
}
