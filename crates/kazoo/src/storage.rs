//! KAZOO's storage document (`/v2/accounts/{A}/storage`): where an account's call recordings
//! go when their rule names no `url`.
//!
//! ```json
//! {"attachments": {"<32 × [a-z0-9]>": {"handler": "s3", "name": "...",
//!    "settings": {"bucket": "...", "host": "...", "port": 9000, "scheme": "http",
//!                 "region": "...", "key": "...", "secret": "...", "path": "prefix",
//!                 "object_name": "{account_id}/{yyyy}/{mm}/{dd}/call_recording_{call_id}_{recording_id}.{ext}"}}},
//!  "plan": {"modb": {"types": {"call_recording": {"attachments": {"handler": "<id>"}}}}}}
//! ```
//!
//! - Only the `s3` handler is built (any S3-compatible server: AWS, MinIO, Garage, s3s).
//!   Another handler is refused (`attachments.<id>.handler`, rule `enum`), as is a settings
//!   object without `bucket`, `key` or `secret` (`required`) and a plan naming an attachment
//!   that is not there (`plan.modb.types.call_recording.attachments.handler`, `invalid`).
//! - `object_name` is callrec's addition: the object key template (placeholders
//!   [`PLACEHOLDERS`]; it must contain `{recording_id}` so that two recordings never share a
//!   key). `path` is a prefix put before it.
//! - The secret is never shown: [`mask_secrets`] replaces it in API replies, and a request that
//!   sends the mask back keeps the stored secret ([`keep_masked_secrets`]). [`S3Settings`]'s
//!   `Debug` hides it too.
//! - The bucket and object key of a recording are chosen when it starts
//!   ([`StoragePlans::target_for`], recorded in its metadata as [`StoredObject`]), so a
//!   recording cut off by a crash still goes where it was meant to; the handler's connection
//!   settings and credentials are read when each upload attempt starts, so fixing wrong
//!   credentials takes effect on the next retry.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::{Map, Value};

use crate::load::FieldError;
use crate::recording::{RecordingMetadata, StoredObject};

/// The only handler built.
pub const HANDLER_S3: &str = "s3";

/// The default object key template.
pub const DEFAULT_OBJECT_NAME: &str =
    "{account_id}/{yyyy}/{mm}/{dd}/call_recording_{call_id}_{recording_id}.{ext}";

/// What API replies show instead of a secret.
pub const SECRET_MASK: &str = "********";

/// The placeholders an `object_name` template may use.
pub const PLACEHOLDERS: [&str; 10] = [
    "account_id",
    "yyyy",
    "mm",
    "dd",
    "call_id",
    "recording_id",
    "ext",
    "interaction_id",
    "cdr_id",
    "owner_id",
];

/// The plan path that names the call recording handler.
pub const CALL_RECORDING_PLAN: &str = "plan.modb.types.call_recording.attachments.handler";

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP (a local MinIO, s3s, Garage).
    Http,
    /// HTTPS (the default).
    Https,
}

/// One S3 attachment handler's settings.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// Bucket.
    pub bucket: String,
    /// Host of an S3-compatible server; `None` = AWS.
    pub host: Option<String>,
    /// Port (default: the scheme's).
    pub port: Option<u16>,
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Region (default `us-east-1`).
    pub region: String,
    /// Access key id.
    pub key: String,
    /// Secret access key (never logged, never shown).
    pub secret: String,
    /// Prefix put before the object name (no leading or trailing `/`).
    pub path: String,
    /// Object key template.
    pub object_name: String,
    /// Virtual-hosted-style requests (`bucket_access_method: "vhost"`); path style otherwise.
    pub vhost: bool,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("scheme", &self.scheme)
            .field("region", &self.region)
            .field("key", &self.key)
            .field("secret", &SECRET_MASK)
            .field("path", &self.path)
            .field("object_name", &self.object_name)
            .field("vhost", &self.vhost)
            .finish()
    }
}

