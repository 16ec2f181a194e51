//! The Crossbar-compatible HTTP API (KAZOO v2 paths, verbs and envelopes; docs/api.md).
//!
//! Handlers are thin: parse, authorize, call the store (or the spool), shape the reply.
//! Documents are checked by `callrec_kazoo::load::check_document` before they are saved (the
//! one place that validates KAZOO documents), and the server's document watcher applies a
//! saved change to the engine before the write returns, so the next call uses it.
//!
//! | path | verbs |
//! | --- | --- |
//! | `/v2/user_auth`, `/v2/api_auth` | PUT (201 with `auth_token`) |
//! | `/v2/accounts/{A}` | GET, POST, PATCH |
//! | `/v2/accounts/{A}/{users,devices,callflows,resources}` | GET (list), PUT (create) |
//! | `/v2/accounts/{A}/{users,devices,callflows,resources}/{ID}` | GET, POST, PATCH, DELETE |
//! | `/v2/accounts/{A}/cdrs`, `.../cdrs/{ID}`, `.../cdrs/legs/{INTERACTION_ID}` | GET |
//! | `/v2/accounts/{A}/users/{U}/cdrs` | GET (the user's legs) |
//! | `/v2/accounts/{A}/recordings`, `.../recordings/{ID}` | GET; DELETE one |
//! | `/v2/accounts/{A}/cdrs/interaction`, `.../cdrs/interaction/{INTERACTION_ID}` | GET |
//! | `/v2/accounts/{A}/storage` | GET, PUT, POST, PATCH, DELETE (secrets masked; docs/storage.md) |
//! | `/metrics` | GET (Prometheus text) |
//! | `/`, `/ui/*` | GET: the recordings browser (docs/ui.md) |

// Handlers return `Result<_, Response>` so that a refusal is the reply itself; a reply is made
// once per request, so boxing it would buy nothing.
#![allow(clippy::result_large_err)]

mod auth;
mod cdrs;
mod documents;
mod interactions;
pub mod metrics;
mod recordings;
pub mod reply;
mod storage;
mod ui;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use callrec_kazoo::recording::PolicyConfig;
use callrec_store::{PrivLevel, Store, StoreError, TokenInfo};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::spool::Spool;
use crate::store_link::DocumentsHandle;
use metrics::Metrics;

/// Largest request body accepted (413 above).
pub const MAX_BODY: usize = 1024 * 1024;

/// What the API needs.
pub struct ApiState {
    /// The database.
    pub store: Store,
    /// The documents in use (for checking changes) and the engine's applied change.
    pub docs: DocumentsHandle,
    /// Recording policy settings (validation).
    pub policy: PolicyConfig,
    /// The spool (recording state and audio).
    pub spool: Arc<Spool>,
    /// Seconds a token lives.
    pub token_ttl_s: u64,
    /// Failed logins allowed per source per minute.
    pub login_failures_per_minute: u32,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The cluster bucket (`[cluster.storage]`), for recordings another node sent there.
    pub cluster_storage: Option<callrec_kazoo::storage::S3Settings>,
    /// Timeouts and CA of the uploader, also used to read recordings from their buckets.
    pub upload: crate::upload::UploadConfig,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    next_request: AtomicU64,
}

impl ApiState {
    /// State with an empty login-failure table.
    pub fn new(
        store: Store,
        docs: DocumentsHandle,
        policy: PolicyConfig,
        spool: Arc<Spool>,
        token_ttl_s: u64,
        login_failures_per_minute: u32,
        metrics: Arc<Metrics>,
    ) -> ApiState {
        ApiState {
            store,
            docs,
            policy,
            spool,
            token_ttl_s,
            login_failures_per_minute,
            metrics,
            cluster_storage: None,
            upload: crate::upload::UploadConfig::default(),
            failures: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
        }
    }
}

/// Gregorian seconds now (the API reads the wall clock; it is a driver, not the engine).
pub fn gregorian_now() -> u64 {
    callrec_kazoo::gregorian::from_unix(crate::spool::unix_now())
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: Arc<ApiState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().fallback(handle).with_state(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// One request, as the handlers see it.
pub(crate) struct Request {
    pub(crate) id: String,
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
    pub(crate) query: HashMap<String, String>,
    pub(crate) body: Bytes,
    pub(crate) peer: IpAddr,
}

impl Request {
    /// The body's `data` object (KAZOO's request envelope).
    pub(crate) fn data(&self) -> Result<serde_json::Map<String, Value>, Response> {
        let v: Value = serde_json::from_slice(&self.body)
            .map_err(|e| reply::bad_json(&self.id, &format!("the body is not JSON: {e}")))?;
        match v.get("data") {
            Some(Value::Object(m)) => Ok(m.clone()),
            _ => Err(reply::bad_json(
                &self.id,
                "the body must be {\"data\": {...}}",
            )),
        }
    }
}

fn parse_query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

async fn handle(
    State(st): State<Arc<ApiState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let id = format!(
        "{:016x}",
        st.next_request.fetch_add(1, Ordering::Relaxed) ^ 0x5ca1_ab1e_0000_0000
    );
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let r = reply::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &id,
                "request entity too large",
                serde_json::json!({"max_bytes": MAX_BODY}),
            );
            st.metrics.count_request(r.status().as_u16());
            return r;
        }
    };
    let req = Request {
        id,
        method,
        query: parse_query(&uri),
        headers,
        body,
        peer: peer.ip(),
    };
    let segments: Vec<String> = uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let r = route(&st, &req, &segs).await;
    st.metrics.count_request(r.status().as_u16());
    r
}

