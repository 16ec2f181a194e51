//! KAZOO documents: accounts, users, devices, callflows, resources, storage.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::backend::{BeginWrite, RowExt};
use crate::error::{id_arg, text_arg, to_i64, to_u64, Result, StoreError};
use crate::{Gregorian, Store};

/// The kinds of document the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocKind {
    /// An account (its `account_id` is its own id).
    Account,
    /// A user of an account.
    User,
    /// A SIP device.
    Device,
    /// A callflow.
    Callflow,
    /// A carrier resource.
    Resource,
    /// The account's storage (recording upload targets).
    Storage,
}

impl DocKind {
    /// Every kind, in a fixed order.
    pub const ALL: [DocKind; 6] = [
        DocKind::Account,
        DocKind::User,
        DocKind::Device,
        DocKind::Callflow,
        DocKind::Resource,
        DocKind::Storage,
    ];

    /// The singular name stored in the database and used in errors: `"account"`, `"user"`,
    /// `"device"`, `"callflow"`, `"resource"`, `"storage"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Account => "account",
            DocKind::User => "user",
            DocKind::Device => "device",
            DocKind::Callflow => "callflow",
            DocKind::Resource => "resource",
            DocKind::Storage => "storage",
        }
    }

    /// Crossbar's collection name in URLs: `"accounts"`, `"users"`, `"devices"`, `"callflows"`,
    /// `"resources"`, and `"storage"` (KAZOO's storage endpoint is singular).
    pub fn collection(self) -> &'static str {
        match self {
            DocKind::Account => "accounts",
            DocKind::User => "users",
            DocKind::Device => "devices",
            DocKind::Callflow => "callflows",
            DocKind::Resource => "resources",
            DocKind::Storage => "storage",
        }
    }

    /// The kind whose [`collection`](DocKind::collection) name is `name`.
    pub fn from_collection(name: &str) -> Option<DocKind> {
        DocKind::ALL.into_iter().find(|k| k.collection() == name)
    }
}

impl fmt::Display for DocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string given to [`DocKind::from_str`] names no kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown document kind {0:?}")]
pub struct UnknownDocKind(pub String);

impl FromStr for DocKind {
    type Err = UnknownDocKind;

    /// Parses the singular name ([`DocKind::as_str`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DocKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownDocKind(s.to_owned()))
    }
}

/// A stored document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Its kind.
    pub kind: DocKind,
    /// Its id, unique per kind across all accounts.
    pub id: String,
    /// The owning account (an account's own id for an account).
    pub account_id: String,
    /// Revision: 1 when created, +1 on every replace.
    pub rev: u64,
    /// When it was created.
    pub created: Gregorian,
    /// When it was last written.
    pub modified: Gregorian,
    /// The JSON object as last written, without `_id` and `_rev` (the id and revision are the
    /// fields above; the API puts them in its envelope).
    pub body: Value,
}

/// A document to [`import`](Store::import).
#[derive(Debug, Clone, PartialEq)]
pub struct NewDocument {
    /// Its kind.
    pub kind: DocKind,
    /// The owning account (its own id for an account).
    pub account_id: String,
    /// Its id.
    pub id: String,
    /// A JSON object; `_id` and `_rev` are dropped.
    pub body: Value,
}

/// KAZOO's normalized account name (`kzd_accounts:normalize_name/1`): lower-cased, everything but
/// `a-z` and `0-9` removed. [`Store::find_user_login`] compares account names this way.
pub fn normalize_account_name(name: &str) -> String {
    name.chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        .collect()
}

/// A body checked and made ready to store.
struct Prepared {
    body: Value,
    json: String,
    name_key: Option<String>,
    realm_key: Option<String>,
}

fn prepare(kind: DocKind, body: Value) -> Result<Prepared> {
    let Value::Object(mut map) = body else {
        return Err(StoreError::NotAnObject);
    };
    map.remove("_id");
    map.remove("_rev");
    let (name_key, realm_key) = if kind == DocKind::Account {
        lookup_keys(&map)
    } else {
        (None, None)
    };
    let json = Value::Object(map);
    Ok(Prepared {
        json: json.to_string(),
        body: json,
        name_key,
        realm_key,
    })
}

fn lookup_keys(map: &Map<String, Value>) -> (Option<String>, Option<String>) {
    let name = map
        .get("name")
        .and_then(Value::as_str)
        .map(normalize_account_name)
        .filter(|s| !s.is_empty());
    let realm = map
        .get("realm")
        .and_then(Value::as_str)
        .map(str::to_lowercase)
        .filter(|s| !s.is_empty() && !s.contains('\0'));
    (name, realm)
}

