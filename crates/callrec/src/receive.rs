//! `callrec receive`: a small HTTP receiver for recordings, for users without a web server and
//! for tests.
//!
//! It accepts `PUT` and `POST` on any path and stores the raw body in the target directory under
//! the URL path's last segment (percent-decoded), written atomically (temporary file, fsync,
//! rename). Beside it, `<file>.json` records the request:
//!
//! ```json
//! {"file": "call_recording_abc.mp3", "path": "/recordings/call_recording_abc.mp3",
//!  "method": "PUT", "content_type": "audio/mpeg", "size": 12345,
//!  "query": {"call_id": "abc", "from": "1001@demo.callrec.local", ...}}
//! ```
//!
//! Query values are decoded (`application/x-www-form-urlencoded` rules; a repeated key keeps
//! the last value). A path with a `..` or `.` segment, an empty last segment, or a name holding
//! `/`, `\`, NUL or starting with `.` after decoding is refused with 400 (nothing escapes the
//! directory). Success is 201 Created. Other methods get 405.
//!
//! Test aid: [`ReceiverConfig::fail_first`] (`--fail-first N`) answers 500 to the first N
//! uploads (after reading their bodies), to exercise the uploader's retries.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::BodyExt;
use percent_encoding::percent_decode_str;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// Receiver settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// Directory the files are written to (created if missing).
    pub dir: PathBuf,
    /// Test aid: answer 500 to this many first uploads.
    pub fail_first: u64,
}

/// Counters of a running receiver.
#[derive(Debug, Default)]
pub struct ReceiverStats {
    /// PUT/POST requests seen (stored, refused or failed on purpose).
    pub requests: AtomicU64,
    /// Files stored.
    pub stored: AtomicU64,
    /// Requests refused with 4xx.
    pub refused: AtomicU64,
    /// Requests answered 500 by the `fail_first` test aid.
    pub injected_failures: AtomicU64,
}

struct Shared {
    cfg: ReceiverConfig,
    stats: Arc<ReceiverStats>,
}

/// Builds the receiver's router and returns its counters.
pub fn router(cfg: ReceiverConfig) -> (Router, Arc<ReceiverStats>) {
    let stats = Arc::new(ReceiverStats::default());
    let shared = Arc::new(Shared {
        cfg,
        stats: stats.clone(),
    });
    (Router::new().fallback(handle).with_state(shared), stats)
}

/// Serves on `listener` until `shutdown` completes. Creates the directory first.
pub async fn serve<F>(
    listener: TcpListener,
    cfg: ReceiverConfig,
    shutdown: F,
) -> io::Result<Arc<ReceiverStats>>
where
    F: Future<Output = ()> + Send + 'static,
{
    tokio::fs::create_dir_all(&cfg.dir).await?;
    let (app, stats) = router(cfg);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(stats)
}

/// The file name for a request path: the percent-decoded last segment, or `None` if the path
/// could escape the directory or names nothing.
pub fn file_name_for_path(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let mut last = None;
    for raw in path.split('/').skip(1) {
        let seg = percent_decode_str(raw).decode_utf8().ok()?;
        if seg == ".." || seg == "." {
            return None;
        }
        last = Some(seg.into_owned());
    }
    let name = last?;
    let bad = name.is_empty()
        || name.starts_with('.')
        || name.len() > 255
        || name
            .chars()
            .any(|c| c == '/' || c == '\\' || c == '\0' || c.is_control());
    if bad {
        None
    } else {
        Some(name)
    }
}

fn decode_query(query: Option<&str>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        out.insert(dec(k), dec(v));
    }
    out
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().clone();
    if method != Method::PUT && method != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, "only PUT and POST\n").into_response();
    }
    let stats = &shared.stats;
    let n = stats.requests.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path().to_owned();
    let query = decode_query(req.uri().query());
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let Some(name) = file_name_for_path(&path) else {
        stats.refused.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::BAD_REQUEST, "bad file name in path\n").into_response();
    };
    let body = req.into_body();
    if n < shared.cfg.fail_first {
        // Read the body so the client sees the answer rather than a reset connection.
        let _ = body.collect().await;
        stats.injected_failures.fetch_add(1, Ordering::Relaxed);
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "injected failure (--fail-first)\n",
        )
            .into_response();
    }
    match store(&shared.cfg.dir, &name, body).await {
        Ok(size) => {
            let sidecar = serde_json::json!({
                "file": name,
                "path": path,
                "method": method.as_str(),
                "content_type": content_type,
                "size": size,
                "query": query,
            });
            let text = match serde_json::to_vec_pretty(&sidecar) {
                Ok(t) => t,
                Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            };
            if let Err(e) = write_atomic(&shared.cfg.dir, &format!("{name}.json"), &text).await {
                tracing::warn!(error = %e, "receiver: cannot write sidecar");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            stats.stored.fetch_add(1, Ordering::Relaxed);
            tracing::info!(file = %name, size, "received recording");
            (StatusCode::CREATED, "stored\n").into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "receiver: cannot store body");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn temp_name(name: &str) -> String {
    format!(".{name}.{:016x}.tmp", rand::random::<u64>())
}

/// Streams the body into `<dir>/.<name>.<rand>.tmp`, fsyncs and renames it to `<dir>/<name>`.
async fn store(dir: &Path, name: &str, mut body: Body) -> io::Result<u64> {
    tokio::fs::create_dir_all(dir).await?;
    let tmp = dir.join(temp_name(name));
    let result = async {
        let mut file = tokio::fs::File::create(&tmp).await?;
        let mut size = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(io::Error::other)?;
            if let Ok(data) = frame.into_data() {
                size = size.saturating_add(data.len() as u64);
                file.write_all(&data).await?;
            }
        }
        file.sync_all().await?;
        tokio::fs::rename(&tmp, dir.join(name)).await?;
        Ok(size)
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result
}

async fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(temp_name(name));
    let mut file = tokio::fs::File::create(&tmp).await?;
    file.write_all(bytes).await?;
    file.sync_all().await?;
    tokio::fs::rename(&tmp, dir.join(name)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_segment_is_decoded_and_escapes_are_refused() {
        assert_eq!(
            file_name_for_path("/recordings/call_recording_a%40b.mp3").as_deref(),
            Some("call_recording_a@b.mp3")
        );
        for bad in [
            "/",
            "/a/",
            "/../x",
            "/a/../x",
            "/%2e%2e/x",
            "/a/%2e%2e",
            "/a%2fb",
            "/%00x",
            "/.hidden",
            "relative",
            "",
            "/a%5cb",
        ] {
            assert_eq!(file_name_for_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn query_values_are_decoded_and_empty_values_kept() {
        let q = decode_query(Some("from=1001%40demo&to=&caller_id_name=A+B&x"));
        assert_eq!(q["from"], "1001@demo");
        assert_eq!(q["to"], "");
        assert_eq!(q["caller_id_name"], "A B");
        assert_eq!(q["x"], "");
    }
}
