//! The email intake's ledger (SPEC §4.1, migration 0004): one row per message of a mailbox, and the
//! effects of email commands (invited and removed users), written in the transaction that finishes
//! the message.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::outbox;
use super::{on_pool, Store, StoreError, WritePool};
use crate::mail::Outgoing;

/// Serialises the finishing of messages (and the users they invite) across daemons.
const LOCK: &str = "agency-portal:mail-ledger";

/// A message as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: i64,
    /// `pending` | `processed` | `rejected` | `failed`.
    pub status: String,
    pub kind: String,
    pub reason: String,
    /// Tries started so far (this one included, when [`Store::ledger_begin`] returned it).
    pub attempts: i64,
    pub moved: bool,
}

impl LedgerEntry {
    pub fn finished(&self) -> bool {
        self.status != "pending"
    }
}

/// How the ledger recognises a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageKeys {
    pub mailbox: String,
    /// Its Message-ID, or `sha256:<hex>` when it has none.
    pub message_key: String,
    pub sha256: String,
    pub uidvalidity: Option<u32>,
    pub uid: Option<u32>,
    pub sender: String,
    pub subject: String,
}

/// A message's final state.
#[derive(Debug, Clone, Copy)]
pub struct Final<'a> {
    /// `processed` | `rejected` | `failed`.
    pub status: &'a str,
    pub kind: &'a str,
    pub reason: &'a str,
}

/// What finishing a message also changes.
#[derive(Debug, Clone)]
pub enum Effect {
    /// An agency admin (or owner) invited a user: added (or reactivated) as `source = 'invited'`.
    Invite {
        agency_id: String,
        email: String,
        name: String,
        role: String,
        invitation: Outgoing,
    },
    /// An invited user removed: deactivated, never deleted (their submissions stay).
    Remove { email: String },
    /// `unsubscribe` / `subscribe` (SPEC §7 (r2)): the address's digests of `kinds` turned off or
    /// on again (table `digest_unsubscribes`, migration 0016).
    DigestSubscription {
        email: String,
        kinds: Vec<String>,
        subscribed: bool,
    },
}

/// A user as the database knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbUser {
    pub email: String,
    pub agency_id: String,
    pub name: String,
    pub role: String,
    pub active: bool,
    /// `directory` | `invited`.
    pub source: String,
}

/// A submission recorded for a part of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    pub submission_id: i64,
    /// `processed` | `failed`.
    pub status: String,
    pub reason: String,
}

fn entry(row: &impl RowLike) -> Result<LedgerEntry, sqlx::Error> {
    row.entry()
}

trait RowLike {
    fn entry(&self) -> Result<LedgerEntry, sqlx::Error>;
}

macro_rules! impl_row_like {
    ($row:ty) => {
        impl RowLike for $row {
            fn entry(&self) -> Result<LedgerEntry, sqlx::Error> {
                let moved: Option<DateTime<Utc>> = self.try_get("moved_at")?;
                Ok(LedgerEntry {
                    id: self.try_get("id")?,
                    status: self.try_get("status")?,
                    kind: self.try_get("kind")?,
                    reason: self.try_get("reason")?,
                    attempts: i64::from(self.try_get::<i32, _>("attempts")?),
                    moved: moved.is_some(),
                })
            }
        }
    };
}
impl_row_like!(sqlx::sqlite::SqliteRow);
impl_row_like!(sqlx::postgres::PgRow);

const ENTRY_COLUMNS: &str = "SELECT id, status, kind, reason, attempts, moved_at FROM mail_ledger";

/// The message's row: by Message-ID, by its bytes, or by where it sits (UIDVALIDITY and UID).
fn find_query() -> String {
    format!(
        "{ENTRY_COLUMNS} WHERE mailbox = $1
           AND (message_key = $2 OR sha256 = $3
                OR (uidvalidity = $4 AND uid = $5 AND $4 IS NOT NULL))
         ORDER BY id LIMIT 1"
    )
}

