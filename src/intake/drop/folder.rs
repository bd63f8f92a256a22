//! A folder held open by descriptor, and every file operation the drop source does inside it.
//!
//! Agencies own what they upload and, without `sftp-setup`, may own their folder too: they can put
//! a symlink where a file or sub-folder was, swap a sub-folder between two looks, or leave a FIFO.
//! So nothing here resolves a path from the top again: a [`Folder`] is an open directory
//! descriptor, a sub-folder is opened from it with `O_NOFOLLOW`, files are opened with
//! `O_NOFOLLOW | O_NONBLOCK` (a FIFO never blocks us) and checked again on the descriptor, renames go
//! descriptor to descriptor with `RENAME_NOREPLACE`, and new files are created with `O_EXCL`. A link
//! out of the agency's folder is therefore never followed, and nothing is ever overwritten.
//!
//! Names are resolved through `/proc/self/fd/N/NAME` (Linux): the `/proc` link is the open
//! directory itself, whatever has been renamed since, and only `NAME` — a single component, never
//! containing `/` — is looked up in it.

use std::ffi::{CString, OsStr, OsString};
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// An open directory.
#[derive(Debug)]
pub struct Folder {
    fd: OwnedFd,
    /// For messages only: never used to reach the folder again.
    path: PathBuf,
}

impl Folder {
    /// Opens a trusted folder (the configured drop root), following links in its path as given.
    pub fn open_trusted(path: &Path) -> io::Result<Folder> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(path)?;
        Ok(Folder {
            fd: file.into(),
            path: path.to_path_buf(),
        })
    }

    /// Where the folder was when opened (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn at(&self, name: &OsStr) -> io::Result<PathBuf> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.contains(&b'/') || bytes == b"." || bytes == b".." {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a single file name",
            ));
        }
        let mut p = PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()));
        p.push(name);
        Ok(p)
    }

    /// The sub-folder `name`; a symlink or anything but a directory is an error.
    pub fn sub(&self, name: &OsStr) -> io::Result<Folder> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(self.at(name)?)?;
        Ok(Folder {
            fd: file.into(),
            path: self.path.join(name),
        })
    }

    /// The sub-folder `name`, created with `mode` when missing.
    pub fn ensure_sub(&self, name: &OsStr, mode: u32) -> io::Result<Folder> {
        use std::os::unix::fs::DirBuilderExt as _;
        match std::fs::DirBuilder::new().mode(mode).create(self.at(name)?) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        self.sub(name)
    }

    /// The names in the folder (without `.` and `..`).
    pub fn names(&self) -> io::Result<Vec<OsString>> {
        let dir = PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()));
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            names.push(entry?.file_name());
        }
        names.sort();
        Ok(names)
    }

    /// The entry's own metadata (a symlink is described, not followed).
    pub fn lstat(&self, name: &OsStr) -> io::Result<Metadata> {
        std::fs::symlink_metadata(self.at(name)?)
    }

    pub fn exists(&self, name: &OsStr) -> bool {
        self.lstat(name).is_ok()
    }

    /// The folder's own metadata.
    pub fn metadata(&self) -> io::Result<Metadata> {
        let dir = PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()));
        std::fs::metadata(dir)
    }

    /// Reads a regular file that must still be the entry `expected` describes, with one name only,
    /// and at most `max` bytes. A FIFO or device is never opened for reading as such: the open does
    /// not block (`O_NONBLOCK`) and the descriptor is checked before any read.
    pub fn read_regular(&self, name: &OsStr, expected: &Metadata, max: u64) -> io::Result<Read> {
        let mut file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(self.at(name)?)?;
        let before = file.metadata()?;
        if !before.file_type().is_file()
            || before.ino() != expected.ino()
            || before.dev() != expected.dev()
        {
            return Ok(Read::Replaced);
        }
        if before.nlink() != 1 {
            return Ok(Read::Replaced);
        }
        if before.len() > max {
            return Ok(Read::TooLarge(before.len()));
        }
        let mut bytes = Vec::with_capacity(before.len() as usize);
        (&mut file).take(max + 1).read_to_end(&mut bytes)?;
        let after = file.metadata()?;
        if bytes.len() as u64 > max {
            return Ok(Read::TooLarge(bytes.len() as u64));
        }
        if after.len() != bytes.len() as u64
            || after.mtime() != before.mtime()
            || after.mtime_nsec() != before.mtime_nsec()
            || after.len() != before.len()
        {
            return Ok(Read::Changing);
        }
        Ok(Read::Bytes(bytes, after))
    }

    /// Moves the entry `name` to `to/new_name`, never replacing anything there.
    pub fn rename_to(&self, name: &OsStr, to: &Folder, new_name: &OsStr) -> io::Result<()> {
        check_name(name)?;
        check_name(new_name)?;
        let old = CString::new(name.as_bytes())?;
        let new = CString::new(new_name.as_bytes())?;
        // SAFETY: both descriptors are open directories owned by `self` and `to`; both names are
        // NUL-terminated single components.
        let rc = unsafe {
            libc::renameat2(
                self.fd.as_raw_fd(),
                old.as_ptr(),
                to.fd.as_raw_fd(),
                new.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            // The file system cannot promise "no replace": link (fails if the name exists), then
            // remove the old name.
            Some(libc::EINVAL) | Some(libc::ENOSYS) => {
                std::fs::hard_link(self.at(name)?, to.at(new_name)?)?;
                std::fs::remove_file(self.at(name)?)
            }
            _ => Err(err),
        }
    }

    /// Creates `name` (which must not exist) with `bytes`, mode 0640, flushed to disk.
    pub fn create_new(&self, name: &OsStr, bytes: &[u8]) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(self.at(name)?)?;
        file.write_all(bytes)?;
        file.sync_all()
    }

    /// Creates `name` (which must not exist), mode 0600, and opens it for writing.
    pub fn create_exclusive(&self, name: &OsStr) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(self.at(name)?)
    }

    /// Opens `name` for reading when it is a regular file; anything else (a link, a FIFO, a
    /// folder, …) is `Ok(None)` and is never opened as such.
    pub fn open_regular(&self, name: &OsStr) -> io::Result<Option<File>> {
        let seen = self.lstat(name)?;
        if !seen.file_type().is_file() {
            return Ok(None);
        }
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(self.at(name)?)
        {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(None),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let same =
            meta.file_type().is_file() && meta.ino() == seen.ino() && meta.dev() == seen.dev();
        Ok(same.then_some(file))
    }

    /// Removes the entry `name` (a link itself, never what it leads to), not a folder.
    pub fn remove(&self, name: &OsStr) -> io::Result<()> {
        std::fs::remove_file(self.at(name)?)
    }

    /// Flushes the folder's entries (after renames) to disk.
    pub fn sync(&self) -> io::Result<()> {
        let file = File::from(self.fd.try_clone()?);
        file.sync_all()
    }

    /// Sets the folder's owner (`None` keeps it) and mode.
    pub fn set_owner_mode(&self, uid: Option<u32>, gid: Option<u32>, mode: u32) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        let file = File::from(self.fd.try_clone()?);
        std::os::unix::fs::fchown(&file, uid, gid)?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
    }
}

