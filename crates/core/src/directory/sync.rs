//! What a directory sync changes (SPEC §3.2 "Reload"): the pure comparison of the file with what the
//! database holds. Entities are compared as flat [`Record`]s; anything that left the file is
//! deactivated, never deleted.

use std::collections::BTreeMap;
use std::fmt;

use super::Directory;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Owner,
    Recruiter,
    Agency,
    User,
    Campaign,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Owner => "owner",
            Kind::Recruiter => "recruiter",
            Kind::Agency => "agency",
            Kind::User => "user",
            Kind::Campaign => "campaign",
        }
    }
}

/// One directory entity as compared: its kind, key (id or email), whether active, and every other
/// field rendered as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    pub key: String,
    pub active: bool,
    pub fields: BTreeMap<&'static str, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Updated,
    Deactivated,
    Reactivated,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Updated => "updated",
            ChangeKind::Deactivated => "deactivated",
            ChangeKind::Reactivated => "reactivated",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: Kind,
    pub key: String,
    pub change: ChangeKind,
    /// The fields that changed, `field: old → new`; empty for additions.
    pub detail: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.kind.as_str(),
            self.key,
            self.change.as_str()
        )?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

fn json_list<S: AsRef<str>>(items: &[S]) -> String {
    serde_json::to_string(&items.iter().map(|s| s.as_ref()).collect::<Vec<_>>()).unwrap_or_default()
}

/// The records of a validated directory file.
pub fn records(dir: &Directory) -> Vec<Record> {
    let mut out = Vec::new();
    for o in &dir.owners {
        out.push(Record {
            kind: Kind::Owner,
            key: o.email.clone(),
            active: true,
            fields: BTreeMap::from([("name", o.name.clone())]),
        });
    }
    for r in &dir.recruiters {
        out.push(Record {
            kind: Kind::Recruiter,
            key: r.email.clone(),
            active: true,
            fields: BTreeMap::from([
                ("name", r.name.clone()),
                ("campaigns", json_list(&r.campaigns)),
            ]),
        });
    }
    for a in &dir.agencies {
        out.push(Record {
            kind: Kind::Agency,
            key: a.id.clone(),
            active: a.active,
            fields: agency_fields(
                &a.name,
                &a.country,
                &a.added_by,
                a.added_on.map(|d| d.to_string()),
                a.logo.as_ref().map(|p| p.display().to_string()),
                &json_list(&a.domains),
            ),
        });
        for u in &a.users {
            out.push(Record {
                kind: Kind::User,
                key: u.email.clone(),
                active: true,
                fields: BTreeMap::from([
                    ("agency", a.id.clone()),
                    ("name", u.name.clone()),
                    ("role", u.role.as_str().to_string()),
                ]),
            });
        }
    }
    for c in &dir.campaigns {
        out.push(Record {
            kind: Kind::Campaign,
            key: c.id.clone(),
            active: c.active,
            fields: campaign_fields(
                &c.name,
                &c.country,
                &c.created_by,
                c.created_on.map(|d| d.to_string()),
                c.required
                    .as_ref()
                    .map(|r| json_list(&r.iter().map(|f| f.as_str()).collect::<Vec<_>>())),
            ),
        });
    }
    out
}

/// An agency's compared fields; the store builds the same from its rows.
pub fn agency_fields(
    name: &str,
    country: &str,
    added_by: &str,
    added_on: Option<String>,
    logo: Option<String>,
    domains_json: &str,
) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("name", name.to_string()),
        ("country", country.to_string()),
        ("added_by", added_by.to_string()),
        ("added_on", added_on.unwrap_or_default()),
        ("logo", logo.unwrap_or_default()),
        ("domains", domains_json.to_string()),
    ])
}

/// A campaign's compared fields; the store builds the same from its rows.
pub fn campaign_fields(
    name: &str,
    country: &str,
    created_by: &str,
    created_on: Option<String>,
    required_json: Option<String>,
) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("name", name.to_string()),
        ("country", country.to_string()),
        ("created_by", created_by.to_string()),
        ("created_on", created_on.unwrap_or_default()),
        ("required", required_json.unwrap_or_default()),
    ])
}

