//! Who is who (SPEC §6.3): when two rows are the same person, or possibly the same person.
//!
//! - **Same person**: equal email keys or equal phone keys, whatever the other field says.
//! - **Possible same person**: a contact within one edit or one transposition (email local parts of
//!   the same domain, or phone digits) **and** similar names (Jaro-Winkler of the name keys ≥ the
//!   policy threshold, also with first and last name swapped); or both contacts within one edit,
//!   whatever the names say. Similar names alone never make a duplicate.
//!
//! The rule is applied exactly. Every possible same person has a contact within one edit, and two
//! contacts within one edit always share a *block key* ([`block_keys`] of one, [`lookup_keys`] of the
//! other): keys made of the contact alone, never of the names, so no pair the rule defines is missed
//! and no block needs a cap. A block holds only people whose contacts share most of their
//! characters, so no row ever scans all candidates.

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

/// A contact within one edit and similar names, or both contacts within one edit: see the module
/// doc.
pub fn possible_same_person(
    a: &Identity<impl AsRef<str>>,
    b: &Identity<impl AsRef<str>>,
    threshold: f64,
) -> bool {
    // Both tests are pure; the cheap contact tests go first (they rule out nearly every pair).
    let (email, phone) = (emails_near(a, b), phones_near(a, b));
    (email && phone) || ((email || phone) && names_similar(a, b, threshold))
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
    emails_near(a, b) || phones_near(a, b)
}

/// Both have an email, of one domain, with local parts within one edit or one transposition.
pub fn emails_near(a: &Identity<impl AsRef<str>>, b: &Identity<impl AsRef<str>>) -> bool {
    match (a.email(), b.email()) {
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
    }
}

