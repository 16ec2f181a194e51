//! `GET /v2/accounts/{A}/recordings` (paged), `GET .../recordings/{ID}` (metadata JSON; with
//! `Accept: audio/wav` or `audio/mpeg` the audio itself, with HTTP Range so a browser can seek),
//! `DELETE .../recordings/{ID}`.
//!
//! The database holds each recording's metadata; its upload state is the spool's (the uploader
//! moves it on), so this node's sidecar is read for `state` and `last_error` when it has one.
//! A recording whose rule has no `url` is kept here (`local`) and served from the spool. A
//! recording no longer in this node's spool (uploaded, or made by another node) is served from
//! the bucket its metadata names (`storage`: an account's plan or the cluster bucket).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use callrec_kazoo::recording::{Format, StoredObject};
use callrec_kazoo::storage::CLUSTER_HANDLER;
use callrec_store::{Recording, TokenInfo};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStoreExt};
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::cdrs::page_size;
use super::{is_admin, reply, store_error, ApiState, Request};
use crate::spool::{Spool, SpoolRecord, SpoolState};

fn visible(token: &TokenInfo, rec: &Recording) -> bool {
    is_admin(token)
        || token
            .user_id
            .as_deref()
            .is_some_and(|me| rec.body.get("owner_id").and_then(Value::as_str) == Some(me))
}

/// The API's state word for a spool state (a finished recording with no upload target is
/// kept locally).
fn state_word(record: &SpoolRecord) -> &'static str {
    match record.state {
        SpoolState::Recording => "recording",
        SpoolState::Finished if record.target.url.is_empty() => "local",
        SpoolState::Finished => "finished",
        SpoolState::Uploading => "uploading",
        SpoolState::Stored => "stored",
        SpoolState::Failed => "failed",
        SpoolState::Discarded => "discarded",
        #[allow(unreachable_patterns)]
        _ => "local",
    }
}

async fn spool_record(spool: &Arc<Spool>, id: &str) -> Option<SpoolRecord> {
    let spool = spool.clone();
    let id = id.to_owned();
    tokio::task::spawn_blocking(move || spool.get(&id).ok())
        .await
        .ok()
        .flatten()
}

