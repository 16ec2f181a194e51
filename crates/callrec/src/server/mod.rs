//! The server: one tokio task that drives the sans-IO [`Engine`] (`callrec-engine`) with the
//! SIP sockets, the clock and the helpers that do I/O, and carries out its commands. The
//! binary runs it on a thread of its own ([`EngineThread`]) whose current-thread runtime also
//! owns the SIP sockets, so a message is read, parsed and handled on one thread.
//!
//! The data path of one call: transport → [`Engine::handle_message`] (transactions, B2BUA,
//! media plan, recording coordinator) → commands: open the call's relay
//! ([`MediaDriver::open_call`]), write the spool entry (blocking pool), start the recorder
//! thread, write CDRs, finish or discard the recording (blocking pool) and hand it to the
//! uploader. Each command that does I/O reports back to the engine as an event.
//!
//! Nothing here waits on disk or HTTP: spool writes run on the blocking pool, the uploader and
//! CDR writer are tasks of their own, recorders are threads, and opening a call's relay binds
//! its sockets without waiting.

pub mod recovery;
pub mod resolver;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use callrec_engine::b2bua::{Advertised, CallRef, CoreConfig};
use callrec_engine::upload_target::Disposition;
use callrec_engine::wall_clock::WallClock;
use callrec_engine::{
    Command, Engine, EngineConfig, FinishedRecording, MediaCommand, MediaEvent as EngineMediaEvent,
    RecordedAudio, RecorderStart, SpoolEntry, SpoolRefusal,
};
use callrec_kazoo::directory::Directory;
use callrec_kazoo::load::build_directory;
use callrec_kazoo::recording::PolicyConfig;
use callrec_media::relay::PortPair;
use callrec_sip::transaction::{TimerConfig, Transport as Proto};
use tokio::sync::mpsc;

use crate::api::metrics::{Metrics, Sources};
use crate::cdr::CdrSink;
use crate::config::{Channels as ConfigChannels, Config};
use crate::documents::DocumentStore;
use crate::media::{
    BoundPair, CallMedia, Channels, MediaDriver, MediaDriverConfig, MediaEvent, RecordingId,
    RecordingSpec,
};
use crate::spool::{unix_now_ms, NewRecording, Spool, UploadTarget};
use crate::store_link::{DocumentsHandle, Watcher};
use crate::store_writer::{cdr_row_text, Row, StoreWriter};
use crate::transport::{Incoming, SipSockets};
use crate::upload::UploaderHandle;

/// The long-lived services the server uses, started by the binary before it.
pub struct Services {
    /// The recording spool.
    pub spool: Arc<Spool>,
    /// The uploader (shared with the engine's spool tasks).
    pub uploader: Arc<UploaderHandle>,
    /// The CDR log.
    pub cdrs: CdrSink,
    /// CDRs and recording metadata to the database.
    pub records: StoreWriter,
    /// The documents in use (and a way to ask for a reload: SIGHUP).
    pub documents: DocumentsHandle,
    /// Validated document changes from the store, for the engine.
    pub watcher: Watcher,
    /// Gauges and counters for `/metrics`.
    pub metrics: Arc<Metrics>,
}

/// The bound SIP sockets and what they receive.
pub struct Listeners {
    /// The transport (UDP sockets, TCP listeners).
    pub transport: SipSockets,
    /// Messages received.
    pub incoming: mpsc::Receiver<Incoming>,
}

impl Listeners {
    /// Binds SIP on `config.sip.listen` (tests use port 0 and read
    /// [`SipSockets::local_addrs`]).
    pub async fn bind(config: &Config) -> anyhow::Result<Listeners> {
        let (transport, incoming) =
            SipSockets::bind(&config.sip.listen, config.sip.udp, config.sip.tcp)
                .await
                .context("cannot bind the SIP sockets (sip.listen)")?;
        Ok(Listeners {
            transport,
            incoming,
        })
    }
}

