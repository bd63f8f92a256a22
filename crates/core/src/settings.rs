//! The settings model (SPEC §3.1): what the settings file says, as plain values. Reading the file
//! and the environment is the daemon's (`agency_portal::settings`).

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Company,
    Campaign,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub ownership_days: u32,
    pub scope: Scope,
    pub name_similarity: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            ownership_days: 180,
            scope: Scope::Company,
            name_similarity: 0.92,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestKind {
    Agency,
    Owner,
    Recruiter,
}

impl DigestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DigestKind::Agency => "agency",
            DigestKind::Owner => "owner",
            DigestKind::Recruiter => "recruiter",
        }
    }

    pub const ALL: [DigestKind; 3] = [DigestKind::Agency, DigestKind::Owner, DigestKind::Recruiter];

    /// `agency` | `owner` | `recruiter`, case-insensitively.
    pub fn parse(s: &str) -> Option<DigestKind> {
        DigestKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
}
