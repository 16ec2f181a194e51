//! Narrowing an offer's audio codecs to the ones the recorder can decode, so two endpoints that
//! would otherwise pick, say, G.722 or Opus negotiate G.711 and the call can be recorded.

use super::parse::SessionDescription;

/// Payload-type-specific attributes that go with a removed payload type.
const PT_ATTRIBUTES: [&str; 3] = ["rtpmap:", "fmtp:", "rtcp-fb:"];

impl SessionDescription {
    /// Returns a copy whose first audio stream offers only the payload types whose encoding name
    /// is in `keep` (case-insensitive), dropping their `rtpmap`/`fmtp`/`rtcp-fb` lines too.
    /// `essential` names the encodings of which at least one must remain: if none of them is
    /// offered, the description is returned unchanged (the call matters more than the
    /// recording). A rejected stream is left alone.
    pub fn retain_audio_codecs(&self, keep: &[&str], essential: &[&str]) -> SessionDescription {
        let mut out = self.clone();
        let Some(stream) = self.audio() else {
            return out;
        };
        if stream.is_rejected() {
            return out;
        }
        let named = |name: &str, list: &[&str]| list.iter().any(|k| k.eq_ignore_ascii_case(name));
        if !stream
            .payload_types
            .iter()
            .any(|p| named(&p.encoding, essential))
        {
            return out;
        }
        let removed: Vec<u8> = stream
            .payload_types
            .iter()
            .filter(|p| !named(&p.encoding, keep))
            .map(|p| p.pt)
            .collect();
        let Some(section) = out.media.iter_mut().find(|m| m.media == "audio") else {
            return out;
        };
        section
            .formats
            .retain(|f| f.parse::<u8>().map_or(true, |pt| !removed.contains(&pt)));
        section.lines.retain(|line| {
            if line.kind != 'a' {
                return true;
            }
            let Some(rest) = PT_ATTRIBUTES
                .iter()
                .find_map(|prefix| line.value.strip_prefix(prefix))
            else {
                return true;
            };
            let pt = rest.split(|c: char| c.is_whitespace()).next().unwrap_or("");
            pt.parse::<u8>().map_or(true, |pt| !removed.contains(&pt))
        });
        out
    }
}
