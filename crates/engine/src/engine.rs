//! [`Engine`]: the whole call engine as one sans-IO state machine.
//!
//! It joins the SIP transaction layer, the B2BUA [`Core`], the [`MediaPlan`] (relay ports and
//! SDP) and the recording [`Coordinator`], and makes every decision the binary used to make
//! inline: when a spool entry is written, when a recorder starts and stops, whether a finished
//! recording is uploaded (and where), kept locally or discarded, what each leg's CDR says,
//! which media events end a call.
//!
//! The contract (as quinn-proto and str0m): feed inputs with `handle_*(now, ..)`; after every
//! input drain [`poll_transmit`](Engine::poll_transmit) and
//! [`poll_command`](Engine::poll_command) until both are empty, then sleep until
//! [`poll_timeout`](Engine::poll_timeout) or the next input. Every command that does I/O is
//! answered by an event: a spool entry by [`handle_spool_created`](Engine::handle_spool_created),
//! a recorder by [`handle_recording_finished`](Engine::handle_recording_finished), opening media
//! by [`handle_media_failed`](Engine::handle_media_failed) when it could not be done, closing
//! media by [`handle_media_closed`](Engine::handle_media_closed). Nothing here waits.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callrec_kazoo::directory::{Directory, HostQuery};
use callrec_kazoo::recording::{Format, PolicyConfig, RecordingMetadata};
use callrec_media::record::{Channels, CodecMap};
use callrec_media::relay::{Leg, PortPoolError};
use callrec_sip::message::Message;
use callrec_sip::transaction::{Peer, TimerConfig, TransactionLayer, Transmit, TxStats};
use serde_json::Value;

use crate::b2bua::{CallEvent, CallRef, Core, CoreConfig, HangupCause};
use crate::cdr_record::cdr_json;
use crate::coordinator::{Coordinator, RecordingKind, StartRecording};
use crate::media_plan::{MediaCommand, MediaPlan};
use crate::upload_target::{disposition, plan_storage, Disposition};
use crate::wall_clock::WallClock;
use callrec_kazoo::recording::StoredObject;
use callrec_kazoo::storage::StoragePlans;

/// The engine's settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The B2BUA's settings (addresses, timeouts, digest, registrar, routing).
    pub core: CoreConfig,
    /// RFC 3261 timers.
    pub timers: TimerConfig,
    /// Recording policy settings.
    pub policy: PolicyConfig,
    /// The relay address written into SDP.
    pub relay_ip: IpAddr,
    /// First relay port.
    pub port_min: u16,
    /// Last relay port.
    pub port_max: u16,
    /// Narrow offers to G.711 when G.711 is offered, so that every call can be recorded.
    pub recordable_codecs_only: bool,
    /// Channel layout of call recordings (caller-only recordings are mono).
    pub channels: Channels,
    /// This node's name (`[cluster] node_id`): written on every CDR (`node_id`, and KAZOO's
    /// `media_server`) and every recording's metadata. `None`: left out.
    pub node_id: Option<String>,
}

/// Something the driver must do. Commands that do I/O are answered by an event.
#[derive(Debug, Clone)]
pub enum Command {
    /// Relay sockets: open, change, close.
    Media(MediaCommand),
    /// Write the spool entry (metadata sidecar) of a recording about to start; answer with
    /// [`Engine::handle_spool_created`].
    CreateSpoolEntry(Box<SpoolEntry>),
    /// Start a recorder on the call's relay; answer with [`Engine::handle_recording_finished`]
    /// when it has stopped (or could not start).
    StartRecorder(Box<RecorderStart>),
    /// Stop a recorder now (hangup, `record_call` stop).
    StopRecorder {
        /// The call.
        call: CallRef,
        /// The recording id.
        id: String,
    },
    /// A recording is complete: update its spool entry with `metadata` and `duration_ms`,
    /// then upload it or keep it locally.
    FinishRecording(Box<FinishedRecording>),
    /// Delete a recording's audio and mark its spool entry discarded (shorter than
    /// `record_min_sec`, or the recorder failed before it had audio).
    DiscardRecording {
        /// The recording id.
        id: String,
    },
    /// Append one leg's CDR.
    WriteCdr(Box<Value>),
}

