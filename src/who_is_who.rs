//! Who is who (SPEC §6.3): when two rows are the same person, or possibly the same person.
//!
//! - **Same person**: equal email keys or equal phone keys.
//! - **Possible same person**: names similar (Jaro-Winkler of the name keys ≥ the policy threshold, also
//!   with first and last name swapped) **and** email local parts of the same domain, or phone digits,
//!   within one edit or one transposition. Similar names alone never make a duplicate.
//!
//! The database finds the few candidates worth comparing through [`block_keys`]: a few keys per
//! contact of which any contact within one edit shares one with it, joined with the name initials (see [`near_keys`],
//! `phone_keys`), so no row ever scans all candidates.

/// What identity is compared on: the match keys of SPEC §6.1. Owned (`String`, the default) or
/// borrowed from the row it is of (`&str`: deciding a file compares its rows without copying them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity<S = String> {
    pub first: S,
    pub last: S,
    pub email_key: Option<S>,
    pub phone_key: Option<S>,
}

impl<S: AsRef<str>> Identity<S> {
    pub fn first(&self) -> &str {
        self.first.as_ref()
    }
    pub fn last(&self) -> &str {
        self.last.as_ref()
    }
    pub fn email(&self) -> Option<&str> {
        self.email_key.as_ref().map(AsRef::as_ref)
    }
    pub fn phone(&self) -> Option<&str> {
        self.phone_key.as_ref().map(AsRef::as_ref)
    }
    fn full(&self) -> String {
        join(self.first(), self.last())
    }
    fn swapped(&self) -> String {
        join(self.last(), self.first())
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a} {b}"),
    }
}

/// Equal email keys or equal phone keys.
pub fn same_person(a: &Identity<impl AsRef<str>>, b: &Identity<impl AsRef<str>>) -> bool {
    equal_some(a.email(), b.email()) || equal_some(a.phone(), b.phone())
}

fn equal_some(a: Option<&str>, b: Option<&str>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a == b)
}

/// Names similar (also swapped) and a contact within one edit: see the module doc.
pub fn possible_same_person(
    a: &Identity<impl AsRef<str>>,
    b: &Identity<impl AsRef<str>>,
    threshold: f64,
) -> bool {
    // Both tests are pure; the cheap contact test goes first (it rules out nearly every pair).
    contacts_near(a, b) && names_similar(a, b, threshold)
}

/// Jaro-Winkler of the full name keys ≥ `threshold`, trying `b`'s first and last name swapped too.
/// Empty names are never similar.
pub fn names_similar(
    a: &Identity<impl AsRef<str>>,
    b: &Identity<impl AsRef<str>>,
    threshold: f64,
) -> bool {
    let fa = a.full();
    if fa.is_empty() || b.full().is_empty() {
        return false;
    }
    strsim::jaro_winkler(&fa, &b.full()) >= threshold
        || strsim::jaro_winkler(&fa, &b.swapped()) >= threshold
}

/// Email local parts of the same domain, or phone digits, within one edit or one transposition.
pub fn contacts_near(a: &Identity<impl AsRef<str>>, b: &Identity<impl AsRef<str>>) -> bool {
    let emails = match (a.email(), b.email()) {
        // Of one domain, addresses within one edit (of one character: four bytes at most) differ
        // in length by four bytes at most and end alike: many pairs are ruled out unsplit.
        (Some(x), Some(y))
            if x.len().abs_diff(y.len()) > 4 || x.bytes().last() != y.bytes().last() =>
        {
            false
        }
        (Some(x), Some(y)) => match (x.rsplit_once('@'), y.rsplit_once('@')) {
            (Some((lx, dx)), Some((ly, dy))) => dx == dy && within_one_edit(lx, ly),
            _ => false,
        },
        _ => false,
    };
    emails || matches!((a.phone(), b.phone()), (Some(x), Some(y)) if within_one_edit(x, y))
}

/// Optimal-string-alignment distance ≤ 1: one insertion, deletion, substitution or adjacent swap.
pub fn within_one_edit(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        // One byte per character: the same comparison without collecting characters.
        return within_one_edit_of(a.as_bytes(), b.as_bytes());
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    within_one_edit_of(&a, &b)
}

fn within_one_edit_of<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let prefix = a.iter().zip(b.iter()).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a, b) = (&a[..a.len() - suffix], &b[..b.len() - suffix]);
    match (a.len(), b.len()) {
        (0, 0) | (1, 0) | (0, 1) | (1, 1) => true,
        (2, 2) => a[0] == b[1] && a[1] == b[0],
        _ => false,
    }
}

