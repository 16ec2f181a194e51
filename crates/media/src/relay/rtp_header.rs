//! RTP (RFC 3550 section 5.1) and RTCP header parsing. Reads untrusted bytes: every access is
//! bounds-checked and errors are typed.

use super::error::RtpError;

/// A parsed RTP fixed header with the lengths needed to find the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit.
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Number of CSRC entries.
    pub csrc_count: u8,
    /// Header extension profile, if the X bit is set.
    pub extension_profile: Option<u16>,
    /// Byte offset of the payload (fixed header + CSRCs + extension).
    pub payload_offset: usize,
    /// Payload length in bytes (padding removed).
    pub payload_len: usize,
}

/// A parsed RTCP common header (the first packet of a compound packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpHeader {
    /// Packet type (200 SR, 201 RR, 202 SDES, 203 BYE, 204 APP, 205/206 feedback).
    pub packet_type: u8,
    /// SSRC of the sender.
    pub ssrc: u32,
}

/// What a datagram received on a relay port is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// An RTP packet.
    Rtp(RtpHeader),
    /// An RTCP packet.
    Rtcp(RtcpHeader),
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Whether the second byte is an RTCP packet type callrec recognises (200..=206).
fn is_rtcp_type(second: u8) -> bool {
    (200..=206).contains(&second)
}

impl RtpHeader {
    /// Parses an RTP packet: version 2, CSRC list, header extension and padding.
    pub fn parse(bytes: &[u8]) -> Result<RtpHeader, RtpError> {
        let first = *bytes.first().ok_or(RtpError::TooShort)?;
        if bytes.len() < 12 {
            return Err(RtpError::TooShort);
        }
        if first >> 6 != 2 {
            return Err(RtpError::BadVersion);
        }
        let padding = first & 0x20 != 0;
        let extension = first & 0x10 != 0;
        let csrc_count = first & 0x0f;
        let second = bytes.get(1).copied().ok_or(RtpError::TooShort)?;
        let sequence = u16_at(bytes, 2).ok_or(RtpError::TooShort)?;
        let timestamp = u32_at(bytes, 4).ok_or(RtpError::TooShort)?;
        let ssrc = u32_at(bytes, 8).ok_or(RtpError::TooShort)?;
        let mut offset = 12 + 4 * usize::from(csrc_count);
        if offset > bytes.len() {
            return Err(RtpError::Truncated);
        }
        let mut extension_profile = None;
        if extension {
            let profile = u16_at(bytes, offset).ok_or(RtpError::Truncated)?;
            let words = u16_at(bytes, offset + 2).ok_or(RtpError::Truncated)?;
            offset += 4 + 4 * usize::from(words);
            if offset > bytes.len() {
                return Err(RtpError::Truncated);
            }
            extension_profile = Some(profile);
        }
        let mut end = bytes.len();
        if padding {
            let count = usize::from(*bytes.last().ok_or(RtpError::TooShort)?);
            if count == 0 || count > end - offset {
                return Err(RtpError::BadPadding);
            }
            end -= count;
        }
        Ok(RtpHeader {
            marker: second & 0x80 != 0,
            payload_type: second & 0x7f,
            sequence,
            timestamp,
            ssrc,
            csrc_count,
            extension_profile,
            payload_offset: offset,
            payload_len: end - offset,
        })
    }

    /// The payload of `bytes` (the same bytes that were parsed); empty if they do not match.
    pub fn payload<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        self.payload_offset
            .checked_add(self.payload_len)
            .and_then(|end| bytes.get(self.payload_offset..end))
            .unwrap_or(&[])
    }
}

impl RtcpHeader {
    /// Parses the first RTCP header of a (compound) packet.
    pub fn parse(bytes: &[u8]) -> Result<RtcpHeader, RtpError> {
        if bytes.len() < 8 {
            return Err(RtpError::TooShort);
        }
        let first = bytes.first().copied().ok_or(RtpError::TooShort)?;
        if first >> 6 != 2 {
            return Err(RtpError::BadVersion);
        }
        let packet_type = bytes.get(1).copied().ok_or(RtpError::TooShort)?;
        if !is_rtcp_type(packet_type) {
            return Err(RtpError::NotRtcp);
        }
        let ssrc = u32_at(bytes, 4).ok_or(RtpError::TooShort)?;
        Ok(RtcpHeader { packet_type, ssrc })
    }
}

/// Classifies a datagram as RTP or RTCP (RFC 5761 demultiplexing by the second byte: RTCP packet
/// types 200..=206) and parses its header.
pub fn classify(bytes: &[u8]) -> Result<PacketKind, RtpError> {
    match bytes.get(1) {
        Some(&second) if is_rtcp_type(second) => RtcpHeader::parse(bytes).map(PacketKind::Rtcp),
        _ => RtpHeader::parse(bytes).map(PacketKind::Rtp),
    }
}
