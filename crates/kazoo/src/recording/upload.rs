//! The HTTP request that uploads a finished recording (URL compatible with KAZOO receivers).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::recording::format::{Format, Method};
use crate::recording::metadata::{RecordingMetadata, UrlStyle};

/// Everything except RFC 3986 unreserved characters is percent-encoded (space → `%20`,
/// `+` → `%2B`, `@` → `%40`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment or query value.
pub fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// How to send one recording: the body is the raw audio file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    /// `PUT` (default) or `POST`.
    pub method: Method,
    /// The full URL, query included.
    pub url: String,
    /// `audio/mpeg` or `audio/wav`.
    pub content_type: &'static str,
}

/// The upload of `meta`, or `None` when it has no `url`. This is the one builder of upload
/// targets: the engine calls it when a recording finishes and again when crash recovery has
/// measured a recording's length.
pub fn upload_request(meta: &RecordingMetadata) -> Option<UploadRequest> {
    let base = meta.url.as_deref()?;
    let url = match meta.url_style {
        UrlStyle::Kazoo => upload_url(base, meta),
        UrlStyle::RecordCaller => record_caller_url(base, &meta.call_id, meta.format),
    };
    Some(UploadRequest {
        method: meta.method,
        url,
        content_type: meta.format.content_type(),
    })
}

/// KAZOO's name for an uploaded call recording: `call_recording_<call_id>.<ext>`.
pub fn upload_file_name(call_id: &str, format: Format) -> String {
    format!("call_recording_{call_id}.{}", format.extension())
}

/// `record_caller`'s upload URL: `<base without trailing />/<call_id>.<ext>` (call id
/// percent-encoded).
pub fn record_caller_url(base: &str, call_id: &str, format: Format) -> String {
    format!(
        "{}/{}.{}",
        base.trim_end_matches('/'),
        encode_component(call_id),
        format.extension()
    )
}

/// The KAZOO-compatible upload URL for `meta` under `base`.
///
/// - `base` without a query: `<base without trailing />/call_recording_<call_id>.<ext>?from=..`
/// - `base` with a query: `<base>&recording=call_recording_<call_id>.<ext>&from=..`
///   (no extra `&` when the query is empty or already ends with one; KAZOO's
///   `check_url_param`).
///
/// The query carries `from, to, caller_id_name, caller_id_number, call_id, cdr_id,
/// interaction_id, owner_id, account_id, start, duration_ms, recording_id` in that order,
/// percent-encoded; empty or absent values are kept as `k=`. `start` is in gregorian seconds,
/// as KAZOO sends it. A `#fragment` in `base` is dropped (it is never sent over HTTP).
pub fn upload_url(base: &str, meta: &RecordingMetadata) -> String {
    let base = base.split('#').next().unwrap_or(base);
    let file = encode_component(&upload_file_name(&meta.call_id, meta.format));
    let start = meta.start_gregorian_secs().to_string();
    let duration = meta.duration_ms.to_string();
    let fields: [(&str, &str); 12] = [
        ("from", &meta.from),
        ("to", &meta.to),
        ("caller_id_name", &meta.caller_id_name),
        ("caller_id_number", &meta.caller_id_number),
        ("call_id", &meta.call_id),
        ("cdr_id", &meta.cdr_id),
        ("interaction_id", &meta.interaction_id),
        ("owner_id", meta.owner_id.as_deref().unwrap_or("")),
        ("account_id", meta.account_id.as_deref().unwrap_or("")),
        ("start", &start),
        ("duration_ms", &duration),
        ("recording_id", &meta.id),
    ];
    let query = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_component(v)))
        .collect::<Vec<_>>()
        .join("&");
    if base.contains('?') {
        let sep = if base.ends_with('?') || base.ends_with('&') {
            ""
        } else {
            "&"
        };
        format!("{base}{sep}recording={file}&{query}")
    } else {
        format!("{}/{file}?{query}", base.trim_end_matches('/'))
    }
}
