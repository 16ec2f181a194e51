//! The bounded hand-over from the relay (which must never wait) to the recorder thread.
//!
//! The relay side calls [`FrameSender::push`], which copies the packet and `try_send`s it; if the
//! queue is full the frame is dropped and counted in [`Counters`]. [`FrameSender::stop`] records
//! the stop time and disconnects; the receiver sees every frame sent before it, then the stop.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
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

/// The relay's end of a recorder queue.
#[derive(Debug)]
pub struct FrameSender {
    tx: SyncSender<Frame>,
    stop_at: Arc<Mutex<Option<Instant>>>,
    counters: Arc<Counters>,
}

/// The recorder's end of the queue.
#[derive(Debug)]
pub struct FrameReceiver {
    rx: Receiver<Frame>,
    stop_at: Arc<Mutex<Option<Instant>>>,
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

/// A queue holding at most `capacity` frames (at least 1).
pub fn frame_queue(capacity: usize, counters: Arc<Counters>) -> (FrameSender, FrameReceiver) {
    let (tx, rx) = sync_channel(capacity.max(1));
    let stop_at = Arc::new(Mutex::new(None));
    (
        FrameSender {
            tx,
            stop_at: Arc::clone(&stop_at),
            counters,
        },
        FrameReceiver { rx, stop_at },
    )
}

impl FrameSender {
    /// Queues a copy of `packet` without blocking. Returns `false` (and counts the drop) when the
    /// queue is full or the recorder is gone.
    pub fn push(&self, leg: Leg, now: Instant, packet: &[u8]) -> bool {
        let frame = Frame {
            leg,
            at: now,
            packet: packet.to_vec(),
        };
        match self.tx.try_send(frame) {
            Ok(()) => {
                self.counters.add_recorder_queued();
                true
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.counters.add_recorder_dropped();
                false
            }
        }
    }

    /// Ends the recording at `at`: the receiver finishes after the frames already queued.
    pub fn stop(self, at: Instant) {
        if let Ok(mut stop) = self.stop_at.lock() {
            *stop = Some(at);
        }
        drop(self.tx);
    }
}

impl FrameReceiver {
    /// Waits up to `timeout` for the next frame or the stop.
    pub fn recv_timeout(&self, timeout: Duration) -> Received {
        match self.rx.recv_timeout(timeout) {
            Ok(frame) => Received::Frame(frame),
            Err(RecvTimeoutError::Timeout) => Received::Idle,
            Err(RecvTimeoutError::Disconnected) => {
                Received::Stopped(self.stop_at.lock().ok().and_then(|s| *s))
            }
        }
    }
}
