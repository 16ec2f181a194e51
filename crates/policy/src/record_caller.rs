//! The `record_caller` callflow action (voicemail / IVR-prompt style recording of the caller).

use serde_json::Value;

use crate::config::PolicyConfig;
use crate::params::RecordingParams;
use crate::resolved::ResolvedSettings;
use crate::upload::{encode_component, UploadRequest};

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
    /// [`crate::validate::validate_callflow_action`]).
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
        Some(format!(
            "{}/{}.{}",
            base.trim_end_matches('/'),
            encode_component(call_id),
            self.settings.format.extension()
        ))
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
