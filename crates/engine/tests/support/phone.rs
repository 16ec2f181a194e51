//! Scripted SIP endpoints for the B2BUA tests: build requests and responses by hand, answer
//! digest challenges, keep one dialog's identifiers.

use std::net::SocketAddr;

use callrec_sip::message::{AuthHeader, HeaderName, Message, Method, Uri};
use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::{sdp, Network};

/// A SIP endpoint at `addr`: a phone (with credentials) or a carrier gateway (without).
#[derive(Debug, Clone)]
pub struct Phone {
    pub user: String,
    pub password: String,
    pub domain: String,
    pub addr: SocketAddr,
    cseq: u32,
    counter: u32,
    /// Whether Via says TCP (the network must list the address in `tcp_peers`).
    pub tcp: bool,
    /// The address our Contact names when it is not `addr` (a phone that answers on another
    /// socket than it sends from, or one behind NAT that writes its private address).
    pub contact_addr: Option<SocketAddr>,
    /// The sent-by our Via names when it is not `addr` (a phone behind NAT).
    pub via_sent_by: Option<String>,
}

/// One dialog as seen from a scripted endpoint.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    /// Our From header value in requests we send (with our tag).
    pub local: String,
    /// The To header value in requests we send (with the remote tag).
    pub remote: String,
    pub remote_target: Uri,
    pub cseq: u32,
}

impl Phone {
    pub fn new(user: &str, password: &str, domain: &str, addr: &str) -> Phone {
        Phone {
            user: user.to_owned(),
            password: password.to_owned(),
            domain: domain.to_owned(),
            addr: addr.parse().expect("phone address"),
            cseq: 0,
            counter: 0,
            tcp: false,
            contact_addr: None,
            via_sent_by: None,
        }
    }

    fn token(&mut self, what: &str) -> String {
        self.counter += 1;
        format!("{what}{}{}", self.user, self.counter)
    }

    fn next_cseq(&mut self) -> u32 {
        self.cseq += 1;
        self.cseq
    }

    pub fn contact(&self) -> String {
        let tp = if self.tcp { ";transport=tcp" } else { "" };
        let at = self.contact_addr.unwrap_or(self.addr);
        format!("<sip:{}@{at}{tp}>", self.user)
    }

    fn via(&mut self) -> String {
        let b = self.token("z9hG4bK");
        let tp = if self.tcp { "TCP" } else { "UDP" };
        let sent_by = self
            .via_sent_by
            .clone()
            .unwrap_or_else(|| self.addr.to_string());
        format!("SIP/2.0/{tp} {sent_by};branch={b};rport")
    }

    /// A REGISTER for our address of record with our Contact.
    pub fn register_request(&mut self, call_id: &str) -> Message {
        let uri = Uri::parse(&format!("sip:{}", self.domain)).expect("uri");
        let mut m = Message::request(Method::Register, uri);
        let via = self.via();
        let tag = self.token("rtag");
        let cseq = self.next_cseq();
        m.push_header(HeaderName::Via, via);
        m.push_header(HeaderName::MaxForwards, "70");
        m.push_header(
            HeaderName::From,
            format!("<sip:{}@{}>;tag={tag}", self.user, self.domain),
        );
        m.push_header(
            HeaderName::To,
            format!("<sip:{}@{}>", self.user, self.domain),
        );
        m.push_header(HeaderName::CallId, call_id);
        m.push_header(HeaderName::CSeq, format!("{cseq} REGISTER"));
        m.push_header(HeaderName::Contact, self.contact());
        m.push_header(HeaderName::Expires, "3600");
        m
    }

    /// Registers with callrec, answering the challenge. Panics unless it ends in 200.
    pub fn register(&mut self, net: &mut impl Network) {
        // One second apart: the auth lane's nonces are per second and their `nc` replay
        // tracking is per nonce only, so two clients challenged in the same second (each
        // starting at nc=1) collide and the second gets stale=true. Reported to the lead.
        net.advance(std::time::Duration::from_secs(1));
        let call_id = self.token("reg-");
        let req = self.register_request(&call_id);
        net.deliver(self.addr, &req);
        let resp = net.expect(self.addr, "REGISTER response", |m| {
            m.status().is_some_and(|s| s >= 200)
        });
        let resp = if matches!(resp.status(), Some(401 | 407)) {
            let mut again = self.register_request(&call_id);
            self.authorize(&mut again, &resp);
            net.deliver(self.addr, &again);
            net.expect(self.addr, "REGISTER response", |m| {
                m.status().is_some_and(|s| s >= 200)
            })
        } else {
            resp
        };
        assert_eq!(resp.status(), Some(200), "{} registers", self.user);
    }

