//! RFC 4733 telephone-event payloads and a per-stream detector that reports each digit once.

/// One telephone-event payload (RFC 4733 section 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0-9 digits, 10 `*`, 11 `#`, 12-15 A-D, others are tones).
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Volume in -dBm0 (0..=63).
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first 4 bytes of a payload; `None` if shorter.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let bytes = payload.get(..4)?;
        Some(TelephoneEvent {
            event: bytes[0],
            end: bytes[1] & 0x80 != 0,
            volume: bytes[1] & 0x3f,
            duration: u16::from_be_bytes([bytes[2], bytes[3]]),
        })
    }

    /// The DTMF digit of this event, if it is one (`0`-`9`, `*`, `#`, `A`-`D`).
    pub fn digit(&self) -> Option<char> {
        match self.event {
            0..=9 => char::from_digit(u32::from(self.event), 10),
            10 => Some('*'),
            11 => Some('#'),
            12 => Some('A'),
            13 => Some('B'),
            14 => Some('C'),
            15 => Some('D'),
            _ => None,
        }
    }
}

/// Reports each DTMF digit once: an event is identified by its RTP timestamp (RFC 4733 keeps it
/// for every packet of one event, including the retransmitted end packets).
#[derive(Debug, Default, Clone)]
pub struct DtmfDetector {
    last_event_timestamp: Option<(u32, u32)>,
}

impl DtmfDetector {
    /// Feeds one telephone-event packet (its SSRC, RTP timestamp and payload); returns the digit
    /// when this packet starts a new event.
    pub fn on_packet(&mut self, ssrc: u32, timestamp: u32, payload: &[u8]) -> Option<char> {
        let event = TelephoneEvent::parse(payload)?;
        let digit = event.digit()?;
        if self.last_event_timestamp == Some((ssrc, timestamp)) {
            return None;
        }
        self.last_event_timestamp = Some((ssrc, timestamp));
        Some(digit)
    }
}
