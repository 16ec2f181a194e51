//! One recording's thread: it owns the `Recorder` (sequencer, decoder, timeline, encoder) and
//! is fed by the relay task through a bounded queue.

use std::time::{Duration, Instant};

use callrec_media::record::{
    CodecMap, FinishedRecording, FrameReceiver, Received, RecordError, Recorder, RecorderConfig,
    RecordingSpec,
};
use tokio::sync::oneshot;

use super::error::MediaError;

/// Identifies a recording within its call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordingId(pub u64);

/// A running recording; [`wait`](Self::wait) for its file.
#[derive(Debug)]
pub struct RecordingHandle {
    pub(crate) id: RecordingId,
    pub(crate) done: oneshot::Receiver<Result<FinishedRecording, RecordError>>,
    pub(crate) deadline: Instant,
}

impl RecordingHandle {
    /// The recording's id within its call.
    pub fn id(&self) -> RecordingId {
        self.id
    }

    /// When the time limit stops it.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Waits until the recording has been stopped (by `request_stop`, its time limit or the
    /// call closing) and the file is finished.
    pub async fn wait(self) -> Result<FinishedRecording, MediaError> {
        match self.done.await {
            Ok(result) => result.map_err(MediaError::from),
            Err(_) => Err(MediaError::Closed),
        }
    }
}

/// How long the thread waits for a frame before looking again (it has nothing to do meanwhile;
/// silence is filled when the next frame or the stop arrives).
const IDLE_WAIT: Duration = Duration::from_millis(500);

/// After a batch of frames, the thread sleeps this long before draining the queue again, so
/// a recording wakes ~10 times a second instead of once per packet (100/s for a stereo G.711
/// call). Each frame carries its arrival time, so batching changes nothing in the file; the
/// queue (1000 frames by default) holds 10 s of a call's packets.
const BATCH_INTERVAL: Duration = Duration::from_millis(100);

/// Starts the recorder thread, which creates the file and then records; does not wait for
/// either. A file that cannot be created is reported through the returned receiver.
pub(crate) fn spawn_recorder(
    name: String,
    spec: RecordingSpec,
    start: Instant,
    codecs: [CodecMap; 2],
    frames: FrameReceiver,
) -> Result<oneshot::Receiver<Result<FinishedRecording, RecordError>>, MediaError> {
    let (done_tx, done_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let result = Recorder::new(spec, start, codecs, RecorderConfig::default())
                .and_then(|recorder| run(recorder, &frames, start));
            let _ = done_tx.send(result);
        })
        .map_err(MediaError::Thread)?;
    Ok(done_rx)
}

/// The thread's loop: push frames until the stop, then finish the file.
fn run(
    mut recorder: Recorder,
    frames: &FrameReceiver,
    start: Instant,
) -> Result<FinishedRecording, RecordError> {
    let mut last = start;
    loop {
        match frames.recv_timeout(IDLE_WAIT) {
            Received::Frame(frame) => {
                last = last.max(frame.at);
                recorder.push_frame(frame)?;
                // Drain what else is queued, then let frames accumulate for a while.
                loop {
                    match frames.recv_timeout(Duration::ZERO) {
                        Received::Frame(frame) => {
                            last = last.max(frame.at);
                            recorder.push_frame(frame)?;
                        }
                        Received::Idle => break,
                        Received::Stopped(at) => return finish(recorder, at.unwrap_or(last)),
                    }
                }
                std::thread::sleep(BATCH_INTERVAL);
            }
            Received::Idle => {}
            Received::Stopped(at) => return finish(recorder, at.unwrap_or(last)),
        }
    }
}

fn finish(recorder: Recorder, at: Instant) -> Result<FinishedRecording, RecordError> {
    let stats = recorder.stats();
    let finished = recorder.finish(at)?;
    tracing::debug!(
        path = %finished.path.display(),
        duration_ms = finished.duration.as_millis() as u64,
        frames_in = stats.frames,
        lost_a = stats.sequencer[0].lost,
        lost_b = stats.sequencer[1].lost,
        "recording finished"
    );
    Ok(finished)
}
