//! Tests of [`super`]: cells, names, emails, phones and their repairs.

use super::*;

fn rules(c: &str) -> PhoneRules {
    PhoneRules::new(c).unwrap()
}

fn ok(c: &str, cell: Cell) -> String {
    match rules(c).normalise(&cell) {
        Ok(Some(p)) => p.e164,
        other => panic!("{c} {cell:?}: {other:?}"),
    }
}

fn text_ok(c: &str, s: &str) -> String {
    ok(c, Cell::Text(s.into()))
}

fn text_err(c: &str, s: &str) -> PhoneProblem {
    match rules(c).normalise(&Cell::Text(s.into())) {
        Err(p) => p,
        other => panic!("{c} {s:?} should fail: {other:?}"),
    }
}

#[test]
fn ph_acceptance_forms_all_give_the_same_e164() {
    for s in [
        "09171234567",
        "+63 917 123 4567",
        "639171234567",
        "(0917) 123-4567",
        "9171234567.0",
        "9.171234567E+09",
        "9,171234567E+09",
        "'09171234567",
        "\u{00A0}0917\u{200B} 123 4567 ",
        "0063 917 123 4567",
        "9171234567",
    ] {
        assert_eq!(text_ok("PH", s), "+639171234567", "{s}");
    }
    assert_eq!(ok("PH", Cell::Number(9171234567.0)), "+639171234567");
    assert_eq!(ok("PH", Cell::Number(639171234567.0)), "+639171234567");
}

#[test]
fn ph_landline_and_rejections() {
    assert_eq!(text_ok("PH", "(02) 8234 5678"), "+63282345678");
    assert!(matches!(
        text_err("PH", "0917 123 456"),
        PhoneProblem::NotValid { .. } | PhoneProblem::TooShort { .. }
    ));
    assert!(matches!(
        text_err("PH", "1234"),
        PhoneProblem::TooShort { .. } | PhoneProblem::NotANumber
    ));
    assert!(matches!(
        text_err("PH", "0917 123 4567 890"),
        PhoneProblem::TooLong { .. }
    ));
}

#[test]
fn lossy_scientific_text_is_refused_with_its_reason() {
    let p = text_err("PH", "9.17123E+09");
    assert_eq!(p, PhoneProblem::ShortenedByExcel);
    assert!(p.describe().contains("last digits are lost"));
}

#[test]
fn numbers_that_are_not_whole_are_refused() {
    assert_eq!(
        rules("PH").normalise(&Cell::Number(917.5)),
        Err(PhoneProblem::NotANumber)
    );
    assert_eq!(text_err("PH", "9.1712345675E+09"), PhoneProblem::NotANumber);
    assert_eq!(text_err("PH", "call me"), PhoneProblem::NotANumber);
    assert_eq!(
        rules("PH").normalise(&Cell::Error("#N/A".into())),
        Err(PhoneProblem::SpreadsheetError)
    );
}

#[test]
fn empty_and_placeholders_are_no_phone() {
    for s in ["", "  ", "N/A", "n/a", "-", "none", "\u{200B}"] {
        assert_eq!(
            rules("PH").normalise(&Cell::Text(s.into())),
            Ok(None),
            "{s:?}"
        );
    }
    assert_eq!(rules("PH").normalise(&Cell::Empty), Ok(None));
}

#[test]
fn mexico() {
    // Mobile (Mexico City) and landline (Guadalajara): 10 digits since 2019.
    assert_eq!(text_ok("MX", "55 1234 5678"), "+525512345678");
    assert_eq!(text_ok("MX", "+52 33 1234 5678"), "+523312345678");
    // Legacy mobile prefixes are dropped.
    assert_eq!(text_ok("MX", "+52 1 55 1234 5678"), "+525512345678");
    assert_eq!(text_ok("MX", "044 55 1234 5678"), "+525512345678");
    assert_eq!(text_ok("MX", "01 33 1234 5678"), "+523312345678");
    assert!(matches!(
        text_err("MX", "55 1234 567"),
        PhoneProblem::TooShort { .. } | PhoneProblem::NotValid { .. }
    ));
    assert!(matches!(
        text_err("MX", "12345"),
        PhoneProblem::TooShort { .. } | PhoneProblem::NotValid { .. }
    ));
    // No Mexican number starts with 0 after the country code.
    assert!(matches!(
        text_err("MX", "+52 05 1234 5678"),
        PhoneProblem::NotValid { .. } | PhoneProblem::TooShort { .. }
    ));
}

