//! Parsing an SDP body into an ordered list of lines with the few structured fields callrec
//! reads (`o=`, `c=`, `m=`), so that printing it back changes nothing but what a rewrite touched.

use std::net::IpAddr;

use super::error::SdpError;

/// One `<type>=<value>` line, kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) kind: char,
    pub(crate) value: String,
}

/// The `o=` line: `<username> <sess-id> <sess-version> IN <IP4|IP6> <address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name (`-` when none).
    pub username: String,
    /// Session id, kept as text (it may exceed 64 bits).
    pub session_id: String,
    /// Session version, kept as text.
    pub session_version: String,
    /// Address type as written (`IP4` or `IP6`).
    pub address_type: String,
    /// Unicast address or host name as written.
    pub address: String,
}

/// An `m=` section: the media line and every line after it up to the next `m=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSection {
    /// Media type (`audio`, `video`, ...).
    pub media: String,
    /// Transport port; 0 means the stream is rejected or disabled.
    pub port: u16,
    /// The `/<number of ports>` suffix when present.
    pub port_count: Option<u16>,
    /// Transport protocol (`RTP/AVP`, `RTP/SAVP`, ...).
    pub proto: String,
    /// Format list (payload type numbers for RTP), as written.
    pub formats: Vec<String>,
    /// The section's own connection address, if it has a `c=` line.
    pub connection: Option<IpAddr>,
    pub(crate) lines: Vec<Line>,
}

impl MediaSection {
    /// The values of every `a=` line of this section, e.g. `rtpmap:0 PCMU/8000`.
    pub fn attributes(&self) -> impl Iterator<Item = &str> {
        self.lines
            .iter()
            .filter(|l| l.kind == 'a')
            .map(|l| l.value.as_str())
    }
}

/// A parsed SDP body: session-level lines, then media sections, each in original order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// The origin line.
    pub origin: Option<Origin>,
    /// The session-level connection address, if any.
    pub connection: Option<IpAddr>,
    /// Media sections in order.
    pub media: Vec<MediaSection>,
    pub(crate) session: Vec<Line>,
}

/// Parses the address of a `c=` value (`IN IP4 192.0.2.1`, `IN IP6 ::1`, an optional `/ttl`).
fn parse_connection(value: &str, line: usize) -> Result<IpAddr, SdpError> {
    let mut fields = value.split_ascii_whitespace();
    let (Some(net), Some(addrtype), Some(addr), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(SdpError::BadConnection { line });
    };
    if net != "IN" {
        return Err(SdpError::BadConnection { line });
    }
    // Multicast addresses may carry /ttl and /count suffixes; keep only the address.
    let addr = addr.split('/').next().unwrap_or(addr);
    let ip: IpAddr = addr.parse().map_err(|_| SdpError::BadConnection { line })?;
    match (addrtype, ip) {
        ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Ok(ip),
        _ => Err(SdpError::BadConnection { line }),
    }
}

fn parse_origin(value: &str, line: usize) -> Result<Origin, SdpError> {
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    let [username, session_id, session_version, net, addrtype, address] = fields.as_slice() else {
        return Err(SdpError::BadOrigin { line });
    };
    if *net != "IN" || !matches!(*addrtype, "IP4" | "IP6") {
        return Err(SdpError::BadOrigin { line });
    }
    Ok(Origin {
        username: (*username).to_owned(),
        session_id: (*session_id).to_owned(),
        session_version: (*session_version).to_owned(),
        address_type: (*addrtype).to_owned(),
        address: (*address).to_owned(),
    })
}

fn parse_media(value: &str, line: usize) -> Result<MediaSection, SdpError> {
    let mut fields = value.split_ascii_whitespace();
    let (Some(media), Some(port), Some(proto)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(SdpError::BadMedia { line });
    };
    let formats: Vec<String> = fields.map(str::to_owned).collect();
    if formats.is_empty() {
        return Err(SdpError::BadMedia { line });
    }
    let (port, port_count) = match port.split_once('/') {
        Some((p, n)) => (p, Some(n.parse().map_err(|_| SdpError::BadMedia { line })?)),
        None => (port, None),
    };
    let port = port.parse().map_err(|_| SdpError::BadMedia { line })?;
    Ok(MediaSection {
        media: media.to_owned(),
        port,
        port_count,
        proto: proto.to_owned(),
        formats,
        connection: None,
        lines: Vec::new(),
    })
}