/// What turns `stored` into `wanted`. Stored records missing from `wanted` are deactivated (once:
/// already inactive ones are left alone). `keep` says which stored records the file does not govern
/// (users invited by email), so their absence from the file deactivates nothing.
pub fn diff(stored: &[Record], wanted: &[Record], keep: impl Fn(&Record) -> bool) -> Vec<Change> {
    let stored_by_key: BTreeMap<(Kind, &str), &Record> = stored
        .iter()
        .map(|r| ((r.kind, r.key.as_str()), r))
        .collect();
    let wanted_keys: std::collections::BTreeSet<(Kind, &str)> =
        wanted.iter().map(|r| (r.kind, r.key.as_str())).collect();
    let mut changes = Vec::new();
    for w in wanted {
        let Some(s) = stored_by_key.get(&(w.kind, w.key.as_str())) else {
            changes.push(Change {
                kind: w.kind,
                key: w.key.clone(),
                change: ChangeKind::Added,
                detail: String::new(),
            });
            continue;
        };
        let mut detail: Vec<String> = w
            .fields
            .iter()
            .filter(|(k, v)| s.fields.get(*k) != Some(*v))
            .map(|(k, v)| {
                let old = s.fields.get(k).map(String::as_str).unwrap_or("");
                format!("{k}: {} → {}", show(old), show(v))
            })
            .collect();
        let change = match (s.active, w.active) {
            (true, false) => ChangeKind::Deactivated,
            (false, true) => ChangeKind::Reactivated,
            _ if detail.is_empty() => continue,
            _ => ChangeKind::Updated,
        };
        if s.active != w.active {
            detail.insert(0, format!("active: {} → {}", s.active, w.active));
        }
        changes.push(Change {
            kind: w.kind,
            key: w.key.clone(),
            change,
            detail: detail.join("; "),
        });
    }
    for s in stored {
        if s.active && !wanted_keys.contains(&(s.kind, s.key.as_str())) && !keep(s) {
            changes.push(Change {
                kind: s.kind,
                key: s.key.clone(),
                change: ChangeKind::Deactivated,
                detail: "removed from the directory file".into(),
            });
        }
    }
    changes
}

fn show(v: &str) -> &str {
    if v.is_empty() {
        "(none)"
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(kind: Kind, key: &str, active: bool, name: &str) -> Record {
        Record {
            kind,
            key: key.into(),
            active,
            fields: BTreeMap::from([("name", name.to_string())]),
        }
    }

    #[test]
    fn added_updated_deactivated_reactivated() {
        let stored = vec![
            rec(Kind::Agency, "acme", true, "Acme"),
            rec(Kind::Agency, "gone", true, "Gone"),
            rec(Kind::Agency, "back", false, "Back"),
            rec(Kind::User, "old@x.ph", false, "Old"),
        ];
        let wanted = vec![
            rec(Kind::Agency, "acme", true, "Acme Staffing"),
            rec(Kind::Agency, "back", true, "Back"),
            rec(Kind::Agency, "new", true, "New"),
        ];
        let changes = diff(&stored, &wanted, |_| false);
        let shown: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            shown,
            vec![
                "agency acme updated (name: Acme → Acme Staffing)",
                "agency back reactivated (active: false → true)",
                "agency new added",
                "agency gone deactivated (removed from the directory file)",
            ]
        );
    }

    #[test]
    fn unchanged_is_nothing_and_kept_records_stay() {
        let stored = vec![
            rec(Kind::Agency, "acme", true, "Acme"),
            rec(Kind::User, "invited@x.ph", true, "Bob"),
        ];
        let wanted = vec![rec(Kind::Agency, "acme", true, "Acme")];
        assert!(diff(&stored, &wanted, |r| r.kind == Kind::User).is_empty());
    }
}
