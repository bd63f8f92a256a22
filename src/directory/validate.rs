//! Parsing and validating the directory file: every problem at once, each with file:line:column.

use std::path::Path;

use super::Directory;

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Every problem of one file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s) in the directory", .0.len())]
pub struct Problems(pub Vec<Problem>);

pub fn load(_path: &Path) -> Result<Directory, Problems> {
    todo!()
}

pub fn parse(_text: &str, _file: &Path) -> Result<Directory, Problems> {
    todo!()
}
