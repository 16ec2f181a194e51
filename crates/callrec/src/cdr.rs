//! The CDR log writer: one JSON object per line appended to `<data_dir>/cdrs.jsonl`.
//!
//! [`CdrWriter::spawn`] opens the file (append, create) and starts a writer task fed by an
//! unbounded queue: [`CdrSink::write`] never waits and never drops a CDR, however far the disk
//! is behind (a burst of hang-ups queues in memory). The writer takes everything queued at
//! once and writes it as one batch (up to [`MAX_BATCH_BYTES`]), flushed to the OS; a write
//! that fails (a full disk) is retried every second from where it stopped until it succeeds,
//! with a warning, so no row is lost or written twice. Only a record that cannot be
//! serialized, or one written after the writer was stopped, is dropped and counted
//! ([`CdrSink::dropped`]).
//!
//! Rotation and retention: when a record is written on a new UTC day (and at start-up, when
//! the log was last written on an earlier day), `cdrs.jsonl` is renamed to
//! `cdrs-YYYY-MM-DD.jsonl` (the day it was last written) and a new one started; rotated files
//! older than `keep_days` (`[cdr] keep_days`, 0 = forever) are deleted.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// Most bytes the writer puts in one write (it takes whatever is queued, up to this).
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// How long the writer waits before retrying a write that failed.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

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
    tx: mpsc::UnboundedSender<Arc<str>>,
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
    /// CDRs dropped (not serializable, or written after the writer stopped).
    pub dropped: u64,
}

/// Seconds in a day.
const DAY_S: u64 = 86_400;

/// `YYYY-MM-DD` of a day counted from the unix epoch (proleptic Gregorian, UTC).
fn date_of_day(day: u64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = day as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The rotated name of `path` for `day`: `cdrs.jsonl` → `cdrs-2026-11-28.jsonl`.
fn rotated_path(path: &Path, day: u64) -> PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("cdrs");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("jsonl");
    path.with_file_name(format!("{stem}-{}.{ext}", date_of_day(day)))
}

/// The day (since the epoch) of a file's last modification.
fn modified_day(path: &Path) -> Option<u64> {
    let m = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(m.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() / DAY_S)
}

fn today() -> u64 {
    crate::spool::unix_now() / DAY_S
}

/// Moves `path` aside as the log of `day` (appending when that file exists already).
fn rotate(path: &Path, day: u64) -> io::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let target = rotated_path(path, day);
    if target.exists() {
        let mut out = std::fs::OpenOptions::new().append(true).open(&target)?;
        let mut input = std::fs::File::open(path)?;
        io::copy(&mut input, &mut out)?;
        out.sync_all()?;
        std::fs::remove_file(path)
    } else {
        std::fs::rename(path, target)
    }
}