/// Email local parts are cut in four parts for their keys, phone digits in three.
pub const EMAIL_PARTS: usize = 4;
pub const PHONE_PARTS: usize = 3;

/// Where the `k` parts a contact string of `n` characters is cut into for its keys start, and how
/// long they are: one uncovered character between each two, the characters left spread over the
/// last parts (a string too short for them has empty parts).
fn near_parts(n: usize, k: usize) -> Vec<(usize, usize)> {
    let p = n.saturating_sub(k - 1);
    let mut out = Vec::with_capacity(k);
    let mut start = 0;
    for i in 0..k {
        let len = p / k + usize::from(i >= k - p % k);
        out.push((start, len));
        start += len + 1;
    }
    out
}

/// The `k` keys a contact string is indexed under, tagged with `tag` and the string's length: its
/// parts (see [`near_parts`]) but one, for each part left out. One edit or one adjacent swap changes
/// at most one part (the uncovered characters keep a swap from reaching two), so the key without
/// it stays intact; each key covers all of the string but a `k`th, so a block holds only people
/// whose contacts share nearly all of it. (Halves, as before, put every `maria.santos…` of a domain
/// in one block; so does any key without the digits at the end, hence four parts for emails.)
pub fn near_keys(tag: &str, s: &str, k: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::with_capacity(k);
    keys_of_length(tag, &chars, chars.len(), k, &mut out);
    out
}

/// The keys to look up to find every stored contact within one edit of `s`: for stored strings one
/// shorter, as long and one longer, the keys of [`near_keys`] taken from `s` as each part would
/// stand after the edit (see [`keys_of_length`]).
pub fn near_lookup_keys(tag: &str, s: &str, k: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let m = chars.len();
    let mut out = Vec::with_capacity(3 * k);
    for n in m.saturating_sub(1).max(1)..=m + 1 {
        keys_of_length(tag, &chars, n, k, &mut out);
    }
    out
}

/// The keys of [`near_keys`] that a string of `n` characters within one edit of `chars` would be
/// stored under, taken from `chars` (of `n` characters: its own keys): the edit being in the part
/// left out, a part before it stands at its place from the start, a part after it at its place from
/// the end. A key whose parts fall outside `chars` is none.
fn keys_of_length(tag: &str, chars: &[char], n: usize, k: usize, out: &mut Vec<String>) {
    let m = chars.len();
    let parts = near_parts(n, k);
    // Where each part of the key left out stands in `chars`, none if it falls outside.
    let at = |left_out: usize, i: usize, from: usize, len: usize| {
        if i < left_out {
            Some(from)
        } else {
            (from + m).checked_sub(n)
        }
        .filter(|&f| f + len <= m)
    };
    for left_out in (0..k).rev() {
        let fits = parts.iter().enumerate().all(|(i, &(from, len))| {
            i == left_out || len == 0 || at(left_out, i, from, len).is_some()
        });
        if !fits {
            continue;
        }
        // The tag, the letters of the parts held (all but `left_out`, e.g. `abd`), the length,
        // then the parts: one allocation per key (a file makes some two million).
        let mut key = String::with_capacity(tag.len() + k + 4 + 4 * m);
        key.push_str(tag);
        key.extend(
            (0..k)
                .filter(|&i| i != left_out)
                .map(|i| char::from(b'a' + i as u8)),
        );
        push_number(&mut key, n);
        key.push(':');
        for (i, &(from, len)) in parts.iter().enumerate() {
            if i == left_out || len == 0 {
                continue;
            }
            if let Some(from) = at(left_out, i, from, len) {
                key.extend(&chars[from..from + len]);
            }
        }
        out.push(key);
    }
}

/// `n` in decimal digits, at the end of `s`.
fn push_number(s: &mut String, n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    s.extend(digits[at..].iter().map(|&d| char::from(d)));
}

/// The name part of every block key: the initials of the first and last name, sorted (so a row with
/// first and last name swapped has the same). The review rule needs similar names, and similar names
/// rarely differ in their first letters; this keeps every block small even with a million
/// candidates sharing one mobile prefix or one mail domain. `None` without a name.
fn initials(id: &Identity<impl AsRef<str>>) -> Option<String> {
    let mut letters: Vec<char> = [id.first(), id.last()]
        .iter()
        .filter_map(|s| s.chars().next())
        .collect();
    letters.sort_unstable();
    (!letters.is_empty()).then(|| letters.into_iter().collect())
}

