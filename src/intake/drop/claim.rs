//! Claiming an upload before it is read, so that daemons sharing one drop folder take each file
//! once (SPEC §4.2 (r2): no second results workbook, no second pass).
//!
//! Design. Before taking `x.xlsx`, a daemon creates the marker `.claim-x.xlsx` beside it (`O_EXCL`)
//! and holds an exclusive `flock` on it until the upload is in its one final place; then it removes
//! the marker and closes it. **An upload belongs to whoever holds the lock on the file its marker
//! names**:
//! - another daemon finds the marker (`EEXIST`), cannot lock it, and skips the upload (a later scan
//!   finds it gone);
//! - the kernel drops the lock of a process that dies, even by `kill -9`, so a marker nobody holds
//!   is stale: the next daemon to claim the upload locks that marker and goes on at once, with no
//!   lease to wait out. The store's sha256 dedupe then makes it finish, not redo, what the dead one
//!   committed ([`super::take`]);
//! - a lock counts only once the marker's name is seen to still lead to the locked file, and only
//!   the holder removes a marker, so two daemons never both hold one upload;
//! - once claimed, the upload must still be the entry the scan saw settled (same inode, size,
//!   times), else the claim is released and the entry looked at again.
//!
//! Why not rename the upload to a hidden working name (the other obvious claim)? A daemon killed
//! mid-file would leave the upload hidden, and the others could tell a dead claimer from a slow one
//! only by waiting out a lease (a restart would not finish the file at once); the upload would also
//! vanish from the agency's view while being read. With a marker, the upload stays under its name
//! until its one final move, as with a single daemon.
//!
//! Markers are dot-files, never taken by the scan. A marker whose daemon died after the move (the
//! upload gone, nobody will claim that name soon) is removed by the scan once nobody holds it and
//! it is older than the lease ([`CLAIM_LEASE`], `DropOptions::claim_lease`); the lease only keeps
//! the sweep away from markers being created, correctness rests on the locks. A name too long for
//! `.claim-` in front (over 248 bytes) gets a marker named by its sha256. Locks need a file system
//! with `flock` (local ones; NFS with locking): an error from it is reported and the file retried.

use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata, TryLockError};
use std::io::{self, Write as _};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::os::unix::fs::MetadataExt as _;
use std::time::{Duration, SystemTime};

use super::folder::Folder;
use super::settle::Fingerprint;

/// How marker names start.
pub const PREFIX: &str = ".claim-";

/// How old a marker nobody holds must be before a scan removes it (see the module's doc).
pub const CLAIM_LEASE: Duration = Duration::from_secs(600);

/// The longest file name file systems take.
const NAME_MAX: usize = 255;

/// The marker of the upload `name`: `.claim-<name>`, or `.claim-<sha256 of name>` when too long.
pub fn marker(name: &OsStr) -> OsString {
    let mut m = PREFIX.as_bytes().to_vec();
    if PREFIX.len() + name.len() <= NAME_MAX {
        m.extend_from_slice(name.as_bytes());
    } else {
        m.extend_from_slice(crate::app::sha256_hex(name.as_bytes()).as_bytes());
    }
    OsString::from_vec(m)
}

pub fn is_marker(name: &OsStr) -> bool {
    name.as_bytes().starts_with(PREFIX.as_bytes())
}

/// A claim held: released (marker removed, then lock dropped) when dropped.
#[derive(Debug)]
pub struct Claim {
    folder: Folder,
    marker: OsString,
    /// Holds the lock; closed after [`Drop::drop`] has removed the marker.
    _lock: File,
}

impl Drop for Claim {
    /// The marker is removed while still locked, so nobody can lock it between the two and take it
    /// for theirs.
    fn drop(&mut self) {
        match self.folder.remove(&self.marker) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(
                "cannot remove the claim marker {}: {e}",
                self.folder.path().join(&self.marker).display()
            ),
        }
    }
}

/// What claiming found.
#[derive(Debug)]
pub enum Claimed {
    Mine(Claim),
    /// Another daemon holds it, or has already taken it.
    Elsewhere,
    /// Not the entry the scan saw any more: look again.
    Changed,
}

/// Claims the upload `name` of `folder`, which the scan saw as `seen`.
pub fn claim(folder: Folder, name: &OsStr, seen: &Metadata) -> io::Result<Claimed> {
    let marker = marker(name);
    let Some(file) = lock_marker(&folder, &marker)? else {
        return Ok(Claimed::Elsewhere);
    };
    let claim = Claim {
        folder,
        marker,
        _lock: file,
    };
    match claim.folder.lstat(name) {
        Ok(m) if Fingerprint::of(&m) == Fingerprint::of(seen) => Ok(Claimed::Mine(claim)),
        Ok(_) => Ok(Claimed::Changed),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Claimed::Elsewhere),
        Err(e) => Err(e),
    }
}

