//! The command line as an operator uses it: `config check`, the owner views and the exit codes
//! (SPEC §3, §9, §10). Runs the real binary on the shipped config and on fixtures.

use crate::support::{self, Portal};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("the binary runs");
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    (
        status.code().expect("exited normally"),
        String::from_utf8_lossy(&stdout).into_owned(),
        stderr,
    )
}

/// A copy of the shipped config in a temp dir, with `edit` applied to its directory file.
fn edited_config(tmp: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let dir = tmp.join("config");
    std::fs::create_dir_all(dir.join("logos")).unwrap();
    for f in ["agency-portal.toml", "directory.toml", "logos/acme.png"] {
        std::fs::copy(repo().join("config").join(f), dir.join(f)).unwrap();
    }
    let d = dir.join("directory.toml");
    let text = std::fs::read_to_string(&d).unwrap();
    std::fs::write(&d, edit(text)).unwrap();
    dir.join("agency-portal.toml")
}

#[test]
fn shipped_config_checks_clean_and_shows_next_fire_times() {
    let p = Portal::sqlite();
    let (code, out, err) = run(p.command().args(["config", "check"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("directory.toml: ok"), "{out}");
    assert!(out.contains("templates: ok"), "{out}");
    let agency = out
        .lines()
        .find(|l| l.starts_with("digest agency"))
        .expect("agency digest line");
    assert_eq!(agency.matches("08:00 +08:00").count(), 3, "{agency}");
}

/// A settings folder without `templates/` (in production often only the two files are copied) is
/// told apart from one whose templates are all there: the shipped templates are used.
#[test]
fn config_check_says_when_the_shipped_templates_are_used() {
    let mut p = Portal::sqlite();
    p.config = edited_config(p.dir.path(), |t| t);
    let (code, out, err) = run(p.command().args(["config", "check", "--offline"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("templates: not there, the shipped templates are used"),
        "{out}"
    );
    assert!(!out.contains("templates: ok"), "{out}");
}

/// SPEC §7 (r2): the owners' English wording without its Spanish and Portuguese versions, and a
/// catalogue with a key missing, are reported (the messages still go out).
#[test]
fn config_check_reports_missing_language_templates_and_keys() {
    let mut p = Portal::sqlite();
    p.config = edited_config(p.dir.path(), |t| t);
    let templates = p.path("config/templates");
    std::fs::create_dir_all(templates.join("en")).unwrap();
    std::fs::create_dir_all(templates.join("es")).unwrap();
    std::fs::write(
        templates.join("en/receipt.txt"),
        "{% block subject %}Receipt{% endblock %}{% block body %}Ours{% endblock %}",
    )
    .unwrap();
    std::fs::write(
        templates.join("es/messages.toml"),
        "[reason]\nduplicate = \"ya lo registró otra agencia ({agencia})\"\n",
    )
    .unwrap();
    let (code, out, err) = run(p.command().args(["config", "check", "--offline"]));
    assert_eq!(code, 0, "{out}{err}");
    for expected in [
        "es/receipt.txt is missing: agencies in es get your English receipt.txt",
        "pt/receipt.txt is missing",
        "es/messages.toml: key reason.blocked is missing",
        "es/messages.toml: key reason.duplicate: {agencia} is not one of its values",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("warning: ") && l.contains(expected)),
            "{expected}\n{out}"
        );
    }
}

#[test]
fn config_check_reports_every_mistake_with_line_and_column() {
    let mut p = Portal::sqlite();
    p.config = repo().join("tests/fixtures/bad-config/agency-portal.toml");
    let (code, _, err) = run(p.command().args(["config", "check"]));
    assert_eq!(code, 2, "{err}");
    let expected = [
        ("agency-portal.toml:10:12:", "is not a valid schedule"),
        ("agency-portal.toml:16:12:", "not a known IANA timezone"),
        (
            "directory.toml:10:23:",
            "campaign 49999 is not in [[campaigns]]",
        ),
        ("directory.toml:17:8:", "logo"),
        ("directory.toml:22:10:", "role `boss` is not a role"),
        ("directory.toml:25:6:", "agency id acme is used twice"),
        (
            "directory.toml:27:11:",
            "`XX` is not an ISO 3166-1 alpha-2 country code",
        ),
        ("directory.toml:28:12:", "who is not one of the [[owners]]"),
        ("directory.toml:29:1:", "unknown key `colour`"),
        (
            "directory.toml:32:11:",
            "`not-an-email` is not a valid email address",
        ),
        ("directory.toml:43:11:", "is already a user of agency acme"),
        ("directory.toml:54:6:", "campaign id 40123 is used twice"),
    ];
    for (place, words) in expected {
        assert!(
            err.lines().any(|l| l.contains(place) && l.contains(words)),
            "expected `{place}` … `{words}` in:\n{err}"
        );
    }
    assert!(err.contains("12 problems found"), "{err}");
}

#[test]
fn agencies_json_filters_and_keys() {
    let p = Portal::sqlite();
    let (code, out, err) =
        run(p
            .command()
            .args(["agencies", "--country", "PH", "--active", "--json"]));
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["acme", "bayanihan"]);
    let keys: Vec<&str> = rows[0].keys().map(String::as_str).collect();
    let mut want = [
        "id",
        "name",
        "country",
        "active",
        "added_by",
        "added_on",
        "users",
        "candidates",
    ];
    let mut got = keys.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert!(rows
        .iter()
        .all(|r| r["active"] == true && r["country"] == "PH"));

    let (code, out, _) = run(p.command().args(["agencies", "--inactive"]));
    assert_eq!(code, 0);
    assert!(out.contains("rio-rh"), "{out}");
    assert!(!out.contains("acme"), "{out}");
    assert!(out.starts_with("BR (1 agency)"), "{out}");
}

#[test]
fn terminal_view_groups_by_country() {
    let p = Portal::sqlite();
    let (code, out, _) = run(p.command().arg("agencies"));
    assert_eq!(code, 0);
    let headings: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.is_empty())
        .collect();
    assert_eq!(
        headings,
        [
            "BR (1 agency)",
            "CO (1 agency)",
            "MX (1 agency)",
            "PH (2 agencies)"
        ]
    );
}

