//! System-wide policy configuration: defaults that documents do not set.

use serde::{Deserialize, Serialize};

use crate::recording::format::{Format, Method};

/// Operator configuration of the recording policy. Every field has a documented default
/// ([`PolicyConfig::default`]); a config file may set any subset of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Format used when a document names none or names one other than `mp3`/`wav`. Default `mp3`.
    pub default_format: Format,
    /// HTTP method used when a document names none. Default `put`.
    pub default_method: Method,
    /// `time_limit` (seconds) when a document gives none. Default 3600.
    pub default_time_limit_secs: u32,
    /// Largest `time_limit` (seconds); larger values are clamped to it. Default 10800.
    pub max_time_limit_secs: u32,
}

/// Smallest `time_limit` (seconds) a document may set; below it validation fails.
pub const MIN_TIME_LIMIT_SECS: u32 = 5;

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            default_format: Format::Mp3,
            default_method: Method::Put,
            default_time_limit_secs: 3600,
            max_time_limit_secs: 10800,
        }
    }
}

impl PolicyConfig {
    /// The effective time limit for a requested one: absent → the default; below
    /// [`MIN_TIME_LIMIT_SECS`] → that minimum; above the maximum → the maximum.
    pub fn time_limit(&self, requested: Option<u32>) -> u32 {
        let max = self.max_time_limit_secs.max(MIN_TIME_LIMIT_SECS);
        let wanted = requested.unwrap_or(self.default_time_limit_secs);
        wanted.clamp(MIN_TIME_LIMIT_SECS, max)
    }
}
