//! The SDP offers/answers the load generator sends, and reading the media address of a peer's SDP.

use std::net::{IpAddr, SocketAddr};

/// An SDP body offering/answering PCMU (0) and telephone-event (101) on `addr`.
pub fn audio_sdp(addr: SocketAddr, session_id: u64) -> String {
    let ip = addr.ip();
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    format!(
        "v=0\r\no=loadgen {session_id} 1 IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
        addr.port()
    )
}

/// The RTP address of the first audio stream: the media-level `c=` if any, else the session
/// one, and the `m=audio` port. `None` when missing, unparsable or port 0.
pub fn audio_addr(body: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(body).ok()?;
    let mut session_ip: Option<IpAddr> = None;
    let mut media_ip: Option<IpAddr> = None;
    let mut port: Option<u16> = None;
    let mut in_audio = false;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix("c=") {
            let ip = rest
                .split_whitespace()
                .nth(2)?
                .split('/')
                .next()?
                .parse()
                .ok();
            if in_audio {
                media_ip = ip;
            } else if port.is_none() {
                session_ip = ip;
            }
        } else if let Some(rest) = line.strip_prefix("m=") {
            if port.is_some() {
                // only the first audio stream
                in_audio = false;
                continue;
            }
            let mut parts = rest.split_whitespace();
            if parts.next() == Some("audio") {
                port = parts.next()?.parse().ok();
                in_audio = true;
            }
        }
    }
    let ip = media_ip.or(session_ip)?;
    match port {
        Some(p) if p != 0 => Some(SocketAddr::new(ip, p)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_addr_reads_back_the_address_of_an_offer_we_built() {
        let addr: SocketAddr = "127.0.0.2:40002".parse().unwrap();
        assert_eq!(audio_addr(audio_sdp(addr, 7).as_bytes()), Some(addr));
    }

    #[test]
    fn audio_addr_prefers_the_media_level_connection_line() {
        let sdp = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 20000 RTP/AVP 0\r\nc=IN IP4 127.0.0.1\r\n";
        assert_eq!(audio_addr(sdp.as_bytes()), "127.0.0.1:20000".parse().ok());
    }

    #[test]
    fn audio_addr_refuses_a_rejected_stream_and_garbage() {
        assert_eq!(
            audio_addr(b"c=IN IP4 127.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n"),
            None
        );
        assert_eq!(audio_addr(b"\xff\xfe"), None);
        assert_eq!(audio_addr(b"m=audio x RTP/AVP 0\r\n"), None);
    }
}