pub(crate) fn parse_body(what: &str, json: &str) -> Result<Value> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        what: format!("{what}: body is not JSON ({e})"),
    })
}

/// Columns in the order [`document_from_row`] reads them.
const DOC_COLUMNS: &str = "kind, id, account_id, rev, created, modified, body";

fn document_from_row(row: &impl RowExt) -> Result<Document> {
    let kind_s = row.text(0)?;
    let id = row.text(1)?;
    let kind = kind_s
        .parse()
        .map_err(|e: UnknownDocKind| StoreError::Corrupt {
            what: format!("document {id:?}: {e}"),
        })?;
    Ok(Document {
        kind,
        account_id: row.text(2)?,
        rev: to_u64("rev", row.int(3)?)?,
        created: to_u64("created", row.int(4)?)?,
        modified: to_u64("modified", row.int(5)?)?,
        body: parse_body(&format!("{kind} {id:?}"), &row.text(6)?)?,
        id,
    })
}

fn check_ids(kind: DocKind, account_id: &str, id: &str) -> Result<()> {
    id_arg("account_id", account_id)?;
    id_arg("id", id)?;
    if kind == DocKind::Account && account_id != id {
        return Err(StoreError::AccountIdMismatch {
            id: id.to_owned(),
            account_id: account_id.to_owned(),
        });
    }
    Ok(())
}

const INSERT_DOC: &str = "INSERT INTO documents \
    (kind, id, account_id, rev, created, modified, name_key, realm_key, body) \
    VALUES ($1, $2, $3, 1, $4, $4, $5, $6, $7) ON CONFLICT (kind, id) DO NOTHING";

/// Why a write that names a document by kind, id and (maybe) revision matched no row: the
/// document is at another revision ([`StoreError::Conflict`]) or does not exist
/// ([`StoreError::NotFound`]). Rolls the transaction back.
macro_rules! missed_write {
    ($tx:expr, $kind:expr, $id:expr) => {{
        let current: Option<i64> =
            sqlx::query_scalar("SELECT rev FROM documents WHERE kind = $1 AND id = $2")
                .bind($kind.as_str())
                .bind($id)
                .fetch_optional(&mut *$tx)
                .await?;
        $tx.rollback().await?;
        match current {
            Some(rev) => StoreError::Conflict {
                current_rev: to_u64("rev", rev)?,
            },
            None => StoreError::NotFound {
                what: $kind.as_str(),
                id: $id.to_owned(),
            },
        }
    }};
}

/// # Documents
///
/// Every write is one transaction that also bumps [`Store::change_seq`]. Ids are unique per
/// kind across all accounts, and a document never changes account, so an API handler that has
/// checked a document's `account_id` (via [`Store::get_in_account`]) may pass its `rev` as
/// `expected_rev` to [`Store::replace`] / [`Store::delete`] and be sure to act on that same
/// document. Deletes are hard deletes: a deleted id is [`StoreError::NotFound`] and may be
/// created again (starting at revision 1).
impl Store {
    /// The document `kind`/`id`, or [`StoreError::NotFound`].
    pub async fn get(&self, kind: DocKind, id: &str) -> Result<Document> {
        text_arg("id", id)?;
        let sql = format!("SELECT {DOC_COLUMNS} FROM documents WHERE kind = $1 AND id = $2");
        let row = with_pool!(&self.pool, |p, is_pg| {
            match sqlx::query(&sql)
                .bind(kind.as_str())
                .bind(id)
                .fetch_optional(p)
                .await?
            {
                Some(row) => Some(document_from_row(&row)?),
                None => None,
            }
        });
        row.ok_or_else(|| StoreError::NotFound {
            what: kind.as_str(),
            id: id.to_owned(),
        })
    }

    /// [`Store::get`], but [`StoreError::NotFound`] also when the document belongs to another
    /// account than `account_id` (for an account, `account_id` must be its own id).
    pub async fn get_in_account(
        &self,
        account_id: &str,
        kind: DocKind,
        id: &str,
    ) -> Result<Document> {
        let doc = self.get(kind, id).await?;
        if doc.account_id != account_id {
            return Err(StoreError::NotFound {
                what: kind.as_str(),
                id: id.to_owned(),
            });
        }
        Ok(doc)
    }

    /// The documents of `kind` in `account_id`, ordered by id (bytewise). For
    /// [`DocKind::Account`] that is the account itself, if it exists.
    pub async fn list(&self, account_id: &str, kind: DocKind) -> Result<Vec<Document>> {
        text_arg("account_id", account_id)?;
        let sql = format!(
            "SELECT {DOC_COLUMNS} FROM documents WHERE account_id = $1 AND kind = $2 ORDER BY id"
        );
        with_pool!(&self.pool, |p, is_pg| {
            sqlx::query(&sql)
                .bind(account_id)
                .bind(kind.as_str())
                .fetch_all(p)
                .await?
                .iter()
                .map(document_from_row)
                .collect()
        })
    }