/// Both have a phone, the digits within one edit or one transposition.
pub fn phones_near(a: &Identity<impl AsRef<str>>, b: &Identity<impl AsRef<str>>) -> bool {
    matches!((a.phone(), b.phone()), (Some(x), Some(y)) if within_one_edit(x, y))
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

/// Phone keys are made of a number's last this many digits (all of a shorter one's): of a mobile
/// number's last 11 the first three carry the country and the network, the rest the subscriber, so
/// each key of [`near_keys`] in three parts holds at least three subscriber digits.
const PHONE_WINDOW: usize = 11;

/// The tag of every phone key. Numbers of every length share it: a number and one a digit longer
/// must meet under some key (see [`phone_lookup_keys`]).
const PHONE_TAG: &str = "p:";

/// The last `n` characters of `s` (all of a shorter one).
fn last_chars(chars: &[char], n: usize) -> &[char] {
    &chars[chars.len().saturating_sub(n)..]
}

/// The keys a phone number is stored under: [`near_keys`] of its last [`PHONE_WINDOW`] digits.
fn phone_keys(digits: &str) -> Vec<String> {
    let chars: Vec<char> = digits.chars().collect();
    let window = last_chars(&chars, PHONE_WINDOW);
    let mut out = Vec::with_capacity(PHONE_PARTS);
    keys_of_length(PHONE_TAG, window, window.len(), PHONE_PARTS, &mut out);
    out
}

/// The phone keys to look up to find every stored number within one edit of `digits`, whatever
/// its length. A number `t` one edit from `q` stores the keys of its window (its last
/// [`PHONE_WINDOW`] digits); that window is one edit from the window of `q`'s length (the edit
/// in it), or is a window of `q` itself (the edit before it), or, when the lengths differ, one edit
/// from `q`'s window a digit shorter or longer. So: for each window length `t` may have, the keys
/// of [`keys_of_length`] taken from `q`'s last one fewer, as many and one more digits.
fn phone_lookup_keys(digits: &str) -> Vec<String> {
    let chars: Vec<char> = digits.chars().collect();
    let n = chars.len();
    let mut windows: Vec<usize> = (n.saturating_sub(1).max(1)..=n + 1)
        .map(|m| m.min(PHONE_WINDOW))
        .collect();
    windows.dedup();
    let mut out = Vec::with_capacity(3 * windows.len() * PHONE_PARTS);
    for w in windows {
        for k in w.saturating_sub(1).max(1)..=(w + 1).min(n) {
            keys_of_length(PHONE_TAG, last_chars(&chars, k), w, PHONE_PARTS, &mut out);
        }
    }
    out
}

/// The block keys a candidate is stored under for the review rule: [`near_keys`] of the email's
/// local part (tagged with its domain) and of the phone's last digits ([`phone_keys`]). Names are
/// no part of them: the rule finds pairs with dissimilar names too (both contacts near), and
/// similar names may start with different letters.
pub fn block_keys(id: &Identity<impl AsRef<str>>) -> Vec<String> {
    let mut out = Vec::with_capacity(EMAIL_PARTS + PHONE_PARTS);
    if let Some((local, domain)) = id.email().and_then(|e| e.rsplit_once('@')) {
        out.extend(near_keys(&format!("e:{domain}:"), local, EMAIL_PARTS));
    }
    if let Some(phone) = id.phone() {
        out.extend(phone_keys(phone));
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

/// Whether a key of [`block_keys`] or [`lookup_keys`] is an email's (else a phone's).
pub fn is_email_key(key: &str) -> bool {
    key.starts_with("e:")
}

/// A block key (or a key with its scope) as the 64-bit hash in-memory indexes keep instead of the
/// text: a collision only puts one more person or row to compare, and comparisons are exact.
pub fn key_hash(key: impl std::hash::Hash) -> u64 {
    use std::hash::BuildHasher;
    // Fixed, so a key hashes alike everywhere in the process (as SipHash's fixed keys did);
    // foldhash's "quality" variant, whose every bit is mixed: indexes bucket by the top bits.
    foldhash::quality::FixedState::default().hash_one(key)
}

/// The block keys to look up for a row: every key under which a stored contact within one edit of
/// one of the row's is stored.
pub fn lookup_keys(id: &Identity<impl AsRef<str>>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((local, domain)) = id.email().and_then(|e| e.rsplit_once('@')) {
        out.extend(near_lookup_keys(
            &format!("e:{domain}:"),
            local,
            EMAIL_PARTS,
        ));
    }
    if let Some(phone) = id.phone() {
        out.extend(phone_lookup_keys(phone));
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
        // One near contact with different names does not either.
        let f = id("jose", "rizal", Some("maria.santso@gmail.com"), None);
        assert!(!possible_same_person(&a, &f, 0.92));
        // (r2) Both contacts near do, whatever the names say.
        let g = id(
            "jose",
            "rizal",
            Some("maria.santso@gmail.com"),
            Some("639171234576"),
        );
        assert!(possible_same_person(&a, &g, 0.92));
        // Near by phone, the email of another domain: one near contact, names needed.
        let h = id(
            "jose",
            "rizal",
            Some("maria.santos@yahoo.com"),
            Some("639171234576"),
        );
        assert!(!possible_same_person(&a, &h, 0.92));
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
            // Similar names of other first letters, and no names with both contacts near: keys
            // are of contacts only.
            id("mariah", "santos", None, Some("639171234557")),
            id(
                "",
                "",
                Some("maria.santos@gmail.com"),
                Some("6391712345678"),
            ),
        ];
        for b in &near {
            assert!(possible_same_person(&a, b, 0.9), "{b:?}");
            let stored = block_keys(&a);
            let looked = lookup_keys(b);
            assert!(stored.iter().any(|k| looked.contains(k)), "{b:?}");
        }
        assert_eq!(block_keys(&id("", "", Some("x@gmail.com"), None)).len(), 4);
    }

    /// Every number one edit from another (a digit changed, two swapped, one added or left out, at
    /// any place), of any length, shares a phone key with it both ways: numbers of different
    /// lengths too, whose windows of last digits are cut at different places.
    #[test]
    fn every_phone_within_one_edit_shares_a_key() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut digit = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            char::from(b'0' + (rng % 10) as u8)
        };
        for len in 1..=16 {
            for _ in 0..6 {
                let q: Vec<char> = (0..len).map(|_| digit()).collect();
                let mut variants: Vec<Vec<char>> = Vec::new();
                for i in 0..=q.len() {
                    for d in ['0', '5', '9', digit()] {
                        let mut v = q.clone();
                        v.insert(i, d);
                        variants.push(v);
                        if i < q.len() {
                            let mut v = q.clone();
                            v[i] = d;
                            variants.push(v);
                        }
                    }
                    if i < q.len() {
                        let mut v = q.clone();
                        v.remove(i);
                        variants.push(v);
                    }
                    if i + 1 < q.len() {
                        let mut v = q.clone();
                        v.swap(i, i + 1);
                        variants.push(v);
                    }
                }
                let q: String = q.into_iter().collect();
                for v in variants.into_iter().filter(|v| !v.is_empty()) {
                    let v: String = v.into_iter().collect();
                    assert!(within_one_edit(&q, &v));
                    let (a, b) = (phone(&q), phone(&v));
                    let shared = |x: &Identity, y: &Identity| {
                        let looked = lookup_keys(y);
                        block_keys(x).iter().any(|k| looked.contains(k))
                    };
                    assert!(shared(&a, &b), "{q} stored, {v} looked up");
                    assert!(shared(&b, &a), "{v} stored, {q} looked up");
                }
            }
        }
    }

    fn phone(digits: &str) -> Identity {
        id("", "", None, Some(digits))
    }

    /// A phone key holds two thirds of the number's last 11 digits: at least three subscriber
    /// digits beyond the network's.
    #[test]
    fn phone_keys_hold_subscriber_digits() {
        let keys = |d: &str| block_keys(&id("ana", "reyes", None, Some(d)));
        assert_eq!(
            keys("639171234567"),
            ["p:ab11:391123", "p:ac11:391567", "p:bc11:123567"]
        );
        assert_eq!(keys("12025550"), ["p:ab8:1225", "p:ac8:1250", "p:bc8:2550"]);
        // The names are no part of a key.
        assert_eq!(keys("639171234567"), phone_keys("639171234567"));
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
