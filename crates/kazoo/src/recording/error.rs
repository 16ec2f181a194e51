//! Validation errors and warnings, each naming the path of the offending value.

use thiserror::Error;

/// A value in a document that cannot be accepted. `path` reads like
/// `user 8a1f.call_recording.inbound.offnet.format`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// A string outside its allowed set (e.g. `format: "ogg"`). `value` is the JSON text.
    #[error("{path}: {value} is not one of {allowed}")]
    NotOneOf {
        /// Where.
        path: String,
        /// The value as JSON text (strings keep their quotes).
        value: String,
        /// The allowed values, comma-separated.
        allowed: &'static str,
    },
    /// A value of the wrong JSON type.
    #[error("{path}: expected {expected}, found {found}")]
    WrongType {
        /// Where.
        path: String,
        /// What the schema wants (e.g. `a boolean`).
        expected: &'static str,
        /// The JSON type found (e.g. `a string`).
        found: &'static str,
    },
    /// A `url` that is not `http://` or `https://` with a host.
    #[error("{path}: {url:?} is not an http(s) URL")]
    NotHttpUrl {
        /// Where.
        path: String,
        /// The refused URL.
        url: String,
    },
    /// An integer below its minimum (e.g. `time_limit` below 5).
    #[error("{path}: {value} is below the minimum {min}")]
    BelowMinimum {
        /// Where.
        path: String,
        /// The value found.
        value: i64,
        /// The smallest value accepted.
        min: i64,
    },
    /// An integer too large to be meaningful (beyond `u32`).
    #[error("{path}: {value} is too large")]
    TooLarge {
        /// Where.
        path: String,
        /// The value as JSON text.
        value: String,
    },
}

impl PolicyError {
    /// The path of the offending value.
    pub fn path(&self) -> &str {
        match self {
            PolicyError::NotOneOf { path, .. }
            | PolicyError::WrongType { path, .. }
            | PolicyError::NotHttpUrl { path, .. }
            | PolicyError::BelowMinimum { path, .. }
            | PolicyError::TooLarge { path, .. } => path,
        }
    }
}

/// Something accepted but worth telling the operator about.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyWarning {
    /// A key the schema does not know; it is ignored (likely a typo).
    #[error("{path}: unknown key, ignored")]
    UnknownKey {
        /// Where (ending with the unknown key).
        path: String,
    },
    /// A `time_limit` above the configured maximum; it will be clamped.
    #[error("{path}: {value} is above the maximum {max} and will be clamped to it")]
    TimeLimitClamped {
        /// Where.
        path: String,
        /// The value found.
        value: u64,
        /// The configured maximum.
        max: u32,
    },
}
