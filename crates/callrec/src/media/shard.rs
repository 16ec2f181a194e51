//! The relay shards: a few threads (one per core, at most [`MAX_SHARDS`]) that each relay many
//! calls, instead of one tokio task per call. A shard owns its calls' sockets in one
//! level-triggered epoll; one wake-up serves every socket that is readable, so at a steady
//! 100,000 packets/s a shard sleeps and wakes far less often than once per packet, and no
//! task is scheduled per packet. Each ready socket gives one datagram per wake-up (a socket
//! with more is reported again by the next wait): no busy socket starves the others, and no
//! `recvfrom` is spent finding a socket empty, as edge-triggered polling needs (that was one
//! system call in three of the relay's).
//!
//! - Call handles send [`Command`]s through the shard's channel and wake it with its eventfd;
//!   opening and closing a call go the same way.
//! - The calls' relay deadlines (media timeout, recordings' time limits) are in a heap
//!   ([`Timers`]) that gives the poll its timeout. A call's entry is moved only to an earlier
//!   time: a later deadline (every packet moves the media timeout) is found when the earlier
//!   entry fires and `CallRelay::handle_timeout` has nothing to do yet.
//! - Events go back to the engine side on each call's unbounded tokio channel (sending from a
//!   plain thread neither blocks nor needs a runtime).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use std::os::fd::{AsFd, OwnedFd};

use rustix::event::epoll::{self, Event, EventData, EventFlags};
use rustix::event::{eventfd, EventfdFlags, Timespec};
use tokio::sync::oneshot;

use super::error::MediaError;
use super::recording::RecorderOutbox;
use super::relay_task::{Command, RelayCall, MAX_DATAGRAM, SOCKETS};

/// Most shard threads, whatever the core count.
pub(crate) const MAX_SHARDS: usize = 8;

/// How often a shard hands its recorder batches over at most (a worker takes them every
/// 100 ms), unless [`FLUSH_ENTRIES`] have piled up: a few batches per worker tick instead of
/// one per wake-up, so the batches go round between shard and worker without allocating.
const FLUSH_EVERY: Duration = Duration::from_millis(10);

/// Entries that make a shard hand its batches over at once.
const FLUSH_ENTRIES: usize = 4096;

/// The waker's token; sockets have `slot * SOCKETS + socket index`.
const WAKER: u64 = u64::MAX;

/// Readiness events taken per poll.
const EVENTS: usize = 1024;

/// What a call handle asks of its shard.
pub(crate) enum ShardCommand {
    /// Relay this call from now on.
    Open { id: u64, call: Box<RelayCall> },
    /// A command for a call (ignored once the call is closed).
    Call { id: u64, command: Command },
    /// Close the call: stop its recordings, close its sockets, end its events; then `done`.
    Close {
        id: u64,
        done: Option<oneshot::Sender<()>>,
    },
}

/// Wakes a shard's thread from its epoll wait: an eventfd in its epoll set.
#[derive(Debug)]
struct Waker(OwnedFd);

impl Waker {
    fn wake(&self) -> std::io::Result<()> {
        match rustix::io::write(&self.0, &1u64.to_ne_bytes()) {
            // The counter is full: the shard has plenty of wake-ups pending already.
            Ok(_) | Err(rustix::io::Errno::AGAIN) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Resets the counter (the shard is awake), so the level-triggered wait stops reporting it.
    fn reset(&self) {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&self.0, &mut buf);
    }
}

/// A shard's address: its command channel and waker. Dropping the last one lets the thread
/// end.
struct ShardHandle {
    commands: Option<mpsc::Sender<ShardCommand>>,
    waker: Arc<Waker>,
    /// Calls open on the shard (for least-load placement).
    load: Arc<AtomicUsize>,
}

impl ShardHandle {
    fn send(&self, command: ShardCommand) -> Result<(), MediaError> {
        let commands = self.commands.as_ref().ok_or(MediaError::Closed)?;
        commands.send(command).map_err(|_| MediaError::Closed)?;
        self.waker.wake().map_err(|_| MediaError::Closed)
    }
}

impl Clone for ShardHandle {
    fn clone(&self) -> Self {
        ShardHandle {
            commands: self.commands.clone(),
            waker: Arc::clone(&self.waker),
            load: Arc::clone(&self.load),
        }
    }
}

impl Drop for ShardHandle {
    fn drop(&mut self) {
        // Drop the sender first, then wake: the shard then sees the channel disconnected once
        // every handle is gone.
        drop(self.commands.take());
        let _ = self.waker.wake();
    }
}

impl std::fmt::Debug for ShardHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardHandle")
            .field("load", &self.load.load(Ordering::Relaxed))
            .finish()
    }
}

