//! The schema and its versioned migrations, applied by [`Store::open`](crate::Store::open).
//!
//! `callrec_schema` holds one row per applied migration. Opening a database whose highest
//! version is above [`SCHEMA_VERSION`] is refused ([`StoreError::SchemaTooNew`]) before anything
//! is written. Migrations run in one transaction, serialized between processes (SQLite:
//! `BEGIN IMMEDIATE`; PostgreSQL: a transaction-scoped advisory lock), so two callrec processes
//! starting together on one database migrate it once.
//!
//! In the DDL, `KEYTEXT` stands for the type of ids and other compared strings: `TEXT` on SQLite
//! (compared bytewise) and `TEXT COLLATE "C"` on PostgreSQL, so both backends order ids, and page
//! through them, the same way whatever the server's locale.

use crate::backend::{BeginWrite, Pool};
use crate::error::{DatabaseError, Result, StoreError};

/// The newest schema version this build knows (and migrates databases to).
pub const SCHEMA_VERSION: i64 = 3;

struct Migration {
    version: i64,
    statements: &'static [&'static str],
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        statements: V1,
    },
    Migration {
        version: 2,
        statements: V2,
    },
    Migration {
        version: 3,
        statements: crate::kamailio::V3,
    },
];

/// Version 1: documents, change sequence, credentials, tokens, CDRs, recordings.
const V1: &[&str] = &[
    // KAZOO documents. `id` is unique per kind across all accounts; an account's account_id is
    // its own id. `body` is the JSON object without `_id`/`_rev`. `name_key`/`realm_key` are set
    // for accounts only (normalized name, lower-case realm) so user_auth can find an account by
    // name or realm.
    "CREATE TABLE documents (
        kind KEYTEXT NOT NULL,
        id KEYTEXT NOT NULL,
        account_id KEYTEXT NOT NULL,
        rev BIGINT NOT NULL,
        created BIGINT NOT NULL,
        modified BIGINT NOT NULL,
        name_key KEYTEXT,
        realm_key KEYTEXT,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, id)
    )",
    "CREATE INDEX documents_by_account ON documents (account_id, kind, id)",
    "CREATE INDEX documents_by_name ON documents (name_key)",
    "CREATE INDEX documents_by_realm ON documents (realm_key)",
    // Bumped in the same transaction as every document write.
    "CREATE TABLE change_seq (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL)",
    "INSERT INTO change_seq (id, seq) VALUES (1, 0)",
    // Secrets are stored as `sha256$<hex of SHA-256(salt || secret)>` with a random salt.
    "CREATE TABLE api_keys (
        account_id KEYTEXT PRIMARY KEY,
        salt TEXT NOT NULL,
        hash TEXT NOT NULL
    )",
    "CREATE TABLE user_logins (
        account_id KEYTEXT NOT NULL,
        user_id KEYTEXT NOT NULL,
        username TEXT NOT NULL,
        salt TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (account_id, user_id)
    )",
    // Tokens are random; only the hex SHA-256 of a token is stored.
    "CREATE TABLE auth_tokens (
        token_hash KEYTEXT PRIMARY KEY,
        account_id KEYTEXT NOT NULL,
        user_id KEYTEXT,
        priv_level TEXT NOT NULL,
        expires_at BIGINT NOT NULL
    )",
    "CREATE INDEX auth_tokens_by_account ON auth_tokens (account_id)",
    "CREATE TABLE cdrs (
        account_id KEYTEXT NOT NULL,
        id KEYTEXT NOT NULL,
        interaction_id KEYTEXT NOT NULL,
        created BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (account_id, id)
    )",
    "CREATE INDEX cdrs_by_created ON cdrs (account_id, created, id)",
    "CREATE INDEX cdrs_by_interaction ON cdrs (account_id, interaction_id, created, id)",
    "CREATE TABLE recordings (
        account_id KEYTEXT NOT NULL,
        id KEYTEXT NOT NULL,
        call_id TEXT NOT NULL,
        interaction_id TEXT NOT NULL,
        state TEXT NOT NULL,
        last_error TEXT,
        created BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (account_id, id)
    )",
    "CREATE INDEX recordings_by_created ON recordings (account_id, created, id)",
];

