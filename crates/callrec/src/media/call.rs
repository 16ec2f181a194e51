//! A call's media handle: session changes for the relay, recordings, events, close.

use std::sync::Arc;

use callrec_media::record::{CodecMap, RecordingSpec};
use callrec_media::session::SessionCommand;
use tokio::sync::mpsc;

use super::error::MediaError;
use super::event::MediaEvent;
use super::recording::{RecorderPool, RecordingHandle, RecordingId};
use super::relay_task::Command;
use super::shard::CallLink;

/// The relay of one call: leg A (the caller, who sent callrec the INVITE) and leg B (the
/// callee). The SDP decisions are the engine's (`MediaSession`); this handle carries them out.
#[derive(Debug)]
pub struct CallMedia {
    recorders: Arc<RecorderPool>,
    /// The call on its relay shard; dropping it closes the call.
    link: CallLink,
    events: mpsc::UnboundedReceiver<MediaEvent>,
    next_recording: u64,
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl CallMedia {
    pub(crate) fn new(
        recorders: Arc<RecorderPool>,
        link: CallLink,
        events: mpsc::UnboundedReceiver<MediaEvent>,
    ) -> Self {
        CallMedia {
            recorders,
            link,
            events,
            next_recording: 1,
        }
    }

    /// Applies a session change (a leg's address, hold, the media timeout).
    pub fn apply(&self, command: SessionCommand) -> Result<(), MediaError> {
        self.send(Command::Session(command))
    }

    fn send(&self, command: Command) -> Result<(), MediaError> {
        self.link.send(command)
    }

    /// Starts a recording now: a recorder worker creates `<spec.path>.part` and is fed every
    /// RTP packet the relay accepts from then on (A left, B right in stereo). It stops at
    /// [`request_stop`](Self::request_stop), at its time limit or when the call closes; the
    /// handle's [`RecordingHandle::wait`] then returns the file (or why it failed). Does not
    /// wait for the file to be created.
    pub fn start_recording(
        &mut self,
        spec: RecordingSpec,
        codecs: [CodecMap; 2],
    ) -> Result<RecordingHandle, MediaError> {
        let id = RecordingId(self.next_recording);
        self.next_recording += 1;
        let start = now();
        let deadline = start + spec.time_limit;
        let (feed, done) = self.recorders.start(spec, start, codecs)?;
        self.send(Command::AddRecorder { id, feed, deadline })?;
        Ok(RecordingHandle { id, done, deadline })
    }

    /// Asks the recorder `id` to stop now; whoever holds its [`RecordingHandle`] learns the
    /// result from [`RecordingHandle::wait`].
    pub fn request_stop(&self, id: RecordingId) {
        let _ = self.send(Command::StopRecorder { id, at: now() });
    }

    /// The next event; `None` once the call's media is closed.
    pub async fn next_event(&mut self) -> Option<MediaEvent> {
        self.events.recv().await
    }

    /// An event if one is waiting.
    pub fn try_event(&mut self) -> Option<MediaEvent> {
        self.events.try_recv().ok()
    }

    /// Ends the call's media: recordings still running are stopped now (their handles'
    /// [`RecordingHandle::wait`] returns the files) and the sockets close. Returns once both
    /// are done. Dropping the handle closes the call the same way without waiting.
    pub async fn close(self) {
        if self.link.close().await.is_err() {
            tracing::warn!("media relay shard ended abnormally");
        }
    }

    /// The call's link to its shard (tests send commands after the call is closed).
    #[cfg(test)]
    pub(crate) fn link(&self) -> &CallLink {
        &self.link
    }
}