/// The engine on a thread of its own: a current-thread tokio runtime that owns the SIP sockets
/// (their receive loops are tasks of that runtime) and runs [`run`]. A datagram is read,
/// parsed and handled on one thread: the hand-over to the engine's loop is a local wake-up, not
/// a futex wake of another thread and a context switch per message (on the binary's
/// multi-thread runtime every SIP message crossed from a worker to the main thread). The
/// engine's own helpers (spool writes on the blocking pool, waiters) run on that runtime too;
/// the uploader, CDR and store writers and the API stay on the caller's runtime.
pub struct EngineThread {
    start: tokio::sync::oneshot::Sender<EngineStart>,
    done: tokio::sync::oneshot::Receiver<anyhow::Result<()>>,
}

/// What [`EngineThread::run`] hands to the thread.
struct EngineStart {
    config: Config,
    services: Services,
    shutdown: tokio::sync::oneshot::Receiver<()>,
}

impl EngineThread {
    /// Starts the thread and binds SIP on `config.sip.listen` there; fails as
    /// [`Listeners::bind`] does (a port in use is refused at start-up).
    pub async fn bind(config: &Config) -> anyhow::Result<EngineThread> {
        use tokio::sync::oneshot;
        let (bound_tx, bound_rx) = oneshot::channel::<anyhow::Result<()>>();
        let (start_tx, start_rx) = oneshot::channel::<EngineStart>();
        let (done_tx, done_rx) = oneshot::channel();
        let bind_config = config.clone();
        std::thread::Builder::new()
            .name("engine".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ =
                            bound_tx
                                .send(Err(anyhow::Error::new(e)
                                    .context("cannot start the engine's runtime")));
                        return;
                    }
                };
                let result = runtime.block_on(async move {
                    let listeners = match Listeners::bind(&bind_config).await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = bound_tx.send(Err(e));
                            return Ok(());
                        }
                    };
                    let _ = bound_tx.send(Ok(()));
                    // The caller gave up before running the server: nothing to do.
                    let Ok(start) = start_rx.await else {
                        return Ok(());
                    };
                    let stop = start.shutdown;
                    run(listeners, start.config, start.services, async move {
                        let _ = stop.await;
                    })
                    .await
                });
                let _ = done_tx.send(result);
            })
            .context("cannot start the engine thread")?;
        bound_rx
            .await
            .map_err(|_| anyhow::anyhow!("the engine thread ended at start-up"))??;
        Ok(EngineThread {
            start: start_tx,
            done: done_rx,
        })
    }

    /// Runs the server on the engine thread until `shutdown` completes (then the server shuts
    /// down as [`run`] does) or the server stops by itself.
    pub async fn run(
        self,
        config: Config,
        services: Services,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let EngineThread { start, mut done } = self;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let request = EngineStart {
            config,
            services,
            shutdown: stop_rx,
        };
        if start.send(request).is_err() {
            anyhow::bail!("the engine thread ended before the server started");
        }
        tokio::pin!(shutdown);
        let ended = tokio::select! {
            ended = &mut done => ended,
            _ = &mut shutdown => {
                let _ = stop_tx.send(());
                done.await
            }
        };
        ended.unwrap_or_else(|_| Err(anyhow::anyhow!("the engine thread panicked")))
    }
}