#[test]
fn colombia() {
    assert_eq!(text_ok("CO", "300 123 4567"), "+573001234567"); // mobile
    assert_eq!(text_ok("CO", "601 234 5678"), "+576012345678"); // Bogotá landline (2021 plan)
    assert_eq!(text_ok("CO", "+57 321 765 4321"), "+573217654321");
    assert!(matches!(
        text_err("CO", "300 123 45"),
        PhoneProblem::TooShort { .. } | PhoneProblem::NotValid { .. }
    ));
    // Wrong prefix: Colombian numbers do not start with 1 or 2 after the country code.
    assert!(matches!(
        text_err("CO", "100 123 4567"),
        PhoneProblem::NotValid { .. }
    ));
}

#[test]
fn brazil() {
    assert_eq!(text_ok("BR", "(11) 91234-5678"), "+5511912345678"); // São Paulo mobile
    assert_eq!(text_ok("BR", "(11) 3123-4567"), "+551131234567"); // São Paulo landline
    assert_eq!(text_ok("BR", "0 21 98765 4321"), "+5521987654321"); // trunk 0
    assert_eq!(ok("BR", Cell::Number(11912345678.0)), "+5511912345678");
    assert!(matches!(
        text_err("BR", "(11) 9123-456"),
        PhoneProblem::TooShort { .. } | PhoneProblem::NotValid { .. }
    ));
    // A 10-digit number starting with 9 after the area code is an old-style mobile without the 9.
    assert!(matches!(
        text_err("BR", "(11) 9123-4567"),
        PhoneProblem::NotValid { .. }
    ));
}

#[test]
fn united_states() {
    assert_eq!(text_ok("US", "(201) 555-0123"), "+12015550123");
    assert_eq!(text_ok("US", "1 415 555 2671"), "+14155552671");
    assert_eq!(text_ok("US", "+1 212-555-0100"), "+12125550100");
    assert!(matches!(
        text_err("US", "555-0123"),
        PhoneProblem::TooShort { .. } | PhoneProblem::NotValid { .. }
    ));
    // Exchange codes never start with 0 or 1; area code 211 is a service code.
    assert!(matches!(
        text_err("US", "(201) 055-0123"),
        PhoneProblem::NotValid { .. }
    ));
    assert!(matches!(
        text_err("US", "(211) 555-0123"),
        PhoneProblem::NotValid { .. }
    ));
}

#[test]
fn india() {
    assert_eq!(text_ok("IN", "98765 43210"), "+919876543210"); // mobile
    assert_eq!(text_ok("IN", "098765 43210"), "+919876543210"); // with trunk 0
    assert_eq!(text_ok("IN", "011 2345 6789"), "+911123456789"); // Delhi landline
    assert!(matches!(
        text_err("IN", "98765 4321"),
        PhoneProblem::TooShort { .. } | PhoneProblem::NotValid { .. }
    ));
    // No Indian number of 10 digits starts with 4 or 3 (mobiles start with 6-9).
    assert!(matches!(
        text_err("IN", "41234 56789"),
        PhoneProblem::NotValid { .. }
    ));
    assert!(matches!(
        text_err("IN", "98765 432101"),
        PhoneProblem::TooLong { .. } | PhoneProblem::NotValid { .. }
    ));
}

#[test]
fn foreign_numbers_are_kept_in_their_own_country() {
    assert_eq!(text_ok("PH", "+1 (201) 555-0123"), "+12015550123");
    let p = text_err("PH", "+52 55 1234 567");
    assert!(p.describe().contains("Mexico"), "{}", p.describe());
}

#[test]
fn lost_plus_on_a_foreign_number_stored_as_a_number() {
    // A Hong Kong mobile typed as +852 9123 4567 that Excel turned into a number: not valid as a
    // Philippine number, valid only with its + back.
    assert_eq!(ok("PH", Cell::Number(85291234567.0)), "+85291234567");
    // The same digits typed as text with spaces are not repaired (no sign of Excel damage).
    assert!(rules("PH")
        .normalise(&Cell::Text("852 9123 4567".into()))
        .is_err());
}

#[test]
fn reasons_name_the_country_and_never_the_value() {
    let d = text_err("PH", "0917 123 45").describe();
    assert!(d.contains("the Philippines"), "{d}");
    assert!(!d.contains("917"), "{d}");
}

