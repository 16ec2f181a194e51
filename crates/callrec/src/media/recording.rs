//! The recorder pool: a few threads (one per core) that each own many recordings. Each
//! recording's `Recorder` (sequencer, decoder, timeline, encoder) is fed by the relay shards:
//! a shard appends every recordable packet of every call it relays to one batch per worker
//! ([`RecorderOutbox`]: one contiguous buffer, no lock and no per-recording memory touched on
//! the relay's per-packet path) and hands its batches to the workers' [`Inbox`]es every
//! 10 ms (sooner when many have piled up); a worker wakes every [`BATCH_INTERVAL`], takes its
//! inbox at once and feeds each frame to its recording, and every `flush_interval` hands each file's audio to the OS
//! (silence included when nothing was heard), so a crash loses at most that much; every
//! `fsync_interval` (when set) it also `fdatasync`s each file, so a power loss loses at most
//! that much. A write that fails (a full disk) ends the recording there: the file is closed
//! valid with the audio written, reported as cut short, and the call goes on. Each tick it
//! also touches a heartbeat file in the recordings' directory ([`RECORDERS_ALIVE_FILE`]), so
//! recovery knows until when the recordings cut off by a crash were running.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use callrec_media::record::{
    CodecMap, FinishedRecording, RecordError, Recorder, RecorderConfig, RecordingSpec,
    RECORDERS_ALIVE_FILE,
};
use callrec_media::relay::Leg;
use callrec_media::Counters;
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

/// How often a worker takes its inbox. Each frame carries its arrival time, so batching changes
/// nothing in the file; it turns ~100 wake-ups per second per recording (one per packet) into
/// 10 per worker. An inbox holds at most `recorder_queue` (1000 by default: 10 s of a call's
/// packets) frames per recording of its worker; beyond that frames are dropped and counted.
const BATCH_INTERVAL: Duration = Duration::from_millis(100);

/// Emptied batches an inbox keeps for the shards to fill again.
const MAX_SPARES: usize = 32;

/// Entries (and about 200 bytes of packet each) a spare batch keeps room for.
const SPARE_ENTRIES: usize = 1024;

/// One entry of a [`FrameBatch`].
#[derive(Debug, Clone, Copy)]
enum Entry {
    /// A packet of recording `key`: `len` bytes at `start` in the batch's bytes.
    Frame {
        key: u64,
        leg: Leg,
        at: Instant,
        start: usize,
        len: usize,
    },
    /// Recording `key` ends at `at` (`None`: its feed was dropped without a stop).
    Stop { key: u64, at: Option<Instant> },
}

/// Frames and stops for one worker's recordings, in the order the shard saw them.
#[derive(Debug, Default)]
struct FrameBatch {
    entries: Vec<Entry>,
    bytes: Vec<u8>,
    frames: usize,
}

impl Entry {
    /// The recording it belongs to.
    fn key(&self) -> u64 {
        match *self {
            Entry::Frame { key, .. } | Entry::Stop { key, .. } => key,
        }
    }
}

impl FrameBatch {
    fn clear(&mut self) {
        self.entries.clear();
        self.bytes.clear();
        self.frames = 0;
    }
}

/// A worker's inbox: batches handed over by the shards, taken at each tick.
#[derive(Debug)]
pub(crate) struct Inbox {
    state: Mutex<InboxState>,
    /// Frames handed over and not taken yet.
    in_flight: AtomicUsize,
    /// Recordings running on the worker (the bound is per recording).
    recordings: AtomicUsize,
    /// Frames an inbox holds per recording.
    per_recording: usize,
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct InboxState {
    batches: Vec<FrameBatch>,
    /// Emptied batches, for the shards to fill again (no allocation once warm).
    spare: Vec<FrameBatch>,
}

impl Inbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, InboxState> {
        // A panic while holding it leaves plain buffers behind: still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands `batch` over; returns an empty one to fill next.
    fn deliver(&self, batch: FrameBatch) -> FrameBatch {
        self.in_flight.fetch_add(batch.frames, Ordering::Relaxed);
        let mut state = self.lock();
        state.batches.push(batch);
        state.spare.pop().unwrap_or_default()
    }