/// Deletes rotated logs of `path` (`<stem>-YYYY-MM-DD.<ext>`) from days before `today - keep_days`.
/// Returns how many were deleted. `keep_days` 0 keeps everything.
pub fn prune_rotated(path: &Path, keep_days: u64, today: u64) -> io::Result<usize> {
    if keep_days == 0 {
        return Ok(0);
    }
    let Some(dir) = path.parent() else {
        return Ok(0);
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("cdrs");
    let oldest_kept = date_of_day(today.saturating_sub(keep_days));
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(stem).and_then(|r| r.strip_prefix('-')) else {
            continue;
        };
        let date = rest.split('.').next().unwrap_or_default();
        let looks_like_date = date.len() == 10
            && date.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        // ISO dates compare as text.
        if looks_like_date && date < oldest_kept.as_str() {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

impl CdrWriter {
    /// Opens `path` for appending (creating it and its directory) and spawns the writer task on
    /// the current tokio runtime. Rotated logs older than `keep_days` are deleted (0 keeps them).
    pub async fn spawn_with_retention(
        path: &Path,
        keep_days: u64,
    ) -> Result<(CdrSink, CdrWriterHandle), CdrError> {
        Self::spawn_inner(path, keep_days).await
    }

    /// [`CdrWriter::spawn_with_retention`] keeping every rotated log.
    pub async fn spawn(path: &Path) -> Result<(CdrSink, CdrWriterHandle), CdrError> {
        Self::spawn_inner(path, 0).await
    }

    async fn spawn_inner(
        path: &Path,
        keep_days: u64,
    ) -> Result<(CdrSink, CdrWriterHandle), CdrError> {
        let open_err = |source| CdrError::Open {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(open_err)?;
        }
        // A log last written on an earlier day is that day's.
        let now_day = today();
        if let Some(day) = modified_day(path).filter(|d| *d < now_day) {
            rotate(path, day).map_err(open_err)?;
        }
        if let Err(e) = prune_rotated(path, keep_days, now_day) {
            tracing::warn!(error = %e, "cannot prune old CDR logs");
        }
        let file = tokio::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .await
            .map_err(open_err)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(write_loop(
            file,
            rx,
            counters.clone(),
            path.to_owned(),
            (now_day, keep_days),
        ));
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
    mut rx: mpsc::UnboundedReceiver<Arc<str>>,
    counters: Arc<Counters>,
    path: PathBuf,
    (mut day, keep_days): (u64, u64),
) {
    let mut batch: Vec<u8> = Vec::new();
    while let Some(first) = rx.recv().await {
        let now_day = today();
        if now_day > day {
            let _ = file.sync_all().await;
            let reopened = match rotate(&path, day) {
                Ok(()) => {
                    tokio::fs::OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(&path)
                        .await
                }
                Err(e) => Err(e),
            };
            match reopened {
                Ok(f) => file = f,
                Err(e) => tracing::warn!(error = %e, "cannot rotate the CDR log; writing on"),
            }
            day = now_day;
            if let Err(e) = prune_rotated(&path, keep_days, now_day) {
                tracing::warn!(error = %e, "cannot prune old CDR logs");
            }
        }
        // Everything queued now, in one write.
        batch.clear();
        let mut rows = 0u64;
        let mut next = Some(first);
        while let Some(line) = next.take() {
            batch.extend_from_slice(line.as_bytes());
            batch.push(b'\n');
            rows += 1;
            if batch.len() < MAX_BATCH_BYTES {
                next = rx.try_recv().ok();
            }
        }
        write_batch(&mut file, &batch, &path).await;
        counters.written.fetch_add(rows, Ordering::Relaxed);
    }
    let _ = file.sync_all().await;
}

/// Writes `batch` whole: a failed write is retried every [`RETRY_AFTER`] from the first byte
/// that did not reach the file, until it succeeds (a full disk delays CDRs, it loses none).
async fn write_batch(file: &mut tokio::fs::File, batch: &[u8], path: &Path) {
    let mut at = 0;
    let mut failing = false;
    while at < batch.len() {
        match file.write(&batch[at..]).await {
            Ok(0) => {
                if !failing {
                    tracing::warn!(path = %path.display(), "cannot write CDRs (the file takes no more); retrying every second");
                    failing = true;
                }
                tokio::time::sleep(RETRY_AFTER).await;
            }
            Ok(n) => at += n,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, path = %path.display(), "cannot write CDRs; retrying every second");
                    failing = true;
                }
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
    if let Err(e) = file.flush().await {
        tracing::warn!(error = %e, path = %path.display(), "cannot flush the CDR log");
    }
    if failing {
        tracing::info!(path = %path.display(), "CDRs written again");
    }
}

impl CdrSink {
    /// Queues one CDR without waiting (the queue has no bound). Returns `false` (and counts a
    /// drop) only when the writer has stopped.
    pub fn write(&self, record: serde_json::Value) -> bool {
        match serde_json::to_string(&record) {
            Ok(line) => self.write_text(line.into()),
            Err(e) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "CDR not serializable; dropped");
                false
            }
        }
    }

    /// [`write`](Self::write) for a CDR already serialized (one JSON object, no newline): the
    /// server serializes each CDR once, for this file and for its database row.
    pub fn write_text(&self, line: Arc<str>) -> bool {
        match self.tx.send(line) {
            Ok(()) => true,
            Err(_) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(reason = "writer stopped", "CDR dropped");
                false
            }
        }
    }

    /// CDRs written to the file so far.
    pub fn written(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }

    /// CDRs dropped so far (not serializable, or written after the writer stopped).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_since_the_epoch_format_as_utc_dates() {
        assert_eq!(date_of_day(0), "1970-01-01");
        assert_eq!(date_of_day(59), "1970-03-01");
        assert_eq!(date_of_day(11_016), "2000-02-29");
        assert_eq!(date_of_day(20_785), "2026-11-28");
    }

    #[test]
    fn rotated_logs_older_than_keep_days_are_deleted_and_others_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let log = dir.path().join("cdrs.jsonl");
        let today = 20_785; // 2026-11-28
        for day in [today - 100, today - 31, today - 30, today - 1] {
            std::fs::write(rotated_path(&log, day), "{}\n").expect("write");
        }
        std::fs::write(&log, "{}\n").expect("write");
        std::fs::write(dir.path().join("cdrs-notes.txt"), "x").expect("write");
        assert_eq!(prune_rotated(&log, 30, today).expect("prune"), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "cdrs-2026-10-29.jsonl",
                "cdrs-2026-11-27.jsonl",
                "cdrs-notes.txt",
                "cdrs.jsonl"
            ]
        );
        assert_eq!(prune_rotated(&log, 0, today).expect("prune"), 0);
    }

    #[test]
    fn rotating_onto_an_existing_day_appends() {
        let dir = tempfile::tempdir().expect("dir");
        let log = dir.path().join("cdrs.jsonl");
        std::fs::write(rotated_path(&log, 5), "a\n").expect("write");
        std::fs::write(&log, "b\n").expect("write");
        rotate(&log, 5).expect("rotate");
        assert!(!log.exists());
        assert_eq!(
            std::fs::read_to_string(rotated_path(&log, 5)).expect("read"),
            "a\nb\n"
        );
    }
}
