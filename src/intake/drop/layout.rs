//! The drop folder's layout (SPEC §4.2), kept for every active agency:
//!
//! ```text
//! <agency-id>/                 uploads (one campaign per file, or a campaign column)
//! <agency-id>/<campaign-id>/   one per active campaign of the agency's country: rows default to it
//! <agency-id>/check/           validate only: results are written, nothing is created
//! <agency-id>/results/         <stem>-results.xlsx and <stem>-to-fix.xlsx
//! <agency-id>/processed/       inputs after processing, renamed <UTC timestamp>-<name>
//! <agency-id>/failed/          refused and unreadable inputs, with <name>.error.txt
//! ```
//!
//! Campaign folders are created for the active campaigns of the agency's country; a folder named
//! after any campaign of the directory is read as that campaign's (a campaign closed later keeps its
//! folder, and its rows get the validation's verdict). Folders are created when missing and never
//! removed; their owners and modes are `sftp-setup`'s business.

use std::ffi::OsStr;
use std::io;

use crate::directory::{Agency, Directory};

use super::folder::Folder;

pub const CHECK: &str = "check";
pub const RESULTS: &str = "results";
pub const PROCESSED: &str = "processed";
pub const FAILED: &str = "failed";

/// Folders the daemon writes and never reads uploads from.
pub const OUTPUTS: [&str; 3] = [RESULTS, PROCESSED, FAILED];

/// Where in an agency's folder an upload was found.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Place {
    Root,
    Campaign(String),
    Check,
}

impl Place {
    /// The sub-folder's name (`None` for the agency's folder itself).
    pub fn dir(&self) -> Option<&str> {
        match self {
            Place::Root => None,
            Place::Campaign(id) => Some(id),
            Place::Check => Some(CHECK),
        }
    }

    /// `x.xlsx`, `40123/x.xlsx`, `check/x.xlsx`.
    pub fn show(&self, name: &str) -> String {
        match self.dir() {
            None => name.to_string(),
            Some(d) => format!("{d}/{name}"),
        }
    }
}

/// What a sub-folder of an agency's folder is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubKind {
    Input(Place),
    Output,
    /// Not part of the layout.
    Unknown,
}

pub fn sub_kind(name: &str, directory: &Directory) -> SubKind {
    if name == CHECK {
        SubKind::Input(Place::Check)
    } else if OUTPUTS.contains(&name) {
        SubKind::Output
    } else if directory.campaign(name).is_some() {
        SubKind::Input(Place::Campaign(name.to_string()))
    } else {
        SubKind::Unknown
    }
}

/// The active agencies, each with the campaign folders it gets.
pub fn active_agencies(directory: &Directory) -> Vec<(&Agency, Vec<&str>)> {
    directory
        .agencies
        .iter()
        .filter(|a| a.active)
        .map(|a| {
            let campaigns = directory
                .campaigns
                .iter()
                .filter(|c| c.active && c.country == a.country)
                .map(|c| c.id.as_str())
                .collect();
            (a, campaigns)
        })
        .collect()
}

/// A sub-folder of an agency's layout that cannot be had (a link or a file in its place, no
/// permission): `<agency>/<name>` and why.
pub type Broken = (String, io::Error);

/// Creates what is missing of one agency's layout; returns the agency's folder and the sub-folders
/// that cannot be had. Only the agency's own folder is needed: a broken sub-folder (one campaign's,
/// `results/`) is left as it is and named, and the agency's other folders keep flowing (SPEC §4.2
/// (r2)).
pub fn ensure(
    root: &Folder,
    agency: &str,
    campaigns: &[&str],
) -> io::Result<(Folder, Vec<Broken>)> {
    let folder = root.ensure_sub(OsStr::new(agency), 0o770)?;
    let inputs = [CHECK].into_iter().chain(campaigns.iter().copied());
    let outputs = OUTPUTS.into_iter();
    let broken = inputs
        .map(|name| (name, 0o770))
        .chain(outputs.map(|name| (name, 0o750)))
        .filter_map(|(name, mode)| {
            let e = folder.ensure_sub(OsStr::new(name), mode).err()?;
            Some((format!("{agency}/{name}"), e))
        })
        .collect();
    Ok((folder, broken))
}

/// Creates the layout of every active agency under `root`; what cannot be had is returned, an
/// agency's own folder by the agency's id, a sub-folder as `<agency>/<name>`.
pub fn ensure_all(root: &Folder, directory: &Directory) -> Vec<Broken> {
    let mut errors = Vec::new();
    for (agency, campaigns) in active_agencies(directory) {
        match ensure(root, &agency.id, &campaigns) {
            Ok((_, broken)) => errors.extend(broken),
            Err(e) => errors.push((agency.id.clone(), e)),
        }
    }
    errors
}