#[test]
fn campaign_search_ignores_accents_and_case() {
    let mut p = Portal::sqlite();
    p.config = edited_config(p.dir.path(), |d| {
        d.replace("Customer Service Manila\"", "Customer Service Manilá\"")
    });
    let (code, out, err) = run(p
        .command()
        .args(["campaigns", "--search", "MANILA", "--json"]));
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["Customer Service Manilá", "Holiday Season Manila 2025"]
    );
    let keys: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 7, "{keys:?}");
    let (_, out, _) = run(p.command().args(["campaigns", "--search", "sao paulo"]));
    assert!(out.contains("Atendimento São Paulo"), "{out}");
}

#[test]
fn operator_mistakes_are_one_clear_line_and_exit_2() {
    let p = Portal::sqlite();
    let cases: Vec<(&str, Command)> = vec![
        ("bad url scheme", {
            let mut c = p.command();
            c.env("DATABASE_URL", "mysql://root@localhost/portal");
            c.arg("agencies");
            c
        }),
        ("unreachable postgres", {
            let mut c = p.command();
            c.env("DATABASE_URL", "postgres://app:secret@127.0.0.1:1/portal");
            c.arg("migrate");
            c
        }),
        ("missing config", {
            let mut c = support::portal(&p.path("nope.toml"));
            c.env("DATABASE_URL", &p.database_url);
            c.arg("agencies");
            c
        }),
        ("unreadable directory", {
            let mut c = p.command();
            c.env(
                "AGENCY_PORTAL__DIRECTORY__PATH",
                "/nonexistent/directory.toml",
            );
            c.arg("agencies");
            c
        }),
    ];
    for (what, mut cmd) in cases {
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 2, "{what}: {out}{err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{what}: one line: {err}");
        assert!(lines[0].starts_with("error: "), "{what}: {err}");
        assert!(!err.contains("secret"), "{what}: password shown: {err}");
        // The causes are said once: an error naming its cause is not followed by it again.
        let parts: Vec<&str> = lines[0].split(": ").collect();
        for (i, part) in parts.iter().enumerate() {
            assert!(
                parts[i + 1..].iter().all(|later| !part.contains(later)),
                "{what}: `{part}` said twice: {err}"
            );
        }
    }
    let mut cmd = p.command();
    cmd.env("DATABASE_URL", "postgres://app:secret@127.0.0.1:1/portal")
        .arg("migrate");
    let (_, _, err) = run(&mut cmd);
    assert_eq!(err.matches("refused").count(), 1, "{err}");
}