/// A recording's spool entry, written before the recorder starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolEntry {
    /// Recording id (32 hex digits), also the spool file stem.
    pub id: String,
    /// File name as uploaded.
    pub file_name: String,
    /// `audio/mpeg` or `audio/wav`.
    pub content_type: &'static str,
    /// Metadata so far (duration unknown).
    pub metadata: RecordingMetadata,
}

/// A recorder to start.
#[derive(Debug, Clone)]
pub struct RecorderStart {
    /// The call whose relay feeds it.
    pub call: CallRef,
    /// Recording id.
    pub id: String,
    /// Where to write the audio (the spool entry's audio path).
    pub path: PathBuf,
    /// File format.
    pub format: Format,
    /// Channel layout.
    pub channels: Channels,
    /// Requested sample rate (`None` = the codec's).
    pub sample_rate: Option<u32>,
    /// The recorder stops by itself after this long.
    pub time_limit: Duration,
    /// Payload types of each leg (A, B).
    pub codecs: [CodecMap; 2],
}

/// A complete recording and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedRecording {
    /// Recording id.
    pub id: String,
    /// Length of the audio.
    pub duration_ms: u64,
    /// Final metadata.
    pub metadata: RecordingMetadata,
    /// Upload it, or keep it locally.
    pub disposition: Disposition,
    /// Why the audio ends before the recording was stopped (a full disk), to be marked on
    /// the recording; `None` normally.
    pub cut_short: Option<String>,
}

/// What the relay of a call noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEvent {
    /// No RTP from either leg for the media timeout.
    Timeout,
    /// A DTMF key pressed on `leg`.
    Dtmf {
        /// The leg.
        leg: Leg,
        /// The digit.
        digit: char,
    },
}

/// What a recorder wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordedAudio {
    /// Length of the audio.
    pub duration_ms: u64,
    /// Sample rate of the file.
    pub sample_rate: u32,
    /// Channels in the file.
    pub channels: u16,
    /// Why the file ends before the recording was stopped (a write failed: the disk was
    /// full). The file is valid and holds `duration_ms`; it is uploaded like any other.
    pub cut_short: Option<String>,
}

/// Why a recording's spool entry was not written (the recording does not start; the call
/// goes on unrecorded and its CDR says why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpoolRefusal {
    /// The spool's file system has less than `recording.min_free_mb` free.
    LowDiskSpace,
    /// Writing the entry failed.
    Failed(String),
}

impl SpoolRefusal {
    /// The reason as the CDR's `media_recording_refused_reason` names it.
    pub fn cdr_reason(&self) -> &'static str {
        match self {
            SpoolRefusal::LowDiskSpace => "low_disk_space",
            SpoolRefusal::Failed(_) => "spool_error",
        }
    }
}

impl std::fmt::Display for SpoolRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpoolRefusal::LowDiskSpace => {
                f.write_str("too little free disk space (recording.min_free_mb)")
            }
            SpoolRefusal::Failed(e) => f.write_str(e),
        }
    }
}

/// Counters an operator watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineStats {
    /// Calls in the B2BUA.
    pub calls: usize,
    /// Calls admitted since start (INVITEs that became calls).
    pub calls_started: u64,
    /// Calls with media open.
    pub media_calls: usize,
    /// Relay port pairs in use.
    pub ports_in_use: usize,
    /// Recordings started and not yet finished.
    pub recordings: usize,
    /// Recordings refused since start: their spool entry could not be written (any cause;
    /// `recordings_refused_disk` of them for low disk space).
    pub recordings_refused: u64,
    /// Recordings refused since start because the spool had less than `min_free_mb` free.
    pub recordings_refused_disk: u64,
    /// Recordings cut short since start by a failed write (a full disk); their files keep
    /// what was written.
    pub recordings_cut_short: u64,
    /// Transaction layer counters.
    pub transactions: TxStats,
}

/// The call engine.
pub struct Engine {
    txl: TransactionLayer,
    core: Core,
    media: MediaPlan,
    coordinator: Coordinator,
    dir: Arc<Directory>,
    clock: WallClock,
    channels: Channels,
    /// Recordings whose spool entry is being written.
    awaiting_spool: HashMap<String, Box<StartRecording>>,
    /// Stops that arrived while the recording's spool entry was being written.
    early_stops: HashSet<String>,
    /// Recorders started: recording id → call.
    recorders: HashMap<String, CallRef>,
    /// Calls answered by `record_caller`: they end on any DTMF digit.
    record_caller_calls: HashSet<CallRef>,
    /// Every account's storage plan (recordings whose rule has no `url`).
    storage: Arc<StoragePlans>,
    /// The object each recording in progress goes to under its account's plan.
    planned: HashMap<String, StoredObject>,
    out: VecDeque<Command>,
    /// Recording counters (see [`EngineStats`]): refused, refused for disk space, cut short.
    recording_counts: [u64; 3],
    /// `[cluster] node_id`.
    node_id: Option<String>,
}