impl S3Settings {
    /// The endpoint URL (`scheme://host[:port]`) of an S3-compatible server; `None` for AWS
    /// (the client derives it from the region).
    pub fn endpoint(&self) -> Option<String> {
        let host = self.host.as_deref()?;
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        Some(match self.port {
            Some(p) => format!("{scheme}://{host}:{p}"),
            None => format!("{scheme}://{host}"),
        })
    }

    /// The object key of a recording (placeholders filled from `meta`, `path` before it).
    pub fn object_key(&self, meta: &RecordingMetadata) -> String {
        let name = fill_template(&self.object_name, meta);
        if self.path.is_empty() {
            name
        } else {
            format!("{}/{name}", self.path)
        }
    }
}

/// One attachment handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Its friendly `name`, if any.
    pub name: Option<String>,
    /// Its S3 settings.
    pub s3: S3Settings,
}

/// A parsed, valid storage document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StorageDoc {
    /// Handlers by id.
    pub attachments: BTreeMap<String, Attachment>,
    /// The handler call recordings go to.
    pub call_recording: Option<String>,
}

/// Every account's storage document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoragePlans {
    accounts: HashMap<String, StorageDoc>,
    /// The cluster bucket (`[cluster.storage]`): where recordings with no `url` and no account
    /// plan go when several nodes share the database.
    cluster: Option<S3Settings>,
}

/// The handler id a recording sent to the cluster bucket names in its [`StoredObject`] (not a
/// valid attachment id, so it never names an account's handler).
pub const CLUSTER_HANDLER: &str = "_cluster";

impl StoragePlans {
    /// No plans.
    pub fn new() -> StoragePlans {
        StoragePlans::default()
    }

    /// Sets `account`'s document.
    pub fn insert(&mut self, account: impl Into<String>, doc: StorageDoc) {
        self.accounts.insert(account.into(), doc);
    }

    /// Accounts with a document.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether no account has a document.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Sets the cluster bucket (its `object_name` and `path` make the keys; the default
    /// template keeps them as an account plan's default would).
    pub fn set_cluster(&mut self, cluster: Option<S3Settings>) {
        self.cluster = cluster;
    }

    /// The cluster bucket, if any.
    pub fn cluster(&self) -> Option<&S3Settings> {
        self.cluster.as_ref()
    }

    /// The handler `handler` of `account` ([`CLUSTER_HANDLER`]: the cluster bucket).
    pub fn handler(&self, account: &str, handler: &str) -> Option<&S3Settings> {
        if handler == CLUSTER_HANDLER {
            return self.cluster.as_ref();
        }
        self.accounts
            .get(account)?
            .attachments
            .get(handler)
            .map(|a| &a.s3)
    }

    /// Where a recording whose rule names no `url` goes under its account's plan: `None` when
    /// it has a `url` (the rule wins), else the account's call recording plan, else the
    /// cluster bucket when one is set; with none of them `None` (then it is kept locally).
    pub fn target_for(&self, meta: &RecordingMetadata) -> Option<StoredObject> {
        if meta.url.is_some() {
            return None;
        }
        let planned = meta
            .account_id
            .as_deref()
            .and_then(|a| self.accounts.get(a))
            .and_then(|doc| {
                let id = doc.call_recording.as_deref()?;
                let s3 = &doc.attachments.get(id)?.s3;
                Some(StoredObject {
                    handler: id.to_owned(),
                    bucket: s3.bucket.clone(),
                    key: s3.object_key(meta),
                })
            });
        planned.or_else(|| {
            let s3 = self.cluster.as_ref()?;
            Some(StoredObject {
                handler: CLUSTER_HANDLER.to_owned(),
                bucket: s3.bucket.clone(),
                key: s3.object_key(meta),
            })
        })
    }
}

/// `(year, month, day)` of a day count since 1970-01-01 (proleptic Gregorian; H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A value put into a key: `/`, `\` and control characters become `_` (a Call-ID must not
/// add folders).
fn key_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