/// The relay shards of a driver.
#[derive(Debug)]
pub(crate) struct RelayShards {
    shards: Vec<ShardHandle>,
    next_id: AtomicU64,
    /// Where the search for the least loaded shard starts (rotates, so ties go round robin).
    next: AtomicUsize,
}

impl RelayShards {
    /// Starts `threads` shards (0: one per core), at most [`MAX_SHARDS`].
    pub(crate) fn new(threads: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let count = if threads == 0 { cores } else { threads }.clamp(1, MAX_SHARDS);
        let mut shards = Vec::new();
        for i in 0..count {
            match start_shard(i) {
                Ok(handle) => shards.push(handle),
                Err(e) => tracing::error!(error = %e, "could not start a relay shard"),
            }
        }
        RelayShards {
            shards,
            next_id: AtomicU64::new(1),
            next: AtomicUsize::new(0),
        }
    }

    /// Number of shards running.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards.len()
    }

    /// Hands `call` to the least loaded shard. A call that no shard took (none could be
    /// started) is closed at once: its recordings stop and its events end.
    pub(crate) fn open(&self, call: RelayCall) -> CallLink {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let n = self.shards.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let shard = (0..n)
            .filter_map(|k| self.shards.get((start + k) % n))
            .min_by_key(|s| s.load.load(Ordering::Relaxed));
        let Some(shard) = shard else {
            // A new call has no recordings yet: nothing goes to the outbox.
            call.finish(Instant::now(), &mut RecorderOutbox::default());
            return CallLink {
                id,
                shard: None,
                closed: true,
            };
        };
        shard.load.fetch_add(1, Ordering::Relaxed);
        let link = CallLink {
            id,
            shard: Some(shard.clone()),
            closed: false,
        };
        if let Err(e) = shard.send(ShardCommand::Open {
            id,
            call: Box::new(call),
        }) {
            tracing::error!(error = %e, "relay shard gone; the call has no media");
        }
        link
    }
}

/// A call handle's link to its call on a shard. Dropping it closes the call.
#[derive(Debug)]
pub(crate) struct CallLink {
    id: u64,
    shard: Option<ShardHandle>,
    closed: bool,
}

impl CallLink {
    /// Sends a command to the call; fails once the shard is gone.
    pub(crate) fn send(&self, command: Command) -> Result<(), MediaError> {
        let shard = self.shard.as_ref().ok_or(MediaError::Closed)?;
        shard.send(ShardCommand::Call {
            id: self.id,
            command,
        })
    }

    /// Closes the call; the receiver completes once its recordings are stopped and its
    /// sockets closed (or the shard is gone).
    pub(crate) fn close(mut self) -> oneshot::Receiver<()> {
        let (done, rx) = oneshot::channel();
        self.closed = true;
        if let Some(shard) = &self.shard {
            let _ = shard.send(ShardCommand::Close {
                id: self.id,
                done: Some(done),
            });
        }
        rx
    }

    /// A copy of the link that does not close the call when dropped (tests send commands
    /// after the call is closed).
    #[cfg(test)]
    pub(crate) fn detached(&self) -> CallLink {
        CallLink {
            id: self.id,
            shard: self.shard.clone(),
            closed: true,
        }
    }
}

impl Drop for CallLink {
    fn drop(&mut self) {
        if !self.closed {
            if let Some(shard) = &self.shard {
                let _ = shard.send(ShardCommand::Close {
                    id: self.id,
                    done: None,
                });
            }
        }
    }
}

