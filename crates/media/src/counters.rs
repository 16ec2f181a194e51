//! Cheap media counters (relaxed atomics), shareable between a call's relay, its recorder queue
//! and an engine-wide total.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::relay::DropReason;

/// Packets relayed, dropped by reason, and recorder frames dropped because the queue was full.
///
/// Every relayed packet counts here, from every relay thread at once: one shared cache line
/// would move between the cores on each count. The counts are spread over [`STRIPES`]
/// cache-line-sized stripes, each thread counting in its own, and summed when read.
#[derive(Debug, Default)]
pub struct Counters {
    stripes: [Stripe; STRIPES],
}

/// Stripes of [`Counters`] (threads beyond this many share them).
const STRIPES: usize = 8;

/// One thread's counts, alone on its cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe {
    relayed: AtomicU64,
    dropped: [AtomicU64; 4],
    recorder_frames_dropped: AtomicU64,
    recorder_frames_queued: AtomicU64,
}

/// The stripe this thread counts in: threads take stripes in turn as they first count.
fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    INDEX.with(|i| *i)
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
    /// This thread's stripe.
    fn mine(&self) -> &Stripe {
        &self.stripes[stripe_index()]
    }

    /// One count summed over the stripes.
    fn sum(&self, count: impl Fn(&Stripe) -> Option<&AtomicU64>) -> u64 {
        self.stripes
            .iter()
            .filter_map(count)
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Counts one forwarded datagram.
    pub fn add_relayed(&self) {
        self.mine().relayed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one dropped datagram.
    pub fn add_dropped(&self, reason: DropReason) {
        if let Some(c) = self.mine().dropped.get(reason.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one frame handed to a recorder queue.
    pub fn add_recorder_queued(&self) {
        self.mine()
            .recorder_frames_queued
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` frames handed to recorder queues at once.
    pub fn add_recorder_queued_many(&self, n: u64) {
        self.mine()
            .recorder_frames_queued
            .fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one frame the recorder queue had no room for.
    pub fn add_recorder_dropped(&self) {
        self.mine()
            .recorder_frames_dropped
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Dropped datagrams for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.sum(|s| s.dropped.get(reason.index()))
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            relayed: self.sum(|s| Some(&s.relayed)),
            dropped_not_rtp: self.dropped(DropReason::NotRtp),
            dropped_wrong_source: self.dropped(DropReason::WrongSource),
            dropped_destination_unknown: self.dropped(DropReason::DestinationUnknown),
            dropped_closed: self.dropped(DropReason::Closed),
            recorder_frames_queued: self.sum(|s| Some(&s.recorder_frames_queued)),
            recorder_frames_dropped: self.sum(|s| Some(&s.recorder_frames_dropped)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_add_up() {
        let counters = std::sync::Arc::new(Counters::default());
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let c = std::sync::Arc::clone(&counters);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.add_relayed();
                        c.add_recorder_queued();
                    }
                    c.add_dropped(DropReason::WrongSource);
                    c.add_recorder_dropped();
                })
            })
            .collect();
        for t in threads {
            t.join().expect("counting thread");
        }
        let s = counters.snapshot();
        assert_eq!(s.relayed, 12_000);
        assert_eq!(s.recorder_frames_queued, 12_000);
        assert_eq!(s.dropped_wrong_source, 12);
        assert_eq!(s.dropped_not_rtp, 0);
        assert_eq!(s.recorder_frames_dropped, 12);
        assert_eq!(counters.dropped(DropReason::WrongSource), 12);
    }
}
