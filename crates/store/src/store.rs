//! Opening a store and the change sequence.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};

use crate::backend::Pool;
use crate::error::{DatabaseError, Result, StoreError};
use crate::schema;
use crate::url::{self, Target};

/// How long an SQLite writer waits for another connection's write lock before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Which database a [`Store`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite: one file (or memory), for a single callrec process.
    Sqlite,
    /// PostgreSQL: shareable by several callrec processes.
    Postgres,
}

/// Tuning for [`Store::open_with`]. [`Default`] gives the values documented on each field.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OpenOptions {
    /// Most connections the pool keeps open. Default 5. (An in-memory SQLite database always
    /// uses exactly one.)
    pub max_connections: u32,
    /// How long opening, or waiting for a pooled connection, may take before the operation fails.
    /// Default 10 s.
    pub connect_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            max_connections: 5,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl OpenOptions {
    /// Sets [`OpenOptions::max_connections`] (at least 1).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Sets [`OpenOptions::connect_timeout`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

/// A handle on the store: cheap to clone (a shared connection pool), `Send + Sync`.
///
/// See the [crate docs](crate) for the data model; the operations are grouped by topic:
/// documents, credentials and tokens, CDRs, recordings.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: Pool,
    url: String,
}

impl Store {
    /// Opens (SQLite: creating the file if missing) and migrates the store at `url` with
    /// default [`OpenOptions`].
    ///
    /// `url` is `sqlite://PATH`, `sqlite:PATH`, a plain `PATH`, `sqlite::memory:`, or
    /// `postgres://user:password@host:port/database?sslmode=...` (also `postgresql://`).
    ///
    /// Fails with [`StoreError::InvalidUrl`], [`StoreError::Connect`] (server unreachable, file
    /// cannot be created, wrong password, ...), [`StoreError::SchemaTooNew`] or
    /// [`StoreError::Migration`].
    pub async fn open(url: &str) -> Result<Store> {
        Store::open_with(url, &OpenOptions::default()).await
    }

    /// [`Store::open`] with explicit [`OpenOptions`].
    pub async fn open_with(url: &str, options: &OpenOptions) -> Result<Store> {
        let redacted = url::redact(url);
        let connect_failed = |e: sqlx::Error| StoreError::Connect {
            url: redacted.clone(),
            cause: DatabaseError(e),
        };
        let max = options.max_connections.max(1);
        // One connection first, outside the pool: the pool retries failed connects until its
        // timeout and then reports only "timed out", hiding the cause (refused, bad password,
        // no such database, cannot create the file).
        let pool = match url::parse(url)? {
            Target::SqliteFile(path) => {
                let opts = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true);
                probe(Probe::Sqlite(&opts), options.connect_timeout, &redacted).await?;
                let pool = SqlitePoolOptions::new()
                    .max_connections(max)
                    // An SQLite connection is a file handle served by its own thread: the
                    // pool's default ping before every acquire is a round trip to that thread
                    // that can find nothing wrong.
                    .test_before_acquire(false)
                    .acquire_timeout(options.connect_timeout)
                    .connect_with(opts)
                    .await
                    .map_err(connect_failed)?;
                Pool::Sqlite(pool)
            }
            Target::SqliteMemory => {
                let opts = SqliteConnectOptions::from_str("sqlite::memory:")
                    .map_err(connect_failed)?
                    .foreign_keys(true);
                // Each connection to :memory: is its own database: keep exactly one, forever.
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .test_before_acquire(false)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .acquire_timeout(options.connect_timeout)
                    .connect_with(opts)
                    .await
                    .map_err(connect_failed)?;
                Pool::Sqlite(pool)
            }
            Target::Postgres(opts) => {
                let opts = opts.application_name("callrec");
                probe(Probe::Postgres(&opts), options.connect_timeout, &redacted).await?;
                let pool = PgPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(options.connect_timeout)
                    .connect_with(opts)
                    .await
                    .map_err(connect_failed)?;
                Pool::Postgres(pool)
            }
        };
        let store = Store {
            pool,
            url: redacted,
        };
        if let Err(e) = schema::migrate(&store.pool).await {
            store.close().await;
            return Err(e);
        }
        Ok(store)
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The URL this store was opened from, password removed (for logs).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The schema version of the database (after the migrations applied at open, this is
    /// [`SCHEMA_VERSION`](crate::SCHEMA_VERSION) unless another process upgraded it since).
    pub async fn schema_version(&self) -> Result<i64> {
        schema::current_version(&self.pool).await
    }

    /// The change sequence: bumped by one in the same transaction as every document write
    /// (create, replace, delete, and an import that added anything). Credentials, tokens, CDRs
    /// and recordings do not bump it.
    ///
    /// It is one indexed single-row read, cheap enough to poll every ~250 ms: a process sharing
    /// a PostgreSQL database with others reloads its directory ([`Store::load_all`]) when the
    /// value differs from the one it last loaded at. Read it *before* `load_all` so a write in
    /// between causes one more reload rather than a missed one.
    ///
    /// On PostgreSQL every bump is also announced with `NOTIFY callrec_changes, '<seq>'` at
    /// commit, for listeners that prefer `LISTEN` to polling.
    pub async fn change_seq(&self) -> Result<i64> {
        with_pool!(&self.pool, |p, is_pg| {
            Ok(
                sqlx::query_scalar("SELECT seq FROM change_seq WHERE id = 1")
                    .fetch_one(p)
                    .await?,
            )
        })
    }

    /// Closes every pooled connection, waiting for operations in flight. Clones of this handle
    /// fail with [`StoreError::Database`] afterwards.
    pub async fn close(&self) {
        with_pool!(&self.pool, |p, is_pg| p.close().await)
    }
}

enum Probe<'a> {
    Sqlite(&'a SqliteConnectOptions),
    Postgres(&'a sqlx::postgres::PgConnectOptions),
}

/// Opens and closes one connection, within `timeout`, to report why a database is unusable.
async fn probe(target: Probe<'_>, timeout: Duration, url: &str) -> Result<()> {
    let attempt = async {
        match target {
            Probe::Sqlite(o) => o.connect().await.map(|c: SqliteConnection| c.close()),
            Probe::Postgres(o) => o.connect().await.map(|c: PgConnection| c.close()),
        }
    };
    let failed = |e| StoreError::Connect {
        url: url.to_owned(),
        cause: DatabaseError(e),
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(close)) => {
            // Closing politely is best effort.
            let _ = tokio::time::timeout(timeout, close).await;
            Ok(())
        }
        Ok(Err(e)) => Err(failed(e)),
        Err(_) => Err(StoreError::ConnectTimeout {
            url: url.to_owned(),
            after: timeout,
        }),
    }
}