fn start_shard(i: usize) -> std::io::Result<ShardHandle> {
    let poll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    let waker = Arc::new(Waker(eventfd(
        0,
        EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK,
    )?));
    epoll::add(&poll, &waker.0, EventData::new_u64(WAKER), EventFlags::IN)?;
    let (tx, rx) = mpsc::channel();
    let load = Arc::new(AtomicUsize::new(0));
    let shard = Shard::new(poll, Arc::clone(&waker), rx, Arc::clone(&load));
    std::thread::Builder::new()
        .name(format!("relay-{i}"))
        .spawn(move || shard.run())?;
    Ok(ShardHandle {
        commands: Some(tx),
        waker,
        load,
    })
}

/// The relay deadlines of a shard's calls: (when, slot, call id), earliest first. Entries
/// are never removed early; a stale one (the call closed, or re-armed earlier) is skipped by
/// the caller when it comes up.
#[derive(Debug, Default)]
pub(crate) struct Timers(BinaryHeap<Reverse<(Instant, usize, u64)>>);

impl Timers {
    pub(crate) fn push(&mut self, at: Instant, slot: usize, id: u64) {
        self.0.push(Reverse((at, slot, id)));
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.0.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The earliest entry due at `now`, removed.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, usize, u64)> {
        if self.next()? > now {
            return None;
        }
        self.0.pop().map(|Reverse(entry)| entry)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// A call on its shard.
struct Slot {
    id: u64,
    call: RelayCall,
    /// The deadline of the call's live entry in the timers (at most one is live).
    armed: Option<Instant>,
}

/// A shard thread's state.
struct Shard {
    /// The epoll set: every call's sockets and the waker.
    poll: OwnedFd,
    waker: Arc<Waker>,
    commands: mpsc::Receiver<ShardCommand>,
    load: Arc<AtomicUsize>,
    /// Calls by slot; a socket's token names its slot.
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    ids: HashMap<u64, usize>,
    timers: Timers,
    buf: Box<[u8; MAX_DATAGRAM]>,
    /// Recordable packets and recording stops for the recorder workers, handed over every
    /// [`FLUSH_EVERY`].
    outbox: RecorderOutbox,
    next_flush: Instant,
}

/// An empty event slot for the wait to fill.
const NO_EVENT: Event = Event {
    flags: EventFlags::empty(),
    data: EventData::new_u64(0),
};

/// A wait's timeout as epoll takes it.
fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

impl Shard {
    fn new(
        poll: OwnedFd,
        waker: Arc<Waker>,
        commands: mpsc::Receiver<ShardCommand>,
        load: Arc<AtomicUsize>,
    ) -> Self {
        Shard {
            poll,
            waker,
            commands,
            load,
            slots: Vec::new(),
            free: Vec::new(),
            ids: HashMap::new(),
            timers: Timers::default(),
            buf: Box::new([0; MAX_DATAGRAM]),
            outbox: RecorderOutbox::default(),
            next_flush: Instant::now(),
        }
    }

    fn run(mut self) {
        let mut events = vec![NO_EVENT; EVENTS];
        loop {
            let mut wake_at = self.timers.next();
            if self.outbox.pending() > 0 {
                wake_at = Some(wake_at.map_or(self.next_flush, |t| t.min(self.next_flush)));
            }
            let timeout = wake_at.map(|at| timespec(at.saturating_duration_since(Instant::now())));
            let ready = match epoll::wait(&self.poll, &mut events[..], timeout.as_ref()) {
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "relay shard poll failed");
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            // Commands first: the engine's decisions (a new address after a re-INVITE, a
            // recording started) were made before the datagrams now waiting were read. A
            // socket event for a slot a close freed and an open reused in between reads the
            // new call's socket, which is harmless.
            //
            // The waker's counter is reset before the commands are taken: a wake-up written
            // after the reset is seen by the next wait, and none is consumed without the
            // commands being taken after it (reset after them, the wake-up of a command queued
            // in between was lost and the command waited for the next packet or timer).
            let events = events.get(..ready).unwrap_or_default();
            if events.iter().any(|e| e.data.u64() == WAKER) {
                self.waker.reset();
            }
            if !self.take_commands() {
                break;
            }
            for event in events {
                let token = event.data.u64();
                if token == WAKER {
                    continue;
                }
                if let Ok(token) = usize::try_from(token) {
                    self.read(token / SOCKETS, token % SOCKETS);
                }
            }
            let now = Instant::now();
            self.expire(now);
            if now >= self.next_flush || self.outbox.pending() >= FLUSH_ENTRIES {
                self.outbox.flush();
                self.next_flush = now + FLUSH_EVERY;
            }
        }
        // Every handle is gone (each closed its call first); close anything left.
        let ids: Vec<u64> = self.ids.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
        self.outbox.flush();
    }

    /// Reads one datagram from one socket of the call in `slot` (the wait reports the socket
    /// again while it has more).
    fn read(&mut self, slot: usize, socket: usize) {
        let Some(Some(s)) = self.slots.get_mut(slot) else {
            return;
        };
        s.call
            .read_socket(socket, &mut self.buf[..], &mut self.outbox);
        arm(&mut self.timers, slot, s);
    }

    /// Carries out every queued command; `false` once every handle is gone.
    fn take_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(ShardCommand::Open { id, call }) => self.open(id, *call),
                Ok(ShardCommand::Call { id, command }) => {
                    let Some(&slot) = self.ids.get(&id) else {
                        // The call is closed: nothing to do. A recorder's queue dropped here
                        // ends that recording now.
                        continue;
                    };
                    if let Some(Some(s)) = self.slots.get_mut(slot) {
                        s.call.command(Instant::now(), command, &mut self.outbox);
                        arm(&mut self.timers, slot, s);
                    }
                }
                Ok(ShardCommand::Close { id, done }) => {
                    self.close(id);
                    // The recordings' stops reach their workers before the close is reported.
                    self.outbox.flush();
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
                Err(mpsc::TryRecvError::Empty) => return true,
                Err(mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn open(&mut self, id: u64, call: RelayCall) {
        let slot = self.free.pop().unwrap_or(self.slots.len());
        let mut registered = 0;
        let mut failure = None;
        for (i, socket) in call.sockets().iter().enumerate() {
            let token = (slot * SOCKETS + i) as u64;
            match epoll::add(
                &self.poll,
                socket.as_fd(),
                EventData::new_u64(token),
                EventFlags::IN,
            ) {
                Ok(()) => registered += 1,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failure {
            tracing::error!(error = %e, "relay sockets could not be polled; the call has no media");
            for socket in call.sockets().iter().take(registered) {
                let _ = epoll::delete(&self.poll, socket.as_fd());
            }
            call.finish(Instant::now(), &mut self.outbox);
            self.free.push(slot);
            self.load.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let mut s = Slot {
            id,
            call,
            armed: None,
        };
        arm(&mut self.timers, slot, &mut s);
        if slot == self.slots.len() {
            self.slots.push(Some(s));
        } else if let Some(entry) = self.slots.get_mut(slot) {
            *entry = Some(s);
        }
        self.ids.insert(id, slot);
    }

    fn close(&mut self, id: u64) {
        let Some(slot) = self.ids.remove(&id) else {
            return;
        };
        let Some(s) = self.slots.get_mut(slot).and_then(Option::take) else {
            return;
        };
        for socket in s.call.sockets() {
            let _ = epoll::delete(&self.poll, socket.as_fd());
        }
        s.call.finish(Instant::now(), &mut self.outbox);
        self.free.push(slot);
        self.load.fetch_sub(1, Ordering::Relaxed);
    }

    /// Runs the timers due at `now`.
    fn expire(&mut self, now: Instant) {
        while let Some((at, slot, id)) = self.timers.pop_due(now) {
            let Some(Some(s)) = self.slots.get_mut(slot) else {
                continue;
            };
            if s.id != id || s.armed != Some(at) {
                continue; // stale: closed, or re-armed earlier
            }
            s.armed = None;
            s.call.handle_timeout(now, &mut self.outbox);
            arm(&mut self.timers, slot, s);
        }
    }
}

/// Arms the call's timer if its relay wants waking earlier than the live entry (or has none).
fn arm(timers: &mut Timers, slot: usize, s: &mut Slot) {
    if let Some(want) = s.call.poll_timeout() {
        if s.armed.is_none_or(|armed| want < armed) {
            s.armed = Some(want);
            timers.push(want, slot, s.id);
        }
    }
}