/// The marker, made by us or left by a daemon that died, locked; `None` when another holds it.
fn lock_marker(folder: &Folder, marker: &OsStr) -> io::Result<Option<File>> {
    for _ in 0..3 {
        match folder.create_exclusive(marker) {
            Ok(file) => return hold_new(folder, marker, file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        match folder.open_regular(marker) {
            Ok(Some(file)) => return hold(folder, marker, file),
            // Not a regular file: not one of ours, and never opened as anything else.
            Ok(None) => return Ok(None),
            // Released since: try again.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// [`hold`] for a marker just created; one that cannot be locked at all is not left behind.
fn hold_new(folder: &Folder, marker: &OsStr, mut file: File) -> io::Result<Option<File>> {
    // For whoever looks at the folder (`lsof` names the holder too).
    let _ = writeln!(file, "agency-portal pid {}", std::process::id());
    match hold(folder, marker, file) {
        Ok(held) => Ok(held),
        Err(e) => {
            let _ = folder.remove(marker);
            Err(e)
        }
    }
}

/// `file`, opened as `marker`, once locked by us and still named `marker`.
fn hold(folder: &Folder, marker: &OsStr, file: File) -> io::Result<Option<File>> {
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(None),
        Err(TryLockError::Error(e)) => return Err(e),
    }
    let ours = file.metadata()?;
    match folder.lstat(marker) {
        Ok(m) if m.dev() == ours.dev() && m.ino() == ours.ino() => Ok(Some(file)),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes `marker` when nobody holds it and it is older than `lease` (its daemon died); whether it
/// was removed.
pub fn sweep(
    folder: &Folder,
    marker: &OsStr,
    lease: Duration,
    now: SystemTime,
) -> io::Result<bool> {
    let meta = folder.lstat(marker)?;
    let old = now
        .duration_since(Fingerprint::of(&meta).changed_at())
        .is_ok_and(|age| age >= lease);
    if !meta.file_type().is_file() || !old {
        return Ok(false);
    }
    let Some(file) = folder.open_regular(marker)? else {
        return Ok(false);
    };
    match hold(folder, marker, file)? {
        Some(file) => {
            folder.remove(marker)?;
            drop(file);
            Ok(true)
        }
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_fit_in_a_file_name() {
        assert_eq!(marker(OsStr::new("week 48.xlsx")), ".claim-week 48.xlsx");
        let long = "x".repeat(NAME_MAX);
        let m = marker(OsStr::new(&long));
        assert!(m.len() <= NAME_MAX && is_marker(&m), "{m:?}");
        assert_ne!(m, marker(OsStr::new(&"y".repeat(NAME_MAX))));
        assert_eq!(marker(OsStr::new(&long[..248])).len(), NAME_MAX);
    }

    #[test]
    fn one_holder_at_a_time_and_a_dead_holder_is_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("x.csv"), "a").unwrap();
        let open = || Folder::open_trusted(tmp.path()).unwrap();
        let name = OsStr::new("x.csv");
        let seen = std::fs::symlink_metadata(tmp.path().join("x.csv")).unwrap();
        let Claimed::Mine(first) = claim(open(), name, &seen).unwrap() else {
            panic!("the first claim")
        };
        assert!(tmp.path().join(".claim-x.csv").is_file());
        assert!(matches!(
            claim(open(), name, &seen).unwrap(),
            Claimed::Elsewhere
        ));
        // Held markers are never swept, whatever their age.
        assert!(!sweep(
            &open(),
            OsStr::new(".claim-x.csv"),
            Duration::ZERO,
            SystemTime::now()
        )
        .unwrap());
        drop(first);
        assert!(!tmp.path().join(".claim-x.csv").exists(), "released");

        // A marker nobody holds (its daemon died): the next claim goes on with it.
        std::fs::write(tmp.path().join(".claim-x.csv"), "").unwrap();
        assert!(matches!(
            claim(open(), name, &seen).unwrap(),
            Claimed::Mine(_)
        ));
        assert!(!tmp.path().join(".claim-x.csv").exists());

        // Changed since the scan: not taken.
        std::fs::write(tmp.path().join("x.csv"), "ab").unwrap();
        assert!(matches!(
            claim(open(), name, &seen).unwrap(),
            Claimed::Changed
        ));
        std::fs::remove_file(tmp.path().join("x.csv")).unwrap();
        assert!(matches!(
            claim(open(), name, &seen).unwrap(),
            Claimed::Elsewhere
        ));
        assert!(!tmp.path().join(".claim-x.csv").exists());
    }
}