    /// Whether `more` frames beyond those handed over still fit.
    fn has_room(&self, more: usize) -> bool {
        let limit = self
            .per_recording
            .saturating_mul(self.recordings.load(Ordering::Relaxed).max(1));
        self.in_flight.load(Ordering::Relaxed) + more < limit
    }
}

/// A recording's feed, held by its call's relay: where its frames go.
#[derive(Debug)]
pub(crate) struct RecorderFeed {
    key: u64,
    worker: usize,
    inbox: Arc<Inbox>,
    /// Its stop went into an outbox: nothing to do when dropped.
    stopped: bool,
}

impl Drop for RecorderFeed {
    fn drop(&mut self) {
        if !self.stopped {
            // Dropped without a stop (a command for a call already closed): the recording ends
            // now. No frame of it was put in an outbox, so nothing can overtake this.
            let mut batch = FrameBatch::default();
            batch.entries.push(Entry::Stop {
                key: self.key,
                at: None,
            });
            let _ = self.inbox.deliver(batch);
        }
    }
}

/// A shard's batches, one per worker it has fed; handed over by [`flush`](Self::flush).
#[derive(Debug, Default)]
pub(crate) struct RecorderOutbox {
    /// Indexed by worker.
    batches: Vec<Option<(Arc<Inbox>, FrameBatch)>>,
    /// Entries queued since the last flush.
    pending: usize,
}

impl RecorderOutbox {
    fn batch(&mut self, feed: &RecorderFeed) -> &mut (Arc<Inbox>, FrameBatch) {
        if self.batches.len() <= feed.worker {
            self.batches.resize_with(feed.worker + 1, || None);
        }
        self.batches[feed.worker]
            .get_or_insert_with(|| (Arc::clone(&feed.inbox), FrameBatch::default()))
    }

    /// Queues a copy of `packet` for the recording of `feed`, without blocking; a frame that
    /// does not fit its worker's inbox is dropped and counted.
    pub(crate) fn push(&mut self, feed: &RecorderFeed, leg: Leg, at: Instant, packet: &[u8]) {
        let (inbox, batch) = self.batch(feed);
        if !inbox.has_room(batch.frames + 1) {
            inbox.counters.add_recorder_dropped();
            return;
        }
        let start = batch.bytes.len();
        batch.bytes.extend_from_slice(packet);
        batch.entries.push(Entry::Frame {
            key: feed.key,
            leg,
            at,
            start,
            len: packet.len(),
        });
        batch.frames += 1;
        self.pending += 1;
    }

    /// Entries waiting for the next [`flush`](Self::flush).
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// Ends the recording of `feed` at `at`, after the frames queued for it.
    pub(crate) fn stop(&mut self, mut feed: RecorderFeed, at: Instant) {
        feed.stopped = true;
        let (_, batch) = self.batch(&feed);
        batch.entries.push(Entry::Stop {
            key: feed.key,
            at: Some(at),
        });
        self.pending += 1;
    }