/// The policy settings taken from the config.
pub fn policy_config(config: &Config) -> PolicyConfig {
    let mut p = PolicyConfig::default();
    if let Some(f) = callrec_kazoo::recording::Format::parse(&config.recording.default_format) {
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

/// The engine's settings from the config and the bound SIP addresses.
pub fn engine_config(config: &Config, local: &[(Proto, SocketAddr)]) -> EngineConfig {
    let timers = TimerConfig {
        t1: Duration::from_millis(config.sip.t1_ms),
        t2: Duration::from_millis(config.sip.t2_ms),
        t4: Duration::from_millis(config.sip.t4_ms),
    };
    EngineConfig {
        core: CoreConfig {
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
            nat: config.nat_policy(),
            guard: config.guard_config(),
            t1: timers.t1,
            t2: timers.t2,
            edge: config.cluster.edge_addrs(),
            ..CoreConfig::default()
        },
        timers,
        policy: policy_config(config),
        relay_ip: config.media.relay_ip,
        port_min: config.media.port_min,
        port_max: config.media.port_max,
        recordable_codecs_only: true,
        channels: match config.media.channels {
            ConfigChannels::Stereo => Channels::Stereo,
            ConfigChannels::Mono => Channels::Mono,
        },
        node_id: config.cluster.node_id(),
    }
}

/// The accounts' storage plans with the cluster bucket (`[cluster.storage]`) added: the one
/// form the engine, the uploader and the API use.
pub fn with_cluster_storage(
    plans: &Arc<callrec_kazoo::storage::StoragePlans>,
    config: &Config,
) -> Arc<callrec_kazoo::storage::StoragePlans> {
    match config.cluster.storage_settings() {
        None => plans.clone(),
        Some(s3) => {
            let mut p = (**plans).clone();
            p.set_cluster(Some(s3));
            Arc::new(p)
        }
    }
}

/// Reports from the helpers that do I/O for the engine.
enum Report {
    /// A spool entry was created (its audio path), or could not be.
    SpoolCreated {
        id: String,
        result: Result<PathBuf, SpoolRefusal>,
    },
    /// A recorder closed its file (or failed).
    RecordingDone {
        id: String,
        result: Result<RecordedAudio, String>,
    },
    /// A call's relay sockets are closed.
    MediaClosed(CallRef),
}

/// Runs callrec on `listeners` until `shutdown` completes.
pub async fn run(
    listeners: Listeners,
    config: Config,
    services: Services,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let loaded = services.documents.current();
    let dir = loaded.directory.clone();
    tracing::info!(
        accounts = dir.accounts().len(),
        devices = dir.devices().len(),
        callflows = dir.callflows().len(),
        resources = dir.resources().len(),
        "documents loaded"
    );
    let Listeners {
        transport,
        mut incoming,
    } = listeners;
    let local = transport.local_addrs();
    for (proto, addr) in &local {
        tracing::info!(transport = ?proto, %addr, "SIP listening");
    }
    let engine = Engine::new(
        engine_config(&config, &local),
        dir,
        WallClock::new(Instant::now(), unix_now_ms()),
        Box::new(callrec_sip::token::random_u128),
    )
    .context("media.port_min/port_max")?;
    let media = MediaDriver::new(MediaDriverConfig {
        relay_ip: config.media.relay_ip,
        media_timeout: Duration::from_secs(config.media.media_timeout_s),
        hold_timeout: config
            .media
            .media_timeout_on_hold
            .then(|| Duration::from_secs(config.media.media_timeout_s)),
        flush_interval: Duration::from_millis(config.recording.flush_interval_ms),
        fsync_interval: (config.recording.fsync_interval_ms > 0)
            .then(|| Duration::from_millis(config.recording.fsync_interval_ms)),
        ..MediaDriverConfig::default()
    });
    services.metrics.set_sources(Sources {
        media: media.clone(),
        uploader: services.uploader.clone(),
        cdrs: services.cdrs.clone(),
        store: services.records.clone(),
    });
    let Services {
        spool,
        uploader,
        cdrs,
        records,
        documents,
        mut watcher,
        metrics,
    } = services;
    let mut server = Server {
        engine,
        media,
        calls: HashMap::new(),
        bound: HashMap::new(),
        recorders: HashMap::new(),
        recordings: HashMap::new(),
        transport: transport.clone(),
        spool,
        uploader,
        cdrs,
        records,
        metrics,
        reports: mpsc::unbounded_channel(),
    };
    let storage = with_cluster_storage(&loaded.storage, &config);
    server.engine.set_storage(storage.clone());
    server.uploader.set_storage(storage);
    let _ = watcher.applied.send(loaded.change_seq);
    // Bind the relay's reserve of ports before the first call.
    server.drive(Instant::now());
    // Gateways given by host name: resolved (and kept resolved) by a task of their own.
    let (resolved_tx, mut resolved_rx) = mpsc::unbounded_channel();
    let dns = match resolver::build_resolver(&config.dns.server_addrs()) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(error = %e, "no DNS resolver: gateways given by host name are skipped");
            None
        }
    };
    let dns = resolver::spawn(
        dns,
        resolver::Refresh::default(),
        server.engine.directory().host_queries(),
        resolved_tx,
    );

    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot install the SIGHUP handler")?;
    let mut stats_tick = tokio::time::interval(Duration::from_secs(30));
    stats_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut gauge_tick = tokio::time::interval(Duration::from_secs(1));
    gauge_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let media = server.media.clone();
    tokio::pin!(shutdown);

    loop {
        let deadline = server.engine.poll_timeout();
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
                    server.engine.handle_message(now, inc.from, inc.msg);
                    server.drive(now);
                }
                resolved = resolved_rx.recv() => {
                    if let Some(r) = resolved {
                        server.engine.handle_resolved(r.query, r.addrs);
                    }
                }
                report = server.reports.1.recv() => {
                    if let Some(report) = report {
                        server.on_report(report);
                    }
                }
                _ = sleep => {
                    let now = Instant::now();
                    server.engine.handle_timeout(now);
                    server.drive(now);
                }
                loaded = watcher.updates.recv() => {
                    if let Some(loaded) = loaded {
                        server.engine.set_directory(loaded.directory.clone());
                        let storage = with_cluster_storage(&loaded.storage, &config);
                        server.engine.set_storage(storage.clone());
                        server.uploader.set_storage(storage);
                        dns.set_queries(loaded.directory.host_queries());
                        let _ = watcher.applied.send(loaded.change_seq);
        // Bind the relay's reserve of ports before the first call.
        server.drive(Instant::now());
                        tracing::info!(change = loaded.change_seq, "documents changed; the next call uses them");
                    }
                }
                _ = media.events_waiting() => server.poll_media_events(),
                _ = gauge_tick.tick() => server.update_gauges(),
                _ = stats_tick.tick() => server.log_stats(),
                _ = hup_recv => documents.reload_now(),
            }
    }

    drop(dns);
    server.shutdown().await;
    server.log_stats();
    transport.shutdown();
    Ok(())
}

