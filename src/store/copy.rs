//! Rows written with Postgres' binary `COPY … FROM STDIN`: the server takes each value as it is
//! stored (no text to parse, no arrays to unpack as with `UNNEST`), so the bulk writes of a file cost
//! the server about a third less. See <https://www.postgresql.org/docs/15/sql-copy.html>, "Binary
//! Format".
//!
//! The rows are sent a piece at a time as they are made ([`CopyIn::row`] sends a piece once it
//! passes [`PIECE`]): a file's copy for the database never exists whole.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgCopyIn;
use sqlx::PgConnection;

/// Bytes of rows sent at once.
const PIECE: usize = 1 << 20;

/// Microseconds from the Unix epoch to Postgres' (2000-01-01 UTC), which `timestamptz` counts from.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// One `COPY … FROM STDIN (FORMAT binary)` under way on a connection.
pub(super) struct CopyIn<'c> {
    copy: PgCopyIn<&'c mut PgConnection>,
    buf: Vec<u8>,
}

impl<'c> CopyIn<'c> {
    /// Starts `COPY {table_and_columns} FROM STDIN (FORMAT binary)`.
    pub(super) async fn begin(
        conn: &'c mut PgConnection,
        table_and_columns: &str,
    ) -> Result<CopyIn<'c>, sqlx::Error> {
        let copy = conn
            .copy_in_raw(&format!(
                "COPY {table_and_columns} FROM STDIN (FORMAT binary)"
            ))
            .await?;
        let mut buf = Vec::with_capacity(PIECE + PIECE / 4);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        Ok(CopyIn { copy, buf })
    }

    /// Starts a row of `fields` values (sending what was made so far when it is a piece); its
    /// values follow, in the statement's column order.
    pub(super) async fn row(&mut self, fields: i16) -> Result<Row<'_>, sqlx::Error> {
        if self.buf.len() >= PIECE {
            self.copy.send(self.buf.as_slice()).await?;
            self.buf.clear();
        }
        self.buf.extend_from_slice(&fields.to_be_bytes());
        Ok(Row { buf: &mut self.buf })
    }

    /// Sends the rest and ends the copy; the server's error, if any, is returned here (a unique
    /// index violated, a check failed).
    pub(super) async fn finish(mut self) -> Result<u64, sqlx::Error> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.copy.send(self.buf.as_slice()).await?;
        self.copy.finish().await
    }
}

/// The values of one row, in binary format.
pub(super) struct Row<'b> {
    buf: &'b mut Vec<u8>,
}

impl Row<'_> {
    fn value(&mut self, bytes: &[u8]) -> &mut Self {
        let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(bytes);
        self
    }

    pub(super) fn null(&mut self) -> &mut Self {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
        self
    }

    pub(super) fn bigint(&mut self, v: i64) -> &mut Self {
        self.value(&v.to_be_bytes())
    }

    pub(super) fn int(&mut self, v: i32) -> &mut Self {
        self.value(&v.to_be_bytes())
    }

    pub(super) fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.value(v)
    }

    pub(super) fn text(&mut self, s: &str) -> &mut Self {
        self.value(s.as_bytes())
    }

    pub(super) fn opt_text(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }

    /// `v` as JSON text, made in place (its length written when it is made).
    pub(super) fn json(&mut self, v: &impl serde::Serialize) -> &mut Self {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0i32.to_be_bytes());
        // Serialising into memory fails only for a map with non-string keys, which no row has;
        // like `serde_json::to_string(..).unwrap_or_default()` before, it is then stored empty.
        if serde_json::to_writer(&mut *self.buf, v).is_err() {
            self.buf.truncate(at + 4);
        }
        let len = i32::try_from(self.buf.len() - at - 4).unwrap_or(i32::MAX);
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        self
    }

    pub(super) fn opt_bigint(&mut self, v: Option<i64>) -> &mut Self {
        match v {
            Some(v) => self.bigint(v),
            None => self.null(),
        }
    }

    pub(super) fn timestamptz(&mut self, t: DateTime<Utc>) -> &mut Self {
        self.value(&(t.timestamp_micros() - POSTGRES_EPOCH_MICROS).to_be_bytes())
    }
}
