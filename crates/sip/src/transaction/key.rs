//! Transaction matching keys.
//!
//! - Client side (§17.1.3): the branch of the top Via and the CSeq method. The response to a
//!   CANCEL has the INVITE's branch but CSeq method CANCEL, so it matches the CANCEL's own
//!   transaction.
//! - Server side (§17.2.3): the branch, the sent-by of the top Via and the method, with ACK
//!   looked up as INVITE. A CANCEL is its own transaction (method CANCEL); the INVITE it cancels
//!   is found with the same branch and sent-by and method INVITE.
//! - Requests whose branch lacks the magic cookie (RFC 2543 elements): a simplified §17.2.3
//!   fallback. The key is built from Request-URI, From tag, Call-ID, CSeq number and the whole
//!   top Via. The To tag is not compared (it would only separate the ACK of a 2xx from the
//!   INVITE, and an ACK matching an Accepted INVITE server transaction is passed up anyway).

use super::MAGIC_COOKIE;
use crate::message::{Message, Method};

/// Why a received message cannot be matched to a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum KeyError {
    /// The top Via is missing or malformed.
    #[error("no readable top Via")]
    Via,
    /// The top Via has no branch parameter and the RFC 2543 fields are unreadable.
    #[error("no branch and no RFC 2543 matching fields")]
    Branch,
    /// CSeq is missing or malformed.
    #[error("no readable CSeq")]
    CSeq,
    /// A request whose CSeq method differs from the request method.
    #[error("CSeq method does not match the request method")]
    MethodMismatch,
}

/// The key of a client transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    pub(crate) branch: String,
    pub(crate) method: Method,
}

impl ClientKey {
    /// The key a response matches (top Via branch, CSeq method).
    pub(crate) fn of_response(resp: &Message) -> Result<ClientKey, KeyError> {
        let branch = top_branch(resp)?;
        let cseq = resp.cseq().map_err(|_| KeyError::CSeq)?;
        Ok(ClientKey {
            branch,
            method: cseq.method,
        })
    }

    /// The key of a request we send (top Via branch, method).
    pub(crate) fn of_request(req: &Message) -> Result<ClientKey, KeyError> {
        let branch = top_branch(req)?;
        let method = req.method().cloned().ok_or(KeyError::CSeq)?;
        Ok(ClientKey { branch, method })
    }
}

/// The non-empty branch of a readable top Via (read in place: only the branch is copied).
fn top_branch(msg: &Message) -> Result<String, KeyError> {
    msg.with_top_via(|via| via.branch().filter(|b| !b.is_empty()).map(str::to_owned))
        .map_err(|_| KeyError::Via)?
        .ok_or(KeyError::Branch)
}

/// The key of a server transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ServerKey {
    /// The branch (RFC 3261), or the RFC 2543 fallback string.
    pub(crate) branch: String,
    /// sent-by of the top Via: host lowercased, and port as written.
    pub(crate) sent_by: (String, Option<u16>),
    /// The method; ACK is stored as INVITE.
    pub(crate) method: Method,
}

impl ServerKey {
    /// The key of a received request. ACK yields the key of its INVITE.
    pub(crate) fn of_request(req: &Message) -> Result<ServerKey, KeyError> {
        let method = req.method().cloned().ok_or(KeyError::CSeq)?;
        let cseq = req.cseq().map_err(|_| KeyError::CSeq)?;
        if cseq.method != method {
            return Err(KeyError::MethodMismatch);
        }
        // The branch and sent-by read in place; the whole Via only for an RFC 2543 request.
        let (branch, sent_by) = req
            .with_top_via(|via| {
                let branch = via
                    .branch()
                    .filter(|b| b.starts_with(MAGIC_COOKIE) && b.len() > MAGIC_COOKIE.len())
                    .map(str::to_owned);
                (branch, (via.host.to_ascii_lowercase(), via.port))
            })
            .map_err(|_| KeyError::Via)?;
        let branch = match branch {
            Some(b) => b,
            None => {
                let via = req.top_via().map_err(|_| KeyError::Via)?;
                let call_id = req.call_id().map_err(|_| KeyError::Branch)?;
                let from = req.from().map_err(|_| KeyError::Branch)?;
                let ruri = req.request_uri().ok_or(KeyError::Branch)?;
                format!(
                    "rfc2543|{}|{}|{}|{}|{}",
                    ruri.as_str(),
                    from.tag().unwrap_or_default(),
                    call_id,
                    cseq.seq,
                    via
                )
            }
        };
        let method = if method == Method::Ack {
            Method::Invite
        } else {
            method
        };
        Ok(ServerKey {
            branch,
            sent_by,
            method,
        })
    }

    /// The same key with another method (CANCEL → the INVITE it cancels).
    pub(crate) fn with_method(&self, method: Method) -> ServerKey {
        ServerKey {
            branch: self.branch.clone(),
            sent_by: self.sent_by.clone(),
            method,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: &str) -> Message {
        Message::parse_slice(s.as_bytes()).expect("parses")
    }

    const INVITE: &str = "INVITE sip:bob@b.example SIP/2.0\r\n\
Via: SIP/2.0/UDP A.example:5060;branch=z9hG4bKabc\r\n\
From: <sip:a@a.example>;tag=1\r\nTo: <sip:bob@b.example>\r\nCall-ID: c1\r\n\
CSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn ack_and_cancel_keys_lead_to_the_invite_server_transaction() {
        let invite = ServerKey::of_request(&msg(INVITE)).unwrap();
        let ack = ServerKey::of_request(&msg(&INVITE
            .replace("INVITE sip", "ACK sip")
            .replace("7 INVITE", "7 ACK")))
        .unwrap();
        assert_eq!(ack, invite);
        let cancel = ServerKey::of_request(&msg(&INVITE
            .replace("INVITE sip", "CANCEL sip")
            .replace("7 INVITE", "7 CANCEL")))
        .unwrap();
        assert_ne!(cancel, invite);
        assert_eq!(cancel.with_method(Method::Invite), invite);
        assert_eq!(invite.sent_by, ("a.example".to_owned(), Some(5060)));
    }

    #[test]
    fn another_sent_by_is_another_server_transaction() {
        let a = ServerKey::of_request(&msg(INVITE)).unwrap();
        let b = ServerKey::of_request(&msg(&INVITE.replace("A.example:5060", "A.example:5070")))
            .unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn rfc2543_requests_without_cookie_get_a_fallback_key() {
        let old = INVITE.replace("branch=z9hG4bKabc", "branch=1");
        let k = ServerKey::of_request(&msg(&old)).unwrap();
        assert!(k.branch.starts_with("rfc2543|"));
        let ack = old
            .replace("INVITE sip", "ACK sip")
            .replace("7 INVITE", "7 ACK");
        assert_eq!(ServerKey::of_request(&msg(&ack)).unwrap(), k);
    }

    #[test]
    fn cseq_method_mismatch_is_refused() {
        let bad = INVITE.replace("7 INVITE", "7 BYE");
        assert_eq!(
            ServerKey::of_request(&msg(&bad)),
            Err(KeyError::MethodMismatch)
        );
    }

    #[test]
    fn response_key_uses_cseq_method() {
        let resp = msg("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\
From: <sip:a@a>;tag=1\r\nTo: <sip:b@b>;tag=2\r\nCall-ID: c\r\nCSeq: 7 CANCEL\r\n\
Content-Length: 0\r\n\r\n");
        let k = ClientKey::of_response(&resp).unwrap();
        assert_eq!(k.method, Method::Cancel);
        assert_eq!(k.branch, "z9hG4bKx");
    }
}
