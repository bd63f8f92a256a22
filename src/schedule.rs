//! Digest schedules (SPEC §3.1 `[[digests]]`, §8): a standard 5-field crontab expression
//! (minute hour day-of-month month day-of-week, 0 or 7 = Sunday) read in an IANA timezone.
//!
//! `croner` reads crontab as cron(8) does (day-of-month and day-of-week OR-ed when both are set);
//! seconds and years are refused so that `0 8 * * 1-5` can only mean "08:00, Monday to Friday".

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// A parsed, valid schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    cron: Cron,
    timezone: Tz,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("`{expression}` is not a valid schedule: {reason}; write 5 fields: minute hour day-of-month month day-of-week, e.g. \"0 8 * * 1-5\" for 08:00 Monday to Friday")]
    Cron { expression: String, reason: String },
    #[error("`{0}` is not a known IANA timezone; write a name such as \"Asia/Manila\" or \"America/Sao_Paulo\"")]
    Timezone(String),
}

impl Schedule {
    pub fn parse_cron(expression: &str) -> Result<Cron, ScheduleError> {
        let fields = expression.split_whitespace().count();
        let bad = |reason: String| ScheduleError::Cron {
            expression: expression.to_string(),
            reason,
        };
        if fields != 5 {
            return Err(bad(format!(
                "it has {fields} fields, a crontab schedule has 5"
            )));
        }
        CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            .map_err(|e| bad(e.to_string()))
    }

    pub fn parse_timezone(name: &str) -> Result<Tz, ScheduleError> {
        Tz::from_str(name).map_err(|_| ScheduleError::Timezone(name.to_string()))
    }

    pub fn new(expression: &str, timezone: &str) -> Result<Schedule, ScheduleError> {
        Ok(Schedule {
            expression: expression.to_string(),
            cron: Self::parse_cron(expression)?,
            timezone: Self::parse_timezone(timezone)?,
        })
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.timezone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The latest fire time at or before `at` (what is due now; older missed ones are skipped).
    pub fn latest_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&self.timezone);
        self.cron
            .find_previous_occurrence(&local, true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The next `n` fire times after `after`, in the schedule's timezone.
    pub fn upcoming(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Tz>> {
        let mut out = Vec::with_capacity(n);
        let mut at = after;
        while out.len() < n {
            match self.next_after(at) {
                Some(next) => {
                    out.push(next.with_timezone(&self.timezone));
                    at = next;
                }
                None => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike, Weekday};

    #[test]
    fn weekdays_at_eight_in_manila() {
        let s = Schedule::new("0 8 * * 1-5", "Asia/Manila").unwrap();
        // Friday 2026-11-27 12:00 Manila = 04:00 UTC.
        let start = Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap();
        let next: Vec<_> = s.upcoming(start, 3);
        assert_eq!(next[0].weekday(), Weekday::Mon);
        assert_eq!((next[0].hour(), next[0].minute()), (8, 0));
        assert_eq!(next[1].weekday(), Weekday::Tue);
        assert_eq!(next[2].weekday(), Weekday::Wed);
        assert_eq!(next[0].with_timezone(&Utc).hour(), 0);
    }

    #[test]
    fn sunday_is_zero_and_seven() {
        let a = Schedule::new("30 9 * * 0", "UTC").unwrap();
        let b = Schedule::new("30 9 * * 7", "UTC").unwrap();
        let start = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
        let na = a.next_after(start).unwrap();
        assert_eq!(na.weekday(), Weekday::Sun);
        assert_eq!(na, b.next_after(start).unwrap());
    }

    #[test]
    fn refuses_quartz_and_junk() {
        assert!(Schedule::new("0 0 8 * * 1-5", "UTC").is_err());
        assert!(Schedule::new("61 8 * * *", "UTC").is_err());
        assert!(Schedule::new("every morning", "UTC").is_err());
        assert!(matches!(
            Schedule::new("0 8 * * *", "Asia/Atlantis"),
            Err(ScheduleError::Timezone(_))
        ));
    }
}
