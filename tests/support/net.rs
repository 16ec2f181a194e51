//! Loopback ports for the processes a test starts.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

/// A port that is free for both UDP and TCP on `ip` right now (the OS picks it; the probe sockets
/// are closed again before the port is handed to a child process).
pub fn free_port(ip: Ipv4Addr) -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind((ip, 0)).expect("bind a UDP probe socket on loopback");
        let port = udp.local_addr().expect("probe address").port();
        if TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no free UDP+TCP port on {ip}");
}

/// A free even port with the next one free too (RTP/RTCP pairs for SIPp's media).
pub fn free_port_pair(ip: Ipv4Addr) -> u16 {
    for _ in 0..200 {
        let port = free_port(ip);
        if port % 2 == 0
            && port < u16::MAX - 2
            && UdpSocket::bind((ip, port + 1)).is_ok()
            && UdpSocket::bind((ip, port + 2)).is_ok()
            && UdpSocket::bind((ip, port + 3)).is_ok()
        {
            return port;
        }
    }
    panic!("no free RTP port pair on {ip}");
}

/// Address of `ip:port`.
pub fn addr(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

/// 127.0.0.1: callrec and the phones.
pub const PHONES_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// 127.0.0.2: the carrier of the example configuration.
pub const CARRIER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// 127.0.0.3: an address that is neither a phone's registration nor a carrier.
pub const STRANGER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
/// 127.0.0.4: a second carrier (tests that add one).
pub const CARRIER2_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);

/// How waiting for a SIP server's first answer ended.
#[derive(Debug)]
pub enum Probe {
    /// It answered as expected.
    Ready,
    /// `check` said the process is gone (its words).
    Exited(String),
    /// No expected answer within the limit.
    TimedOut,
}

/// Sends SIP OPTIONS to `target` (UDP, from a probe socket on 127.0.0.1) every 200 ms until a
/// reply starting with `expect` (e.g. `b"SIP/2.0 "`) arrives. `check` runs before each probe and
/// returns why waiting is pointless (the process under test has exited), if it is.
pub fn probe_options(
    target: SocketAddr,
    limit: std::time::Duration,
    expect: &[u8],
    mut check: impl FnMut() -> Option<String>,
) -> Probe {
    let socket = UdpSocket::bind((PHONES_IP, 0)).expect("probe socket");
    socket
        .set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .expect("timeout");
    let local = socket.local_addr().expect("probe addr");
    let deadline = std::time::Instant::now() + limit;
    let mut n = 0u32;
    while std::time::Instant::now() < deadline {
        if let Some(why) = check() {
            return Probe::Exited(why);
        }
        n += 1;
        let options = format!(
            "OPTIONS sip:{target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-probe-{n};rport\r\n\
             From: <sip:probe@{local}>;tag=probe{n}\r\nTo: <sip:{target}>\r\n\
             Call-ID: probe-{n}-{port}@127.0.0.1\r\nCSeq: {n} OPTIONS\r\nMax-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            port = local.port()
        );
        // A send error only means nobody listens yet.
        let _ = socket.send_to(options.as_bytes(), target);
        let mut buf = [0u8; 4096];
        if let Ok((len, _)) = socket.recv_from(&mut buf) {
            if buf.get(..len).is_some_and(|b| b.starts_with(expect)) {
                return Probe::Ready;
            }
        }
    }
    Probe::TimedOut
}
