//! The engine: one tokio task that owns the SIP transaction layer, the B2BUA core, the media
//! seam and the recording coordinator, fed by the transport, its own timers, and messages from
//! the helper tasks (spool writes, finished recordings, document reloads).
//!
//! The data path of one call: transport → [`TransactionLayer`] → B2BUA [`Core`] (which asks the
//! [`RelaySeam`] to rewrite SDP onto relay ports) → `CallEvent`s → [`Coordinator`] (policy:
//! which recordings start, when) → spool entry (blocking pool) → the call's recorder thread →
//! finished file → spool `finished` → uploader. CDRs are written per leg as legs end.
//!
//! Nothing on the signalling path waits on disk or HTTP: spool writes run on the blocking pool,
//! the uploader and CDR writer are tasks of their own.

pub mod cdr_record;
pub mod directory;
pub mod media_seam;
pub mod recording;
pub mod recovery;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use callrec_policy::{PolicyConfig, UploadState};
use callrec_sip::b2bua::{Advertised, CallEvent, CallRef, Core, CoreConfig, HangupCause};
use callrec_sip::directory::Directory;
use callrec_sip::transaction::{TimerConfig, TransactionLayer, Transport as Proto};
use tokio::sync::mpsc;

use crate::cdr::CdrSink;
use crate::config::{Channels as ConfigChannels, Config};
use crate::documents::DocumentStore;
use crate::media::{
    Channels, FinishedRecording, Format as MediaFormat, MediaEngine, MediaEngineConfig, MediaError,
    MediaEvent, RecordingId, RecordingSpec,
};
use crate::spool::{unix_now, unix_now_ms, NewRecording, Spool, UploadMethod, UploadTarget};
use crate::transport::Transport;
use crate::upload::UploaderHandle;

use cdr_record::{cdr_json, WallClock};
use directory::build_directory;
use media_seam::RelaySeam;
use recording::{Command, Coordinator, RecordingKind, StartRecording};

/// The long-lived services the engine uses, started by the binary before it.
pub struct Services {
    /// The recording spool.
    pub spool: Arc<Spool>,
    /// The uploader (shared with the engine's spool tasks).
    pub uploader: Arc<UploaderHandle>,
    /// The CDR log.
    pub cdrs: CdrSink,
    /// Where documents come from (reloaded on SIGHUP).
    pub store: Arc<dyn DocumentStore>,
}

/// The policy settings taken from the config.
pub fn policy_config(config: &Config) -> PolicyConfig {
    let mut p = PolicyConfig::default();
    if let Some(f) = callrec_policy::Format::parse(&config.recording.default_format) {
        p.default_format = f;
    }
    p.max_time_limit_secs = u32::try_from(config.recording.max_time_limit_s).unwrap_or(u32::MAX);
    p
}

/// Loads and validates the documents of `store`.
pub fn load_directory(
    store: &dyn DocumentStore,
    policy: &PolicyConfig,
) -> anyhow::Result<Directory> {
    let docs = store.load_all().context("cannot load documents")?;
    build_directory(docs, policy).context("documents refused")
}

/// Messages from helper tasks to the engine.
enum Internal {
    /// A spool entry was created for a recording that should start.
    SpoolReady {
        start: Box<StartRecording>,
        result: Result<std::path::PathBuf, String>,
    },
    /// A recorder closed its file (or failed).
    RecordingDone {
        id: String,
        result: Box<Result<FinishedRecording, MediaError>>,
    },
    /// A document reload finished.
    Reloaded(Box<Result<Directory, String>>),
}