    /// Hands every non-empty batch to its worker's inbox (every few milliseconds).
    pub(crate) fn flush(&mut self) {
        self.pending = 0;
        for (inbox, batch) in self.batches.iter_mut().flatten() {
            if !batch.entries.is_empty() {
                // Counted per hand-over rather than per frame (a shared count per packet).
                inbox.counters.add_recorder_queued_many(batch.frames as u64);
                let full = std::mem::take(batch);
                *batch = inbox.deliver(full);
            }
        }
    }
}

/// Most worker threads, whatever the core count.
const MAX_WORKERS: usize = 8;

type Done = oneshot::Sender<Result<FinishedRecording, RecordError>>;

/// A recording handed to a worker.
struct Job {
    key: u64,
    spec: RecordingSpec,
    start: Instant,
    codecs: [CodecMap; 2],
    done: Done,
}

/// A worker's two doors: new recordings (rare, wake it) and frames (taken at its tick).
#[derive(Debug)]
struct WorkerHandle {
    jobs: mpsc::Sender<Job>,
    inbox: Arc<Inbox>,
}

/// The fixed pool of recorder threads. Dropping it lets the threads end once their recordings
/// have finished.
#[derive(Debug)]
pub(crate) struct RecorderPool {
    workers: Vec<WorkerHandle>,
    next: AtomicUsize,
    next_key: AtomicU64,
}

impl RecorderPool {
    /// Starts one worker per core (at most [`MAX_WORKERS`]); each syncs every recording's
    /// file every `flush_interval` and, with `fsync_interval`, makes it durable that often.
    /// A worker's inbox holds `queue` frames per recording; `counters` count the frames queued
    /// and dropped.
    pub(crate) fn new(
        flush_interval: Duration,
        fsync_interval: Option<Duration>,
        queue: usize,
        counters: Arc<Counters>,
    ) -> Self {
        let intervals = Intervals {
            flush: flush_interval,
            fsync: fsync_interval,
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut workers = Vec::new();
        for i in 0..cores.clamp(1, MAX_WORKERS) {
            let (tx, rx) = mpsc::channel();
            let inbox = Arc::new(Inbox {
                state: Mutex::new(InboxState::default()),
                in_flight: AtomicUsize::new(0),
                recordings: AtomicUsize::new(0),
                per_recording: queue.max(1),
                counters: Arc::clone(&counters),
            });
            let theirs = Arc::clone(&inbox);
            match std::thread::Builder::new()
                .name(format!("recorder-{i}"))
                .spawn(move || worker(rx, &theirs, intervals))
            {
                Ok(_) => workers.push(WorkerHandle { jobs: tx, inbox }),
                Err(e) => tracing::error!(error = %e, "could not start a recorder thread"),
            }
        }
        RecorderPool {
            workers,
            next: AtomicUsize::new(0),
            next_key: AtomicU64::new(1),
        }
    }

    /// Hands a recording to the next worker, which creates the file and records; does not wait
    /// for either. Returns the feed for the call's relay (frames go there until it is stopped
    /// or dropped) and where the finished file (or why it failed) is reported.
    pub(crate) fn start(
        &self,
        spec: RecordingSpec,
        start: Instant,
        codecs: [CodecMap; 2],
    ) -> Result<
        (
            RecorderFeed,
            oneshot::Receiver<Result<FinishedRecording, RecordError>>,
        ),
        MediaError,
    > {
        let (done, done_rx) = oneshot::channel();
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let mut job = Job {
            key,
            spec,
            start,
            codecs,
            done,
        };
        // Round robin; a worker that has gone away (it cannot, short of a panic) is skipped.
        // The job is sent before the feed exists, so the worker knows the recording before
        // any of its frames reach the inbox.
        for _ in 0..self.workers.len() {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
            let Some(w) = self.workers.get(i) else {
                continue;
            };
            w.inbox.recordings.fetch_add(1, Ordering::Relaxed);
            match w.jobs.send(job) {
                Ok(()) => {
                    let feed = RecorderFeed {
                        key,
                        worker: i,
                        inbox: Arc::clone(&w.inbox),
                        stopped: false,
                    };
                    return Ok((feed, done_rx));
                }
                Err(mpsc::SendError(j)) => {
                    w.inbox.recordings.fetch_sub(1, Ordering::Relaxed);
                    job = j;
                }
            }
        }
        Err(MediaError::Closed)
    }
}

/// How often a worker syncs its files.
#[derive(Debug, Clone, Copy)]
struct Intervals {
    /// Hand the audio to the OS.
    flush: Duration,
    /// `fdatasync` the file (`None`: never while recording).
    fsync: Option<Duration>,
}

/// One recording on a worker.
struct Active {
    /// The worker's heartbeat slot of the file's directory ([`Heartbeats::join`]).
    dir: usize,
    recorder: Recorder,
    done: Done,
    /// A write failed while taking frames.
    failed: Option<RecordError>,
    /// Its stop was taken: at this time, or `None` when its feed was dropped.
    stopped: Option<Option<Instant>>,
    /// Newest frame arrival seen.
    last: Instant,
    next_sync: Instant,
    next_fsync: Option<Instant>,
}

/// Why a recording left its worker.
enum End {
    /// Writing failed.
    Failed(RecordError),
    /// The relay stopped it at this time.
    Stopped(Instant),
}

impl Active {
    /// One frame from the inbox.
    fn frame(&mut self, leg: Leg, at: Instant, packet: &[u8]) {
        if self.failed.is_none() && self.stopped.is_none() {
            self.last = self.last.max(at);
            if let Err(e) = self.recorder.push(leg, at, packet) {
                self.failed = Some(e);
            }
        }
    }

