//! The phone (extension 1001): registers with digest authentication and auto-answers every
//! INVITE callrec sends it with a PCMU answer, then sends and counts RTP on a per-call socket.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use callrec_sip::message::{AuthHeader, Message, Method, Uri};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::digest::{md5_response, DigestInput};
use crate::endpoint::{token, Endpoint, Incoming};
use crate::rtp::{run_leg, Direction, Phases};
use crate::sdp;

/// Why registration failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The transaction failed.
    #[error(transparent)]
    Transact(#[from] crate::endpoint::TransactError),
    /// A URI could not be built from the arguments.
    #[error("bad URI: {0}")]
    Uri(String),
    /// The registrar answered with this final status.
    #[error("registrar answered {0}")]
    Status(u16),
    /// The 401/407 had no usable digest challenge.
    #[error("no usable digest challenge")]
    NoChallenge,
}

/// Counters of the phone side.
#[derive(Debug, Default)]
pub struct PhoneStats {
    /// INVITEs answered with 200.
    pub answered: AtomicU64,
    /// BYEs received (and answered).
    pub byes: AtomicU64,
    /// INVITEs refused (no SDP or no socket).
    pub refused: AtomicU64,
}

/// Settings of the phone.
#[derive(Debug, Clone)]
pub struct PhoneConfig {
    /// SIP user name (extension).
    pub user: String,
    /// Digest password.
    pub password: String,
    /// callrec's SIP address.
    pub callrec: SocketAddr,
}

fn uri(s: &str) -> Result<Uri, RegisterError> {
    Uri::parse(s).map_err(|_| RegisterError::Uri(s.to_owned()))
}

fn register_request(
    ep: &Endpoint,
    cfg: &PhoneConfig,
    call_id: &str,
    tag: &str,
    seq: u32,
) -> Result<Message, RegisterError> {
    let target = format!("sip:{}", cfg.callrec);
    let mut m = Message::request(Method::Register, uri(&target)?);
    m.push_header(
        "Via",
        format!("SIP/2.0/UDP {};branch=z9hG4bK{};rport", ep.local, token()),
    );
    let aor = format!("<sip:{}@{}>", cfg.user, cfg.callrec.ip());
    m.push_header("From", format!("{aor};tag={tag}"));
    m.push_header("To", &aor);
    m.push_header("Call-ID", call_id);
    m.push_header("CSeq", format!("{seq} REGISTER"));
    m.push_header("Contact", format!("<sip:{}@{}>", cfg.user, ep.local));
    m.push_header("Expires", "3600");
    m.push_header("Max-Forwards", "70");
    m.push_header("User-Agent", "callrec-loadgen");
    Ok(m)
}

