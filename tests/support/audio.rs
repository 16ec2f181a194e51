//! Audio file checks through `soxi` (from sox).

use std::path::Path;
use std::process::Command;

fn soxi(flag: &str, file: &Path) -> String {
    super::require_tool("soxi", "sox libsox-fmt-mp3");
    let out = Command::new("soxi")
        .arg(flag)
        .arg(file)
        .output()
        .expect("run soxi");
    assert!(
        out.status.success(),
        "soxi {flag} {} failed (not a playable audio file?): {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Duration in seconds (`soxi -D`).
pub fn duration_s(file: &Path) -> f64 {
    let text = soxi("-D", file);
    text.parse()
        .unwrap_or_else(|_| panic!("soxi -D printed {text:?} for {}", file.display()))
}

/// Number of channels (`soxi -c`).
pub fn channels(file: &Path) -> u32 {
    let text = soxi("-c", file);
    text.parse()
        .unwrap_or_else(|_| panic!("soxi -c printed {text:?} for {}", file.display()))
}

/// Sample rate in Hz (`soxi -r`).
pub fn sample_rate(file: &Path) -> u32 {
    let text = soxi("-r", file);
    text.parse()
        .unwrap_or_else(|_| panic!("soxi -r printed {text:?} for {}", file.display()))
}

/// Duration of the RTP audio in a pcap written by `tests/fixtures/make_g711a_pcap.py`:
/// (packets x 20 ms), read from the pcap itself (classic pcap, Ethernet, IPv4, UDP, RTP with
/// 160-byte G.711 payloads at 8 kHz).
pub fn pcap_audio_s(file: &Path) -> f64 {
    let data = std::fs::read(file).expect("read pcap");
    let mut offset = 24usize;
    let mut samples = 0u64;
    while let Some(header) = data.get(offset..offset + 16) {
        let caplen = u32::from_le_bytes([header[8], header[9], header[10], header[11]]) as usize;
        let rtp_payload = caplen.saturating_sub(14 + 20 + 8 + 12);
        samples += rtp_payload as u64;
        offset += 16 + caplen;
    }
    samples as f64 / 8000.0
}