fn fill_template(template: &str, meta: &RecordingMetadata) -> String {
    let days = i64::try_from(meta.start_unix_secs / 86_400).unwrap_or(0);
    let (y, m, d) = civil_from_days(days);
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let name = &after[..close];
        let value = match name {
            "account_id" => key_safe(meta.account_id.as_deref().unwrap_or("")),
            "yyyy" => format!("{y:04}"),
            "mm" => format!("{m:02}"),
            "dd" => format!("{d:02}"),
            "call_id" => key_safe(&meta.call_id),
            "recording_id" => key_safe(&meta.id),
            "ext" => meta.format.extension().to_owned(),
            "interaction_id" => key_safe(&meta.interaction_id),
            "cdr_id" => key_safe(&meta.cdr_id),
            "owner_id" => key_safe(meta.owner_id.as_deref().unwrap_or("")),
            other => format!("{{{other}}}"),
        };
        out.push_str(&value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Checks an `object_name` template: balanced braces, known placeholders, `{recording_id}`.
fn check_template(template: &str) -> Result<(), String> {
    if template.is_empty() {
        return Err("must not be empty".into());
    }
    let mut rest = template;
    let mut has_id = false;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err("has a '}' without '{'".into());
        }
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err("has a '{' without '}'".into());
        };
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}} (known: {})",
                PLACEHOLDERS.join(", ")
            ));
        }
        has_id |= name == "recording_id";
        rest = &after[close + 1..];
    }
    if !has_id {
        return Err("must contain {recording_id} so that two recordings never share a key".into());
    }
    if template.starts_with('/') {
        return Err("must not start with '/'".into());
    }
    Ok(())
}

fn err(path: String, rule: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        path,
        rule,
        message: message.into(),
    }
}

/// Whether `id` is a KAZOO attachment id: 32 lowercase letters or digits.
fn is_attachment_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// S3's bucket naming: 3 to 63 of `a-z 0-9 . -`, starting and ending with a letter or digit.
fn is_bucket_name(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.bytes().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.bytes().last().is_some_and(|c| c.is_ascii_alphanumeric())
}

fn string_field(
    settings: &Map<String, Value>,
    base: &str,
    name: &str,
    required: bool,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let path = format!("{base}.{name}");
    match settings.get(name) {
        None | Some(Value::Null) => {
            if required {
                errors.push(err(path, "required", format!("{name} is required")));
            }
            None
        }
        Some(Value::String(s)) if s.is_empty() && required => {
            errors.push(err(path, "minLength", format!("{name} must not be empty")));
            None
        }
        Some(Value::String(s)) if s.len() > max => {
            errors.push(err(
                path,
                "maxLength",
                format!("{name} is longer than {max} characters"),
            ));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(err(path, "type", format!("{name} must be a string")));
            None
        }
    }
}

