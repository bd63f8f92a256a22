//! Recording a submission on SQLite: `IN` lists and multi-row `VALUES` in chunks.

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};

use super::backend::*;
use super::records::*;
use crate::decide::Owner;
use crate::review_prefilter::LookupList;
use crate::who_is_who::Identity;

impl KnownBy for sqlx::SqliteConnection {
    async fn known_by(
        &mut self,
        column: &'static str,
        values: &[&str],
    ) -> Result<Vec<KnownRow>, sqlx::Error> {
        Ok(fetch_in!(
            self,
            format!("{KNOWN_COLUMNS}{column}"),
            values,
            |r| known_row(&r)?
        ))
    }
}

impl<'c> BlockPeople for sqlx::Transaction<'c, sqlx::Sqlite> {
    type Helper = sqlx::SqliteConnection;

    async fn block_ids(
        &mut self,
        keys: &LookupList,
        _near: &(dyn Fn(i64, &str) -> bool + Sync),
        ids: &mut IdSet,
        _helper: &mut sqlx::SqliteConnection,
    ) -> Result<(), sqlx::Error> {
        use futures::TryStreamExt;
        for chunk in keys.spans.chunks(chunk_len(1)) {
            let mut qb = QueryBuilder::new("WITH k(key) AS (");
            qb.push_values(chunk, |mut b, &(from, to)| {
                b.push_bind(&keys.text[from as usize..to as usize]);
            });
            qb.push(") SELECT b.candidate_id FROM k JOIN candidate_blocks b ON b.key = k.key");
            let mut rows = qb.build().persistent(false).fetch(&mut **self);
            while let Some(row) = rows.try_next().await? {
                ids.insert(row.try_get(0)?);
            }
        }
        Ok(())
    }

    async fn people(
        &mut self,
        ids: &[i64],
        keep: &(dyn Fn(&Identity) -> bool + Sync),
        kept: &mut Vec<KnownRow>,
    ) -> Result<(), sqlx::Error> {
        use futures::TryStreamExt;
        for chunk in ids.chunks(chunk_len(1)) {
            let mut qb = QueryBuilder::new(format!("{KNOWN_COLUMNS}id IN ("));
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            qb.push(")");
            let mut rows = qb.build().persistent(false).fetch(&mut **self);
            while let Some(row) = rows.try_next().await? {
                let k = known_row(&row)?;
                if keep(&k.identity) {
                    kept.push(k);
                }
            }
        }
        Ok(())
    }
}

impl<'c> CurrentOwners for sqlx::Transaction<'c, sqlx::Sqlite> {
    async fn current_owners(
        &mut self,
        ids: &[i64],
    ) -> Result<Vec<(i64, String, Owner)>, sqlx::Error> {
        let conn: &mut sqlx::SqliteConnection = self;
        Ok(fetch_in!(conn, OWNERS, ids, |r| owner_row(&r)?))
    }
}

impl<'c> ReserveIds for sqlx::Transaction<'c, sqlx::Sqlite> {
    async fn reserve_candidate_ids(&mut self, _n: usize) -> Result<i64, sqlx::Error> {
        // One writer at a time (BEGIN IMMEDIATE): the ids after the largest are free.
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM candidates")
            .fetch_one(&mut **self)
            .await?;
        Ok(max.unwrap_or(0) + 1)
    }
}

impl<'c> WriteBlocks for sqlx::Transaction<'c, sqlx::Sqlite> {
    fn keeps_hashes(&self) -> bool {
        false
    }

    async fn delete_blocks_of(&mut self, ids: &[i64]) -> Result<(), sqlx::Error> {
        for chunk in ids.chunks(chunk_len(1)) {
            let mut qb = QueryBuilder::new("DELETE FROM candidate_blocks WHERE candidate_id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            qb.push(")");
            qb.build().persistent(false).execute(&mut **self).await?;
        }
        Ok(())
    }

    async fn replace_blocks(
        &mut self,
        removed: &mut NewBlocks,
        added: &mut NewBlocks,
    ) -> Result<(), sqlx::Error> {
        let all: Vec<usize> = (0..removed.len()).collect();
        for chunk in all.chunks(chunk_len(2)) {
            let mut qb = QueryBuilder::new("WITH d(key, candidate_id) AS (");
            qb.push_values(chunk, |mut q, &k| {
                q.push_bind(removed.key(k))
                    .push_bind(removed.candidate_id[k]);
            });
            qb.push(
                ") DELETE FROM candidate_blocks WHERE (key, candidate_id) IN
                   (SELECT key, candidate_id FROM d)",
            );
            qb.build().persistent(false).execute(&mut **self).await?;
        }
        self.insert_blocks(added).await
    }

    async fn insert_blocks(&mut self, b: &mut NewBlocks) -> Result<(), sqlx::Error> {
        // A statement's keys at a time, by position (a list of every position was 10 MB of a
        // 199,000-row file's peak).
        let per = chunk_len(2);
        for from in (0..b.len()).step_by(per) {
            let chunk = from..(from + per).min(b.len());
            let mut qb = QueryBuilder::new("INSERT INTO candidate_blocks (key, candidate_id) ");
            qb.push_values(chunk, |mut q, k| {
                q.push_bind(b.key(k)).push_bind(b.candidate_id[k]);
            });
            qb.build().persistent(false).execute(&mut **self).await?;
        }
        Ok(())
    }
}

