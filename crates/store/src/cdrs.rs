//! Call detail records, one row per leg.

use serde_json::Value;

use crate::backend::RowExt;
use crate::documents::parse_body;
use crate::error::{id_arg, text_arg, to_i64, to_u64, Result, StoreError};
use crate::page::{decode_key, encode_key, limit, paginate, Page};
use crate::{Gregorian, Store};

/// A CDR to store whose body is already JSON text (see [`Store::insert_cdr_texts`]).
#[derive(Debug, Clone, Copy)]
pub struct CdrText<'a, B = String> {
    /// The account it belongs to.
    pub account_id: &'a str,
    /// Its id, unique within the account.
    pub id: &'a str,
    /// The interaction.
    pub interaction_id: &'a str,
    /// `custom_channel_vars.owner_id` of the body, when it is a string.
    pub owner_id: Option<&'a str>,
    /// When the leg was created.
    pub created: Gregorian,
    /// The CDR, a JSON object as text.
    pub body: B,
}

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

/// Most rows in one multi-row `INSERT` (6 parameters each, far below either backend's limit).
pub const ROWS_PER_INSERT: usize = 128;

/// `INSERT ... VALUES (..), (..), ...` for `rows` rows. Written into one string without a
/// `format!` per row: the writer builds one for every batch, and at a few calls per second (a
/// batch of two CDRs) building the full 128-row text each time cost more than the rows' insert.
fn insert_sql(rows: usize) -> String {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(100 + rows * 48);
    sql.push_str(
        "INSERT INTO cdrs (account_id, id, interaction_id, owner_id, created, body) VALUES ",
    );
    for r in 0..rows {
        let b = r * 6;
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 1..=6 {
            if c > 1 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "${}", b + c);
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT (account_id, id) DO NOTHING");
    sql
}

/// The SQL for `rows` rows, a power of two up to [`ROWS_PER_INSERT`]; each built once.
fn insert_sql_for(rows: usize) -> &'static str {
    const FORMS: usize = ROWS_PER_INSERT.trailing_zeros() as usize + 1;
    static SQL: [std::sync::OnceLock<String>; FORMS] =
        [const { std::sync::OnceLock::new() }; FORMS];
    debug_assert!(rows.is_power_of_two() && rows <= ROWS_PER_INSERT);
    SQL[rows.trailing_zeros() as usize].get_or_init(|| insert_sql(rows))
}

