//! The uploader: a tokio task that sends finished recordings from the [`Spool`] over HTTP and
//! retries failures with exponential backoff, independent of any call.
//!
//! - The body is the raw audio file, streamed from disk, with the entry's `Content-Type` and a
//!   `Content-Length`; the method is the target's (PUT or POST).
//! - Redirects 301/302/307/308 are followed (up to `max_redirects` per attempt) by hand, so the
//!   same method and body are re-sent on every hop (the file is simply reopened).
//! - 2xx = `stored` (the file is deleted unless `keep_after_upload`). Any other status, a
//!   connection error or a timeout = retry after [`backoff_delay`]; once `give_up_after` has passed
//!   since the first attempt, the entry becomes `failed`, its file is kept and a warning is logged.
//!   A target URL that does not parse or is not http(s) fails at once (retrying cannot help).
//! - The outcome of each attempt is written to the sidecar (`stored`; `finished` with the
//!   attempts, the give-up window's start and the next attempt's time; `failed`), so a restart
//!   resumes where it stopped ([`Spool::recover`] + [`UploaderHandle::enqueue`]). The attempt
//!   itself (`uploading`) is only held in memory: a crash mid-attempt uploads again (see the
//!   spool's module doc).
//! - At most `concurrency` uploads run at once (a semaphore). Every attempt is bounded: the
//!   connection by `connect_timeout`, the whole request (a receiver that never answers, or
//!   reads one byte a second) by `request_timeout`; a receiver that closes mid-body is a
//!   connection error. Each ends as a retry, and the slot is free again for other uploads.
//! - `https://` receivers are verified against the system's CAs and, with `ca_file`, a private
//!   CA's certificates.
//!
//! Errors are logged without the URL: its query holds phone numbers.
//!
//! A target `s3://<bucket>/<key>` (a recording sent by its account's storage plan) goes to S3
//! instead ([`s3`]), under the same states, backoff and give-up rules.

mod backoff;
pub mod s3;

pub use backoff::backoff_delay;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Client, Url};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::io::ReaderStream;

use callrec_kazoo::storage::StoragePlans;

use crate::spool::{
    unix_now, unix_now_ms, Spool, SpoolError, SpoolRecord, SpoolState, UploadMethod,
};

/// Uploader settings (see `[upload]` in the config; [`crate::config::Config::upload_config`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadConfig {
    /// First retry delay.
    pub initial_backoff: Duration,
    /// Largest retry delay.
    pub max_backoff: Duration,
    /// Give up this long after the first attempt.
    pub give_up_after: Duration,
    /// Uploads in flight at once.
    pub concurrency: usize,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Redirects followed per attempt.
    pub max_redirects: u32,
    /// Keep the audio file after a successful upload.
    pub keep_after_upload: bool,
    /// Timeout of establishing one connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// PEM file of extra CA certificates for HTTPS receivers.
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(600),
            give_up_after: Duration::from_secs(86400),
            concurrency: 4,
            request_timeout: Duration::from_secs(60),
            max_redirects: 10,
            keep_after_upload: false,
            connect_timeout: Duration::from_secs(10),
            ca_file: None,
        }
    }
}

/// Why one upload attempt failed (the text goes into the sidecar's `last_error`).
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The server answered with a status that is neither 2xx nor a followed redirect.
    #[error("HTTP status {0}")]
    Status(u16),
    /// Connection, TLS, timeout or protocol error (the URL is stripped).
    #[error("HTTP request failed: {0}")]
    Http(reqwest::Error),
    /// More redirects than `max_redirects`.
    #[error("more than {0} redirects")]
    TooManyRedirects(u32),
    /// A redirect without a usable `Location`.
    #[error("redirect {0} without a valid Location header")]
    BadRedirect(u16),
    /// The target URL does not parse or is not http(s).
    #[error("invalid upload URL")]
    BadUrl,
    /// An S3 target that can never be sent (no object in the metadata, an invalid key).
    #[error("invalid storage target: {0}")]
    BadTarget(String),
    /// The S3 store refused the object or could not be reached (its answer, no secret).
    #[error("{0}")]
    S3(String),
    /// The audio file could not be opened.
    #[error("cannot read the audio file: {0}")]
    File(std::io::Error),
    /// The spool refused a state change or failed on disk.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// A blocking spool task panicked or was cancelled.
    #[error("spool task failed")]
    Join,
    /// `ca_file` could not be read or holds no certificate.
    #[error("CA file {path}: {problem}")]
    CaFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

