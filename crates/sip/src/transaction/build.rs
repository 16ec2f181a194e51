//! Messages the transaction layer builds itself: the ACK for a non-2xx final response
//! (§17.1.1.3), the CANCEL of a pending INVITE (§9.1) and 100 Trying (§17.2.1).

use crate::message::{HeaderName, Message, Method};

/// Copies the Route fields of `from` into `to`, in order, values as received.
fn copy_routes(from: &Message, to: &mut Message) {
    for r in from.header_values(HeaderName::Route) {
        to.push_header(HeaderName::Route, r);
    }
}

/// A request with the same Request-URI, the single top Via, From, Call-ID, CSeq number (with
/// `method`) and Route as `invite`, and `to` as To. `None` if `invite` lacks one of those.
fn sibling_request(invite: &Message, method: Method, to: &str) -> Option<Message> {
    let uri = invite.request_uri()?.clone();
    let via = invite.top_via().ok()?;
    let from = invite.header(HeaderName::From)?;
    let call_id = invite.call_id().ok()?;
    let cseq = invite.cseq().ok()?;
    let mut req = Message::request(method.clone(), uri);
    req.push_header(HeaderName::Via, via.to_string());
    req.push_header(HeaderName::MaxForwards, "70");
    req.push_header(HeaderName::From, from);
    req.push_header(HeaderName::To, to);
    req.push_header(HeaderName::CallId, call_id);
    req.push_header(HeaderName::CSeq, format!("{} {}", cseq.seq, method));
    copy_routes(invite, &mut req);
    req.push_header(HeaderName::ContentLength, "0");
    Some(req)
}

/// The ACK for a non-2xx final response `resp` to `invite` (RFC 3261 §17.1.1.3): same
/// Request-URI, Call-ID, From, CSeq number (method ACK) and top Via (same branch) as the
/// INVITE, To from the response (with its tag), the INVITE's Route. `None` if a header needed
/// is unreadable.
pub fn ack_for_non_2xx(invite: &Message, resp: &Message) -> Option<Message> {
    let to = resp.header(HeaderName::To)?;
    sibling_request(invite, Method::Ack, &to)
}

/// The CANCEL for `invite` (RFC 3261 §9.1): same Request-URI, Call-ID, From, To (no new tag),
/// CSeq number (method CANCEL), the single top Via of the INVITE, and its Route. `None` if a
/// header needed is unreadable.
pub fn cancel_for(invite: &Message) -> Option<Message> {
    let to = invite.header(HeaderName::To)?;
    sibling_request(invite, Method::Cancel, &to)
}

/// 100 Trying for `req`: no To tag (§8.2.6.1); Timestamp copied when present.
pub(crate) fn trying(req: &Message) -> Message {
    let mut resp = Message::response_to(req, 100, "Trying", None);
    if let Some(ts) = req.header(HeaderName::Timestamp) {
        resp.push_header(HeaderName::Timestamp, ts);
    }
    resp
}

/// A random token for To tags the layer must invent (200 to a CANCEL before any tagged
/// response).
pub(crate) fn random_tag() -> String {
    crate::token::tag()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@b.example SIP/2.0\r\n\
Via: SIP/2.0/UDP a.example:5060;branch=z9hG4bKabc;rport\r\n\
Max-Forwards: 70\r\n\
Route: <sip:p1.example;lr>\r\nRoute: <sip:p2.example;lr>\r\n\
From: Alice <sip:a@a.example>;tag=1\r\nTo: <sip:bob@b.example>\r\nCall-ID: c1\r\n\
CSeq: 7 INVITE\r\nContact: <sip:a@10.0.0.1>\r\nContent-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";

    fn msg(s: &str) -> Message {
        Message::parse_slice(s.as_bytes()).expect("parses")
    }

    #[test]
    fn cancel_copies_uri_via_from_to_callid_cseq_number_and_routes() {
        let c = cancel_for(&msg(INVITE)).unwrap();
        let c = msg(std::str::from_utf8(&c.to_bytes()).unwrap());
        assert_eq!(c.method(), Some(&Method::Cancel));
        assert_eq!(c.request_uri().unwrap().as_str(), "sip:bob@b.example");
        assert_eq!(c.vias().unwrap().len(), 1);
        assert_eq!(c.top_via().unwrap().branch(), Some("z9hG4bKabc"));
        assert_eq!(c.from().unwrap().tag(), Some("1"));
        assert_eq!(c.to().unwrap().tag(), None);
        assert_eq!(c.call_id().unwrap(), "c1");
        assert_eq!(c.cseq().unwrap().seq, 7);
        assert_eq!(c.cseq().unwrap().method, Method::Cancel);
        assert_eq!(c.routes().unwrap().len(), 2);
        assert!(c.body().is_empty());
        assert_eq!(c.header("Contact"), None);
    }

    #[test]
    fn ack_takes_to_from_the_response() {
        let resp = msg(
            "SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP a.example:5060;branch=z9hG4bKabc\r\n\
From: Alice <sip:a@a.example>;tag=1\r\nTo: <sip:bob@b.example>;tag=xyz\r\nCall-ID: c1\r\n\
CSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n",
        );
        let a = ack_for_non_2xx(&msg(INVITE), &resp).unwrap();
        let a = msg(std::str::from_utf8(&a.to_bytes()).unwrap());
        assert_eq!(a.method(), Some(&Method::Ack));
        assert_eq!(a.to().unwrap().tag(), Some("xyz"));
        assert_eq!(a.cseq().unwrap().method, Method::Ack);
        assert_eq!(a.cseq().unwrap().seq, 7);
        assert_eq!(a.top_via().unwrap().branch(), Some("z9hG4bKabc"));
        assert_eq!(a.routes().unwrap().len(), 2);
    }

    #[test]
    fn trying_has_no_to_tag() {
        let t = trying(&msg(INVITE));
        assert_eq!(t.status(), Some(100));
        let t = msg(std::str::from_utf8(&t.to_bytes()).unwrap());
        assert_eq!(t.to().unwrap().tag(), None);
        assert_eq!(t.cseq().unwrap().seq, 7);
    }
}
