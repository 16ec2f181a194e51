//! The `record_caller` callflow action (voicemail / IVR-prompt style recording of the caller).

use serde_json::Value;

use crate::recording::config::PolicyConfig;
use crate::recording::params::RecordingParams;
use crate::recording::resolved::ResolvedSettings;
use crate::recording::upload::{record_caller_url, UploadRequest};

/// Settings of one `record_caller` action: `format`, `method` (default put), `time_limit`
/// (default 3600) and `url`. The recording ends on hangup, time limit or any DTMF digit (the
/// driver's business); only the caller is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCaller {
    /// Settings with defaults applied.
    pub settings: ResolvedSettings,
}

impl RecordCaller {
    /// Reads the action's `data` leniently (validate it with
    /// [`crate::recording::validate::validate_callflow_action`]).
    pub fn from_value(data: &Value, config: &PolicyConfig) -> RecordCaller {
        let params = RecordingParams::from_value(data);
        RecordCaller {
            settings: ResolvedSettings::resolve(&params, config),
        }
    }

    /// `<url without trailing slash>/<call_id>.<ext>` (call id percent-encoded), or `None`
    /// without a `url`.
    pub fn upload_url(&self, call_id: &str) -> Option<String> {
        let base = self.settings.url.as_deref()?;
        Some(record_caller_url(base, call_id, self.settings.format))
    }

    /// The upload of this recording, or `None` without a `url`.
    pub fn upload_request(&self, call_id: &str) -> Option<UploadRequest> {
        Some(UploadRequest {
            method: self.settings.method,
            url: self.upload_url(call_id)?,
            content_type: self.settings.format.content_type(),
        })
    }
}
