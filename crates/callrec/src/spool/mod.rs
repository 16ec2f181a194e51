//! The durable recording spool in `<data_dir>/spool/`.
//!
//! Each recording is two files: the audio (`<id>.<ext>`, written by the recorder) and a JSON
//! metadata sidecar (`<id>.json`, a [`SpoolRecord`]). The sidecar carries the upload target and
//! the state machine
//!
//! ```text
//! recording ──finish──▶ finished ──▶ uploading ──2xx──▶ stored
//!     │                    ▲             │
//!     │                    └──retry──────┤
//!     └──discard──▶ discarded            └──give up──▶ failed
//! ```
//!
//! ## What reaches the disk, and when ("nothing is lost")
//!
//! A recording is safe once its sidecar is: the sidecar names the audio file, and
//! [`Spool::recover`] turns whatever a crash left of it into an upload. The sidecar is a log:
//! one JSON record per line, each state change appended, the last complete line current
//! ([`parse_sidecar`]; a line cut off by a crash does not parse and is passed over, and the
//! next append starts on a new line). A sidecar written whole (by earlier versions, or
//! compacted once it passes [`COMPACT_AT`] bytes: temp file, fsync, rename) reads the same.
//! Appending in place creates and frees no inode per state change: on ext4 without a journal
//! every file created scans past the inodes freed in the last minutes (`recently_deleted`),
//! and the temp file and rename per change made that about 10 % of callrec's CPU under the
//! recorded media load (issue 12).
//!
//! Only the writes that change what a restart must do are made durable:
//!
//! - **create** (`recording`): the sidecar is created (`O_EXCL`), written, fsynced, and the
//!   directory fsynced, all before the recorder writes a byte: an audio file never exists
//!   without its sidecar. A crash in between leaves a sidecar without a complete line and no
//!   audio; recovery removes it.
//! - **finish** / **local** / **discard** / **retry** (attempts, `first_attempt_at_ms`, the
//!   next attempt's time) / **failed** / **stored**: appended and fdatasynced (one sync). If
//!   the machine loses power right after one, the previous state comes back, and every state
//!   recovers to the same end (at worst a recording uploaded once more, to the same target).
//!   `stored` is synced before the audio is deleted, so a crash never leaves a `finished`
//!   entry without its audio.
//! - **held in memory only** (issue 12: each was one more fsync and rename per recording, for a
//!   state no restart needs): changes of an entry that stays `recording` (the target and
//!   metadata set just before it finishes are written with `finished`; a crash before that
//!   recovers the entry from `recording`, as a crash a moment earlier would), and `uploading`
//!   (the attempt counted, `first_attempt_at_ms` set). [`Spool::get`] and [`Spool::list`]
//!   return the held record, so the API still shows `uploading`. A crash mid-upload recovers
//!   to the last written state, `finished`, and the recording is uploaded again; the attempt
//!   in flight is not counted, and when it was the first one the give-up window starts at the
//!   first attempt after the restart (a failed attempt writes both, so the window survives
//!   every failure that is not a crash).
//!
//! Per uploaded recording that makes 4 syncs (create, its directory, finish, stored), no
//! rename and 2 files created (sidecar and audio), down from 3 fsyncs, 3 renames and 4 files
//! created (three of them temp files that freed the inode they replaced).
//!
//! [`Spool::recover`] runs at start-up and finalizes what a crash left behind.
//!
//! All methods are synchronous file I/O and serialize updates of one entry with a lock (one of
//! [`LOCK_STRIPES`], chosen by the id: entries in different stripes are written concurrently).
//! Async code (the engine, the uploader) calls them from `tokio::task::spawn_blocking` or a
//! dedicated task, never from a call's hot path.

mod record;

