//! `agency-portal sftp-setup [--apply]` (SPEC §4.2): chrooted, SFTP-only OpenSSH accounts, one per
//! active agency, each able to write only inside its own folder.
//!
//! Design. OpenSSH requires a chroot directory and all its parents to be owned by root and not
//! writable by group or others, while SPEC §4.2 has agencies upload into `<agency-id>/` itself.
//! So the chroot is the drop folder, and each account is started in, and confined to, its folder:
//!
//! | path | owner:group | mode | the agency's account |
//! |---|---|---|---|
//! | `<drop>/` (chroot) | root:root | 0711 | may pass through, cannot list (other agencies' folders stay unseen) |
//! | `<drop>/<id>/` | root:ap-`<id>` | 1770 | uploads; sticky: may rename or delete only its own files, never the folders below |
//! | `<id>/check/`, `<id>/<campaign>/` | root:ap-`<id>` | 1770 | uploads, as above |
//! | `<id>/results/`, `processed/`, `failed/` | root:ap-`<id>` | 2750 | reads only; setgid: the daemon's files (0640) get the agency's group |
//! | another agency's folder | root:ap-`<other>` | 1770 | no access at all |
//!
//! Accounts are named `ap-<agency-id>` (system accounts with their own group, no home, no shell:
//! `useradd --system --user-group`); `sshd` forces `internal-sftp -d /<agency-id>` with umask 027, no
//! forwarding of any kind, no TTY, no `~/.ssh/rc`, public keys only, read from
//! `--authorized-keys` (default `/etc/ssh/agency-portal/authorized_keys/%u`, one file per account).
//! Inactive agencies get a block that lets nobody in (`AuthorizedKeysFile none`). The generated
//! text ends with `Match all`, so directives after it (or after an `Include` of it) stay global.
//!
//! The daemon reads uploads owned by the agencies' accounts, so it runs as root (or with
//! `CAP_DAC_OVERRIDE`). Re-run `sftp-setup --apply` after adding an agency, then reload sshd.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::directory::Directory;

use super::folder::Folder;
use super::layout;

/// The OpenSSH account of an agency.
pub fn account(agency_id: &str) -> String {
    format!("ap-{agency_id}")
}

/// Where the account reads its keys unless told otherwise.
pub use crate::settings::DEFAULT_AUTHORIZED_KEYS;
/// Where `--apply` writes the configuration unless told otherwise (Debian includes this folder).
pub const DEFAULT_SSHD_CONFIG: &str = "/etc/ssh/sshd_config.d/agency-portal.conf";