/// Checks `a=rtpmap:<pt> <name>/<rate>[/<channels>]`.
fn check_rtpmap(value: &str, line: usize) -> Result<(), SdpError> {
    if let Some(rest) = value.strip_prefix("rtpmap:") {
        super::media::parse_rtpmap(rest).ok_or(SdpError::BadRtpmap { line })?;
    }
    Ok(())
}

impl SessionDescription {
    /// Parses an SDP body (CRLF or LF line endings). Never panics; errors are typed.
    pub fn parse(body: &[u8]) -> Result<Self, SdpError> {
        let text = std::str::from_utf8(body).map_err(|_| SdpError::NotUtf8)?;
        let mut sdp = SessionDescription {
            origin: None,
            connection: None,
            media: Vec::new(),
            session: Vec::new(),
        };
        let mut saw_version = false;
        for (index, raw) in text.split('\n').enumerate() {
            let line_no = index + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            if raw.trim().is_empty() {
                continue;
            }
            let mut chars = raw.chars();
            let (Some(kind), Some('=')) = (chars.next(), chars.next()) else {
                return Err(SdpError::MalformedLine { line: line_no });
            };
            if !kind.is_ascii_lowercase() {
                return Err(SdpError::MalformedLine { line: line_no });
            }
            let value = chars.as_str().to_owned();
            if !saw_version {
                if kind != 'v' || value.trim() != "0" {
                    return Err(SdpError::MissingVersion);
                }
                saw_version = true;
            }
            match kind {
                'm' => {
                    let section = parse_media(&value, line_no)?;
                    sdp.media.push(section);
                    continue;
                }
                'o' if sdp.media.is_empty() => {
                    sdp.origin = Some(parse_origin(&value, line_no)?);
                }
                'c' => {
                    let ip = parse_connection(&value, line_no)?;
                    match sdp.media.last_mut() {
                        Some(section) => section.connection = Some(ip),
                        None => sdp.connection = Some(ip),
                    }
                }
                'a' => check_rtpmap(&value, line_no)?,
                _ => {}
            }
            let line = Line { kind, value };
            match sdp.media.last_mut() {
                Some(section) => section.lines.push(line),
                None => sdp.session.push(line),
            }
        }
        if !saw_version {
            return Err(SdpError::MissingVersion);
        }
        Ok(sdp)
    }

    /// The session-level `a=` attribute values.
    pub fn session_attributes(&self) -> impl Iterator<Item = &str> {
        self.session
            .iter()
            .filter(|l| l.kind == 'a')
            .map(|l| l.value.as_str())
    }

    /// The first `m=audio` section, if any.
    pub fn first_audio(&self) -> Option<&MediaSection> {
        self.media.iter().find(|m| m.media == "audio")
    }

    /// Prints the description back, CRLF line endings.
    pub fn to_sdp_string(&self) -> String {
        let mut out = String::new();
        for line in &self.session {
            push_line(&mut out, line.kind, &line.value);
        }
        for m in &self.media {
            push_line(&mut out, 'm', &m.media_line());
            for line in &m.lines {
                push_line(&mut out, line.kind, &line.value);
            }
        }
        out
    }
}

impl MediaSection {
    /// The value of the `m=` line, rebuilt from the fields.
    pub(crate) fn media_line(&self) -> String {
        let port = match self.port_count {
            Some(n) => format!("{}/{}", self.port, n),
            None => self.port.to_string(),
        };
        format!(
            "{} {} {} {}",
            self.media,
            port,
            self.proto,
            self.formats.join(" ")
        )
    }
}

fn push_line(out: &mut String, kind: char, value: &str) {
    out.push(kind);
    out.push('=');
    out.push_str(value);
    out.push_str("\r\n");
}
