//! Payload type to codec mapping for one leg, and decoding a payload to 8 kHz linear samples.

use super::g711;
use crate::sdp::AudioStream;

/// What callrec does with a payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// G.711 µ-law, 8 kHz.
    Pcmu,
    /// G.711 A-law, 8 kHz.
    Pcma,
    /// RFC 4733 telephone-event (DTMF), not audio.
    TelephoneEvent,
    /// Comfort noise (RFC 3389): recorded as silence.
    ComfortNoise,
    /// A codec callrec cannot decode (G.729, Opus, G.722 ...): recorded as silence and counted.
    Unsupported,
}

impl Codec {
    /// Whether payloads of this codec decode to audio samples.
    pub fn is_audio(self) -> bool {
        matches!(self, Codec::Pcmu | Codec::Pcma)
    }

    /// Appends decoded 8 kHz samples of `payload`; returns false for non-audio codecs.
    pub fn decode(self, payload: &[u8], out: &mut Vec<i16>) -> bool {
        match self {
            Codec::Pcmu => g711::decode_ulaw(payload, out),
            Codec::Pcma => g711::decode_alaw(payload, out),
            _ => return false,
        }
        true
    }
}

/// The payload types of one leg's stream: static 0 (PCMU), 8 (PCMA), 13 (CN) by default, plus
/// what the SDP maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecMap {
    table: [Codec; 128],
}

impl Default for CodecMap {
    fn default() -> Self {
        let mut table = [Codec::Unsupported; 128];
        table[0] = Codec::Pcmu;
        table[8] = Codec::Pcma;
        table[13] = Codec::ComfortNoise;
        CodecMap { table }
    }
}

impl CodecMap {
    /// The static map plus the `rtpmap`s of `stream`. An encrypted (SRTP) stream maps every
    /// payload type to [`Codec::Unsupported`]: its payloads are ciphertext, recorded as silence
    /// and counted, never decoded into noise.
    pub fn from_stream(stream: &AudioStream) -> Self {
        if stream.encrypted {
            return CodecMap {
                table: [Codec::Unsupported; 128],
            };
        }
        let mut map = CodecMap::default();
        for p in &stream.payload_types {
            let codec = match p.encoding.to_ascii_uppercase().as_str() {
                "PCMU" if p.clock_rate == 8000 => Codec::Pcmu,
                "PCMA" if p.clock_rate == 8000 => Codec::Pcma,
                "TELEPHONE-EVENT" => Codec::TelephoneEvent,
                "CN" => Codec::ComfortNoise,
                _ => Codec::Unsupported,
            };
            map.set(p.pt, codec);
        }
        map
    }

    /// Maps `pt` (ignored above 127).
    pub fn set(&mut self, pt: u8, codec: Codec) {
        if let Some(slot) = self.table.get_mut(usize::from(pt)) {
            *slot = codec;
        }
    }

    /// The codec of `pt`.
    pub fn get(&self, pt: u8) -> Codec {
        self.table
            .get(usize::from(pt))
            .copied()
            .unwrap_or(Codec::Unsupported)
    }
}