const AGENCY_DIR_MODE: u32 = 0o1770;
const OUTPUT_DIR_MODE: u32 = 0o2750;
const CHROOT_MODE: u32 = 0o711;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Bad(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SetupError + 'a {
    move |source| SetupError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct SetupOptions {
    /// The drop folder (`intake.drop.path`), absolute.
    pub drop_root: PathBuf,
    /// `AuthorizedKeysFile` pattern for the accounts (`%u` = the account).
    pub authorized_keys: String,
}

/// An sshd_config argument: quoted, `%` doubled (ChrootDirectory expands tokens).
fn quoted(s: &str, tokens: bool) -> Result<String, SetupError> {
    if s.contains('"') || s.chars().any(char::is_control) {
        return Err(SetupError::Bad(format!(
            "`{s}` cannot be written in sshd_config (quote or control character): choose another path"
        )));
    }
    let s = if tokens {
        s.replace('%', "%%")
    } else {
        s.to_string()
    };
    Ok(format!("\"{s}\""))
}

/// The `Match` blocks for every agency of the directory.
pub fn sshd_config(directory: &Directory, opts: &SetupOptions) -> Result<String, SetupError> {
    let root = opts
        .drop_root
        .to_str()
        .ok_or_else(|| SetupError::Bad("intake.drop.path is not valid UTF-8".into()))?;
    if !opts.drop_root.is_absolute() {
        return Err(SetupError::Bad(format!(
            "intake.drop.path `{root}` must be absolute for ChrootDirectory"
        )));
    }
    let chroot = quoted(root, true)?;
    let keys = quoted(&opts.authorized_keys, false)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# agency-portal sftp-setup: chrooted, SFTP-only accounts for the drop folder (SPEC 4.2).\n\
         # Regenerate (agency-portal sftp-setup --apply) after adding or removing agencies.\n\
         # Chroot {root} (root:root 0711); each account is confined to its folder /<agency-id>."
    );
    for agency in &directory.agencies {
        let user = account(&agency.id);
        if user.len() > 32 {
            return Err(SetupError::Bad(format!(
                "agency id `{}` is too long for an account name ({user} has {} characters, at most 32)",
                agency.id,
                user.len()
            )));
        }
        let name = agency.name.replace(|c: char| c.is_control(), " ");
        out.push('\n');
        if agency.active {
            let _ = writeln!(out, "# {} — {name}", agency.id);
            let _ = writeln!(out, "Match User {user}");
            let _ = writeln!(out, "    AuthorizedKeysFile {keys}");
            let _ = writeln!(
                out,
                "    ForceCommand internal-sftp -d /{} -u 0027",
                agency.id
            );
        } else {
            let _ = writeln!(out, "# {} — {name} (inactive: nobody logs in)", agency.id);
            let _ = writeln!(out, "Match User {user}");
            let _ = writeln!(out, "    AuthorizedKeysFile none");
            let _ = writeln!(out, "    ForceCommand internal-sftp -R -d /{}", agency.id);
        }
        let _ = writeln!(out, "    ChrootDirectory {chroot}");
        for line in [
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "DisableForwarding yes",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "AllowStreamLocalForwarding no",
            "X11Forwarding no",
            "PermitTunnel no",
            "PermitTTY no",
            "PermitUserRC no",
        ] {
            let _ = writeln!(out, "    {line}");
        }
    }
    out.push_str("\nMatch all\n");
    Ok(out)
}

/// The folder ownership and modes `--apply` sets (for the printed plan).
pub fn ownership_plan(directory: &Directory, drop_root: &Path) -> String {
    let mut out = format!(
        "# folders (sftp-setup --apply sets these)\n{}  root:root {CHROOT_MODE:04o}\n",
        drop_root.display()
    );
    for (agency, campaigns) in layout::active_agencies(directory) {
        let user = account(&agency.id);
        let inputs: Vec<&str> = std::iter::once(layout::CHECK).chain(campaigns).collect();
        let _ = writeln!(
            out,
            "{}/{}/  root:{user} {AGENCY_DIR_MODE:04o}; {{{}}}/ the same; {{{}}}/ root:{user} {OUTPUT_DIR_MODE:04o}",
            drop_root.display(),
            agency.id,
            inputs.join(","),
            layout::OUTPUTS.join(",")
        );
    }
    out
}

