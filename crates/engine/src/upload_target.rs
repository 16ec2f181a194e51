//! Where a finished recording goes. This is the one place that decides it, used when a
//! recording finishes normally and again when crash recovery has measured a recording the
//! crash cut off: the KAZOO-compatible URL names the duration, so it can only be built once
//! the length is known.

use callrec_kazoo::recording::{upload_request, RecordingMetadata, UploadRequest, UploadState};
use serde_json::Value;

/// What to do with a finished recording's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Upload it with this request, retrying until the receiver takes it.
    Upload(UploadRequest),
    /// Keep it on this node: its rule named no `url`.
    KeepLocal,
}

/// The disposition of a recording whose metadata is final (duration set).
pub fn disposition(metadata: &RecordingMetadata) -> Disposition {
    match upload_request(metadata) {
        Some(r) => Disposition::Upload(r),
        None => Disposition::KeepLocal,
    }
}

/// A recording recovered after a crash, its metadata completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The metadata with the measured duration and the upload state.
    pub metadata: RecordingMetadata,
    /// Where it goes.
    pub disposition: Disposition,
}

/// Completes the metadata of a recording that a crash cut off: `measured_ms` is the length of
/// its repaired audio file (when it could be measured). `None` when the sidecar's metadata is
/// not recording metadata (then the entry is left as it is).
pub fn recovered(metadata: &Value, measured_ms: Option<u64>) -> Option<Recovered> {
    let mut metadata: RecordingMetadata = serde_json::from_value(metadata.clone()).ok()?;
    if let Some(ms) = measured_ms {
        metadata.duration_ms = ms;
    }
    let disposition = disposition(&metadata);
    metadata.upload = match disposition {
        Disposition::Upload(_) => UploadState::Pending { attempts: 0 },
        Disposition::KeepLocal => UploadState::NoUrl,
    };
    Some(Recovered {
        metadata,
        disposition,
    })
}
