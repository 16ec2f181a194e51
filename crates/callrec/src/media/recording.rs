//! The recorder pool: a few threads (one per core) that each own many recordings. Each
//! recording's `Recorder` (sequencer, decoder, timeline, encoder) is fed by the relay shard
//! through a bounded batch queue; a worker wakes every [`BATCH_INTERVAL`], takes each of its
//! recordings' batch at once, and every `flush_interval` hands each file's audio to the OS
//! (silence included when nothing was heard), so a crash loses at most that much; every
//! `fsync_interval` (when set) it also `fdatasync`s each file, so a power loss loses at most
//! that much. A write that fails (a full disk) ends the recording there: the file is closed
//! valid with the audio written, reported as cut short, and the call goes on. Each tick it
//! also touches a heartbeat file in the recordings' directory ([`RECORDERS_ALIVE_FILE`]), so
//! recovery knows until when the recordings cut off by a crash were running.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use callrec_media::record::{
    CodecMap, FinishedRecording, FrameReceiver, RecordError, Recorder, RecorderConfig,
    RecordingSpec, RECORDERS_ALIVE_FILE,
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

/// How often a worker takes its recordings' queued frames. Each frame carries its arrival time,
/// so batching changes nothing in the file; it turns ~100 wake-ups per second per recording
/// (one per packet) into 10 per worker. The queue (1000 frames by default) holds 10 s of a
/// call's packets.
const BATCH_INTERVAL: Duration = Duration::from_millis(100);

/// Most worker threads, whatever the core count.
const MAX_WORKERS: usize = 8;

type Done = oneshot::Sender<Result<FinishedRecording, RecordError>>;

/// A recording handed to a worker.
struct Job {
    spec: RecordingSpec,
    start: Instant,
    codecs: [CodecMap; 2],
    frames: FrameReceiver,
    done: Done,
}

/// The fixed pool of recorder threads. Dropping it lets the threads end once their recordings
/// have finished.
#[derive(Debug)]
pub(crate) struct RecorderPool {
    workers: Vec<mpsc::Sender<Job>>,
    next: AtomicUsize,
}

impl RecorderPool {
    /// Starts one worker per core (at most [`MAX_WORKERS`]); each syncs every recording's
    /// file every `flush_interval` and, with `fsync_interval`, makes it durable that often.
    pub(crate) fn new(flush_interval: Duration, fsync_interval: Option<Duration>) -> Self {
        let intervals = Intervals {
            flush: flush_interval,
            fsync: fsync_interval,
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut workers = Vec::new();
        for i in 0..cores.clamp(1, MAX_WORKERS) {
            let (tx, rx) = mpsc::channel();
            match std::thread::Builder::new()
                .name(format!("recorder-{i}"))
                .spawn(move || worker(rx, intervals))
            {
                Ok(_) => workers.push(tx),
                Err(e) => tracing::error!(error = %e, "could not start a recorder thread"),
            }
        }
        RecorderPool {
            workers,
            next: AtomicUsize::new(0),
        }
    }

    /// Hands a recording to the next worker, which creates the file and records; does not wait
    /// for either. A file that cannot be created is reported through the returned receiver.
    pub(crate) fn start(
        &self,
        spec: RecordingSpec,
        start: Instant,
        codecs: [CodecMap; 2],
        frames: FrameReceiver,
    ) -> Result<oneshot::Receiver<Result<FinishedRecording, RecordError>>, MediaError> {
        let (done, done_rx) = oneshot::channel();
        let mut job = Job {
            spec,
            start,
            codecs,
            frames,
            done,
        };
        // Round robin; a worker that has gone away (it cannot, short of a panic) is skipped.
        for _ in 0..self.workers.len() {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
            match self.workers[i].send(job) {
                Ok(()) => return Ok(done_rx),
                Err(mpsc::SendError(j)) => job = j,
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
    frames: FrameReceiver,
    done: Done,
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
    /// Takes the queued frames; syncs the file when due. `Some` when the recording is over.
    fn step(&mut self, now: Instant, intervals: Intervals) -> Option<End> {
        let mut error = None;
        let recorder = &mut self.recorder;
        let last = &mut self.last;
        let stopped = self.frames.drain(|leg, at, packet| {
            if error.is_none() {
                *last = (*last).max(at);
                if let Err(e) = recorder.push(leg, at, packet) {
                    error = Some(e);
                }
            }
        });
        if let Some(e) = error {
            return Some(End::Failed(e));
        }
        if let Some(at) = stopped {
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

fn worker(jobs: mpsc::Receiver<Job>, intervals: Intervals) {
    let mut active: Vec<Active> = Vec::new();
    let mut heartbeats = Heartbeats::default();
    let mut next_tick = Instant::now() + BATCH_INTERVAL;
    let mut open = true;
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        if open {
            match jobs.recv_timeout(wait) {
                Ok(job) => {
                    if let Some(a) = begin(job, intervals, &mut heartbeats) {
                        active.push(a);
                    }
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
        let mut i = 0;
        while i < active.len() {
            match active.get_mut(i).and_then(|a| a.step(now, intervals)) {
                Some(end) => active.swap_remove(i).end(end, &mut heartbeats),
                None => i += 1,
            }
        }
    }
}

/// Creates the recording's file; a failure is reported to its owner at once.
fn begin(job: Job, intervals: Intervals, heartbeats: &mut Heartbeats) -> Option<Active> {
    let Job {
        spec,
        start,
        codecs,
        frames,
        done,
    } = job;
    let dir = spec.path.parent().map(PathBuf::from).unwrap_or_default();
    match Recorder::new(spec, start, codecs, RecorderConfig::default()) {
        Ok(recorder) => Some(Active {
            dir: heartbeats.join(dir),
            recorder,
            frames,
            done,
            last: start,
            next_sync: start + intervals.flush,
            next_fsync: intervals.fsync.map(|every| start + every),
        }),
        Err(e) => {
            let _ = done.send(Err(e));
            None
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
