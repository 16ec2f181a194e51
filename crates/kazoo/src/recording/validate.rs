//! Strict validation of account, user and device documents and callflow action data.
//!
//! Errors (wrong types, values outside their sets, a non-http(s) `url`, `time_limit` below 5)
//! make a document unacceptable. Unknown keys are *warnings*: the document still works (KAZOO
//! documents often carry extra keys), but every one is reported with its path, never dropped
//! silently. Only `call_recording` and `record_call` are examined; other keys of a user or
//! device document belong to other features.

use std::fmt;

use serde_json::{Map, Value};

use crate::recording::config::{PolicyConfig, MIN_TIME_LIMIT_SECS};
use crate::recording::error::{PolicyError, PolicyWarning};
use crate::recording::params::{is_http_url, PARAM_KEYS};

/// Which kind of document is validated (the first word of every path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// An account document.
    Account,
    /// A user document.
    User,
    /// A device document.
    Device,
    /// The data of a callflow action.
    Callflow,
}

impl fmt::Display for DocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DocKind::Account => "account",
            DocKind::User => "user",
            DocKind::Device => "device",
            DocKind::Callflow => "callflow",
        })
    }
}

/// Everything validation found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationReport {
    /// Problems that make the document unacceptable.
    pub errors: Vec<PolicyError>,
    /// Accepted oddities (unknown keys, clamped limits).
    pub warnings: Vec<PolicyWarning>,
}

impl ValidationReport {
    /// True when there are no errors (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The warnings when there are no errors, else the errors.
    pub fn into_result(self) -> Result<Vec<PolicyWarning>, Vec<PolicyError>> {
        if self.errors.is_empty() {
            Ok(self.warnings)
        } else {
            Err(self.errors)
        }
    }
}

struct Ctx<'a> {
    config: &'a PolicyConfig,
    report: ValidationReport,
}

/// Validates the recording parts of a document: for an account, `call_recording.account` and
/// `call_recording.endpoint`; for a user or device, `call_recording` and `record_call`.
/// `id` names the document in paths (`user 8a1f.call_recording...`).
pub fn validate_document(
    kind: DocKind,
    id: &str,
    doc: &Value,
    config: &PolicyConfig,
) -> ValidationReport {
    let mut ctx = Ctx {
        config,
        report: ValidationReport::default(),
    };
    let root = format!("{kind} {id}");
    let Some(obj) = doc.as_object() else {
        ctx.wrong_type(&root, "an object", doc);
        return ctx.report;
    };
    match kind {
        DocKind::Account => {
            if let Some(cr) = obj.get("call_recording") {
                let path = format!("{root}.call_recording");
                if let Some(m) = ctx.object(&path, cr) {
                    for (k, v) in m {
                        let p = format!("{path}.{k}");
                        match k.as_str() {
                            "account" | "endpoint" => ctx.nesting(&p, v),
                            _ => ctx.unknown(p),
                        }
                    }
                }
            }
        }
        DocKind::User | DocKind::Device | DocKind::Callflow => {
            if let Some(cr) = obj.get("call_recording") {
                ctx.nesting(&format!("{root}.call_recording"), cr);
            }
            if let Some(rc) = obj.get("record_call") {
                if !rc.is_boolean() {
                    ctx.wrong_type(&format!("{root}.record_call"), "a boolean", rc);
                }
            }
        }
    }
    ctx.report
}