impl Store {
    /// A ledger row by id.
    pub async fn ledger_entry(&self, id: i64) -> Result<Option<LedgerEntry>, StoreError> {
        on_pool!(self, |pool| {
            let row = sqlx::query(&format!("{ENTRY_COLUMNS} WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?;
            Ok(row.as_ref().map(entry).transpose()?)
        })
    }

    /// Starts a try at a message: its row is created (or found), its location updated and, while
    /// it is pending, `attempts` counted up — committed before the work starts, so a try that
    /// crashes the process still counts.
    pub async fn ledger_begin(
        &self,
        keys: &MessageKeys,
        now: DateTime<Utc>,
    ) -> Result<LedgerEntry, StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write(LOCK).await?;
            let found = sqlx::query(&find_query())
                .bind(&keys.mailbox)
                .bind(&keys.message_key)
                .bind(&keys.sha256)
                .bind(keys.uidvalidity.map(i64::from))
                .bind(keys.uid.map(i64::from))
                .fetch_optional(&mut *tx)
                .await?;
            let row =
                match found.as_ref().map(entry).transpose()? {
                    Some(e) => {
                        sqlx::query(
                            "UPDATE mail_ledger SET uidvalidity = COALESCE($2, uidvalidity),
                           uid = COALESCE($3, uid),
                           attempts = attempts + CASE WHEN status = 'pending' THEN 1 ELSE 0 END
                         WHERE id = $1",
                        )
                        .bind(e.id)
                        .bind(keys.uidvalidity.map(i64::from))
                        .bind(keys.uid.map(i64::from))
                        .execute(&mut *tx)
                        .await?;
                        sqlx::query(&format!("{ENTRY_COLUMNS} WHERE id = $1"))
                            .bind(e.id)
                            .fetch_one(&mut *tx)
                            .await?
                    }
                    None => sqlx::query(
                        "INSERT INTO mail_ledger (mailbox, message_key, sha256, uidvalidity, uid,
                           sender, subject, attempts, received_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8)
                         RETURNING id, status, kind, reason, attempts, moved_at",
                    )
                    .bind(&keys.mailbox)
                    .bind(&keys.message_key)
                    .bind(&keys.sha256)
                    .bind(keys.uidvalidity.map(i64::from))
                    .bind(keys.uid.map(i64::from))
                    .bind(&keys.sender)
                    .bind(&keys.subject)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?,
                };
            tx.commit().await?;
            Ok(entry(&row)?)
        })
    }

    /// Takes back the try counted by [`Store::ledger_begin`] when it ended in an error that is not
    /// the message's fault (the database went away): such tries do not make a message poison.
    pub async fn ledger_uncount(&self, id: i64) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE mail_ledger SET attempts = attempts - 1
                 WHERE id = $1 AND status = 'pending' AND attempts > 0",
            )
            .bind(id)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Finishes a pending message: its status, and in the same transaction the replies and alerts
    /// it causes and the users it invites or removes. `false`: it was finished already (by an
    /// earlier try or another daemon) and nothing was written.
    pub async fn ledger_finish(
        &self,
        id: i64,
        state: &Final<'_>,
        mail: &[Outgoing],
        effects: &[Effect],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write(LOCK).await?;
            let done = sqlx::query(
                "UPDATE mail_ledger SET status = $2, kind = $3, reason = $4, finished_at = $5
                 WHERE id = $1 AND status = 'pending'",
            )
            .bind(id)
            .bind(state.status)
            .bind(state.kind)
            .bind(state.reason)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            for effect in effects {
                match effect {
                    Effect::Invite {
                        agency_id,
                        email,
                        name,
                        role,
                        invitation,
                    } => {
                        sqlx::query(
                            "INSERT INTO agency_users (email, agency_id, name, role, active, source,
                               created_at, updated_at)
                             VALUES ($1, $2, $3, $4, TRUE, 'invited', $5, $5)
                             ON CONFLICT (email) DO UPDATE SET active = TRUE, name = excluded.name,
                               role = excluded.role, updated_at = excluded.updated_at
                             WHERE agency_users.source = 'invited'
                               AND agency_users.agency_id = excluded.agency_id",
                        )
                        .bind(email)
                        .bind(agency_id)
                        .bind(name)
                        .bind(role)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        outbox::enqueue(&mut *tx, invitation, now).await?;
                    }
                    Effect::Remove { email } => {
                        sqlx::query(
                            "UPDATE agency_users SET active = FALSE, updated_at = $2
                             WHERE email = $1 AND source = 'invited'",
                        )
                        .bind(email)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    Effect::DigestSubscription {
                        email,
                        kinds,
                        subscribed,
                    } => {
                        for kind in kinds {
                            let query = if *subscribed {
                                sqlx::query(
                                    "DELETE FROM digest_unsubscribes WHERE email = $1 AND kind = $2",
                                )
                                .bind(email)
                                .bind(kind)
                            } else {
                                sqlx::query(
                                    "INSERT INTO digest_unsubscribes (email, kind, created_at)
                                     VALUES ($1, $2, $3) ON CONFLICT (email, kind) DO NOTHING",
                                )
                                .bind(email)
                                .bind(kind)
                                .bind(now)
                            };
                            query.execute(&mut *tx).await?;
                        }
                    }
                }
            }
            for m in mail {
                outbox::enqueue(&mut *tx, m, now).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The message now sits in its folder.
    pub async fn ledger_moved(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE mail_ledger SET moved_at = $2 WHERE id = $1 AND moved_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// The submission recorded for a part of a message (`source_ref`), if any.
    pub async fn submission_by_source(
        &self,
        source_ref: &str,
    ) -> Result<Option<PartRecord>, StoreError> {
        on_pool!(self, |pool| {
            let row =
                sqlx::query("SELECT id, status, reason FROM submissions WHERE source_ref = $1")
                    .bind(source_ref)
                    .fetch_optional(pool)
                    .await?;
            match row {
                Some(r) => Ok(Some(PartRecord {
                    submission_id: r.try_get("id")?,
                    status: r.try_get("status")?,
                    reason: r.try_get("reason")?,
                })),
                None => Ok(None),
            }
        })
    }

    /// A user as the database has them (from the directory file or invited), active or not.
    pub async fn db_user(&self, email: &str) -> Result<Option<DbUser>, StoreError> {
        on_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT email, agency_id, name, role, active, source FROM agency_users
                 WHERE email = $1",
            )
            .bind(email.to_ascii_lowercase())
            .fetch_optional(pool)
            .await?;
            match row {
                Some(r) => Ok(Some(DbUser {
                    email: r.try_get("email")?,
                    agency_id: r.try_get("agency_id")?,
                    name: r.try_get("name")?,
                    role: r.try_get("role")?,
                    active: r.try_get("active")?,
                    source: r.try_get("source")?,
                })),
                None => Ok(None),
            }
        })
    }

    /// The active owners' addresses (poison-message alerts go to them).
    pub async fn owner_addresses(&self) -> Result<Vec<crate::mail::message::Address>, StoreError> {
        on_pool!(self, |pool| {
            let mut conn = pool.acquire().await?;
            Ok(outbox::active_owners(&mut *conn).await?)
        })
    }
}