struct Server {
    engine: Engine,
    media: MediaDriver,
    /// Open relays.
    calls: HashMap<CallRef, CallMedia>,
    /// Relay port pairs bound ahead of calls (the engine's reserve).
    bound: HashMap<PortPair, BoundPair>,
    /// Running recorders: recording id → (call, the recorder's id in its call's relay).
    recorders: HashMap<String, (CallRef, RecordingId)>,
    /// Recordings between spool entry and finish: their metadata as first written (a discard
    /// files it again with its new state).
    recordings: HashMap<String, callrec_kazoo::recording::RecordingMetadata>,
    transport: SipSockets,
    spool: Arc<Spool>,
    uploader: Arc<UploaderHandle>,
    cdrs: CdrSink,
    records: StoreWriter,
    metrics: Arc<Metrics>,
    reports: (
        mpsc::UnboundedSender<Report>,
        mpsc::UnboundedReceiver<Report>,
    ),
}

/// The database row of a recording from its metadata (`None` without an account).
pub fn recording_row(
    metadata: &callrec_kazoo::recording::RecordingMetadata,
    state: &str,
) -> Option<Row> {
    Some(Row::Recording {
        id: metadata.id.clone(),
        account_id: metadata.account_id.clone()?,
        call_id: metadata.call_id.clone(),
        interaction_id: metadata.interaction_id.clone(),
        state: state.to_owned(),
        last_error: None,
        created: callrec_kazoo::gregorian::from_unix(metadata.start_unix_secs),
        body: serde_json::to_value(metadata).unwrap_or_default(),
    })
}

impl Server {
    /// After any input to the engine: send what it wants sent, carry out its commands (which
    /// may feed it more input), until both are drained.
    fn drive(&mut self, now: Instant) {
        loop {
            while let Some(t) = self.engine.poll_transmit() {
                self.transport.send(t);
            }
            let Some(command) = self.engine.poll_command() else {
                break;
            };
            self.execute(now, command);
        }
    }

