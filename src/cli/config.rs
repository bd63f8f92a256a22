//! `config check` and `sftp-setup`: what an operator runs before going to production.

use super::*;
use crate::app::read_directory;

/// `config check`: every problem of both files at once; when valid, a summary and the next three fire
/// times of each digest.
pub(super) async fn config_check(config: Option<&Path>, offline: bool) -> anyhow::Result<()> {
    let path = settings::resolve_path(config);
    if !path.is_file() {
        return Err(SettingsError::Missing(path).into());
    }
    let mut problems = Vec::new();
    if let Err(Problems(p)) = settings::check_file(&path) {
        problems.extend(p);
    }
    let settings = match settings::load(&path) {
        Ok(s) => Some(s),
        Err(e) => {
            // Problems already located above explain the failure; otherwise report figment's words.
            if problems.is_empty() {
                return Err(e.into());
            }
            None
        }
    };
    let directory_path = settings
        .as_ref()
        .map(|s| s.directory.path.clone())
        .unwrap_or_else(|| {
            path.parent()
                .unwrap_or(Path::new("."))
                .join("directory.toml")
        });
    let directory = match directory::load(&directory_path) {
        Ok(d) => Some(d),
        Err(Problems(p)) => {
            problems.extend(p);
            None
        }
    };
    if !problems.is_empty() {
        return Err(Problems(problems).into());
    }
    let (Some(settings), Some(dir)) = (settings, directory) else {
        unreachable!("no problems means both files loaded")
    };
    println!("{}: ok", settings.file.display());
    println!(
        "{}: ok — {} owners, {} recruiters, {} agencies ({} active), {} campaigns ({} active)",
        directory_path.display(),
        dir.owners.len(),
        dir.recruiters.len(),
        dir.agencies.len(),
        dir.agencies.iter().filter(|a| a.active).count(),
        dir.campaigns.len(),
        dir.campaigns.iter().filter(|c| c.active).count()
    );
    let templates = settings.templates_dir();
    match crate::mail::templates::check(&templates)?.as_slice() {
        [] if !templates.is_dir() => println!(
            "{}: not there, the shipped templates are used (copy config/templates there to edit the mail)",
            templates.display()
        ),
        [] => println!("{}: ok", templates.display()),
        notes => notes.iter().for_each(|n| println!("warning: {n}")),
    }
    let now = crate::clock::now();
    for d in &settings.digests {
        let schedule = Schedule::new(&d.schedule, &d.timezone)?;
        let next: Vec<String> = schedule
            .upcoming(now, 3)
            .iter()
            .map(|t| t.format("%a %Y-%m-%d %H:%M %:z").to_string())
            .collect();
        println!(
            "digest {} \"{}\" {}: next {}",
            d.kind.as_str(),
            d.schedule,
            d.timezone,
            next.join(", ")
        );
    }
    if offline {
        return Ok(());
    }
    let mut unreached = Vec::new();
    for r in crate::reach::reach_all(&settings).await {
        match r.result {
            Ok(how) => println!("{}: {how}", r.what),
            Err(why) => unreached.push(format!("{}: {why}", r.what)),
        }
    }
    if unreached.is_empty() {
        return Ok(());
    }
    Err(BadInput(format!(
        "cannot reach {} (check the settings, or `config check --offline` for the files alone)",
        unreached.join("; ")
    ))
    .into())
}

/// `sftp-setup [--apply]`.
pub(super) fn sftp_setup(config: Option<&Path>, args: &SftpSetupArgs) -> anyhow::Result<()> {
    use crate::intake::drop::sftp_setup::{self, SetupError, SetupOptions};
    let settings = settings::load(&settings::resolve_path(config))?;
    let (directory, _) = read_directory(&settings)?;
    let drop_root = &settings.intake.drop.path;
    if drop_root.as_os_str().is_empty() {
        return Err(BadInput(
            "intake.drop.path is empty: the drop folder is off, there is nothing to set up".into(),
        )
        .into());
    }
    let drop_root = drop_root
        .canonicalize()
        .unwrap_or_else(|_| absolute_lexically(drop_root));
    let opts = SetupOptions {
        drop_root,
        authorized_keys: args
            .authorized_keys
            .clone()
            .unwrap_or_else(|| settings.intake.drop.authorized_keys.clone()),
    };
    let bad = |e: SetupError| match e {
        SetupError::Bad(m) => anyhow::Error::from(BadInput(m)),
        e => anyhow::Error::from(e),
    };
    if args.apply {
        for line in sftp_setup::apply(&directory, &opts, &args.sshd_config).map_err(bad)? {
            println!("{line}");
        }
    } else {
        print!(
            "{}",
            sftp_setup::sshd_config(&directory, &opts).map_err(bad)?
        );
        println!();
        print!(
            "{}",
            sftp_setup::ownership_plan(&directory, &opts.drop_root)
        );
    }
    Ok(())
}

/// `path` made absolute against the current folder, with `.` and `..` resolved by name (the drop
/// folder need not exist yet: `sftp-setup --apply` creates it). A relative `--config` gives
/// relative paths (`config/../var/drop`), which sshd's ChrootDirectory cannot take.
pub(super) fn absolute_lexically(path: &Path) -> PathBuf {
    use std::path::Component;
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}
