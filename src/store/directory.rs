//! The directory in the database: sync from the file (SPEC §3.2) and the owner views' rows (§9).

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{on_pool, outbox, Store, StoreError, WritePool};
use crate::directory::sync::{self, Change, ChangeKind, Kind, Record};
use crate::directory::{Agency, Directory, User};
use crate::mail::invitation::{self, InvitationInput};
use crate::mail::Composer;

/// One agency as `agency-portal agencies` shows it (SPEC §9; JSON keys are the contract).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgencyView {
    pub id: String,
    pub name: String,
    pub country: String,
    pub active: bool,
    pub added_by: String,
    pub added_on: Option<NaiveDate>,
    /// Active users.
    pub users: i64,
    /// Candidates the agency currently owns.
    pub candidates: i64,
}

/// One campaign as `agency-portal campaigns` shows it (SPEC §9).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignView {
    pub id: String,
    pub name: String,
    pub country: String,
    pub active: bool,
    pub created_by: String,
    pub created_on: Option<NaiveDate>,
    /// Candidates currently owned through a submission to the campaign.
    pub candidates: i64,
}

const LOCK: &str = "agency-portal:directory";

impl Store {
    /// Brings the database in line with a validated directory, in one transaction: inserts and updates
    /// what the file has, deactivates what left it, and records the changes. An unchanged file writes
    /// nothing and returns no changes.
    ///
    /// In the same transaction, every user who appeared (added, reactivated, or whose agency was
    /// added or reactivated) in an active agency and was never invited gets an invitation in the
    /// outbox (SPEC §2): once per user, ever (dedupe key `invitation:<email>`).
    pub async fn sync_directory(
        &self,
        dir: &Directory,
        file: &str,
        sha256: &str,
        now: DateTime<Utc>,
        composer: &Composer,
    ) -> Result<Vec<Change>, StoreError> {
        let wanted = sync::records(dir);
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write(LOCK).await?;
            let mut stored = Vec::new();
            let mut invited = BTreeSet::new();
            for row in sqlx::query("SELECT email, name, active FROM owners")
                .fetch_all(&mut *tx)
                .await?
            {
                stored.push(Record {
                    kind: Kind::Owner,
                    key: row.try_get("email")?,
                    active: row.try_get("active")?,
                    fields: [("name", row.try_get("name")?)].into(),
                });
            }
            for row in sqlx::query("SELECT email, name, campaigns, active FROM recruiters")
                .fetch_all(&mut *tx)
                .await?
            {
                stored.push(Record {
                    kind: Kind::Recruiter,
                    key: row.try_get("email")?,
                    active: row.try_get("active")?,
                    fields: [
                        ("name", row.try_get("name")?),
                        ("campaigns", row.try_get("campaigns")?),
                    ]
                    .into(),
                });
            }
            for row in sqlx::query(
                "SELECT id, name, country, active, added_by, added_on, logo, domains FROM agencies",
            )
            .fetch_all(&mut *tx)
            .await?
            {
                let added_on: Option<NaiveDate> = row.try_get("added_on")?;
                let name: String = row.try_get("name")?;
                let country: String = row.try_get("country")?;
                let added_by: String = row.try_get("added_by")?;
                let domains: String = row.try_get("domains")?;
                stored.push(Record {
                    kind: Kind::Agency,
                    key: row.try_get("id")?,
                    active: row.try_get("active")?,
                    fields: sync::agency_fields(
                        &name,
                        &country,
                        &added_by,
                        added_on.map(|d| d.to_string()),
                        row.try_get("logo")?,
                        &domains,
                    ),
                });
            }
            for row in
                sqlx::query("SELECT email, agency_id, name, role, active, source FROM agency_users")
                    .fetch_all(&mut *tx)
                    .await?
            {
                let email: String = row.try_get("email")?;
                let source: String = row.try_get("source")?;
                if source == "invited" {
                    invited.insert(email.clone());
                }
                stored.push(Record {
                    kind: Kind::User,
                    key: email,
                    active: row.try_get("active")?,
                    fields: [
                        ("agency", row.try_get("agency_id")?),
                        ("name", row.try_get("name")?),
                        ("role", row.try_get("role")?),
                    ]
                    .into(),
                });
            }
            for row in sqlx::query(
                "SELECT id, name, country, active, created_by, created_on, required FROM campaigns",
            )
            .fetch_all(&mut *tx)
            .await?
            {
                let created_on: Option<NaiveDate> = row.try_get("created_on")?;
                let name: String = row.try_get("name")?;
                let country: String = row.try_get("country")?;
                let created_by: String = row.try_get("created_by")?;
                stored.push(Record {
                    kind: Kind::Campaign,
                    key: row.try_get("id")?,
                    active: row.try_get("active")?,
                    fields: sync::campaign_fields(
                        &name,
                        &country,
                        &created_by,
                        created_on.map(|d| d.to_string()),
                        row.try_get("required")?,
                    ),
                });
            }

            let changes = sync::diff(&stored, &wanted, |r| {
                r.kind == Kind::User && invited.contains(&r.key)
            });
            if changes.is_empty() {
                tx.rollback().await?;
                return Ok(changes);
            }

            let in_file: BTreeSet<(Kind, &str)> = changes
                .iter()
                .filter(|c| wanted.iter().any(|w| w.kind == c.kind && w.key == c.key))
                .map(|c| (c.kind, c.key.as_str()))
                .collect();
            let touched = |kind: Kind, key: &str| in_file.contains(&(kind, key));

            for o in dir.owners.iter().filter(|o| touched(Kind::Owner, &o.email)) {
                sqlx::query(
                    "INSERT INTO owners (email, name, active, created_at, updated_at)
                     VALUES ($1, $2, TRUE, $3, $3)
                     ON CONFLICT (email) DO UPDATE SET name = excluded.name, active = TRUE,
                       updated_at = excluded.updated_at",
                )
                .bind(&o.email)
                .bind(&o.name)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            for a in dir.agencies.iter().filter(|a| touched(Kind::Agency, &a.id)) {
                sqlx::query(
                    "INSERT INTO agencies (id, name, country, active, added_by, added_on, logo, domains,
                       created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, country = excluded.country,
                       active = excluded.active, added_by = excluded.added_by,
                       added_on = excluded.added_on, logo = excluded.logo,
                       domains = excluded.domains, updated_at = excluded.updated_at",
                )
                .bind(&a.id)
                .bind(&a.name)
                .bind(&a.country)
                .bind(a.active)
                .bind(&a.added_by)
                .bind(a.added_on)
                .bind(a.logo.as_ref().map(|p| p.display().to_string()))
                .bind(serde_json::to_string(&a.domains).unwrap_or_default())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            for c in dir
                .campaigns
                .iter()
                .filter(|c| touched(Kind::Campaign, &c.id))
            {
                let required = c.required.as_ref().map(|r| {
                    serde_json::to_string(&r.iter().map(|f| f.as_str()).collect::<Vec<_>>())
                        .unwrap_or_default()
                });
                sqlx::query(
                    "INSERT INTO campaigns (id, name, country, active, created_by, created_on, required,
                       created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, country = excluded.country,
                       active = excluded.active, created_by = excluded.created_by,
                       created_on = excluded.created_on, required = excluded.required,
                       updated_at = excluded.updated_at",
                )
                .bind(&c.id)
                .bind(&c.name)
                .bind(&c.country)
                .bind(c.active)
                .bind(&c.created_by)
                .bind(c.created_on)
                .bind(required)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            for r in dir
                .recruiters
                .iter()
                .filter(|r| touched(Kind::Recruiter, &r.email))
            {
                sqlx::query(
                    "INSERT INTO recruiters (email, name, campaigns, active, created_at, updated_at)
                     VALUES ($1, $2, $3, TRUE, $4, $4)
                     ON CONFLICT (email) DO UPDATE SET name = excluded.name,
                       campaigns = excluded.campaigns, active = TRUE, updated_at = excluded.updated_at",
                )
                .bind(&r.email)
                .bind(&r.name)
                .bind(serde_json::to_string(&r.campaigns).unwrap_or_default())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            for a in &dir.agencies {
                for u in a.users.iter().filter(|u| touched(Kind::User, &u.email)) {
                    sqlx::query(
                        "INSERT INTO agency_users (email, agency_id, name, role, active, source,
                           created_at, updated_at)
                         VALUES ($1, $2, $3, $4, TRUE, 'directory', $5, $5)
                         ON CONFLICT (email) DO UPDATE SET agency_id = excluded.agency_id,
                           name = excluded.name, role = excluded.role, active = TRUE,
                           source = 'directory', updated_at = excluded.updated_at",
                    )
                    .bind(&u.email)
                    .bind(&a.id)
                    .bind(&u.name)
                    .bind(u.role.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            for c in changes
                .iter()
                .filter(|c| c.change == ChangeKind::Deactivated && !touched(c.kind, &c.key))
            {
                let sql = match c.kind {
                    Kind::Owner => {
                        "UPDATE owners SET active = FALSE, updated_at = $2 WHERE email = $1"
                    }
                    Kind::Recruiter => {
                        "UPDATE recruiters SET active = FALSE, updated_at = $2 WHERE email = $1"
                    }
                    Kind::Agency => {
                        "UPDATE agencies SET active = FALSE, updated_at = $2 WHERE id = $1"
                    }
                    Kind::User => {
                        "UPDATE agency_users SET active = FALSE, updated_at = $2 WHERE email = $1"
                    }
                    Kind::Campaign => {
                        "UPDATE campaigns SET active = FALSE, updated_at = $2 WHERE id = $1"
                    }
                };
                sqlx::query(sql)
                    .bind(&c.key)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }

            for (agency, user) in invitations_due(dir, &changes) {
                let key = invitation::dedupe_key(&user.email);
                let known: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM outbox WHERE dedupe_key = $1")
                        .bind(&key)
                        .fetch_optional(&mut *tx)
                        .await?;
                if known.is_some() {
                    continue;
                }
                let input = InvitationInput::from_directory(dir, agency, user);
                match composer.invitation(&input) {
                    Ok(msg) => {
                        outbox::enqueue(&mut *tx, &msg, now).await?;
                    }
                    // Only an address the mail builder refuses gets here (the directory check
                    // accepted it); the sync itself must not fail for it.
                    // The address (and the builder's error, which may quote it) only at debug level.
                    Err(e) => {
                        tracing::error!(
                            agency = %agency.id,
                            "an invitation could not be built for a user of this agency; \
                             check their address in the directory"
                        );
                        tracing::debug!(user = %user.email, "no invitation: {e}");
                    }
                }
            }

            let sync_id: i64 = sqlx::query_scalar(
                "INSERT INTO directory_syncs (applied_at, file, sha256) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(now)
            .bind(file)
            .bind(sha256)
            .fetch_one(&mut *tx)
            .await?;
            for c in &changes {
                sqlx::query(
                    "INSERT INTO directory_changes (sync_id, kind, key, change, detail)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(sync_id)
                .bind(c.kind.as_str())
                .bind(&c.key)
                .bind(c.change.as_str())
                .bind(&c.detail)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(changes)
        })
    }

    /// Every recorded directory change, oldest first, as `(sync id, change)`.
    pub async fn directory_history(&self) -> Result<Vec<(i64, Change)>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT sync_id, kind, key, change, detail FROM directory_changes ORDER BY sync_id",
            )
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let kind: String = row.try_get("kind")?;
                let change: String = row.try_get("change")?;
                out.push((
                    row.try_get("sync_id")?,
                    Change {
                        kind: parse_kind(&kind),
                        key: row.try_get("key")?,
                        change: parse_change(&change),
                        detail: row.try_get("detail")?,
                    },
                ));
            }
            Ok(out)
        })
    }

    /// Every agency the database knows, active or not, by country then name.
    pub async fn agencies(&self) -> Result<Vec<AgencyView>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT a.id, a.name, a.country, a.active, a.added_by, a.added_on,
                   (SELECT COUNT(*) FROM agency_users u WHERE u.agency_id = a.id AND u.active) AS users,
                   (SELECT COUNT(DISTINCT o.candidate_id) FROM ownerships o
                     WHERE o.agency_id = a.id AND o.superseded_at IS NULL) AS candidates
                 FROM agencies a ORDER BY a.country, a.name, a.id",
            )
            .fetch_all(pool)
            .await?;
            rows.into_iter()
                .map(|row| {
                    Ok(AgencyView {
                        id: row.try_get("id")?,
                        name: row.try_get("name")?,
                        country: row.try_get("country")?,
                        active: row.try_get("active")?,
                        added_by: row.try_get("added_by")?,
                        added_on: row.try_get("added_on")?,
                        users: row.try_get("users")?,
                        candidates: row.try_get("candidates")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    /// Every campaign the database knows, by country then name.
    pub async fn campaigns(&self) -> Result<Vec<CampaignView>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT c.id, c.name, c.country, c.active, c.created_by, c.created_on,
                   (SELECT COUNT(DISTINCT o.candidate_id) FROM ownerships o
                     WHERE o.campaign_id = c.id AND o.superseded_at IS NULL) AS candidates
                 FROM campaigns c ORDER BY c.country, c.name, c.id",
            )
            .fetch_all(pool)
            .await?;
            rows.into_iter()
                .map(|row| {
                    Ok(CampaignView {
                        id: row.try_get("id")?,
                        name: row.try_get("name")?,
                        country: row.try_get("country")?,
                        active: row.try_get("active")?,
                        created_by: row.try_get("created_by")?,
                        created_on: row.try_get("created_on")?,
                        candidates: row.try_get("candidates")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    /// Whether a user is in the database and active (directory or invited), with their agency.
    pub async fn user_agency(&self, email: &str) -> Result<Option<(String, bool)>, StoreError> {
        on_pool!(self, |pool| {
            let row = sqlx::query("SELECT agency_id, active FROM agency_users WHERE email = $1")
                .bind(email.to_ascii_lowercase())
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Ok(Some((row.try_get("agency_id")?, row.try_get("active")?))),
                None => Ok(None),
            }
        })
    }
}

/// The users a sync should invite: those added or reactivated, and every user of an agency that was
/// added or reactivated; only users of active agencies (an inactive agency cannot submit).
fn invitations_due<'d>(dir: &'d Directory, changes: &[Change]) -> Vec<(&'d Agency, &'d User)> {
    let appeared = |c: &&Change| matches!(c.change, ChangeKind::Added | ChangeKind::Reactivated);
    let users: BTreeSet<&str> = changes
        .iter()
        .filter(appeared)
        .filter(|c| c.kind == Kind::User)
        .map(|c| c.key.as_str())
        .collect();
    let agencies: BTreeSet<&str> = changes
        .iter()
        .filter(appeared)
        .filter(|c| c.kind == Kind::Agency)
        .map(|c| c.key.as_str())
        .collect();
    let mut out = Vec::new();
    for a in dir.agencies.iter().filter(|a| a.active) {
        for u in &a.users {
            if agencies.contains(a.id.as_str()) || users.contains(u.email.as_str()) {
                out.push((a, u));
            }
        }
    }
    out
}

fn parse_kind(s: &str) -> Kind {
    match s {
        "owner" => Kind::Owner,
        "recruiter" => Kind::Recruiter,
        "agency" => Kind::Agency,
        "campaign" => Kind::Campaign,
        _ => Kind::User,
    }
}

fn parse_change(s: &str) -> ChangeKind {
    match s {
        "added" => ChangeKind::Added,
        "deactivated" => ChangeKind::Deactivated,
        "reactivated" => ChangeKind::Reactivated,
        _ => ChangeKind::Updated,
    }
}