/// Version 2: the CDR's owner (`custom_channel_vars.owner_id`) as a column of its own, so that a
/// user's CDRs are paged by the query (a `priv_level` user token, `/users/{U}/cdrs`), with an
/// index over the legs that have one. Existing rows are filled from their body.
const V2: &[&str] = &[
    "ALTER TABLE cdrs ADD COLUMN owner_id KEYTEXT",
    "sqlite: UPDATE cdrs SET owner_id = json_extract(body, '$.custom_channel_vars.owner_id') \
     WHERE json_type(body, '$.custom_channel_vars.owner_id') = 'text'",
    "pg: UPDATE cdrs SET owner_id = body::jsonb #>> '{custom_channel_vars,owner_id}' \
     WHERE jsonb_typeof(body::jsonb #> '{custom_channel_vars,owner_id}') = 'string'",
    "CREATE INDEX cdrs_by_owner ON cdrs (account_id, owner_id, created, id) \
     WHERE owner_id IS NOT NULL",
];

/// The DDL for one backend (`KEYTEXT` replaced), or `None` for a statement of the other one
/// (prefixed `sqlite: ` or `pg: `).
fn ddl(statement: &str, is_pg: bool) -> Option<String> {
    let statement = match (
        statement.strip_prefix("sqlite: "),
        statement.strip_prefix("pg: "),
    ) {
        (Some(s), _) => (!is_pg).then_some(s)?,
        (_, Some(s)) => is_pg.then_some(s)?,
        _ => statement,
    };
    let key = if is_pg { "TEXT COLLATE \"C\"" } else { "TEXT" };
    Some(statement.replace("KEYTEXT", key))
}

/// Any value fits: an arbitrary constant naming callrec's migration lock on PostgreSQL.
const PG_MIGRATION_LOCK: i64 = 0x6361_6c6c_7265_6301;

/// Brings the database to [`SCHEMA_VERSION`] and returns the version found before.
pub(crate) async fn migrate(pool: &Pool) -> Result<i64> {
    with_pool!(pool, |p, is_pg| {
        let mut tx = p.begin_write().await?;
        if is_pg {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PG_MIGRATION_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("CREATE TABLE IF NOT EXISTS callrec_schema (version BIGINT PRIMARY KEY)")
            .execute(&mut *tx)
            .await?;
        let found: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM callrec_schema")
            .fetch_one(&mut *tx)
            .await?;
        if found > SCHEMA_VERSION {
            tx.rollback().await?;
            return Err(StoreError::SchemaTooNew {
                found,
                known: SCHEMA_VERSION,
            });
        }
        for m in MIGRATIONS.iter().filter(|m| m.version > found) {
            let failed = |e: sqlx::Error| StoreError::Migration {
                version: m.version,
                cause: DatabaseError(e),
            };
            for statement in m.statements.iter().filter_map(|s| ddl(s, is_pg)) {
                sqlx::query(&statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(failed)?;
            }
            sqlx::query("INSERT INTO callrec_schema (version) VALUES ($1)")
                .bind(m.version)
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
        }
        tx.commit().await?;
        Ok(found)
    })
}

/// The highest applied migration.
pub(crate) async fn current_version(pool: &Pool) -> Result<i64> {
    with_pool!(pool, |p, is_pg| {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM callrec_schema")
                .fetch_one(p)
                .await?,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_up_to_the_known_version() {
        let versions: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
        let expected: Vec<i64> = (1..=SCHEMA_VERSION).collect();
        assert_eq!(versions, expected);
    }

    #[test]
    fn key_columns_are_bytewise_on_postgres() {
        assert_eq!(
            ddl("id KEYTEXT NOT NULL", false).as_deref(),
            Some("id TEXT NOT NULL")
        );
        assert_eq!(
            ddl("id KEYTEXT NOT NULL", true).as_deref(),
            Some("id TEXT COLLATE \"C\" NOT NULL")
        );
        assert_eq!(
            ddl("PRIMARY KEY (a)", true).as_deref(),
            Some("PRIMARY KEY (a)")
        );
    }

    #[test]
    fn backend_statements_run_on_their_backend_only() {
        assert_eq!(ddl("sqlite: X", false).as_deref(), Some("X"));
        assert_eq!(ddl("sqlite: X", true), None);
        assert_eq!(ddl("pg: Y", true).as_deref(), Some("Y"));
        assert_eq!(ddl("pg: Y", false), None);
    }
}