/// The collections of documents under an account.
fn collection_kind(name: &str) -> Option<callrec_store::DocKind> {
    use callrec_store::DocKind;
    match name {
        "users" => Some(DocKind::User),
        "devices" => Some(DocKind::Device),
        "callflows" => Some(DocKind::Callflow),
        "resources" => Some(DocKind::Resource),
        _ => None,
    }
}

async fn route(st: &ApiState, req: &Request, segs: &[&str]) -> Response {
    let m = &req.method;
    match segs {
        [] | ["ui", ..] => ui::serve(req, segs),
        ["metrics"] => match *m {
            Method::GET => metrics::render(st).await,
            _ => reply::not_allowed(&req.id, "GET"),
        },
        ["v2", "user_auth"] => match *m {
            Method::PUT => auth::user_auth(st, req).await,
            _ => reply::not_allowed(&req.id, "PUT"),
        },
        ["v2", "api_auth"] => match *m {
            Method::PUT => auth::api_auth(st, req).await,
            _ => reply::not_allowed(&req.id, "PUT"),
        },
        ["v2", "accounts", account, rest @ ..] => {
            let token = match authenticate(st, req).await {
                Ok(t) => t,
                Err(r) => return r,
            };
            if token.account_id != *account {
                return reply::forbidden(&req.id);
            }
            match rest {
                [] => match *m {
                    Method::GET | Method::POST | Method::PATCH => {
                        documents::account(st, req, &token, account).await
                    }
                    _ => reply::not_allowed(&req.id, "GET, POST, PATCH"),
                },
                ["cdrs"] => match *m {
                    Method::GET => cdrs::list(st, req, &token, account, None).await,
                    _ => reply::not_allowed(&req.id, "GET"),
                },
                ["users", user, "cdrs"] => match *m {
                    Method::GET => cdrs::list(st, req, &token, account, Some(user)).await,
                    _ => reply::not_allowed(&req.id, "GET"),
                },
                ["cdrs", "interaction", rest @ ..] if rest.len() <= 1 => match (m, rest) {
                    (&Method::GET, []) => interactions::list(st, req, &token, account).await,
                    (&Method::GET, [id]) => interactions::one(st, req, &token, account, id).await,
                    _ => reply::not_allowed(&req.id, "GET"),
                },
                ["cdrs", "legs", interaction] => match *m {
                    Method::GET => cdrs::legs(st, req, &token, account, interaction).await,
                    _ => reply::not_allowed(&req.id, "GET"),
                },
                ["cdrs", cdr] => match *m {
                    Method::GET => cdrs::one(st, req, &token, account, cdr).await,
                    _ => reply::not_allowed(&req.id, "GET"),
                },
                ["storage"] => storage::handle(st, req, &token, account).await,
                ["recordings"] => match *m {
                    Method::GET => recordings::list(st, req, &token, account).await,
                    _ => reply::not_allowed(&req.id, "GET"),
                },
                ["recordings", rec] => match *m {
                    Method::GET => recordings::one(st, req, &token, account, rec).await,
                    Method::DELETE => recordings::delete(st, req, &token, account, rec).await,
                    _ => reply::not_allowed(&req.id, "GET, DELETE"),
                },
                [coll] => match collection_kind(coll) {
                    Some(kind) => match *m {
                        Method::GET => documents::list(st, req, &token, account, kind).await,
                        Method::PUT => documents::create(st, req, &token, account, kind).await,
                        _ => reply::not_allowed(&req.id, "GET, PUT"),
                    },
                    None => reply::not_found(&req.id, coll),
                },
                [coll, doc] => match collection_kind(coll) {
                    Some(kind) => match *m {
                        Method::GET => documents::get(st, req, &token, account, kind, doc).await,
                        Method::POST | Method::PATCH => {
                            documents::update(st, req, &token, account, kind, doc).await
                        }
                        Method::DELETE => {
                            documents::delete(st, req, &token, account, kind, doc).await
                        }
                        _ => reply::not_allowed(&req.id, "GET, POST, PATCH, DELETE"),
                    },
                    None => reply::not_found(&req.id, coll),
                },
                _ => reply::not_found(&req.id, &segs.join("/")),
            }
        }
        _ => reply::not_found(&req.id, &segs.join("/")),
    }
}

/// The token of `X-Auth-Token`, checked; 401 otherwise (503 when the database is down).
async fn authenticate(st: &ApiState, req: &Request) -> Result<TokenInfo, Response> {
    let Some(token) = req
        .headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return Err(reply::unauthorized(&req.id));
    };
    match st.store.check_token(token, gregorian_now()).await {
        Ok(Some(info)) if auth::token_still_enabled(st, &info).await => Ok(info),
        Ok(Some(_)) => Err(reply::unauthorized(&req.id)),
        Ok(None) => Err(reply::unauthorized(&req.id)),
        Err(e) => Err(store_error(&req.id, &e)),
    }
}

/// Whether the token is an account administrator's (API key or admin user).
pub(crate) fn is_admin(token: &TokenInfo) -> bool {
    token.priv_level == PrivLevel::Admin
}

/// The reply for a store error that is not the caller's fault.
pub(crate) fn store_error(request_id: &str, e: &StoreError) -> Response {
    match e {
        StoreError::NotFound { id, .. } => reply::not_found(request_id, id),
        StoreError::Conflict { current_rev } => {
            reply::conflict(request_id, &crate::store_link::revision(*current_rev))
        }
        StoreError::Connect { .. }
        | StoreError::ConnectTimeout { .. }
        | StoreError::Database(_) => {
            tracing::warn!(error = %e, "API request failed: database unavailable");
            reply::unavailable(request_id)
        }
        other => {
            tracing::error!(error = %other, "API request failed");
            reply::internal(request_id)
        }
    }
}
