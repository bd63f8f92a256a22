//! Retry backoff, the one every part of the daemon uses: the outbox and Talkpush workers between
//! attempts at a row, the mailbox and drop-folder sources after a failed pass, and `run` while its
//! database does not answer yet.

use std::time::Duration;

/// Capped exponential backoff: `base · 2^(n−1)` after the `n`-th failure in a row, at most `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub base: Duration,
    /// The longest wait.
    pub cap: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff { base, cap }
    }

    /// The wait after the `failures`-th failure in a row (none before the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let Some(exp) = failures.checked_sub(1) else {
            return Duration::ZERO;
        };
        self.base
            .saturating_mul(2u32.saturating_pow(exp.min(30)))
            .min(self.cap)
    }

    /// [`Backoff::delay`] at a random point of its upper half: many rows or sources failing at once
    /// do not all retry at once.
    pub fn jittered(&self, failures: u32) -> Duration {
        let full = self.delay(failures);
        let half = full / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// A count of failures in a row, starting at none.
    pub fn retries(self) -> Retries {
        Retries {
            backoff: self,
            failures: 0,
        }
    }
}

/// A [`Backoff`] with its count of failures in a row, for a loop that retries one thing.
#[derive(Debug, Clone)]
pub struct Retries {
    pub backoff: Backoff,
    failures: u32,
}

impl Retries {
    /// One more failure: the wait before the next attempt.
    pub fn failed(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.backoff.delay(self.failures)
    }

    /// [`Retries::failed`], jittered (see [`Backoff::jittered`]).
    pub fn failed_jittered(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.backoff.jittered(self.failures)
    }

    /// A success: the next failure waits the base again.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_the_base_up_to_the_cap() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let waits: Vec<u64> = (0..9).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(waits, [0, 1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(60));
        for n in 1..10 {
            let j = b.jittered(n);
            assert!(j >= b.delay(n) / 2 && j <= b.delay(n), "{n}: {j:?}");
        }
    }

    #[test]
    fn retries_count_failures_in_a_row() {
        let mut r = Backoff::new(Duration::from_secs(1), Duration::from_secs(30)).retries();
        assert_eq!(r.failed(), Duration::from_secs(1));
        assert_eq!(r.failed(), Duration::from_secs(2));
        assert_eq!(r.failed(), Duration::from_secs(4));
        r.succeeded();
        assert_eq!(r.failed(), Duration::from_secs(1));
    }
}
