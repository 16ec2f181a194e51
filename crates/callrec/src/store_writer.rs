//! Writes CDRs and recording metadata to the store without making anyone wait for it. Rows go
//! through a channel to one task; when the database cannot take them they are appended to a
//! backlog file (`<data_dir>/store-backlog.jsonl`, fsynced) and written, in order, once the
//! database is back — also after a restart. Nothing is lost while the database is down, and
//! calls never wait on it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use callrec_store::{Recording, RecordingState, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

/// One row for the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "row", rename_all = "snake_case")]
pub enum Row {
    /// A leg's CDR.
    Cdr {
        /// Its account.
        account_id: String,
        /// CDR id (the leg's Call-ID).
        id: String,
        /// The interaction it belongs to.
        interaction_id: String,
        /// Gregorian seconds.
        created: u64,
        /// The CDR.
        body: Value,
    },
    /// A recording's metadata and state.
    Recording {
        /// Recording id.
        id: String,
        /// Its account.
        account_id: String,
        /// The recorded leg's Call-ID.
        call_id: String,
        /// The interaction.
        interaction_id: String,
        /// `recording`, `finished`, `local`, `discarded`, ...
        state: String,
        /// Why it is where it is.
        last_error: Option<String>,
        /// Gregorian seconds.
        created: u64,
        /// The metadata.
        body: Value,
    },
}

/// Counters of the writer.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Rows written.
    pub written: AtomicU64,
    /// Rows waiting in the backlog file.
    pub backlog: AtomicU64,
}

/// The handle rows are sent to.
#[derive(Debug, Clone)]
pub struct StoreWriter {
    tx: mpsc::UnboundedSender<Row>,
    stats: Arc<WriterStats>,
}

impl StoreWriter {
    /// Starts the writer; first replays the backlog file left by an earlier run.
    pub fn spawn(store: Store, data_dir: &Path) -> StoreWriter {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(WriterStats::default());
        let backlog = data_dir.join("store-backlog.jsonl");
        tokio::spawn(run(store, rx, backlog, stats.clone()));
        StoreWriter { tx, stats }
    }

    /// Queues a row (never waits).
    pub fn write(&self, row: Row) {
        let _ = self.tx.send(row);
    }

    /// The writer's counters.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }
}

/// Most rows written in one transaction.
const BATCH: usize = 256;

/// Writes rows in order: consecutive CDRs in one transaction, recordings one by one.
async fn write_rows(store: &Store, rows: &[Row]) -> Result<(), callrec_store::StoreError> {
    let mut cdrs = Vec::new();
    for row in rows {
        match row {
            Row::Cdr {
                account_id,
                id,
                interaction_id,
                created,
                body,
            } => cdrs.push(callrec_store::Cdr {
                account_id: account_id.clone(),
                id: id.clone(),
                interaction_id: interaction_id.clone(),
                created: *created,
                body: body.clone(),
            }),
            Row::Recording { .. } => {
                if !cdrs.is_empty() {
                    store.insert_cdrs(&std::mem::take(&mut cdrs)).await?;
                }
                write_row(store, row).await?;
            }
        }
    }
    if !cdrs.is_empty() {
        store.insert_cdrs(&cdrs).await?;
    }
    Ok(())
}

async fn write_row(store: &Store, row: &Row) -> Result<(), callrec_store::StoreError> {
    match row {
        Row::Cdr {
            account_id,
            id,
            interaction_id,
            created,
            body,
        } => store
            .insert_cdr(account_id, id, interaction_id, *created, body)
            .await
            .map(|_| ()),
        Row::Recording {
            id,
            account_id,
            call_id,
            interaction_id,
            state,
            last_error,
            created,
            body,
        } => {
            let state = state.parse().unwrap_or(RecordingState::Finished);
            store
                .upsert_recording(&Recording {
                    id: id.clone(),
                    account_id: account_id.clone(),
                    call_id: call_id.clone(),
                    interaction_id: interaction_id.clone(),
                    state,
                    last_error: last_error.clone(),
                    created: *created,
                    body: body.clone(),
                })
                .await
        }
    }
}

fn append(path: &PathBuf, row: &Row) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut line = serde_json::to_vec(row).map_err(std::io::Error::other)?;
    line.push(b'\n');
    f.write_all(&line)?;
    f.sync_data()
}

fn read_backlog(path: &PathBuf) -> Vec<Row> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Writes the backlog in order; on success removes the file. Returns whether it is empty now.
async fn drain_backlog(store: &Store, path: &PathBuf, stats: &WriterStats) -> bool {
    let rows = read_backlog(path);
    if rows.is_empty() {
        let _ = std::fs::remove_file(path);
        stats.backlog.store(0, Ordering::Relaxed);
        return true;
    }
    for chunk in rows.chunks(BATCH) {
        if write_rows(store, chunk).await.is_err() {
            return false;
        }
        stats
            .written
            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
    // Every row is idempotent (CDR by id, recording by id): a crash between the writes and
    // this removal only writes them again.
    let _ = std::fs::remove_file(path);
    stats.backlog.store(0, Ordering::Relaxed);
    tracing::info!(rows = rows.len(), "store backlog written");
    true
}

async fn run(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<Row>,
    backlog: PathBuf,
    stats: Arc<WriterStats>,
) {
    let mut backlogged = backlog.exists() && {
        stats
            .backlog
            .store(read_backlog(&backlog).len() as u64, Ordering::Relaxed);
        !drain_backlog(&store, &backlog, &stats).await
    };
    let mut retry = tokio::time::interval(Duration::from_secs(2));
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            row = rx.recv() => {
                let Some(row) = row else { break };
                // Whatever else is queued goes in the same transaction.
                let mut batch = vec![row];
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                if !backlogged {
                    match write_rows(&store, &batch).await {
                        Ok(()) => {
                            stats.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
                            continue;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "store unavailable: CDRs and recording metadata are kept in the backlog file until it is back");
                            backlogged = true;
                        }
                    }
                }
                // Keep the order: once anything waits, everything waits behind it.
                for row in &batch {
                    match append(&backlog, row) {
                        Ok(()) => {
                            stats.backlog.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => tracing::error!(error = %e, file = %backlog.display(), "cannot append to the store backlog"),
                    }
                }
            }
            _ = retry.tick(), if backlogged => {
                backlogged = !drain_backlog(&store, &backlog, &stats).await;
            }
        }
    }
    if backlogged {
        let _ = drain_backlog(&store, &backlog, &stats).await;
    }
}

/// The row of a CDR, or `None` when it names no account (nothing to file it under).
pub fn cdr_row(cdr: &Value) -> Option<Row> {
    let ccv = cdr.get("custom_channel_vars");
    let account_id = ccv
        .and_then(|c| c.get("account_id"))
        .and_then(Value::as_str)?
        .to_owned();
    let id = cdr.get("call_id").and_then(Value::as_str)?.to_owned();
    let interaction_id = cdr
        .get("interaction_id")
        .or_else(|| ccv.and_then(|c| c.get("interaction_id")))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let created = cdr
        .get("timestamp")
        .and_then(|t| {
            t.as_u64()
                .or_else(|| t.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or_default();
    let mut body = cdr.clone();
    if let Some(m) = body.as_object_mut() {
        m.insert("id".into(), Value::String(id.clone()));
    }
    Some(Row::Cdr {
        account_id,
        id,
        interaction_id,
        created,
        body,
    })
}
