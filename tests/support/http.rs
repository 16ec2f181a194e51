//! Plain HTTP requests to callrec's API for the tests (ureq, blocking): any status comes back as
//! a reply, only a transport failure panics.

use std::io::Read;
use std::time::Duration;

use serde_json::Value;

/// Most bytes of a reply body read (audio up to 100 MB).
const MAX_BODY: u64 = 100_000_000;

/// `method url` with an optional `X-Auth-Token`, `Accept` and JSON body: the status and the raw
/// body.
pub fn request(
    method: &str,
    url: &str,
    token: Option<&str>,
    accept: Option<&str>,
    body: Option<&Value>,
) -> (u16, Vec<u8>) {
    let mut req = ureq::request(method, url).timeout(Duration::from_secs(30));
    if let Some(t) = token {
        req = req.set("X-Auth-Token", t);
    }
    if let Some(a) = accept {
        req = req.set("Accept", a);
    }
    let result = match body {
        Some(b) => req
            .set("Content-Type", "application/json")
            .send_string(&b.to_string()),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let mut out = Vec::new();
    resp.into_reader()
        .take(MAX_BODY)
        .read_to_end(&mut out)
        .expect("body");
    (status, out)
}

/// [`request`] with the body read as JSON (`Null` when it is not JSON).
pub fn json(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let (status, bytes) = request(method, url, token, None, body);
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The Crossbar API of one callrec, logged in with the example's API key (`demo-api-key`).
pub struct Api {
    /// `http://host:port`.
    pub base: String,
    /// The `X-Auth-Token` sent (none when empty).
    pub token: String,
}

impl Api {
    /// `PUT /v2/api_auth` with the example's API key; panics unless it answers 201.
    pub fn login(callrec: &super::callrec::Callrec) -> Api {
        let mut api = Api {
            base: format!("http://{}", callrec.api),
            token: String::new(),
        };
        let (status, v) = api.send(
            "PUT",
            "/v2/api_auth",
            Some(&serde_json::json!({"data": {"api_key": "demo-api-key"}})),
        );
        assert_eq!(status, 201, "{v}");
        api.token = v["auth_token"].as_str().expect("auth_token").to_owned();
        api
    }

    fn token(&self) -> Option<&str> {
        (!self.token.is_empty()).then_some(self.token.as_str())
    }

    /// `method path` with the token and an optional JSON body: the status and the JSON reply.
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        json(method, &format!("{}{path}", self.base), self.token(), body)
    }

    /// GET returning the raw body (audio).
    pub fn get_bytes(&self, path: &str, accept: &str) -> (u16, Vec<u8>) {
        let url = format!("{}{path}", self.base);
        request("GET", &url, self.token(), Some(accept), None)
    }
}
