//! The owners' admin file (SPEC §3.2): its model and the validation of its text (the daemon reads
//! the file: `agency_portal::directory::load`).

use std::path::PathBuf;

use chrono::NaiveDate;

use crate::field::Field;
use crate::i18n::Lang;

pub mod sync;
mod validate;
pub use validate::{parse_with, ReadLogo};

/// A validated directory. Only [`parse_with`] builds one, so holding one means it passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Directory {
    pub owners: Vec<Owner>,
    pub recruiters: Vec<Recruiter>,
    pub agencies: Vec<Agency>,
    pub campaigns: Vec<Campaign>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    /// Lower-case.
    pub email: String,
    pub name: String,
    /// What they are written to in (English unless their entry says `language`).
    pub language: Lang,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recruiter {
    pub email: String,
    pub name: String,
    pub campaigns: Vec<String>,
    /// What they are written to in (English unless their entry says `language`).
    pub language: Lang,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Editor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Editor => "editor",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "editor" => Some(Role::Editor),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Lower-case.
    pub email: String,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Agency {
    /// Slug `[a-z0-9-]`, also its drop folder's name.
    pub id: String,
    pub name: String,
    /// ISO 3166-1 alpha-2, upper-case; the default region for phone numbers.
    pub country: String,
    pub active: bool,
    pub added_by: String,
    pub added_on: Option<NaiveDate>,
    /// Resolved against the directory file's folder.
    pub logo: Option<PathBuf>,
    /// Lower-case mail domains of the agency itself.
    pub domains: Vec<String>,
    /// What its people are written to in: its `language`, else its country's (SPEC §3.2 (r2)).
    pub language: Lang,
    pub users: Vec<User>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    /// The Talkpush campaign ID.
    pub id: String,
    pub name: String,
    pub country: String,
    pub active: bool,
    pub created_by: String,
    pub created_on: Option<NaiveDate>,
    /// `None`: the default rule (first name, last name and email-or-phone).
    pub required: Option<Vec<Field>>,
}

impl Directory {
    pub fn agency(&self, id: &str) -> Option<&Agency> {
        self.agencies.iter().find(|a| a.id == id)
    }
    pub fn campaign(&self, id: &str) -> Option<&Campaign> {
        self.campaigns.iter().find(|c| c.id == id)
    }
    /// The user with this email (any case) and their agency.
    pub fn user(&self, email: &str) -> Option<(&Agency, &User)> {
        let email = email.to_ascii_lowercase();
        self.agencies
            .iter()
            .find_map(|a| a.users.iter().find(|u| u.email == email).map(|u| (a, u)))
    }

    /// Whether `email` is a user of agency `agency_id`.
    pub fn is_user_of(&self, agency_id: &str, email: &str) -> bool {
        self.user(email).is_some_and(|(a, _)| a.id == agency_id)
    }

    pub fn is_owner(&self, email: &str) -> bool {
        let email = email.to_ascii_lowercase();
        self.owners.iter().any(|o| o.email == email)
    }
}
