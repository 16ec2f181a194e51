//! Cheap media counters (relaxed atomics), shareable between a call's relay, its recorder queue
//! and an engine-wide total.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::relay::DropReason;

/// Packets relayed, dropped by reason, and recorder frames dropped because the queue was full.
#[derive(Debug, Default)]
pub struct Counters {
    relayed: AtomicU64,
    dropped: [AtomicU64; 4],
    recorder_frames_dropped: AtomicU64,
    recorder_frames_queued: AtomicU64,
}

/// A plain copy of [`Counters`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CountersSnapshot {
    /// Datagrams forwarded.
    pub relayed: u64,
    /// Datagrams dropped because they were not RTP/RTCP.
    pub dropped_not_rtp: u64,
    /// Datagrams dropped because they came from a source other than the latched one.
    pub dropped_wrong_source: u64,
    /// Datagrams dropped because the destination was unknown.
    pub dropped_destination_unknown: u64,
    /// Datagrams dropped after the call was closed.
    pub dropped_closed: u64,
    /// RTP packets handed to a recorder queue.
    pub recorder_frames_queued: u64,
    /// RTP packets not handed to a recorder because its queue was full.
    pub recorder_frames_dropped: u64,
}

impl Counters {
    /// Counts one forwarded datagram.
    pub fn add_relayed(&self) {
        self.relayed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one dropped datagram.
    pub fn add_dropped(&self, reason: DropReason) {
        if let Some(c) = self.dropped.get(reason.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one frame handed to a recorder queue.
    pub fn add_recorder_queued(&self) {
        self.recorder_frames_queued.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one frame the recorder queue had no room for.
    pub fn add_recorder_dropped(&self) {
        self.recorder_frames_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Dropped datagrams for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped
            .get(reason.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            relayed: self.relayed.load(Ordering::Relaxed),
            dropped_not_rtp: self.dropped(DropReason::NotRtp),
            dropped_wrong_source: self.dropped(DropReason::WrongSource),
            dropped_destination_unknown: self.dropped(DropReason::DestinationUnknown),
            dropped_closed: self.dropped(DropReason::Closed),
            recorder_frames_queued: self.recorder_frames_queued.load(Ordering::Relaxed),
            recorder_frames_dropped: self.recorder_frames_dropped.load(Ordering::Relaxed),
        }
    }
}