impl Engine {
    /// An engine over `dir`. `clock` maps `now` onto Unix time (CDRs, metadata, interaction
    /// ids); `new_id` makes recording ids (random in production, a counter in tests).
    pub fn new(
        mut cfg: EngineConfig,
        dir: Arc<Directory>,
        clock: WallClock,
        new_id: Box<dyn FnMut() -> u128 + Send>,
    ) -> Result<Engine, PortPoolError> {
        cfg.core.wall_clock = clock;
        let mut engine = Engine {
            txl: TransactionLayer::new(cfg.timers),
            core: Core::new(cfg.core, dir.clone()),
            media: MediaPlan::new(
                cfg.relay_ip,
                cfg.port_min,
                cfg.port_max,
                cfg.recordable_codecs_only,
            )?,
            coordinator: Coordinator::new(cfg.policy, new_id),
            dir,
            clock,
            channels: cfg.channels,
            awaiting_spool: HashMap::new(),
            early_stops: HashSet::new(),
            recorders: HashMap::new(),
            record_caller_calls: HashSet::new(),
            recording_counts: [0; 3],
            storage: Arc::default(),
            planned: HashMap::new(),
            out: VecDeque::new(),
            node_id: cfg.node_id,
        };
        while let Some(c) = engine.media.poll_command() {
            engine.out.push_back(Command::Media(c));
        }
        Ok(engine)
    }

    /// A SIP message received from `from`.
    pub fn handle_message(&mut self, now: Instant, from: Peer, msg: Message) {
        // Hostile sources are dropped before they cost a transaction (counted by the guard).
        if !self.core.admit_source(now, from, &msg) {
            return;
        }
        self.txl.handle_message(now, from, msg);
        self.pump(now);
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.txl.handle_timeout(now);
        self.core
            .handle_timeout(now, &mut self.txl, &mut self.media);
        self.pump(now);
    }

    /// A message could not be sent to `peer` (TCP connect failed, ICMP): the transactions
    /// waiting on it fail now.
    pub fn handle_transport_error(&mut self, now: Instant, peer: Peer) {
        self.txl.transport_error(now, peer);
        self.pump(now);
    }

    /// Requests dropped by the source guard (rate limit, brute-force blocks).
    pub fn guard_stats(&self) -> crate::b2bua::GuardStats {
        self.core.guard_stats()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.txl.poll_timeout(), self.core.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next SIP message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.txl.poll_transmit()
    }