#[test]
fn outbox_flush_sends_invitations_once_with_the_owners_wording() {
    let mut p = Portal::sqlite();
    p.config = edited_config(p.dir.path(), |t| t);
    // The owners reworded the invitation's subject; the other templates are the shipped ones.
    let templates = p.path("config/templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        templates.join("invitation.txt"),
        "{% block subject %}Bienvenida, {{ name }} ({{ agency_name }}){% endblock %}\n\
         {% block body %}Send files to {{ intake_address }}; your folder is {{ sftp_folder }}.{% endblock %}\n",
    )
    .unwrap();
    let (code, out, err) = run(p.command().args(["outbox", "flush"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "outbox: 8 sent, 0 to retry later, 0 failed");
    let outbox = p.path("var/outbox");
    let mut files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 8, "{files:?}");
    let first = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        first.contains("Subject: Bienvenida, Ana Admin (Acme Staffing)"),
        "{first}"
    );
    assert!(first.contains("your folder is acme."), "{first}");

    let (code, out, _) = run(p.command().args(["outbox", "flush"]));
    assert_eq!(
        (code, out.trim()),
        (0, "outbox: 0 sent, 0 to retry later, 0 failed")
    );
    let (code, out, _) = run(p.command().args(["outbox", "list"]));
    assert_eq!(code, 0);
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("\tinvitation\tsent\t"))
            .count(),
        8,
        "{out}"
    );

    // A template that does not compile stops the command with exit 2 and says which file.
    std::fs::write(templates.join("receipt.html"), "{% if %}").unwrap();
    let (code, _, err) = run(p.command().args(["outbox", "flush"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("receipt.html"), "{err}");
}

#[test]
fn processes_opening_a_new_sqlite_database_at_once_all_succeed() {
    let p = Portal::sqlite();
    let children: Vec<_> = (0..4)
        .map(|_| {
            p.command()
                .arg("migrate")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A command's output piped into a reader that stops early (`sftp-setup | head -1`) ends the
/// command as it ends every Unix tool (SIGPIPE, or 0 when all was written first), never with a
/// panic (exit 101), whatever the timing: the reader here closes before the command writes.
#[test]
fn a_closed_stdout_never_panics() {
    use std::os::unix::process::ExitStatusExt as _;
    let mut p = Portal::sqlite();
    let drop_path = p.path("drop");
    p.config = edited_config(p.dir.path(), |s| s);
    let settings = std::fs::read_to_string(&p.config).unwrap();
    let absolute = format!("\"{}\"", drop_path.display());
    std::fs::write(&p.config, settings.replace("\"../var/drop\"", &absolute)).unwrap();
    let (code, out, err) = run(p.command().arg("sftp-setup"));
    assert!(code == 0 && out.contains("ChrootDirectory"), "{code} {err}");
    for _ in 0..20 {
        let mut child = p
            .command()
            .arg("sftp-setup")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let status = child.wait().unwrap();
        assert!(
            status.success() || status.signal() == Some(libc::SIGPIPE),
            "{status}"
        );
    }
}

/// Issue [11] acceptance 3: `agency-portal sftp-setup | head -1`, 200 times, on the shipped
/// settings named relatively (their drop folder `../var/drop` is made absolute): the command ends
/// with 0 or SIGPIPE (141), never a panic (101).
#[test]
fn sftp_setup_piped_into_head_ends_with_0_or_141() {
    let p = Portal::sqlite();
    let script = format!(
        "for i in $(seq 200); do {bin} --config config/agency-portal.toml sftp-setup | head -1 \
         >/dev/null; echo ${{PIPESTATUS[0]}}; done",
        bin = env!("CARGO_BIN_EXE_agency-portal")
    );
    let cmd = p.command();
    let env: Vec<_> = cmd
        .get_envs()
        .map(|(k, v)| (k.to_owned(), v.map(ToOwned::to_owned)))
        .collect();
    let mut bash = Command::new("bash");
    bash.arg("-c").arg(script).current_dir(repo());
    for (k, v) in env {
        match v {
            Some(v) => bash.env(k, v),
            None => bash.env_remove(k),
        };
    }
    let (code, out, err) = run(&mut bash);
    assert_eq!(code, 0, "{err}");
    let codes: Vec<&str> = out.lines().collect();
    assert_eq!(codes.len(), 200, "{out}{err}");
    assert!(
        codes.iter().all(|c| *c == "0" || *c == "141"),
        "{codes:?} {err}"
    );
}

/// SPEC §10: `migrate` says what it applied, and that nothing was left to apply the second time.
#[test]
fn migrate_says_what_it_applied() {
    let p = Portal::sqlite();
    let (code, first, err) = run(p.command().arg("migrate"));
    assert_eq!(code, 0, "{err}");
    assert!(first.contains("applied 0001 directory"), "{first}");
    assert!(
        first.contains("applied 0015 block keys without names"),
        "{first}"
    );
    let (code, again, err) = run(p.command().arg("migrate"));
    assert_eq!(code, 0, "{err}");
    assert!(again.contains("nothing to apply"), "{again}");
    assert!(!again.contains("applied 0"), "{again}");
}

/// SPEC §10 (r2): the production example (absolute paths, Postgres over TLS, IMAP and SMTP with
/// passwords from the environment) checks clean once its directory file and secrets are there.
#[test]
fn the_production_example_checks_clean() {
    let mut p = Portal::sqlite();
    let example =
        std::fs::read_to_string(repo().join("config/agency-portal.production.toml")).unwrap();
    for path in ["\"/srv/agency-portal/drop\"", "\"/etc/agency-portal/"] {
        assert!(example.contains(path), "{path}");
    }
    assert!(!example.contains("\"../"), "no relative paths");
    let directory = repo().join("config/directory.toml");
    p.config = p.path("agency-portal.toml");
    let here = example.replace(
        "/etc/agency-portal/directory.toml",
        directory.to_str().unwrap(),
    );
    std::fs::write(&p.config, here).unwrap();
    let (code, out, err) = run(p
        .command()
        .args(["config", "check", "--offline"])
        .env("AGENCY_PORTAL_IMAP_PASSWORD", "x")
        .env("AGENCY_PORTAL_SMTP_PASSWORD", "y"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("agency-portal.toml: ok"), "{out}");
}

/// SPEC §10 (r2): `config check` connects to the database (and the mailbox and mail server) the
/// settings name and says what it reached; one it cannot reach is exit 2 with why, and `--offline`
/// checks the files alone. (Once it said "ok" with a wrong database password.)
#[test]
fn config_check_says_what_it_reached() {
    let p = Portal::sqlite();
    let admin = support::postgres_admin_url();
    let (base, _) = admin.rsplit_once('/').unwrap();
    let check = |url: &str, offline: bool| {
        let mut cmd = p.command();
        cmd.env("DATABASE_URL", url).args(["config", "check"]);
        if offline {
            cmd.arg("--offline");
        }
        run(&mut cmd)
    };
    let (code, out, err) = check(&admin, false);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(": reached, logged in"), "{out}");
    assert!(out.contains("a local Maildir: nothing to reach"), "{out}");
    let missing = format!("{base}/no_such_database_here");
    let (code, out, err) = check(&missing, false);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("cannot reach database") && err.contains("no_such_database_here"),
        "{err}"
    );
    let (code, out, err) = check(&missing, true);
    assert_eq!(code, 0, "{out}{err}");
}

/// Acme's Ana Cruz, then Bayanihan's near copy of her (email one edit off, another phone): one
/// review row, in the portal's database.
fn a_review_row(p: &Portal) {
    let sheet = |name: &str, row: &str| {
        let f = p.path(name);
        std::fs::write(
            &f,
            format!("First Name,Last Name,Email,Mobile,Campaign\n{row}\n"),
        )
        .unwrap();
        f
    };
    let a = sheet("a.csv", "Ana,Cruz,ana.cruz@gmail.com,0917 123 4567,40123");
    let b = sheet("b.csv", "Ana,Cruz,ana.cruzz@gmail.com,0918 765 4321,40123");
    for (file, agency) in [(&a, "acme"), (&b, "bayanihan")] {
        let (code, out, err) = run(p
            .command()
            .arg("ingest")
            .arg(file)
            .args(["--agency", agency]));
        assert_eq!(code, 0, "{out}{err}");
    }
}

/// The owner digest's review queue lists each item on a line of its own (the first one once ran
/// onto the queue's heading line).
#[test]
fn the_owner_digest_lists_review_items_under_their_heading() {
    let p = Portal::sqlite();
    a_review_row(&p);
    let (code, out, err) = run(p.command().args(["digest", "preview", "--kind", "owner"]));
    assert_eq!(code, 0, "{err}");
    let heading = out
        .lines()
        .find(|l| l.starts_with("Review queue:"))
        .expect("the review queue");
    assert_eq!(
        heading,
        "Review queue: 1 waiting (agency-portal review accept|reject ROW-ID)"
    );
    assert!(
        out.contains("  bayanihan  b.csv row 2  Ana Cruz: "),
        "{out}"
    );
}

/// SPEC §9 (r2): `review show` puts the row and the person it may be side by side, with which rule
/// matched, without SQL.
#[test]
fn review_show_puts_the_two_side_by_side() {
    let p = Portal::sqlite();
    a_review_row(&p);
    let (_, list, _) = run(p.command().args(["review", "list", "--json"]));
    let items: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    let row_id = items[0]["row_id"].to_string();
    let (code, out, err) = run(p.command().args(["review", "show", &row_id]));
    assert_eq!(code, 0, "{err}");
    for line in [
        "ana.cruzz@gmail.com   ana.cruz@gmail.com",
        "+639187654321         +639171234567",
        "bayanihan             acme",
        "Rule: emails within one edit; names similar",
    ] {
        assert!(out.contains(line), "{line} in\n{out}");
    }
    let (code, json, _) = run(p.command().args(["review", "show", &row_id, "--json"]));
    assert_eq!(code, 0);
    let pair: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(pair["may_be"]["agency"], "acme");
    assert_eq!(pair["this_row"]["email"], "ana.cruzz@gmail.com");
    let (code, _, err) = run(p.command().args(["review", "show", "999"]));
    assert_eq!(code, 2);
    assert!(err.contains("not waiting for review"), "{err}");
}