/// Phone numbers are compared within one edit, but a valid number with a digit more or less is
/// another kind of number (the row would be invalid), so phone blocks cover same-length edits: the
/// three keys of [`near_keys`] over the number's last 11 digits (all of a shorter one's), tagged
/// with its length. Of a mobile number's last 11 digits the first three carry the country and the
/// network, the rest the subscriber, so each key holds at least three subscriber digits (halves of
/// the last 9 held two, and a block some 12 people of a million). (Migration 0006 moved stored keys
/// from halves of the last 7 digits to the last 9, 0010 to these.)
fn phone_keys(sig: &str, digits: &str) -> Option<Vec<String>> {
    if !has_phone_blocks(digits) {
        return None;
    }
    let n = digits.len();
    Some(near_keys(
        &format!("{sig}|p{n}"),
        &digits[n - n.min(11)..],
        PHONE_PARTS,
    ))
}

/// Whether two phone numbers within one edit of each other are sure to share a phone block: of one
/// length, long enough to have blocks. (Others meet, if at all, under an email block.)
pub fn phones_share_a_block(a: &str, b: &str) -> bool {
    a.len() == b.len() && has_phone_blocks(a)
}

/// Whether phones of these lengths in bytes (0: none) may be within one edit of each other without
/// sharing a phone block ([`phones_share_a_block`]), for phone keys, which are ASCII digits.
pub fn phone_lengths_without_a_block(a: usize, b: usize) -> bool {
    a != 0 && b != 0 && a.abs_diff(b) <= 1 && !(a == b && a >= PHONE_BLOCK_DIGITS)
}

/// Numbers shorter than this many digits are stored under no phone block.
const PHONE_BLOCK_DIGITS: usize = 8;

fn has_phone_blocks(digits: &str) -> bool {
    digits.len() >= PHONE_BLOCK_DIGITS && digits.is_ascii()
}

/// The block keys a candidate is stored under for the review rule.
pub fn block_keys(id: &Identity<impl AsRef<str>>) -> Vec<String> {
    let Some(sig) = initials(id) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(4);
    if let Some((local, domain)) = id.email().and_then(|e| e.rsplit_once('@')) {
        out.extend(near_keys(&format!("{sig}|e:{domain}:"), local, EMAIL_PARTS));
    }
    if let Some(keys) = id.phone().and_then(|p| phone_keys(&sig, p)) {
        out.extend(keys);
    }
    out
}

/// The contact a key of [`block_keys`] is a key of: the email's local part under an email key, the
/// phone's digits under a phone key.
pub fn key_contact<'a>(id: &'a Identity<impl AsRef<str>>, key: &str) -> &'a str {
    if is_email_key(key) {
        id.email()
            .and_then(|e| e.rsplit_once('@'))
            .map_or("", |(local, _)| local)
    } else {
        id.phone().unwrap_or_default()
    }
}

/// Whether a key of [`block_keys`] or [`lookup_keys`] is an email's (else a phone's). The name
/// initials before the first `|` are letters and digits only.
pub fn is_email_key(key: &str) -> bool {
    key.split_once('|')
        .is_some_and(|(_, contact)| contact.starts_with("e:"))
}

/// A block key (or a key with its scope) as the 64-bit hash in-memory indexes keep instead of the
/// text: a collision only puts one more person or row to compare, and comparisons are exact.
pub fn key_hash(key: impl std::hash::Hash) -> u64 {
    use std::hash::BuildHasher;
    // Fixed, so a key hashes alike everywhere in the process (as SipHash's fixed keys did);
    // foldhash's "quality" variant, whose every bit is mixed: indexes bucket by the top bits.
    foldhash::quality::FixedState::default().hash_one(key)
}