fn run(cmd: &mut Command) -> Result<String, SetupError> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| SetupError::Command {
        command: shown.clone(),
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(SetupError::Command {
            command: shown,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn id_of(user: &str, flag: &str) -> Option<u32> {
    Command::new("id")
        .args([flag, user])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
}

/// The account of an agency, created when missing. Returns (uid, gid, created).
pub fn ensure_account(agency_id: &str) -> Result<(u32, u32, bool), SetupError> {
    let user = account(agency_id);
    let mut created = false;
    if id_of(&user, "-u").is_none() {
        run(Command::new("useradd").args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            "--comment",
            &format!("agency-portal drop folder {agency_id}"),
            &user,
        ]))?;
        // useradd leaves the password locked (`!`), and sshd without PAM refuses a locked account
        // even with a key: `*` means "no password" without locking.
        run(Command::new("usermod").args(["--password", "*", &user]))?;
        created = true;
    }
    match (id_of(&user, "-u"), id_of(&user, "-g")) {
        (Some(uid), Some(gid)) => Ok((uid, gid, created)),
        _ => Err(SetupError::Bad(format!(
            "account {user} exists but `id` cannot resolve it"
        ))),
    }
}

/// OpenSSH refuses a chroot whose path has a component not owned by root or writable by group
/// or others.
fn check_chroot_path(root: &Path) -> Result<(), SetupError> {
    for dir in root.ancestors() {
        let meta = std::fs::metadata(dir).map_err(io_err("cannot inspect", dir))?;
        if meta.uid() != 0 || meta.mode() & 0o022 != 0 {
            return Err(SetupError::Bad(format!(
                "OpenSSH refuses a chroot under {} (owner uid {}, mode {:04o}): every folder on the \
                 way to intake.drop.path must be owned by root and not writable by group or others; \
                 move the drop folder (e.g. /srv/agency-portal/drop)",
                dir.display(),
                meta.uid(),
                meta.mode() & 0o7777
            )));
        }
    }
    Ok(())
}

/// `--apply`: accounts, folders, ownership and modes, and the sshd configuration file. Returns
/// one line per thing done.
pub fn apply(
    directory: &Directory,
    opts: &SetupOptions,
    sshd_config_path: &Path,
) -> Result<Vec<String>, SetupError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(SetupError::Bad(
            "sftp-setup --apply creates accounts and changes owners: run it as root".into(),
        ));
    }
    let text = sshd_config(directory, opts)?;
    let root = &opts.drop_root;
    let mut done = Vec::new();
    std::fs::create_dir_all(root).map_err(io_err("cannot create", root))?;
    let root = root
        .canonicalize()
        .map_err(io_err("cannot resolve", root))?;
    let top = Folder::open_trusted(&root).map_err(io_err("cannot open", &root))?;
    top.set_owner_mode(Some(0), Some(0), CHROOT_MODE)
        .map_err(io_err("cannot set the owner of", &root))?;
    check_chroot_path(&root)?;
    done.push(format!("{}: root:root {CHROOT_MODE:04o}", root.display()));
    for (agency, campaigns) in layout::active_agencies(directory) {
        let (_uid, gid, created) = ensure_account(&agency.id)?;
        if created {
            done.push(format!("created account {}", account(&agency.id)));
        }
        let path = root.join(&agency.id);
        let (folder, broken) =
            layout::ensure(&top, &agency.id, &campaigns).map_err(io_err("cannot create", &path))?;
        if let Some((name, e)) = broken.into_iter().next() {
            return Err(io_err("cannot create", &root.join(name))(e));
        }
        folder
            .set_owner_mode(Some(0), Some(gid), AGENCY_DIR_MODE)
            .map_err(io_err("cannot set the owner of", &path))?;
        for name in std::iter::once(layout::CHECK).chain(campaigns.iter().copied()) {
            folder
                .sub(OsStr::new(name))
                .and_then(|f| f.set_owner_mode(Some(0), Some(gid), AGENCY_DIR_MODE))
                .map_err(io_err("cannot set the owner of", &path.join(name)))?;
        }
        for name in layout::OUTPUTS {
            folder
                .sub(OsStr::new(name))
                .and_then(|f| f.set_owner_mode(Some(0), Some(gid), OUTPUT_DIR_MODE))
                .map_err(io_err("cannot set the owner of", &path.join(name)))?;
        }
        done.push(format!(
            "{}: owner root:{} (uploads 1770, results/processed/failed 2750)",
            path.display(),
            account(&agency.id)
        ));
    }
    // Keys folder, when the pattern names a fixed one.
    if let Some(parent) = Path::new(&opts.authorized_keys).parent() {
        let fixed = !parent.as_os_str().is_empty() && !parent.to_string_lossy().contains('%');
        if fixed && !parent.exists() {
            std::fs::create_dir_all(parent).map_err(io_err("cannot create", parent))?;
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755))
                .map_err(io_err("cannot set the mode of", parent))?;
            done.push(format!(
                "created {} (put each account's public keys in {})",
                parent.display(),
                opts.authorized_keys
            ));
        }
    }
    write_atomically(sshd_config_path, text.as_bytes())?;
    done.push(format!(
        "wrote {} ({} Match blocks): check it with `sshd -t`, then reload sshd",
        sshd_config_path.display(),
        directory.agencies.len()
    ));
    Ok(done)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SetupError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err("cannot create", dir))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("sshd"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(io_err("cannot write", &tmp))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))
        .map_err(io_err("cannot set the mode of", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err("cannot write", path))
}
