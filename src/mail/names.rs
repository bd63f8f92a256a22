//! `From:` and `To:` values with display names encoded word by word (RFC 2047, RFC 5322).
//!
//! lettre encodes a non-ASCII display name as one run of base64 encoded-words cut every so many
//! bytes, so a long name is split inside a word ("Her" | "nández"): decoders join adjacent
//! encoded-words, but clients that show or search raw headers see a broken word, and a name
//! starting near the end of a folded line may be cut anywhere. Here every encoded-word holds whole
//! words: a plain ASCII word stays as it is, any other word becomes its own encoded-word (with the
//! space that follows it when the next word is encoded too, since whitespace between two
//! encoded-words is dropped by decoders). Lines are folded between words and between mailboxes.
//! Only a single word longer than an encoded-word can hold (45 bytes) is cut, at a character
//! boundary.

use super::message::{base64_lines, Address};

/// The most bytes of text one encoded-word holds: 45 bytes are 60 base64 characters, and with
/// `=?utf-8?b?` and `?=` the word stays within RFC 2047's 75 characters.
const MAX_WORD_BYTES: usize = 45;

/// Header lines are folded before this many characters (RFC 5322 recommends 78).
const LINE: usize = 76;

/// `atext` of RFC 5322: a word made of these needs neither quoting nor encoding.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

fn plain(word: &str) -> bool {
    !word.is_empty() && word.chars().all(is_atext)
}

/// `text` as encoded-words of at most [`MAX_WORD_BYTES`] each, cut at character boundaries.
fn encoded_words(text: &str, out: &mut Vec<String>) {
    let mut start = 0;
    while start < text.len() {
        let mut end = text.len().min(start + MAX_WORD_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        out.push(format!(
            "=?utf-8?b?{}?=",
            base64_lines(&text.as_bytes()[start..end])
        ));
        start = end;
    }
}

/// A quoted-string (RFC 5322 3.2.4) of an ASCII name.
fn quoted(name: &str) -> String {
    let mut q = String::with_capacity(name.len() + 2);
    q.push('"');
    for c in name.chars() {
        if matches!(c, '"' | '\\') {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// The tokens of a display name (already header-safe: no controls, single spaces).
fn name_tokens(name: &str, out: &mut Vec<String>) {
    let words: Vec<&str> = name.split(' ').filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return;
    }
    if name.is_ascii() {
        if words.iter().all(|w| plain(w)) {
            out.extend(words.iter().map(|w| w.to_string()));
        } else {
            out.push(quoted(&words.join(" ")));
        }
        return;
    }
    for (i, w) in words.iter().enumerate() {
        if plain(w) {
            out.push(w.to_string());
            continue;
        }
        let next_encoded = words.get(i + 1).is_some_and(|n| !plain(n));
        let text = if next_encoded {
            format!("{w} ")
        } else {
            w.to_string()
        };
        encoded_words(&text, out);
    }
}

/// The value of an address header (`From`, `To`) for `addresses`, folded to fit after
/// `header_name` and `: `. `None` when an address is not ASCII (lettre's encoding is used then).
pub fn mailbox_list(header_name: &str, addresses: &[&Address]) -> Option<String> {
    let mut tokens: Vec<String> = Vec::new();
    for (i, a) in addresses.iter().enumerate() {
        if !a.email.is_ascii() {
            return None;
        }
        let before = tokens.len();
        name_tokens(&a.name, &mut tokens);
        let mut addr = if tokens.len() > before {
            format!("<{}>", a.email)
        } else {
            a.email.clone()
        };
        if i + 1 < addresses.len() {
            addr.push(',');
        }
        tokens.push(addr);
    }
    let mut out = String::new();
    let mut line = header_name.len() + 2;
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            if line + 1 + t.len() > LINE {
                out.push_str("\r\n ");
                line = 1;
            } else {
                out.push(' ');
                line += 1;
            }
        }
        out.push_str(t);
        line += t.len();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(email: &str, name: &str) -> Address {
        Address::new(email, name).unwrap()
    }

    #[test]
    fn each_encoded_word_holds_whole_words() {
        let a = addr("oscar@company.example", "Óscar Ortega");
        assert_eq!(
            mailbox_list("To", &[&a]).unwrap(),
            "=?utf-8?b?w5NzY2Fy?= Ortega <oscar@company.example>"
        );
        let b = addr("jose@talentoazteca.example", "José Martínez");
        // "José " carries its space: whitespace between encoded-words is not text. Folded before
        // 76 characters, between words.
        assert_eq!(
            mailbox_list("To", &[&b]).unwrap(),
            "=?utf-8?b?Sm9zw6kg?= =?utf-8?b?TWFydMOtbmV6?=\r\n <jose@talentoazteca.example>"
        );
        let c = addr("olivia@company.example", "Olivia Owner");
        assert_eq!(
            mailbox_list("To", &[&c]).unwrap(),
            "Olivia Owner <olivia@company.example>"
        );
        let d = addr("x@example.test", "Dela Cruz, Jr. \"Jun\"");
        assert_eq!(
            mailbox_list("To", &[&d]).unwrap(),
            "\"Dela Cruz, Jr. \\\"Jun\\\"\" <x@example.test>"
        );
        let e = addr("x@example.test", "");
        assert_eq!(mailbox_list("To", &[&e]).unwrap(), "x@example.test");
    }

    #[test]
    fn long_lists_fold_between_words_and_mailboxes() {
        let a = addr("olivia@company.example", "Olivia Owner");
        let b = addr(
            "marites@bayanihantalent.example",
            "Marites Dela Cruz Lucía Hernández y Compañía de Reclutamiento",
        );
        let c = addr("oscar@company.example", "Óscar Ortega");
        let v = mailbox_list("To", &[&a, &b, &c]).unwrap();
        for line in v.split("\r\n") {
            assert!(line.len() + 4 <= 78, "{line:?}");
        }
        // Each non-ASCII word is one encoded-word; "Lucía " keeps the space before "Hernández".
        let tokens: Vec<&str> = v
            .split([' ', '\r', '\n'])
            .filter(|t| !t.is_empty())
            .collect();
        for want in [
            "=?utf-8?b?THVjw61hIA==?=",
            "=?utf-8?b?SGVybsOhbmRleg==?=",
            "=?utf-8?b?Q29tcGHDscOtYQ==?=",
            "=?utf-8?b?w5NzY2Fy?=",
            "Reclutamiento",
            "<olivia@company.example>,",
        ] {
            assert!(tokens.contains(&want), "{want} in {v}");
        }
    }
}