/// At most one IMAP session per mailbox across daemons (SPEC §4.1): a Postgres session-level
/// advisory lock held on a connection of its own for as long as the session lasts. Dropping it
/// closes that connection, which releases the lock. SQLite serves one process: always granted.
pub struct MailboxLock {
    conn: Option<sqlx::PgConnection>,
}

impl MailboxLock {
    /// Whether the lock is still held (its connection alive).
    pub async fn alive(&mut self) -> bool {
        use sqlx::Connection;
        match &mut self.conn {
            Some(c) => c.ping().await.is_ok(),
            None => true,
        }
    }
}

impl Store {
    /// Takes the mailbox's lock, or `None` when another daemon holds it.
    pub async fn mailbox_lock(&self, mailbox: &str) -> Result<Option<MailboxLock>, StoreError> {
        match &self.db {
            super::Db::Sqlite(_) => Ok(Some(MailboxLock { conn: None })),
            super::Db::Postgres(pool) => {
                let mut conn = pool.acquire().await?.detach();
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
                    .bind(format!("agency-portal:mailbox:{mailbox}"))
                    .fetch_one(&mut conn)
                    .await?;
                if got {
                    Ok(Some(MailboxLock { conn: Some(conn) }))
                } else {
                    use sqlx::Connection;
                    let _ = conn.close().await;
                    Ok(None)
                }
            }
        }
    }
}