/// Reads the PEM certificates of `path` (for `[upload] ca_file`); at least one is required.
pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, UploadError> {
    let bad = |problem: String| UploadError::CaFile {
        path: path.to_owned(),
        problem,
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".to_owned()));
    }
    Ok(certs)
}

/// Counters of the uploader, for logs and status pages.
#[derive(Debug, Default)]
struct Counters {
    attempts: AtomicU64,
    stored: AtomicU64,
    retries: AtomicU64,
    failed: AtomicU64,
}

/// A snapshot of the uploader's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UploadStats {
    /// HTTP attempts started.
    pub attempts: u64,
    /// Recordings stored (2xx).
    pub stored: u64,
    /// Failed attempts that were scheduled for a retry.
    pub retries: u64,
    /// Recordings given up (state `failed`).
    pub failed: u64,
}

/// Handle to the running uploader task.
#[derive(Debug)]
pub struct UploaderHandle {
    tx: mpsc::UnboundedSender<Command>,
    counters: Arc<Counters>,
    storage: Storage,
    done: Done,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[derive(Debug)]
enum Command {
    Enqueue(String),
    Shutdown,
}

/// The uploader (see the module doc).
#[derive(Debug)]
pub struct Uploader;

impl Uploader {
    /// Starts the uploader task on the current tokio runtime. Nothing is uploaded until ids are
    /// [enqueued](UploaderHandle::enqueue) (after [`Spool::recover`] at start-up, and whenever a
    /// recording is [finished](Spool::finish)).
    pub fn spawn(spool: Arc<Spool>, cfg: UploadConfig) -> Result<UploaderHandle, UploadError> {
        let mut builder = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(cfg.connect_timeout.min(cfg.request_timeout))
            .timeout(cfg.request_timeout);
        if let Some(path) = &cfg.ca_file {
            for cert in read_ca_file(path)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| UploadError::Http(e.without_url()))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let storage = Storage::default();
        let done = Done::default();
        let worker = Worker {
            storage: storage.clone(),
            done: done.clone(),
            spool,
            client,
            semaphore: Arc::new(Semaphore::new(cfg.concurrency.max(1))),
            cfg: Arc::new(cfg),
            counters: counters.clone(),
            rng: StdRng::from_os_rng(),
        };
        let task = tokio::spawn(worker.run(rx));
        Ok(UploaderHandle {
            tx,
            counters,
            storage,
            done,
            task: std::sync::Mutex::new(Some(task)),
        })
    }
}

impl UploaderHandle {
    /// Queues a recording (state `finished`) for upload; it is sent as soon as a slot is free and
    /// its `next_attempt_at` has come. Ids already queued or in flight are ignored. Never blocks.
    pub fn enqueue(&self, id: impl Into<String>) {
        let _ = self.tx.send(Command::Enqueue(id.into()));
    }

    /// The accounts' storage plans as they are now: each S3 attempt reads its handler's
    /// endpoint and credentials from the plans set last.
    pub fn set_storage(&self, plans: Arc<StoragePlans>) {
        *self.storage.write().unwrap_or_else(|p| p.into_inner()) = plans;
    }

