//! Validating the directory file's text (SPEC §3.2): **every** problem in one pass, each with
//! `file:line:column` and what to do about it. Nothing is half-applied: either a whole valid
//! [`Directory`] comes out, or the list of problems.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::{Agency, Campaign, Directory, Owner, Recruiter, Role, User};
use crate::check::{Checker, Problem, Problems};
use crate::field::Field;
use crate::i18n::Lang;
use crate::spanned::{Document, Node, Value};
use crate::{country, email};

/// Logos larger than this are refused (SPEC §3.2).
pub const MAX_LOGO_BYTES: u64 = 1024 * 1024;

/// Reads a logo file's bytes (the daemon: `std::fs::read`).
pub type ReadLogo<'a> = &'a dyn Fn(&Path) -> std::io::Result<Vec<u8>>;

/// Validates directory text; `file` names it in problems and is where relative logo paths start;
/// `read_logo` reads the logos it names, to check them.
pub fn parse_with(text: &str, file: &Path, read_logo: ReadLogo) -> Result<Directory, Problems> {
    let doc = match Document::parse(text.to_string(), file) {
        Ok(doc) => doc,
        Err(e) => {
            return Err(Problems(vec![Problem {
                file: file.display().to_string(),
                line: e.line,
                column: e.column,
                message: e.message,
            }]))
        }
    };
    let base = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut c = Checker::new(&doc);
    let dir = c.directory(&Logos {
        base: &base,
        read: read_logo,
    });
    c.finish().map(|()| dir)
}

/// Where an agency's logo path starts and how its file is read.
struct Logos<'a> {
    base: &'a Path,
    read: ReadLogo<'a>,
}

