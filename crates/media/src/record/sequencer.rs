//! Packet sequencing for one direction (one leg's stream), rtpengine's first recording stage:
//! reorder within a small window, drop duplicates and late packets, survive the 16-bit sequence
//! wrap and SSRC changes, and extend RTP timestamps to 64 bits.
//!
//! A packet waits in the window until its predecessor arrives, until the window holds more than
//! [`SequencerConfig::window`] packets, or until it has waited [`SequencerConfig::max_wait`]
//! (judged on the arrival times passed in); then the missing packets count as lost.

use std::time::{Duration, Instant};

use crate::relay::RtpHeader;

/// Sequencer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequencerConfig {
    /// Packets held while waiting for a missing one. Default 10 (200 ms of 20 ms frames).
    pub window: usize,
    /// Longest a packet waits for a missing predecessor. Default 200 ms.
    pub max_wait: Duration,
    /// A sequence jump larger than this (either way) is taken as a restart of the stream.
    /// Default 3000.
    pub max_jump: u16,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        SequencerConfig {
            window: 10,
            max_wait: Duration::from_millis(200),
            max_jump: 3000,
        }
    }
}

/// A packet released in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequencedPacket {
    /// Synchronisation source.
    pub ssrc: u32,
    /// Extended (wrap-free) sequence number.
    pub sequence: u64,
    /// Extended (64-bit) RTP timestamp.
    pub timestamp: u64,
    /// Payload type.
    pub payload_type: u8,
    /// Marker bit.
    pub marker: bool,
    /// Arrival time at the relay.
    pub at: Instant,
    /// True on the first packet of a new stream (first packet, SSRC change, restart): its
    /// timestamp does not continue the previous packet's.
    pub discontinuity: bool,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

/// What the sequencer counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SequencerStats {
    /// Packets released in order.
    pub released: u64,
    /// Packets dropped as duplicates (already released or already waiting).
    pub duplicates: u64,
    /// Packets that arrived after their place was given up, or from a replaced SSRC.
    pub late: u64,
    /// Sequence numbers skipped as lost.
    pub lost: u64,
    /// SSRC changes and restarts.
    pub restarts: u64,
}

#[derive(Debug)]
struct Pending {
    header: RtpHeader,
    at: Instant,
    payload: Vec<u8>,
}

#[derive(Debug)]
struct Stream {
    ssrc: u32,
    highest: u64,
    next_out: u64,
    last_timestamp: Option<u64>,
    discontinuity: bool,
    /// Waiting packets by extended sequence number, ascending (at most `window + 1`: a small
    /// sorted vector, kept from stream to stream, no allocation per packet).
    pending: Vec<(u64, Pending)>,
}

/// Sequencer for one direction.
#[derive(Debug, Default)]
pub struct Sequencer {
    config: SequencerConfig,
    stream: Option<Stream>,
    retired_ssrc: Option<u32>,
    stats: SequencerStats,
    /// Payload buffers given back by the consumer, for the next packets.
    spare: Vec<Vec<u8>>,
}

/// Payload buffers [`Sequencer::recycle`] keeps (the in-order case needs one).
const SPARE_PAYLOADS: usize = 2;

/// Sequence numbers start at this offset so a packet slightly older than the first still has a
/// non-negative extended number.
const SEQ_BASE: u64 = 1 << 16;
/// Timestamps start at this offset for the same reason.
const TS_BASE: u64 = 1 << 32;

