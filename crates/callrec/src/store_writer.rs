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
use tokio::sync::{mpsc, oneshot};

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
        body: CdrBody,
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

/// A CDR's body as the store takes it: its JSON text, serialized once on the engine thread, and
/// its `custom_channel_vars.owner_id`. In the backlog file it is the JSON object itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "Value", from = "Value")]
pub struct CdrBody {
    text: Arc<str>,
    owner_id: Option<String>,
}

impl CdrBody {
    fn of(body: &Value, text: Arc<str>) -> CdrBody {
        CdrBody {
            text,
            owner_id: callrec_store::cdr_owner(body).map(str::to_owned),
        }
    }
}

impl From<Value> for CdrBody {
    fn from(body: Value) -> CdrBody {
        let text = body.to_string().into();
        CdrBody::of(&body, text)
    }
}

impl From<CdrBody> for Value {
    fn from(body: CdrBody) -> Value {
        serde_json::from_str(&body.text).unwrap_or_default()
    }
}

/// Counters of the writer.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Rows written.
    pub written: AtomicU64,
    /// Rows waiting in the backlog file.
    pub backlog: AtomicU64,
}

/// What the writer task receives.
#[derive(Debug)]
enum Msg {
    Row(Row),
    /// Write everything queued before this now, then answer.
    Flush(oneshot::Sender<()>),
}

/// The handle rows are sent to.
#[derive(Debug, Clone)]
pub struct StoreWriter {
    tx: mpsc::UnboundedSender<Msg>,
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
        let _ = self.tx.send(Msg::Row(row));
    }

    /// Waits (at most `limit`) until every row queued before this call is in the database or
    /// in the backlog file (at shutdown: rows wait up to [`FLUSH_DELAY`] for their batch).
    /// Returns whether they are.
    pub async fn flush(&self, limit: Duration) -> bool {
        let (done_tx, done_rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(done_tx)).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(limit, done_rx).await, Ok(Ok(())))
    }

    /// The writer's counters.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }
}

/// Most rows written in one transaction.
const BATCH: usize = 512;

/// How long the first row of a batch waits for more. Rows arrive a few hundred a second under
/// load (two CDRs per call): one commit per batch of this many milliseconds instead of one per
/// row is what keeps the database's share of a call's CPU small (docs/benchmarks.md).
pub const FLUSH_DELAY: Duration = Duration::from_millis(250);

/// A row as the store takes it.
enum StoreRow {
    Cdr(CdrRow),
    Recording(Recording),
}

/// A CDR row's fields.
struct CdrRow {
    account_id: String,
    id: String,
    interaction_id: String,
    created: u64,
    body: CdrBody,
}

fn to_store_row(row: Row) -> StoreRow {
    match row {
        Row::Cdr {
            account_id,
            id,
            interaction_id,
            created,
            body,
        } => StoreRow::Cdr(CdrRow {
            account_id,
            id,
            interaction_id,
            created,
            body,
        }),
        Row::Recording {
            id,
            account_id,
            call_id,
            interaction_id,
            state,
            last_error,
            created,
            body,
        } => StoreRow::Recording(Recording {
            id,
            account_id,
            call_id,
            interaction_id,
            state: state.parse().unwrap_or(RecordingState::Finished),
            last_error,
            created,
            body,
        }),
    }
}

fn cdr_to_row(c: CdrRow) -> Row {
    Row::Cdr {
        account_id: c.account_id,
        id: c.id,
        interaction_id: c.interaction_id,
        created: c.created,
        body: c.body,
    }
}

fn recording_to_row(r: Recording) -> Row {
    Row::Recording {
        id: r.id,
        account_id: r.account_id,
        call_id: r.call_id,
        interaction_id: r.interaction_id,
        state: r.state.as_str().to_owned(),
        last_error: r.last_error,
        created: r.created,
        body: r.body,
    }
}