fn parse_s3(settings: &Value, base: &str, errors: &mut Vec<FieldError>) -> Option<S3Settings> {
    let Some(settings) = settings.as_object() else {
        errors.push(err(base.to_owned(), "type", "settings must be an object"));
        return None;
    };
    let before = errors.len();
    let bucket = string_field(settings, base, "bucket", true, 63, errors);
    if let Some(b) = &bucket {
        if !is_bucket_name(b) {
            errors.push(err(
                format!("{base}.bucket"),
                "format",
                "a bucket name is 3 to 63 of a-z, 0-9, '.', '-', starting and ending with a letter or digit",
            ));
        }
    }
    let key = string_field(settings, base, "key", true, 128, errors);
    let secret = string_field(settings, base, "secret", true, 128, errors);
    let host = string_field(settings, base, "host", false, 253, errors);
    if let Some(h) = &host {
        if h.is_empty() || h.contains(['/', ':', '@', ' ', '?', '#']) {
            errors.push(err(
                format!("{base}.host"),
                "format",
                "host is a name or an IPv4 address, without scheme, port or path",
            ));
        }
    }
    let port = match settings.get("port") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().and_then(|p| u16::try_from(p).ok()) {
            Some(p) if p > 0 => Some(p),
            _ => {
                errors.push(err(
                    format!("{base}.port"),
                    "type",
                    "port must be an integer from 1 to 65535",
                ));
                None
            }
        },
    };
    let scheme = match settings.get("scheme") {
        None | Some(Value::Null) => Scheme::Https,
        Some(Value::String(s)) if s == "https" => Scheme::Https,
        Some(Value::String(s)) if s == "http" => Scheme::Http,
        Some(_) => {
            errors.push(err(
                format!("{base}.scheme"),
                "enum",
                "scheme must be one of http, https",
            ));
            Scheme::Https
        }
    };
    let region = string_field(settings, base, "region", false, 64, errors)
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "us-east-1".to_owned());
    let path = string_field(settings, base, "path", false, 512, errors)
        .map(|p| p.trim_matches('/').to_owned())
        .unwrap_or_default();
    let object_name = string_field(settings, base, "object_name", false, 512, errors)
        .unwrap_or_else(|| DEFAULT_OBJECT_NAME.to_owned());
    if let Err(why) = check_template(&object_name) {
        errors.push(err(
            format!("{base}.object_name"),
            "format",
            format!("object_name {why}"),
        ));
    }
    let vhost = match settings.get("bucket_access_method") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) if s == "vhost" => true,
        Some(Value::String(s)) if s == "path" || s == "auto" => false,
        Some(_) => {
            errors.push(err(
                format!("{base}.bucket_access_method"),
                "enum",
                "bucket_access_method must be one of auto, vhost, path",
            ));
            false
        }
    };
    if errors.len() > before {
        return None;
    }
    Some(S3Settings {
        bucket: bucket?,
        host,
        port,
        scheme,
        region,
        key: key?,
        secret: secret?,
        path,
        object_name,
        vhost,
    })
}

/// Parses and validates a storage document. Every problem is returned, each naming its field
/// (`attachments.<id>.settings.bucket`, rule `required`). Unknown keys are kept and ignored
/// (KAZOO's `connections`, other plan types).
pub fn parse_storage(doc: &Value) -> Result<StorageDoc, Vec<FieldError>> {
    let Some(doc) = doc.as_object() else {
        return Err(vec![err(
            String::new(),
            "type",
            "the storage document must be an object",
        )]);
    };
    let mut errors = Vec::new();
    let mut out = StorageDoc::default();
    match doc.get("attachments") {
        None | Some(Value::Null) => {}
        Some(Value::Object(atts)) => {
            for (id, att) in atts {
                let base = format!("attachments.{id}");
                if !is_attachment_id(id) {
                    errors.push(err(
                        base.clone(),
                        "format",
                        "an attachment id is 32 lowercase letters or digits",
                    ));
                    continue;
                }
                let Some(att) = att.as_object() else {
                    errors.push(err(base, "type", "an attachment must be an object"));
                    continue;
                };
                match att.get("handler") {
                    Some(Value::String(h)) if h == HANDLER_S3 => {}
                    None | Some(Value::Null) => {
                        errors.push(err(
                            format!("{base}.handler"),
                            "required",
                            "handler is required",
                        ));
                        continue;
                    }
                    Some(other) => {
                        errors.push(err(
                            format!("{base}.handler"),
                            "enum",
                            format!("handler {other} is not one of: {HANDLER_S3}"),
                        ));
                        continue;
                    }
                }
                let name = match att.get("name") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(_) => {
                        errors.push(err(format!("{base}.name"), "type", "name must be a string"));
                        None
                    }
                };
                let settings_path = format!("{base}.settings");
                let Some(settings) = att.get("settings") else {
                    errors.push(err(settings_path, "required", "settings is required"));
                    continue;
                };
                if let Some(s3) = parse_s3(settings, &settings_path, &mut errors) {
                    out.attachments.insert(id.clone(), Attachment { name, s3 });
                }
            }
        }
        Some(_) => errors.push(err(
            "attachments".into(),
            "type",
            "attachments must be an object",
        )),
    }
    let handler = doc
        .get("plan")
        .and_then(|p| p.get("modb"))
        .and_then(|p| p.get("types"))
        .and_then(|p| p.get("call_recording"))
        .and_then(|p| p.get("attachments"))
        .and_then(|p| p.get("handler"));
    match handler {
        None | Some(Value::Null) => {}
        Some(Value::String(h)) => {
            let known = doc
                .get("attachments")
                .and_then(Value::as_object)
                .is_some_and(|a| a.contains_key(h));
            if known {
                out.call_recording = Some(h.clone());
            } else {
                errors.push(err(
                    CALL_RECORDING_PLAN.into(),
                    "invalid",
                    format!("handler {h:?} is not an id in attachments"),
                ));
            }
        }
        Some(_) => errors.push(err(
            CALL_RECORDING_PLAN.into(),
            "type",
            "handler must be a string",
        )),
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn secrets_mut(doc: &mut Value) -> impl Iterator<Item = (&String, &mut Value)> {
    doc.get_mut("attachments")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|atts| atts.iter_mut())
        .filter_map(|(id, att)| {
            att.get_mut("settings")
                .and_then(Value::as_object_mut)
                .and_then(|s| s.get_mut("secret"))
                .map(|s| (id, s))
        })
}

