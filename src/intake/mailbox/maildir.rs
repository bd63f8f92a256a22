//! The embedded-default mailbox (SPEC §3.1 `kind = "maildir"`): a Maildir whose `new/` and `cur/` hold
//! the messages to process, with Maildir++ sub-folders `.Processed`, `.Rejected` and `.Failed` that
//! messages are moved to once their outcome is committed. Any mail server or `cp` can deliver into it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Where a message goes after it was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    Processed,
    Rejected,
    Failed,
}

impl Folder {
    pub fn name(self) -> &'static str {
        match self {
            Folder::Processed => "Processed",
            Folder::Rejected => "Rejected",
            Folder::Failed => "Failed",
        }
    }
}

/// A message waiting in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The unique part of the file name (before `:2,flags`): stable while the file moves.
    pub id: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
}

impl Maildir {
    /// Opens (creating what is missing) the Maildir and its three sub-folders.
    pub fn open(root: &Path) -> io::Result<Maildir> {
        for dir in ["new", "cur", "tmp"] {
            fs::create_dir_all(root.join(dir))?;
        }
        for folder in [Folder::Processed, Folder::Rejected, Folder::Failed] {
            for dir in ["new", "cur", "tmp"] {
                fs::create_dir_all(root.join(format!(".{}", folder.name())).join(dir))?;
            }
        }
        Ok(Maildir {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Messages in `new/` and `cur/`, oldest first (by delivery name, which starts with the time).
    pub fn pending(&self) -> io::Result<Vec<Pending>> {
        let mut out = Vec::new();
        for dir in ["new", "cur"] {
            for entry in fs::read_dir(self.root.join(dir))? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || !entry.file_type()?.is_file() {
                    continue;
                }
                out.push(Pending {
                    id: base_name(&name).to_string(),
                    path: entry.path(),
                });
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Moves a handled message into `folder` (marked seen). Moving one already moved is a no-op,
    /// so a move interrupted by a crash is simply done again.
    pub fn move_to(&self, message: &Pending, folder: Folder) -> io::Result<()> {
        let target = self
            .root
            .join(format!(".{}", folder.name()))
            .join("cur")
            .join(format!("{}:2,S", message.id));
        match fs::rename(&message.path, &target) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && target.exists() => Ok(()),
            other => other,
        }
    }

    /// Delivers a message into `new/` the Maildir way (write in `tmp/`, then rename). For the demo and
    /// tests; mail servers deliver on their own.
    pub fn deliver(&self, raw: &[u8]) -> io::Result<PathBuf> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let name = format!(
            "{}.M{}P{}Q{}.agency-portal",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        let tmp = self.root.join("tmp").join(&name);
        fs::write(&tmp, raw)?;
        let new = self.root.join("new").join(&name);
        fs::rename(&tmp, &new)?;
        Ok(new)
    }
}

fn base_name(file_name: &str) -> &str {
    file_name.split(":2,").next().unwrap_or(file_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliver_list_and_move_once() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::open(&dir.path().join("mail")).unwrap();
        md.deliver(b"Subject: one\r\n\r\nhi").unwrap();
        md.deliver(b"Subject: two\r\n\r\nhi").unwrap();
        let pending = md.pending().unwrap();
        assert_eq!(pending.len(), 2);
        md.move_to(&pending[0], Folder::Processed).unwrap();
        // Again (a crash after the move): nothing happens, nothing fails.
        md.move_to(&pending[0], Folder::Processed).unwrap();
        md.move_to(&pending[1], Folder::Rejected).unwrap();
        assert!(md.pending().unwrap().is_empty());
        let processed: Vec<_> = fs::read_dir(md.root().join(".Processed/cur"))
            .unwrap()
            .collect();
        assert_eq!(processed.len(), 1);
        assert!(md
            .root()
            .join(".Rejected/cur")
            .read_dir()
            .unwrap()
            .next()
            .is_some());
    }
}
