//! UDP: one receive loop per socket, and `try_send_to` for transmits.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use callrec_sip::transaction::{Peer, Transmit, Transport as Proto};
use tokio::net::UdpSocket;
use tracing::debug;

use super::counters::Counters;
use super::{Incoming, Shared};
use callrec_sip::message::inbound::{canonical, decode, Decoded};

/// Largest datagram read (the IPv4/IPv6 UDP payload limit).
const MAX_DATAGRAM: usize = 65_535;

/// Reads datagrams until shutdown, passing messages on and answering unparseable requests.
pub(crate) async fn run_receiver(shared: Arc<Shared>, socket: Arc<UdpSocket>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut stop = shared.shutdown.clone();
    loop {
        let (n, src) = tokio::select! {
            _ = stop.changed() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    // ICMP errors of earlier sends surface here on some systems: keep reading.
                    debug!(error = %e, "UDP receive error");
                    continue;
                }
            },
        };
        Counters::inc(&shared.counters.udp_received);
        let Some(data) = buf.get(..n) else { continue };
        if data.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            // CRLF keep-alives are a stream thing; over UDP they carry nothing.
            continue;
        }
        let src = canonical(src);
        match decode(data, src) {
            Decoded::Message(msg) => {
                let from = Peer {
                    transport: Proto::Udp,
                    addr: src,
                };
                if shared.incoming.send(Incoming { from, msg }).await.is_err() {
                    return;
                }
            }
            Decoded::Invalid { error, reply } => {
                Counters::inc(&shared.counters.parse_errors);
                debug!(%error, len = n, "unparseable UDP datagram dropped");
                if let Some(reply) = reply {
                    if socket.try_send_to(&reply.to_bytes(), src).is_ok() {
                        Counters::inc(&shared.counters.error_replies);
                    }
                }
            }
        }
    }
}

/// The socket to send to `dest` from and the address to use: same family first, else an
/// IPv6 (dual-stack) socket with the IPv4-mapped address.
fn route(shared: &Shared, dest: SocketAddr) -> Option<(&UdpSocket, SocketAddr)> {
    if let Some((s, _)) = shared
        .udp
        .iter()
        .find(|(_, l)| l.is_ipv6() == dest.is_ipv6())
    {
        return Some((s, dest));
    }
    if let IpAddr::V4(v4) = dest.ip() {
        let (s, _) = shared.udp.iter().find(|(_, l)| l.is_ipv6())?;
        return Some((
            s,
            SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), dest.port()),
        ));
    }
    None
}

/// Sends one datagram now or drops it.
pub(crate) fn send(shared: &Shared, t: &Transmit) {
    let Some((socket, dest)) = route(shared, t.to.addr) else {
        Counters::inc(&shared.counters.send_dropped);
        debug!(to = %t.to.addr, "no UDP socket for this address family");
        return;
    };
    match socket.try_send_to(&t.payload, dest) {
        Ok(_) => Counters::inc(&shared.counters.sent),
        Err(e) => {
            Counters::inc(&shared.counters.send_dropped);
            debug!(to = %dest, error = %e, "UDP send dropped");
        }
    }
}
