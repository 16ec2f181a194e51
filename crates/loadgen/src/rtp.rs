//! One call leg's media: G.711 µ-law RTP at 50 packets/s to the relay, and counting what comes back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

/// Payload octets per packet: 20 ms of 8 kHz G.711.
pub const PAYLOAD_LEN: usize = 160;
/// Packet interval.
pub const PTIME: Duration = Duration::from_millis(20);

/// Packet counters of one direction, summed over all calls.
#[derive(Debug, Default)]
pub struct Direction {
    /// RTP packets sent towards the relay by the sending side.
    pub sent: AtomicU64,
    /// RTP packets received from the relay by the receiving side.
    pub received: AtomicU64,
    /// Send errors (socket buffer full and the like).
    pub send_errors: AtomicU64,
}

/// Phase switches shared by every media task.
#[derive(Debug, Clone)]
pub struct Phases {
    /// Becomes true when every leg must stop sending.
    pub stop_send: watch::Receiver<bool>,
    /// Becomes true when every leg must stop counting received packets.
    pub stop_recv: watch::Receiver<bool>,
}

/// µ-law encoding of one 16-bit linear sample (ITU-T G.711).
pub fn ulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    let s = s.min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && s & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// 20 ms of a 400 Hz tone at about -10 dBFS, µ-law (400 Hz divides 160 samples exactly).
pub fn tone_payload() -> [u8; PAYLOAD_LEN] {
    let mut out = [0u8; PAYLOAD_LEN];
    for (i, o) in out.iter_mut().enumerate() {
        let t = i as f64 / 8000.0;
        let v = (2.0 * std::f64::consts::PI * 400.0 * t).sin() * 10000.0;
        *o = ulaw_encode(v as i16);
    }
    out
}

/// Sends 50 packets/s from `sock` to `relay` until `stop_send`, counting into `out`; counts
/// packets received on `sock` into `inc` until `stop_recv`.
pub async fn run_leg(
    sock: Arc<UdpSocket>,
    relay: SocketAddr,
    ssrc: u32,
    out: Arc<Direction>,
    inc: Arc<Direction>,
    mut phases: Phases,
) {
    let payload = tone_payload();
    let mut pkt = [0u8; 12 + PAYLOAD_LEN];
    pkt[0] = 0x80;
    pkt[1] = 0; // PCMU
    pkt[8..12].copy_from_slice(&ssrc.to_be_bytes());
    pkt[12..].copy_from_slice(&payload);
    let mut seq: u16 = rand::random();
    let mut ts: u32 = rand::random();
    let mut tick = tokio::time::interval(PTIME);
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut buf = [0u8; 2048];
    let mut sending = !*phases.stop_send.borrow();
    loop {
        if *phases.stop_recv.borrow() {
            return;
        }
        tokio::select! {
            _ = tick.tick(), if sending => {
                pkt[2..4].copy_from_slice(&seq.to_be_bytes());
                pkt[4..8].copy_from_slice(&ts.to_be_bytes());
                match sock.send_to(&pkt, relay).await {
                    Ok(_) => { out.sent.fetch_add(1, Ordering::Relaxed); }
                    Err(_) => { out.send_errors.fetch_add(1, Ordering::Relaxed); }
                }
                seq = seq.wrapping_add(1);
                ts = ts.wrapping_add(PAYLOAD_LEN as u32);
            }
            r = sock.recv_from(&mut buf) => {
                if let Ok((n, _)) = r {
                    if n >= 12 && buf[0] >> 6 == 2 {
                        inc.received.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            _ = phases.stop_send.changed(), if sending => {
                sending = !*phases.stop_send.borrow();
            }
            r = phases.stop_recv.changed() => {
                if r.is_err() { return; }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_encode_matches_g711_reference_values() {
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(ulaw_encode(-1), 0x7f);
        assert_eq!(ulaw_encode(32767), 0x80);
        assert_eq!(ulaw_encode(-32768), 0x00);
    }

    #[test]
    fn tone_payload_is_not_silence() {
        let p = tone_payload();
        assert!(p.iter().filter(|&&b| b != 0xff && b != 0x7f).count() > 100);
    }
}
