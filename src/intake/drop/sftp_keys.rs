//! The SFTP accounts' public keys (SPEC §7 (r2) `sftp-key`): parsing and checking an OpenSSH public
//! key, its fingerprint as OpenSSH prints it, and the account's keys file — the one `sftp-setup`
//! names in `AuthorizedKeysFile` (`intake.drop.authorized_keys`, `%u` = `ap-<agency-id>`).
//!
//! Accepted: `ssh-ed25519`, `ecdsa-sha2-nistp256/384/521`, and `ssh-rsa` of at least 3072 bits.
//! The file is rewritten whole (temporary file in the same folder, then rename) under an exclusive
//! lock on a `.<name>.lock` beside it, so two daemons never lose each other's change. It is left
//! mode 0644 and its folders 0755 (created when missing), all owned by root: sshd's StrictModes
//! wants the file and every folder above it owned by root or the account and not writable by group
//! or others, so a daemon not running as root needs `CAP_CHOWN` (the shipped systemd unit has it).
//! Lines the portal did not write (keys an owner placed by hand, comments) are kept as they are.

use std::io::Write as _;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::Digest as _;

use crate::i18n::Told;

/// An OpenSSH public key that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, …
    pub kind: String,
    /// The key's wire format (what the base64 text decodes to).
    pub blob: Vec<u8>,
    /// The comment after the key (control characters removed), may be empty.
    pub comment: String,
}

impl PublicKey {
    /// `SHA256:` and the unpadded base64 of the blob's SHA-256, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.blob)
    }

    /// The line of an authorized_keys file.
    pub fn line(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.blob);
        if self.comment.is_empty() {
            format!("{} {b64}", self.kind)
        } else {
            format!("{} {b64} {}", self.kind, self.comment)
        }
    }

    /// `ED25519`, `ECDSA 256`, `RSA 4096`: what the key is, for replies.
    pub fn describe(&self) -> String {
        match self.kind.as_str() {
            "ssh-ed25519" => "ED25519".into(),
            "ssh-rsa" => format!("RSA {}", rsa_bits(&self.blob).unwrap_or(0)),
            k => format!("ECDSA {}", k.trim_start_matches("ecdsa-sha2-nistp")),
        }
    }
}

fn fingerprint(blob: &[u8]) -> String {
    let digest = sha2::Sha256::digest(blob);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

/// The smallest RSA modulus accepted (SPEC §7 (r2)).
pub const MIN_RSA_BITS: u64 = 3072;

/// Reads `<type> <base64> [comment]`. Refusals are catalogue keys with the reason. The base64
/// text may be cut into several words (a mail client wrapped it): the shortest run of words that
/// decodes to a key of the named type is the key, the words after it the comment.
pub fn parse(text: &str) -> Result<PublicKey, Told> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let [kind, rest @ ..] = words.as_slice() else {
        return Err(Told::new("reply.sftp_key_usage"));
    };
    if rest.is_empty() {
        return Err(Told::new("reply.sftp_key_usage"));
    }
    let mut b64 = String::new();
    let mut why: Option<Told> = None;
    for (i, w) in rest.iter().enumerate() {
        b64.push_str(w);
        match parse_one(kind, &b64, &rest[i + 1..]) {
            Ok(k) => return Ok(k),
            // A reason other than "not a key" (a weak RSA key) says more.
            Err(e) if why.is_none() || e.key != "reply.sftp_key_not_a_key" => {
                why = Some(e);
            }
            Err(_) => {}
        }
        if b64.len() > 8 * 1024 {
            break;
        }
    }
    Err(why.unwrap_or_else(|| Told::new("reply.sftp_key_not_a_key")))
}

fn parse_one(kind: &str, b64: &str, comment: &[&str]) -> Result<PublicKey, Told> {
    let comment: String = comment
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let not_a_key = || Told::new("reply.sftp_key_not_a_key");
    let blob = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| not_a_key())?;
    let mut r = Wire(&blob);
    let inner = r.string().ok_or_else(not_a_key)?;
    if inner != kind.as_bytes() {
        return Err(not_a_key());
    }
    match kind {
        "ssh-ed25519" => {
            if r.string().map(<[u8]>::len) != Some(32) {
                return Err(not_a_key());
            }
        }
        "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => {
            let curve = r.string().ok_or_else(not_a_key)?;
            let point = r.string().ok_or_else(not_a_key)?;
            if curve != &kind.as_bytes()["ecdsa-sha2-".len()..] || point.first() != Some(&4) {
                return Err(not_a_key());
            }
        }
        "ssh-rsa" => {
            let bits = rsa_bits(&blob).ok_or_else(not_a_key)?;
            if bits < MIN_RSA_BITS {
                return Err(Told::new("reply.sftp_key_rsa_short").with("bits", bits.to_string()));
            }
        }
        "ssh-dss" => return Err(Told::new("reply.sftp_key_dsa")),
        other => {
            let shown: String = other.chars().filter(|c| !c.is_control()).take(40).collect();
            return Err(Told::new("reply.sftp_key_type").with("type", shown));
        }
    }
    if kind != "ssh-rsa" && !r.0.is_empty() {
        return Err(not_a_key());
    }
    Ok(PublicKey {
        kind: kind.to_string(),
        blob,
        comment,
    })
}

