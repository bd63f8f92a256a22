//! Recording a submission on Postgres: `= ANY` lookups, the block index's buckets, binary `COPY`.

use chrono::{DateTime, Utc};

use super::backend::*;
use super::records::*;
use super::WRITE_CHUNK;
use crate::decide::Owner;
use crate::review_prefilter::LookupList;
use crate::store::blocks;
use crate::store::copy::CopyIn;
use crate::who_is_who::Identity;

impl KnownBy for sqlx::PgConnection {
    async fn known_by(
        &mut self,
        column: &'static str,
        values: &[&str],
    ) -> Result<Vec<KnownRow>, sqlx::Error> {
        let sql = format!("{KNOWN_COLUMNS}{column} = ANY($1)");
        let rows = sqlx::query(&sql).bind(values).fetch_all(&mut *self).await?;
        rows.iter().map(known_row).collect()
    }
}

/// Reads the blocks of `hashes` (sorted) on `conn`: the ids `near` accepts under them.
///
/// The buckets of the block index that hold them are read whole, in bucket order (see
/// [`blocks`]), and each asked-for key's entries found in its bucket by merging the two sorted
/// lists.
pub(super) async fn scan_blocks(
    conn: &mut sqlx::PgConnection,
    hashes: &[i64],
    near: &(dyn Fn(i64, &str) -> bool + Sync),
) -> Result<IdSet, sqlx::Error> {
    let mut near_some = IdSet::default();
    let mut buckets: Vec<i32> = hashes.iter().map(|&h| blocks::bucket_of(h)).collect();
    buckets.dedup();
    let mut wanted = hashes;
    blocks::read_buckets(conn, &buckets, |bucket, runs| {
        // The asked-for keys of this bucket (those of buckets without runs are passed over).
        while wanted
            .first()
            .is_some_and(|&h| blocks::bucket_of(h) < bucket)
        {
            wanted = &wanted[1..];
        }
        let n = wanted
            .iter()
            .take_while(|&&h| blocks::bucket_of(h) == bucket)
            .count();
        let (here, rest) = wanted.split_at(n);
        wanted = rest;
        let entries = blocks::live_entries(runs, Some(here))?;
        let mut at = 0;
        for &key in here {
            while entries.get(at).is_some_and(|e| e.hash < key) {
                at += 1;
            }
            let size = entries[at..].iter().take_while(|e| e.hash == key).count();
            for e in &entries[at..at + size] {
                if near(key, e.near) {
                    near_some.insert(e.candidate_id);
                }
            }
        }
        Ok(())
    })
    .await?;
    Ok(near_some)
}

impl<'c> BlockPeople for sqlx::Transaction<'c, sqlx::Postgres> {
    type Helper = sqlx::PgConnection;

    async fn block_ids(
        &mut self,
        keys: &LookupList,
        near: &(dyn Fn(i64, &str) -> bool + Sync),
        ids: &mut IdSet,
        helper: &mut sqlx::PgConnection,
    ) -> Result<(), sqlx::Error> {
        // Half the keys are asked for on the helper connection, at the same time, and judged on a
        // thread of their own: judging the entries found is most of the work (the server only
        // reads the buckets out). On a single-threaded runtime (tests) both halves take turns
        // on it. (The helper sees what the transaction sees: the write lock taken, nobody else
        // commits candidates meanwhile.)
        let (first, second) = keys.hashes.split_at(keys.hashes.len() / 2);
        let conn: &mut sqlx::PgConnection = self;
        let halves = match crate::parallel::threaded_runtime() {
            Some(handle) => tokio::task::block_in_place(|| {
                crate::parallel::each(vec![(conn, first), (helper, second)], &|(c, hashes)| {
                    handle.block_on(scan_blocks(c, hashes, near))
                })
            }),
            None => {
                let (a, b) = futures::join!(
                    scan_blocks(conn, first, near),
                    scan_blocks(helper, second, near),
                );
                vec![a, b]
            }
        };
        // A person is read when under some block `near` a row: every person `may_pick` accepts,
        // and few more.
        for half in halves {
            for id in half?.sorted() {
                ids.insert(id);
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
        if ids.is_empty() {
            return Ok(());
        }
        let mut rows = sqlx::query(
            "SELECT c.id, c.first_key, c.last_key, c.email_key, c.phone_key
             FROM unnest($1::bigint[]) AS i(id) JOIN candidates c ON c.id = i.id",
        )
        .bind(ids)
        .fetch(&mut **self);
        while let Some(row) = rows.try_next().await? {
            let k = known_row(&row)?;
            if keep(&k.identity) {
                kept.push(k);
            }
        }
        Ok(())
    }
}

impl<'c> CurrentOwners for sqlx::Transaction<'c, sqlx::Postgres> {
    async fn current_owners(
        &mut self,
        ids: &[i64],
    ) -> Result<Vec<(i64, String, Owner)>, sqlx::Error> {
        // One array, behind a sub-select: the planner then walks the index of current ownerships
        // by id (30 ms for 10,000 people) instead of estimating each id and scanning the table
        // (130 ms).
        let rows = sqlx::query(&format!("{OWNERS} = ANY((SELECT $1)::bigint[])"))
            .bind(ids)
            .fetch_all(&mut **self)
            .await?;
        rows.iter().map(owner_row).collect()
    }
}

impl<'c> ReserveIds for sqlx::Transaction<'c, sqlx::Postgres> {
    async fn reserve_candidate_ids(&mut self, n: usize) -> Result<i64, sqlx::Error> {
        // Under the write lock no other session creates candidates: move the identity sequence past
        // a block of n and hand out that block.
        let last: i64 = sqlx::query_scalar(
            "SELECT setval(pg_get_serial_sequence('candidates', 'id'),
               nextval(pg_get_serial_sequence('candidates', 'id')) + $1 - 1)",
        )
        .bind(n as i64)
        .fetch_one(&mut **self)
        .await?;
        let first = last - n as i64 + 1;
        Ok(first)
    }
}

impl<'c> WriteBlocks for sqlx::Transaction<'c, sqlx::Postgres> {
    fn keeps_hashes(&self) -> bool {
        true
    }

