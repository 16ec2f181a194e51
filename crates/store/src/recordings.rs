//! Recordings metadata (the audio itself lives in the spool or the upload target).

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::backend::RowExt;
use crate::documents::parse_body;
use crate::error::{id_arg, text_arg, to_i64, to_u64, Result, StoreError};
use crate::page::{decode_key, encode_key, limit, paginate, Page};
use crate::{Gregorian, Store};

/// Where a recording is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordingState {
    /// Being recorded.
    Recording,
    /// Recorded, waiting to be uploaded.
    Finished,
    /// Being uploaded.
    Uploading,
    /// Stored at the upload target.
    Stored,
    /// Uploading failed for good (see `last_error`).
    Failed,
    /// Kept in the local spool only (no upload target).
    Local,
    /// Thrown away (e.g. too short, or by policy).
    Discarded,
}

impl RecordingState {
    /// Every state.
    pub const ALL: [RecordingState; 7] = [
        RecordingState::Recording,
        RecordingState::Finished,
        RecordingState::Uploading,
        RecordingState::Stored,
        RecordingState::Failed,
        RecordingState::Local,
        RecordingState::Discarded,
    ];

    /// The stored name: `recording`, `finished`, `uploading`, `stored`, `failed`, `local`,
    /// `discarded`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingState::Recording => "recording",
            RecordingState::Finished => "finished",
            RecordingState::Uploading => "uploading",
            RecordingState::Stored => "stored",
            RecordingState::Failed => "failed",
            RecordingState::Local => "local",
            RecordingState::Discarded => "discarded",
        }
    }
}

impl fmt::Display for RecordingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string given to [`RecordingState::from_str`] names no state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown recording state {0:?}")]
pub struct UnknownRecordingState(pub String);

impl FromStr for RecordingState {
    type Err = UnknownRecordingState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordingState::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownRecordingState(s.to_owned()))
    }
}

/// A recording's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// Its id, unique within the account.
    pub id: String,
    /// The account it belongs to.
    pub account_id: String,
    /// The SIP Call-ID of the recorded leg.
    pub call_id: String,
    /// The interaction the call belongs to.
    pub interaction_id: String,
    /// Where it is in its life.
    pub state: RecordingState,
    /// Why the last upload attempt failed, if it did.
    pub last_error: Option<String>,
    /// When recording started. Kept from the first upsert.
    pub created: Gregorian,
    /// The rest of the metadata (a JSON object: from, to, duration_ms, format, url, ...).
    pub body: Value,
}

const COLUMNS: &str = "id, account_id, call_id, interaction_id, state, last_error, created, body";

fn recording_from_row(row: &impl RowExt) -> Result<Recording> {
    let id = row.text(0)?;
    let state = row.text(4)?;
    let state = state
        .parse()
        .map_err(|e: UnknownRecordingState| StoreError::Corrupt {
            what: format!("recording {id:?}: {e}"),
        })?;
    Ok(Recording {
        account_id: row.text(1)?,
        call_id: row.text(2)?,
        interaction_id: row.text(3)?,
        state,
        last_error: row.opt_text(5)?,
        created: to_u64("created", row.int(6)?)?,
        body: parse_body(&format!("recording {id:?}"), &row.text(7)?)?,
        id,
    })
}

/// Most rows in one multi-row upsert (8 parameters each).
pub const ROWS_PER_UPSERT: usize = 64;

/// `INSERT ... VALUES (..), ... ON CONFLICT DO UPDATE` for `rows` rows.
fn upsert_sql(rows: usize) -> String {
    let mut sql = format!("INSERT INTO recordings ({COLUMNS}) VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        let params: Vec<String> = (1..=8).map(|i| format!("${}", r * 8 + i)).collect();
        sql.push_str(&format!("({})", params.join(", ")));
    }
    sql.push_str(
        " ON CONFLICT (account_id, id) DO UPDATE SET call_id = excluded.call_id, \
         interaction_id = excluded.interaction_id, state = excluded.state, \
         last_error = excluded.last_error, body = excluded.body",
    );
    sql
}

fn key_of(r: &Recording) -> String {
    encode_key(i64::try_from(r.created).unwrap_or(i64::MAX), &r.id)
}

/// # Recordings
///
/// Every query is filtered by account: an account never sees another's recordings. None of
/// these writes bump [`Store::change_seq`].
impl Store {
    /// Inserts the recording, or updates every field of the existing `account_id`/`id` except
    /// `created` (kept from the first insert so paging stays stable), atomically.
    /// `body` must be a JSON object.
    pub async fn upsert_recording(&self, rec: &Recording) -> Result<()> {
        self.upsert_recordings(std::slice::from_ref(rec)).await
    }