    fn execute(&mut self, now: Instant, command: Command) {
        match command {
            Command::Media(MediaCommand::Bind { pairs }) => {
                let (mut bound, mut failed) = (Vec::new(), Vec::new());
                for pair in pairs {
                    match self.media.bind_pair(pair) {
                        Ok(sockets) => {
                            self.bound.insert(pair, sockets);
                            bound.push(pair);
                        }
                        Err(e) => {
                            tracing::debug!(port = pair.rtp, error = %e, "relay port busy; skipped");
                            failed.push(pair);
                        }
                    }
                }
                if bound.is_empty() && !failed.is_empty() {
                    tracing::error!(
                        pairs = failed.len(),
                        "no relay port could be bound (media.relay_ip, media.port_min/port_max)"
                    );
                }
                self.engine.handle_ports_bound(bound, failed);
            }
            Command::Media(MediaCommand::Open { call, ports }) => {
                let [a, b] = ports;
                match (self.bound.remove(&a), self.bound.remove(&b)) {
                    (Some(sa), Some(sb)) => {
                        let media = self.media.open_call(&call.to_string(), [sa, sb]);
                        self.calls.insert(call, media);
                    }
                    _ => {
                        tracing::warn!(%call, "the call's relay ports were not bound");
                        self.engine.handle_media_failed(now, call);
                    }
                }
            }
            Command::Media(MediaCommand::Relay { call, command }) => {
                if let Some(media) = self.calls.get(&call) {
                    let _ = media.apply(command);
                }
            }
            Command::Media(MediaCommand::Close { call }) => match self.calls.remove(&call) {
                Some(media) => {
                    let tx = self.reports.0.clone();
                    tokio::spawn(async move {
                        // Closing stops the call's recorders; their waiters report the files.
                        media.close().await;
                        let _ = tx.send(Report::MediaClosed(call));
                    });
                }
                None => self.engine.handle_media_closed(call),
            },
            Command::CreateSpoolEntry(entry) => self.create_spool_entry(*entry),
            Command::StartRecorder(start) => self.start_recorder(now, *start),
            Command::StopRecorder { call, id } => {
                if let (Some((_, rid)), Some(media)) =
                    (self.recorders.get(&id), self.calls.get(&call))
                {
                    media.request_stop(*rid);
                }
                // If the call's media is gone, closing it already stopped the recorder.
            }
            Command::FinishRecording(finished) => {
                self.recordings.remove(&finished.id);
                let state = match finished.disposition {
                    Disposition::Upload(_) => "finished",
                    Disposition::KeepLocal => "local",
                };
                if let Some(mut row) = recording_row(&finished.metadata, state) {
                    if let (Row::Recording { last_error, .. }, Some(why)) =
                        (&mut row, &finished.cut_short)
                    {
                        *last_error = Some(format!("cut short: {why}"));
                    }
                    self.records.write(row);
                }
                self.finish_recording(*finished)
            }
            Command::DiscardRecording { id } => {
                if let Some(row) = self
                    .recordings
                    .remove(&id)
                    .and_then(|m| recording_row(&m, "discarded"))
                {
                    self.records.write(row);
                }
                let spool = self.spool.clone();
                tokio::task::spawn_blocking(move || match spool.discard(&id) {
                    Ok(_) => tracing::info!(recording = %id, "recording discarded"),
                    Err(e) => tracing::error!(recording = %id, error = %e, "spool update failed"),
                });
            }
            Command::WriteCdr(cdr) => {
                // Serialized once, for the CDR file and for the database row.
                match serde_json::to_string(&*cdr) {
                    Ok(line) => {
                        let line: std::sync::Arc<str> = line.into();
                        if let Some(row) = cdr_row_text(&cdr, &line) {
                            self.records.write(row);
                        }
                        // Never waits and never drops while the writer runs (an unbounded queue).
                        self.cdrs.write_text(line);
                    }
                    Err(e) => tracing::warn!(error = %e, "CDR not serializable; dropped"),
                }
            }
        }
    }