/// The shortcut never accepts what the crate would not accept the same way.
#[test]
fn fast_path_agrees_with_the_crate() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut fast_taken = 0;
    for country in [
        "PH", "MX", "CO", "BR", "IN", "AR", "DE", "ES", "FR", "CL", "PE", "GB", "US", "IT",
    ] {
        let r = rules(country);
        let code = r.code.to_string();
        for _ in 0..1500 {
            let len = 5 + next(10) as usize;
            let mut digits: String = (0..len)
                .map(|_| char::from(b'0' + next(10) as u8))
                .collect();
            match next(5) {
                0 => digits.insert(0, '0'),
                1 => digits.insert_str(0, &code),
                2 => digits.insert_str(0, "00"),
                _ => {}
            }
            // Also take real example numbers of the country, in several shapes.
            if next(3) == 0 {
                let d = r.meta.descriptors();
                let ex = [d.mobile(), d.fixed_line()][next(2) as usize]
                    .and_then(|x| x.example())
                    .unwrap_or("");
                digits = match next(4) {
                    0 => ex.to_string(),
                    1 => format!("0{ex}"),
                    2 => format!("+{code}{ex}"),
                    _ => format!("{code}{ex}"),
                };
            }
            let text = match next(4) {
                0 => format!("+{digits}"),
                1 if digits.len() > 6 => {
                    format!("({}) {}-{}", &digits[..3], &digits[3..6], &digits[6..])
                }
                2 if digits.len() > 4 => format!("{} {}", &digits[..4], &digits[4..]),
                _ => digits.clone(),
            };
            if let Some(fast) = r.fast.as_ref().and_then(|f| f.normalise(&text)) {
                fast_taken += 1;
                let slow = r.normalise_with_crate_only(&Cell::Text(text.clone()));
                assert_eq!(slow, Ok(Some(fast)), "{country} {text:?}");
            }
        }
    }
    assert!(
        fast_taken > 200,
        "the shortcut was exercised ({fast_taken})"
    );
    assert!(rules("PH").has_fast_path());
    assert!(!rules("US").has_fast_path(), "+1 is shared by many regions");
}

#[test]
fn phone_key_is_the_e164_digits() {
    let p = rules("PH")
        .normalise(&Cell::Text("0917 123 4567".into()))
        .unwrap()
        .unwrap();
    assert_eq!(p.key(), "639171234567");
}

#[test]
fn email_keys_fold_gmail_only() {
    assert_eq!(
        email_key("Juan.Dela.Cruz+jobs@GoogleMail.com"),
        "juandelacruz@gmail.com"
    );
    assert_eq!(email_key("j.cruz+x@gmail.com"), "jcruz@gmail.com");
    assert_eq!(email_key("J.Cruz+x@Yahoo.com"), "j.cruz+x@yahoo.com");
    assert_eq!(
        email_display(" mailto:Ana@Example.com\u{200B} "),
        "Ana@Example.com"
    );
    assert_eq!(email_display("<ana@example.com>"), "ana@example.com");
    assert_eq!(email_domain("ana@example.com"), Some("example.com"));
}

#[test]
fn names_are_cleaned_and_keyed() {
    let n = Name::new(text::clean("  José\u{00A0} María "));
    assert_eq!(n.display, "José María");
    assert_eq!(n.key, "jose maria");
}

#[test]
fn full_names_split() {
    let s = |x: &str| {
        let (a, b) = split_full_name(x);
        (a, b)
    };
    assert_eq!(s("Juan Dela Cruz"), ("Juan".into(), "Dela Cruz".into()));
    assert_eq!(s("Maria de la Cruz"), ("Maria".into(), "de la Cruz".into()));
    assert_eq!(s("Ana Sofia Reyes"), ("Ana Sofia".into(), "Reyes".into()));
    assert_eq!(s("Reyes, Ana Sofia"), ("Ana Sofia".into(), "Reyes".into()));
    assert_eq!(s("Jose Rizal Jr."), ("Jose".into(), "Rizal Jr.".into()));
    assert_eq!(s("Jose Rizal, Jr."), ("Jose".into(), "Rizal Jr.".into()));
    assert_eq!(s("Madonna"), ("Madonna".into(), "".into()));
    assert_eq!(s("  "), ("".into(), "".into()));
    // A particle never takes the first word.
    assert_eq!(s("De Guzman"), ("De".into(), "Guzman".into()));
}

#[test]
fn cell_texts() {
    assert_eq!(cell_text(&Cell::Number(9171234567.0)), "9171234567");
    assert_eq!(cell_text(&Cell::Number(2.5)), "2.5");
    assert_eq!(cell_text(&Cell::Bool(true)), "TRUE");
    assert_eq!(cleaned_value(&Cell::Text(" N/A ".into())), None);
    assert_eq!(
        cleaned_value(&Cell::Text(" Ana ".into())),
        Some("Ana".into())
    );
}