fn check_name(name: &OsStr) -> io::Result<()> {
    let b = name.as_bytes();
    if b.is_empty() || b.contains(&b'/') || b == b"." || b == b".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a single file name",
        ));
    }
    Ok(())
}

/// What reading an upload found.
#[derive(Debug)]
pub enum Read {
    /// The bytes, and the file's metadata as read.
    Bytes(Vec<u8>, Metadata),
    /// Larger than the limit (nothing more was read).
    TooLarge(u64),
    /// The name now leads to another file, a non-regular one, or one with several names.
    Replaced,
    /// It changed while being read: still being uploaded.
    Changing,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_not_followed_and_nothing_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("a")).unwrap();
        std::fs::create_dir(tmp.path().join("outside")).unwrap();
        std::fs::write(tmp.path().join("outside/secret"), "s").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("outside"), tmp.path().join("a/sub")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", tmp.path().join("a/pw")).unwrap();
        let root = Folder::open_trusted(&tmp.path().join("a")).unwrap();
        assert!(root.sub(OsStr::new("sub")).is_err());
        let meta = root.lstat(OsStr::new("pw")).unwrap();
        assert!(meta.file_type().is_symlink());
        assert!(root.read_regular(OsStr::new("pw"), &meta, 100).is_err());

        std::fs::write(tmp.path().join("a/x"), "x").unwrap();
        std::fs::write(tmp.path().join("a/y"), "y").unwrap();
        let err = root
            .rename_to(OsStr::new("x"), &root, OsStr::new("y"))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(tmp.path().join("a/y")).unwrap(), b"y");
        assert!(root.create_new(OsStr::new("y"), b"z").is_err());
        assert!(root.at(OsStr::new("..")).is_err());
        assert_eq!(
            root.names().unwrap(),
            vec![OsString::from("pw"), "sub".into(), "x".into(), "y".into()]
        );
    }
}
