//! The two backends behind one set of SQL strings.
//!
//! Every statement in this crate is written once in the SQL common to SQLite (3.35 or later:
//! `RETURNING`, `ON CONFLICT`) and PostgreSQL (9.5 or later), with `$N` placeholders, which both
//! drivers accept. [`with_pool!`] expands an operation's body once per backend, so each expansion
//! is type-checked against its own driver and no query is translated at run time.

use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Database, Postgres, Row, Sqlite, Transaction};

use crate::error::Result;

/// A connection pool of either backend.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the concrete pool and `$is_pg` telling which backend it is.
macro_rules! with_pool {
    ($pool:expr, |$p:ident, $is_pg:ident| $body:expr) => {
        match $pool {
            $crate::backend::Pool::Sqlite($p) => {
                #[allow(unused_variables)]
                let $is_pg = false;
                $body
            }
            $crate::backend::Pool::Postgres($p) => {
                #[allow(unused_variables)]
                let $is_pg = true;
                $body
            }
        }
    };
}

/// Bumps the change sequence inside the write transaction `$tx` and, on PostgreSQL, queues a
/// `NOTIFY callrec_changes` carrying the new value (delivered at commit). Yields the new value.
macro_rules! bump_change_seq {
    ($tx:expr, $is_pg:expr) => {{
        let seq: i64 =
            sqlx::query_scalar("UPDATE change_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq")
                .fetch_one(&mut *$tx)
                .await?;
        if $is_pg {
            sqlx::query("SELECT pg_notify('callrec_changes', $1)")
                .bind(seq.to_string())
                .execute(&mut *$tx)
                .await?;
        }
        seq
    }};
}

/// Starting a transaction that will write.
///
/// SQLite must take its write lock at `BEGIN` (`BEGIN IMMEDIATE`): a deferred transaction that
/// read first cannot be upgraded once another connection has committed, and fails at once with
/// `SQLITE_BUSY` instead of waiting. PostgreSQL takes row locks as it goes.
pub(crate) trait BeginWrite {
    type Db: Database;
    async fn begin_write(&self) -> Result<Transaction<'static, Self::Db>, sqlx::Error>;
}

impl BeginWrite for SqlitePool {
    type Db = Sqlite;
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = Postgres;
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// Column access shared by both backends' rows (by position, as selected).
pub(crate) trait RowExt {
    fn text(&self, i: usize) -> Result<String>;
    fn opt_text(&self, i: usize) -> Result<Option<String>>;
    fn int(&self, i: usize) -> Result<i64>;
}

macro_rules! impl_row_ext {
    ($row:ty) => {
        impl RowExt for $row {
            fn text(&self, i: usize) -> Result<String> {
                Ok(self.try_get::<String, _>(i)?)
            }
            fn opt_text(&self, i: usize) -> Result<Option<String>> {
                Ok(self.try_get::<Option<String>, _>(i)?)
            }
            fn int(&self, i: usize) -> Result<i64> {
                Ok(self.try_get::<i64, _>(i)?)
            }
        }
    };
}

impl_row_ext!(SqliteRow);
impl_row_ext!(PgRow);
