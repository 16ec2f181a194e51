//! The recording parameters object (`enabled`, `format`, `time_limit`, ...), read leniently.
//!
//! This is the forgiving reader used when deciding: a value of the wrong type counts as absent,
//! so arbitrary JSON never makes a decision fail. The strict reader that reports such mistakes
//! with their path is [`crate::recording::validate`]; run it when a document is saved or loaded.

use serde_json::Value;

use crate::recording::format::{Format, Method};

/// Every key a parameters object may carry.
pub const PARAM_KEYS: &[&str] = &[
    "enabled",
    "format",
    "record_min_sec",
    "record_on_answer",
    "record_on_bridge",
    "record_sample_rate",
    "time_limit",
    "url",
    "method",
];

/// One parameters object as written in a document, before defaults are applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingParams {
    /// `enabled`: only `true` (or the string `"true"`, as KAZOO's `is_true`) enables.
    pub enabled: bool,
    /// `format`, when it is exactly `mp3` or `wav`.
    pub format: Option<Format>,
    /// `record_min_sec`: recordings shorter than this many seconds are discarded.
    pub record_min_sec: Option<u32>,
    /// `record_on_answer`: start when the leg is answered.
    pub record_on_answer: bool,
    /// `record_on_bridge`: start when the leg is bridged.
    pub record_on_bridge: bool,
    /// `record_sample_rate` in Hz, when a positive integer.
    pub record_sample_rate: Option<u32>,
    /// `time_limit` in seconds, as written (clamping happens on resolution).
    pub time_limit: Option<u32>,
    /// `url`, kept only when it is an `http://` or `https://` URL.
    pub url: Option<String>,
    /// `method` (`put`/`post`).
    pub method: Option<Method>,
}

impl RecordingParams {
    /// Reads a parameters object leniently; a non-object gives the disabled default.
    pub fn from_value(v: &Value) -> RecordingParams {
        let Some(obj) = v.as_object() else {
            return RecordingParams::default();
        };
        RecordingParams {
            enabled: obj.get("enabled").is_some_and(is_true),
            format: obj
                .get("format")
                .and_then(Value::as_str)
                .and_then(Format::parse),
            record_min_sec: obj.get("record_min_sec").and_then(as_u32),
            record_on_answer: obj.get("record_on_answer").is_some_and(is_true),
            record_on_bridge: obj.get("record_on_bridge").is_some_and(is_true),
            record_sample_rate: obj
                .get("record_sample_rate")
                .and_then(as_u32)
                .filter(|r| *r > 0),
            time_limit: obj.get("time_limit").and_then(as_u32),
            url: obj
                .get("url")
                .and_then(Value::as_str)
                .filter(|u| is_http_url(u))
                .map(str::to_owned),
            method: obj
                .get("method")
                .and_then(Value::as_str)
                .and_then(Method::parse),
        }
    }
}

/// KAZOO's `is_true`: the boolean `true` or the string `"true"`.
pub(crate) fn is_true(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s == "true",
        _ => false,
    }
}

/// A non-negative integer that fits `u32`, or a string of such digits (lenient reading).
pub(crate) fn as_u32(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse::<u32>().ok(),
        _ => None,
    }
}

/// True when `url` starts with `http://` or `https://` (ASCII case ignored) and names a host.
pub fn is_http_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        url.get(8..)
    } else if lower.starts_with("http://") {
        url.get(7..)
    } else {
        None
    };
    match rest {
        Some(rest) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !host.contains(char::is_whitespace)
        }
        None => false,
    }
}