pub use record::{SpoolRecord, SpoolState, UploadMethod, UploadTarget};

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a spool operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The spool directory could not be created or is not writable.
    #[error("spool directory {dir} is not usable: {source}")]
    NotWritable {
        /// The directory.
        dir: PathBuf,
        /// The I/O error met while creating it or writing a probe file.
        source: io::Error,
    },
    /// The file system holding the spool has less free space than required.
    #[error("spool directory {dir} has {available} bytes free, below the required minimum of {required} bytes (recording.min_free_mb)")]
    InsufficientSpace {
        /// The directory.
        dir: PathBuf,
        /// Bytes available to this process.
        available: u64,
        /// The configured minimum.
        required: u64,
    },
    /// Another process holds the spool (its exclusive lock on [`LOCK_FILE`]).
    #[error("spool directory {dir} (spool.dir, under paths.data_dir) is in use by another callrec process: each node needs its own spool")]
    InUse {
        /// The directory.
        dir: PathBuf,
    },
    /// A recording id is not a plain file-name stem (`[A-Za-z0-9_.-]`, not starting with `.`).
    #[error("invalid recording id {0:?}")]
    InvalidId(String),
    /// A recording with this id already exists.
    #[error("recording {0} already exists in the spool")]
    AlreadyExists(String),
    /// No sidecar for this id.
    #[error("recording {0} is not in the spool")]
    NotFound(String),
    /// The requested transition is not allowed from the entry's current state.
    #[error("recording {id}: cannot go from {from:?} to {to:?}")]
    BadTransition {
        /// The recording.
        id: String,
        /// Its current state.
        from: SpoolState,
        /// The refused target state.
        to: SpoolState,
    },
    /// A sidecar is not valid JSON of the expected shape.
    #[error("corrupt sidecar {path}: {source}")]
    Corrupt {
        /// The sidecar file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// Reading or writing a file failed.
    #[error("spool I/O on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// What the engine knows when a recording starts.
#[derive(Debug, Clone)]
pub struct NewRecording {
    /// Unique id (e.g. the policy's 32-hex recording id). Also the spool file stem.
    pub id: String,
    /// The file name sent in the upload URL (e.g. `call_recording_<call_id>.mp3`).
    pub file_name: String,
    /// `audio/mpeg` or `audio/wav`.
    pub content_type: String,
    /// Where and how to upload.
    pub target: UploadTarget,
    /// The policy crate's recording metadata (opaque here).
    pub metadata: serde_json::Value,
}

/// A created spool entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolEntry {
    /// The recording id.
    pub id: String,
    /// The path the recorder writes the audio to.
    pub audio_path: PathBuf,
}

/// A file of zeros the spool keeps in its directory ([`RESERVE_BYTES`]): when a sidecar write
/// finds the disk full (a recording filled it), the reserve is deleted and the write retried,
/// so that the recording the disk could not take whole is still finished, uploaded and its
/// state kept. Made again when a new recording starts and there is room.
pub const RESERVE_FILE: &str = ".spool-reserve";

/// The file a running callrec holds an exclusive lock on (`flock`), so that two processes
/// never share a spool (each would recover and upload the other's recordings).
pub const LOCK_FILE: &str = ".lock";

/// The exclusive hold of a spool directory, released when dropped (or when the process dies,
/// however it dies: the kernel drops the lock with the file).
#[derive(Debug)]
pub struct SpoolLock {
    _file: File,
}

impl SpoolLock {
    /// Creates `dir` if needed and takes its lock; [`SpoolError::InUse`] when another process
    /// holds it.
    pub fn acquire(dir: &Path) -> Result<SpoolLock, SpoolError> {
        let not_writable = |source| SpoolError::NotWritable {
            dir: dir.to_owned(),
            source,
        };
        fs::create_dir_all(dir).map_err(not_writable)?;
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(not_writable)?;
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => Ok(SpoolLock { _file: file }),
            Err(fs4::TryLockError::WouldBlock) => Err(SpoolError::InUse {
                dir: dir.to_owned(),
            }),
            Err(fs4::TryLockError::Error(e)) => Err(not_writable(e)),
        }
    }
}

/// Size of [`RESERVE_FILE`]: room for a few dozen sidecar rewrites.
pub const RESERVE_BYTES: usize = 256 * 1024;

/// ENOSPC: no space left on the device.
fn disk_full(e: &io::Error) -> bool {
    e.raw_os_error() == Some(28)
}

/// Hook that repairs an audio file a crash left unfinished (e.g. fixing a WAV header's sizes).
pub type RepairHook<'a> = dyn Fn(&Path) -> io::Result<()> + Send + Sync + 'a;

/// The spool directory.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    /// Serialize read-modify-write of one entry's sidecar; an id always takes the same one.
    locks: [Mutex<()>; LOCK_STRIPES],
    /// Serializes rewriting [`RESERVE_FILE`].
    reserve: Mutex<()>,
    /// Below this many free bytes new recordings are refused (`recording.min_free_mb`).
    min_free_bytes: u64,
    /// New recordings refused for lack of space since start.
    refused_for_space: std::sync::atomic::AtomicU64,
    /// Entries whose current state is newer than their sidecar and deliberately not written
    /// (see the module doc): a `recording` entry's changes before it ends, an upload in
    /// flight. Taken after the entry's stripe lock, never held across file I/O.
    held: Mutex<HashMap<String, SpoolRecord>>,
}

/// Locks the sidecar updates are spread over (by id). One lock for all serialized every
/// recording's fsyncs behind each other: at 50 recordings a second the uploader and the
/// recorders queued on it.
pub const LOCK_STRIPES: usize = 16;

/// Current time as unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Current time as unix milliseconds.
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The audio file's extension, from the upload file name; `bin` when it has none usable.
fn audio_extension(file_name: &str) -> &str {
    match Path::new(file_name).extension().and_then(OsStr::to_str) {
        Some(ext)
            if !ext.is_empty()
                && ext.len() <= 5
                && ext.bytes().all(|b| b.is_ascii_alphanumeric())
                && !ext.eq_ignore_ascii_case("json")
                && !ext.eq_ignore_ascii_case("tmp") =>
        {
            ext
        }
        _ => "bin",
    }
}

