//! Configuration problems: collected while walking a spanned TOML document, reported all at once,
//! each as `file:line:column: what is wrong and what to do` (SPEC §3.2).

use std::fmt;
use std::ops::Range;

use crate::spanned::{Document, Entry, Node, Value};

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Every problem of one check, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Collects problems while walking a [`Document`]; also the reusable checks for typed values.
pub struct Checker<'d> {
    pub(crate) doc: &'d Document,
    pub(crate) problems: Vec<(usize, String)>,
}

impl<'d> Checker<'d> {
    pub fn new(doc: &'d Document) -> Self {
        Checker {
            doc,
            problems: Vec::new(),
        }
    }

    pub fn report(&mut self, span: &Range<usize>, message: impl Into<String>) {
        self.problems.push((span.start, message.into()));
    }

    /// Every problem found, in file order; `Ok` when there were none.
    pub fn finish(self) -> Result<(), Problems> {
        let mut problems = self.problems;
        if problems.is_empty() {
            return Ok(());
        }
        problems.sort_by_key(|(offset, _)| *offset);
        Err(Problems(
            problems
                .into_iter()
                .map(|(offset, message)| {
                    let (line, column) = self.doc.line_column(offset);
                    Problem {
                        file: self.doc.file.clone(),
                        line,
                        column,
                        message,
                    }
                })
                .collect(),
        ))
    }

    pub fn line_of(&self, span: &Range<usize>) -> usize {
        self.doc.line_column(span.start).0
    }

    /// Reports keys of `table` that are not in `known`, suggesting the closest known one.
    pub fn known_keys(&mut self, table: &Node, what: &str, known: &[&str]) {
        for entry in table.entries() {
            if known.contains(&entry.key.as_str()) {
                continue;
            }
            let hint = known
                .iter()
                .map(|k| (strsim::damerau_levenshtein(k, &entry.key), *k))
                .filter(|(d, _)| *d <= 2)
                .min()
                .map(|(_, k)| format!("did you mean `{k}`? "))
                .unwrap_or_default();
            self.report(
                &entry.key_span,
                format!(
                    "unknown key `{}` in {what}: {hint}the keys allowed here are {}",
                    entry.key,
                    known.join(", ")
                ),
            );
        }
    }

    /// The tables of an array of tables (`[[key]]`), reporting a non-table value.
    pub fn tables<'n>(&mut self, parent: &'n Node, key: &str) -> Vec<&'n Node> {
        let Some(entry) = parent.get(key) else {
            return Vec::new();
        };
        match &entry.node.value {
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    if matches!(item.value, Value::Table(_)) {
                        out.push(item);
                    } else {
                        self.report(
                            &item.span,
                            format!(
                                "each entry of `{key}` must be a table, found {}; write [[{key}]] sections",
                                item.value.type_name()
                            ),
                        );
                    }
                }
                out
            }
            other => {
                self.report(
                    &entry.node.span,
                    format!(
                        "`{key}` must be a list of [[{key}]] sections, found {}",
                        other.type_name()
                    ),
                );
                Vec::new()
            }
        }
    }

    pub fn wrong_type(&mut self, entry: &Entry, expected: &str, example: &str) {
        self.report(
            &entry.node.span,
            format!(
                "`{}` must be {expected}, found {}; e.g. {} = {example}",
                entry.key,
                entry.node.value.type_name(),
                entry.key
            ),
        );
    }

    /// A string value. `required`: a missing or empty one is a problem reported at `table`.
    pub fn string<'n>(
        &mut self,
        table: &'n Node,
        key: &str,
        what: &str,
        required: bool,
    ) -> Option<(String, &'n Range<usize>)> {
        match table.get(key) {
            None => {
                if required {
                    self.report(
                        &table.span,
                        format!("{what} has no `{key}`: add {key} = \"...\""),
                    );
                }
                None
            }
            Some(entry) => match &entry.node.value {
                Value::String(s) if s.trim().is_empty() && required => {
                    self.report(
                        &entry.node.span,
                        format!("`{key}` of {what} is empty: give it a value"),
                    );
                    None
                }
                Value::String(s) => Some((s.trim().to_string(), &entry.node.span)),
                _ => {
                    self.wrong_type(entry, "a string", "\"...\"");
                    None
                }
            },
        }
    }

    /// An identifier written as a string, or (for campaign IDs) a bare integer.
    pub fn id(&mut self, table: &Node, key: &str, what: &str) -> Option<(String, Range<usize>)> {
        match table.get(key) {
            Some(Entry {
                node:
                    Node {
                        value: Value::Integer(i),
                        span,
                    },
                ..
            }) => Some((i.to_string(), span.clone())),
            _ => self
                .string(table, key, what, true)
                .map(|(s, span)| (s, span.clone())),
        }
    }

    pub fn boolean(&mut self, table: &Node, key: &str, default: bool) -> bool {
        match table.get(key) {
            None => default,
            Some(entry) => match entry.node.value {
                Value::Boolean(b) => b,
                _ => {
                    self.wrong_type(entry, "true or false", "true");
                    default
                }
            },
        }
    }

    /// A string value that must be one of `choices`.
    pub fn choice(&mut self, table: &Node, key: &str, choices: &[&str]) {
        let Some(entry) = table.get(key) else { return };
        match &entry.node.value {
            Value::String(s) if choices.contains(&s.as_str()) => {}
            _ => {
                let quoted: Vec<String> = choices.iter().map(|c| format!("\"{c}\"")).collect();
                self.report(
                    &entry.node.span,
                    format!("`{key}` must be one of {}", quoted.join(", ")),
                );
            }
        }
    }
}
