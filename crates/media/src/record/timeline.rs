//! The timeline: places each leg's decoded audio by RTP timestamp, anchored to arrival time, and
//! hands out both legs sample-aligned with every gap (loss, hold, silence suppression, SSRC
//! change) filled with silence, so the output length equals the wall-clock time recorded.
//!
//! Placement rules, per leg, in samples since the recording started (8 kHz):
//! - the first packet of a stream (first packet, SSRC change, restart) is placed at its arrival
//!   time, but never over audio already placed for that leg;
//! - later packets are placed at `anchor + (timestamp - anchor timestamp)`;
//! - if that position falls more than [`TimelineConfig::behind`] behind the arrival time (a hold
//!   or a pause during which the sender's timestamps did not advance) or more than
//!   [`TimelineConfig::ahead`] ahead of it (a timestamp jump), the stream is re-anchored at the
//!   arrival time as for a first packet.
//!
//! A stream is anchored on the arrival of its first packet. If a later packet arrives earlier
//! than its RTP position says (the anchor packet was delayed), the stream is moved earlier by the
//! difference, over the silence before it, as long as none of it has been released (the first
//! [`TimelineConfig::latency`]); so each stream settles on its least-delayed packet. Known limit:
//! a delay of the anchor packet discovered only after that stays in the placement (bounded by
//! [`TimelineConfig::behind`]).
//!
//! Audio is released up to a watermark that trails the newest arrival time by
//! [`TimelineConfig::latency`], and at the end up to the stop time. Audio that arrives for a place
//! already released is dropped and counted.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::relay::Leg;

/// Timeline settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineConfig {
    /// Sample rate of the timeline (the codecs' clock rate). Default 8000.
    pub rate: u32,
    /// How far behind arrival time RTP placement may fall before re-anchoring. Default 500 ms:
    /// a pause of the sender's clock shorter than this is closed up (the leg's audio lands up
    /// to this much early), a network delay spike shorter than this does not move the leg.
    pub behind: Duration,
    /// How far ahead of arrival time RTP placement may run before re-anchoring. Default 1 s.
    pub ahead: Duration,
    /// How long audio is held before it is released. Default 1 s.
    pub latency: Duration,
}

impl Default for TimelineConfig {
    fn default() -> Self {
        TimelineConfig {
            rate: 8000,
            behind: Duration::from_millis(500),
            ahead: Duration::from_secs(1),
            latency: Duration::from_secs(1),
        }
    }
}

/// What the timeline counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimelineStats {
    /// Samples dropped because their place had been released already or was past the end.
    pub late_samples: u64,
    /// Times a stream was re-anchored on arrival time (besides its first packet).
    pub reanchors: u64,
    /// Samples by which streams were moved earlier because a later packet showed their anchor
    /// packet had been delayed.
    pub anchor_advance_samples: u64,
}

#[derive(Debug, Default)]
struct Track {
    /// (RTP timestamp, sample position) of the anchor.
    anchor: Option<(u64, u64)>,
    /// End position of the last placed audio.
    end: u64,
    /// End of the audio placed before the current anchor (by an earlier stream): the anchor is
    /// never moved earlier than this.
    floor: u64,
    /// Samples from the timeline's `released` position on.
    buffer: VecDeque<i16>,
}

/// Two legs' audio on one time axis.
#[derive(Debug)]
pub struct Timeline {
    config: TimelineConfig,
    start: Instant,
    /// Samples before this position have been handed out.
    released: u64,
    /// No audio at or after this position is kept (the time limit).
    limit: u64,
    newest_arrival: u64,
    tracks: [Track; 2],
    stats: TimelineStats,
    /// End of what the last [`pending`](Timeline::pending) showed.
    shown_until: u64,
    /// Lowest position changed since then (`u64::MAX`: none): what was shown before it is
    /// what will be released there.
    changed_from: u64,
}

thread_local! {
    /// The output buffers of `release_until` / `pending`, shared by every timeline of a thread
    /// (a recorder worker runs many recordings: their audio only passes through these).
    static OUT: RefCell<[Vec<i16>; 2]> = const { RefCell::new([Vec::new(), Vec::new()]) };
}

/// A track's buffer grows in steps of this many samples (64 ms at 8 kHz) to what it needs,
/// not by doubling: it holds about the latency (a second) plus a packet, and doubling would
/// make that two seconds of memory per leg.
const GROW: usize = 512;

