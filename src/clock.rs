//! The time the product runs at. Production reads the system clock; tests and demos can fix it with
//! `AGENCY_PORTAL_NOW=2027-05-01T08:00:00Z` (RFC 3339), so ownership expiry and digest schedules are
//! exercised without waiting. Library code takes times as arguments; only the edges ask a clock.

use chrono::{DateTime, Utc};

pub const NOW_ENV: &str = "AGENCY_PORTAL_NOW";

/// The current time: `AGENCY_PORTAL_NOW` when set and valid, else the system clock.
pub fn now() -> DateTime<Utc> {
    std::env::var(NOW_ENV)
        .ok()
        .and_then(|s| parse(&s))
        .unwrap_or_else(Utc::now)
}

fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_rfc3339_with_any_offset() {
        let t = super::parse("2027-05-01T16:00:00+08:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2027-05-01T08:00:00+00:00");
        assert!(super::parse("tomorrow").is_none());
    }
}