/// Runs callrec until `shutdown` completes. Binds SIP on `config.sip.listen` and relays media
/// on `config.media`. Returns the bound SIP addresses through `bound` as soon as they are known
/// (tests bind port 0).
pub async fn run(
    config: Config,
    services: Services,
    shutdown: impl Future<Output = ()>,
    bound: Option<tokio::sync::oneshot::Sender<Vec<(Proto, SocketAddr)>>>,
) -> anyhow::Result<()> {
    let policy = policy_config(&config);
    let dir = Arc::new(load_directory(services.store.as_ref(), &policy)?);
    tracing::info!(
        accounts = dir.accounts().len(),
        devices = dir.devices().len(),
        callflows = dir.callflows().len(),
        resources = dir.resources().len(),
        "documents loaded"
    );

    let (transport, mut incoming) =
        Transport::bind(&config.sip.listen, config.sip.udp, config.sip.tcp)
            .await
            .context("cannot bind the SIP sockets (sip.listen)")?;
    let local = transport.local_addrs();
    for (proto, addr) in &local {
        tracing::info!(transport = ?proto, %addr, "SIP listening");
    }
    if let Some(tx) = bound {
        let _ = tx.send(local.clone());
    }

    let media_cfg = MediaEngineConfig {
        relay_ip: config.media.relay_ip,
        port_min: config.media.port_min,
        port_max: config.media.port_max,
        media_timeout: Duration::from_secs(config.media.media_timeout_s),
        hold_timeout: config
            .media
            .media_timeout_on_hold
            .then(|| Duration::from_secs(config.media.media_timeout_s)),
        ..MediaEngineConfig::default()
    };
    let media = MediaEngine::new(media_cfg).context("media.port_min/port_max")?;

    let timers = TimerConfig {
        t1: Duration::from_millis(config.sip.t1_ms),
        t2: Duration::from_millis(config.sip.t2_ms),
        t4: Duration::from_millis(config.sip.t4_ms),
    };
    let core_cfg = CoreConfig {
        advertised: local
            .iter()
            .map(|(proto, addr)| Advertised {
                transport: *proto,
                host: addr.ip().to_string(),
                port: addr.port(),
            })
            .collect(),
        user_agent: config.sip.user_agent.clone(),
        no_answer_timeout: Duration::from_secs(config.sip.no_answer_timeout_s),
        t1: timers.t1,
        t2: timers.t2,
        gregorian_now,
        ..CoreConfig::default()
    };

    let mut engine = Engine {
        txl: TransactionLayer::new(timers),
        core: Core::new(core_cfg, dir.clone()),
        seam: RelaySeam::new(media),
        coordinator: Coordinator::new(policy.clone(), Box::new(rand::random::<u128>)),
        dir,
        policy,
        transport: transport.clone(),
        services,
        clock: WallClock::new(Instant::now(), unix_now_ms()),
        recorders: HashMap::new(),
        early_stops: HashSet::new(),
        channels: match config.media.channels {
            ConfigChannels::Stereo => Channels::Stereo,
            ConfigChannels::Mono => Channels::Mono,
        },
        record_caller_calls: HashSet::new(),
        internal: mpsc::unbounded_channel(),
    };

    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot install the SIGHUP handler")?;
    let mut stats_tick = tokio::time::interval(Duration::from_secs(30));
    stats_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut media_tick = tokio::time::interval(Duration::from_millis(100));
    media_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);

    loop {
        let deadline = [engine.txl.poll_timeout(), engine.core.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        #[cfg(unix)]
        let hup_recv = hup.recv();
        #[cfg(not(unix))]
        let hup_recv = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = &mut shutdown => break,
            msg = incoming.recv() => {
                let Some(inc) = msg else { break };
                let now = Instant::now();
                engine.txl.handle_message(now, inc.from, inc.msg);
                engine.pump(now);
            }
            msg = engine.internal.1.recv() => {
                if let Some(msg) = msg {
                    engine.on_internal(msg).await;
                }
            }
            _ = sleep => {
                let now = Instant::now();
                engine.txl.handle_timeout(now);
                engine.core.handle_timeout(now, &mut engine.txl, &mut engine.seam);
                engine.pump(now);
            }
            _ = media_tick.tick() => engine.poll_media_events(),
            _ = stats_tick.tick() => engine.log_stats(),
            _ = hup_recv => engine.reload(),
        }
    }

    engine.shutdown().await;
    engine.log_stats();
    transport.shutdown();
    Ok(())
}

fn gregorian_now() -> u64 {
    unix_now() + cdr_record::GREGORIAN_UNIX_OFFSET_SECS
}

struct Engine {
    txl: TransactionLayer,
    core: Core,
    seam: RelaySeam,
    coordinator: Coordinator,
    dir: Arc<Directory>,
    policy: PolicyConfig,
    transport: Transport,
    services: Services,
    clock: WallClock,
    /// Running recorders: recording id → (call, the call media's recorder id).
    recorders: HashMap<String, (CallRef, RecordingId)>,
    /// Stops that arrived while the recording's spool entry was still being created.
    early_stops: HashSet<String>,
    channels: Channels,
    /// Calls answered by `record_caller`: they end on any DTMF digit.
    record_caller_calls: HashSet<CallRef>,
    internal: (
        mpsc::UnboundedSender<Internal>,
        mpsc::UnboundedReceiver<Internal>,
    ),
}