    /// After the tick's frames: syncs the file when due. `Some` when the recording is over.
    fn step(&mut self, now: Instant, intervals: Intervals) -> Option<End> {
        if let Some(e) = self.failed.take() {
            return Some(End::Failed(e));
        }
        if let Some(at) = self.stopped {
            // Dropped without a stop (the call's relay is gone): it ended about now.
            return Some(End::Stopped(at.unwrap_or(now.max(self.last))));
        }
        if now >= self.next_sync {
            self.next_sync = now + intervals.flush;
            if let Err(e) = self.recorder.sync(now) {
                return Some(End::Failed(e));
            }
        }
        if let (Some(at), Some(every)) = (self.next_fsync, intervals.fsync) {
            if now >= at {
                self.next_fsync = Some(now + every);
                if let Err(e) = self.recorder.sync_data() {
                    return Some(End::Failed(e));
                }
            }
        }
        None
    }

    /// Finishes the file (at a stop) and tells the recording's owner.
    fn end(self, end: End, heartbeats: &mut Heartbeats) {
        heartbeats.leave(self.dir);
        let result = match end {
            End::Failed(e) => cut_short(self.recorder, e),
            End::Stopped(at) => finish(self.recorder, at),
        };
        let _ = self.done.send(result);
    }
}

/// A directory the worker records into.
struct HeartbeatDir {
    dir: PathBuf,
    /// The heartbeat file, once it could be created.
    file: Option<File>,
    /// Running recordings in the directory (0: a free slot).
    recordings: usize,
}

/// The worker's heartbeat files, one per directory it records into. A recording joins its
/// directory's slot once, at its start (the only path comparison), and leaves it at its end;
/// a tick touches the slots in use without looking at the recordings.
#[derive(Default)]
struct Heartbeats(Vec<HeartbeatDir>);

impl Heartbeats {
    /// The slot of `dir`, counting one more recording in it.
    fn join(&mut self, dir: PathBuf) -> usize {
        if let Some(i) = self.0.iter().position(|d| d.recordings > 0 && d.dir == dir) {
            if let Some(d) = self.0.get_mut(i) {
                d.recordings += 1;
            }
            return i;
        }
        let slot = HeartbeatDir {
            dir,
            file: None,
            recordings: 1,
        };
        match self.0.iter().position(|d| d.recordings == 0) {
            Some(i) => {
                if let Some(free) = self.0.get_mut(i) {
                    *free = slot;
                }
                i
            }
            None => {
                self.0.push(slot);
                self.0.len() - 1
            }
        }
    }

    /// A recording in slot `i` ended; the slot's file is closed with its last recording.
    fn leave(&mut self, i: usize) {
        if let Some(d) = self.0.get_mut(i) {
            d.recordings = d.recordings.saturating_sub(1);
            if d.recordings == 0 {
                d.file = None;
            }
        }
    }