/// The block keys to look up for a row: every key under which a possible same person is stored.
pub fn lookup_keys(id: &Identity<impl AsRef<str>>) -> Vec<String> {
    let Some(sig) = initials(id) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some((local, domain)) = id.email().and_then(|e| e.rsplit_once('@')) {
        out.extend(near_lookup_keys(
            &format!("{sig}|e:{domain}:"),
            local,
            EMAIL_PARTS,
        ));
    }
    if let Some(keys) = id.phone().and_then(|p| phone_keys(&sig, p)) {
        out.extend(keys);
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(first: &str, last: &str, email: Option<&str>, phone: Option<&str>) -> Identity {
        Identity {
            first: first.into(),
            last: last.into(),
            email_key: email.map(Into::into),
            phone_key: phone.map(Into::into),
        }
    }

    #[test]
    fn one_edit() {
        assert!(within_one_edit("maria", "maria"));
        assert!(within_one_edit("maria", "mariia"));
        assert!(within_one_edit("maria", "mria"));
        assert!(within_one_edit("maria", "marja"));
        assert!(within_one_edit("maria", "amria"));
        assert!(within_one_edit("639171234567", "639171234576"));
        assert!(!within_one_edit("maria", "mraia2"));
        assert!(!within_one_edit("maria", "amrai"));
        assert!(!within_one_edit("639171234567", "639171243576"));
        // Characters, not bytes: é is two bytes, one character.
        assert!(within_one_edit("josé", "jose"));
        assert!(within_one_edit("josé", "joé"));
        assert!(within_one_edit("joés", "josé"));
        assert!(!within_one_edit("jé", "éj2"));
        assert!(within_one_edit("", "é"));
        assert!(!within_one_edit("", "éé"));
        // One character is up to four bytes: addresses that far apart in bytes may still be near.
        let e = |email: &str| id("ana", "cruz", Some(email), None);
        assert!(contacts_near(&e("ana@x.ph"), &e("an😀a@x.ph")));
        assert!(contacts_near(&e("muñoz@x.ph"), &e("munoz@x.ph")));
        assert!(!contacts_near(&e("ana@x.ph"), &e("an😀😀a@x.ph")));
        assert!(!contacts_near(&e("ana@x.ph"), &e("ana@x.pt")));
    }

    #[test]
    fn same_and_possible() {
        let a = id(
            "maria",
            "santos",
            Some("maria.santos@gmail.com"),
            Some("639171234567"),
        );
        let b = id(
            "maria",
            "santos",
            Some("m.santos@yahoo.com"),
            Some("639171234567"),
        );
        assert!(same_person(&a, &b));
        let c = id("maria", "santos", Some("maria.santso@gmail.com"), None);
        assert!(!same_person(&a, &c));
        assert!(possible_same_person(&a, &c, 0.92));
        // Swapped names count.
        let d = id("santos", "maria", None, Some("639171234576"));
        assert!(possible_same_person(&a, &d, 0.92));
        // Similar names alone never do.
        let e = id(
            "maria",
            "santos",
            Some("maria.santos@yahoo.com"),
            Some("639998887766"),
        );
        assert!(!possible_same_person(&a, &e, 0.92));
        // Near contacts with different names do not either.
        let f = id("jose", "rizal", Some("maria.santso@gmail.com"), None);
        assert!(!possible_same_person(&a, &f, 0.92));
    }

    /// Every string within one edit of another shares a stored key with the other's lookup keys,
    /// at every length (the parts degenerate in short strings), in any number of parts, and with
    /// non-ASCII letters.
    #[test]
    fn blocks_find_every_near_string() {
        let alphabet = ['a', 'z', '.', '4', 'ñ'];
        let full = "juan.delacruz42.ñoño";
        // (An empty local part is no email: from one character on.) In two to five parts.
        let lengths = 1..=full.chars().count();
        for (k, len) in (2..=5).flat_map(|k| lengths.clone().map(move |len| (k, len))) {
            let base: String = full.chars().take(len).collect();
            let chars: Vec<char> = base.chars().collect();
            let mut variants = vec![base.clone()];
            for i in 0..=chars.len() {
                for c in alphabet {
                    let mut v = chars.clone();
                    v.insert(i, c);
                    variants.push(v.into_iter().collect());
                }
                if i < chars.len() {
                    let mut v = chars.clone();
                    v.remove(i);
                    variants.push(v.iter().collect());
                    for c in alphabet {
                        let mut v = chars.clone();
                        v[i] = c;
                        variants.push(v.into_iter().collect());
                    }
                }
                if i + 1 < chars.len() {
                    let mut v = chars.clone();
                    v.swap(i, i + 1);
                    variants.push(v.into_iter().collect());
                }
            }
            for v in variants.iter().filter(|v| !v.is_empty()) {
                assert!(within_one_edit(&base, v), "{v}");
                let stored = near_keys("x", &base, k);
                let looked = near_lookup_keys("x", v, k);
                assert!(
                    stored.iter().any(|k| looked.contains(k)),
                    "{v:?} not found from {base:?}"
                );
                // And the other way round.
                let stored = near_keys("x", v, k);
                let looked = near_lookup_keys("x", &base, k);
                assert!(
                    stored.iter().any(|k| looked.contains(k)),
                    "{base:?} from {v:?}"
                );
            }
        }
    }

    /// A block holds the people whose contacts share three of four parts: the many people of one
    /// name and domain whose addresses differ in the digits at the end share no block (halves, and
    /// thirds, put them all under the key of the name part, too big a block to be read).
    #[test]
    fn blocks_part_people_of_one_name() {
        let keys = |s: &str| near_keys("x", s, EMAIL_PARTS);
        let (a, b) = (keys("maria.santos.123456"), keys("maria.santos.987654"));
        assert!(a.iter().all(|k| !b.contains(k)), "{a:?} {b:?}");
        assert!(keys("maria.sanchez.12345").iter().all(|k| !a.contains(k)));
        // One edit anywhere keeps one key.
        for near in [
            "maria.santso.123456",
            "maria.santos.123465",
            "maria.santos.12345",
        ] {
            let c = near_lookup_keys("x", near, EMAIL_PARTS);
            assert!(a.iter().any(|k| c.contains(k)), "{near}");
        }
    }

    #[test]
    fn possible_same_people_share_a_block() {
        let a = id(
            "maria",
            "santos",
            Some("maria.santos7@gmail.com"),
            Some("639171234567"),
        );
        let near = [
            id("santos", "maria", None, Some("639171234576")),
            id("marai", "santos", Some("maria.santso7@gmail.com"), None),
            id("maria", "santos", None, Some("639181234567")),
            id(
                "maria",
                "santoss",
                Some("maria.sants7@gmail.com"),
                Some("639990000000"),
            ),
        ];
        for b in &near {
            assert!(possible_same_person(&a, b, 0.9), "{b:?}");
            let stored = block_keys(&a);
            let looked = lookup_keys(b);
            assert!(stored.iter().any(|k| looked.contains(k)), "{b:?}");
        }
        assert!(block_keys(&id("", "", Some("x@gmail.com"), None)).is_empty());
    }

    /// Every substitution of one digit and every adjacent swap of a phone number, at any position,
    /// leaves it sharing a block with the original (thirds of the last 11 digits, or of all of fewer).
    #[test]
    fn every_phone_within_one_edit_shares_a_block() {
        for number in [
            "639171234567",
            "5511987654321",
            "61212345678",
            "6591234567",
            "12025550",
        ] {
            let a = id("ana", "reyes", None, Some(number));
            let stored = block_keys(&a);
            assert_eq!(stored.len(), 3, "{number}");
            let digits: Vec<u8> = number.bytes().collect();
            let mut variants = Vec::new();
            for i in 0..digits.len() {
                for d in b'0'..=b'9' {
                    let mut v = digits.clone();
                    v[i] = d;
                    variants.push(v);
                }
                if i + 1 < digits.len() {
                    let mut v = digits.clone();
                    v.swap(i, i + 1);
                    variants.push(v);
                }
            }
            for v in variants {
                let b = id("ana", "reyes", None, Some(std::str::from_utf8(&v).unwrap()));
                let looked = lookup_keys(&b);
                assert!(
                    stored.iter().any(|k| looked.contains(k)),
                    "{number} and {:?}",
                    b.phone_key
                );
            }
        }
    }

    /// A block of a mobile number holds the people whose numbers share two thirds of its last 11
    /// digits: at least three subscriber digits beyond the network's.
    #[test]
    fn phone_blocks_hold_subscriber_digits() {
        let keys = |d: &str| block_keys(&id("ana", "reyes", None, Some(d)));
        assert_eq!(
            keys("639171234567"),
            [
                "ar|p12ab11:391123",
                "ar|p12ac11:391567",
                "ar|p12bc11:123567"
            ]
        );
        assert_eq!(
            keys("12025550"),
            ["ar|p8ab8:1225", "ar|p8ac8:1250", "ar|p8bc8:2550"]
        );
    }

    #[test]
    fn keys_say_which_contact_they_are_of() {
        let a = id(
            "ana",
            "reyes",
            Some("ana.reyes@gmail.com"),
            Some("639171234567"),
        );
        let kinds: Vec<bool> = block_keys(&a).iter().map(|k| is_email_key(k)).collect();
        assert_eq!(kinds, [true, true, true, true, false, false, false]);
        assert!(lookup_keys(&id("e", "p", Some("p@e.ph"), None))
            .iter()
            .all(|k| is_email_key(k)));
    }
}