impl Spool {
    /// Opens (creating if needed) the spool directory, checks that it is writable (by writing and
    /// removing a probe file) and that its file system has at least `min_free_bytes` available.
    pub fn open(dir: impl Into<PathBuf>, min_free_bytes: u64) -> Result<Spool, SpoolError> {
        let dir = dir.into();
        let not_writable = |source| SpoolError::NotWritable {
            dir: dir.clone(),
            source,
        };
        fs::create_dir_all(&dir).map_err(not_writable)?;
        let probe = dir.join(".write-probe.tmp");
        File::create(&probe)
            .and_then(|mut f| f.write_all(b"probe").and_then(|()| f.sync_all()))
            .map_err(not_writable)?;
        fs::remove_file(&probe).map_err(not_writable)?;
        let spool = Spool {
            dir,
            locks: std::array::from_fn(|_| Mutex::new(())),
            reserve: Mutex::new(()),
            min_free_bytes,
            refused_for_space: std::sync::atomic::AtomicU64::new(0),
            held: Mutex::new(HashMap::new()),
        };
        spool.check_space(min_free_bytes)?;
        spool.make_reserve();
        Ok(spool)
    }

    /// Writes [`RESERVE_FILE`] if it is not there (best effort: without room it is left out).
    fn make_reserve(&self) {
        let path = self.dir.join(RESERVE_FILE);
        if fs::metadata(&path).is_ok_and(|m| m.len() == RESERVE_BYTES as u64) {
            return;
        }
        let _g = self.reserve.lock().unwrap_or_else(|p| p.into_inner());
        if fs::metadata(&path).is_ok_and(|m| m.len() == RESERVE_BYTES as u64) {
            return;
        }
        let written = File::create(&path).and_then(|mut f| {
            f.write_all(&vec![0u8; RESERVE_BYTES])
                .and_then(|()| f.sync_all())
        });
        if written.is_err() {
            let _ = fs::remove_file(&path);
        }
    }

    /// Deletes [`RESERVE_FILE`] (the disk is full); true when there was one to delete.
    fn release_reserve(&self) -> bool {
        fs::remove_file(self.dir.join(RESERVE_FILE)).is_ok()
    }

    /// Sets the free space below which [`Spool::create`] refuses new recordings (by default the
    /// minimum given to [`Spool::open`]).
    pub fn with_min_free_bytes(mut self, min_free_bytes: u64) -> Spool {
        self.min_free_bytes = min_free_bytes;
        self
    }