    /// The next thing for the driver to do.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.out.pop_front()
    }

    /// The call's relay noticed something.
    pub fn handle_media_event(&mut self, now: Instant, call: CallRef, event: MediaEvent) {
        let cause = match event {
            MediaEvent::Timeout => HangupCause::MediaTimeout,
            MediaEvent::Dtmf { .. } if self.record_caller_calls.contains(&call) => {
                tracing::debug!(%call, "DTMF ends record_caller");
                HangupCause::NormalClearing
            }
            MediaEvent::Dtmf { .. } => return,
        };
        self.hangup(now, call, cause);
    }

    /// The driver could not open the call's relay (its bound sockets were lost): the call
    /// ends.
    pub fn handle_media_failed(&mut self, now: Instant, call: CallRef) {
        tracing::warn!(%call, "relay ports could not be opened; ending the call");
        self.hangup(now, call, HangupCause::NormalTemporaryFailure);
    }

    /// The driver bound the port pairs of a `Bind` command (`failed`: held by another program).
    pub fn handle_ports_bound(
        &mut self,
        bound: Vec<callrec_media::relay::PortPair>,
        failed: Vec<callrec_media::relay::PortPair>,
    ) {
        self.media.bound(bound, failed);
        while let Some(c) = self.media.poll_command() {
            self.out.push_back(Command::Media(c));
        }
    }

    /// The driver closed the call's relay sockets: its ports are free again.
    pub fn handle_media_closed(&mut self, call: CallRef) {
        self.media.closed(call);
    }

    /// The spool entry of recording `id` was written (its audio path), or was not (the call
    /// goes on unrecorded, counted, and its CDR says why).
    pub fn handle_spool_created(
        &mut self,
        now: Instant,
        id: &str,
        result: Result<PathBuf, SpoolRefusal>,
    ) {
        let Some(start) = self.awaiting_spool.remove(id) else {
            return;
        };
        let path = match result {
            Ok(p) => p,
            Err(refusal) => {
                self.recording_counts[0] += 1;
                match &refusal {
                    SpoolRefusal::LowDiskSpace => {
                        // The spool warned, with the free space it found.
                        self.recording_counts[1] += 1;
                    }
                    SpoolRefusal::Failed(e) => {
                        tracing::error!(recording = %id, error = %e, "cannot create the spool entry; the call goes on unrecorded");
                    }
                }
                self.early_stops.remove(id);
                self.coordinator.refused(id, refusal.cdr_reason());
                self.planned.remove(id);
                let _ = self.coordinator.finished(id, 0);
                return;
            }
        };
        let Some(codecs) = self.media.codecs(start.call) else {
            // The call ended (or never had media) before the spool entry was ready.
            self.early_stops.remove(id);
            self.recording_done(now, id, Err("the call ended before the recording started"));
            return;
        };
        self.recorders.insert(id.to_owned(), start.call);
        self.out
            .push_back(Command::StartRecorder(Box::new(RecorderStart {
                call: start.call,
                id: start.id.clone(),
                path,
                format: start.format,
                channels: match start.kind {
                    RecordingKind::Call => self.channels,
                    RecordingKind::CallerOnly => Channels::CallerOnly,
                },
                sample_rate: start.sample_rate,
                time_limit: start.time_limit,
                codecs,
            })));
        if self.early_stops.remove(id) {
            self.out.push_back(Command::StopRecorder {
                call: start.call,
                id: start.id,
            });
        }
    }

    /// Recorder `id` has stopped and closed its file (or failed).
    pub fn handle_recording_finished(
        &mut self,
        now: Instant,
        id: &str,
        result: Result<RecordedAudio, String>,
    ) {
        self.recorders.remove(id);
        self.recording_done(now, id, result.as_ref().map_err(String::as_str).cloned());
    }

    fn recording_done(&mut self, _now: Instant, id: &str, result: Result<RecordedAudio, &str>) {
        let duration_ms = match &result {
            Ok(a) => a.duration_ms,
            Err(e) => {
                tracing::warn!(recording = %id, error = %e, "recorder failed");
                0
            }
        };
        let planned = self.planned.remove(id);
        let Some(done) = self.coordinator.finished(id, duration_ms) else {
            return;
        };
        let mut metadata = done.metadata;
        metadata.storage = planned;
        metadata.node_id = self.node_id.clone();
        let Ok(audio) = result else {
            self.out
                .push_back(Command::DiscardRecording { id: id.to_owned() });
            return;
        };
        if done.discard {
            self.out
                .push_back(Command::DiscardRecording { id: id.to_owned() });
            return;
        }
        metadata.sample_rate = audio.sample_rate;
        metadata.channels = audio.channels;
        if audio.cut_short.is_some() {
            self.recording_counts[2] += 1;
        }
        let disposition = disposition(&metadata);
        self.out
            .push_back(Command::FinishRecording(Box::new(FinishedRecording {
                id: id.to_owned(),
                duration_ms,
                metadata,
                disposition,
                cut_short: audio.cut_short,
            })));
    }

    /// New documents (API write, reload): the next call uses them; calls in progress keep
    /// what they were routed with.
    pub fn set_directory(&mut self, dir: Arc<Directory>) {
        self.core.set_directory(dir.clone());
        self.dir = dir;
    }

    /// New storage plans (API write, reload): recordings that start from now on use them;
    /// those in progress keep the object chosen when they started.
    pub fn set_storage(&mut self, plans: Arc<StoragePlans>) {
        self.storage = plans;
    }

    /// The driver resolved a gateway's host name (one of [`Directory::host_queries`]) to
    /// `addrs`, in the order to try them; an empty list when the name has no address. Calls
    /// routed from now on use them; a name never resolved is skipped (no call waits on DNS).
    pub fn handle_resolved(&mut self, query: HostQuery, addrs: Vec<SocketAddr>) {
        self.core.set_resolved(query, addrs);
    }

    /// The documents in use.
    pub fn directory(&self) -> &Arc<Directory> {
        &self.dir
    }

    /// Ends a call from outside (shutdown, an operator).
    pub fn hangup(&mut self, now: Instant, call: CallRef, cause: HangupCause) {
        self.core
            .hangup(now, call, cause, &mut self.txl, &mut self.media);
        self.pump(now);
    }

    /// Ends every call (shutdown): recordings in flight stop and are finished.
    pub fn hangup_all(&mut self, now: Instant) {
        for call in self.coordinator.call_refs() {
            self.core.hangup(
                now,
                call,
                HangupCause::ManagerRequest,
                &mut self.txl,
                &mut self.media,
            );
        }
        self.pump(now);
    }

    /// Recordings started and not yet reported finished.
    pub fn open_recordings(&self) -> usize {
        self.coordinator.open_recording_count()
    }

    /// Counters.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            calls: self.core.call_count(),
            calls_started: self.core.calls_started(),
            media_calls: self.media.open_calls(),
            ports_in_use: self.media.ports_in_use(),
            recordings: self.coordinator.open_recording_count(),
            recordings_refused: self.recording_counts[0],
            recordings_refused_disk: self.recording_counts[1],
            recordings_cut_short: self.recording_counts[2],
            transactions: self.txl.stats(),
        }
    }

    /// The registrar (for status).
    pub fn registrar(&self) -> &callrec_sip::registrar::Registrar {
        self.core.registrar()
    }

    /// After any input: hand the transaction layer's events to the core, the core's events to
    /// the coordinator, and queue media commands, until all are drained.
    fn pump(&mut self, now: Instant) {
        loop {
            while let Some(c) = self.media.poll_command() {
                self.out.push_back(Command::Media(c));
            }
            if let Some(ev) = self.txl.poll_event() {
                self.core
                    .handle_tx_event(now, ev, &mut self.txl, &mut self.media);
                continue;
            }
            if let Some(ev) = self.core.poll_event() {
                self.on_call_event(now, ev);
                continue;
            }
            break;
        }
    }

    fn on_call_event(&mut self, now: Instant, ev: CallEvent) {
        if let CallEvent::LegEnded { call, leg, cdr } = &ev {
            let recs = self.coordinator.recordings_for_leg(now, *call, *leg);
            let mut json = cdr_json(cdr, &recs, &self.clock);
            if let (Some(node), Value::Object(m)) = (&self.node_id, &mut json) {
                m.insert("node_id".into(), Value::String(node.clone()));
                m.insert("media_server".into(), Value::String(node.clone()));
            }
            self.out.push_back(Command::WriteCdr(Box::new(json)));
        }
        match &ev {
            CallEvent::RecordCaller { call, .. } => {
                self.record_caller_calls.insert(*call);
            }
            CallEvent::CallEnded { call } => {
                self.record_caller_calls.remove(call);
            }
            _ => {}
        }
        let unix = self.clock.unix_secs(now);
        let commands = self.coordinator.handle(now, unix, &ev, self.dir.as_ref());
        for c in commands {
            match c {
                crate::coordinator::CoordinatorCommand::Start(mut start) => {
                    start.metadata.node_id = self.node_id.clone();
                    plan_storage(&mut start.metadata, &self.storage);
                    if let Some(object) = &start.metadata.storage {
                        self.planned.insert(start.id.clone(), object.clone());
                    }
                    self.out
                        .push_back(Command::CreateSpoolEntry(Box::new(SpoolEntry {
                            id: start.id.clone(),
                            file_name: start.metadata.file_name.clone(),
                            content_type: start.format.content_type(),
                            metadata: start.metadata.clone(),
                        })));
                    self.awaiting_spool.insert(start.id.clone(), start);
                }
                crate::coordinator::CoordinatorCommand::Stop { call, id } => {
                    if self.recorders.contains_key(&id) {
                        self.out.push_back(Command::StopRecorder { call, id });
                    } else if self.awaiting_spool.contains_key(&id) {
                        // Not started yet: stop it as soon as it starts.
                        self.early_stops.insert(id);
                    }
                }
            }
        }
    }
}