    async fn replace_blocks(
        &mut self,
        removed: &mut NewBlocks,
        added: &mut NewBlocks,
    ) -> Result<(), sqlx::Error> {
        // Removals, newer than what they remove (see `blocks`), beside the additions.
        removed.mark_removals();
        added.hashes.append(&mut removed.hashes);
        write_runs(self, added).await
    }

    async fn delete_blocks_of(&mut self, ids: &[i64]) -> Result<(), sqlx::Error> {
        blocks::remove_candidates(self, ids).await
    }

    async fn insert_blocks(&mut self, b: &mut NewBlocks) -> Result<(), sqlx::Error> {
        write_runs(self, b).await
    }
}

/// Writes `b`'s keys and removals (see [`NewBlocks::mark_removals`]) to the block index, in hash
/// order, some 80,000 at a time (whole buckets each): what is made for the database is never the
/// whole file's. Of a key both added and removed, the addition is kept ([`blocks::write`]).
pub(super) async fn write_runs(
    conn: &mut sqlx::PgConnection,
    b: &mut NewBlocks,
) -> Result<(), sqlx::Error> {
    b.hashes.sort_unstable_by_key(|k| (k.hash, k.candidate_id));
    let keys = &b.hashes;
    let mut start = 0;
    while start < keys.len() {
        let mut end = (start + WRITE_CHUNK * 8).min(keys.len());
        while end < keys.len()
            && blocks::bucket_of(keys[end].hash) == blocks::bucket_of(keys[end - 1].hash)
        {
            end += 1;
        }
        let mut entries: Vec<blocks::Entry<'_>> = keys[start..end]
            .iter()
            .map(|k| {
                if k.phone_len == blocks::REMOVED {
                    blocks::Entry::removal(k.hash, k.candidate_id)
                } else {
                    blocks::Entry {
                        hash: k.hash,
                        candidate_id: k.candidate_id,
                        phone_len: k.phone_len,
                        near: b.near(k),
                    }
                }
            })
            .collect();
        blocks::write(conn, &mut entries).await?;
        start = end;
    }
    Ok(())
}

impl<'c> BulkWrite for sqlx::Transaction<'c, sqlx::Postgres> {
    async fn insert_candidates(
        &mut self,
        c: &NewCandidates,
        source: &str,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        if c.id.is_empty() {
            return Ok(());
        }
        let mut copy = CopyIn::begin(
            self,
            "candidates (id, first_name, last_name, first_key, last_key, email, email_key, phone,
               phone_key, custom, source, created_at, updated_at)",
        )
        .await?;
        for k in 0..c.id.len() {
            copy.row(13)
                .await?
                .bigint(c.id[k])
                .text(&c.first_name[k])
                .text(&c.last_name[k])
                .text(&c.first_key[k])
                .text(&c.last_key[k])
                .opt_text(c.email[k].as_deref())
                .opt_text(c.email_key[k].as_deref())
                .opt_text(c.phone[k].as_deref())
                .opt_text(c.phone_key[k].as_deref())
                .text(&c.custom[k])
                .text(source)
                .timestamptz(at)
                .timestamptz(at);
        }
        copy.finish().await?;
        Ok(())
    }