    /// Writes the spool entry on the blocking pool; the engine starts the recorder when it is
    /// there.
    fn create_spool_entry(&mut self, entry: SpoolEntry) {
        if let Some(row) = recording_row(&entry.metadata, "recording") {
            self.records.write(row);
            self.recordings
                .insert(entry.id.clone(), entry.metadata.clone());
        }
        let spool = self.spool.clone();
        let tx = self.reports.0.clone();
        let new = NewRecording {
            id: entry.id.clone(),
            file_name: entry.file_name,
            content_type: entry.content_type.to_owned(),
            target: UploadTarget {
                method: entry.metadata.method.into(),
                url: entry.metadata.url.clone().unwrap_or_default(),
            },
            metadata: serde_json::to_value(&entry.metadata).unwrap_or_default(),
        };
        tokio::task::spawn_blocking(move || {
            let result = spool
                .create(new)
                .map(|e| e.audio_path)
                .map_err(|e| match e {
                    crate::spool::SpoolError::InsufficientSpace { .. } => {
                        SpoolRefusal::LowDiskSpace
                    }
                    other => SpoolRefusal::Failed(other.to_string()),
                });
            let _ = tx.send(Report::SpoolCreated {
                id: entry.id,
                result,
            });
        });
    }

    fn start_recorder(&mut self, now: Instant, start: RecorderStart) {
        let spec = RecordingSpec {
            path: start.path,
            format: match start.format {
                callrec_kazoo::recording::Format::Mp3 => crate::media::Format::Mp3,
                callrec_kazoo::recording::Format::Wav => crate::media::Format::Wav,
            },
            channels: start.channels,
            sample_rate: start.sample_rate,
            time_limit: start.time_limit,
            ..RecordingSpec::new(PathBuf::new())
        };
        let Some(media) = self.calls.get_mut(&start.call) else {
            self.engine.handle_recording_finished(
                now,
                &start.id,
                Err("the call's media is closed".to_owned()),
            );
            return;
        };
        match media.start_recording(spec, start.codecs) {
            Ok(handle) => {
                self.recorders
                    .insert(start.id.clone(), (start.call, handle.id()));
                let tx = self.reports.0.clone();
                let id = start.id;
                tokio::spawn(async move {
                    let result = handle
                        .wait()
                        .await
                        .map(|f| RecordedAudio {
                            duration_ms: f.duration_ms(),
                            sample_rate: f.sample_rate,
                            channels: f.channels,
                            cut_short: f.cut_short,
                        })
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Report::RecordingDone { id, result });
                });
            }
            Err(e) => self
                .engine
                .handle_recording_finished(now, &start.id, Err(e.to_string())),
        }
    }

    /// Updates the spool entry on the blocking pool and hands the recording to the uploader
    /// (or keeps it locally), as the engine decided.
    fn finish_recording(&self, finished: FinishedRecording) {
        let spool = self.spool.clone();
        let uploader = self.uploader.clone();
        tokio::task::spawn_blocking(move || {
            let FinishedRecording {
                id,
                duration_ms,
                metadata,
                disposition,
                cut_short,
            } = finished;
            let meta_json = serde_json::to_value(&metadata).unwrap_or_default();
            let outcome = (|| -> Result<&'static str, crate::spool::SpoolError> {
                spool.update(&id, |r| {
                    match &disposition {
                        Disposition::Upload(req) => r.target = UploadTarget::from(req),
                        Disposition::KeepLocal => r.target.url = String::new(),
                    }
                    r.metadata = meta_json;
                    if let Some(why) = &cut_short {
                        r.cut_short = Some(why.clone());
                        r.last_error = Some(format!("cut short: {why}"));
                    }
                    Ok(())
                })?;
                Ok(match disposition {
                    Disposition::Upload(_) => {
                        spool.finish(&id, duration_ms)?;
                        uploader.enqueue(id.clone());
                        "queued for upload"
                    }
                    Disposition::KeepLocal => {
                        spool.keep_local(&id, duration_ms)?;
                        "kept locally (no url)"
                    }
                })
            })();
            match outcome {
                Ok(what) => tracing::info!(recording = %id, duration_ms, "recording {what}"),
                Err(e) => tracing::error!(recording = %id, error = %e, "spool update failed"),
            }
        });
    }

    fn on_report(&mut self, report: Report) {
        let now = Instant::now();
        match report {
            Report::SpoolCreated { id, result } => {
                self.engine.handle_spool_created(now, &id, result);
            }
            Report::RecordingDone { id, result } => {
                self.recorders.remove(&id);
                self.engine.handle_recording_finished(now, &id, result);
            }
            Report::MediaClosed(call) => self.engine.handle_media_closed(call),
        }
        self.drive(now);
    }

    fn poll_media_events(&mut self) {
        let mut events = Vec::new();
        for (call, media) in &mut self.calls {
            while let Some(ev) = media.try_event() {
                events.push((*call, ev));
            }
        }
        if events.is_empty() {
            return;
        }
        let now = Instant::now();
        for (call, ev) in events {
            let ev = match ev {
                MediaEvent::MediaTimeout => EngineMediaEvent::Timeout,
                MediaEvent::Dtmf { leg, digit } => EngineMediaEvent::Dtmf { leg, digit },
            };
            self.engine.handle_media_event(now, call, ev);
        }
        self.drive(now);
    }

    /// Counters an operator watches: calls, relay packets and drops, recorder frames dropped
    /// (must stay 0), uploads, CDRs.
    fn update_gauges(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let e = self.engine.stats();
        let g = self.engine.guard_stats();
        self.metrics
            .guard_rate_limited
            .store(g.rate_limited, Relaxed);
        self.metrics
            .guard_blocked_requests
            .store(g.blocked_requests, Relaxed);
        self.metrics.guard_blocks.store(g.blocks, Relaxed);
        self.metrics
            .recordings_refused
            .store(e.recordings_refused, Relaxed);
        self.metrics
            .recordings_refused_disk
            .store(e.recordings_refused_disk, Relaxed);
        self.metrics
            .recordings_cut_short
            .store(e.recordings_cut_short, Relaxed);
        self.metrics.calls.store(e.calls as u64, Relaxed);
        self.metrics.calls_started.store(e.calls_started, Relaxed);
        self.metrics
            .media_calls
            .store(e.media_calls as u64, Relaxed);
        self.metrics.recordings.store(e.recordings as u64, Relaxed);
        self.metrics
            .ports_in_use
            .store(e.ports_in_use as u64, Relaxed);
    }

    fn log_stats(&self) {
        let m = self.media.counters();
        let u = self.uploader.stats();
        let e = self.engine.stats();
        let g = self.engine.guard_stats();
        tracing::info!(
            calls = e.calls,
            media_calls = e.media_calls,
            rtp_relayed = m.relayed,
            rtp_dropped_not_rtp = m.dropped_not_rtp,
            rtp_dropped_wrong_source = m.dropped_wrong_source,
            rtp_dropped_no_destination = m.dropped_destination_unknown,
            recorder_frames_queued = m.recorder_frames_queued,
            recorder_frames_dropped = m.recorder_frames_dropped,
            uploads_stored = u.stored,
            uploads_retried = u.retries,
            uploads_failed = u.failed,
            cdrs_written = self.cdrs.written(),
            cdrs_dropped = self.cdrs.dropped(),
            guard_rate_limited = g.rate_limited,
            guard_blocked_requests = g.blocked_requests,
            guard_blocks = g.blocks,
            recordings_refused = e.recordings_refused,
            recordings_refused_disk = e.recordings_refused_disk,
            recordings_cut_short = e.recordings_cut_short,
            "stats"
        );
    }

    /// Hangs up every call, waits (bounded) for recordings to be finished and spooled.
    async fn shutdown(&mut self) {
        let now = Instant::now();
        self.engine.hangup_all(now);
        self.drive(now);
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.engine.open_recordings() > 0 {
            match tokio::time::timeout_at(until, self.reports.1.recv()).await {
                Ok(Some(report)) => self.on_report(report),
                _ => break,
            }
        }
        // Let the blocking spool updates land before the uploader stops.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
