//! Hold detection from an SDP offer: a session put on hold says `a=sendonly` or `a=inactive`
//! (RFC 3264 §8.4), or, in the old RFC 2543 way, `c=IN IP4 0.0.0.0`.

/// Whether the SDP puts the session on hold: every audio (or, without media sections, the
/// session-level) direction is sendonly/inactive, or the connection address is 0.0.0.0.
/// Reads only what it needs; garbage is "not on hold".
pub fn sdp_is_hold(sdp: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(sdp) else {
        return false;
    };
    let mut session_dir: Option<&str> = None;
    let mut session_zero = false;
    // (direction, zero connection) per media section.
    let mut media: Vec<(Option<&str>, bool)> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("m=") {
            media.push((None, false));
            continue;
        }
        let dir = match line {
            "a=sendonly" => Some("sendonly"),
            "a=inactive" => Some("inactive"),
            "a=recvonly" => Some("recvonly"),
            "a=sendrecv" => Some("sendrecv"),
            _ => None,
        };
        let zero = line
            .strip_prefix("c=IN IP4 ")
            .is_some_and(|a| a.trim().split('/').next() == Some("0.0.0.0"));
        match media.last_mut() {
            Some(m) => {
                if dir.is_some() {
                    m.0 = dir;
                }
                m.1 |= zero;
            }
            None => {
                if dir.is_some() {
                    session_dir = dir;
                }
                session_zero |= zero;
            }
        }
    }
    let held =
        |dir: Option<&str>, zero: bool| zero || matches!(dir, Some("sendonly") | Some("inactive"));
    if media.is_empty() {
        return held(session_dir, session_zero);
    }
    media
        .iter()
        .all(|(dir, zero)| held(dir.or(session_dir), *zero || session_zero))
}

#[cfg(test)]
mod tests {
    use super::sdp_is_hold;

    const BASE: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

    #[test]
    fn sendrecv_offer_is_not_hold() {
        assert!(!sdp_is_hold(format!("{BASE}a=sendrecv\r\n").as_bytes()));
        assert!(!sdp_is_hold(BASE.as_bytes()));
    }

    #[test]
    fn sendonly_or_inactive_offer_is_hold() {
        assert!(sdp_is_hold(format!("{BASE}a=sendonly\r\n").as_bytes()));
        assert!(sdp_is_hold(format!("{BASE}a=inactive\r\n").as_bytes()));
    }

    #[test]
    fn zero_connection_address_is_hold() {
        let sdp = BASE.replace("c=IN IP4 10.0.0.1", "c=IN IP4 0.0.0.0");
        assert!(sdp_is_hold(sdp.as_bytes()));
    }

    #[test]
    fn session_level_direction_applies_to_media_without_one() {
        let sdp = BASE.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
        assert!(sdp_is_hold(sdp.as_bytes()));
    }

    #[test]
    fn garbage_is_not_hold() {
        assert!(!sdp_is_hold(&[0xff, 0xfe, b'a']));
    }
}
