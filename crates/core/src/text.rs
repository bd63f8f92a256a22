//! Text cleaning and folding shared by every part that compares what people typed:
//! candidate names (SPEC §6.1), header cells (§5) and the owner views' `--search` (§9).

use unicode_normalization::UnicodeNormalization;

/// Characters Excel and web forms leave behind that are never meant as content, and control
/// characters other than spaces.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
    ) || is_unstorable(c)
}

/// A character no text we keep may hold (SPEC §5 (r2), poison values): NUL, which Postgres
/// refuses in text (one such value in a subject or a cell once stopped a whole source), and the
/// other C0 and C1 control characters, which no name, header, file name or cell means; tab, line
/// feed and carriage return stay (a quoted CSV field may hold lines).
pub fn is_unstorable(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// `s` without the characters of [`is_unstorable`], borrowed when it has none (nearly always).
pub fn storable(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(is_unstorable) {
        std::borrow::Cow::Owned(s.chars().filter(|&c| !is_unstorable(c)).collect())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// The display value: Unicode NFC, invisible characters removed, every kind of space
/// (non-breaking included) treated as a space, trimmed, inner whitespace collapsed.
pub fn clean(s: &str) -> String {
    if s.is_ascii() {
        // ASCII is already NFC and has no invisible or non-breaking characters.
        return clean_ascii(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    // Most text is already NFC: the quick check avoids decomposing and recomposing it.
    let chars: Box<dyn Iterator<Item = char> + '_> =
        if unicode_normalization::is_nfc_quick(s.chars())
            == unicode_normalization::IsNormalized::Yes
        {
            Box::new(s.chars())
        } else {
            Box::new(s.nfc())
        };
    for c in chars {
        if is_invisible(c) {
            continue;
        }
        if c.is_whitespace() || c == '\u{00A0}' {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out
}

fn clean_ascii(s: &str) -> String {
    let s = storable(s);
    let mut out = String::with_capacity(s.len());
    for word in s.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The match key of SPEC §6.1: cleaned, accents removed, lower-case, punctuation dropped,
/// words separated by single spaces: "  José-María  O'Brien " → "josemaria obrien"
/// (punctuation is dropped, not turned into a space).
pub fn match_key(s: &str) -> String {
    // ASCII needs no cleaning here: the loop below drops what `clean` would.
    let ascii: std::borrow::Cow<'_, str> = if s.is_ascii() {
        std::borrow::Cow::Borrowed(s)
    } else {
        let cleaned = clean(s);
        if cleaned.is_ascii() {
            std::borrow::Cow::Owned(cleaned)
        } else {
            std::borrow::Cow::Owned(deunicode::deunicode(&cleaned))
        }
    };
    let mut out = String::with_capacity(ascii.len());
    let mut pending_space = false;
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_whitespace() {
            pending_space = !out.is_empty();
        }
    }
    out
}

/// `match_key` without the spaces: what header cells are compared on
/// ("E-mail Address" → "emailaddress").
pub fn compact_key(s: &str) -> String {
    match_key(s).replace(' ', "")
}

/// Case- and accent-insensitive "contains anywhere", as `--search` does (SPEC §9).
pub fn folded_contains(haystack: &str, needle: &str) -> bool {
    compact_key(haystack).contains(&compact_key(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_removes_invisible_and_collapses_spaces() {
        assert_eq!(clean("\u{00A0} Ana\u{200B}  Maria \t"), "Ana Maria");
        // NFC: e + combining acute becomes one code point.
        assert_eq!(clean("Jose\u{301}"), "Jos\u{e9}");
        // The ASCII shortcut gives what the general path gives.
        assert_eq!(clean(" \t Ana  \r\n Maria \x0b"), "Ana Maria");
        assert_eq!(clean("\u{00A0} Ana\t Maria\u{00A0}"), "Ana Maria");
    }

    #[test]
    fn match_key_folds_accents_case_and_punctuation() {
        assert_eq!(match_key("  José-María  O'Brien "), "josemaria obrien");
        assert_eq!(match_key("ÑOÑO"), "nono");
    }

    #[test]
    fn search_is_accent_insensitive() {
        assert!(folded_contains("Customer Service Manilá", "manila"));
        assert!(folded_contains("Atención al Cliente", "ATENCION"));
        assert!(!folded_contains("Bogotá", "lima"));
    }
}
