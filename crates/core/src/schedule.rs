//! Digest schedules (SPEC §3.1 `[[digests]]`, §8): a standard 5-field crontab expression
//! (minute hour day-of-month month day-of-week, 0 or 7 = Sunday) read in an IANA timezone.
//!
//! `croner` reads crontab as cron(8) does (day-of-month and day-of-week OR-ed when both are set);
//! seconds and years are refused so that `0 8 * * 1-5` can only mean "08:00, Monday to Friday".
//!
//! Daylight saving time: croner's own timezone handling fires spuriously on the day clocks go
//! forward (a `0 8 * * *` schedule also fired at the end of the gap), so the expression is matched
//! on wall-clock time here and each match is placed in real time by the rules of cron(8): a wall
//! time that happens twice (clocks turned back) fires once, at its first occurrence; one that does
//! not happen (clocks turned forward) fires when the gap ends. Every other day fires exactly as
//! written, so a daily schedule fires once per day across every change.

use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// More than any DST shift (clocks move by at most two hours).
const DST_MARGIN: Duration = Duration::hours(3);
/// Matches looked at in one search (a schedule firing every minute has 180 in the margin).
const SEARCH_LIMIT: usize = 2_000;

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

    /// The real instant a wall-clock fire time of the schedule's timezone stands for: a time that
    /// occurs twice (clocks turned back) fires at its first occurrence only; a time that does not
    /// exist (clocks turned forward) fires when the gap ends, as cron(8) does.
    fn instant(&self, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.timezone.from_local_datetime(&wall) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
            LocalResult::None => (1..=26 * 60).find_map(|m| {
                self.timezone
                    .from_local_datetime(&(wall + Duration::minutes(m)))
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
            }),
        }
    }

    /// The wall-clock time of `t` in the schedule's timezone, as croner's (DST-free) UTC input.
    fn wall(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        t.with_timezone(&self.timezone).naive_local().and_utc()
    }

    /// The first fire time strictly after `after`.
    ///
    /// croner matches the expression on wall-clock time (read as UTC, which has no DST); each
    /// match is turned into an instant by [`Self::instant`]. That map never goes back in time, so
    /// starting a little before `after`'s wall time (clocks turned back repeat up to a few hours)
    /// and skipping instants not after `after` finds the first fire.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut cursor = self.wall(after) - DST_MARGIN;
        for _ in 0..SEARCH_LIMIT {
            let wall = self.cron.find_next_occurrence(&cursor, false).ok()?;
            let t = self.instant(wall.naive_utc())?;
            if t > after {
                return Some(t);
            }
            cursor = wall;
        }
        None
    }

    /// The latest fire time at or before `at` (what is due now; older missed ones are skipped).
    pub fn latest_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut cursor = self.wall(at) + DST_MARGIN;
        for _ in 0..SEARCH_LIMIT {
            let wall = self.cron.find_previous_occurrence(&cursor, false).ok()?;
            let t = self.instant(wall.naive_utc())?;
            if t <= at {
                return Some(t);
            }
            cursor = wall;
        }
        None
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

    fn local(s: &Schedule, t: DateTime<Utc>) -> String {
        t.with_timezone(&s.timezone())
            .format("%Y-%m-%d %H:%M %:z")
            .to_string()
    }

    fn fires(s: &Schedule, from: DateTime<Utc>, n: usize) -> Vec<String> {
        s.upcoming(from, n)
            .iter()
            .map(|t| local(s, t.with_timezone(&Utc)))
            .collect()
    }

    #[test]
    fn daily_fires_once_on_the_day_clocks_go_forward() {
        // São Paulo, 2018-11-04 00:00 -03 became 01:00 -02 (Brazil had DST until 2019).
        let s = Schedule::new("0 8 * * *", "America/Sao_Paulo").unwrap();
        let from = Utc.with_ymd_and_hms(2018, 11, 2, 12, 0, 0).unwrap();
        assert_eq!(
            fires(&s, from, 3),
            [
                "2018-11-03 08:00 -03:00",
                "2018-11-04 08:00 -02:00",
                "2018-11-05 08:00 -02:00"
            ]
        );
    }

    #[test]
    fn a_time_in_the_gap_fires_when_the_gap_ends() {
        let s = Schedule::new("30 2 * * *", "America/New_York").unwrap();
        let from = Utc.with_ymd_and_hms(2026, 3, 7, 12, 0, 0).unwrap();
        assert_eq!(
            fires(&s, from, 2),
            ["2026-03-08 03:00 -04:00", "2026-03-09 02:30 -04:00"]
        );
        let sp = Schedule::new("30 0 * * *", "America/Sao_Paulo").unwrap();
        let from = Utc.with_ymd_and_hms(2018, 11, 3, 12, 0, 0).unwrap();
        assert_eq!(fires(&sp, from, 1), ["2018-11-04 01:00 -02:00"]);
    }

    #[test]
    fn a_repeated_time_fires_once() {
        // New York, 2026-11-01 02:00 EDT became 01:00 EST: 01:30 happens twice.
        let s = Schedule::new("30 1 * * *", "America/New_York").unwrap();
        let from = Utc.with_ymd_and_hms(2026, 10, 31, 12, 0, 0).unwrap();
        assert_eq!(
            fires(&s, from, 2),
            ["2026-11-01 01:30 -04:00", "2026-11-02 01:30 -05:00"]
        );
        // During the second 01:00-02:00, the latest fire is the first 01:30, an hour ago.
        let second_pass = Utc.with_ymd_and_hms(2026, 11, 1, 6, 45, 0).unwrap(); // 01:45 EST
        assert_eq!(
            local(&s, s.latest_at_or_before(second_pass).unwrap()),
            "2026-11-01 01:30 -04:00"
        );
        // São Paulo, 2019-02-17 00:00 -02 became 2019-02-16 23:00 -03.
        let sp = Schedule::new("30 23 * * *", "America/Sao_Paulo").unwrap();
        let from = Utc.with_ymd_and_hms(2019, 2, 15, 12, 0, 0).unwrap();
        assert_eq!(
            fires(&sp, from, 3),
            [
                "2019-02-15 23:30 -02:00",
                "2019-02-16 23:30 -02:00",
                "2019-02-17 23:30 -03:00"
            ]
        );
    }

    #[test]
    fn latest_and_next_agree_every_quarter_hour_across_changes() {
        for (expr, tz, y, m, d) in [
            ("0 8 * * *", "America/Sao_Paulo", 2018, 11, 1),
            ("30 23 * * *", "America/Sao_Paulo", 2019, 2, 14),
            ("*/20 1-3 * * *", "America/New_York", 2026, 3, 6),
            ("*/20 0-2 * * *", "America/New_York", 2026, 10, 30),
        ] {
            let s = Schedule::new(expr, tz).unwrap();
            let mut at = Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap();
            for _ in 0..(5 * 96) {
                let latest = s.latest_at_or_before(at).unwrap();
                let next = s.next_after(latest).unwrap();
                assert!(
                    latest <= at && next > at,
                    "{expr} {tz} at {at}: {latest} {next}"
                );
                at += chrono::Duration::minutes(15);
            }
        }
    }
}