    async fn supersede_ownerships(
        &mut self,
        s: &Superseded,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        if s.candidate_id.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE ownerships o SET superseded_at = $3
             FROM UNNEST($1::bigint[], $2::text[]) AS u(candidate_id, scope_key)
             WHERE o.candidate_id = u.candidate_id AND o.scope_key = u.scope_key
               AND o.superseded_at IS NULL",
        )
        .bind(&s.candidate_id)
        .bind(&s.scope_key)
        .bind(at)
        .execute(&mut **self)
        .await?;
        Ok(())
    }

    async fn insert_ownerships(
        &mut self,
        o: &NewOwnerships,
        meta: &OwnershipMeta,
    ) -> Result<(), sqlx::Error> {
        if o.candidate_id.is_empty() {
            return Ok(());
        }
        let mut copy = CopyIn::begin(
            self,
            "ownerships (candidate_id, scope_key, agency_id, user_email, channel, submission_id,
               row_number, campaign_id, started_at, expires_at)",
        )
        .await?;
        for k in 0..o.candidate_id.len() {
            copy.row(10)
                .await?
                .bigint(o.candidate_id[k])
                .text(&o.scope_key[k])
                .opt_text(meta.agency_id.as_deref())
                .opt_text(meta.user_email.as_deref())
                .text(meta.channel)
                .bigint(meta.submission_id)
                .bigint(o.row_number[k])
                .opt_text(o.campaign_id[k].as_deref())
                .timestamptz(meta.started_at)
                .timestamptz(meta.expires_at);
        }
        copy.finish().await?;
        Ok(())
    }

    async fn update_candidates(
        &mut self,
        u: &Updates,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        for wave in waves(&u.id) {
            let pick =
                |v: &[String]| -> Vec<String> { wave.iter().map(|&k| v[k].clone()).collect() };
            let pick_opt = |v: &[Option<String>]| -> Vec<Option<String>> {
                wave.iter().map(|&k| v[k].clone()).collect()
            };
            let ids: Vec<i64> = wave.iter().map(|&k| u.id[k]).collect();
            sqlx::query(&format!(
                "UPDATE candidates c SET {UPDATE_SET}, updated_at = $10
                 FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                   $6::text[], $7::text[], $8::text[], $9::text[])
                   AS u(id, first_name, first_key, last_name, last_key, email, email_key, phone,
                     phone_key)
                 WHERE c.id = u.id"
            ))
            .bind(ids)
            .bind(pick(&u.first_name))
            .bind(pick(&u.first_key))
            .bind(pick(&u.last_name))
            .bind(pick(&u.last_key))
            .bind(pick_opt(&u.email))
            .bind(pick_opt(&u.email_key))
            .bind(pick_opt(&u.phone))
            .bind(pick_opt(&u.phone_key))
            .bind(at)
            .execute(&mut **self)
            .await?;
        }
        Ok(())
    }

    async fn insert_rows(
        &mut self,
        r: &OutcomeRows<'_>,
        submission_id: i64,
    ) -> Result<(), sqlx::Error> {
        if r.len() == 0 {
            return Ok(());
        }
        // One copy, each row made into it as it goes: the server stores a piece while the next
        // is made.
        let mut copy = CopyIn::begin(
            self,
            "submission_rows (submission_id, row_number, outcome, reason, candidate_id,
               same_as_row, campaign_id, cells, person, review_state)",
        )
        .await?;
        for k in 0..r.len() {
            let o = r.record(k);
            let mut row = copy.row(10).await?;
            row.bigint(submission_id)
                .bigint(o.row_number)
                .text(o.outcome)
                .text(o.reason.as_str())
                .opt_bigint(o.candidate_id)
                .opt_bigint(o.same_as_row)
                .opt_text(o.campaign_id)
                .json(o.cells);
            match &o.person {
                Some(p) => row.json(p),
                None => row.null(),
            }
            .opt_text(o.review_state);
        }
        copy.finish().await?;
        Ok(())
    }
}

impl<'c> KnownBy for sqlx::Transaction<'c, sqlx::Postgres> {
    async fn known_by(
        &mut self,
        column: &'static str,
        values: &[&str],
    ) -> Result<Vec<KnownRow>, sqlx::Error> {
        (**self).known_by(column, values).await
    }
}
