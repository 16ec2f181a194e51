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