/// The bit length of an `ssh-rsa` blob's modulus.
fn rsa_bits(blob: &[u8]) -> Option<u64> {
    let mut r = Wire(blob);
    r.string()?;
    let _e = r.string()?;
    let n = r.string()?;
    if !r.0.is_empty() {
        return None;
    }
    let n: &[u8] = {
        let start = n.iter().position(|b| *b != 0)?;
        &n[start..]
    };
    Some(n.len() as u64 * 8 - u64::from(n[0].leading_zeros()))
}

/// RFC 4251 strings: a big-endian u32 length and that many bytes.
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    fn string(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(self.0.get(..4)?.try_into().ok()?) as usize;
        let s = self.0.get(4..4 + len)?;
        self.0 = &self.0[4 + len..];
        Some(s)
    }
}

/// One line of a keys file: a key we can read, or anything else (kept as written).
#[derive(Debug, Clone)]
pub enum Line {
    Key(PublicKey),
    Other(String),
}

/// Where the account of `agency_id` reads its keys: the `AuthorizedKeysFile` pattern with `%u`
/// (the account) and `%%` expanded. Other tokens (`%h`, `%U`) and relative paths cannot be
/// resolved here.
pub fn keys_file(pattern: &str, agency_id: &str) -> Result<PathBuf, String> {
    let account = super::sftp_setup::account(agency_id);
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('u') => out.push_str(&account),
            Some('%') => out.push('%'),
            t => {
                return Err(format!(
                    "intake.drop.authorized_keys `{pattern}` uses %{}: only %u and %% can be \
                     resolved by the portal; name a fixed folder such as \
                     /etc/ssh/agency-portal/authorized_keys/%u",
                    t.map(String::from).unwrap_or_default()
                ))
            }
        }
    }
    let path = PathBuf::from(out);
    if !path.is_absolute() {
        return Err(format!(
            "intake.drop.authorized_keys `{pattern}` is not absolute: the accounts have no home \
             folder; name a fixed folder such as /etc/ssh/agency-portal/authorized_keys/%u"
        ));
    }
    Ok(path)
}

/// The file's lines (none when it does not exist).
pub fn read(path: &Path) -> std::io::Result<Vec<Line>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match parse(l) {
            Ok(k) => Line::Key(k),
            Err(_) => Line::Other(l.to_string()),
        })
        .collect())
}

/// The keys of the file (lines that are not keys left out).
pub fn list(path: &Path) -> std::io::Result<Vec<PublicKey>> {
    Ok(read(path)?
        .into_iter()
        .filter_map(|l| match l {
            Line::Key(k) => Some(k),
            Line::Other(_) => None,
        })
        .collect())
}

/// Adds `key` unless a key with its fingerprint is there. Returns whether it was added.
pub fn add(path: &Path, key: &PublicKey) -> std::io::Result<bool> {
    change(path, |lines| {
        let fp = key.fingerprint();
        if lines
            .iter()
            .any(|l| matches!(l, Line::Key(k) if k.fingerprint() == fp))
        {
            return false;
        }
        lines.push(Line::Key(key.clone()));
        true
    })
}

/// Removes the key of that fingerprint. Returns the removed key, if it was there.
pub fn remove(path: &Path, fingerprint: &str) -> std::io::Result<Option<PublicKey>> {
    let mut removed = None;
    change(path, |lines| {
        let before = lines.len();
        lines.retain(|l| match l {
            Line::Key(k) if k.fingerprint() == fingerprint => {
                removed = Some(k.clone());
                false
            }
            _ => true,
        });
        lines.len() != before
    })?;
    Ok(removed)
}

/// Under the lock: reads, lets `f` change the lines, and rewrites the file when it says so.
fn change(path: &Path, f: impl FnOnce(&mut Vec<Line>) -> bool) -> std::io::Result<bool> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    make_dirs(dir)?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(dir.join(format!(".{name}.lock")))?;
    // SAFETY: flock on a descriptor we own; released when `lock` is closed.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut lines = read(path)?;
    if !f(&mut lines) {
        return Ok(false);
    }
    let mut text = String::new();
    for l in &lines {
        match l {
            Line::Key(k) => text.push_str(&k.line()),
            Line::Other(o) => text.push_str(o),
        }
        text.push('\n');
    }
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o644)
        .open(&tmp)?;
    file.write_all(text.as_bytes())?;
    // The umask may have narrowed the mode; sshd reads the file as the account.
    file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    to_root(&tmp, std::os::unix::fs::fchown(&file, Some(0), Some(0)))?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(true)
}

