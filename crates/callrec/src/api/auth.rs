//! `PUT /v2/user_auth` (KAZOO's `credentials` = md5("username:password") with an account
//! name, realm or id) and `PUT /v2/api_auth` (an account's API key): 201 with an `auth_token`.
//! Failed attempts are limited per source address (429 past the limit, for a minute). The count
//! is kept in this process's memory: callrec processes sharing one PostgreSQL database each
//! allow the limit (documented in docs/api.md), and a restart forgets it.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::Response;
use callrec_store::PrivLevel;
use serde_json::{json, Map, Value};

use super::{gregorian_now, reply, store_error, ApiState, Request};

const WINDOW: Duration = Duration::from_secs(60);

/// Whether `req`'s source has used up its failed attempts (then 429).
fn limited(st: &ApiState, req: &Request) -> bool {
    let Ok(mut table) = st.failures.lock() else {
        return false;
    };
    let now = Instant::now();
    table.retain(|_, (since, _)| now.duration_since(*since) < WINDOW);
    table
        .get(&req.peer)
        .is_some_and(|(_, n)| *n >= st.login_failures_per_minute)
}

fn note_failure(st: &ApiState, req: &Request) {
    if let Ok(mut table) = st.failures.lock() {
        let entry = table.entry(req.peer).or_insert((Instant::now(), 0));
        entry.1 = entry.1.saturating_add(1);
    }
}

fn too_many(req: &Request) -> Response {
    reply::error(
        StatusCode::TOO_MANY_REQUESTS,
        &req.id,
        "too many failed logins",
        json!({"message": "too many failed logins from this address; wait a minute"}),
    )
}

async fn token_reply(
    st: &ApiState,
    req: &Request,
    account_id: &str,
    owner_id: Option<&str>,
    priv_level: PrivLevel,
    method: &str,
) -> Response {
    let probe = callrec_store::TokenInfo {
        account_id: account_id.to_owned(),
        user_id: owner_id.map(str::to_owned),
        priv_level,
        expires_at: 0,
    };
    if !token_still_enabled(st, &probe).await {
        note_failure(st, req);
        return reply::unauthorized(&req.id);
    }
    let expires = gregorian_now() + st.token_ttl_s;
    let token = match st
        .store
        .create_token(account_id, owner_id, priv_level, expires)
        .await
    {
        Ok(t) => t,
        Err(e) => return store_error(&req.id, &e),
    };
    let account_name = st
        .store
        .get(callrec_store::DocKind::Account, account_id)
        .await
        .ok()
        .and_then(|d| d.body.get("name").cloned())
        .unwrap_or(Value::Null);
    let mut data = json!({
        "account_id": account_id,
        "account_name": account_name,
        "apps": [],
        "is_reseller": false,
        "language": "en-US",
        "method": method,
        "priv_level": priv_level.as_str(),
    });
    if let (Some(o), Some(m)) = (owner_id, data.as_object_mut()) {
        m.insert("owner_id".into(), Value::String(o.to_owned()));
    }
    let mut extra = Map::new();
    extra.insert("auth_token".into(), Value::String(token));
    reply::success(StatusCode::CREATED, &req.id, data, None, extra)
}

/// `PUT /v2/user_auth`.
pub(super) async fn user_auth(st: &ApiState, req: &Request) -> Response {
    if limited(st, req) {
        return too_many(req);
    }
    let data = match req.data() {
        Ok(d) => d,
        Err(r) => return r,
    };
    let Some(credentials) = data.get("credentials").and_then(Value::as_str) else {
        return reply::invalid(
            &req.id,
            &[callrec_kazoo::load::FieldError {
                path: "credentials".into(),
                rule: "required",
                message: "md5 of \"username:password\" is required".into(),
            }],
        );
    };
    if data
        .get("method")
        .and_then(Value::as_str)
        .is_some_and(|m| !m.eq_ignore_ascii_case("md5"))
    {
        return reply::invalid(
            &req.id,
            &[callrec_kazoo::load::FieldError {
                path: "method".into(),
                rule: "enum",
                message: "only md5 credentials are supported".into(),
            }],
        );
    }
    let account = ["account_name", "realm", "account_id"]
        .iter()
        .find_map(|k| data.get(*k).and_then(Value::as_str));
    let login = match st
        .store
        .find_user_login(account, &credentials.to_ascii_lowercase())
        .await
    {
        Ok(l) => l,
        Err(e) => return store_error(&req.id, &e),
    };
    let Some(login) = login else {
        note_failure(st, req);
        return reply::unauthorized(&req.id);
    };
    // A user's level comes from its document (KAZOO's priv_level; default user).
    let level = match st
        .store
        .get(callrec_store::DocKind::User, &login.user_id)
        .await
    {
        Ok(doc) => {
            if doc.body.get("enabled").and_then(Value::as_bool) == Some(false) {
                note_failure(st, req);
                return reply::unauthorized(&req.id);
            }
            match doc.body.get("priv_level").and_then(Value::as_str) {
                Some("admin") => PrivLevel::Admin,
                _ => PrivLevel::User,
            }
        }
        Err(e) => return store_error(&req.id, &e),
    };
    token_reply(
        st,
        req,
        &login.account_id,
        Some(&login.user_id),
        level,
        "cb_user_auth",
    )
    .await
}

/// `PUT /v2/api_auth`.
pub(super) async fn api_auth(st: &ApiState, req: &Request) -> Response {
    if limited(st, req) {
        return too_many(req);
    }
    let data = match req.data() {
        Ok(d) => d,
        Err(r) => return r,
    };
    let Some(key) = data.get("api_key").and_then(Value::as_str) else {
        return reply::invalid(
            &req.id,
            &[callrec_kazoo::load::FieldError {
                path: "api_key".into(),
                rule: "required",
                message: "api_key is required".into(),
            }],
        );
    };
    match st.store.account_for_api_key(key).await {
        Ok(Some(account)) => {
            token_reply(st, req, &account, None, PrivLevel::Admin, "cb_api_auth").await
        }
        Ok(None) => {
            note_failure(st, req);
            reply::unauthorized(&req.id)
        }
        Err(e) => store_error(&req.id, &e),
    }
}

/// Whether a token's account (and user, for a user's token) is still enabled: a disabled
/// account's or user's tokens stop working at once (KAZOO `enabled`/`pvt_enabled: false`).
/// A document that cannot be read counts as enabled (the token check already passed).
pub(crate) async fn token_still_enabled(st: &ApiState, info: &callrec_store::TokenInfo) -> bool {
    let disabled = |body: &Value| {
        ["enabled", "pvt_enabled"]
            .iter()
            .any(|k| body.get(*k).and_then(Value::as_bool) == Some(false))
    };
    if let Ok(doc) = st
        .store
        .get(callrec_store::DocKind::Account, &info.account_id)
        .await
    {
        if disabled(&doc.body) {
            return false;
        }
    }
    if let Some(user) = &info.user_id {
        if let Ok(doc) = st.store.get(callrec_store::DocKind::User, user).await {
            if disabled(&doc.body) {
                return false;
            }
        }
    }
    true
}