    /// A new INVITE to `number` at callrec with an SDP offer.
    pub fn invite(&mut self, number: &str, server: SocketAddr) -> Message {
        let call_id = self.token("call-");
        self.invite_in(number, server, &call_id)
    }

    /// An INVITE with a given Call-ID (to resend with credentials).
    pub fn invite_in(&mut self, number: &str, server: SocketAddr, call_id: &str) -> Message {
        let uri = Uri::parse(&format!("sip:{number}@{server}")).expect("uri");
        let mut m = Message::request(Method::Invite, uri);
        let via = self.via();
        let tag = self.token("ftag");
        let cseq = self.next_cseq();
        m.push_header(HeaderName::Via, via);
        m.push_header(HeaderName::MaxForwards, "70");
        m.push_header(
            HeaderName::From,
            format!(
                "\"{}\" <sip:{}@{}>;tag={tag}",
                self.user, self.user, self.domain
            ),
        );
        m.push_header(HeaderName::To, format!("<sip:{number}@{}>", self.domain));
        m.push_header(HeaderName::CallId, call_id);
        m.push_header(HeaderName::CSeq, format!("{cseq} INVITE"));
        m.push_header(HeaderName::Contact, self.contact());
        let ip = self.addr.ip().to_string();
        m.set_body("application/sdp", sdp(&ip, 20000, None));
        m
    }

    /// Adds credentials for `challenge` (a 401 or 407) to `req`.
    pub fn authorize(&self, req: &mut Message, challenge: &Message) {
        let proxy = challenge.status() == Some(407);
        let ch = if proxy {
            challenge.proxy_authenticate()
        } else {
            challenge.www_authenticate()
        }
        .expect("challenge parses");
        // Prefer MD5 when offered (the simplest), else the first.
        let c = ch
            .iter()
            .find(|c| {
                c.get("algorithm")
                    .is_none_or(|a| a.eq_ignore_ascii_case("MD5"))
            })
            .or(ch.first())
            .expect("a challenge");
        let realm = c.get("realm").unwrap_or_default().to_owned();
        let nonce = c.get("nonce").unwrap_or_default().to_owned();
        let algorithm = c.get("algorithm").unwrap_or("MD5").to_owned();
        let qop = c.get("qop").map(|q| {
            q.split(',')
                .map(str::trim)
                .find(|x| *x == "auth")
                .unwrap_or("auth")
                .to_owned()
        });
        let method = req.method().expect("request").as_str().to_owned();
        let uri = req.request_uri().expect("request").to_string();
        let h = |s: String| -> String {
            if algorithm.eq_ignore_ascii_case("SHA-256") {
                hex::encode(Sha256::digest(s.as_bytes()))
            } else {
                hex::encode(Md5::digest(s.as_bytes()))
            }
        };
        let ha1 = h(format!("{}:{realm}:{}", self.user, self.password));
        let ha2 = h(format!("{method}:{uri}"));
        let cnonce = "0a4f113b";
        let nc = "00000001";
        let response = match &qop {
            Some(q) => h(format!("{ha1}:{nonce}:{nc}:{cnonce}:{q}:{ha2}")),
            None => h(format!("{ha1}:{nonce}:{ha2}")),
        };
        let mut a = AuthHeader::new("Digest")
            .with("username", &self.user, true)
            .with("realm", &realm, true)
            .with("nonce", &nonce, true)
            .with("uri", &uri, true)
            .with("response", &response, true)
            .with("algorithm", &algorithm, false);
        if let Some(opaque) = c.get("opaque") {
            a = a.with("opaque", opaque, true);
        }
        if let Some(q) = &qop {
            a = a
                .with("qop", q, false)
                .with("nc", nc, false)
                .with("cnonce", cnonce, true);
        }
        let name = if proxy {
            HeaderName::ProxyAuthorization
        } else {
            HeaderName::Authorization
        };
        req.push_header(name, a.to_string());
    }