/// sshd's StrictModes refuses a keys file (or a folder above it) owned by anyone but root or the
/// account: a daemon not running as root gives what it writes to root, which needs `CAP_CHOWN`.
fn to_root(path: &Path, chowned: std::io::Result<()>) -> std::io::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return chowned;
    }
    chowned.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot give {} to root ({e}), which sshd's StrictModes requires: run the daemon \
                 as root or with CAP_CHOWN",
                path.display()
            ),
        )
    })
}

/// Creates the missing folders of `dir`, mode 0755, owned by root.
fn make_dirs(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        make_dirs(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
            to_root(dir, std::os::unix::fs::chown(dir, Some(0), Some(0)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys made with ssh-keygen 9; fingerprints as `ssh-keygen -lf` prints them.
    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC/QwNZboGmFRMuGhODlrFOb3o6qqXSRhDCJg4P5AFyF ana@laptop";
    const ECDSA384: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBGuMZe5+U2I9mC/sXRztkXvL0qpisAIefZ9W6AEw6d3j5YTUpZL8drazAayyalR4OigKD/o5O0kPozMwwP7dnX8RdDP6FT3QJUjRF4YcHRsjesJ3PVKeFSoFzDTNBbW0GA== e";

    #[test]
    fn ed25519_is_read_with_its_fingerprint() {
        let k = parse(ED25519).unwrap();
        assert_eq!(k.kind, "ssh-ed25519");
        assert_eq!(k.comment, "ana@laptop");
        assert_eq!(k.line(), ED25519);
        assert_eq!(
            k.fingerprint(),
            "SHA256:DvR5CUzfS+XEWIWzr8F1+p2Lz156kdav621AJk/yyoY"
        );
        let e = parse(ECDSA384).unwrap();
        assert_eq!(
            e.fingerprint(),
            "SHA256:YiDHEFtb/NxqTxz1tKbMfOmZU0GBsO5ngR0GvUaChAE"
        );
        assert_eq!(e.describe(), "ECDSA 384");
        // Wrapped by a mail client, mid-word and at a space.
        let (b64, _) = ED25519["ssh-ed25519 ".len()..].split_once(' ').unwrap();
        let wrapped = format!("ssh-ed25519 {} {} ana@laptop", &b64[..30], &b64[30..]);
        assert_eq!(parse(&wrapped).unwrap(), k);
    }

    #[test]
    fn wrong_or_weak_keys_are_refused_with_the_reason() {
        assert_eq!(
            parse("ssh-ed25519").unwrap_err().key,
            "reply.sftp_key_usage"
        );
        assert_eq!(
            parse("ssh-ed25519 bm90IGEga2V5").unwrap_err().key,
            "reply.sftp_key_not_a_key"
        );
        // The type named outside differs from the one inside.
        let inside_ed = ED25519.split(' ').nth(1).unwrap();
        assert_eq!(
            parse(&format!("ssh-rsa {inside_ed}")).unwrap_err().key,
            "reply.sftp_key_not_a_key"
        );
        // RSA keys: e = 65537, n of `bytes` bytes with the top bit set.
        let rsa = |bytes: usize| {
            let mut blob = Vec::new();
            let mut n = vec![0u8];
            n.extend(std::iter::repeat_n(0xC5, bytes));
            for part in [b"ssh-rsa".to_vec(), vec![1, 0, 1], n] {
                blob.extend((part.len() as u32).to_be_bytes());
                blob.extend(part);
            }
            let b64 = base64::engine::general_purpose::STANDARD.encode(&blob);
            parse(&format!("ssh-rsa {b64} x"))
        };
        let short = rsa(256).unwrap_err();
        assert_eq!(short.key, "reply.sftp_key_rsa_short");
        assert_eq!(short.args, vec![("bits", "2048".to_string())]);
        assert_eq!(rsa(384).unwrap().describe(), "RSA 3072");
        let mut dss = Vec::new();
        dss.extend(7u32.to_be_bytes());
        dss.extend(b"ssh-dss");
        let b64 = base64::engine::general_purpose::STANDARD.encode(&dss);
        assert_eq!(
            parse(&format!("ssh-dss {b64}")).unwrap_err().key,
            "reply.sftp_key_dsa"
        );
    }

    #[test]
    fn keys_file_expands_the_account() {
        assert_eq!(
            keys_file("/etc/ssh/agency-portal/authorized_keys/%u", "acme").unwrap(),
            PathBuf::from("/etc/ssh/agency-portal/authorized_keys/ap-acme")
        );
        assert!(keys_file("%h/.ssh/authorized_keys", "acme").is_err());
        assert!(keys_file(".ssh/%u", "acme").is_err());
    }

    #[test]
    fn add_list_remove_keep_other_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/ap-acme");
        let key = parse(ED25519).unwrap();
        assert!(add(&path, &key).unwrap());
        assert!(!add(&path, &key).unwrap(), "the same key once");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("# placed by hand\n");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(list(&path).unwrap(), vec![key.clone()]);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert_eq!(remove(&path, "SHA256:nope").unwrap(), None);
        assert_eq!(remove(&path, &key.fingerprint()).unwrap(), Some(key));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# placed by hand\n"
        );
    }
}