    /// Where to report each recording whose upload is over (stored, given up, or not
    /// uploadable): its id, for the database row to say the spool's final state (another node's
    /// API reads the state there).
    pub fn set_on_done(&self, tx: mpsc::UnboundedSender<String>) {
        *self.done.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> UploadStats {
        let c = &self.counters;
        UploadStats {
            attempts: c.attempts.load(Ordering::Relaxed),
            stored: c.stored.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
        }
    }

    /// Stops scheduling new attempts and waits for the attempts in flight to end (each bounded by
    /// the request timeout). Waiting entries stay `finished` in the spool for the next start.
    /// Takes `&self` so a handle shared in an `Arc` can be shut down; later calls return at once.
    pub async fn shutdown(&self) {
        let _ = self.tx.send(Command::Shutdown);
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// The storage plans shared between the handle (which sets them) and the attempts.
type Storage = Arc<std::sync::RwLock<Arc<StoragePlans>>>;

/// Where finished uploads are reported, once set.
type Done = Arc<std::sync::Mutex<Option<mpsc::UnboundedSender<String>>>>;

struct Worker {
    storage: Storage,
    done: Done,
    spool: Arc<Spool>,
    client: Client,
    semaphore: Arc<Semaphore>,
    cfg: Arc<UploadConfig>,
    counters: Arc<Counters>,
    rng: StdRng,
}

/// What one attempt task reports back to the scheduler.
enum Outcome {
    /// Done for good (stored, failed, or not uploadable).
    Done(String),
    /// Retry after the delay.
    Retry(String, Duration),
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        let mut queue: BinaryHeap<Reverse<(Instant, String)>> = BinaryHeap::new();
        let mut known: HashSet<String> = HashSet::new();
        let mut running: JoinSet<Outcome> = JoinSet::new();
        loop {
            let next_due = queue.peek().map(|Reverse((at, _))| *at);
            let can_start = self.semaphore.available_permits() > 0;
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Command::Enqueue(id)) => {
                        if known.insert(id.clone()) {
                            match self.due_of(&id).await {
                                Some(at) => queue.push(Reverse((at, id))),
                                None => { known.remove(&id); }
                            }
                        }
                    }
                    Some(Command::Shutdown) | None => break,
                },
                () = sleep_until_opt(next_due), if can_start => {
                    if let Some(Reverse((_, id))) = queue.pop() {
                        let Ok(permit) = self.semaphore.clone().acquire_owned().await else { break };
                        let spool = self.spool.clone();
                        let client = self.client.clone();
                        let cfg = self.cfg.clone();
                        let counters = self.counters.clone();
                        let plans = self.storage.read().unwrap_or_else(|p| p.into_inner()).clone();
                        let jitter_seed = rand::Rng::random::<u64>(&mut self.rng);
                        running.spawn(async move {
                            let out = attempt(spool, client, plans, cfg, counters, id, jitter_seed).await;
                            drop(permit);
                            out
                        });
                    }
                },
                Some(res) = running.join_next(), if !running.is_empty() => match res {
                    Ok(Outcome::Done(id)) => {
                        known.remove(&id);
                        if let Some(tx) = self.done.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                            let _ = tx.send(id);
                        }
                    }
                    Ok(Outcome::Retry(id, delay)) => queue.push(Reverse((Instant::now() + delay, id))),
                    Err(e) => tracing::error!(error = %e, "upload task panicked"),
                },
            }
        }
        // Graceful: let the attempts in flight finish and persist their outcome.
        while running.join_next().await.is_some() {}
    }

    /// When an enqueued id should be tried, from its sidecar; `None` if it is not `finished`.
    async fn due_of(&self, id: &str) -> Option<Instant> {
        let spool = self.spool.clone();
        let owned = id.to_owned();
        let rec = tokio::task::spawn_blocking(move || spool.get(&owned)).await;
        match rec {
            Ok(Ok(r)) if r.state == SpoolState::Finished && r.target.url.is_empty() => {
                // No url: kept locally, never retried (also entries recovered after a crash
                // or written by an older version).
                let spool = self.spool.clone();
                let owned = id.to_owned();
                match tokio::task::spawn_blocking(move || spool.mark_local(&owned)).await {
                    Ok(Ok(_)) => {
                        tracing::info!(recording_id = %id, "recording has no upload url: kept locally")
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(recording_id = %id, error = %e, "cannot mark recording local")
                    }
                    Err(_) => {}
                }
                None
            }
            Ok(Ok(r)) if r.state == SpoolState::Finished => {
                let wait = r.next_attempt_at.saturating_sub(unix_now());
                Some(Instant::now() + Duration::from_secs(wait))
            }
            Ok(Ok(r)) => {
                tracing::debug!(recording_id = %id, state = ?r.state, "not queued for upload");
                None
            }
            Ok(Err(e)) => {
                tracing::warn!(recording_id = %id, error = %e, "cannot queue recording for upload");
                None
            }
            Err(_) => None,
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn blocking<T, F>(spool: &Arc<Spool>, f: F) -> Result<T, UploadError>
where
    F: FnOnce(&Spool) -> Result<T, SpoolError> + Send + 'static,
    T: Send + 'static,
{
    let spool = spool.clone();
    tokio::task::spawn_blocking(move || f(&spool))
        .await
        .map_err(|_| UploadError::Join)?
        .map_err(UploadError::from)
}

/// One attempt: `uploading` (held in memory), send, persist the outcome.
async fn attempt(
    spool: Arc<Spool>,
    client: Client,
    plans: Arc<StoragePlans>,
    cfg: Arc<UploadConfig>,
    counters: Arc<Counters>,
    id: String,
    jitter_seed: u64,
) -> Outcome {
    let key = id.clone();
    // One trip to the blocking pool: the state, and a small file's bytes with it.
    let begun = blocking(&spool, move |s| {
        let record = s.begin_upload(&key)?;
        let body = if s3::is_s3_target(&record.target.url) {
            None
        } else {
            Some(read_small(&s.audio_path(&record)))
        };
        Ok((record, body))
    })
    .await;
    let (record, body) = match begun {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(recording_id = %id, error = %e, "upload not started");
            return Outcome::Done(id);
        }
    };
    counters.attempts.fetch_add(1, Ordering::Relaxed);
    let result = match body {
        None => s3::send(&plans, &spool, &record, &cfg).await,
        Some(Err(e)) => Err(UploadError::File(e)),
        Some(Ok(small)) => send(&client, &spool, &record, small, cfg.max_redirects).await,
    };
    match result {
        Ok(status) => {
            let key = id.clone();
            let keep = cfg.keep_after_upload;
            match blocking(&spool, move |s| s.mark_stored(&key, keep)).await {
                Ok(_) => {
                    counters.stored.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(recording_id = %id, status, attempts = record.attempts, "recording uploaded");
                }
                Err(e) => {
                    tracing::error!(recording_id = %id, error = %e, "uploaded but the spool could not record it")
                }
            }
            Outcome::Done(id)
        }
        Err(err) => {
            let message = err.to_string();
            let first = record.first_attempt_at_ms.unwrap_or_else(unix_now_ms);
            let elapsed = Duration::from_millis(unix_now_ms().saturating_sub(first));
            // A URL that cannot be sent to will never work: give up at once.
            let permanent = matches!(err, UploadError::BadUrl | UploadError::BadTarget(_));
            if permanent || elapsed >= cfg.give_up_after {
                let key = id.clone();
                let msg = message.clone();
                if let Err(e) = blocking(&spool, move |s| s.mark_failed(&key, msg)).await {
                    tracing::error!(recording_id = %id, error = %e, "cannot mark recording failed");
                }
                counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    recording_id = %id,
                    attempts = record.attempts,
                    error = %message,
                    "upload given up; recording kept in the spool as failed"
                );
                return Outcome::Done(id);
            }
            let mut rng = StdRng::seed_from_u64(jitter_seed);
            let delay = backoff_delay(
                record.attempts,
                cfg.initial_backoff,
                cfg.max_backoff,
                &mut rng,
            )
            .min(cfg.give_up_after.saturating_sub(elapsed));
            let next_at = unix_now().saturating_add(delay.as_secs());
            let key = id.clone();
            let msg = message.clone();
            if let Err(e) = blocking(&spool, move |s| s.mark_retry(&key, msg, next_at)).await {
                tracing::error!(recording_id = %id, error = %e, "cannot schedule upload retry");
                return Outcome::Done(id);
            }
            counters.retries.fetch_add(1, Ordering::Relaxed);
            tracing::info!(recording_id = %id, attempts = record.attempts, error = %message, retry_in_ms = delay.as_millis() as u64, "upload failed; will retry");
            Outcome::Retry(id, delay)
        }
    }
}

