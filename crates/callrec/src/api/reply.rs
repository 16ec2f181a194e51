//! KAZOO's envelopes: `{"data": .., "revision": .., "request_id": .., "status": "success"}`
//! and errors `{"data": .., "error": "<code>", "message": .., "status": "error"}`.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use callrec_kazoo::load::FieldError;
use serde_json::{json, Map, Value};

/// A reply being built: status, body, extra headers.
pub type Reply = Response;

fn json_response(status: StatusCode, body: &Value) -> Reply {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// `status` with `data` in the success envelope; `extra` keys go beside `data`.
pub fn success(
    status: StatusCode,
    request_id: &str,
    data: Value,
    revision: Option<&str>,
    extra: Map<String, Value>,
) -> Reply {
    let mut body = Map::new();
    body.insert("data".into(), data);
    body.insert(
        "revision".into(),
        Value::String(revision.unwrap_or("automatic").to_owned()),
    );
    body.insert("request_id".into(), Value::String(request_id.to_owned()));
    body.insert("status".into(), Value::String("success".into()));
    for (k, v) in extra {
        body.insert(k, v);
    }
    json_response(status, &Value::Object(body))
}

/// 200 with `data`.
pub fn ok(request_id: &str, data: Value) -> Reply {
    success(StatusCode::OK, request_id, data, None, Map::new())
}

/// An error envelope.
pub fn error(status: StatusCode, request_id: &str, message: &str, data: Value) -> Reply {
    json_response(
        status,
        &json!({
            "data": data,
            "error": status.as_u16().to_string(),
            "message": message,
            "status": "error",
            "request_id": request_id,
        }),
    )
}

/// 400 `invalid data` with one entry per field: `{<path>: {<rule>: {"message": ..}}}`.
pub fn invalid(request_id: &str, errors: &[FieldError]) -> Reply {
    let mut data = Map::new();
    for e in errors {
        let entry = data
            .entry(if e.path.is_empty() {
                "document".to_owned()
            } else {
                e.path.clone()
            })
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(m) = entry.as_object_mut() {
            m.insert(e.rule.to_owned(), json!({"message": e.message}));
        }
    }
    error(
        StatusCode::BAD_REQUEST,
        request_id,
        "invalid data",
        Value::Object(data),
    )
}

/// 400 for a body that is not the JSON expected.
pub fn bad_json(request_id: &str, why: &str) -> Reply {
    error(
        StatusCode::BAD_REQUEST,
        request_id,
        "invalid json",
        json!({"message": why}),
    )
}

/// 401 `invalid credentials`.
pub fn unauthorized(request_id: &str) -> Reply {
    error(
        StatusCode::UNAUTHORIZED,
        request_id,
        "invalid credentials",
        json!({}),
    )
}

/// 403: authenticated, but not allowed here.
pub fn forbidden(request_id: &str) -> Reply {
    error(
        StatusCode::FORBIDDEN,
        request_id,
        "forbidden",
        json!({"message": "this token does not give access to this resource"}),
    )
}

/// 404 `bad identifier`.
pub fn not_found(request_id: &str, id: &str) -> Reply {
    error(
        StatusCode::NOT_FOUND,
        request_id,
        "bad identifier",
        json!({"cause": id}),
    )
}

/// 405 with `Allow`.
pub fn not_allowed(request_id: &str, allow: &str) -> Reply {
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        request_id,
        "method not allowed",
        json!({"allow": allow}),
    );
    if let Ok(v) = HeaderValue::from_str(allow) {
        r.headers_mut().insert(header::ALLOW, v);
    }
    r
}

/// 409: the revision named is not the stored one.
pub fn conflict(request_id: &str, current: &str) -> Reply {
    error(
        StatusCode::CONFLICT,
        request_id,
        "conflicting documents",
        json!({"message": "the document was changed since the revision given", "current_revision": current}),
    )
}

/// 503: the database cannot be reached.
pub fn unavailable(request_id: &str) -> Reply {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        request_id,
        "datastore unavailable",
        json!({"message": "the database cannot be reached; try again"}),
    )
}

/// 500 (logged by the caller, never with secrets).
pub fn internal(request_id: &str) -> Reply {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        request_id,
        "internal error",
        json!({}),
    )
}