impl Engine {
    /// After any input: send what the transaction layer wants sent, hand its events to the
    /// core, and the core's events to the coordinator, until all are drained.
    fn pump(&mut self, now: Instant) {
        loop {
            while let Some(t) = self.txl.poll_transmit() {
                self.transport.send(t);
            }
            if let Some(ev) = self.txl.poll_event() {
                self.core
                    .handle_tx_event(now, ev, &mut self.txl, &mut self.seam);
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
        let unix = self.clock.unix_secs(now);
        if let CallEvent::LegEnded { call, leg, cdr } = &ev {
            let recs = self.coordinator.recordings_for_leg(now, *call, *leg);
            let record = cdr_json(cdr, &recs, &self.clock);
            if !self.services.cdrs.write(record) {
                tracing::warn!(%call, "CDR dropped: the CDR writer is behind");
            }
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
        let commands = self.coordinator.handle(now, unix, &ev, self.dir.as_ref());
        for c in commands {
            match c {
                Command::Start(start) => self.create_spool_entry(start),
                Command::Stop { call, id } => self.stop_recorder(call, &id),
            }
        }
    }

    /// Creates the spool entry on the blocking pool; the recorder starts when it is there.
    fn create_spool_entry(&self, start: Box<StartRecording>) {
        let spool = self.services.spool.clone();
        let tx = self.internal.0.clone();
        let new = NewRecording {
            id: start.id.clone(),
            file_name: start.metadata.file_name.clone(),
            content_type: start.format.content_type().to_owned(),
            target: UploadTarget {
                method: match start.metadata.method {
                    callrec_policy::Method::Put => UploadMethod::Put,
                    callrec_policy::Method::Post => UploadMethod::Post,
                },
                url: start
                    .fixed_upload_url
                    .clone()
                    .or_else(|| start.metadata.url.clone())
                    .unwrap_or_default(),
            },
            metadata: serde_json::to_value(&start.metadata).unwrap_or_default(),
        };
        tokio::task::spawn_blocking(move || {
            let result = spool
                .create(new)
                .map(|e| e.audio_path)
                .map_err(|e| e.to_string());
            let _ = tx.send(Internal::SpoolReady { start, result });
        });
    }

    fn stop_recorder(&mut self, call: CallRef, id: &str) {
        let Some((_, rid)) = self.recorders.get(id).copied() else {
            // Not started yet (the spool entry is being written): stop it as soon as it starts.
            self.early_stops.insert(id.to_owned());
            return;
        };
        if let Some(media) = self.seam.call_mut(call) {
            media.request_stop(rid);
        }
        // If the call's media is gone, closing it already stopped the recorder.
    }

    async fn on_internal(&mut self, msg: Internal) {
        match msg {
            Internal::SpoolReady { start, result } => self.start_recorder(start, result).await,
            Internal::RecordingDone { id, result } => self.recording_done(id, *result),
            Internal::Reloaded(r) => match *r {
                Ok(dir) => {
                    let dir = Arc::new(dir);
                    self.core.set_directory(dir.clone());
                    self.dir = dir;
                    tracing::info!("documents reloaded");
                }
                Err(e) => {
                    tracing::error!(error = %e, "document reload refused; keeping the old documents");
                }
            },
        }
    }

    async fn start_recorder(
        &mut self,
        start: Box<StartRecording>,
        result: Result<std::path::PathBuf, String>,
    ) {
        let path = match result {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(recording = %start.id, error = %e, "cannot create the spool entry; not recording");
                let _ = self.coordinator.finished(&start.id, 0);
                return;
            }
        };
        let spec = RecordingSpec {
            path,
            format: match start.format {
                callrec_policy::Format::Mp3 => MediaFormat::Mp3,
                callrec_policy::Format::Wav => MediaFormat::Wav,
            },
            channels: match start.kind {
                RecordingKind::Call => self.channels,
                RecordingKind::CallerOnly => Channels::CallerOnly,
            },
            sample_rate: start.sample_rate,
            time_limit: start.time_limit,
            ..RecordingSpec::new(std::path::PathBuf::new())
        };
        let tx = self.internal.0.clone();
        let id = start.id.clone();
        let Some(media) = self.seam.call_mut(start.call) else {
            // The call ended (or never had media) before the spool entry was ready.
            let _ = tx.send(Internal::RecordingDone {
                id,
                result: Box::new(Err(MediaError::Closed)),
            });
            return;
        };
        match media.start_recording(spec).await {
            Ok(handle) => {
                if self.early_stops.remove(&id) {
                    media.request_stop(handle.id());
                }
                self.recorders.insert(id.clone(), (start.call, handle.id()));
                tokio::spawn(async move {
                    let result = handle.wait().await;
                    let _ = tx.send(Internal::RecordingDone {
                        id,
                        result: Box::new(result),
                    });
                });
            }
            Err(e) => {
                let _ = tx.send(Internal::RecordingDone {
                    id,
                    result: Box::new(Err(e)),
                });
            }
        }
    }

    fn recording_done(&mut self, id: String, result: Result<FinishedRecording, MediaError>) {
        self.recorders.remove(&id);
        self.early_stops.remove(&id);
        let duration_ms = match &result {
            Ok(f) => f.duration.as_millis() as u64,
            Err(e) => {
                tracing::warn!(recording = %id, error = %e, "recorder failed");
                0
            }
        };
        let Some(done) = self.coordinator.finished(&id, duration_ms) else {
            return;
        };
        let spool = self.services.spool.clone();
        let uploader = self.services.uploader.clone();
        let mut metadata = done.metadata;
        if let Ok(f) = &result {
            metadata.sample_rate = f.sample_rate;
            metadata.channels = f.channels;
        }
        let recorded = result.is_ok();
        tokio::task::spawn_blocking(move || {
            let outcome = (|| -> Result<&'static str, crate::spool::SpoolError> {
                if done.discard || !recorded {
                    spool.discard(&id)?;
                    return Ok("discarded");
                }
                let upload = done
                    .fixed_upload_url
                    .clone()
                    .or_else(|| callrec_policy::upload_request(&metadata).map(|r| r.url));
                let meta_json = serde_json::to_value(&metadata).unwrap_or_default();
                spool.update(&id, |r| {
                    if let Some(url) = &upload {
                        r.target.url = url.clone();
                    }
                    r.metadata = meta_json;
                    Ok(())
                })?;
                spool.finish(&id, duration_ms)?;
                if upload.is_some() && !matches!(metadata.upload, UploadState::NoUrl) {
                    uploader.enqueue(id.clone());
                    Ok("queued for upload")
                } else {
                    Ok("kept locally (no url)")
                }
            })();
            match outcome {
                Ok(what) => tracing::info!(recording = %id, duration_ms, "recording {what}"),
                Err(e) => tracing::error!(recording = %id, error = %e, "spool update failed"),
            }
        });
    }

    fn poll_media_events(&mut self) {
        let mut hangups = Vec::new();
        for (call, media) in self.seam.calls_mut() {
            while let Some(ev) = media.try_event() {
                match ev {
                    MediaEvent::MediaTimeout => hangups.push((*call, HangupCause::MediaTimeout)),
                    MediaEvent::Dtmf { digit, .. } => {
                        if self.record_caller_calls.contains(call) {
                            tracing::debug!(%call, %digit, "DTMF ends record_caller");
                            hangups.push((*call, HangupCause::NormalClearing));
                        }
                    }
                    MediaEvent::RecordingTimeLimit { .. } => {}
                }
            }
        }
        if hangups.is_empty() {
            return;
        }
        let now = Instant::now();
        for (call, cause) in hangups {
            self.core
                .hangup(now, call, cause, &mut self.txl, &mut self.seam);
        }
        self.pump(now);
    }

    /// Counters an operator watches: calls, relay packets and drops, recorder frames dropped
    /// (must stay 0), uploads, CDRs.
    fn log_stats(&self) {
        let m = self.seam.engine().counters();
        let u = self.services.uploader.stats();
        tracing::info!(
            calls = self.core.call_count(),
            media_calls = self.seam.open_calls(),
            rtp_relayed = m.relayed,
            rtp_dropped_not_rtp = m.dropped_not_rtp,
            rtp_dropped_wrong_source = m.dropped_wrong_source,
            rtp_dropped_no_destination = m.dropped_destination_unknown,
            recorder_frames_queued = m.recorder_frames_queued,
            recorder_frames_dropped = m.recorder_frames_dropped,
            uploads_stored = u.stored,
            uploads_retried = u.retries,
            uploads_failed = u.failed,
            cdrs_written = self.services.cdrs.written(),
            cdrs_dropped = self.services.cdrs.dropped(),
            "stats"
        );
    }

    fn reload(&self) {
        let store = self.services.store.clone();
        let policy = self.policy.clone();
        let tx = self.internal.0.clone();
        tokio::task::spawn_blocking(move || {
            let result = load_directory(store.as_ref(), &policy).map_err(|e| format!("{e:#}"));
            let _ = tx.send(Internal::Reloaded(Box::new(result)));
        });
    }

    /// Hangs up every call, waits (bounded) for recordings to be finished and spooled.
    async fn shutdown(&mut self) {
        let now = Instant::now();
        for call in self.coordinator.call_refs() {
            self.core.hangup(
                now,
                call,
                HangupCause::ManagerRequest,
                &mut self.txl,
                &mut self.seam,
            );
        }
        self.pump(now);
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        while !self.coordinator.open_recordings().is_empty() {
            match tokio::time::timeout_at(until, self.internal.1.recv()).await {
                Ok(Some(msg)) => self.on_internal(msg).await,
                _ => break,
            }
        }
        // Let the blocking spool updates land before the uploader stops.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
