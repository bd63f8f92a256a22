//! The owners' admin file (SPEC §3.2): its model and validation ([`agency_portal_core::directory`]),
//! and reading it (and the logos it names) from disk.

use std::path::Path;

pub use agency_portal_core::directory::*;

use crate::check::{Problem, Problems};

/// Reads and validates the directory file.
pub fn load(path: &Path) -> Result<Directory, Problems> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, path),
        Err(e) => Err(Problems(vec![Problem {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            message: format!(
                "cannot read the directory file: {e}; check [directory] path in the settings"
            ),
        }])),
    }
}

/// Validates directory text; `file` names it in problems and is where relative logo paths start
/// (the logos are read to check them).
pub fn parse(text: &str, file: &Path) -> Result<Directory, Problems> {
    parse_with(text, file, &|path| std::fs::read(path))
}
