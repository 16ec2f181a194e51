//! A call's media handle: SDP rewriting per leg, recordings, events, close.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use callrec_media::record::{frame_queue, CodecMap, FinishedRecording, RecordingSpec};
use callrec_media::relay::{Leg, PortPair};
use callrec_media::sdp::{AudioStream, RelayEndpoint, SessionDescription};
use callrec_media::Counters;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::engine::leg_pair;
use super::error::MediaError;
use super::event::MediaEvent;
use super::recording::{spawn_recorder, RecordingHandle, RecordingId};
use super::relay_task::Command;

/// The media of one call: leg A (the caller, who sent callrec the INVITE) and leg B (the callee).
#[derive(Debug)]
pub struct CallMedia {
    call_id: String,
    relay_ip: IpAddr,
    ports: [PortPair; 2],
    queue_capacity: usize,
    recordable_codecs_only: bool,
    counters: Arc<Counters>,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<MediaEvent>,
    task: JoinHandle<()>,
    /// Each leg's last SDP: audio summary and (session version, remote address).
    streams: [Option<AudioStream>; 2],
    signalled: [Option<(Option<String>, Option<SocketAddr>)>; 2],
    next_recording: u64,
    timeout_armed: bool,
}

/// The encodings the recorder handles (audio it decodes, and DTMF and comfort noise).
const RECORDABLE: [&str; 4] = ["PCMU", "PCMA", "telephone-event", "CN"];

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl CallMedia {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        call_id: String,
        relay_ip: IpAddr,
        ports: [PortPair; 2],
        queue_capacity: usize,
        recordable_codecs_only: bool,
        counters: Arc<Counters>,
        commands: mpsc::UnboundedSender<Command>,
        events: mpsc::UnboundedReceiver<MediaEvent>,
        task: JoinHandle<()>,
    ) -> Self {
        CallMedia {
            call_id,
            relay_ip,
            ports,
            queue_capacity,
            recordable_codecs_only,
            counters,
            commands,
            events,
            task,
            streams: [None, None],
            signalled: [None, None],
            next_recording: 1,
            timeout_armed: false,
        }
    }

    /// The call's id.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Where `leg`'s party sends its RTP (the relay address and that leg's even port; RTCP is
    /// the next port).
    pub fn relay_address(&self, leg: Leg) -> SocketAddr {
        SocketAddr::new(self.relay_ip, leg_pair(&self.ports, leg).rtp)
    }

    /// The audio stream `leg` last described in its SDP.
    pub fn remote_stream(&self, leg: Leg) -> Option<&AudioStream> {
        self.streams.get(leg.index()).and_then(Option::as_ref)
    }

    /// Whether the last SDP of either leg put the call on hold.
    pub fn is_on_hold(&self) -> bool {
        self.streams.iter().flatten().any(AudioStream::is_hold)
    }

    /// Takes an offer received from `from`'s party and returns it rewritten for the other party:
    /// addresses and port point at the relay socket of the other leg. Learns `from`'s address,
    /// payload types and hold state; a new SDP version or address makes that leg latch again.
    /// With [`MediaEngineConfig::recordable_codecs_only`](super::MediaEngineConfig) the audio
    /// codecs offered are narrowed to G.711 (plus telephone-event and CN) when G.711 is offered.
    pub fn rewrite_offer(&mut self, from: Leg, sdp: &[u8]) -> Result<String, MediaError> {
        self.rewrite(from, sdp, self.recordable_codecs_only)
    }

    /// Takes an answer received from `from`'s party and returns it rewritten for the other
    /// party (same rules as [`rewrite_offer`](Self::rewrite_offer)).
    pub fn rewrite_answer(&mut self, from: Leg, sdp: &[u8]) -> Result<String, MediaError> {
        self.rewrite(from, sdp, false)
    }

    fn rewrite(
        &mut self,
        from: Leg,
        sdp: &[u8],
        narrow_codecs: bool,
    ) -> Result<String, MediaError> {
        let parsed = SessionDescription::parse(sdp)?;
        let audio = parsed.audio().ok_or(MediaError::NoAudio)?;
        let version = parsed.origin.as_ref().map(|o| o.session_version.clone());
        let remote = audio.remote_rtp();
        let index = from.index();
        let signalled = Some((version, remote));
        let relatch = self.signalled.get(index) != Some(&signalled);
        if let Some(slot) = self.signalled.get_mut(index) {
            *slot = signalled;
        }
        self.send(Command::Remote {
            leg: from,
            rtp: remote,
            relatch,
            telephone_event_pt: audio.telephone_event_pt,
        })?;
        if let Some(slot) = self.streams.get_mut(index) {
            *slot = Some(audio);
        }
        self.send(Command::Hold(self.is_on_hold()))?;
        if self.streams.iter().all(Option::is_some) {
            self.start_media_timeout()?;
        }
        let relay = RelayEndpoint {
            ip: self.relay_ip,
            rtp_port: leg_pair(&self.ports, from.other()).rtp,
        };
        let parsed = if narrow_codecs {
            parsed.retain_audio_codecs(&RECORDABLE, &["PCMU", "PCMA"])
        } else {
            parsed
        };
        Ok(parsed.rewrite(relay).to_sdp_string())
    }

    /// Starts the media timeout. Called by itself once both legs have sent SDP (the call is
    /// answered); call it directly when callrec answers a call itself with no B leg
    /// (`record_caller`).
    pub fn start_media_timeout(&mut self) -> Result<(), MediaError> {
        if !self.timeout_armed {
            self.send(Command::ArmTimeout)?;
            self.timeout_armed = true;
        }
        Ok(())
    }

    fn send(&self, command: Command) -> Result<(), MediaError> {
        self.commands.send(command).map_err(|_| MediaError::Closed)
    }

    /// Starts a recording now: creates `<spec.path>.part` on a recorder thread and feeds it
    /// every RTP packet the relay accepts from then on (A left, B right in stereo). It stops at
    /// [`stop_recording`](Self::stop_recording), at its time limit (with a
    /// [`MediaEvent::RecordingTimeLimit`]) or when the call closes.
    pub async fn start_recording(
        &mut self,
        spec: RecordingSpec,
    ) -> Result<RecordingHandle, MediaError> {
        let id = RecordingId(self.next_recording);
        self.next_recording += 1;
        let start = now();
        let deadline = start + spec.time_limit;
        let codecs = [Leg::A, Leg::B].map(|leg| {
            self.remote_stream(leg)
                .map(CodecMap::from_stream)
                .unwrap_or_default()
        });
        let (sender, receiver) = frame_queue(self.queue_capacity, Arc::clone(&self.counters));
        let name = format!("rec-{}", id.0);
        let done = spawn_recorder(name, spec, start, codecs, receiver).await?;
        self.send(Command::AddRecorder {
            id,
            sender,
            deadline,
        })?;
        Ok(RecordingHandle { id, done, deadline })
    }

    /// Stops a recording now (or at its time limit if that passed) and waits for the file to be
    /// finished and renamed to its final name.
    pub async fn stop_recording(
        &mut self,
        handle: RecordingHandle,
    ) -> Result<FinishedRecording, MediaError> {
        // If the relay task is gone the recording has been stopped already.
        let _ = self.send(Command::StopRecorder {
            id: handle.id(),
            at: now(),
        });
        handle.wait().await
    }

    /// Asks the recorder `id` to stop now without waiting for its file; whoever holds its
    /// [`RecordingHandle`] learns the result from [`RecordingHandle::wait`]. Used by the
    /// engine, which must not wait on disk.
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
    /// [`RecordingHandle::wait`] returns the files), the sockets close and the ports return to
    /// the pool.
    pub async fn close(self) {
        let CallMedia { commands, task, .. } = self;
        drop(commands);
        if let Err(e) = task.await {
            tracing::warn!(error = %e, "media relay task ended abnormally");
        }
    }
}