/// Writes `src` into `deque` from `offset` on, appending what goes past its end (`offset` is
/// at most its length).
fn write_into_deque(deque: &mut VecDeque<i16>, offset: usize, src: &[i16]) {
    let overlap = deque.len().saturating_sub(offset).min(src.len());
    let (front, back) = deque.as_mut_slices();
    let (inside, beyond) = src.split_at(overlap);
    let in_front = front.len().saturating_sub(offset).min(inside.len());
    let (to_front, to_back) = inside.split_at(in_front);
    if let Some(dst) = front.get_mut(offset..offset + in_front) {
        dst.copy_from_slice(to_front);
    }
    let back_offset = (offset + in_front).saturating_sub(front.len());
    if let Some(dst) = back.get_mut(back_offset..back_offset + to_back.len()) {
        dst.copy_from_slice(to_back);
    }
    deque.extend(beyond);
}

impl Timeline {
    /// A timeline starting at `start` and ending at most `limit` after it.
    pub fn new(config: TimelineConfig, start: Instant, limit: Duration) -> Self {
        let mut timeline = Timeline {
            config,
            start,
            released: 0,
            limit: 0,
            newest_arrival: 0,
            tracks: [Track::default(), Track::default()],
            stats: TimelineStats::default(),
            shown_until: 0,
            changed_from: u64::MAX,
        };
        timeline.limit = timeline.samples(limit);
        timeline
    }

    /// Counters so far.
    pub fn stats(&self) -> TimelineStats {
        self.stats
    }

    /// The sample rate.
    pub fn rate(&self) -> u32 {
        self.config.rate
    }

    /// Samples handed out so far.
    pub fn released(&self) -> u64 {
        self.released
    }