    /// New recordings refused for lack of free space since start.
    pub fn refused_for_space(&self) -> u64 {
        self.refused_for_space
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Fails with [`SpoolError::InsufficientSpace`] if fewer than `min_free_bytes` are available.
    pub fn check_space(&self, min_free_bytes: u64) -> Result<u64, SpoolError> {
        let available = fs4::available_space(&self.dir).map_err(io_err(&self.dir))?;
        if available < min_free_bytes {
            return Err(SpoolError::InsufficientSpace {
                dir: self.dir.clone(),
                available,
                required: min_free_bytes,
            });
        }
        Ok(available)
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn sidecar_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// The audio file of a record.
    pub fn audio_path(&self, record: &SpoolRecord) -> PathBuf {
        self.dir.join(&record.audio_file)
    }

    /// Removes an entry: its audio (also a `.part` left by a recorder) and its sidecar (the
    /// API's DELETE). Unknown ids are not an error.
    pub fn remove(&self, id: &str) -> Result<(), SpoolError> {
        if !valid_id(id) {
            return Err(SpoolError::InvalidId(id.to_owned()));
        }
        let _g = self.guard(id);
        self.unhold(id);
        let sidecar = self.sidecar_path(id);
        if let Ok(text) = fs::read(&sidecar) {
            if let Ok(record) = parse_sidecar::<SpoolRecord>(&text) {
                let audio = self.audio_path(&record);
                for f in [callrec_media::record::part_path(&audio), audio] {
                    match fs::remove_file(&f) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(source) => return Err(SpoolError::Io { path: f, source }),
                    }
                }
            }
        }
        match fs::remove_file(&sidecar) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SpoolError::Io {
                path: sidecar,
                source,
            }),
        }
    }

    /// The held (not written) record of `id`, if any.
    fn held(&self, id: &str) -> Option<SpoolRecord> {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Forgets the held record of `id` (its sidecar is now current, or gone).
    fn unhold(&self, id: &str) {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// The lock of entry `id`.
    fn guard(&self, id: &str) -> std::sync::MutexGuard<'_, ()> {
        let h = id.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        // A panic while holding the lock leaves no partial state (a new sidecar is written
        // whole before it counts, a failed append is cut back off).
        self.locks[h % LOCK_STRIPES]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Creates an entry in state `recording` and returns where the recorder writes the audio.
    ///
    /// Below the minimum free space ([`Spool::open`]'s `min_free_bytes`) the recording is
    /// refused with [`SpoolError::InsufficientSpace`] before anything is written (counted, and
    /// warned): the call goes on unrecorded rather than failing mid-file.
    pub fn create(&self, new: NewRecording) -> Result<SpoolEntry, SpoolError> {
        if !valid_id(&new.id) {
            return Err(SpoolError::InvalidId(new.id));
        }
        if self.min_free_bytes > 0 {
            if let Err(e) = self.check_space(self.min_free_bytes) {
                let refused = self
                    .refused_for_space
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    + 1;
                tracing::warn!(
                    recording_id = %new.id,
                    refused,
                    error = %e,
                    "new recording refused: too little free disk space; the call goes on unrecorded"
                );
                return Err(e);
            }
        }
        let _g = self.guard(&new.id);
        let sidecar = self.sidecar_path(&new.id);
        if sidecar.exists() {
            return Err(SpoolError::AlreadyExists(new.id));
        }
        self.make_reserve();
        let audio_file = format!("{}.{}", new.id, audio_extension(&new.file_name));
        let now = unix_now();
        let record = SpoolRecord {
            id: new.id.clone(),
            file_name: new.file_name,
            audio_file: audio_file.clone(),
            content_type: new.content_type,
            target: new.target,
            state: SpoolState::Recording,
            attempts: 0,
            next_attempt_at: now,
            first_attempt_at_ms: None,
            last_error: None,
            created_at: now,
            finished_at: None,
            duration_ms: None,
            cut_short: None,
            metadata: new.metadata,
        };
        self.write_record(&record, Durability::NewEntry)?;
        Ok(SpoolEntry {
            id: new.id,
            audio_path: self.dir.join(audio_file),
        })
    }

    /// An entry's current record: the held one (see the module doc) or its sidecar.
    pub fn get(&self, id: &str) -> Result<SpoolRecord, SpoolError> {
        if !valid_id(id) {
            return Err(SpoolError::InvalidId(id.to_owned()));
        }
        if let Some(record) = self.held(id) {
            return Ok(record);
        }
        self.read_record(&self.sidecar_path(id))
            .map_err(|e| match e {
                SpoolError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                    SpoolError::NotFound(id.to_owned())
                }
                other => other,
            })
    }

    /// Reads, changes and stores an entry under its lock: appended to its sidecar, or held in
    /// memory when the change is one no restart needs (an entry that stays `recording`, an
    /// upload begun; see the module doc).
    pub fn update<F>(&self, id: &str, change: F) -> Result<SpoolRecord, SpoolError>
    where
        F: FnOnce(&mut SpoolRecord) -> Result<(), SpoolError>,
    {
        let _g = self.guard(id);
        let mut record = self.get(id)?;
        let from = record.state;
        change(&mut record)?;
        match Durability::of(from, record.state) {
            Durability::Held => {
                self.held
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id.to_owned(), record.clone());
            }
            durability => {
                self.write_record(&record, durability)?;
                self.unhold(id);
            }
        }
        Ok(record)
    }

    fn transition(
        record: &mut SpoolRecord,
        allowed_from: &[SpoolState],
        to: SpoolState,
    ) -> Result<(), SpoolError> {
        if !allowed_from.contains(&record.state) {
            return Err(SpoolError::BadTransition {
                id: record.id.clone(),
                from: record.state,
                to,
            });
        }
        record.state = to;
        Ok(())
    }

    /// `recording → finished`: the audio file is complete and may be uploaded now. The metadata's
    /// `duration_ms` key (when the metadata is an object) is set too.
    pub fn finish(&self, id: &str, duration_ms: u64) -> Result<SpoolRecord, SpoolError> {
        self.update(id, |r| {
            Self::transition(r, &[SpoolState::Recording], SpoolState::Finished)?;
            r.duration_ms = Some(duration_ms);
            r.finished_at = Some(unix_now());
            r.next_attempt_at = unix_now();
            if let Some(obj) = r.metadata.as_object_mut() {
                obj.insert("duration_ms".to_owned(), duration_ms.into());
            }
            Ok(())
        })
    }

    /// Like [`Spool::finish`], and also replaces the upload target and the metadata: the upload
    /// URL's query carries `duration_ms`, so the engine rebuilds it (with
    /// `callrec_kazoo::recording::upload_request`) once the recording has ended. The metadata's
    /// `duration_ms` key is set to `duration_ms` as in `finish`.
    pub fn finish_with(
        &self,
        id: &str,
        duration_ms: u64,
        target: UploadTarget,
        metadata: serde_json::Value,
    ) -> Result<SpoolRecord, SpoolError> {
        self.update(id, |r| {
            Self::transition(r, &[SpoolState::Recording], SpoolState::Finished)?;
            r.duration_ms = Some(duration_ms);
            r.finished_at = Some(unix_now());
            r.next_attempt_at = unix_now();
            r.target = target;
            r.metadata = metadata;
            if let Some(obj) = r.metadata.as_object_mut() {
                obj.insert("duration_ms".to_owned(), duration_ms.into());
            }
            Ok(())
        })
    }

    /// `recording → local`: complete, kept in the spool because its rule names no `url`
    /// (never uploaded, never retried). Sets the duration like [`Spool::finish`].
    pub fn keep_local(&self, id: &str, duration_ms: u64) -> Result<SpoolRecord, SpoolError> {
        self.update(id, |r| {
            Self::transition(r, &[SpoolState::Recording], SpoolState::Local)?;
            r.duration_ms = Some(duration_ms);
            r.finished_at = Some(unix_now());
            r.target.url = String::new();
            if let Some(obj) = r.metadata.as_object_mut() {
                obj.insert("duration_ms".to_owned(), duration_ms.into());
            }
            Ok(())
        })
    }

    /// `finished → local`: an entry finished with no upload URL (recovered after a crash, or
    /// written by an older version) is kept locally instead of failing in the uploader.
    pub fn mark_local(&self, id: &str) -> Result<SpoolRecord, SpoolError> {
        self.update(id, |r| {
            Self::transition(r, &[SpoolState::Finished], SpoolState::Local)?;
            r.last_error = None;
            Ok(())
        })
    }

    /// `recording → discarded` (shorter than `record_min_sec`): deletes the audio file and keeps
    /// the sidecar.
    pub fn discard(&self, id: &str) -> Result<SpoolRecord, SpoolError> {
        let record = self.update(id, |r| {
            Self::transition(r, &[SpoolState::Recording], SpoolState::Discarded)?;
            r.finished_at = Some(unix_now());
            Ok(())
        })?;
        remove_if_exists(&self.audio_path(&record))?;
        Ok(record)
    }

    /// `finished → uploading`, counting the attempt (and setting `first_attempt_at_ms` on the
    /// first). Held in memory, not written: a crash mid-upload recovers to `finished`.
    pub fn begin_upload(&self, id: &str) -> Result<SpoolRecord, SpoolError> {
        self.update(id, |r| {
            Self::transition(r, &[SpoolState::Finished], SpoolState::Uploading)?;
            r.attempts = r.attempts.saturating_add(1);
            r.first_attempt_at_ms.get_or_insert_with(unix_now_ms);
            Ok(())
        })
    }

    /// `uploading → stored` (synced before the audio goes, see the module doc); deletes the
    /// audio file unless `keep_file`.
    pub fn mark_stored(&self, id: &str, keep_file: bool) -> Result<SpoolRecord, SpoolError> {
        let record = self.update(id, |r| {
            Self::transition(r, &[SpoolState::Uploading], SpoolState::Stored)?;
            r.last_error = None;
            Ok(())
        })?;
        if !keep_file {
            remove_if_exists(&self.audio_path(&record))?;
        }
        Ok(record)
    }

    /// `uploading → finished` with the error and the time of the next attempt; written with the
    /// attempts counted and `first_attempt_at_ms`, so the give-up window survives a restart.
    pub fn mark_retry(
        &self,
        id: &str,
        error: String,
        next_attempt_at: u64,
    ) -> Result<SpoolRecord, SpoolError> {
        self.update(id, |r| {
            Self::transition(r, &[SpoolState::Uploading], SpoolState::Finished)?;
            r.last_error = Some(error);
            r.next_attempt_at = next_attempt_at;
            Ok(())
        })
    }

    /// `uploading|finished → failed`: given up; the audio file is kept.
    pub fn mark_failed(&self, id: &str, error: String) -> Result<SpoolRecord, SpoolError> {
        self.update(id, |r| {
            Self::transition(
                r,
                &[SpoolState::Uploading, SpoolState::Finished],
                SpoolState::Failed,
            )?;
            r.last_error = Some(error);
            Ok(())
        })
    }

    /// Retention: deletes entries that have been done for longer than `keep` allows, measured
    /// from when they finished (or were created, when they never finished): `local` and `failed`
    /// entries with their audio; `stored` and `discarded` sidecars (with an audio file kept by
    /// `keep_after_upload`). `recording`, `finished` and `uploading` entries are never pruned.
    /// Returns how many entries were deleted.
    pub fn prune(&self, now_unix: u64, keep: &Retention) -> Result<usize, SpoolError> {
        let mut removed = 0;
        for record in self.list()? {
            let limit = match record.state {
                SpoolState::Local => keep.local,
                SpoolState::Failed => keep.failed,
                SpoolState::Stored | SpoolState::Discarded => keep.done,
                SpoolState::Recording | SpoolState::Finished | SpoolState::Uploading => None,
            };
            let Some(limit) = limit else { continue };
            let since = record.finished_at.unwrap_or(record.created_at);
            if now_unix.saturating_sub(since) < limit.as_secs() {
                continue;
            }
            let _g = self.guard(&record.id);
            // Audio first: a crash in between leaves a sidecar to prune next time, never an
            // audio file nobody knows about.
            remove_if_exists(&self.audio_path(&record))?;
            remove_if_exists(&self.sidecar_path(&record.id))?;
            removed += 1;
            tracing::debug!(recording_id = %record.id, state = ?record.state, "pruned from the spool");
        }
        Ok(removed)
    }

    /// Every entry in the spool, as [`Spool::get`] returns it (unreadable sidecars are logged
    /// and skipped).
    pub fn list(&self) -> Result<Vec<SpoolRecord>, SpoolError> {
        let mut out = Vec::new();
        let read_dir = fs::read_dir(&self.dir).map_err(io_err(&self.dir))?;
        for entry in read_dir {
            let entry = entry.map_err(io_err(&self.dir))?;
            let path = entry.path();
            if path.extension() != Some(OsStr::new("json")) {
                continue;
            }
            match self.read_record(&path) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(error = %e, "skipping unreadable spool sidecar"),
            }
        }
        {
            let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            if !held.is_empty() {
                for r in &mut out {
                    if let Some(h) = held.get(&r.id) {
                        r.clone_from(h);
                    }
                }
            }
        }
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    /// Finished entries (ready to upload, possibly waiting for `next_attempt_at`), oldest first.
    pub fn pending(&self) -> Result<Vec<SpoolRecord>, SpoolError> {
        let mut v: Vec<_> = self
            .list()?
            .into_iter()
            .filter(|r| r.state == SpoolState::Finished)
            .collect();
        v.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
        Ok(v)
    }

    /// Start-up recovery after a crash or restart:
    /// - stale temporary sidecars, and sidecars whose creation a crash cut off, are removed;
    /// - entries left in `recording` get their `<file>.part` renamed to the final name and
    ///   `repair` called on the audio file, and become `finished`. A WAV that `repair` cannot
    ///   read (0 bytes, cut inside its header) is rebuilt from the metadata's sample
    ///   rate and channels, and every WAV is padded with silence to the time recorded (from the
    ///   file's creation to the recorders' last heartbeat). An MP3 is cut after its last whole
    ///   frame and padded with encoded silence to the time recorded (an empty one becomes
    ///   silence of that length). A missing audio file makes the entry `failed`,
    ///   with the reason in `last_error`;
    /// - entries left in `uploading` go back to `finished`.
    ///
    /// Returns the ids of all `finished` entries, to be queued for upload.
    pub fn recover(&self, repair: &RepairHook<'_>) -> Result<Vec<String>, SpoolError> {
        if let Ok(read_dir) = fs::read_dir(&self.dir) {
            for entry in read_dir.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.ends_with(".json.tmp") {
                    let _ = fs::remove_file(entry.path());
                } else if name.ends_with(".json") {
                    // A create cut off by a crash: not one whole line (a record is written
                    // with its newline), and nothing recorded yet (the recorder starts after
                    // the create is synced).
                    if ends_with_newline(&entry.path()) {
                        continue;
                    }
                    if let Ok(bytes) = fs::read(entry.path()) {
                        if !bytes.contains(&b'\n') && parse_sidecar::<SpoolRecord>(&bytes).is_err()
                        {
                            tracing::warn!(file = %name, "spool entry cut off while it was created: removed");
                            let _ = fs::remove_file(entry.path());
                        }
                    }
                }
            }
        }
        // Until when the recorders were running (they touch this about every 100 ms while any
        // recording is): the end of every recording cut off by the crash.
        let alive = fs::metadata(self.dir.join(callrec_media::record::RECORDERS_ALIVE_FILE))
            .and_then(|m| m.modified())
            .ok();
        let mut ready = Vec::new();
        // The recorder's MP3 bit rate (`RecordingSpec::mp3_kbps`'s default): silence added to
        // a recording that has no frame of its own is encoded at it.
        const MP3_KBPS: u16 = 32;
        for record in self.list()? {
            match record.state {
                SpoolState::Recording => {
                    let audio = self.audio_path(&record);
                    // A recorder writes `<file>.part` and renames it when finished: after a
                    // crash the audio is still under that name.
                    let part = callrec_media::record::part_path(&audio);
                    if !audio.exists() && part.exists() {
                        fs::rename(&part, &audio).map_err(io_err(&audio))?;
                    }
                    // The recording ran from the file's creation (else the sidecar's) until the
                    // recorders' last heartbeat (else the file's last write): the time recorded.
                    let file_times = fs::metadata(&audio)
                        .ok()
                        .map(|m| (m.created(), m.modified()));
                    let started_ms = file_times
                        .as_ref()
                        .and_then(|(created, _)| created.as_ref().ok().copied())
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .map_or(record.created_at.saturating_mul(1000), |d| {
                            u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
                        });
                    let ms = |t: Option<SystemTime>| {
                        t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                    };
                    let written_ms = ms(file_times
                        .as_ref()
                        .and_then(|(_, modified)| modified.as_ref().ok().copied()));
                    let ended_ms = written_ms.max(ms(alive)).unwrap_or(started_ms);
                    let meta = |key: &str| record.metadata.get(key).and_then(|v| v.as_u64());
                    let is_wav = record.metadata.get("format").and_then(|f| f.as_str())
                        != Some("mp3")
                        && audio.extension().and_then(OsStr::to_str) != Some("mp3");
                    let outcome = if is_wav && audio.exists() {
                        // Whatever is left (nothing, a header cut short, a header with zero
                        // sizes, a truncated frame): a valid WAV as long as the time recorded,
                        // silence where the audio did not reach the disk.
                        let rate = meta("sample_rate").and_then(|r| u32::try_from(r).ok());
                        let channels = meta("channels").and_then(|c| u16::try_from(c).ok());
                        let rate = rate.filter(|&r| r > 0).unwrap_or(8000);
                        let channels = channels.filter(|&c| c > 0).unwrap_or(2);
                        // Only a file that is empty or the start of a RIFF header is rebuilt:
                        // anything else is not ours to overwrite, it stays (failed) for a look.
                        let head = fs::read(&audio)
                            .map(|b| b.get(..4).unwrap_or(&b).to_vec())
                            .unwrap_or_default();
                        let cut_header = b"RIFF".starts_with(&head);
                        repair(&audio)
                            .map_err(|e| e.to_string())
                            .or_else(|e| {
                                if !cut_header {
                                    return Err(e);
                                }
                                tracing::info!(recording_id = %record.id, reason = %e, "rebuilding the WAV header");
                                callrec_media::record::recover_wav(&audio, rate, channels)
                                    .map(|_| ())
                                    .map_err(|e| e.to_string())
                            })
                            .map(|()| {
                                let recorded_ms = ended_ms.saturating_sub(started_ms);
                                let frames = recorded_ms.saturating_mul(u64::from(rate)) / 1000;
                                let frames = u32::try_from(frames).unwrap_or(u32::MAX);
                                // The audio is repaired; silence to the full length is a bonus.
                                if let Err(e) = callrec_media::record::pad_wav(&audio, frames) {
                                    tracing::warn!(recording_id = %record.id, error = %e, "could not pad the recovered WAV to the time recorded");
                                }
                            })
                            .map_err(|e| format!("repair after crash failed: {e}"))
                    } else if audio.exists() {
                        // MP3: whole frames kept, then encoded silence to the time recorded
                        // (an empty file becomes silence of that length).
                        let rate = meta("sample_rate")
                            .and_then(|r| u32::try_from(r).ok())
                            .filter(|&r| r > 0)
                            .unwrap_or(8000);
                        let channels = meta("channels")
                            .and_then(|c| u16::try_from(c).ok())
                            .filter(|&c| c > 0)
                            .unwrap_or(2);
                        let recorded_ms = ended_ms.saturating_sub(started_ms);
                        let frames = recorded_ms.saturating_mul(u64::from(rate)) / 1000;
                        repair(&audio)
                            .map_err(|e| e.to_string())
                            .and_then(|()| {
                                callrec_media::record::recover_mp3(
                                    &audio, frames, rate, channels, MP3_KBPS,
                                )
                                .map(|_| ())
                                .map_err(|e| e.to_string())
                            })
                            .map_err(|e| format!("repair after crash failed: {e}"))
                    } else {
                        Err("audio file missing after crash".to_owned())
                    };
                    match outcome {
                        Ok(()) => {
                            self.update(&record.id, |r| {
                                Self::transition(
                                    r,
                                    &[SpoolState::Recording],
                                    SpoolState::Finished,
                                )?;
                                r.finished_at = Some(unix_now());
                                r.last_error = Some("recovered after crash".to_owned());
                                Ok(())
                            })?;
                            tracing::info!(recording_id = %record.id, "recovered unfinished recording");
                            ready.push(record.id);
                        }
                        Err(reason) => {
                            self.update(&record.id, |r| {
                                r.state = SpoolState::Failed;
                                r.last_error = Some(reason.clone());
                                Ok(())
                            })?;
                            tracing::warn!(recording_id = %record.id, %reason, "unfinished recording could not be recovered");
                        }
                    }
                }
                SpoolState::Uploading => {
                    self.update(&record.id, |r| {
                        Self::transition(r, &[SpoolState::Uploading], SpoolState::Finished)
                    })?;
                    ready.push(record.id);
                }
                SpoolState::Finished => ready.push(record.id),
                SpoolState::Stored
                | SpoolState::Failed
                | SpoolState::Discarded
                | SpoolState::Local => {}
            }
        }
        Ok(ready)
    }

    fn read_record(&self, path: &Path) -> Result<SpoolRecord, SpoolError> {
        let bytes = fs::read(path).map_err(io_err(path))?;
        parse_sidecar(&bytes).map_err(|source| SpoolError::Corrupt {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes a record (see the module doc): a new entry's sidecar created and synced with its
    /// directory, a change appended and synced, a long sidecar rewritten whole. On a full disk
    /// the reserve is given up and the write tried once more.
    fn write_record(&self, record: &SpoolRecord, durability: Durability) -> Result<(), SpoolError> {
        match self.write_record_once(record, durability) {
            Err(SpoolError::Io { source, .. }) if disk_full(&source) && self.release_reserve() => {
                tracing::warn!(
                    dir = %self.dir.display(),
                    "the spool's disk is full: its reserve was released to keep recording states"
                );
                self.write_record_once(record, durability)
            }
            other => other,
        }
    }

    fn write_record_once(
        &self,
        record: &SpoolRecord,
        durability: Durability,
    ) -> Result<(), SpoolError> {
        let path = self.sidecar_path(&record.id);
        let mut line = serde_json::to_vec(record).map_err(|source| SpoolError::Corrupt {
            path: path.clone(),
            source,
        })?;
        line.push(b'\n');
        match durability {
            Durability::NewEntry => self.create_sidecar(&path, &line),
            _ => self.append_record(&path, &line),
        }
    }

    /// A new entry's sidecar: created (never over another), written, synced, and its name
    /// made durable by syncing the directory. Nothing is left behind when this fails.
    fn create_sidecar(&self, path: &Path, line: &[u8]) -> Result<(), SpoolError> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(io_err(path))?;
        if let Err(e) = f.write_all(line).and_then(|()| f.sync_all()) {
            drop(f);
            let _ = fs::remove_file(path);
            return Err(io_err(path)(e));
        }
        drop(f);
        // Opening a directory for fsync works on Unix.
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// A state change appended to the sidecar and synced; a line cut off by a crash is ended
    /// first, and a failed write is cut back off (a full disk must not leave half a line for
    /// the next record to follow). A sidecar past [`COMPACT_AT`] is rewritten whole instead.
    fn append_record(&self, path: &Path, line: &[u8]) -> Result<(), SpoolError> {
        let mut f = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(io_err(path))?;
        let len = f.metadata().map_err(io_err(path))?.len();
        if len + line.len() as u64 > COMPACT_AT {
            drop(f);
            return self.rewrite_sidecar(path, line);
        }
        let torn = last_byte(&f, len)
            .map_err(io_err(path))?
            .is_some_and(|b| b != b'\n');
        let written = if torn { f.write_all(b"\n") } else { Ok(()) }
            .and_then(|()| f.write_all(line))
            .and_then(|()| f.sync_data());
        if let Err(e) = written {
            let _ = f.set_len(len);
            return Err(io_err(path)(e));
        }
        Ok(())
    }

    /// The sidecar replaced by one holding `line` alone: temp file, fsync, rename.
    fn rewrite_sidecar(&self, path: &Path, line: &[u8]) -> Result<(), SpoolError> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        f.write_all(line).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(io_err(path))
    }
}

/// The last byte of file `f`, `len` bytes long (`None` when it is empty).
fn last_byte(f: &File, len: u64) -> io::Result<Option<u8>> {
    use std::os::unix::fs::FileExt;
    let Some(at) = len.checked_sub(1) else {
        return Ok(None);
    };
    let mut last = [0u8; 1];
    Ok((f.read_at(&mut last, at)? == 1).then_some(last[0]))
}

/// Whether the file's last byte is a newline (a sidecar whose last append was whole).
fn ends_with_newline(path: &Path) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    let Ok(len) = f.metadata().map(|m| m.len()) else {
        return false;
    };
    matches!(last_byte(&f, len), Ok(Some(b'\n')))
}

