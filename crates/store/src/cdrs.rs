//! Call detail records, one row per leg.

use serde_json::Value;

use crate::backend::RowExt;
use crate::documents::parse_body;
use crate::error::{id_arg, text_arg, to_i64, to_u64, Result, StoreError};
use crate::page::{decode_key, encode_key, limit, paginate, Page};
use crate::{Gregorian, Store};

/// One stored CDR (one leg of a call).
#[derive(Debug, Clone, PartialEq)]
pub struct Cdr {
    /// The account it belongs to.
    pub account_id: String,
    /// Its id, unique within the account.
    pub id: String,
    /// The interaction (all legs of one call share it).
    pub interaction_id: String,
    /// When the leg was created.
    pub created: Gregorian,
    /// The CDR as inserted (a JSON object).
    pub body: Value,
}

const COLUMNS: &str = "account_id, id, interaction_id, created, body";

fn cdr_from_row(row: &impl RowExt) -> Result<Cdr> {
    let id = row.text(1)?;
    Ok(Cdr {
        account_id: row.text(0)?,
        interaction_id: row.text(2)?,
        created: to_u64("created", row.int(3)?)?,
        body: parse_body(&format!("cdr {id:?}"), &row.text(4)?)?,
        id,
    })
}

fn key_of(cdr: &Cdr) -> String {
    // `created` came from an i64 column.
    encode_key(i64::try_from(cdr.created).unwrap_or(i64::MAX), &cdr.id)
}

/// # CDRs
///
/// Every query is filtered by account: an account never sees another's CDRs.
impl Store {
    /// Stores a CDR; `false` (and nothing changed) if `account_id`/`id` is already stored, so
    /// writing the same CDR again after a crash is harmless. `body` must be a JSON object.
    pub async fn insert_cdr(
        &self,
        account_id: &str,
        id: &str,
        interaction_id: &str,
        created: Gregorian,
        body: &Value,
    ) -> Result<bool> {
        id_arg("account_id", account_id)?;
        id_arg("id", id)?;
        text_arg("interaction_id", interaction_id)?;
        if !body.is_object() {
            return Err(StoreError::NotAnObject);
        }
        let created = to_i64("created", created)?;
        let json = body.to_string();
        with_pool!(&self.pool, |p, is_pg| {
            let n = sqlx::query(
                "INSERT INTO cdrs (account_id, id, interaction_id, created, body) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, id) DO NOTHING",
            )
            .bind(account_id)
            .bind(id)
            .bind(interaction_id)
            .bind(created)
            .bind(&json)
            .execute(p)
            .await?
            .rows_affected();
            Ok(n > 0)
        })
    }

    /// Stores several CDRs in one transaction (the CDR writer's batches: one commit for many
    /// legs instead of one each). Rows already stored are skipped, as by
    /// [`insert_cdr`](Self::insert_cdr). Returns how many were new.
    pub async fn insert_cdrs(&self, cdrs: &[Cdr]) -> Result<usize> {
        let mut rows = Vec::with_capacity(cdrs.len());
        for c in cdrs {
            id_arg("account_id", &c.account_id)?;
            id_arg("id", &c.id)?;
            text_arg("interaction_id", &c.interaction_id)?;
            if !c.body.is_object() {
                return Err(StoreError::NotAnObject);
            }
            rows.push((c, to_i64("created", c.created)?, c.body.to_string()));
        }
        with_pool!(&self.pool, |p, is_pg| {
            let mut tx = p.begin().await?;
            let mut new = 0;
            for (c, created, json) in &rows {
                let n = sqlx::query(
                    "INSERT INTO cdrs (account_id, id, interaction_id, created, body) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, id) DO NOTHING",
                )
                .bind(&c.account_id)
                .bind(&c.id)
                .bind(&c.interaction_id)
                .bind(*created)
                .bind(json)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                new += usize::from(n > 0);
            }
            tx.commit().await?;
            Ok(new)
        })
    }

    /// One page of the account's CDRs created in `created_from..=created_to`, newest first.
    ///
    /// `start_key` is `None` for the first page, then the previous page's
    /// [`Page::next_start_key`]. Fails with [`StoreError::InvalidPageSize`] for 0 and
    /// [`StoreError::InvalidStartKey`] for a key this store did not make.
    pub async fn list_cdrs(
        &self,
        account_id: &str,
        created_from: Gregorian,
        created_to: Gregorian,
        page_size: usize,
        start_key: Option<&str>,
    ) -> Result<Page<Cdr>> {
        text_arg("account_id", account_id)?;
        let lim = limit(page_size)?;
        // Bounds beyond the column's range are clamped to it.
        let from = i64::try_from(created_from).unwrap_or(i64::MAX);
        let to = i64::try_from(created_to).unwrap_or(i64::MAX);
        let (key_created, key_id) = match start_key {
            Some(k) => {
                let (c, id) = decode_key(k)?;
                (Some(c), Some(id))
            }
            None => (None, None),
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM cdrs WHERE account_id = $1 AND created >= $2 AND created <= $3 \
             AND ($4 IS NULL OR created < $4 OR (created = $4 AND id <= $5)) \
             ORDER BY created DESC, id DESC LIMIT $6"
        );
        let rows = with_pool!(&self.pool, |p, is_pg| {
            sqlx::query(&sql)
                .bind(account_id)
                .bind(from)
                .bind(to)
                .bind(key_created)
                .bind(key_id.as_deref())
                .bind(lim)
                .fetch_all(p)
                .await?
                .iter()
                .map(cdr_from_row)
                .collect::<Result<Vec<_>>>()?
        });
        Ok(paginate(rows, page_size, key_of))
    }

    /// The CDR `id` of `account_id`, or [`StoreError::NotFound`] (also when it belongs to
    /// another account).
    pub async fn get_cdr(&self, account_id: &str, id: &str) -> Result<Cdr> {
        text_arg("account_id", account_id)?;
        text_arg("id", id)?;
        let sql = format!("SELECT {COLUMNS} FROM cdrs WHERE account_id = $1 AND id = $2");
        let cdr = with_pool!(&self.pool, |p, is_pg| {
            match sqlx::query(&sql)
                .bind(account_id)
                .bind(id)
                .fetch_optional(p)
                .await?
            {
                Some(row) => Some(cdr_from_row(&row)?),
                None => None,
            }
        });
        cdr.ok_or_else(|| StoreError::NotFound {
            what: "cdr",
            id: id.to_owned(),
        })
    }

    /// Every leg of one interaction in `account_id`, oldest first (ties by id). Empty if there is
    /// none.
    pub async fn cdr_legs(&self, account_id: &str, interaction_id: &str) -> Result<Vec<Cdr>> {
        text_arg("account_id", account_id)?;
        text_arg("interaction_id", interaction_id)?;
        let sql = format!(
            "SELECT {COLUMNS} FROM cdrs WHERE account_id = $1 AND interaction_id = $2 \
             ORDER BY created, id"
        );
        with_pool!(&self.pool, |p, is_pg| {
            sqlx::query(&sql)
                .bind(account_id)
                .bind(interaction_id)
                .fetch_all(p)
                .await?
                .iter()
                .map(cdr_from_row)
                .collect()
        })
    }
}
