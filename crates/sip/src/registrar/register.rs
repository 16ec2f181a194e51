//! [`handle_register`]: a REGISTER request in, the complete response out (RFC 3261 §10.3).

use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::{Aor, ContactUpdate, RegisterError, RegisterSource, Registrar};
use crate::auth::{check_request, AuthOutcome, ChallengeKind, Credentials, DigestAuth};
use crate::message::{Contact, HeaderName, Message};
use crate::transaction::Peer;

/// Answers a REGISTER received from `from` at `now`:
/// - 401 with a digest challenge (MD5 only unless the device asks for more) when it carries no
///   usable credentials, `stale=true` when only the nonce had expired;
/// - 403 on wrong credentials, an unknown or disabled device, or a To user that is not the
///   authenticated user's username (a user registers only itself);
/// - 400 on a missing/malformed To, Call-ID, CSeq or Contact, or a misused `*`;
/// - 423 with `Min-Expires` when an expiry is below the minimum;
/// - 500 for an out-of-order REGISTER (same Call-ID, CSeq not higher);
/// - 200 listing every current Contact with `;expires=N`.
///
/// Bindings store `from` (the received address and transport) and whether the top Via's
/// sent-by differed from it (NAT detection, see [`super::nat`]). Refusals are logged at debug with no address; a warning summarises them at
/// most once a minute.
pub fn handle_register(
    reg: &mut Registrar,
    store: &dyn Credentials,
    auth: &mut DigestAuth,
    now: Instant,
    from: Peer,
    req: &Message,
) -> Message {
    let tag = crate::auth::to_tag();
    let reply = |status: u16, reason: &str| Message::response_to(req, status, reason, Some(&tag));
    let Ok(to) = req.to() else {
        return reply(400, "Bad To Header");
    };
    let Some(to_user) = to.uri.user().map(str::to_owned) else {
        return reply(400, "To Has No User");
    };
    let (Ok(call_id), Ok(cseq)) = (req.call_id(), req.cseq()) else {
        return reply(400, "Bad Call-ID or CSeq");
    };
    let (id, realm, username) = match check_request(auth, store, now, req, ChallengeKind::Www) {
        AuthOutcome::Authorized {
            id,
            realm,
            username,
        } => (id, realm, username),
        AuthOutcome::Challenge(resp) => return *resp,
        AuthOutcome::Forbidden(why) => {
            reg.note_refusal(now);
            debug!(?why, "REGISTER refused");
            return reply(403, "Forbidden");
        }
    };
    if username != to_user {
        reg.note_refusal(now);
        debug!("REGISTER for an address other than the authenticated device's refused");
        return reply(403, "Forbidden");
    }
    let Ok(contacts) = req.contacts() else {
        return reply(400, "Bad Contact Header");
    };
    let Ok(header_expires) = req.expires() else {
        return reply(400, "Bad Expires Header");
    };
    let updates: Vec<ContactUpdate> = contacts
        .iter()
        .map(|c| match c {
            Contact::Star => ContactUpdate::All,
            Contact::Addr(a) => ContactUpdate::One {
                uri: a.uri.clone(),
                expires: a.expires(),
            },
        })
        .collect();
    let aor = Aor::new(&realm, &username);
    let source = RegisterSource {
        peer: from,
        // No parsable Via cannot happen here (the transaction layer needs it); count it as NAT.
        via_differs: req
            .top_via()
            .map_or(true, |v| super::nat::via_differs(&v, from.addr)),
    };
    match reg.update(
        now,
        &aor,
        source,
        &call_id,
        cseq.seq,
        &updates,
        header_expires,
    ) {
        Ok(bindings) => {
            debug!(user = %id, contacts = bindings.len(), "registered");
            let mut resp = reply(200, "OK");
            for b in &bindings {
                resp.push_header(
                    HeaderName::Contact,
                    format!("<{}>;expires={}", b.contact, b.expires_in(now)),
                );
            }
            resp
        }
        Err(RegisterError::InvalidStar) => reply(400, "Invalid Contact *"),
        Err(RegisterError::IntervalTooBrief { min_expires }) => {
            let mut resp = reply(423, "Interval Too Brief");
            resp.push_header(HeaderName::MinExpires, min_expires.to_string());
            resp
        }
        Err(RegisterError::OutOfOrder) => reply(500, "Out Of Order REGISTER"),
    }
}

/// How often the refusal summary may be logged.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

impl Registrar {
    /// Counts a refused REGISTER and logs a summary at most once per minute (a brute-force
    /// attempt must not flood the log).
    fn note_refusal(&mut self, now: Instant) {
        self.refusals = self.refusals.saturating_add(1);
        if self
            .last_refusal_log
            .is_none_or(|t| now.saturating_duration_since(t) >= REFUSAL_LOG_EVERY)
        {
            warn!(
                refused = self.refusals,
                "REGISTER requests refused (wrong credentials or unknown devices) so far"
            );
            self.last_refusal_log = Some(now);
        }
    }

    /// REGISTER requests refused with 403 since start.
    pub fn refused(&self) -> u64 {
        self.refusals
    }
}
