//! A minimal private registrar adapter: REGISTER bindings of devices (Contact URI, the peer it
//! registered from — for NAT — and expiry), kept by the core. Used because the registrar lane's
//! API was not there when the core was written.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::message::{Contact, HeaderName, Message, Uri};
use crate::transaction::Peer;

/// Expiry granted when the phone asks for none.
const DEFAULT_EXPIRES: u32 = 3600;
/// Longest expiry granted.
const MAX_EXPIRES: u32 = 3600;
/// Shortest expiry accepted (RFC 3261 §10.3 step 7: 423 below it).
const MIN_EXPIRES: u32 = 60;
/// Most contacts per device.
const MAX_CONTACTS: usize = 10;

/// One binding.
#[derive(Debug, Clone)]
pub(crate) struct Binding {
    pub(crate) contact: Uri,
    pub(crate) peer: Peer,
    pub(crate) expires_at: Instant,
}

/// Bindings of every device.
#[derive(Debug, Default)]
pub(crate) struct Bindings {
    by_device: HashMap<String, Vec<Binding>>,
}

impl Bindings {
    /// The live bindings of `device`.
    pub(crate) fn live(&self, device: &str, now: Instant) -> Vec<Binding> {
        self.by_device
            .get(device)
            .map(|v| v.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default()
    }

    /// Applies an authenticated REGISTER of `device` from `from` and builds the response.
    pub(crate) fn register(
        &mut self,
        device: &str,
        now: Instant,
        from: Peer,
        req: &Message,
    ) -> Message {
        let tag = super::leg::random_token();
        let contacts = match req.contacts() {
            Ok(c) => c,
            Err(_) => return Message::response_to(req, 400, "Bad Contact", Some(&tag)),
        };
        let header_expires = req.expires().ok().flatten();
        let list = self.by_device.entry(device.to_owned()).or_default();
        list.retain(|b| b.expires_at > now);
        for c in &contacts {
            match c {
                Contact::Star => {
                    if header_expires != Some(0) || contacts.len() != 1 {
                        return Message::response_to(req, 400, "Invalid Contact *", Some(&tag));
                    }
                    list.clear();
                }
                Contact::Addr(a) => {
                    let asked = a.expires().or(header_expires).unwrap_or(DEFAULT_EXPIRES);
                    list.retain(|b| b.contact != a.uri);
                    if asked == 0 {
                        continue;
                    }
                    if asked < MIN_EXPIRES {
                        let mut r =
                            Message::response_to(req, 423, "Interval Too Brief", Some(&tag));
                        r.push_header(HeaderName::MinExpires, MIN_EXPIRES.to_string());
                        return r;
                    }
                    if list.len() >= MAX_CONTACTS {
                        list.remove(0);
                    }
                    list.push(Binding {
                        contact: a.uri.clone(),
                        peer: from,
                        expires_at: now + Duration::from_secs(u64::from(asked.min(MAX_EXPIRES))),
                    });
                }
            }
        }
        let mut resp = Message::response_to(req, 200, "OK", Some(&tag));
        for b in list.iter() {
            let left = b.expires_at.saturating_duration_since(now).as_secs();
            resp.push_header(
                HeaderName::Contact,
                format!("<{}>;expires={left}", b.contact),
            );
        }
        if list.is_empty() {
            self.by_device.remove(device);
        }
        resp
    }
}