    /// Calls `number`: INVITE, answer the 407 with credentials, resend. Returns the INVITE
    /// that was let in (the one with credentials).
    pub fn call(&mut self, net: &mut impl Network, number: &str) -> Message {
        // One second apart: the auth lane's nonces are per second and their `nc` replay
        // tracking is per nonce only, so two clients challenged in the same second (each
        // starting at nc=1) collide and the second gets stale=true. Reported to the lead.
        net.advance(std::time::Duration::from_secs(1));
        let call_id = self.token("call-");
        let first = self.invite_in(number, net.server(), &call_id);
        net.deliver(self.addr, &first);
        let challenge = net.expect(self.addr, "a 407 challenge", |m| m.status() == Some(407));
        net.deliver(self.addr, &Phone::ack_non_2xx(&first, &challenge));
        let mut second = self.invite_in(number, net.server(), &call_id);
        self.authorize(&mut second, &challenge);
        net.deliver(self.addr, &second);
        second
    }

    /// The ACK for a non-2xx final response to `invite` (RFC 3261 §17.1.1.3: same branch).
    pub fn ack_non_2xx(invite: &Message, resp: &Message) -> Message {
        let mut m = Message::request(Method::Ack, invite.request_uri().expect("request").clone());
        m.push_header(
            HeaderName::Via,
            invite.header(HeaderName::Via).expect("Via"),
        );
        m.push_header(HeaderName::MaxForwards, "70");
        m.push_header(
            HeaderName::From,
            invite.header(HeaderName::From).expect("From"),
        );
        m.push_header(HeaderName::To, resp.header(HeaderName::To).expect("To"));
        m.push_header(HeaderName::CallId, invite.call_id().expect("Call-ID"));
        m.push_header(
            HeaderName::CSeq,
            format!("{} ACK", invite.cseq().expect("CSeq").seq),
        );
        m
    }

    /// A response to a received request, with our tag on To and our Contact on 1xx/2xx.
    pub fn respond(&self, req: &Message, status: u16, reason: &str, tag: &str) -> Message {
        let mut r = Message::response_to(req, status, reason, Some(tag));
        if (101..300).contains(&status) {
            r.push_header(HeaderName::Contact, self.contact());
        }
        r
    }

    /// A 200 OK with an SDP answer.
    pub fn answer(&self, req: &Message, tag: &str) -> Message {
        let mut r = self.respond(req, 200, "OK", tag);
        let ip = self.addr.ip().to_string();
        r.set_body("application/sdp", sdp(&ip, 30000, None));
        r
    }

    /// The dialog of a call we placed (our INVITE, its 2xx).
    pub fn uac_dialog(invite: &Message, ok: &Message) -> Dialog {
        let target = ok
            .contacts()
            .ok()
            .and_then(|c| c.into_iter().next())
            .and_then(|c| match c {
                callrec_sip::message::Contact::Addr(a) => Some(a.uri),
                callrec_sip::message::Contact::Star => None,
            })
            .expect("2xx has a Contact");
        Dialog {
            call_id: invite.call_id().expect("Call-ID"),
            local: invite.header(HeaderName::From).expect("From").into_owned(),
            remote: ok.header(HeaderName::To).expect("To").into_owned(),
            remote_target: target,
            cseq: invite.cseq().expect("CSeq").seq,
        }
    }

    /// The dialog of a call we received (the INVITE, our tag).
    pub fn uas_dialog(invite: &Message, tag: &str) -> Dialog {
        let target = invite
            .contacts()
            .ok()
            .and_then(|c| c.into_iter().next())
            .and_then(|c| match c {
                callrec_sip::message::Contact::Addr(a) => Some(a.uri),
                callrec_sip::message::Contact::Star => None,
            })
            .expect("INVITE has a Contact");
        Dialog {
            call_id: invite.call_id().expect("Call-ID"),
            local: format!("{};tag={tag}", invite.header(HeaderName::To).expect("To")),
            remote: invite.header(HeaderName::From).expect("From").into_owned(),
            remote_target: target,
            cseq: 100,
        }
    }

    /// An in-dialog request (new CSeq unless `method` is ACK).
    pub fn in_dialog(&mut self, d: &mut Dialog, method: Method) -> Message {
        if method != Method::Ack {
            d.cseq += 1;
        }
        let mut m = Message::request(method.clone(), d.remote_target.clone());
        let via = self.via();
        m.push_header(HeaderName::Via, via);
        m.push_header(HeaderName::MaxForwards, "70");
        m.push_header(HeaderName::From, &d.local);
        m.push_header(HeaderName::To, &d.remote);
        m.push_header(HeaderName::CallId, &d.call_id);
        m.push_header(HeaderName::CSeq, format!("{} {method}", d.cseq));
        if matches!(method, Method::Invite | Method::Update) {
            m.push_header(HeaderName::Contact, self.contact());
        }
        m
    }
}
