//! The crate's one error type.

use std::fmt;

use crate::DocKind;

/// Everything a [`Store`](crate::Store) operation can fail with.
///
/// Every variant's `Display` is a complete sentence fragment meant to be shown to an operator
/// (the caller may prefix it, e.g. with the config key `store.url`). Database URLs inside errors
/// never contain a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store URL is neither `sqlite://PATH`, `sqlite:PATH`, a plain path, `sqlite::memory:`
    /// nor a valid `postgres://` / `postgresql://` URL.
    #[error("unsupported database URL {url}: {reason}")]
    InvalidUrl {
        /// The URL as given, password removed.
        url: String,
        /// Why it was refused.
        reason: String,
    },

    /// The database could not be reached (PostgreSQL) or opened/created (SQLite).
    #[error("cannot open the database at {url}: {cause}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// What the driver reported.
        cause: DatabaseError,
    },

    /// The database did not answer within [`OpenOptions::connect_timeout`](crate::OpenOptions).
    #[error("cannot open the database at {url}: no answer within {after:?}")]
    ConnectTimeout {
        /// The URL, password removed.
        url: String,
        /// The timeout that ran out.
        after: std::time::Duration,
    },

    /// The database was written by a newer callrec: its schema version is above the newest this
    /// binary knows. Nothing was changed.
    #[error(
        "the database schema is version {found}, newer than this binary knows ({known}): \
         upgrade callrec or point it at another database"
    )]
    SchemaTooNew {
        /// The version stored in the database.
        found: i64,
        /// The newest version this binary can migrate to.
        known: i64,
    },

    /// A schema migration failed; its transaction was rolled back.
    #[error("applying schema migration {version} failed: {cause}")]
    Migration {
        /// The migration that failed.
        version: i64,
        /// What the database reported.
        cause: DatabaseError,
    },

    /// The document, CDR or recording does not exist (or was deleted), or belongs to another
    /// account.
    #[error("{what} {id:?} not found")]
    NotFound {
        /// What was looked up: a [`DocKind`] name, `"cdr"` or `"recording"`.
        what: &'static str,
        /// The id looked up.
        id: String,
    },

    /// `create` was given an id that already exists for this kind (ids are unique per kind
    /// across all accounts).
    #[error("{kind} {id:?} already exists")]
    AlreadyExists {
        /// The kind of document.
        kind: DocKind,
        /// The id that is taken.
        id: String,
    },

    /// The `expected_rev` of a replace or delete is not the document's current revision.
    /// Nothing was changed.
    #[error("revision conflict: the document is at revision {current_rev}")]
    Conflict {
        /// The revision the document has now.
        current_rev: u64,
    },

    /// A document body is not a JSON object.
    #[error("a document body must be a JSON object")]
    NotAnObject,

    /// An account document's `account_id` is not its own id.
    #[error("account {id:?} must have itself as account_id, not {account_id:?}")]
    AccountIdMismatch {
        /// The account's id.
        id: String,
        /// The account_id given.
        account_id: String,
    },

    /// A required id (or API key, or login secret) is empty.
    #[error("{what} must not be empty")]
    EmptyId {
        /// Which argument was empty (`"id"`, `"account_id"`, ...).
        what: &'static str,
    },

    /// A string contains a NUL character, which PostgreSQL cannot store in text (refused on
    /// both backends so they behave the same).
    #[error("{what} must not contain a NUL character")]
    NulCharacter {
        /// Which argument (`"id"`, `"username"`, `"last_error"`, ...).
        what: &'static str,
    },

    /// A paging `start_key` was not produced by this store.
    #[error("invalid start_key {key:?}")]
    InvalidStartKey {
        /// The key given.
        key: String,
    },

    /// A page size of zero was asked for.
    #[error("page_size must be at least 1")]
    InvalidPageSize,

    /// A number does not fit the database's signed 64-bit integers.
    #[error("{field} = {value} is out of range (at most {max})", max = i64::MAX)]
    OutOfRange {
        /// The argument.
        field: &'static str,
        /// The value given.
        value: u64,
    },

    /// A stored row could not be decoded (bad JSON, unknown kind or state, negative revision):
    /// the database was changed by something other than this crate.
    #[error("corrupt row in the database: {what}")]
    Corrupt {
        /// What could not be decoded.
        what: String,
    },

    /// Any other database failure (connection lost, disk full, timeout waiting for a lock or a
    /// pooled connection, ...). The operation's transaction, if any, was rolled back.
    #[error("database error: {0}")]
    Database(DatabaseError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(DatabaseError(e))
    }
}

/// A failure reported by the database driver.
///
/// Opaque on purpose so the driver can change without changing this crate's interface; its
/// `Display` is the driver's message.
pub struct DatabaseError(pub(crate) sqlx::Error);

impl fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl std::error::Error for DatabaseError {}

/// Shorthand for this crate's results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Converts a caller's unsigned number to the database's `BIGINT`.
pub(crate) fn to_i64(field: &'static str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange { field, value })
}

/// Converts a stored `BIGINT` back; a negative value means someone else wrote the row.
pub(crate) fn to_u64(field: &'static str, value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt {
        what: format!("{field} is negative ({value})"),
    })
}

/// Checks an id that is being written: not empty, no NUL.
pub(crate) fn id_arg(what: &'static str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(StoreError::EmptyId { what });
    }
    text_arg(what, value)
}

/// Checks any string bound as SQL text: no NUL.
pub(crate) fn text_arg(what: &'static str, value: &str) -> Result<()> {
    if value.contains('\0') {
        Err(StoreError::NulCharacter { what })
    } else {
        Ok(())
    }
}