/// Writes a batch: every CDR in one multi-row insert, every recording in one multi-row upsert
/// (a recording's later rows win, as in order). On failure hands the rows not written back,
/// in their order within each table (the two tables are independent).
async fn write_rows(
    store: &Store,
    rows: Vec<Row>,
) -> Result<(), (callrec_store::StoreError, Vec<Row>)> {
    let (mut cdrs, mut recordings) = (Vec::new(), Vec::new());
    for row in rows {
        match to_store_row(row) {
            StoreRow::Cdr(c) => cdrs.push(c),
            StoreRow::Recording(r) => recordings.push(r),
        }
    }
    if !cdrs.is_empty() {
        let texts: Vec<_> = cdrs
            .iter()
            .map(|c| callrec_store::CdrText {
                account_id: &c.account_id,
                id: &c.id,
                interaction_id: &c.interaction_id,
                owner_id: c.body.owner_id.as_deref(),
                created: c.created,
                body: &*c.body.text,
            })
            .collect();
        let written = store.insert_cdr_texts(&texts).await;
        drop(texts);
        if let Err(e) = written {
            let rows = cdrs
                .into_iter()
                .map(cdr_to_row)
                .chain(recordings.into_iter().map(recording_to_row))
                .collect();
            return Err((e, rows));
        }
    }
    if !recordings.is_empty() {
        if let Err(e) = store.upsert_recordings(&recordings).await {
            return Err((e, recordings.into_iter().map(recording_to_row).collect()));
        }
    }
    Ok(())
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
    let total = rows.len();
    for chunk in rows.chunks(BATCH) {
        if write_rows(store, chunk.to_vec()).await.is_err() {
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
    tracing::info!(rows = total, "store backlog written");
    true
}

async fn run(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<Msg>,
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
    let mut msgs = Vec::new();
    loop {
        tokio::select! {
            n = rx.recv_many(&mut msgs, BATCH) => {
                if n == 0 {
                    break;
                }
                // Whatever else comes within FLUSH_DELAY goes in the same transaction, unless
                // someone waits for a flush.
                let deadline = tokio::time::sleep(FLUSH_DELAY);
                tokio::pin!(deadline);
                while msgs.len() < BATCH && !msgs.iter().any(|m| matches!(m, Msg::Flush(_))) {
                    let room = BATCH - msgs.len();
                    tokio::select! {
                        n = rx.recv_many(&mut msgs, room) => if n == 0 { break },
                        _ = &mut deadline => break,
                    }
                }
                let mut batch = Vec::with_capacity(msgs.len());
                let mut flushed = Vec::new();
                for m in msgs.drain(..) {
                    match m {
                        Msg::Row(r) => batch.push(r),
                        Msg::Flush(done) => flushed.push(done),
                    }
                }
                if backlogged && !flushed.is_empty() {
                    backlogged = !drain_backlog(&store, &backlog, &stats).await;
                }
                let n = batch.len() as u64;
                let rest = if batch.is_empty() {
                    Vec::new()
                } else if backlogged {
                    batch
                } else {
                    match write_rows(&store, batch).await {
                        Ok(()) => {
                            stats.written.fetch_add(n, Ordering::Relaxed);
                            Vec::new()
                        }
                        Err((e, rest)) => {
                            tracing::warn!(error = %e, "store unavailable: CDRs and recording metadata are kept in the backlog file until it is back");
                            backlogged = true;
                            stats
                                .written
                                .fetch_add(n - rest.len() as u64, Ordering::Relaxed);
                            rest
                        }
                    }
                };
                // Keep the order: once anything waits, everything waits behind it.
                for row in &rest {
                    match append(&backlog, row) {
                        Ok(()) => {
                            stats.backlog.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => tracing::error!(error = %e, file = %backlog.display(), "cannot append to the store backlog"),
                    }
                }
                for done in flushed {
                    let _ = done.send(());
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
    cdr_row_text(cdr, &serde_json::to_string(cdr).ok()?)
}

/// [`cdr_row`] for a CDR already serialized as `text` (for the CDR file): the row's body is that
/// text with the CDR's `id` (its `call_id`) added, without copying the CDR or serializing it
/// again.
pub fn cdr_row_text(cdr: &Value, text: &str) -> Option<Row> {
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
    let map = cdr.as_object()?;
    let body = match text.strip_prefix('{') {
        // `{"id":"..",` + the rest: keys are sorted when the body is read back.
        Some(rest) if !map.contains_key("id") => {
            let quoted = Value::String(id.clone()).to_string();
            let mut with_id = String::with_capacity(text.len() + quoted.len() + 8);
            with_id.push_str("{\"id\":");
            with_id.push_str(&quoted);
            if rest != "}" {
                with_id.push(',');
            }
            with_id.push_str(rest);
            CdrBody::of(cdr, with_id.into())
        }
        _ => {
            let mut body = cdr.clone();
            if let Some(m) = body.as_object_mut() {
                m.insert("id".into(), Value::String(id.clone()));
            }
            CdrBody::from(body)
        }
    };
    Some(Row::Cdr {
        account_id,
        id,
        interaction_id,
        created,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cdr(i: usize) -> Value {
        json!({"call_id": format!("leg-{i}"), "interaction_id": format!("int-{}", i / 2),
               "timestamp": 63_900_000_000u64 + i as u64,
               "custom_channel_vars": {"account_id": "a1", "owner_id": "u1"}})
    }

    fn recording(id: &str, state: &str) -> Row {
        Row::Recording {
            id: id.into(),
            account_id: "a1".into(),
            call_id: "leg-0".into(),
            interaction_id: "int-0".into(),
            state: state.into(),
            last_error: None,
            created: 63_900_000_000,
            body: json!({"format": "wav"}),
        }
    }

    #[test]
    fn a_cdr_row_is_the_cdr_text_with_its_id() {
        let mut with_id = cdr(7);
        with_id["id"] = json!("leg-7");
        with_id["custom_channel_vars"]["note"] = json!("a \"quoted\" \u{e9}");
        let mut plain = with_id.clone();
        plain.as_object_mut().unwrap().remove("id");
        let Some(Row::Cdr { id, body, .. }) = cdr_row(&plain) else {
            panic!("no row");
        };
        assert_eq!(id, "leg-7");
        assert_eq!(body.owner_id.as_deref(), Some("u1"));
        assert_eq!(Value::from(body.clone()), with_id);
        // A CDR with an id of its own keeps the call's.
        let mut own = plain.clone();
        own["id"] = json!("other");
        let Some(Row::Cdr { body: own, .. }) = cdr_row(&own) else {
            panic!("no row");
        };
        assert_eq!(Value::from(own), with_id);
        // The backlog holds the object itself and reads back the same row.
        let row = cdr_row(&plain).unwrap();
        let line = serde_json::to_value(&row).unwrap();
        assert_eq!(line["body"], with_id);
        let back: Row = serde_json::from_value(line).unwrap();
        let Row::Cdr { body: back, .. } = back else {
            panic!("not a CDR");
        };
        assert_eq!(back.owner_id.as_deref(), Some("u1"));
        assert_eq!(Value::from(back), with_id);
    }

    #[tokio::test]
    async fn queued_rows_are_written_in_batches_and_a_flush_waits_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/callrec.db", dir.path().display());
        let store = Store::open(&url).await.unwrap();
        let writer = StoreWriter::spawn(store.clone(), dir.path());
        // More rows than one batch, a repeated CDR, and a recording's two states.
        for i in 0..600 {
            writer.write(cdr_row(&cdr(i)).unwrap());
        }
        writer.write(cdr_row(&cdr(3)).unwrap());
        writer.write(recording("r1", "recording"));
        writer.write(recording("r1", "local"));
        assert!(writer.flush(Duration::from_secs(30)).await);
        assert_eq!(writer.stats().written.load(Ordering::Relaxed), 603);
        let page = store
            .list_cdrs("a1", 0, u64::MAX, 1000, None)
            .await
            .unwrap();
        assert_eq!(page.items.len(), 600);
        assert_eq!(store.cdr_legs("a1", "int-1").await.unwrap().len(), 2);
        assert_eq!(
            store.get_recording("a1", "r1").await.unwrap().state,
            RecordingState::Local
        );
        assert!(!dir.path().join("store-backlog.jsonl").exists());
    }

    #[tokio::test]
    async fn rows_the_database_refuses_wait_in_the_backlog_file() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/callrec.db", dir.path().display());
        let store = Store::open(&url).await.unwrap();
        let writer = StoreWriter::spawn(store.clone(), dir.path());
        store.close().await;
        writer.write(cdr_row(&cdr(0)).unwrap());
        writer.write(recording("r1", "local"));
        assert!(writer.flush(Duration::from_secs(30)).await);
        let kept = read_backlog(&dir.path().join("store-backlog.jsonl"));
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert_eq!(writer.stats().backlog.load(Ordering::Relaxed), 2);
        // Written, in order, once a database takes them (here: a new handle, as after a restart).
        let store = Store::open(&url).await.unwrap();
        let again = StoreWriter::spawn(store.clone(), dir.path());
        assert!(again.flush(Duration::from_secs(30)).await);
        assert!(store.get_cdr("a1", "leg-0").await.is_ok());
        assert_eq!(
            store.get_recording("a1", "r1").await.unwrap().state,
            RecordingState::Local
        );
        assert!(!dir.path().join("store-backlog.jsonl").exists());
    }
}
