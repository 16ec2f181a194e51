//! A UDP SIP endpoint for the load generator: sends requests with RFC 3261 timer-A style
//! retransmission, matches responses to them, and hands incoming requests to its owner.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use callrec_sip::message::Message;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Why a client transaction gave no final response.
#[derive(Debug, thiserror::Error)]
pub enum TransactError {
    /// No final response within 32 s (timer B/F).
    #[error("no final response (timeout)")]
    Timeout,
    /// The socket refused to send.
    #[error("send failed: {0}")]
    Send(#[from] std::io::Error),
}

/// One incoming request and where it came from.
#[derive(Debug)]
pub struct Incoming {
    /// The request.
    pub msg: Message,
    /// Its source address.
    pub from: SocketAddr,
}

/// The SIP side of one simulated party (the carrier, or the phone).
#[derive(Debug)]
pub struct Endpoint {
    /// The bound socket.
    pub sock: Arc<UdpSocket>,
    /// Its local address (written into Via and Contact).
    pub local: SocketAddr,
    pending: Mutex<HashMap<String, mpsc::UnboundedSender<Message>>>,
    acks: Mutex<HashMap<String, (Bytes, SocketAddr)>>,
}

const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const TIMER_B: Duration = Duration::from_secs(32);

fn key(call_id: &str, seq: u32, method: &str) -> String {
    format!("{call_id} {seq} {method}")
}

impl Endpoint {
    /// Binds `local` and starts the receive loop; incoming requests go to the returned channel.
    pub async fn bind(
        local: SocketAddr,
    ) -> std::io::Result<(Arc<Self>, mpsc::UnboundedReceiver<Incoming>)> {
        let sock = Arc::new(UdpSocket::bind(local).await?);
        let local = sock.local_addr()?;
        let ep = Arc::new(Endpoint {
            sock,
            local,
            pending: Mutex::new(HashMap::new()),
            acks: Mutex::new(HashMap::new()),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(Arc::clone(&ep).receive_loop(tx));
        Ok((ep, rx))
    }

    async fn receive_loop(self: Arc<Self>, requests: mpsc::UnboundedSender<Incoming>) {
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, from) = match self.sock.recv_from(&mut buf).await {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!(error = %e, "SIP receive error");
                    continue;
                }
            };
            let Some(data) = buf.get(..n) else { continue };
            let Ok(msg) = Message::parse(Bytes::copy_from_slice(data)) else {
                tracing::debug!("unparsable SIP datagram ignored");
                continue;
            };
            if msg.is_request() {
                if requests.send(Incoming { msg, from }).is_err() {
                    return;
                }
                continue;
            }
            let (Some(call_id), Ok(cseq)) = (msg.call_id_str(), msg.cseq()) else {
                continue;
            };
            let call_id = call_id.into_owned();
            let k = key(&call_id, cseq.seq, cseq.method.as_str());
            let waiter = self.pending.lock().ok().and_then(|p| p.get(&k).cloned());
            match waiter {
                Some(w) => {
                    let _ = w.send(msg);
                }
                None => {
                    // A retransmitted 2xx to an INVITE already acknowledged: acknowledge again.
                    let status = msg.status().unwrap_or(0);
                    if (200..300).contains(&status) && cseq.method.as_str() == "INVITE" {
                        let ack = self.acks.lock().ok().and_then(|a| a.get(&call_id).cloned());
                        if let Some((bytes, to)) = ack {
                            let _ = self.sock.send_to(&bytes, to).await;
                        }
                    }
                }
            }
        }
    }

    /// Sends `request` (already built, with Call-ID and CSeq) to `dest`, retransmitting until a
    /// response arrives, and returns the first final response. Provisional responses stop the
    /// retransmissions.
    pub async fn transact(
        &self,
        request: &Message,
        call_id: &str,
        seq: u32,
        method: &str,
        dest: SocketAddr,
    ) -> Result<Message, TransactError> {
        let k = key(call_id, seq, method);
        let (tx, mut rx) = mpsc::unbounded_channel();
        if let Ok(mut p) = self.pending.lock() {
            p.insert(k.clone(), tx);
        }
        let result = self.transact_inner(request, dest, &mut rx).await;
        if let Ok(mut p) = self.pending.lock() {
            p.remove(&k);
        }
        result
    }

    async fn transact_inner(
        &self,
        request: &Message,
        dest: SocketAddr,
        rx: &mut mpsc::UnboundedReceiver<Message>,
    ) -> Result<Message, TransactError> {
        let bytes = request.to_bytes();
        let deadline = Instant::now() + TIMER_B;
        let mut interval = T1;
        let mut retransmit = true;
        self.sock.send_to(&bytes, dest).await?;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(TransactError::Timeout);
            }
            let wait = if retransmit {
                interval.min(deadline - now)
            } else {
                deadline - now
            };
            match tokio::time::timeout(wait, rx.recv()).await {
                Ok(Some(resp)) => {
                    if resp.status().unwrap_or(0) >= 200 {
                        return Ok(resp);
                    }
                    retransmit = false;
                }
                Ok(None) => return Err(TransactError::Timeout),
                Err(_) => {
                    if retransmit {
                        self.sock.send_to(&bytes, dest).await?;
                        interval = (interval * 2).min(T2);
                    }
                }
            }
        }
    }

    /// Sends `msg` once to `dest`.
    pub async fn send(&self, msg: &Message, dest: SocketAddr) -> std::io::Result<()> {
        self.sock.send_to(&msg.to_bytes(), dest).await.map(|_| ())
    }

    /// Sends the ACK of a 2xx and remembers it, so that 2xx retransmissions are acknowledged.
    pub async fn send_ack(
        &self,
        call_id: &str,
        ack: &Message,
        dest: SocketAddr,
    ) -> std::io::Result<()> {
        let bytes = ack.to_bytes();
        if let Ok(mut a) = self.acks.lock() {
            a.insert(call_id.to_owned(), (bytes.clone(), dest));
        }
        self.sock.send_to(&bytes, dest).await.map(|_| ())
    }

    /// Forgets the remembered ACK of a call (after its BYE).
    pub fn forget_ack(&self, call_id: &str) {
        if let Ok(mut a) = self.acks.lock() {
            a.remove(call_id);
        }
    }
}

/// A random token for tags, branches and Call-IDs.
pub fn token() -> String {
    format!("{:016x}", rand::random::<u64>())
}