/// Replaces every handler's `secret` with [`SECRET_MASK`] (API replies).
pub fn mask_secrets(doc: &mut Value) {
    for (_, secret) in secrets_mut(doc) {
        *secret = Value::String(SECRET_MASK.to_owned());
    }
}

/// A request that sends back [`SECRET_MASK`] (as read from the API) keeps the secret stored for
/// that handler in `old`.
pub fn keep_masked_secrets(new: &mut Value, old: &Value) {
    for (id, secret) in secrets_mut(new) {
        if secret.as_str() == Some(SECRET_MASK) {
            if let Some(stored) = old
                .get("attachments")
                .and_then(|a| a.get(id))
                .and_then(|a| a.get("settings"))
                .and_then(|s| s.get("secret"))
            {
                *secret = stored.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "403f90f67d1b71341f2ea6426eed3d90";

    fn doc() -> Value {
        json!({
            "attachments": {ID: {"handler": "s3", "name": "S3", "settings": {
                "bucket": "recordings", "host": "127.0.0.1", "port": 9000, "scheme": "http",
                "key": "AKID", "secret": "s3cr3t"}}},
            "plan": {"modb": {"types": {"call_recording": {"attachments": {"handler": ID}}}}}
        })
    }

    fn meta() -> RecordingMetadata {
        serde_json::from_value(json!({
            "id": "0123456789abcdef0123456789abcdef", "file_name": "x.mp3",
            "call_id": "abc/def@host", "cdr_id": "c", "interaction_id": "i", "origin": "o",
            "direction": "inbound", "from": "1001", "to": "1002", "caller_id_name": "",
            "caller_id_number": "", "callee_id_name": "", "callee_id_number": "",
            "owner_id": null, "endpoint_id": null, "account_id": "acc",
            "start_unix_secs": 1_709_251_200u64, // 2024-03-01T00:00:00Z
            "duration_ms": 0, "format": "mp3", "sample_rate": 8000, "channels": 2,
            "url": null, "method": "put", "upload": {"state": "pending", "attempts": 0}
        }))
        .expect("metadata")
    }

    fn paths(e: Vec<FieldError>) -> Vec<(String, &'static str)> {
        e.into_iter().map(|e| (e.path, e.rule)).collect()
    }

    #[test]
    fn a_valid_document_names_its_call_recording_handler() {
        let d = parse_storage(&doc()).expect("valid");
        assert_eq!(d.call_recording.as_deref(), Some(ID));
        let s3 = &d.attachments[ID].s3;
        assert_eq!(s3.endpoint().as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(s3.region, "us-east-1");
        assert!(
            !format!("{s3:?}").contains("s3cr3t"),
            "Debug hides the secret"
        );
    }

    #[test]
    fn missing_bucket_and_unknown_handler_name_their_fields() {
        let mut d = doc();
        d["attachments"][ID]["settings"]
            .as_object_mut()
            .unwrap()
            .remove("bucket");
        assert_eq!(
            paths(parse_storage(&d).unwrap_err()),
            vec![(format!("attachments.{ID}.settings.bucket"), "required")]
        );
        let mut d = doc();
        d["attachments"][ID]["handler"] = json!("dropbox");
        let e = parse_storage(&d).unwrap_err();
        assert_eq!(e[0].path, format!("attachments.{ID}.handler"));
        assert_eq!(e[0].rule, "enum");
        // The plan then names a handler that did not parse, but it is present: one error.
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn a_plan_naming_no_attachment_and_bad_settings_are_refused() {
        let mut d = doc();
        d["plan"]["modb"]["types"]["call_recording"]["attachments"]["handler"] =
            json!("ffffffffffffffffffffffffffffffff");
        assert_eq!(
            paths(parse_storage(&d).unwrap_err()),
            vec![(CALL_RECORDING_PLAN.to_owned(), "invalid")]
        );
        let mut d = doc();
        let s = &mut d["attachments"][ID]["settings"];
        s["port"] = json!(70000);
        s["scheme"] = json!("ftp");
        s["bucket"] = json!("No_Caps");
        s["object_name"] = json!("{account_id}/{call_id}.{ext}");
        let got = paths(parse_storage(&d).unwrap_err());
        for (field, rule) in [
            ("bucket", "format"),
            ("port", "type"),
            ("scheme", "enum"),
            ("object_name", "format"),
        ] {
            assert!(
                got.contains(&(format!("attachments.{ID}.settings.{field}"), rule)),
                "{field}: {got:?}"
            );
        }
        let mut d = doc();
        d["attachments"]["short"] = json!({"handler": "s3"});
        assert_eq!(
            paths(parse_storage(&d).unwrap_err()),
            vec![("attachments.short".to_owned(), "format")]
        );
    }

    #[test]
    fn the_default_key_is_dated_and_a_call_id_cannot_add_folders() {
        let d = parse_storage(&doc()).unwrap();
        let mut plans = StoragePlans::new();
        plans.insert("acc", d);
        let t = plans.target_for(&meta()).expect("planned");
        assert_eq!(t.handler, ID);
        assert_eq!(t.bucket, "recordings");
        assert_eq!(
            t.key,
            "acc/2024/03/01/call_recording_abc_def@host_0123456789abcdef0123456789abcdef.mp3"
        );
        // A url in the rule wins; another account has no plan.
        let mut m = meta();
        m.url = Some("http://example.test/r".into());
        assert_eq!(plans.target_for(&m), None);
        let mut m = meta();
        m.account_id = Some("other".into());
        assert_eq!(plans.target_for(&m), None);
    }

    #[test]
    fn path_prefix_and_a_custom_template() {
        let mut d = doc();
        d["attachments"][ID]["settings"]["path"] = json!("/calls/");
        d["attachments"][ID]["settings"]["object_name"] =
            json!("{yyyy}-{mm}-{dd}/{recording_id}.{ext}");
        let d = parse_storage(&d).unwrap();
        assert_eq!(
            d.attachments[ID].s3.object_key(&meta()),
            "calls/2024-03-01/0123456789abcdef0123456789abcdef.mp3"
        );
    }

    #[test]
    fn civil_dates_across_leap_years() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(19_783), (2024, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn secrets_are_masked_and_a_masked_secret_keeps_the_stored_one() {
        let mut shown = doc();
        mask_secrets(&mut shown);
        assert_eq!(shown["attachments"][ID]["settings"]["secret"], SECRET_MASK);
        assert!(!shown.to_string().contains("s3cr3t"));
        let mut back = shown.clone();
        keep_masked_secrets(&mut back, &doc());
        assert_eq!(back, doc());
        let mut changed = shown;
        changed["attachments"][ID]["settings"]["secret"] = json!("new");
        keep_masked_secrets(&mut changed, &doc());
        assert_eq!(changed["attachments"][ID]["settings"]["secret"], "new");
    }
}
