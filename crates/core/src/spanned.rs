//! TOML documents with the position of every key and value, so that configuration problems can say
//! `file:line:column` (SPEC §3.2). Standard and inline tables, arrays of tables and inline arrays all
//! become the same tree, so validators walk one shape.

use std::ops::Range;
use std::path::Path;

use toml_edit::{Item, Value as TValue};

/// A value and where it stands in the source (byte range).
#[derive(Debug, Clone)]
pub struct Node {
    pub span: Range<usize>,
    pub value: Value,
}

#[derive(Debug, Clone)]
pub enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    /// A TOML date, time or date-time, as written.
    Datetime(toml_edit::Datetime),
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

/// One `key = value` of a table, with the key's own position.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub key_span: Range<usize>,
    pub node: Node,
}

impl Value {
    /// The TOML type name, for "expected a string, found an integer" messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Boolean(_) => "true or false",
            Value::Datetime(_) => "a date",
            Value::Array(_) => "a list",
            Value::Table(_) => "a table",
        }
    }
}

impl Node {
    pub fn entries(&self) -> &[Entry] {
        match &self.value {
            Value::Table(entries) => entries,
            _ => &[],
        }
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries().iter().find(|e| e.key == key)
    }
}

/// A parsed TOML file: its text (to turn offsets into lines and columns), its name, and its root table.
#[derive(Debug, Clone)]
pub struct Document {
    pub file: String,
    pub text: String,
    pub root: Node,
}

/// A TOML syntax error, already located.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Document {
    pub fn parse(text: String, file: &Path) -> Result<Document, SyntaxError> {
        let file_name = file.display().to_string();
        let parsed = match toml_edit::Document::parse(text.as_str()) {
            Ok(doc) => doc,
            Err(err) => {
                let offset = err.span().map(|s| s.start).unwrap_or(0);
                let (line, column) = line_column(&text, offset);
                let message = err.message().trim().to_string();
                return Err(SyntaxError {
                    line,
                    column,
                    message: format!("this is not valid TOML: {message}"),
                });
            }
        };
        let root = table_node(parsed.as_table().iter_entries(), 0..0);
        Ok(Document {
            file: file_name,
            text,
            root,
        })
    }

    /// 1-based line and column of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        line_column(&self.text, offset)
    }
}

/// 1-based line and column (in characters) of a byte offset of `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Key/item pairs of a standard or inline table, with key spans.
trait Entries<'a> {
    fn iter_entries(self) -> Vec<(&'a toml_edit::Key, &'a Item)>;
}

impl<'a> Entries<'a> for &'a toml_edit::Table {
    fn iter_entries(self) -> Vec<(&'a toml_edit::Key, &'a Item)> {
        self.iter()
            .filter_map(|(k, _)| self.get_key_value(k))
            .collect()
    }
}

impl<'a> Entries<'a> for &'a toml_edit::InlineTable {
    fn iter_entries(self) -> Vec<(&'a toml_edit::Key, &'a Item)> {
        self.iter()
            .filter_map(|(k, _)| self.get_key_value(k))
            .collect()
    }
}

fn table_node(entries: Vec<(&toml_edit::Key, &Item)>, span: Range<usize>) -> Node {
    let entries = entries
        .into_iter()
        .map(|(key, item)| {
            let key_span = key.span().unwrap_or(span.clone());
            let node = item_node(item, key_span.clone());
            Entry {
                key: key.get().to_string(),
                key_span,
                node,
            }
        })
        .collect();
    Node {
        span,
        value: Value::Table(entries),
    }
}

/// `fallback` is used where the parser keeps no span (it always keeps one for parsed input).
fn item_node(item: &Item, fallback: Range<usize>) -> Node {
    match item {
        Item::None => Node {
            span: fallback,
            value: Value::Table(Vec::new()),
        },
        Item::Value(v) => value_node(v, fallback),
        Item::Table(t) => {
            let span = t.span().unwrap_or(fallback);
            table_node(t.iter_entries(), span)
        }
        Item::ArrayOfTables(a) => {
            let span = a.span().unwrap_or(fallback.clone());
            let tables = a
                .iter()
                .map(|t| {
                    let span = t.span().unwrap_or(fallback.clone());
                    table_node(t.iter_entries(), span)
                })
                .collect();
            Node {
                span,
                value: Value::Array(tables),
            }
        }
    }
}

fn value_node(v: &TValue, fallback: Range<usize>) -> Node {
    let span = v.span().unwrap_or(fallback.clone());
    let value = match v {
        TValue::String(s) => Value::String(s.value().clone()),
        TValue::Integer(i) => Value::Integer(*i.value()),
        TValue::Float(f) => Value::Float(*f.value()),
        TValue::Boolean(b) => Value::Boolean(*b.value()),
        TValue::Datetime(d) => Value::Datetime(*d.value()),
        TValue::Array(a) => Value::Array(a.iter().map(|v| value_node(v, span.clone())).collect()),
        TValue::InlineTable(t) => return table_node(t.iter_entries(), span),
    };
    Node { span, value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_keys_and_values() {
        let text = "[a]\nx = 1\n\n[[b]]\nname = \"é\"\nlist = [\"p\", { q = true }]\n".to_string();
        let doc = Document::parse(text, Path::new("t.toml")).unwrap();
        let a = doc.root.get("a").unwrap();
        let x = a.node.get("x").unwrap();
        assert_eq!(doc.line_column(x.key_span.start), (2, 1));
        assert_eq!(doc.line_column(x.node.span.start), (2, 5));
        let Value::Array(b) = &doc.root.get("b").unwrap().node.value else {
            panic!("b is an array of tables")
        };
        let list = b[0].get("list").unwrap();
        let Value::Array(items) = &list.node.value else {
            panic!()
        };
        let q = items[1].get("q").unwrap();
        assert_eq!(doc.line_column(q.key_span.start), (6, 16));
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = Document::parse("a = 1\nb = = 2\n".to_string(), Path::new("t.toml")).unwrap_err();
        assert_eq!(err.line, 2);
    }
}