    /// Touches the heartbeat of every directory with a running recording (one system call per
    /// directory, usually one).
    fn beat(&mut self) {
        let now = std::time::SystemTime::now();
        for d in self.0.iter_mut().filter(|d| d.recordings > 0) {
            if d.file.is_none() {
                match File::create(d.dir.join(RECORDERS_ALIVE_FILE)) {
                    Ok(file) => d.file = Some(file),
                    Err(e) => {
                        tracing::debug!(dir = %d.dir.display(), error = %e, "recorder heartbeat");
                        continue;
                    }
                }
            }
            if let Some(file) = &d.file {
                let _ = file.set_modified(now);
            }
        }
    }
}

fn worker(jobs: mpsc::Receiver<Job>, inbox: &Inbox, intervals: Intervals) {
    let mut active: HashMap<u64, Active> = HashMap::new();
    let mut heartbeats = Heartbeats::default();
    let mut taken: Vec<FrameBatch> = Vec::new();
    let mut ended: Vec<(u64, End)> = Vec::new();
    // (recording, batch, entry) of the entries taken in a tick, sorted.
    let mut order: Vec<(u64, u32, u32)> = Vec::new();
    let mut next_tick = Instant::now() + BATCH_INTERVAL;
    let mut open = true;
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        if open {
            match jobs.recv_timeout(wait) {
                Ok(job) => {
                    begin(job, intervals, &mut heartbeats, &mut active, inbox);
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => open = false,
            }
        } else if active.is_empty() {
            return;
        } else {
            std::thread::sleep(wait);
        }
        let now = Instant::now();
        next_tick = now + BATCH_INTERVAL;
        heartbeats.beat();
        // The inbox first, then the jobs: a recording's job was sent before any of its frames
        // could reach the inbox, so every frame taken has its recording begun.
        std::mem::swap(&mut inbox.lock().batches, &mut taken);
        while let Ok(job) = jobs.try_recv() {
            begin(job, intervals, &mut heartbeats, &mut active, inbox);
        }
        // Each recording's entries together (in their order: a recording's packets all come
        // from its call's shard, whose batches are taken in the order handed over), so that
        // a recording's state and buffers are touched once per tick rather than once per
        // packet between a thousand others' (cache misses were most of a worker's copying).
        order.clear();
        let mut frames = 0;
        for (b, batch) in taken.iter().enumerate() {
            frames += batch.frames;
            order.extend(
                batch
                    .entries
                    .iter()
                    .enumerate()
                    .map(|(i, entry)| (entry.key(), b as u32, i as u32)),
            );
        }
        order.sort_unstable();
        let mut current: Option<(u64, Option<&mut Active>)> = None;
        for &(key, b, i) in &order {
            let Some(batch) = taken.get(b as usize) else {
                continue;
            };
            let Some(entry) = batch.entries.get(i as usize) else {
                continue;
            };
            if current.as_ref().is_none_or(|(k, _)| *k != key) {
                // A recording that ended (a failed write) is no longer here.
                current = Some((key, active.get_mut(&key)));
            }
            let Some((_, Some(a))) = current.as_mut() else {
                continue;
            };
            match *entry {
                Entry::Frame {
                    leg,
                    at,
                    start,
                    len,
                    ..
                } => {
                    if let Some(packet) = batch.bytes.get(start..start + len) {
                        a.frame(leg, at, packet);
                    }
                }
                Entry::Stop { at, .. } => {
                    a.stopped.get_or_insert(at);
                }
            }
        }
        inbox.in_flight.fetch_sub(frames, Ordering::Relaxed);
        if !taken.is_empty() {
            let mut state = inbox.lock();
            for mut batch in taken.drain(..) {
                // Keep about as many spares as batches arrive per tick (a shard flushes every
                // 10 ms), none larger than a busy flush needs: the extra of a burst (a worker
                // that fell behind takes a large backlog at once) is given back.
                if state.spare.len() < MAX_SPARES {
                    batch.clear();
                    batch.entries.shrink_to(SPARE_ENTRIES);
                    batch.bytes.shrink_to(SPARE_ENTRIES * 200);
                    state.spare.push(batch);
                }
            }
        }
        for (key, a) in &mut active {
            if let Some(end) = a.step(now, intervals) {
                ended.push((*key, end));
            }
        }
        for (key, end) in ended.drain(..) {
            if let Some(a) = active.remove(&key) {
                inbox.recordings.fetch_sub(1, Ordering::Relaxed);
                a.end(end, &mut heartbeats);
            }
        }
    }
}

/// Creates the recording's file; a failure is reported to its owner at once (its frames, if
/// any come, are ignored).
fn begin(
    job: Job,
    intervals: Intervals,
    heartbeats: &mut Heartbeats,
    active: &mut HashMap<u64, Active>,
    inbox: &Inbox,
) {
    let Job {
        key,
        spec,
        start,
        codecs,
        done,
    } = job;
    let dir = spec.path.parent().map(PathBuf::from).unwrap_or_default();
    match Recorder::new(spec, start, codecs, RecorderConfig::default()) {
        Ok(recorder) => {
            active.insert(
                key,
                Active {
                    dir: heartbeats.join(dir),
                    recorder,
                    done,
                    failed: None,
                    stopped: None,
                    last: start,
                    next_sync: start + intervals.flush,
                    next_fsync: intervals.fsync.map(|every| start + every),
                },
            );
        }
        Err(e) => {
            inbox.recordings.fetch_sub(1, Ordering::Relaxed);
            let _ = done.send(Err(e));
        }
    }
}

/// A write failed (the disk is full, or the file system gave up): the file keeps what was
/// written and is closed valid; the recording ends here while the call goes on.
fn cut_short(recorder: Recorder, error: RecordError) -> Result<FinishedRecording, RecordError> {
    match recorder.abort(&error) {
        Ok(finished) => {
            tracing::warn!(
                path = %finished.path.display(),
                duration_ms = finished.duration.as_millis() as u64,
                error = %error,
                "recording cut short by a failed write; the file keeps the audio written and the call goes on"
            );
            Ok(finished)
        }
        Err(e) => {
            tracing::error!(error = %error, close_error = %e, "recording failed and its file could not be closed");
            Err(error)
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