pub(super) async fn view(st: &ApiState, rec: &Recording) -> Value {
    let mut m = match &rec.body {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let spooled = spool_record(&st.spool, &rec.id).await;
    let (state, last_error) = match &spooled {
        Some(r) => (state_word(r).to_owned(), r.last_error.clone()),
        None => (rec.state.as_str().to_owned(), rec.last_error.clone()),
    };
    m.insert("id".into(), Value::String(rec.id.clone()));
    m.insert("call_id".into(), Value::String(rec.call_id.clone()));
    m.insert(
        "interaction_id".into(),
        Value::String(rec.interaction_id.clone()),
    );
    m.insert("state".into(), Value::String(state));
    m.insert(
        "last_error".into(),
        last_error.map(Value::String).unwrap_or(Value::Null),
    );
    if let Some(r) = &spooled {
        if let Some(d) = r.duration_ms {
            m.insert("duration_ms".into(), Value::from(d));
        }
        m.insert("content_type".into(), Value::String(r.content_type.clone()));
    }
    Value::Object(m)
}

/// The list, newest first.
pub(super) async fn list(
    st: &ApiState,
    req: &Request,
    token: &TokenInfo,
    account: &str,
) -> Response {
    let size = match page_size(req) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let start = req.query.get("start_key").map(String::as_str);
    match st.store.list_recordings(account, size, start).await {
        Ok(page) => {
            let mut data = Vec::new();
            for rec in page.items.iter().filter(|r| visible(token, r)) {
                data.push(view(st, rec).await);
            }
            let mut extra = Map::new();
            extra.insert("page_size".into(), Value::from(data.len()));
            if let Some(next) = page.next_start_key {
                extra.insert("next_start_key".into(), Value::String(next));
            }
            reply::success(StatusCode::OK, &req.id, Value::Array(data), None, extra)
        }
        Err(e) => store_error(&req.id, &e),
    }
}

fn wants_audio(req: &Request) -> bool {
    req.headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("audio/"))
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` over a file of `len` bytes → inclusive range.
fn parse_range(value: &str, len: u64) -> Option<(u64, u64)> {
    let spec = value.strip_prefix("bytes=")?.split(',').next()?.trim();
    let (a, b) = spec.split_once('-')?;
    if len == 0 {
        return None;
    }
    match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (n > 0).then(|| (len.saturating_sub(n), len - 1))
        }
        (a, "") => {
            let a: u64 = a.parse().ok()?;
            (a < len).then_some((a, len - 1))
        }
        (a, b) => {
            let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
            (a <= b && a < len).then_some((a, b.min(len - 1)))
        }
    }
}

/// The range asked for over `len` bytes: (status, first, last), or the 416 reply.
fn asked_range(req: &Request, len: u64) -> Result<(StatusCode, u64, u64), Response> {
    let range = req
        .headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_range(v, len));
    match range {
        None => Ok((StatusCode::OK, 0, len.saturating_sub(1))),
        Some(Some((a, b))) => Ok((StatusCode::PARTIAL_CONTENT, a, b)),
        Some(None) => {
            let mut r = reply::error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                &req.id,
                "range not satisfiable",
                serde_json::json!({"length": len}),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            Err(r)
        }
    }
}

/// The headers of an audio reply.
fn audio_headers(
    r: &mut Response,
    content_type: &str,
    file_name: &str,
    (status, start, end, len): (StatusCode, u64, u64, u64),
) {
    let count = if len == 0 { 0 } else { end - start + 1 };
    *r.status_mut() = status;
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&count.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "inline; filename=\"{}\"",
        file_name.replace('"', "")
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
}

fn gone(req: &Request, id: &str) -> Response {
    reply::error(
        StatusCode::NOT_FOUND,
        &req.id,
        "bad identifier",
        serde_json::json!({"cause": id, "message": "the audio is no longer kept on this node"}),
    )
}

/// The audio of a recording that is not in this node's spool, from the bucket its metadata
/// names (an account's storage plan or the cluster bucket): any node serves any node's
/// recording. `None`: the metadata names no object.
async fn audio_from_bucket(st: &ApiState, req: &Request, rec: &Recording) -> Option<Response> {
    let object: StoredObject = serde_json::from_value(rec.body.get("storage")?.clone()).ok()?;
    let plans = st.docs.current().storage;
    let settings = if object.handler == CLUSTER_HANDLER {
        st.cluster_storage.clone()
    } else {
        plans.handler(&rec.account_id, &object.handler).cloned()
    };
    let Some(mut s3) = settings else {
        return Some(reply::error(
            StatusCode::NOT_FOUND,
            &req.id,
            "bad identifier",
            serde_json::json!({"cause": rec.id, "message": "the recording's storage is not configured on this node"}),
        ));
    };
    s3.bucket = object.bucket.clone();
    let unavailable = |why: String| {
        tracing::warn!(recording = %rec.id, error = %why, "cannot read a recording from its bucket");
        reply::error(
            StatusCode::BAD_GATEWAY,
            &req.id,
            "storage unavailable",
            serde_json::json!({"cause": rec.id, "message": why}),
        )
    };
    let store = match crate::upload::s3::reader(&s3, &st.upload) {
        Ok(s) => s,
        Err(e) => return Some(unavailable(e.to_string())),
    };
    let Ok(path) = ObjectPath::parse(&object.key) else {
        return Some(gone(req, &rec.id));
    };
    let len = match store.head(&path).await {
        Ok(meta) => meta.size,
        Err(object_store::Error::NotFound { .. }) => return Some(gone(req, &rec.id)),
        Err(e) => return Some(unavailable(crate::upload::s3::describe_error(&e))),
    };
    let (status, start, end) = match asked_range(req, len) {
        Ok(r) => r,
        Err(r) => return Some(r),
    };
    let body = if len == 0 {
        Body::empty()
    } else {
        let opts = GetOptions {
            range: Some(GetRange::Bounded(start..end + 1)),
            ..GetOptions::default()
        };
        match store.get_opts(&path, opts).await {
            Ok(got) => Body::from_stream(got.into_stream()),
            Err(object_store::Error::NotFound { .. }) => return Some(gone(req, &rec.id)),
            Err(e) => return Some(unavailable(crate::upload::s3::describe_error(&e))),
        }
    };
    let format = rec
        .body
        .get("format")
        .and_then(|f| serde_json::from_value::<Format>(f.clone()).ok())
        .unwrap_or(Format::Mp3);
    let file_name = rec
        .body
        .get("file_name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut r = Response::new(body);
    audio_headers(
        &mut r,
        format.content_type(),
        file_name,
        (status, start, end, len),
    );
    Some(r)
}

async fn audio(st: &ApiState, req: &Request, rec: &Recording) -> Response {
    let id = rec.id.as_str();
    let local = match spool_record(&st.spool, id).await {
        Some(record) => {
            let path = st.spool.audio_path(&record);
            tokio::fs::File::open(&path).await.ok().map(|f| (record, f))
        }
        None => None,
    };
    let Some((record, mut file)) = local else {
        return match audio_from_bucket(st, req, rec).await {
            Some(r) => r,
            None => gone(req, id),
        };
    };
    let len = match file.metadata().await {
        Ok(m) => m.len(),
        Err(_) => return reply::internal(&req.id),
    };
    let (status, start, end) = match asked_range(req, len) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let count = if len == 0 { 0 } else { end - start + 1 };
    if file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
        return reply::internal(&req.id);
    }
    let stream = tokio_util::io::ReaderStream::new(file.take(count));
    let mut r = Response::new(Body::from_stream(stream));
    audio_headers(
        &mut r,
        &record.content_type,
        &record.file_name,
        (status, start, end, len),
    );
    r
}

/// One recording: metadata, or the audio.
pub(super) async fn one(
    st: &ApiState,
    req: &Request,
    token: &TokenInfo,
    account: &str,
    id: &str,
) -> Response {
    let rec = match st.store.get_recording(account, id).await {
        Ok(r) if visible(token, &r) => r,
        Ok(_) => return reply::not_found(&req.id, id),
        Err(e) => return store_error(&req.id, &e),
    };
    if wants_audio(req) {
        return audio(st, req, &rec).await;
    }
    reply::ok(&req.id, view(st, &rec).await)
}

/// Deletes a recording's metadata and, on this node, its audio and sidecar.
pub(super) async fn delete(
    st: &ApiState,
    req: &Request,
    token: &TokenInfo,
    account: &str,
    id: &str,
) -> Response {
    if !is_admin(token) {
        return reply::forbidden(&req.id);
    }
    let rec = match st.store.get_recording(account, id).await {
        Ok(r) => r,
        Err(e) => return store_error(&req.id, &e),
    };
    let data = view(st, &rec).await;
    if let Err(e) = st.store.delete_recording(account, id).await {
        return store_error(&req.id, &e);
    }
    let spool = st.spool.clone();
    let rid = rec.id.clone();
    let removed = tokio::task::spawn_blocking(move || spool.remove(&rid)).await;
    if !matches!(removed, Ok(Ok(()))) {
        tracing::warn!(recording = %rec.id, "recording deleted from the database; its spool files could not be removed");
    }
    reply::ok(&req.id, data)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_of_a_1000_byte_file() {
        assert_eq!(parse_range("bytes=0-99", 1000), Some((0, 99)));
        assert_eq!(parse_range("bytes=900-", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=-100", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=500-5000", 1000), Some((500, 999)));
        assert_eq!(parse_range("bytes=1000-", 1000), None);
        assert_eq!(parse_range("bytes=5-1", 1000), None);
        assert_eq!(parse_range("items=0-1", 1000), None);
    }
}
