//! The recordings browser (docs/ui.md): one HTML page, one ES module and one style sheet,
//! embedded in the binary and served at `/` and `/ui/*` of the API listener, so the browser
//! talks to the API from the same origin with no CORS and nothing fetched from elsewhere.
//!
//! No build step and no framework: the whole front end is a few hundred lines of plain
//! JavaScript against the Crossbar API, which a fresh machine can check and serve as is.

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;

use super::{reply, Request};

const INDEX: &str = include_str!("../../ui/index.html");
const APP_JS: &str = include_str!("../../ui/app.js");
const MD5_JS: &str = include_str!("../../ui/md5.js");
const APP_CSS: &str = include_str!("../../ui/app.css");
const ICON: &str = include_str!("../../ui/icon.svg");

/// Only this origin's scripts, styles and API; audio from `blob:` (the page fetches a
/// recording with its token and plays it from memory).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   media-src 'self' blob:; connect-src 'self'; form-action 'none'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// The asset at `segs` (`[]` is the page), or 404; GET and HEAD only.
pub(super) fn serve(req: &Request, segs: &[&str]) -> Response {
    if req.method != Method::GET && req.method != Method::HEAD {
        return reply::not_allowed(&req.id, "GET, HEAD");
    }
    let (body, content_type) = match segs {
        [] | ["ui"] | ["ui", "index.html"] => (INDEX, "text/html; charset=utf-8"),
        ["ui", "app.js"] => (APP_JS, "text/javascript; charset=utf-8"),
        ["ui", "md5.js"] => (MD5_JS, "text/javascript; charset=utf-8"),
        ["ui", "app.css"] => (APP_CSS, "text/css; charset=utf-8"),
        ["ui", "icon.svg"] => (ICON, "image/svg+xml"),
        _ => return reply::not_found(&req.id, &segs.join("/")),
    };
    let mut r = Response::new(if req.method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body)
    });
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Revalidate every time: a new binary serves new assets at the same paths.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}