/// Bytes read from a recording's file at a time while it is sent. `tokio::fs` reads on the
/// blocking pool, one hand-off per read: reqwest's own `Body::from(File)` reads 4 KiB at a
/// time, 160 thread hand-offs for a 20 s stereo WAV (at 50 recordings/s, 8,000 a second and
/// most of callrec's context switches); 256 KiB reads make that 3, with at most
/// `concurrency` such buffers at once.
const UPLOAD_CHUNK: usize = 256 * 1024;

/// Files up to this size are read whole (in the same blocking-pool trip that marks the upload
/// begun) and sent from memory; larger ones are streamed in [`UPLOAD_CHUNK`]s. At most
/// `concurrency` such buffers at once.
const INLINE_BODY_MAX: u64 = 1024 * 1024;

/// A file's bytes when it is at most [`INLINE_BODY_MAX`] long (`None`: stream it).
fn read_small(path: &std::path::Path) -> std::io::Result<Option<bytes::Bytes>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > INLINE_BODY_MAX {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    Ok(Some(bytes.into()))
}

/// Sends the file (`small`: its bytes, already read), following redirects with the same
/// method and body. Returns the 2xx status.
async fn send(
    client: &Client,
    spool: &Spool,
    record: &SpoolRecord,
    small: Option<bytes::Bytes>,
    max_redirects: u32,
) -> Result<u16, UploadError> {
    let mut url = Url::parse(&record.target.url).map_err(|_| UploadError::BadUrl)?;
    let path = spool.audio_path(record);
    let method = match record.target.method {
        UploadMethod::Put => reqwest::Method::PUT,
        UploadMethod::Post => reqwest::Method::POST,
    };
    let mut hops = 0u32;
    loop {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UploadError::BadUrl);
        }
        let (body, len) = match &small {
            Some(bytes) => (reqwest::Body::from(bytes.clone()), bytes.len() as u64),
            None => {
                let file = tokio::fs::File::open(&path)
                    .await
                    .map_err(UploadError::File)?;
                let len = file.metadata().await.map_err(UploadError::File)?.len();
                let stream = ReaderStream::with_capacity(file, UPLOAD_CHUNK);
                (reqwest::Body::wrap_stream(stream), len)
            }
        };
        let response = client
            .request(method.clone(), url.clone())
            .header(CONTENT_TYPE, record.content_type.as_str())
            .header(CONTENT_LENGTH, len)
            .body(body)
            .send()
            .await
            .map_err(|e| UploadError::Http(e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(status.as_u16());
        }
        if matches!(status.as_u16(), 301 | 302 | 307 | 308) {
            hops += 1;
            if hops > max_redirects {
                return Err(UploadError::TooManyRedirects(max_redirects));
            }
            let next = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|loc| url.join(loc).ok())
                .ok_or(UploadError::BadRedirect(status.as_u16()))?;
            tracing::debug!(recording_id = %record.id, status = status.as_u16(), "following upload redirect");
            url = next;
            continue;
        }
        return Err(UploadError::Status(status.as_u16()));
    }
}