impl Sequencer {
    /// A sequencer with `config`.
    pub fn new(config: SequencerConfig) -> Self {
        Sequencer {
            config,
            ..Sequencer::default()
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> SequencerStats {
        self.stats
    }

    /// An empty buffer for the next packet's payload: one given back by
    /// [`recycle`](Self::recycle) when there is one, so a recording does not allocate per
    /// packet.
    pub fn payload_buffer(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }

    /// Gives back a released packet's payload buffer for [`payload_buffer`](Self::payload_buffer).
    pub fn recycle(&mut self, mut payload: Vec<u8>) {
        if self.spare.len() < SPARE_PAYLOADS && payload.capacity() <= 2048 {
            payload.clear();
            self.spare.push(payload);
        }
    }

    /// Takes one RTP packet (parsed `header`, its `payload`) that arrived at `at`; appends the
    /// packets that are now in order to `out`.
    pub fn push(
        &mut self,
        at: Instant,
        header: RtpHeader,
        payload: Vec<u8>,
        out: &mut Vec<SequencedPacket>,
    ) {
        let same_ssrc = self.stream.as_ref().is_some_and(|s| s.ssrc == header.ssrc);
        if !same_ssrc {
            if self.stream.is_some() && self.retired_ssrc == Some(header.ssrc) {
                // A straggler of the stream that was replaced.
                self.stats.late += 1;
                return;
            }
            self.restart(header, out);
        }
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let delta = i64::from(header.sequence.wrapping_sub(stream.highest as u16) as i16);
        if delta.unsigned_abs() > u64::from(self.config.max_jump) {
            self.restart(header, out);
        }
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let delta = i64::from(header.sequence.wrapping_sub(stream.highest as u16) as i16);
        let Some(extended) = stream.highest.checked_add_signed(delta) else {
            self.stats.late += 1;
            return;
        };
        if extended < stream.next_out {
            // Already released or given up: a duplicate or a late packet.
            if stream.next_out - extended <= 1 + self.config.window as u64 {
                self.stats.duplicates += 1;
            } else {
                self.stats.late += 1;
            }
            return;
        }
        let slot = match stream.pending.binary_search_by_key(&extended, |(k, _)| *k) {
            Ok(_) => {
                self.stats.duplicates += 1;
                self.recycle(payload);
                return;
            }
            Err(slot) => slot,
        };
        stream.highest = stream.highest.max(extended);
        stream.pending.insert(
            slot,
            (
                extended,
                Pending {
                    header,
                    at,
                    payload,
                },
            ),
        );
        self.release(Some(at), out);
    }

    /// Releases packets that have waited longer than `max_wait` at `now` (call it when time
    /// passes without packets).
    pub fn poll(&mut self, now: Instant, out: &mut Vec<SequencedPacket>) {
        self.release(Some(now), out);
    }

    /// Releases everything still waiting, skipping gaps (at the end of a recording).
    pub fn flush(&mut self, out: &mut Vec<SequencedPacket>) {
        self.release(None, out);
    }

    /// Starts a new stream at `header` after releasing what the old one holds.
    fn restart(&mut self, header: RtpHeader, out: &mut Vec<SequencedPacket>) {
        if let Some(old) = self.stream.as_ref() {
            self.retired_ssrc = (old.ssrc != header.ssrc).then_some(old.ssrc);
            self.stats.restarts += 1;
        }
        self.release(None, out);
        let first = SEQ_BASE + u64::from(header.sequence);
        let pending = self.stream.take().map(|s| s.pending).unwrap_or_default();
        self.stream = Some(Stream {
            ssrc: header.ssrc,
            highest: first,
            next_out: first,
            last_timestamp: None,
            discontinuity: true,
            pending,
        });
    }

    /// Releases in-order packets; with `now`, also gives up on gaps whose successor waited too
    /// long or that overflow the window; with `None`, gives up on every gap.
    fn release(&mut self, now: Option<Instant>, out: &mut Vec<SequencedPacket>) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        while let Some(&(first, ref pending)) = stream.pending.first() {
            let give_up = match now {
                None => true,
                Some(now) => {
                    stream.pending.len() > self.config.window
                        || now.saturating_duration_since(pending.at) >= self.config.max_wait
                }
            };
            if first != stream.next_out && !give_up {
                break;
            }
            let (_, pending) = stream.pending.remove(0);
            self.stats.lost += first.saturating_sub(stream.next_out);
            stream.next_out = first + 1;
            let timestamp = match stream.last_timestamp {
                None => TS_BASE + u64::from(pending.header.timestamp),
                Some(last) => {
                    let delta =
                        i64::from(pending.header.timestamp.wrapping_sub(last as u32) as i32);
                    last.checked_add_signed(delta).unwrap_or(last)
                }
            };
            stream.last_timestamp = Some(timestamp);
            self.stats.released += 1;
            out.push(SequencedPacket {
                ssrc: pending.header.ssrc,
                sequence: first,
                timestamp,
                payload_type: pending.header.payload_type,
                marker: pending.header.marker,
                at: pending.at,
                discontinuity: std::mem::take(&mut stream.discontinuity),
                payload: pending.payload,
            });
        }
    }
}