/// The user a leg belongs to: `custom_channel_vars.owner_id`, when it is a string.
pub fn owner_of(body: &Value) -> Option<&str> {
    body.get("custom_channel_vars")?.get("owner_id")?.as_str()
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
        let cdr = Cdr {
            account_id: account_id.to_owned(),
            id: id.to_owned(),
            interaction_id: interaction_id.to_owned(),
            created,
            body: body.clone(),
        };
        Ok(self.insert_cdrs(std::slice::from_ref(&cdr)).await? > 0)
    }

    /// Stores several CDRs at once (the CDR writer's batches): one multi-row `INSERT` per
    /// [`ROWS_PER_INSERT`] rows, all in one transaction, so a batch costs one commit and a few
    /// statements instead of a statement and a commit per leg. Rows already stored (also twice
    /// in `cdrs`) are skipped, as by [`insert_cdr`](Self::insert_cdr). Returns how many were
    /// new. Nothing is written if any row is invalid.
    ///
    /// Only what the API filters on becomes a column of its own (account, id, interaction,
    /// `custom_channel_vars.owner_id`, created); the rest stays in the JSON body.
    pub async fn insert_cdrs(&self, cdrs: &[Cdr]) -> Result<usize> {
        let mut texts = Vec::with_capacity(cdrs.len());
        for c in cdrs {
            if !c.body.is_object() {
                return Err(StoreError::NotAnObject);
            }
            texts.push(CdrText {
                account_id: &c.account_id,
                id: &c.id,
                interaction_id: &c.interaction_id,
                owner_id: owner_of(&c.body),
                created: c.created,
                body: c.body.to_string(),
            });
        }
        self.insert_cdr_texts(&texts).await
    }

    /// [`insert_cdrs`](Self::insert_cdrs) for CDRs already serialized (the server serializes
    /// each CDR once, for its JSON-lines file and for this row). `body` must be the text of a
    /// JSON object whose `custom_channel_vars.owner_id` is `owner_id`; it is stored as given.
    ///
    /// Each chunk of rows is padded to a power of two rows (at most [`ROWS_PER_INSERT`]) by
    /// repeating its last row, which the `ON CONFLICT` skips: the statement text then takes one
    /// of eight forms, all prepared once per connection and cached, instead of one per batch
    /// size.
    pub async fn insert_cdr_texts<B: AsRef<str>>(&self, cdrs: &[CdrText<'_, B>]) -> Result<usize> {
        let mut rows = Vec::with_capacity(cdrs.len());
        for c in cdrs {
            id_arg("account_id", c.account_id)?;
            id_arg("id", c.id)?;
            text_arg("interaction_id", c.interaction_id)?;
            let body = c.body.as_ref();
            if !(body.starts_with('{') && body.ends_with('}')) {
                return Err(StoreError::NotAnObject);
            }
            text_arg("owner_id", c.owner_id.unwrap_or_default())?;
            rows.push((c, to_i64("created", c.created)?, body));
        }
        if rows.is_empty() {
            return Ok(0);
        }
        let chunks = rows.chunks(ROWS_PER_INSERT);
        with_pool!(&self.pool, |p, is_pg| {
            // One statement alone is atomic; several share a transaction.
            let mut tx = if rows.len() > ROWS_PER_INSERT {
                Some(p.begin().await?)
            } else {
                None
            };
            let mut new = 0;
            for chunk in chunks {
                let size = chunk.len().next_power_of_two();
                let mut q = sqlx::query(insert_sql_for(size));
                let last = chunk.last().expect("chunks are not empty");
                for (c, created, json) in chunk
                    .iter()
                    .chain(std::iter::repeat_n(last, size - chunk.len()))
                {
                    q = q
                        .bind(c.account_id)
                        .bind(c.id)
                        .bind(c.interaction_id)
                        .bind(c.owner_id)
                        .bind(*created)
                        .bind(*json);
                }
                let done = match tx.as_mut() {
                    Some(tx) => q.execute(&mut **tx).await?,
                    None => q.execute(p).await?,
                };
                new += done.rows_affected() as usize;
            }
            if let Some(tx) = tx {
                tx.commit().await?;
            }
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
        self.list_owned_cdrs(
            account_id,
            None,
            created_from,
            created_to,
            page_size,
            start_key,
        )
        .await
    }

    /// [`list_cdrs`](Self::list_cdrs) limited, when `owner_id` is given, to the legs whose
    /// `custom_channel_vars.owner_id` is that user: the filter is part of the query, so every
    /// page but the last is full.
    pub async fn list_owned_cdrs(
        &self,
        account_id: &str,
        owner_id: Option<&str>,
        created_from: Gregorian,
        created_to: Gregorian,
        page_size: usize,
        start_key: Option<&str>,
    ) -> Result<Page<Cdr>> {
        text_arg("account_id", account_id)?;
        text_arg("owner_id", owner_id.unwrap_or_default())?;
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
        // Two statements rather than `($7 IS NULL OR owner_id = $7)`, which no index serves.
        let owner_filter = if owner_id.is_some() {
            "AND owner_id = $7 "
        } else {
            "AND $7 IS NULL "
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM cdrs WHERE account_id = $1 {owner_filter}\
             AND created >= $2 AND created <= $3 \
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
                .bind(owner_id)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_sql_numbers_six_parameters_per_row() {
        assert_eq!(
            insert_sql(2),
            "INSERT INTO cdrs (account_id, id, interaction_id, owner_id, created, body) VALUES \
             ($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12) \
             ON CONFLICT (account_id, id) DO NOTHING"
        );
        assert_eq!(insert_sql_for(2), insert_sql(2));
        let full = insert_sql_for(ROWS_PER_INSERT);
        assert!(full.contains("($763, $764, $765, $766, $767, $768) ON CONFLICT"));
        // the column list, the rows, ON CONFLICT's key
        assert_eq!(full.matches('(').count(), ROWS_PER_INSERT + 2);
    }
}
