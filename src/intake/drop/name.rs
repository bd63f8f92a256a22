//! Upload names: which are taken, which are still being uploaded, which are refused, and the names
//! the daemon gives to what it moves and writes (never colliding, never overwriting).

use std::ffi::{OsStr, OsString};

use chrono::{DateTime, Utc};

use super::folder::Folder;

/// Suffixes of files still being uploaded (WinSCP, browsers, generic tools).
const IN_PROGRESS: [&str; 4] = [".filepart", ".part", ".tmp", ".crdownload"];

/// What to do with a name found in a drop folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameKind {
    /// A candidate upload.
    Take(String),
    /// A dot-file or an upload in progress: left alone.
    Ignore,
    /// A name the daemon does not accept, with why (plain words).
    Refuse(&'static str),
}

pub fn classify(name: &OsStr) -> NameKind {
    let Some(s) = name.to_str() else {
        return NameKind::Refuse("its name is not valid UTF-8 text");
    };
    if s.starts_with('.') {
        return NameKind::Ignore;
    }
    let lower = s.to_lowercase();
    if IN_PROGRESS.iter().any(|sfx| lower.ends_with(sfx)) {
        return NameKind::Ignore;
    }
    if s.chars().any(is_refused_char) {
        return NameKind::Refuse(
            "its name contains a control character (such as a line break) or an invisible \
             direction mark",
        );
    }
    if s.contains("..") {
        return NameKind::Refuse("its name contains `..`");
    }
    NameKind::Take(s.to_string())
}

fn is_refused_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// The longest name (in bytes) the daemon shows and builds on: a `processed/` name adds a 17-byte
/// timestamp, a unique name `-N`, a results workbook `-results.xlsx`, and a file system takes 255
/// bytes at most (a 240-byte upload name once could never be moved, and was read again at every
/// pass).
pub const MAX_NAME_BYTES: usize = 160;

/// A name safe to show and to store: refused characters become `_`, `..` becomes `._`, a
/// leading dot is dropped (the result is never hidden, never empty), and a name longer than
/// [`MAX_NAME_BYTES`] is shortened, its extension kept (SPEC §4.2 (r2)).
pub fn sanitize(name: &OsStr) -> String {
    let lossy = name.to_string_lossy();
    let mut s: String = lossy
        .chars()
        .map(|c| {
            if is_refused_char(c) || c == '\u{FFFD}' || c == '/' {
                '_'
            } else {
                c
            }
        })
        .collect();
    while s.contains("..") {
        s = s.replace("..", "._");
    }
    let s = s.trim_start_matches('.').to_string();
    if s.is_empty() {
        "unnamed".into()
    } else {
        shorten(s)
    }
}

/// `name` cut to [`MAX_NAME_BYTES`] at a character boundary, its extension (up to 16 bytes) kept.
fn shorten(name: String) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name;
    }
    let (stem, ext) = match split_ext(&name) {
        (stem, ext) if ext.len() <= 16 => (stem, ext),
        _ => (name.as_str(), ""),
    };
    let mut cut = MAX_NAME_BYTES - ext.len();
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", stem[..cut].trim_end())
}

/// `x.xlsx` → (`x`, `.xlsx`); `x` → (`x`, ``).
pub fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    }
}

/// The stem for result files: `week 48.xlsx` → `week 48`.
pub fn stem(name: &str) -> &str {
    split_ext(name).0
}

/// The `n`th candidate for `name`: `x.xlsx`, `x-2.xlsx`, `x-3.xlsx`, …
pub fn numbered(name: &str, n: u32) -> String {
    if n <= 1 {
        return name.to_string();
    }
    let (stem, ext) = split_ext(name);
    format!("{stem}-{n}{ext}")
}

/// The first of `name`, `name-2`, … for which `free` holds.
pub fn unique(name: &str, free: impl Fn(&str) -> bool) -> String {
    for n in 1..100_000 {
        let candidate = numbered(name, n);
        if free(&candidate) {
            return candidate;
        }
    }
    // Not reachable in practice; a random suffix is still unique.
    numbered(
        name,
        100_000 + (uuid::Uuid::new_v4().as_u128() % 1_000_000) as u32,
    )
}

/// A name not yet present in `folder`.
pub fn unique_in(folder: &Folder, name: &str) -> String {
    unique(name, |n| !folder.exists(OsStr::new(n)))
}

/// `processed/` names: `<UTC timestamp>-<name>`.
pub fn processed_name(at: DateTime<Utc>, name: &str) -> String {
    format!("{}-{name}", at.format("%Y%m%dT%H%M%SZ"))
}

pub fn os(s: &str) -> OsString {
    OsString::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt as _;

    #[test]
    fn uploads_in_progress_and_dot_files_are_ignored() {
        for n in [
            ".hidden.xlsx",
            "x.xlsx.filepart",
            "x.xlsx.PART",
            "x.tmp",
            "x.crdownload",
        ] {
            assert_eq!(classify(OsStr::new(n)), NameKind::Ignore, "{n}");
        }
        assert_eq!(
            classify(OsStr::new("week 48.xlsx")),
            NameKind::Take("week 48.xlsx".into())
        );
        assert_eq!(
            classify(OsStr::new("partners.xlsx")),
            NameKind::Take("partners.xlsx".into())
        );
    }

    #[test]
    fn hostile_names_are_refused_and_sanitized() {
        for n in ["a\nb.csv", "a\rb.csv", "a\u{202E}xslx.exe", "a..b.csv"] {
            assert!(
                matches!(classify(OsStr::new(n)), NameKind::Refuse(_)),
                "{n:?}"
            );
        }
        let bad = OsStr::from_bytes(b"a\xffb.csv");
        assert!(matches!(classify(bad), NameKind::Refuse(_)));
        assert_eq!(sanitize(OsStr::new("a\nb.csv")), "a_b.csv");
        assert_eq!(sanitize(bad), "a_b.csv");
        assert_eq!(sanitize(OsStr::new("..x")), "_x");
        assert_eq!(sanitize(OsStr::new("a...b")), "a._.b");
    }

    /// SPEC §4.2 (r2): a long upload name is shortened, its extension kept, never in the middle
    /// of a character; what the daemon adds to it stays within a file system's 255 bytes.
    #[test]
    fn long_names_are_shortened_keeping_the_extension() {
        let long = format!("{}.xlsx", "ñ".repeat(120));
        let short = sanitize(OsStr::new(&long));
        assert!(short.len() <= MAX_NAME_BYTES, "{}", short.len());
        assert!(short.ends_with("ñ.xlsx"), "{short}");
        let moved = processed_name(Utc::now(), &numbered(&short, 99_999));
        assert!(moved.len() + "-results.xlsx".len() <= 255);
        assert_eq!(sanitize(OsStr::new("week 48.xlsx")), "week 48.xlsx");
    }

    #[test]
    fn unique_names_number_before_the_extension() {
        let taken = ["x.xlsx", "x-2.xlsx"];
        assert_eq!(unique("x.xlsx", |n| !taken.contains(&n)), "x-3.xlsx");
        assert_eq!(unique("README", |n| n != "README"), "README-2");
        assert_eq!(stem("week 48.xlsx"), "week 48");
        assert_eq!(split_ext(".x"), (".x", ""));
    }
}
