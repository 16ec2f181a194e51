//! The sidecar record (`<id>.json`) stored beside each recording in the spool.

use serde::{Deserialize, Serialize};

/// Where a recording is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpoolState {
    /// The recorder is still writing the audio file.
    Recording,
    /// Complete; waiting for (the next) upload attempt.
    Finished,
    /// An upload attempt is in flight.
    Uploading,
    /// Uploaded (2xx).
    Stored,
    /// Given up after the retry window; the audio file is kept.
    Failed,
    /// Shorter than `record_min_sec`: audio deleted, nothing uploaded.
    Discarded,
    /// Complete and kept in the spool because its rule names no `url`: never uploaded, never
    /// retried; pruned after `recording.keep_local_days`.
    Local,
}

/// HTTP method of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadMethod {
    /// `PUT` (the default).
    #[default]
    Put,
    /// `POST`.
    Post,
}

/// Where to upload a recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadTarget {
    /// PUT or POST.
    pub method: UploadMethod,
    /// The full URL including the query (built by the policy crate).
    pub url: String,
}

/// The JSON sidecar of one recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpoolRecord {
    /// Recording id (spool file stem).
    pub id: String,
    /// The file name as uploaded (e.g. `call_recording_<call_id>.mp3`).
    pub file_name: String,
    /// The audio file's name inside the spool directory.
    pub audio_file: String,
    /// `Content-Type` of the upload.
    pub content_type: String,
    /// Method and URL.
    pub target: UploadTarget,
    /// Current state.
    pub state: SpoolState,
    /// Upload attempts started so far.
    pub attempts: u32,
    /// Earliest time (unix seconds) of the next upload attempt.
    pub next_attempt_at: u64,
    /// When the first upload attempt started (unix milliseconds); the give-up window counts
    /// from it.
    #[serde(default)]
    pub first_attempt_at_ms: Option<u64>,
    /// The last upload error, or a recovery note.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When the entry was created (unix seconds).
    pub created_at: u64,
    /// When recording ended (unix seconds).
    #[serde(default)]
    pub finished_at: Option<u64>,
    /// Recorded duration, when known.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// Why the audio ends before the recording was stopped (a write failed: the disk was
    /// full); the file is valid and holds what was written. Absent normally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_short: Option<String>,
    /// The policy crate's recording metadata (opaque to the spool).
    #[serde(default)]
    pub metadata: serde_json::Value,
}

impl From<callrec_kazoo::recording::Method> for UploadMethod {
    fn from(m: callrec_kazoo::recording::Method) -> Self {
        match m {
            callrec_kazoo::recording::Method::Put => UploadMethod::Put,
            callrec_kazoo::recording::Method::Post => UploadMethod::Post,
        }
    }
}

impl From<&callrec_kazoo::recording::UploadRequest> for UploadTarget {
    fn from(r: &callrec_kazoo::recording::UploadRequest) -> Self {
        UploadTarget {
            method: r.method.into(),
            url: r.url.clone(),
        }
    }
}