/// A sidecar past this size is rewritten whole (temp file, fsync, rename) on its next change
/// instead of appended to (a recording retried for days appends a line per attempt).
pub const COMPACT_AT: u64 = 32 * 1024;

/// The current record of a sidecar's bytes: the whole file when it is one JSON document, else
/// its last line that parses (see the module doc).
pub fn parse_sidecar<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    let whole = match serde_json::from_slice(bytes) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    bytes
        .split(|&b| b == b'\n')
        .rev()
        .map(<[u8]>::trim_ascii)
        .filter(|line| line.first() == Some(&b'{'))
        .find_map(|line| serde_json::from_slice(line).ok())
        .ok_or(whole)
}

/// How durable a change of an entry is made (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// A new entry: the file and its name (the directory) are fsynced.
    NewEntry,
    /// A new state of an existing entry: appended and synced.
    StateChange,
    /// Not written: held in memory (the spool's `held` map).
    Held,
}

impl Durability {
    /// What a change of an existing entry from state `from` to `to` needs.
    fn of(from: SpoolState, to: SpoolState) -> Durability {
        match (from, to) {
            (SpoolState::Recording, SpoolState::Recording)
            | (SpoolState::Finished | SpoolState::Uploading, SpoolState::Uploading) => {
                Durability::Held
            }
            _ => Durability::StateChange,
        }
    }
}

/// How long done entries stay in the spool ([`Spool::prune`]); `None` keeps them forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    /// `local` entries (no upload url): `recording.keep_local_days`.
    pub local: Option<std::time::Duration>,
    /// `failed` entries (uploads given up): `recording.keep_failed_days`.
    pub failed: Option<std::time::Duration>,
    /// `stored` and `discarded` sidecars: `recording.keep_uploaded_days`.
    pub done: Option<std::time::Duration>,
}

fn remove_if_exists(path: &Path) -> Result<(), SpoolError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(SpoolError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}
