//! callrec's persistent store, behind the Crossbar-compatible API: KAZOO documents, API keys,
//! user logins, auth tokens, CDRs and recordings metadata, on **SQLite** (default: one file,
//! e.g. `<data_dir>/callrec.db`) or **PostgreSQL** (shared by several callrec processes).
//!
//! ```no_run
//! # async fn demo() -> Result<(), callrec_store::StoreError> {
//! use callrec_store::{DocKind, Store};
//! use serde_json::json;
//!
//! let store = Store::open("sqlite:///var/lib/callrec/callrec.db").await?;
//! let now = 63_900_000_000; // gregorian seconds, from the caller's clock
//! let acct = store.create("a1", DocKind::Account, "a1", json!({"name": "Acme"}), now).await?;
//! let user = store.create("a1", DocKind::User, "u1", json!({"username": "bob"}), now).await?;
//! // PATCH: read, merge, write back with the revision read.
//! let mut body = user.body.clone();
//! body["first_name"] = json!("Bob");
//! store.replace(DocKind::User, "u1", Some(user.rev), body, now + 1).await?;
//! # let _ = acct; Ok(()) }
//! ```
//!
//! # Model
//!
//! * **Documents** ([`Document`], kinds [`DocKind`]): `id` unique per kind across all accounts,
//!   `account_id` (an account's own id for an account), `rev` (1, then +1 per write), `created`
//!   and `modified` in gregorian seconds passed in by the caller (`now`: no clock is read, so
//!   tests are deterministic), and `body`, a JSON object stored **without** `_id` and `_rev`
//!   (those keys are dropped on write; id and revision live in the fields). Deletes are hard
//!   deletes. Writes are single transactions; `expected_rev` gives optimistic concurrency
//!   ([`StoreError::Conflict`]).
//! * **Change sequence** ([`Store::change_seq`]): bumped in every document write's transaction,
//!   so a process sharing a PostgreSQL database polls it (~250 ms) and reloads on change; on
//!   PostgreSQL each bump also sends `NOTIFY callrec_changes`.
//! * **Credentials** (salted SHA-256, never in clear) and **auth tokens** (random, stored as a
//!   hash): see [`Store::set_api_key`], [`Store::find_user_login`], [`Store::create_token`].
//! * **CDRs** ([`Cdr`]) and **recordings** ([`Recording`]): every query is filtered by account;
//!   listings are newest first with Crossbar-style [`Page::next_start_key`].
//!
//! Every operation is async (tokio) and returns [`StoreError`]; no input panics. [`Store`] is a
//! cheap `Clone` over a connection pool.
//!
//! # Schema
//!
//! Versioned migrations ([`SCHEMA_VERSION`]) are applied at open, serialized between processes;
//! a database newer than the binary is refused with [`StoreError::SchemaTooNew`]. Tables:
//! `callrec_schema(version)`, `documents(kind, id, account_id, rev, created, modified, name_key,
//! realm_key, body)`, `change_seq(id = 1, seq)`, `api_keys(account_id, salt, hash)`,
//! `user_logins(account_id, user_id, username, salt, hash)`, `auth_tokens(token_hash,
//! account_id, user_id, priv_level, expires_at)`, `cdrs(account_id, id, interaction_id, created,
//! body, owner_id)` (schema 2: the leg's `custom_channel_vars.owner_id`), `recordings(account_id, id, call_id, interaction_id, state, last_error, created,
//! body)`. JSON is stored as `TEXT` on both backends; ids are compared bytewise on both.
//! On PostgreSQL, schema 3 adds what a Kamailio edge reads: the views `subscriber` and
//! `carrier_addresses` over the documents, and Kamailio's own `version`, `location` and
//! `location_attrs` tables (see `kamailio.rs` and docs/deployment.md).
//!
//! # Why sqlx
//!
//! [sqlx](https://docs.rs/sqlx) 0.8 gives one async, tokio-native API over both SQLite
//! (bundled, so no system library) and PostgreSQL, with connection pools, transactions and
//! `BEGIN IMMEDIATE` for SQLite writers. Both drivers accept `$N` placeholders, so each
//! statement is written once in the SQL the two share (see `backend.rs`) and checked by the
//! compiler against both drivers. The alternative, rusqlite + tokio-postgres, means two sets of
//! queries and row mapping, and `spawn_blocking` around every SQLite call. Its compile-time
//! query macros are not used (they need a database at build time), nor its migrator: ours is
//! a few lines and gives the typed [`StoreError::SchemaTooNew`]. TLS to PostgreSQL uses rustls
//! on aws-lc-rs, as reqwest already does in the workspace.
//!
//! # Testing
//!
//! The `testing` feature adds the module `callrec_store::testing`: a throwaway PostgreSQL cluster
//! harness (Debian's `postgresql` package) and raw-SQL helpers, for this crate's tests and for
//! other crates'.
//!
//! `benches/store.rs` measures reads and PATCH-like writes on both backends; the figures are in
//! the crate's README.md.

#[macro_use]
mod backend;
mod cdrs;
mod credentials;
mod documents;
mod error;
mod kamailio;
mod page;
mod recordings;
mod schema;
mod store;
mod url;

#[cfg(feature = "testing")]
pub mod testing;

pub use cdrs::{owner_of as cdr_owner, Cdr, CdrText};
pub use credentials::{PrivLevel, TokenInfo, UnknownPrivLevel, UserLogin};
pub use documents::{normalize_account_name, DocKind, Document, NewDocument, UnknownDocKind};
pub use error::{DatabaseError, Result, StoreError};
pub use page::Page;
pub use recordings::{Recording, RecordingState, UnknownRecordingState};
pub use schema::SCHEMA_VERSION;
pub use store::{Backend, OpenOptions, Store};
pub use url::redact as redact_url;

/// Gregorian seconds (seconds since 0000-01-01T00:00:00Z, KAZOO's timestamps), always passed
/// in by the caller.
pub type Gregorian = u64;
