//! Directory sync and owner-view rows on both backends (SPEC §3.2 "Reload", §9): each test runs once on
//! SQLite and once on Postgres (the private cluster `scripts/test` starts).

use crate::support;

use std::path::{Path, PathBuf};

use agency_portal::directory::sync::{ChangeKind, Kind};
use agency_portal::directory::{self, Directory};
use agency_portal::store::Store;
use chrono::{TimeZone, Utc};

fn shipped_text() -> String {
    std::fs::read_to_string(config_dir().join("directory.toml")).unwrap()
}

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

fn parse(text: &str) -> Directory {
    directory::parse(text, &config_dir().join("directory.toml")).expect("valid directory")
}

on_both_backends!(sync_keeps_history_and_records_only_changes);
async fn sync_keeps_history_and_records_only_changes(store: Store) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap();
    let first = store
        .sync_directory(
            &parse(&shipped_text()),
            "directory.toml",
            "h1",
            t0,
            &support::composer(),
        )
        .await
        .unwrap();
    assert!(first.iter().all(|c| c.change == ChangeKind::Added));
    assert_eq!(
        first.len(),
        2 + 2 + 5 + 10 + 6,
        "owners, recruiters, agencies, users, campaigns"
    );

    // An unchanged file records nothing.
    let again = store
        .sync_directory(
            &parse(&shipped_text()),
            "directory.toml",
            "h1",
            t0,
            &support::composer(),
        )
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    let history = store.directory_history().await.unwrap();
    assert_eq!(history.len(), first.len());

    // Remove a user and deactivate an agency.
    let edited = shipped_text()
        .replace(
            "  [[agencies.users]]\n  email = \"eddie@acme-staffing.example\"\n  name = \"Eddie Editor\"\n  role = \"editor\"\n",
            "",
        )
        .replacen(
            "name = \"Bayanihan Talent Partners\"\ncountry = \"PH\"\nactive = true",
            "name = \"Bayanihan Talent Partners\"\ncountry = \"PH\"\nactive = false",
            1,
        );
    let changes = store
        .sync_directory(
            &parse(&edited),
            "directory.toml",
            "h2",
            t0,
            &support::composer(),
        )
        .await
        .unwrap();
    let shown: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        shown,
        [
            "agency bayanihan deactivated (active: true → false)",
            "user eddie@acme-staffing.example deactivated (removed from the directory file)",
        ]
    );
    // Rows stay, inactive.
    assert_eq!(
        store
            .user_agency("eddie@acme-staffing.example")
            .await
            .unwrap(),
        Some(("acme".to_string(), false))
    );
    let agencies = store.agencies().await.unwrap();
    let bayanihan = agencies.iter().find(|a| a.id == "bayanihan").unwrap();
    assert!(!bayanihan.active);
    let acme = agencies.iter().find(|a| a.id == "acme").unwrap();
    assert_eq!(acme.users, 1);
    // The change is recorded under a new sync.
    let history = store.directory_history().await.unwrap();
    assert_eq!(history.len(), first.len() + 2);
    let last_sync = history.last().unwrap().0;
    assert!(history[first.len()..]
        .iter()
        .all(|(id, _)| *id == last_sync));
    assert!(history[..first.len()]
        .iter()
        .all(|(id, _)| *id != last_sync));

    // Putting both back reactivates them; again only that is recorded.
    let back = store
        .sync_directory(
            &parse(&shipped_text()),
            "directory.toml",
            "h1",
            t0,
            &support::composer(),
        )
        .await
        .unwrap();
    assert_eq!(back.len(), 2);
    assert!(back.iter().all(|c| c.change == ChangeKind::Reactivated));
    assert!(back.iter().any(|c| c.kind == Kind::User));
}

on_both_backends!(edits_update_in_place);
async fn edits_update_in_place(store: Store) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap();
    store
        .sync_directory(
            &parse(&shipped_text()),
            "directory.toml",
            "h1",
            t0,
            &support::composer(),
        )
        .await
        .unwrap();
    let edited = shipped_text()
        .replace(
            "name = \"Ana Admin\"\n  role = \"admin\"",
            "name = \"Ana Admin\"\n  role = \"editor\"",
        )
        .replace(
            "name = \"Servicio al Cliente Bogotá\"",
            "name = \"Servicio al Cliente Medellín\"",
        );
    let changes = store
        .sync_directory(
            &parse(&edited),
            "directory.toml",
            "h2",
            t0,
            &support::composer(),
        )
        .await
        .unwrap();
    let shown: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        shown,
        [
            "user ana@acme-staffing.example updated (role: admin → editor)",
            "campaign 60301 updated (name: Servicio al Cliente Bogotá → Servicio al Cliente Medellín)",
        ]
    );
    let campaigns = store.campaigns().await.unwrap();
    assert!(campaigns
        .iter()
        .any(|c| c.id == "60301" && c.name == "Servicio al Cliente Medellín" && c.active));
    assert_eq!(campaigns.len(), 6);
}