    /// Every document of every account, ordered by kind then id: what a process needs to build
    /// its call directory.
    pub async fn load_all(&self) -> Result<Vec<Document>> {
        let sql = format!("SELECT {DOC_COLUMNS} FROM documents ORDER BY kind, id");
        with_pool!(&self.pool, |p, is_pg| {
            sqlx::query(&sql)
                .fetch_all(p)
                .await?
                .iter()
                .map(document_from_row)
                .collect()
        })
    }

    /// Creates a document at revision 1.
    ///
    /// Fails with [`StoreError::AlreadyExists`] if `kind`/`id` exists (in any account),
    /// [`StoreError::NotAnObject`], [`StoreError::EmptyId`], or
    /// [`StoreError::AccountIdMismatch`] for an account whose `account_id` is not `id`.
    pub async fn create(
        &self,
        account_id: &str,
        kind: DocKind,
        id: &str,
        body: Value,
        now: Gregorian,
    ) -> Result<Document> {
        check_ids(kind, account_id, id)?;
        let now_i = to_i64("now", now)?;
        let prepared = prepare(kind, body)?;
        with_pool!(&self.pool, |p, is_pg| {
            let mut tx = p.begin_write().await?;
            let inserted = sqlx::query(INSERT_DOC)
                .bind(kind.as_str())
                .bind(id)
                .bind(account_id)
                .bind(now_i)
                .bind(prepared.name_key.as_deref())
                .bind(prepared.realm_key.as_deref())
                .bind(&prepared.json)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if inserted == 0 {
                tx.rollback().await?;
                return Err(StoreError::AlreadyExists {
                    kind,
                    id: id.to_owned(),
                });
            }
            bump_change_seq!(tx, is_pg);
            tx.commit().await?;
        });
        Ok(Document {
            kind,
            id: id.to_owned(),
            account_id: account_id.to_owned(),
            rev: 1,
            created: now,
            modified: now,
            body: prepared.body,
        })
    }