impl Checker<'_> {
    fn date(&mut self, table: &Node, key: &str) -> Option<NaiveDate> {
        let entry = table.get(key)?;
        let parsed = match &entry.node.value {
            Value::Datetime(d) if d.time.is_none() && d.offset.is_none() => d
                .date
                .and_then(|d| NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into())),
            Value::String(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.wrong_type(entry, "a date", "2026-11-02");
        }
        parsed
    }

    /// A list of strings (integers accepted and turned into text, for campaign IDs).
    fn string_list(&mut self, table: &Node, key: &str) -> Vec<(String, Range<usize>)> {
        let Some(entry) = table.get(key) else {
            return Vec::new();
        };
        let Value::Array(items) = &entry.node.value else {
            self.wrong_type(entry, "a list", "[\"...\"]");
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            match &item.value {
                Value::String(s) => out.push((s.trim().to_string(), item.span.clone())),
                Value::Integer(i) => out.push((i.to_string(), item.span.clone())),
                other => self.report(
                    &item.span,
                    format!(
                        "each entry of `{key}` must be a string, found {}",
                        other.type_name()
                    ),
                ),
            }
        }
        out
    }

    fn email(&mut self, table: &Node, key: &str, what: &str) -> Option<String> {
        let (value, span) = self.string(table, key, what, true)?;
        if email::is_valid(&value) {
            Some(value.to_ascii_lowercase())
        } else {
            self.report(
                span,
                format!("`{value}` is not a valid email address: write it as name@domain.example"),
            );
            None
        }
    }

    /// `language = "en" | "es" | "pt"` (SPEC §3.2 (r2)), else `default`.
    fn language(&mut self, table: &Node, what: &str, default: Lang) -> Lang {
        let Some((value, span)) = self.string(table, "language", what, false) else {
            return default;
        };
        match Lang::parse(value.trim()) {
            Some(lang) => lang,
            None => {
                self.report(
                    span,
                    format!("`{value}` is not a language the portal writes in: use \"en\", \"es\" or \"pt\", or leave `language` out"),
                );
                default
            }
        }
    }

    fn country(&mut self, table: &Node, what: &str) -> Option<String> {
        let (value, span) = self.string(table, "country", what, true)?;
        let parsed = country::parse(&value);
        if parsed.is_none() {
            self.report(
                span,
                format!("`{value}` is not an ISO 3166-1 alpha-2 country code: use two letters such as PH, MX, CO or BR"),
            );
        }
        parsed
    }

    fn directory(&mut self, logos: &Logos) -> Directory {
        let doc = self.doc;
        let root = &doc.root;
        self.known_keys(
            root,
            "the directory",
            &["owners", "recruiters", "agencies", "campaigns"],
        );
        let owners = self.owners(root);
        let owner_emails: Vec<String> = owners.iter().map(|o| o.email.clone()).collect();
        let campaigns = self.campaigns(root, &owner_emails);
        let campaign_ids: Vec<&str> = campaigns.iter().map(|c| c.id.as_str()).collect();
        let recruiters = self.recruiters(root, &campaign_ids);
        let agencies = self.agencies(root, &owner_emails, logos);
        Directory {
            owners,
            recruiters,
            agencies,
            campaigns,
        }
    }

    /// Reports a value already seen (`seen` maps value → line of its first use).
    fn unique(
        &mut self,
        seen: &mut HashMap<String, usize>,
        value: &str,
        span: &Range<usize>,
        message: impl Fn(usize) -> String,
    ) -> bool {
        let line = self.line_of(span);
        match seen.get(value) {
            Some(first) => {
                let msg = message(*first);
                self.report(span, msg);
                false
            }
            None => {
                seen.insert(value.to_string(), line);
                true
            }
        }
    }

    fn owners(&mut self, root: &Node) -> Vec<Owner> {
        let mut out = Vec::new();
        let mut seen = HashMap::new();
        for t in self.tables(root, "owners") {
            self.known_keys(t, "an [[owners]] entry", &["email", "name", "language"]);
            let email = self.email(t, "email", "an owner");
            let name = self.string(t, "name", "an owner", true);
            let language = self.language(t, "an owner", Lang::En);
            if let (Some(email), Some((name, _))) = (email, name) {
                let span = &t
                    .get("email")
                    .map(|e| e.node.span.clone())
                    .unwrap_or_default();
                if self.unique(&mut seen, &email, span, |l| {
                    format!("owner {email} is listed twice (first at line {l}): remove one")
                }) {
                    out.push(Owner {
                        email,
                        name,
                        language,
                    });
                }
            }
        }
        if out.is_empty() && self.problems.is_empty() {
            self.report(
                &root.span,
                "the directory has no [[owners]]: add at least one owner (email, name)",
            );
        }
        out
    }

    fn owner_ref(&mut self, t: &Node, key: &str, what: &str, owners: &[String]) -> String {
        let Some((value, span)) = self.string(t, key, what, true) else {
            return String::new();
        };
        let value = value.to_ascii_lowercase();
        if !owners.contains(&value) {
            self.report(
                span,
                format!("`{key}` is {value}, who is not one of the [[owners]]: name an owner or add them under [[owners]]"),
            );
        }
        value
    }

    fn recruiters(&mut self, root: &Node, campaign_ids: &[&str]) -> Vec<Recruiter> {
        let mut out = Vec::new();
        let mut seen = HashMap::new();
        for t in self.tables(root, "recruiters") {
            self.known_keys(
                t,
                "a [[recruiters]] entry",
                &["email", "name", "campaigns", "language"],
            );
            let email = self.email(t, "email", "a recruiter");
            let name = self.string(t, "name", "a recruiter", true).map(|n| n.0);
            let language = self.language(t, "a recruiter", Lang::En);
            let mut campaigns = Vec::new();
            for (id, span) in self.string_list(t, "campaigns") {
                if campaign_ids.contains(&id.as_str()) {
                    campaigns.push(id);
                } else {
                    self.report(
                        &span,
                        format!("campaign {id} is not in [[campaigns]]: add it there or remove it from this recruiter"),
                    );
                }
            }
            if let (Some(email), Some(name)) = (email, name) {
                let span = t
                    .get("email")
                    .map(|e| e.node.span.clone())
                    .unwrap_or_default();
                if self.unique(&mut seen, &email, &span, |l| {
                    format!("recruiter {email} is listed twice (first at line {l}): remove one")
                }) {
                    out.push(Recruiter {
                        email,
                        name,
                        campaigns,
                        language,
                    });
                }
            }
        }
        out
    }

    fn campaigns(&mut self, root: &Node, owners: &[String]) -> Vec<Campaign> {
        let mut out = Vec::new();
        let mut seen = HashMap::new();
        for t in self.tables(root, "campaigns") {
            self.known_keys(
                t,
                "a [[campaigns]] entry",
                &[
                    "id",
                    "name",
                    "country",
                    "active",
                    "created_by",
                    "created_on",
                    "required",
                ],
            );
            let id = self.id(t, "id", "a campaign");
            let name = self.string(t, "name", "a campaign", true).map(|n| n.0);
            let country = self.country(t, "a campaign");
            let active = self.boolean(t, "active", true);
            let created_by = self.owner_ref(t, "created_by", "a campaign", owners);
            let created_on = self.date(t, "created_on");
            let required = t.get("required").map(|_| {
                let mut fields = Vec::new();
                for (f, span) in self.string_list(t, "required") {
                    match Field::parse(&f) {
                        Some(field) => fields.push(field),
                        None => self.report(
                            &span,
                            format!(
                                "`{f}` is not a candidate field: use {}",
                                Field::ALL.map(Field::as_str).join(", ")
                            ),
                        ),
                    }
                }
                fields
            });
            if let Some((id, span)) = &id {
                self.unique(&mut seen, id, span, |l| {
                    format!("campaign id {id} is used twice (first at line {l}): each campaign needs its own Talkpush ID")
                });
            }
            if let (Some((id, _)), Some(name), Some(country)) = (id, name, country) {
                out.push(Campaign {
                    id,
                    name,
                    country,
                    active,
                    created_by,
                    created_on,
                    required,
                });
            }
        }
        out
    }

    fn agencies(&mut self, root: &Node, owners: &[String], logos: &Logos) -> Vec<Agency> {
        let mut out = Vec::new();
        let mut seen_ids = HashMap::new();
        // user email → (agency entry, agency id, line) of first membership
        let mut members: HashMap<String, (usize, String, usize)> = HashMap::new();
        for (index, t) in self.tables(root, "agencies").into_iter().enumerate() {
            self.known_keys(
                t,
                "an [[agencies]] entry",
                &[
                    "id", "name", "country", "active", "added_by", "added_on", "logo", "domains",
                    "language", "users",
                ],
            );
            let id = self.string(t, "id", "an agency", true).and_then(|(id, span)| {
                if is_slug(&id) {
                    Some((id, span.clone()))
                } else {
                    self.report(
                        span,
                        format!("agency id `{id}` must use only a-z, 0-9 and '-' (it names the agency's drop folder), e.g. \"acme-staffing\""),
                    );
                    None
                }
            });
            if let Some((id, span)) = &id {
                self.unique(&mut seen_ids, id, span, |l| {
                    format!("agency id {id} is used twice (first at line {l}): give each agency its own id")
                });
            }
            let name = self.string(t, "name", "an agency", true).map(|n| n.0);
            let country = self.country(t, "an agency");
            let active = self.boolean(t, "active", true);
            let added_by = self.owner_ref(t, "added_by", "an agency", owners);
            let added_on = self.date(t, "added_on");
            let logo = self.logo(t, logos);
            let mut domains = Vec::new();
            for (d, span) in self.string_list(t, "domains") {
                if email::is_valid_domain(&d) {
                    domains.push(d.to_ascii_lowercase());
                } else {
                    self.report(
                        &span,
                        format!("`{d}` is not a mail domain: write it like \"acme-staffing.ph\" (no @, no http://)"),
                    );
                }
            }
            let agency_id = id.as_ref().map(|(id, _)| id.clone()).unwrap_or_default();
            let users = self.users(t, (index, &agency_id), &mut members);
            let default = country
                .as_deref()
                .map(Lang::for_country)
                .unwrap_or_default();
            let language = self.language(t, "an agency", default);
            if let (Some((id, _)), Some(name), Some(country)) = (id, name, country) {
                out.push(Agency {
                    id,
                    name,
                    country,
                    active,
                    added_by,
                    added_on,
                    logo,
                    domains,
                    language,
                    users,
                });
            }
        }
        out
    }

    fn users(
        &mut self,
        agency: &Node,
        (index, agency_id): (usize, &str),
        members: &mut HashMap<String, (usize, String, usize)>,
    ) -> Vec<User> {
        let mut out = Vec::new();
        for u in self.tables(agency, "users") {
            self.known_keys(u, "an agency user", &["email", "name", "role"]);
            let email = self.email(u, "email", "an agency user");
            let name = self.string(u, "name", "an agency user", true).map(|n| n.0);
            let role = self
                .string(u, "role", "an agency user", true)
                .and_then(|(r, span)| {
                    let role = Role::parse(&r);
                    if role.is_none() {
                        self.report(
                            span,
                            format!("role `{r}` is not a role: use \"admin\" or \"editor\""),
                        );
                    }
                    role
                });
            let Some(email) = email else { continue };
            let span = u
                .get("email")
                .map(|e| e.node.span.clone())
                .unwrap_or_default();
            let line = self.line_of(&span);
            if let Some((other_index, other, first_line)) = members.get(&email) {
                let message = if *other_index == index {
                    format!("{email} is listed twice in this agency (first at line {first_line}): remove one")
                } else {
                    format!("{email} is already a user of agency {other} (line {first_line}): a person can belong to one agency only")
                };
                self.report(&span, message);
                continue;
            }
            members.insert(email.clone(), (index, agency_id.to_string(), line));
            if let (Some(name), Some(role)) = (name, role) {
                out.push(User { email, name, role });
            }
        }
        out
    }

    fn logo(&mut self, t: &Node, logos: &Logos) -> Option<PathBuf> {
        let (value, span) = self.string(t, "logo", "an agency", false)?;
        let path = logos.base.join(&value);
        let problem = match (logos.read)(&path) {
            Err(e) => Some(format!(
                "logo {} cannot be read ({e}): put the file there or fix the path (relative to the directory file)",
                path.display()
            )),
            Ok(bytes) if bytes.len() as u64 > MAX_LOGO_BYTES => Some(format!(
                "logo {} is {} KiB, over the 1024 KiB limit: use a smaller PNG or JPEG",
                path.display(),
                bytes.len() / 1024
            )),
            Ok(bytes) if !(bytes.starts_with(b"\x89PNG\r\n\x1a\n") || bytes.starts_with(&[0xFF, 0xD8, 0xFF])) => {
                Some(format!("logo {} is not a PNG or JPEG image", path.display()))
            }
            Ok(_) => None,
        };
        match problem {
            Some(p) => {
                self.report(span, p);
                None
            }
            None => Some(path),
        }
    }
}

