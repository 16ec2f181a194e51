//! Settings with every default applied: what a recorder actually uses.

use serde::{Deserialize, Serialize};

use crate::recording::config::PolicyConfig;
use crate::recording::format::{Format, Method};
use crate::recording::params::RecordingParams;

/// Recording settings after defaults and limits of [`PolicyConfig`] are applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedSettings {
    /// File format (`mp3` unless the document says `wav`, or the configured default).
    pub format: Format,
    /// Sample rate in Hz; `None` = the codec's own clock rate.
    pub sample_rate: Option<u32>,
    /// Time limit in seconds: default 3600, clamped to `5..=max_time_limit_secs`.
    pub time_limit_secs: u32,
    /// Recordings shorter than this (seconds) are discarded; 0 keeps everything.
    pub record_min_sec: u32,
    /// Where to upload; `None` = keep locally only.
    pub url: Option<String>,
    /// Upload method (default `put`).
    pub method: Method,
}

impl ResolvedSettings {
    /// Applies the defaults of `config` to `params`.
    pub fn resolve(params: &RecordingParams, config: &PolicyConfig) -> ResolvedSettings {
        ResolvedSettings {
            format: params.format.unwrap_or(config.default_format),
            sample_rate: params.record_sample_rate,
            time_limit_secs: config.time_limit(params.time_limit),
            record_min_sec: params.record_min_sec.unwrap_or(0),
            url: params.url.clone(),
            method: params.method.unwrap_or(config.default_method),
        }
    }
}