/// Validates the data of a `record_call` (`caller = false`) or `record_caller` (`caller = true`)
/// callflow action. `id` names the callflow in paths.
pub fn validate_callflow_action(
    id: &str,
    data: &Value,
    caller: bool,
    config: &PolicyConfig,
) -> ValidationReport {
    let mut ctx = Ctx {
        config,
        report: ValidationReport::default(),
    };
    let root = format!("callflow {id}.data");
    let Some(obj) = ctx.object(&root, data) else {
        return ctx.report;
    };
    for (k, v) in obj {
        let p = format!("{root}.{k}");
        match (k.as_str(), caller) {
            ("format", _) => ctx.one_of(&p, v, &["mp3", "wav"], "mp3, wav"),
            ("method", _) => ctx.method(&p, v),
            ("time_limit", _) => ctx.time_limit(&p, v),
            ("url", _) => ctx.url(&p, v),
            ("action", false) => ctx.string(&p, v),
            ("label" | "media_name", false) => ctx.string(&p, v),
            ("record_min_sec" | "record_sample_rate", false) => {
                ctx.integer(&p, v, 0);
            }
            ("record_on_answer" | "record_on_bridge", false) => ctx.boolean(&p, v),
            _ => ctx.unknown(p),
        }
    }
    ctx.report
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Ctx<'_> {
    fn wrong_type(&mut self, path: &str, expected: &'static str, v: &Value) {
        self.report.errors.push(PolicyError::WrongType {
            path: path.to_owned(),
            expected,
            found: type_name(v),
        });
    }

    fn unknown(&mut self, path: String) {
        self.report
            .warnings
            .push(PolicyWarning::UnknownKey { path });
    }

    fn object<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v Map<String, Value>> {
        let o = v.as_object();
        if o.is_none() {
            self.wrong_type(path, "an object", v);
        }
        o
    }

    /// `{inbound|outbound|any: {onnet|offnet|any: params}}`.
    fn nesting(&mut self, path: &str, v: &Value) {
        let Some(dirs) = self.object(path, v) else {
            return;
        };
        for (dk, dv) in dirs {
            let dp = format!("{path}.{dk}");
            if !matches!(dk.as_str(), "inbound" | "outbound" | "any") {
                self.unknown(dp);
                continue;
            }
            let Some(nets) = self.object(&dp, dv) else {
                continue;
            };
            for (nk, nv) in nets {
                let np = format!("{dp}.{nk}");
                if !matches!(nk.as_str(), "onnet" | "offnet" | "any") {
                    self.unknown(np);
                    continue;
                }
                self.params(&np, nv);
            }
        }
    }

    fn params(&mut self, path: &str, v: &Value) {
        let Some(obj) = self.object(path, v) else {
            return;
        };
        for (k, v) in obj {
            let p = format!("{path}.{k}");
            match k.as_str() {
                "enabled" | "record_on_answer" | "record_on_bridge" => self.boolean(&p, v),
                "format" => self.one_of(&p, v, &["mp3", "wav"], "mp3, wav"),
                "method" => self.method(&p, v),
                "record_min_sec" => {
                    self.integer(&p, v, 0);
                }
                "record_sample_rate" => {
                    self.integer(&p, v, 1);
                }
                "time_limit" => self.time_limit(&p, v),
                "url" => self.url(&p, v),
                _ => {
                    debug_assert!(!PARAM_KEYS.contains(&k.as_str()));
                    self.unknown(p)
                }
            }
        }
    }

    fn boolean(&mut self, path: &str, v: &Value) {
        if !v.is_boolean() {
            self.wrong_type(path, "a boolean", v);
        }
    }

    fn string(&mut self, path: &str, v: &Value) {
        if !v.is_string() {
            self.wrong_type(path, "a string", v);
        }
    }

    fn one_of(&mut self, path: &str, v: &Value, allowed: &[&str], list: &'static str) {
        match v.as_str() {
            Some(s) if allowed.contains(&s) => {}
            Some(_) => self.report.errors.push(PolicyError::NotOneOf {
                path: path.to_owned(),
                value: v.to_string(),
                allowed: list,
            }),
            None => self.wrong_type(path, "a string", v),
        }
    }

    fn method(&mut self, path: &str, v: &Value) {
        self.one_of(path, v, &["put", "post"], "put, post");
    }

    /// An integer `>= min` that fits `u32`; returns it when valid.
    fn integer(&mut self, path: &str, v: &Value, min: i64) -> Option<u64> {
        let Value::Number(n) = v else {
            self.wrong_type(path, "an integer", v);
            return None;
        };
        if let Some(i) = n.as_i64() {
            if i < min {
                self.report.errors.push(PolicyError::BelowMinimum {
                    path: path.to_owned(),
                    value: i,
                    min,
                });
                return None;
            }
        }
        match n.as_u64() {
            Some(u) if u32::try_from(u).is_ok() => Some(u),
            Some(_) => {
                self.report.errors.push(PolicyError::TooLarge {
                    path: path.to_owned(),
                    value: n.to_string(),
                });
                None
            }
            None if n.is_f64() => {
                self.wrong_type(path, "an integer", v);
                None
            }
            None => None,
        }
    }

    fn time_limit(&mut self, path: &str, v: &Value) {
        if let Some(t) = self.integer(path, v, i64::from(MIN_TIME_LIMIT_SECS)) {
            let max = self.config.max_time_limit_secs;
            if t > u64::from(max) {
                self.report.warnings.push(PolicyWarning::TimeLimitClamped {
                    path: path.to_owned(),
                    value: t,
                    max,
                });
            }
        }
    }

    fn url(&mut self, path: &str, v: &Value) {
        match v.as_str() {
            Some(u) if is_http_url(u) => {}
            Some(u) => self.report.errors.push(PolicyError::NotHttpUrl {
                path: path.to_owned(),
                url: u.to_owned(),
            }),
            None => self.wrong_type(path, "a string", v),
        }
    }
}