fn is_slug(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('-')
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Directory, Vec<String>> {
        parse_with(text, Path::new("d.toml"), &|p| std::fs::read(p))
            .map_err(|p| p.0.iter().map(|p| p.to_string()).collect())
    }

    const OK: &str = r#"
[[owners]]
email = "olivia@company.example"
name = "Olivia Owner"

[[recruiters]]
email = "rick@company.example"
name = "Rick"
campaigns = ["40123"]

[[agencies]]
id = "acme"
name = "Acme Staffing"
country = "ph"
added_by = "Olivia@company.example"
added_on = 2026-11-02
domains = ["Acme-Staffing.ph"]

  [[agencies.users]]
  email = "ana@acme-staffing.ph"
  name = "Ana Admin"
  role = "admin"

[[campaigns]]
id = 40123
name = "Customer Service Manila"
country = "PH"
created_by = "olivia@company.example"
created_on = 2026-10-01
required = ["first_name", "last_name", "phone"]
"#;

    #[test]
    fn a_valid_directory() {
        let d = check(OK).unwrap();
        assert_eq!(d.agencies[0].country, "PH");
        assert!(d.agencies[0].active);
        assert_eq!(d.agencies[0].added_by, "olivia@company.example");
        assert_eq!(d.agencies[0].domains, vec!["acme-staffing.ph"]);
        assert_eq!(d.campaigns[0].id, "40123");
        assert_eq!(
            d.campaigns[0].required,
            Some(vec![Field::FirstName, Field::LastName, Field::Phone])
        );
        assert_eq!(d.recruiters[0].campaigns, vec!["40123"]);
    }

    /// SPEC §3.2 (r2): an agency's language is its entry's, else its country's; owners and
    /// recruiters get English unless their entry says otherwise.
    #[test]
    fn languages_from_the_entry_or_the_country() {
        let d = check(OK).unwrap();
        assert_eq!(d.agencies[0].language, Lang::En);
        assert_eq!(d.owners[0].language, Lang::En);
        let mx = OK.replace("country = \"ph\"", "country = \"MX\"");
        assert_eq!(check(&mx).unwrap().agencies[0].language, Lang::Es);
        let br = OK.replace("country = \"ph\"", "country = \"BR\"");
        assert_eq!(check(&br).unwrap().agencies[0].language, Lang::Pt);
        let told = OK
            .replace("country = \"ph\"", "country = \"BR\"\nlanguage = \"en\"")
            .replace("name = \"Rick\"", "name = \"Rick\"\nlanguage = \"es\"");
        let d = check(&told).unwrap();
        assert_eq!(d.agencies[0].language, Lang::En);
        assert_eq!(d.recruiters[0].language, Lang::Es);
        let bad = OK.replace(
            "country = \"ph\"",
            "country = \"ph\"\nlanguage = \"tagalog\"",
        );
        let problems = check(&bad).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(
            problems[0].contains("`tagalog` is not a language the portal writes in"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn every_problem_at_once_with_positions() {
        let bad = OK
            .replace("country = \"ph\"", "country = \"XX\"\ncolour = \"red\"")
            .replace("role = \"admin\"", "role = \"boss\"")
            .replace(
                "campaigns = [\"40123\"]",
                "campaigns = [\"40123\", \"999\"]",
            );
        let problems = check(&bad).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].starts_with("d.toml:9:"), "{}", problems[0]);
        assert!(problems[0].contains("campaign 999"));
        assert!(
            problems[1].starts_with("d.toml:14:11: `XX`"),
            "{}",
            problems[1]
        );
        assert!(problems[2].starts_with("d.toml:15:1: unknown key `colour`"));
        assert!(problems[3].contains("role `boss`"));
    }

    #[test]
    fn syntax_error_is_one_located_problem() {
        let problems = check("[[owners]\nemail = 1").unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("d.toml:1:"), "{}", problems[0]);
    }
}