    /// [`upsert_recording`](Self::upsert_recording) for several recordings in one multi-row
    /// statement per [`ROWS_PER_UPSERT`] rows, in one transaction. When one recording appears
    /// more than once, the last one wins (as if upserted in order). Nothing is written if any
    /// row is invalid.
    pub async fn upsert_recordings(&self, recs: &[Recording]) -> Result<()> {
        let mut rows: Vec<(&Recording, i64, String)> = Vec::with_capacity(recs.len());
        for rec in recs {
            id_arg("account_id", &rec.account_id)?;
            id_arg("id", &rec.id)?;
            text_arg("call_id", &rec.call_id)?;
            text_arg("interaction_id", &rec.interaction_id)?;
            text_arg("last_error", rec.last_error.as_deref().unwrap_or_default())?;
            if !rec.body.is_object() {
                return Err(StoreError::NotAnObject);
            }
            let created = to_i64("created", rec.created)?;
            // One statement may not update a row twice (PostgreSQL): keep the last.
            if let Some(i) = rows
                .iter()
                .position(|(r, _, _)| r.account_id == rec.account_id && r.id == rec.id)
            {
                let first_created = rows[i].1;
                rows.remove(i);
                rows.push((rec, first_created, rec.body.to_string()));
            } else {
                rows.push((rec, created, rec.body.to_string()));
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        with_pool!(&self.pool, |p, is_pg| {
            let mut tx = if rows.len() > ROWS_PER_UPSERT {
                Some(p.begin().await?)
            } else {
                None
            };
            for chunk in rows.chunks(ROWS_PER_UPSERT) {
                let sql = upsert_sql(chunk.len());
                let mut q = sqlx::query(&sql);
                for (rec, created, json) in chunk {
                    q = q
                        .bind(&rec.id)
                        .bind(&rec.account_id)
                        .bind(&rec.call_id)
                        .bind(&rec.interaction_id)
                        .bind(rec.state.as_str())
                        .bind(rec.last_error.as_deref())
                        .bind(*created)
                        .bind(json);
                }
                match tx.as_mut() {
                    Some(tx) => q.execute(&mut **tx).await?,
                    None => q.execute(p).await?,
                };
            }
            if let Some(tx) = tx {
                tx.commit().await?;
            }
        });
        Ok(())
    }

    /// One page of the account's recordings, newest first; paging as for
    /// [`Store::list_cdrs`].
    pub async fn list_recordings(
        &self,
        account_id: &str,
        page_size: usize,
        start_key: Option<&str>,
    ) -> Result<Page<Recording>> {
        text_arg("account_id", account_id)?;
        let lim = limit(page_size)?;
        let (key_created, key_id) = match start_key {
            Some(k) => {
                let (c, id) = decode_key(k)?;
                (Some(c), Some(id))
            }
            None => (None, None),
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM recordings WHERE account_id = $1 \
             AND ($2 IS NULL OR created < $2 OR (created = $2 AND id <= $3)) \
             ORDER BY created DESC, id DESC LIMIT $4"
        );
        let rows = with_pool!(&self.pool, |p, is_pg| {
            sqlx::query(&sql)
                .bind(account_id)
                .bind(key_created)
                .bind(key_id.as_deref())
                .bind(lim)
                .fetch_all(p)
                .await?
                .iter()
                .map(recording_from_row)
                .collect::<Result<Vec<_>>>()?
        });
        Ok(paginate(rows, page_size, key_of))
    }

    /// The recording `id` of `account_id`, or [`StoreError::NotFound`] (also when it belongs
    /// to another account).
    pub async fn get_recording(&self, account_id: &str, id: &str) -> Result<Recording> {
        text_arg("account_id", account_id)?;
        text_arg("id", id)?;
        let sql = format!("SELECT {COLUMNS} FROM recordings WHERE account_id = $1 AND id = $2");
        let rec = with_pool!(&self.pool, |p, is_pg| {
            match sqlx::query(&sql)
                .bind(account_id)
                .bind(id)
                .fetch_optional(p)
                .await?
            {
                Some(row) => Some(recording_from_row(&row)?),
                None => None,
            }
        });
        rec.ok_or_else(|| StoreError::NotFound {
            what: "recording",
            id: id.to_owned(),
        })
    }

    /// Deletes the metadata of recording `id` of `account_id` (not the audio), or
    /// [`StoreError::NotFound`].
    pub async fn delete_recording(&self, account_id: &str, id: &str) -> Result<()> {
        text_arg("account_id", account_id)?;
        text_arg("id", id)?;
        let n = with_pool!(&self.pool, |p, is_pg| {
            sqlx::query("DELETE FROM recordings WHERE account_id = $1 AND id = $2")
                .bind(account_id)
                .bind(id)
                .execute(p)
                .await?
                .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "recording",
                id: id.to_owned(),
            });
        }
        Ok(())
    }

    /// At most `max` of the account's recordings started in `created_from..=created_to`,
    /// newest first (by the `(account_id, created)` index): the recordings of a span of calls,
    /// e.g. one page of interactions, found with one query.
    pub async fn recordings_created_between(
        &self,
        account_id: &str,
        created_from: Gregorian,
        created_to: Gregorian,
        max: usize,
    ) -> Result<Vec<Recording>> {
        text_arg("account_id", account_id)?;
        let lim = limit(max)? - 1;
        let from = i64::try_from(created_from).unwrap_or(i64::MAX);
        let to = i64::try_from(created_to).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {COLUMNS} FROM recordings WHERE account_id = $1 AND created >= $2 \
             AND created <= $3 ORDER BY created DESC, id DESC LIMIT $4"
        );
        with_pool!(&self.pool, |p, is_pg| {
            sqlx::query(&sql)
                .bind(account_id)
                .bind(from)
                .bind(to)
                .bind(lim)
                .fetch_all(p)
                .await?
                .iter()
                .map(recording_from_row)
                .collect()
        })
    }
}
