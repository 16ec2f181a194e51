//! The relay shards: a few threads (one per core, at most [`MAX_SHARDS`]) that each relay many
//! calls, instead of one tokio task per call. A shard owns its calls' sockets in one
//! `mio::Poll` (edge-triggered epoll); one wake-up serves every socket that became readable
//! since the last one, so at a steady 100,000 packets/s a shard sleeps and wakes far less
//! often than once per packet, and no task is scheduled per packet.
//!
//! - Call handles send [`Command`]s through the shard's channel and wake it with its
//!   `mio::Waker`; opening and closing a call go the same way.
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

use mio::{Events, Interest, Poll, Token, Waker};
use tokio::sync::oneshot;

use super::error::MediaError;
use super::relay_task::{Command, RelayCall, MAX_DATAGRAM, SOCKETS};

/// Most shard threads, whatever the core count.
pub(crate) const MAX_SHARDS: usize = 8;

/// Most datagrams read from one socket in a row, so that one busy socket cannot starve the
/// others; the rest are read after one pass over the other ready sockets.
const MAX_BURST: usize = 32;

/// The waker's token; sockets have `slot * SOCKETS + socket index`.
const WAKER: Token = Token(usize::MAX);

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
            call.finish(Instant::now());
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
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (tx, rx) = mpsc::channel();
    let load = Arc::new(AtomicUsize::new(0));
    let shard = Shard::new(poll, rx, Arc::clone(&load));
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
    poll: Poll,
    commands: mpsc::Receiver<ShardCommand>,
    load: Arc<AtomicUsize>,
    /// Calls by slot; a socket's token names its slot.
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    ids: HashMap<u64, usize>,
    timers: Timers,
    /// Sockets left with datagrams when their burst ran out: (slot, call id, socket).
    pending: Vec<(usize, u64, usize)>,
    buf: Box<[u8; MAX_DATAGRAM]>,
}

impl Shard {
    fn new(poll: Poll, commands: mpsc::Receiver<ShardCommand>, load: Arc<AtomicUsize>) -> Self {
        Shard {
            poll,
            commands,
            load,
            slots: Vec::new(),
            free: Vec::new(),
            ids: HashMap::new(),
            timers: Timers::default(),
            pending: Vec::new(),
            buf: Box::new([0; MAX_DATAGRAM]),
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS);
        loop {
            let timeout = if self.pending.is_empty() {
                self.timers
                    .next()
                    .map(|at| at.saturating_duration_since(Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "relay shard poll failed");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            // Commands first: the engine's decisions (a new address after a re-INVITE, a
            // recording started) were made before the datagrams now waiting were read. A
            // socket event for a slot a close freed and an open reused in between reads the
            // new call's socket, which is harmless.
            if !self.take_commands() {
                break;
            }
            for (slot, id, socket) in std::mem::take(&mut self.pending) {
                self.read(slot, Some(id), socket);
            }
            for event in events.iter() {
                let token = event.token();
                if token != WAKER {
                    self.read(token.0 / SOCKETS, None, token.0 % SOCKETS);
                }
            }
            self.expire(Instant::now());
        }
        // Every handle is gone (each closed its call first); close anything left.
        let ids: Vec<u64> = self.ids.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
    }

    /// Reads one socket of the call in `slot` (`id`: only if it is still that call).
    fn read(&mut self, slot: usize, id: Option<u64>, socket: usize) {
        let Some(Some(s)) = self.slots.get_mut(slot) else {
            return;
        };
        if id.is_some_and(|id| id != s.id) {
            return;
        }
        if s.call.drain_socket(socket, &mut self.buf[..], MAX_BURST) {
            self.pending.push((slot, s.id, socket));
        }
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
                        s.call.command(Instant::now(), command);
                        arm(&mut self.timers, slot, s);
                    }
                }
                Ok(ShardCommand::Close { id, done }) => {
                    self.close(id);
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
                Err(mpsc::TryRecvError::Empty) => return true,
                Err(mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn open(&mut self, id: u64, mut call: RelayCall) {
        let slot = self.free.pop().unwrap_or(self.slots.len());
        let registry = self.poll.registry();
        let mut registered = 0;
        let mut failure = None;
        for (i, socket) in call.sockets_mut().iter_mut().enumerate() {
            match registry.register(socket, Token(slot * SOCKETS + i), Interest::READABLE) {
                Ok(()) => registered += 1,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failure {
            tracing::error!(error = %e, "relay sockets could not be polled; the call has no media");
            for socket in call.sockets_mut().iter_mut().take(registered) {
                let _ = registry.deregister(socket);
            }
            call.finish(Instant::now());
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
        let Some(mut s) = self.slots.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let registry = self.poll.registry();
        for socket in s.call.sockets_mut().iter_mut() {
            let _ = registry.deregister(socket);
        }
        s.call.finish(Instant::now());
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
            s.call.handle_timeout(now);
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