impl<'c> BulkWrite for sqlx::Transaction<'c, sqlx::Sqlite> {
    async fn insert_candidates(
        &mut self,
        c: &NewCandidates,
        source: &str,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let all: Vec<usize> = (0..c.id.len()).collect();
        for chunk in all.chunks(chunk_len(13)) {
            let mut qb = QueryBuilder::new(
                "INSERT INTO candidates (id, first_name, last_name, first_key, last_key, email,
                   email_key, phone, phone_key, custom, source, created_at, updated_at) ",
            );
            qb.push_values(chunk, |mut b, &k| {
                b.push_bind(c.id[k])
                    .push_bind(&c.first_name[k])
                    .push_bind(&c.last_name[k])
                    .push_bind(&c.first_key[k])
                    .push_bind(&c.last_key[k])
                    .push_bind(&c.email[k])
                    .push_bind(&c.email_key[k])
                    .push_bind(&c.phone[k])
                    .push_bind(&c.phone_key[k])
                    .push_bind(&c.custom[k])
                    .push_bind(source)
                    .push_bind(at)
                    .push_bind(at);
            });
            qb.build().persistent(false).execute(&mut **self).await?;
        }
        Ok(())
    }

    async fn supersede_ownerships(
        &mut self,
        s: &Superseded,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let all: Vec<usize> = (0..s.candidate_id.len()).collect();
        for chunk in all.chunks(chunk_len(2)) {
            let mut qb = QueryBuilder::new("WITH u(candidate_id, scope_key) AS (");
            qb.push_values(chunk, |mut q, &k| {
                q.push_bind(s.candidate_id[k]).push_bind(&s.scope_key[k]);
            });
            qb.push(") UPDATE ownerships SET superseded_at = ");
            qb.push_bind(at);
            qb.push(
                " WHERE superseded_at IS NULL AND EXISTS (SELECT 1 FROM u
                   WHERE u.candidate_id = ownerships.candidate_id
                     AND u.scope_key = ownerships.scope_key)",
            );
            qb.build().persistent(false).execute(&mut **self).await?;
        }
        Ok(())
    }

    async fn insert_ownerships(
        &mut self,
        o: &NewOwnerships,
        meta: &OwnershipMeta,
    ) -> Result<(), sqlx::Error> {
        let all: Vec<usize> = (0..o.candidate_id.len()).collect();
        for chunk in all.chunks(chunk_len(10)) {
            let mut qb = QueryBuilder::new(
                "INSERT INTO ownerships (candidate_id, scope_key, agency_id, user_email, channel,
                   submission_id, row_number, campaign_id, started_at, expires_at) ",
            );
            qb.push_values(chunk, |mut b, &k| {
                b.push_bind(o.candidate_id[k])
                    .push_bind(&o.scope_key[k])
                    .push_bind(&meta.agency_id)
                    .push_bind(&meta.user_email)
                    .push_bind(meta.channel)
                    .push_bind(meta.submission_id)
                    .push_bind(o.row_number[k])
                    .push_bind(&o.campaign_id[k])
                    .push_bind(meta.started_at)
                    .push_bind(meta.expires_at);
            });
            qb.build().persistent(false).execute(&mut **self).await?;
        }
        Ok(())
    }

    async fn update_candidates(
        &mut self,
        u: &Updates,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        for wave in waves(&u.id) {
            for chunk in wave.chunks(chunk_len(9)) {
                let mut qb = QueryBuilder::new(
                    "WITH u(id, first_name, first_key, last_name, last_key, email, email_key, phone,
                       phone_key) AS (",
                );
                qb.push_values(chunk, |mut b, &k| {
                    b.push_bind(u.id[k])
                        .push_bind(&u.first_name[k])
                        .push_bind(&u.first_key[k])
                        .push_bind(&u.last_name[k])
                        .push_bind(&u.last_key[k])
                        .push_bind(&u.email[k])
                        .push_bind(&u.email_key[k])
                        .push_bind(&u.phone[k])
                        .push_bind(&u.phone_key[k]);
                });
                qb.push(format!(
                    ") UPDATE candidates AS c SET {UPDATE_SET}, updated_at = "
                ));
                qb.push_bind(at);
                qb.push(" FROM u WHERE c.id = u.id");
                qb.build().persistent(false).execute(&mut **self).await?;
            }
        }
        Ok(())
    }

    async fn insert_rows(
        &mut self,
        r: &OutcomeRows<'_>,
        submission_id: i64,
    ) -> Result<(), sqlx::Error> {
        let all: Vec<usize> = (0..r.len()).collect();
        for chunk in all.chunks(chunk_len(10)) {
            let records: Vec<(OutcomeRecord, String, Option<String>)> = chunk
                .iter()
                .map(|&k| {
                    let o = r.record(k);
                    let cells = serde_json::to_string(o.cells).unwrap_or_default();
                    let person = o
                        .person
                        .as_ref()
                        .map(|p| serde_json::to_string(p).unwrap_or_default());
                    (o, cells, person)
                })
                .collect();
            let mut qb = QueryBuilder::new(
                "INSERT INTO submission_rows (submission_id, row_number, outcome, reason,
                   candidate_id, same_as_row, campaign_id, cells, person, review_state) ",
            );
            qb.push_values(&records, |mut b, (o, cells, person)| {
                b.push_bind(submission_id)
                    .push_bind(o.row_number)
                    .push_bind(o.outcome)
                    .push_bind(o.reason.as_str())
                    .push_bind(o.candidate_id)
                    .push_bind(o.same_as_row)
                    .push_bind(o.campaign_id)
                    .push_bind(cells)
                    .push_bind(person)
                    .push_bind(o.review_state);
            });
            qb.build().persistent(false).execute(&mut **self).await?;
        }
        Ok(())
    }
}

impl<'c> KnownBy for sqlx::Transaction<'c, sqlx::Sqlite> {
    async fn known_by(
        &mut self,
        column: &'static str,
        values: &[&str],
    ) -> Result<Vec<KnownRow>, sqlx::Error> {
        (**self).known_by(column, values).await
    }
}
