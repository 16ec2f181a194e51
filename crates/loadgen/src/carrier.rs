//! The carrier: places calls to a DID through callrec (trusted by source address, no
//! authentication), acknowledges the 2xx, runs the carrier leg's media and hangs up with BYE.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use callrec_sip::message::{Contact, Message, Method, Uri};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::endpoint::{token, Endpoint, Incoming, TransactError};
use crate::phone::MediaShared;
use crate::rtp::run_leg;
use crate::sdp;

/// Why a call could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The INVITE transaction failed.
    #[error(transparent)]
    Transact(#[from] TransactError),
    /// callrec answered with a non-2xx final status.
    #[error("INVITE answered {0}")]
    Status(u16),
    /// The 2xx had no usable SDP or Contact.
    #[error("2xx without usable SDP or Contact")]
    BadAnswer,
    /// A local RTP socket could not be bound.
    #[error("cannot bind RTP socket: {0}")]
    Bind(std::io::Error),
}

/// An established call, enough to hang it up.
#[derive(Debug)]
pub struct Dialog {
    call_id: String,
    from: String,
    to: String,
    target: Uri,
    routes: Vec<String>,
    media: JoinHandle<()>,
}

/// Settings of the carrier.
#[derive(Debug, Clone)]
pub struct CarrierConfig {
    /// callrec's SIP address.
    pub callrec: SocketAddr,
    /// The dialled number.
    pub did: String,
}

/// Places call number `n`: INVITE with SDP, waits for the final response, ACKs a 2xx and
/// starts the carrier leg's media.
pub async fn place_call(
    ep: &Endpoint,
    cfg: &CarrierConfig,
    n: u32,
    media: &MediaShared,
) -> Result<Dialog, CallError> {
    let sock = UdpSocket::bind(SocketAddr::new(ep.local.ip(), 0))
        .await
        .map_err(CallError::Bind)?;
    let local = sock.local_addr().map_err(CallError::Bind)?;
    let call_id = format!("{}@loadgen", token());
    let caller = format!("+1555200{:04}", n % 10_000);
    let from = format!("<sip:{caller}@{}>;tag={}", ep.local.ip(), token());
    let to = format!("<sip:{}@{}>", cfg.did, cfg.callrec.ip());
    let ruri = Uri::parse(&format!("sip:{}@{}", cfg.did, cfg.callrec))
        .map_err(|_| CallError::BadAnswer)?;
    let mut inv = Message::request(Method::Invite, ruri);
    inv.push_header(
        "Via",
        format!("SIP/2.0/UDP {};branch=z9hG4bK{};rport", ep.local, token()),
    );
    inv.push_header("From", &from);
    inv.push_header("To", &to);
    inv.push_header("Call-ID", &call_id);
    inv.push_header("CSeq", "1 INVITE");
    inv.push_header("Contact", format!("<sip:{caller}@{}>", ep.local));
    inv.push_header("Max-Forwards", "70");
    inv.push_header("User-Agent", "callrec-loadgen-carrier");
    inv.set_body("application/sdp", sdp::audio_sdp(local, u64::from(n)));
    let resp = ep
        .transact(&inv, &call_id, 1, "INVITE", cfg.callrec)
        .await?;
    let status = resp.status().unwrap_or(0);
    if !(200..300).contains(&status) {
        return Err(CallError::Status(status));
    }
    let to = resp
        .header("To")
        .map(|t| t.into_owned())
        .ok_or(CallError::BadAnswer)?;
    let target = resp
        .contacts()
        .ok()
        .and_then(|c| {
            c.into_iter().find_map(|c| match c {
                Contact::Addr(a) => Some(a.uri),
                Contact::Star => None,
            })
        })
        .ok_or(CallError::BadAnswer)?;
    let mut routes: Vec<String> = resp
        .header_values("Record-Route")
        .into_iter()
        .map(|r| r.into_owned())
        .collect();
    routes.reverse();
    let dialog_base = Dialog {
        call_id,
        from,
        to,
        target,
        routes,
        media: tokio::spawn(async {}),
    };
    let ack = in_dialog(&dialog_base, Method::Ack, 1, ep.local);
    let _ = ep.send_ack(&dialog_base.call_id, &ack, cfg.callrec).await;
    let relay = sdp::audio_addr(resp.body()).ok_or(CallError::BadAnswer)?;
    let media = tokio::spawn(run_leg(
        Arc::new(sock),
        relay,
        rand::random(),
        Arc::clone(&media.out),
        Arc::clone(&media.inc),
        media.phases.clone(),
    ));
    Ok(Dialog {
        media,
        ..dialog_base
    })
}

fn in_dialog(d: &Dialog, method: Method, seq: u32, local: SocketAddr) -> Message {
    let name = method.as_str().to_owned();
    let mut m = Message::request(method, d.target.clone());
    m.push_header(
        "Via",
        format!("SIP/2.0/UDP {local};branch=z9hG4bK{};rport", token()),
    );
    for r in &d.routes {
        m.push_header("Route", r);
    }
    m.push_header("From", &d.from);
    m.push_header("To", &d.to);
    m.push_header("Call-ID", &d.call_id);
    m.push_header("CSeq", format!("{seq} {name}"));
    m.push_header("Max-Forwards", "70");
    m
}

/// Hangs up: stops the media task and sends BYE; returns the final status (0 on timeout).
pub async fn hang_up(ep: &Endpoint, cfg: &CarrierConfig, d: Dialog) -> u16 {
    d.media.abort();
    let bye = in_dialog(&d, Method::Bye, 2, ep.local);
    let status = match ep.transact(&bye, &d.call_id, 2, "BYE", cfg.callrec).await {
        Ok(r) => r.status().unwrap_or(0),
        Err(_) => 0,
    };
    ep.forget_ack(&d.call_id);
    status
}

/// BYEs received from callrec on the carrier side (calls callrec ended itself).
#[derive(Debug, Default)]
pub struct CarrierStats {
    /// BYEs from callrec.
    pub byes_from_callrec: AtomicU64,
}

/// Answers requests callrec sends the carrier (BYE, OPTIONS) with 200.
pub async fn answer_loop(
    ep: Arc<Endpoint>,
    mut requests: mpsc::UnboundedReceiver<Incoming>,
    stats: Arc<CarrierStats>,
) {
    while let Some(Incoming { msg, from }) = requests.recv().await {
        match msg.method().map(|m| m.as_str()) {
            Some("ACK") => {}
            Some("BYE") => {
                stats.byes_from_callrec.fetch_add(1, Ordering::Relaxed);
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
