//! The bounded hand-over from the relay (which must never wait) to the recorder.
//!
//! The relay side calls [`FrameSender::push`], which appends the packet to a batch shared with
//! the recorder (a short uncontended lock and a copy into reused buffers: no allocation per
//! packet once the buffers have grown); if the batch already holds `capacity` frames the frame
//! is dropped and counted in [`Counters`]. The recorder takes the whole batch at once
//! ([`FrameReceiver::drain`]), swapping in its own emptied buffers. [`FrameSender::stop`]
//! records the stop time; the receiver sees every frame sent before it, then the stop.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::counters::Counters;
use crate::relay::Leg;

/// One RTP packet for the recorder, with the leg it came from and when it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The leg that sent the packet.
    pub leg: Leg,
    /// Arrival time at the relay.
    pub at: Instant,
    /// The whole RTP packet (header and payload).
    pub packet: Vec<u8>,
}

/// Frames a batch keeps room for between takes (two 100 ms takes of a G.711 call's two legs).
const KEPT_SLOTS: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Slot {
    leg: Leg,
    at: Instant,
    start: usize,
    len: usize,
}

#[derive(Debug, Default)]
struct Batch {
    slots: Vec<Slot>,
    bytes: Vec<u8>,
}

impl Batch {
    fn clear(&mut self) {
        self.slots.clear();
        self.bytes.clear();
    }
}

#[derive(Debug, Default)]
struct State {
    batch: Batch,
    /// `Some` once the sender stopped: at this time, or `None` when dropped without a stop.
    stopped: Option<Option<Instant>>,
    receiver_gone: bool,
    /// A receiver is blocked in `recv_timeout`.
    waiting: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain buffers behind: still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The relay's end of a recorder queue.
#[derive(Debug)]
pub struct FrameSender {
    shared: Arc<Shared>,
    capacity: usize,
    counters: Arc<Counters>,
}

/// The recorder's end of the queue.
#[derive(Debug)]
pub struct FrameReceiver {
    shared: Arc<Shared>,
    spare: Batch,
    /// Frames taken by `recv_timeout` and not returned yet.
    taken: RefCell<VecDeque<Frame>>,
}

/// What [`FrameReceiver::recv_timeout`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A frame.
    Frame(Frame),
    /// Nothing within the timeout; the sender is still there.
    Idle,
    /// The sender stopped at this time (or was dropped without a stop: `None`), and every frame
    /// it sent has been received.
    Stopped(Option<Instant>),
}

/// A queue holding at most `capacity` frames (at least 1) between two takes.
pub fn frame_queue(capacity: usize, counters: Arc<Counters>) -> (FrameSender, FrameReceiver) {
    let shared = Arc::new(Shared::default());
    (
        FrameSender {
            shared: Arc::clone(&shared),
            capacity: capacity.max(1),
            counters,
        },
        FrameReceiver {
            shared,
            spare: Batch::default(),
            taken: RefCell::new(VecDeque::new()),
        },
    )
}

impl FrameSender {
    /// Queues a copy of `packet` without blocking. Returns `false` when the queue is full (the
    /// drop is counted) or the recorder is gone (its recording ended; not counted).
    pub fn push(&self, leg: Leg, now: Instant, packet: &[u8]) -> bool {
        let mut state = self.shared.lock();
        if state.receiver_gone {
            // The recording has ended (its file was closed after a failed write): there is
            // nothing left to record, so nothing is lost.
            return false;
        }
        if state.batch.slots.len() >= self.capacity {
            drop(state);
            self.counters.add_recorder_dropped();
            return false;
        }
        let start = state.batch.bytes.len();
        state.batch.bytes.extend_from_slice(packet);
        state.batch.slots.push(Slot {
            leg,
            at: now,
            start,
            len: packet.len(),
        });
        let waiting = state.waiting;
        drop(state);
        if waiting {
            self.shared.wake.notify_one();
        }
        self.counters.add_recorder_queued();
        true
    }

    /// Ends the recording at `at`: the receiver finishes after the frames already queued.
    pub fn stop(self, at: Instant) {
        self.end(Some(at));
    }

    fn end(&self, at: Option<Instant>) {
        let mut state = self.shared.lock();
        if state.stopped.is_none() {
            state.stopped = Some(at);
        }
        let waiting = state.waiting;
        drop(state);
        if waiting {
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for FrameSender {
    fn drop(&mut self) {
        self.end(None);
    }
}

impl FrameReceiver {
    /// Takes every frame queued so far, in order, and hands each to `frame(leg, at, packet)`.
    /// Returns `Some(stop)` once the sender has stopped (at `stop`, or `None` if it was dropped
    /// without a stop) and every frame it sent has been handed out.
    pub fn drain(&mut self, mut frame: impl FnMut(Leg, Instant, &[u8])) -> Option<Option<Instant>> {
        for f in self.taken.get_mut().drain(..) {
            frame(f.leg, f.at, &f.packet);
        }
        self.spare.clear();
        let stopped = {
            let mut state = self.shared.lock();
            std::mem::swap(&mut state.batch, &mut self.spare);
            state.stopped
        };
        for slot in &self.spare.slots {
            if let Some(packet) = self.spare.bytes.get(slot.start..slot.start + slot.len) {
                frame(slot.leg, slot.at, packet);
            }
        }
        self.spare.clear();
        // A recorder that fell behind once (a busy machine) grew this batch; do not keep that
        // memory for the rest of the call (the batches alternate, so both shrink in turn).
        if self.spare.slots.capacity() > KEPT_SLOTS {
            self.spare = Batch::default();
        }
        stopped
    }

    /// Waits up to `timeout` for the next frame or the stop (one frame at a time: for tests
    /// and simple consumers; a recorder takes whole batches with [`drain`](Self::drain)).
    pub fn recv_timeout(&self, timeout: Duration) -> Received {
        let mut taken = self.taken.borrow_mut();
        if let Some(frame) = taken.pop_front() {
            return Received::Frame(frame);
        }
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if !state.batch.slots.is_empty() {
                break;
            }
            if let Some(at) = state.stopped {
                return Received::Stopped(at);
            }
            let now = Instant::now();
            if now >= deadline {
                return Received::Idle;
            }
            state.waiting = true;
            state = match self.shared.wake.wait_timeout(state, deadline - now) {
                Ok((s, _)) => s,
                Err(e) => e.into_inner().0,
            };
            state.waiting = false;
        }
        let batch = std::mem::take(&mut state.batch);
        drop(state);
        for slot in &batch.slots {
            if let Some(packet) = batch.bytes.get(slot.start..slot.start + slot.len) {
                taken.push_back(Frame {
                    leg: slot.leg,
                    at: slot.at,
                    packet: packet.to_vec(),
                });
            }
        }
        match taken.pop_front() {
            Some(frame) => Received::Frame(frame),
            None => Received::Idle,
        }
    }
}

impl Drop for FrameReceiver {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_gone = true;
        state.batch.clear();
    }
}