/// Registers the phone's address (challenge, then credentials with qop=auth when offered).
pub async fn register(ep: &Endpoint, cfg: &PhoneConfig) -> Result<(), RegisterError> {
    let call_id = token();
    let tag = token();
    let first = register_request(ep, cfg, &call_id, &tag, 1)?;
    let resp = ep
        .transact(&first, &call_id, 1, "REGISTER", cfg.callrec)
        .await?;
    let status = resp.status().unwrap_or(0);
    if (200..300).contains(&status) {
        return Ok(());
    }
    if status != 401 && status != 407 {
        return Err(RegisterError::Status(status));
    }
    let challenges = if status == 401 {
        resp.www_authenticate()
    } else {
        resp.proxy_authenticate()
    };
    let challenge = challenges
        .ok()
        .and_then(|v| {
            v.into_iter().find(|c| {
                c.scheme.eq_ignore_ascii_case("digest")
                    && c.get("algorithm")
                        .is_none_or(|a| a.eq_ignore_ascii_case("md5"))
            })
        })
        .ok_or(RegisterError::NoChallenge)?;
    let realm = challenge.get("realm").ok_or(RegisterError::NoChallenge)?;
    let nonce = challenge.get("nonce").ok_or(RegisterError::NoChallenge)?;
    let qop_auth = challenge
        .get("qop")
        .is_some_and(|q| q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")));
    let digest_uri = format!("sip:{}", cfg.callrec);
    let cnonce = token();
    let nc = "00000001";
    let response = md5_response(&DigestInput {
        username: &cfg.user,
        realm,
        password: &cfg.password,
        method: "REGISTER",
        uri: &digest_uri,
        nonce,
        qop_auth: qop_auth.then_some((nc, cnonce.as_str())),
    });
    let mut cred = AuthHeader::new("Digest")
        .with("username", &cfg.user, true)
        .with("realm", realm, true)
        .with("nonce", nonce, true)
        .with("uri", &digest_uri, true)
        .with("response", &response, true)
        .with("algorithm", "MD5", false);
    if qop_auth {
        cred = cred
            .with("qop", "auth", false)
            .with("nc", nc, false)
            .with("cnonce", &cnonce, true);
    }
    if let Some(opaque) = challenge.get("opaque") {
        cred = cred.with("opaque", opaque, true);
    }
    let mut second = register_request(ep, cfg, &call_id, &tag, 2)?;
    let header = if status == 401 {
        "Authorization"
    } else {
        "Proxy-Authorization"
    };
    second.push_header(header, cred.to_string());
    let resp = ep
        .transact(&second, &call_id, 2, "REGISTER", cfg.callrec)
        .await?;
    match resp.status().unwrap_or(0) {
        200..=299 => Ok(()),
        s => Err(RegisterError::Status(s)),
    }
}

struct PhoneCall {
    ok: bytes::Bytes,
    media: JoinHandle<()>,
}

/// Everything the answering loop shares with the media tasks.
#[derive(Debug, Clone)]
pub struct MediaShared {
    /// Counters of packets the phone sends (phone → carrier direction).
    pub out: Arc<Direction>,
    /// Counters of packets the phone receives (carrier → phone direction).
    pub inc: Arc<Direction>,
    /// Phase switches.
    pub phases: Phases,
}

/// Answers requests from callrec until the channel closes: INVITE → 200 with SDP (and media
/// started), retransmitted INVITE → the same 200, BYE → 200 (media stopped), ACK ignored,
/// anything else → 200.
pub async fn answer_loop(
    ep: Arc<Endpoint>,
    mut requests: mpsc::UnboundedReceiver<Incoming>,
    media: MediaShared,
    stats: Arc<PhoneStats>,
) {
    let mut calls: HashMap<String, PhoneCall> = HashMap::new();
    while let Some(Incoming { msg, from }) = requests.recv().await {
        let Some(call_id) = msg.call_id_str().map(|c| c.into_owned()) else {
            continue;
        };
        let method = msg
            .method()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default();
        match method.as_str() {
            "INVITE" => {
                if let Some(call) = calls.get(&call_id) {
                    let _ = ep.sock.send_to(&call.ok, from).await;
                    continue;
                }
                match answer(&ep, &msg, &media).await {
                    Some((ok, handle)) => {
                        let _ = ep.sock.send_to(&ok, from).await;
                        stats.answered.fetch_add(1, Ordering::Relaxed);
                        calls.insert(call_id, PhoneCall { ok, media: handle });
                    }
                    None => {
                        stats.refused.fetch_add(1, Ordering::Relaxed);
                        let resp =
                            Message::response_to(&msg, 488, "Not Acceptable Here", Some(&token()));
                        let _ = ep.send(&resp, from).await;
                    }
                }
            }
            "ACK" => {}
            "BYE" => {
                if let Some(call) = calls.remove(&call_id) {
                    call.media.abort();
                    stats.byes.fetch_add(1, Ordering::Relaxed);
                }
                let _ = ep
                    .send(&Message::response_to(&msg, 200, "OK", None), from)
                    .await;
            }
            _ => {
                let _ = ep
                    .send(&Message::response_to(&msg, 200, "OK", None), from)
                    .await;
            }
        }
    }
}

async fn answer(
    ep: &Endpoint,
    invite: &Message,
    media: &MediaShared,
) -> Option<(bytes::Bytes, JoinHandle<()>)> {
    let relay = sdp::audio_addr(invite.body())?;
    let sock = UdpSocket::bind(SocketAddr::new(ep.local.ip(), 0))
        .await
        .ok()?;
    let local = sock.local_addr().ok()?;
    let mut ok = Message::response_to(invite, 200, "OK", Some(&token()));
    ok.push_header("Contact", format!("<sip:1001@{}>", ep.local));
    ok.set_body(
        "application/sdp",
        sdp::audio_sdp(local, rand::random::<u32>().into()),
    );
    let bytes = ok.to_bytes();
    let handle = tokio::spawn(run_leg(
        Arc::new(sock),
        relay,
        rand::random(),
        Arc::clone(&media.out),
        Arc::clone(&media.inc),
        media.phases.clone(),
    ));
    Some((bytes, handle))
}