    /// Replaces a document's body, bumping its revision, in one transaction.
    ///
    /// With `expected_rev: Some(r)` the write happens only if the document is at revision `r`;
    /// otherwise it fails with [`StoreError::Conflict`] carrying the current revision and
    /// changes nothing. Of several concurrent replaces with the same `expected_rev`, exactly one
    /// succeeds. `None` overwrites whatever revision is there. A PATCH is a get, a merge by the
    /// caller, and a replace with the revision that was read.
    ///
    /// Fails with [`StoreError::NotFound`] if the document does not exist, and
    /// [`StoreError::NotAnObject`].
    pub async fn replace(
        &self,
        kind: DocKind,
        id: &str,
        expected_rev: Option<u64>,
        body: Value,
        now: Gregorian,
    ) -> Result<Document> {
        text_arg("id", id)?;
        let now_i = to_i64("now", now)?;
        let expected = expected_rev
            .map(|r| to_i64("expected_rev", r))
            .transpose()?;
        let prepared = prepare(kind, body)?;
        let (account_id, rev, created) = with_pool!(&self.pool, |p, is_pg| {
            let mut tx = p.begin_write().await?;
            let row = sqlx::query(
                "UPDATE documents SET rev = rev + 1, modified = $1, name_key = $2, \
                 realm_key = $3, body = $4 \
                 WHERE kind = $5 AND id = $6 AND ($7 IS NULL OR rev = $7) \
                 RETURNING account_id, rev, created",
            )
            .bind(now_i)
            .bind(prepared.name_key.as_deref())
            .bind(prepared.realm_key.as_deref())
            .bind(&prepared.json)
            .bind(kind.as_str())
            .bind(id)
            .bind(expected)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Err(missed_write!(tx, kind, id));
            };
            let fields = (row.text(0)?, row.int(1)?, row.int(2)?);
            bump_change_seq!(tx, is_pg);
            tx.commit().await?;
            fields
        });
        Ok(Document {
            kind,
            id: id.to_owned(),
            account_id,
            rev: to_u64("rev", rev)?,
            created: to_u64("created", created)?,
            modified: now,
            body: prepared.body,
        })
    }

    /// Deletes a document and returns it as it was, in one transaction.
    ///
    /// `expected_rev` works as for [`Store::replace`] ([`StoreError::Conflict`], nothing
    /// changed). Deleting a user also deletes its login and its tokens; deleting an account
    /// also deletes its API key, logins and tokens (its other documents, CDRs and recordings
    /// stay). Fails with [`StoreError::NotFound`] if the document does not exist.
    pub async fn delete(
        &self,
        kind: DocKind,
        id: &str,
        expected_rev: Option<u64>,
    ) -> Result<Document> {
        text_arg("id", id)?;
        let expected = expected_rev
            .map(|r| to_i64("expected_rev", r))
            .transpose()?;
        let sql = format!(
            "DELETE FROM documents WHERE kind = $1 AND id = $2 AND ($3 IS NULL OR rev = $3) \
             RETURNING {DOC_COLUMNS}"
        );
        with_pool!(&self.pool, |p, is_pg| {
            let mut tx = p.begin_write().await?;
            let row = sqlx::query(&sql)
                .bind(kind.as_str())
                .bind(id)
                .bind(expected)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else {
                return Err(missed_write!(tx, kind, id));
            };
            let doc = document_from_row(&row)?;
            match kind {
                DocKind::Account => {
                    for table in ["api_keys", "user_logins", "auth_tokens"] {
                        sqlx::query(&format!("DELETE FROM {table} WHERE account_id = $1"))
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                DocKind::User => {
                    for table in ["user_logins", "auth_tokens"] {
                        sqlx::query(&format!(
                            "DELETE FROM {table} WHERE account_id = $1 AND user_id = $2"
                        ))
                        .bind(&doc.account_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                _ => {}
            }
            bump_change_seq!(tx, is_pg);
            tx.commit().await?;
            Ok(doc)
        })
    }

    /// Inserts, in one transaction, every document whose kind/id does not exist yet (the
    /// others, including repeats within `docs`, are left alone) and returns how many were new.
    /// Running it twice with the same documents adds nothing the second time. New documents
    /// start at revision 1 with `created = modified = now`. Bumps the change sequence once if
    /// anything was added.
    ///
    /// Every document is checked before anything is written ([`StoreError::NotAnObject`],
    /// [`StoreError::EmptyId`], [`StoreError::AccountIdMismatch`]).
    pub async fn import(&self, docs: Vec<NewDocument>, now: Gregorian) -> Result<usize> {
        let now_i = to_i64("now", now)?;
        let mut prepared = Vec::with_capacity(docs.len());
        for d in docs {
            check_ids(d.kind, &d.account_id, &d.id)?;
            let body = prepare(d.kind, d.body)?;
            prepared.push((d.kind, d.account_id, d.id, body));
        }
        if prepared.is_empty() {
            return Ok(0);
        }
        with_pool!(&self.pool, |p, is_pg| {
            let mut tx = p.begin_write().await?;
            let mut added = 0usize;
            for (kind, account_id, id, body) in &prepared {
                let n = sqlx::query(INSERT_DOC)
                    .bind(kind.as_str())
                    .bind(id)
                    .bind(account_id)
                    .bind(now_i)
                    .bind(body.name_key.as_deref())
                    .bind(body.realm_key.as_deref())
                    .bind(&body.json)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n > 0 {
                    added += 1;
                }
            }
            if added > 0 {
                bump_change_seq!(tx, is_pg);
            }
            tx.commit().await?;
            Ok(added)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_round_trip_through_names_and_collections() {
        for k in DocKind::ALL {
            assert_eq!(k.as_str().parse::<DocKind>(), Ok(k));
            assert_eq!(DocKind::from_collection(k.collection()), Some(k));
        }
        assert_eq!(DocKind::from_collection("users"), Some(DocKind::User));
        assert_eq!(DocKind::from_collection("user"), None);
        assert!("users".parse::<DocKind>().is_err());
    }

    #[test]
    fn account_names_normalize_like_kazoo() {
        assert_eq!(normalize_account_name("Acme Corp."), "acmecorp");
        assert_eq!(normalize_account_name("ÄB-12"), "b12");
        assert_eq!(normalize_account_name(""), "");
    }

    #[test]
    fn bodies_lose_id_and_rev_and_accounts_get_lookup_keys() {
        let p = prepare(
            DocKind::Account,
            json!({"_id": "x", "_rev": "3-abc", "name": "Acme Corp", "realm": "SIP.Acme.COM"}),
        )
        .unwrap();
        assert_eq!(
            p.body,
            json!({"name": "Acme Corp", "realm": "SIP.Acme.COM"})
        );
        assert_eq!(p.name_key.as_deref(), Some("acmecorp"));
        assert_eq!(p.realm_key.as_deref(), Some("sip.acme.com"));
        let u = prepare(DocKind::User, json!({"name": "Acme"})).unwrap();
        assert_eq!(u.name_key, None);
        assert!(matches!(
            prepare(DocKind::User, json!([1])),
            Err(StoreError::NotAnObject)
        ));
    }
}
