//! When an upload has finished: its entry must have stopped changing for `settle`.
//!
//! An entry is described by a [`Fingerprint`] of its metadata (inode, type, size, mtime, ctime,
//! link count). It is settled when the same fingerprint has been seen for `settle` (monotonic
//! clock), or — the first time an entry is seen, e.g. at start — when its ctime is already `settle`
//! old. ctime moves on every write, `setstat` (`sftp put -p` restoring an old mtime), rename and
//! link, and cannot be set by the uploader, so a file still being written is never settled; and
//! OpenSSH's link-then-unlink rename (a moment with two names) is over before the entry settles.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt as _;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    dev: u64,
    ino: u64,
    mode: u32,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    nlink: u64,
}

impl Fingerprint {
    pub fn of(m: &Metadata) -> Fingerprint {
        Fingerprint {
            dev: m.dev(),
            ino: m.ino(),
            mode: m.mode(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            nlink: m.nlink(),
        }
    }

    /// The last change of the entry, as wall-clock time.
    pub fn changed_at(&self) -> SystemTime {
        let (s, ns) = self.ctime;
        if s >= 0 {
            SystemTime::UNIX_EPOCH + Duration::new(s as u64, ns.clamp(0, 999_999_999) as u32)
        } else {
            SystemTime::UNIX_EPOCH
        }
    }
}

/// Whether an entry may be taken now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Yes,
    /// Look again at this instant.
    NotBefore(Instant),
}

/// Entries seen and since when they have not changed. Keys are whatever identifies an entry's
/// place (agency, sub-folder, name).
#[derive(Debug)]
pub struct Settle<K> {
    settle: Duration,
    seen: HashMap<K, (Fingerprint, Instant)>,
}

impl<K: std::hash::Hash + Eq + Clone> Settle<K> {
    pub fn new(settle: Duration) -> Settle<K> {
        Settle {
            settle,
            seen: HashMap::new(),
        }
    }

    pub fn check(&mut self, key: &K, fp: Fingerprint, now: Instant, wall: SystemTime) -> Settled {
        match self.seen.get(key) {
            Some((old, since)) if *old == fp => {
                let due = *since + self.settle;
                if now >= due {
                    Settled::Yes
                } else {
                    Settled::NotBefore(due)
                }
            }
            previous => {
                let first_time = previous.is_none();
                self.seen.insert(key.clone(), (fp, now));
                let quiet = wall
                    .duration_since(fp.changed_at())
                    .is_ok_and(|d| d >= self.settle);
                if first_time && quiet {
                    Settled::Yes
                } else {
                    Settled::NotBefore(now + self.settle)
                }
            }
        }
    }

    /// Forget an entry (it was taken, or is gone).
    pub fn forget(&mut self, key: &K) {
        self.seen.remove(key);
    }

    /// Forget every entry `keep` rejects (gone since the last scan).
    pub fn retain(&mut self, keep: impl Fn(&K) -> bool) {
        self.seen.retain(|k, _| keep(k));
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_settles_only_when_unchanged_for_the_period() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("x");
        std::fs::write(&f, "a").unwrap();
        let mut s: Settle<&str> = Settle::new(Duration::from_millis(200));
        let t0 = Instant::now();
        let fp = Fingerprint::of(&std::fs::metadata(&f).unwrap());
        let wall = SystemTime::now();
        // Just written: not yet.
        assert!(matches!(s.check(&"x", fp, t0, wall), Settled::NotBefore(_)));
        assert!(matches!(
            s.check(&"x", fp, t0 + Duration::from_millis(100), wall),
            Settled::NotBefore(_)
        ));
        // Grew: the clock starts again.
        std::fs::write(&f, "ab").unwrap();
        let fp2 = Fingerprint::of(&std::fs::metadata(&f).unwrap());
        let t1 = t0 + Duration::from_millis(250);
        assert!(matches!(
            s.check(&"x", fp2, t1, wall),
            Settled::NotBefore(_)
        ));
        assert_eq!(
            s.check(&"x", fp2, t1 + Duration::from_millis(200), wall),
            Settled::Yes
        );
        // Seen for the first time long after its last change (arrived while we were down).
        let mut fresh: Settle<&str> = Settle::new(Duration::from_millis(200));
        assert_eq!(
            fresh.check(&"x", fp2, t1, wall + Duration::from_secs(5)),
            Settled::Yes
        );
    }
}
