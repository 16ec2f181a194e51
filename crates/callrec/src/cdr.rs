//! The CDR log writer: one JSON object per line appended to `<data_dir>/cdrs.jsonl`.
//!
//! [`CdrWriter::spawn`] opens the file (append, create) and starts a writer task fed by a bounded
//! channel; [`CdrSink::write`] never blocks a call: when the queue is full or the writer has
//! stopped, the record is dropped and counted ([`CdrSink::dropped`]) and a warning is logged.
//! Each record is flushed to the OS as soon as it is written.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// Records queued between the call tasks and the writer task.
pub const CDR_QUEUE_CAPACITY: usize = 4096;

/// Why the CDR log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CdrError {
    /// Creating the parent directory or opening the file failed.
    #[error("cannot open CDR log {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// Starts the writer.
#[derive(Debug)]
pub struct CdrWriter;

#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
}

/// The cheap, cloneable sending side used by the engine.
#[derive(Debug, Clone)]
pub struct CdrSink {
    tx: mpsc::Sender<serde_json::Value>,
    counters: Arc<Counters>,
}

/// Handle to the writer task, for a graceful shutdown.
#[derive(Debug)]
pub struct CdrWriterHandle {
    task: tokio::task::JoinHandle<()>,
    counters: Arc<Counters>,
}

/// Final counts of a writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CdrStats {
    /// CDRs written to the file.
    pub written: u64,
    /// CDRs dropped (queue full, writer stopped, or write error).
    pub dropped: u64,
}

impl CdrWriter {
    /// Opens `path` for appending (creating it and its directory) and spawns the writer task on
    /// the current tokio runtime.
    pub async fn spawn(path: &Path) -> Result<(CdrSink, CdrWriterHandle), CdrError> {
        let open_err = |source| CdrError::Open {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(open_err)?;
        }
        let file = tokio::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .await
            .map_err(open_err)?;
        let (tx, rx) = mpsc::channel(CDR_QUEUE_CAPACITY);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(write_loop(file, rx, counters.clone(), path.to_owned()));
        Ok((
            CdrSink {
                tx,
                counters: counters.clone(),
            },
            CdrWriterHandle { task, counters },
        ))
    }
}

async fn write_loop(
    mut file: tokio::fs::File,
    mut rx: mpsc::Receiver<serde_json::Value>,
    counters: Arc<Counters>,
    path: PathBuf,
) {
    while let Some(record) = rx.recv().await {
        let mut line = match serde_json::to_vec(&record) {
            Ok(l) => l,
            Err(e) => {
                counters.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "CDR not serializable; dropped");
                continue;
            }
        };
        line.push(b'\n');
        let res = async {
            file.write_all(&line).await?;
            file.flush().await
        }
        .await;
        match res {
            Ok(()) => {
                counters.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                counters.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, path = %path.display(), "cannot write CDR; dropped");
            }
        }
    }
    let _ = file.sync_all().await;
}

impl CdrSink {
    /// Queues one CDR without waiting. Returns `false` (and counts a drop) when the queue is full
    /// or the writer has stopped.
    pub fn write(&self, record: serde_json::Value) -> bool {
        match self.tx.try_send(record) {
            Ok(()) => true,
            Err(e) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => "queue full",
                    mpsc::error::TrySendError::Closed(_) => "writer stopped",
                };
                tracing::warn!(reason = why, "CDR dropped");
                false
            }
        }
    }

    /// CDRs written to the file so far.
    pub fn written(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }

    /// CDRs dropped so far (queue full, writer stopped, or write error).
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }
}

impl CdrWriterHandle {
    /// Waits until every queued record is written. The writer ends when every [`CdrSink`] clone
    /// has been dropped, so drop them first (or this waits for them). Returns the final counts.
    pub async fn finish(self) -> CdrStats {
        let _ = self.task.await;
        CdrStats {
            written: self.counters.written.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
        }
    }

    /// Stops the writer at once; records still queued are lost (and later writes are counted as
    /// dropped). For an orderly stop use [`CdrWriterHandle::finish`].
    pub fn abort(self) {
        self.task.abort();
    }
}