    fn samples(&self, d: Duration) -> u64 {
        let n = d.as_nanos() * u128::from(self.config.rate) / 1_000_000_000;
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// The sample position of `at`.
    pub fn position(&self, at: Instant) -> u64 {
        self.samples(at.saturating_duration_since(self.start))
    }

    /// Places decoded `samples` of `leg` that carry RTP `timestamp` and arrived at `at`;
    /// `discontinuity` marks the first packet of a stream.
    pub fn place(
        &mut self,
        leg: Leg,
        at: Instant,
        timestamp: u64,
        discontinuity: bool,
        samples: &[i16],
    ) {
        let arrival = self.position(at);
        self.newest_arrival = self.newest_arrival.max(arrival);
        let behind = self.samples(self.config.behind);
        let ahead = self.samples(self.config.ahead);
        let Some(track) = self.tracks.get_mut(leg.index()) else {
            return;
        };
        let by_rtp = match track.anchor {
            Some((anchor_ts, anchor_pos)) if !discontinuity => timestamp
                .checked_sub(anchor_ts)
                .and_then(|d| anchor_pos.checked_add(d))
                .filter(|&p| {
                    p.saturating_add(behind) >= arrival && p <= arrival.saturating_add(ahead)
                }),
            _ => None,
        };
        let pos = match by_rtp {
            Some(p) => {
                // Arrived earlier than its place: the anchor packet was delayed. While nothing of
                // this stream has been released, move the stream earlier by that much (only
                // over the silence before it).
                let early = p.saturating_sub(arrival);
                match track.anchor {
                    Some((anchor_ts, anchor_pos)) if early > 0 => {
                        let lowest = self.released.max(track.floor);
                        let shift = early.min(anchor_pos.saturating_sub(lowest));
                        let from = (anchor_pos - shift).saturating_sub(self.released) as usize;
                        let to = anchor_pos.saturating_sub(self.released) as usize;
                        if shift > 0 && to <= track.buffer.len() {
                            track.buffer.drain(from..to);
                            track.anchor = Some((anchor_ts, anchor_pos - shift));
                            track.end = track.end.saturating_sub(shift).max(track.floor);
                            self.stats.anchor_advance_samples += shift;
                            self.changed_from = self.changed_from.min(self.released + from as u64);
                            p - shift
                        } else {
                            p
                        }
                    }
                    _ => p,
                }
            }
            None => {
                if track.anchor.is_some() {
                    self.stats.reanchors += u64::from(!discontinuity);
                }
                let p = arrival.max(track.end);
                track.floor = track.end;
                track.anchor = Some((timestamp, p));
                p
            }
        };
        let end = pos.saturating_add(samples.len() as u64);
        track.end = track.end.max(end);

        // Clip to what is still open: not yet released, before the limit.
        let first = pos.max(self.released);
        let last = end.min(self.limit);
        let kept = last.saturating_sub(first);
        self.stats.late_samples += samples.len() as u64 - kept;
        if kept == 0 {
            return;
        }
        self.changed_from = self.changed_from.min(first);
        let skip = (first - pos) as usize;
        let offset = (first - self.released) as usize;
        let needed = offset + kept as usize;
        if track.buffer.capacity() < needed {
            let target = needed.next_multiple_of(GROW);
            track.buffer.reserve_exact(target - track.buffer.len());
        }
        if track.buffer.len() < offset {
            // Silence up to this audio (nothing was placed there).
            track.buffer.resize(offset, 0);
        }
        let kept_samples = samples.get(skip..skip + kept as usize).unwrap_or_default();
        write_into_deque(&mut track.buffer, offset, kept_samples);
    }

    /// The position up to which audio can be released now (newest arrival minus latency).
    pub fn watermark(&self) -> u64 {
        self.newest_arrival
            .saturating_sub(self.samples(self.config.latency))
            .min(self.limit)
    }

    /// Time has reached `at` even if no packet says so (a silent call): the watermark follows
    /// the clock, so silence is released as time passes.
    pub fn advance(&mut self, at: Instant) {
        self.newest_arrival = self.newest_arrival.max(self.position(at));
    }

    /// Hands out both legs from the released position up to `until` (clamped to the limit),
    /// silence where nothing was placed: `emit(a_samples, b_samples)` with equal lengths.
    pub fn release_until(&mut self, until: u64, mut emit: impl FnMut(&[i16], &[i16])) {
        self.release_until_shown(until, |a, b, _| emit(a, b));
    }

    /// Like [`release_until`](Self::release_until), also telling `emit(a, b, unchanged)` how
    /// many samples at the start of `a`/`b` are what the last [`pending`](Self::pending)
    /// showed for that place (nothing was placed there since), so a sink that wrote them
    /// provisionally need not write them again.
    pub fn release_until_shown(&mut self, until: u64, mut emit: impl FnMut(&[i16], &[i16], usize)) {
        const CHUNK: usize = 4096;
        let until = until.min(self.limit);
        if self.released >= until {
            return;
        }
        OUT.with_borrow_mut(|[a, b]| {
            while self.released < until {
                let n = (until - self.released).min(CHUNK as u64) as usize;
                for (track, out) in self.tracks.iter_mut().zip([&mut *a, &mut *b]) {
                    out.clear();
                    let available = track.buffer.len().min(n);
                    extend_from_deque(out, &track.buffer, available);
                    track.buffer.drain(..available);
                    out.resize(n, 0);
                }
                let unchanged = self.shown_until.min(self.changed_from);
                let unchanged = unchanged.saturating_sub(self.released).min(n as u64) as usize;
                emit(a, b, unchanged);
                self.released += n as u64;
            }
        });
    }

    /// Shows both legs from the released position up to `until` (clamped to the limit) without
    /// releasing them: what is known so far of the audio still held back, silence where
    /// nothing was placed yet. Equal lengths.
    pub fn pending(&mut self, until: u64, emit: impl FnOnce(&[i16], &[i16])) {
        let until = until.min(self.limit);
        let n = until.saturating_sub(self.released) as usize;
        OUT.with_borrow_mut(|[a, b]| {
            for (track, out) in self.tracks.iter().zip([&mut *a, &mut *b]) {
                out.clear();
                extend_from_deque(out, &track.buffer, n);
                out.resize(n, 0);
            }
            emit(a, b);
        });
        self.shown_until = until.max(self.released);
        self.changed_from = u64::MAX;
    }

    /// Gives back what the tracks' buffers grew to beyond what they hold now (after a
    /// timestamp jump placed audio far ahead, or a stream went quiet), so an idle recording
    /// holds little. The output buffers are the thread's, not the timeline's.
    pub fn shrink_buffers(&mut self) {
        for track in &mut self.tracks {
            let keep = (track.buffer.len() + GROW).next_multiple_of(GROW);
            if track.buffer.capacity() > keep + 4 * GROW {
                track.buffer.shrink_to(keep);
            }
        }
    }
}

/// Appends the first `n` samples of `deque` (fewer if it is shorter) to `out`, by slices.
fn extend_from_deque(out: &mut Vec<i16>, deque: &VecDeque<i16>, n: usize) {
    let (front, back) = deque.as_slices();
    let from_front = front.len().min(n);
    out.extend_from_slice(front.get(..from_front).unwrap_or_default());
    let from_back = back.len().min(n - from_front);
    out.extend_from_slice(back.get(..from_back).unwrap_or_default());
}
