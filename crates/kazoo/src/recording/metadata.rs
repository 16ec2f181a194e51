//! Metadata of one recording, stored as a JSON sidecar in the spool and sent in the upload query.

use serde::{Deserialize, Serialize};

use crate::recording::format::{Format, Method};

/// The CDR direction of the recorded leg, from callrec's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LegDirection {
    /// The peer sent callrec the INVITE (A leg).
    Inbound,
    /// callrec sent the INVITE (B leg).
    Outbound,
}

/// Why a recording was discarded instead of uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscardReason {
    /// Shorter than `record_min_sec`: file deleted, nothing uploaded.
    TooShort,
}

/// Where the upload of a recording stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum UploadState {
    /// Waiting for (another) attempt.
    Pending {
        /// Attempts made so far.
        attempts: u32,
    },
    /// Stored by the receiver (2xx).
    Stored {
        /// Attempts it took.
        attempts: u32,
        /// The final HTTP status.
        status: u16,
    },
    /// Gave up after the last attempt; the file is kept and reported.
    Failed {
        /// Attempts made.
        attempts: u32,
        /// The last error, for the operator.
        last_error: String,
    },
    /// Not uploaded on purpose.
    Discarded {
        /// Why.
        reason: DiscardReason,
    },
    /// No `url` configured: kept locally only.
    NoUrl,
}

/// Everything known about one recording (behaviour.md's list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingMetadata {
    /// Recording id (32 hex digits), also `media_recording_id` in the CDR.
    pub id: String,
    /// File name in the spool (`<id>.<ext>` or the callflow's `media_name`).
    pub file_name: String,
    /// SIP Call-ID of the recorded leg.
    pub call_id: String,
    /// Id of the CDR of the recorded leg.
    pub cdr_id: String,
    /// Interaction id shared by all legs of the interaction.
    pub interaction_id: String,
    /// Origin label (e.g. `inbound from offnet to account`).
    pub origin: String,
    /// CDR direction of the recorded leg.
    pub direction: LegDirection,
    /// From user/number.
    pub from: String,
    /// To user/number.
    pub to: String,
    /// Caller id name.
    pub caller_id_name: String,
    /// Caller id number.
    pub caller_id_number: String,
    /// Callee id name.
    pub callee_id_name: String,
    /// Callee id number.
    pub callee_id_number: String,
    /// Owner (user) id of the endpoint whose rule started it, if any.
    pub owner_id: Option<String>,
    /// Endpoint (device) id whose rule started it, if any.
    pub endpoint_id: Option<String>,
    /// Account id.
    pub account_id: Option<String>,
    /// Start, seconds since the Unix epoch (passed in; this crate reads no clock).
    pub start_unix_secs: u64,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// File format.
    pub format: Format,
    /// Sample rate of the file in Hz.
    pub sample_rate: u32,
    /// Channels in the file (2 = caller left, callee right).
    pub channels: u16,
    /// Upload base URL as configured, if any.
    pub url: Option<String>,
    /// Upload method.
    pub method: Method,
    /// Upload progress.
    pub upload: UploadState,
    /// How the upload URL is formed from `url` (absent in sidecars written before it existed:
    /// KAZOO's form).
    #[serde(default)]
    pub url_style: UrlStyle,
    /// The object it goes to under its account's storage plan (its rule named no `url`),
    /// chosen when it started ([`crate::storage`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StoredObject>,
    /// The callrec node that made it (`[cluster] node_id`), when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
}

/// A recording's object in an account's storage (an S3 bucket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredObject {
    /// The attachment handler's id in the account's storage document.
    pub handler: String,
    /// The bucket.
    pub bucket: String,
    /// The object key.
    pub key: String,
}

/// How a recording's upload URL is formed from its base `url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UrlStyle {
    /// KAZOO's call recording: `<url>/call_recording_<call_id>.<ext>?<query>` (or the file
    /// name as a `recording=` parameter when `url` has a query).
    #[default]
    Kazoo,
    /// `record_caller`: `<url>/<call_id>.<ext>`, no query.
    RecordCaller,
}

impl RecordingMetadata {
    /// The start in gregorian seconds (KAZOO's timestamp form, used in the upload query).
    pub fn start_gregorian_secs(&self) -> u64 {
        self.start_unix_secs
            .saturating_add(crate::gregorian::UNIX_EPOCH_GREGORIAN_SECONDS)
    }
}
