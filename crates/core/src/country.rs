//! ISO 3166-1 alpha-2 country codes: agencies' and campaigns' `country` (SPEC §3.2), and the default
//! region for phone numbers (§6.1).

/// The 249 officially assigned codes.
const CODES: &str = "\
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ \
EC EE EG EH ER ES ET \
FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
HK HM HN HR HT HU \
ID IE IL IM IN IO IQ IR IS IT \
JE JM JO JP \
KE KG KH KI KM KN KP KR KW KY KZ \
LA LB LC LI LK LR LS LT LU LV LY \
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
NA NC NE NF NG NI NL NO NP NR NU NZ \
OM \
PA PE PF PG PH PK PL PM PN PR PS PT PW PY \
QA \
RE RO RS RU RW \
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ \
UA UG UM US UY UZ \
VA VC VE VG VI VN VU \
WF WS \
YE YT \
ZA ZM ZW
";

/// `code` as an upper-case ISO 3166-1 alpha-2 code, if it is one ("ph" → "PH").
pub fn parse(code: &str) -> Option<String> {
    let upper = code.trim().to_ascii_uppercase();
    (upper.len() == 2 && CODES.split_ascii_whitespace().any(|c| c == upper)).then_some(upper)
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_and_unknown() {
        assert_eq!(super::CODES.split_ascii_whitespace().count(), 249);
        assert_eq!(super::parse("ph").as_deref(), Some("PH"));
        assert_eq!(super::parse("BR").as_deref(), Some("BR"));
        assert_eq!(super::parse("XX"), None);
        assert_eq!(super::parse("PHL"), None);
    }
}
