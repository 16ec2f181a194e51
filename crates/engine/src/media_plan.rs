//! The B2BUA's media seam, sans-IO: relay ports come from a [`PortPool`] the engine owns, SDP
//! is rewritten by each call's [`MediaSession`], and what the relay driver must do is queued as
//! [`MediaCommand`]s. Nothing waits on a socket.
//!
//! Ports are bound before any SDP names them: the plan keeps a reserve of port pairs the driver
//! has already bound (`Bind`, answered by [`MediaPlan::bound`]); a new call takes two of them,
//! so `Open` hands sockets that exist to the call's relay and cannot fail on a port another
//! program holds (such a port is reported failed at `Bind` and goes to the back of the pool).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use bytes::Bytes;
use callrec_media::record::CodecMap;
use callrec_media::relay::{Leg, PortPair, PortPool, PortPoolError};
use callrec_media::session::{MediaSession, SessionCommand, SessionError};

use crate::b2bua::{CallRef, LegId, MediaSeam, MediaSeamError};

/// Port pairs kept bound and ready for new calls (two per call).
pub const RESERVE_PAIRS: usize = 16;

/// What the media driver must do for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaCommand {
    /// Bind these port pairs (RTP and RTCP each) on the relay address and keep the sockets for
    /// a later `Open`; answer with [`Engine::handle_ports_bound`](crate::Engine::handle_ports_bound).
    Bind {
        /// The pairs.
        pairs: Vec<PortPair>,
    },
    /// Bind the relay sockets of `ports` (leg A's pair, then leg B's) on the relay address and
    /// start relaying. Answer with [`Engine::handle_media_failed`](crate::Engine::handle_media_failed)
    /// if that is not possible.
    Open {
        /// The call.
        call: CallRef,
        /// Leg A's port pair, leg B's.
        ports: [PortPair; 2],
    },
    /// Apply a session change to the call's relay.
    Relay {
        /// The call.
        call: CallRef,
        /// The change.
        command: SessionCommand,
    },
    /// Stop relaying and close the sockets (running recorders stop now). Answer with
    /// [`Engine::handle_media_closed`](crate::Engine::handle_media_closed) once the ports are
    /// free.
    Close {
        /// The call.
        call: CallRef,
    },
}

/// The media side of every call.
#[derive(Debug)]
pub struct MediaPlan {
    relay_ip: IpAddr,
    recordable_codecs_only: bool,
    pool: PortPool,
    /// Pairs the driver has bound, not used by a call yet.
    ready: VecDeque<PortPair>,
    /// Pairs asked to be bound, not answered yet.
    binding: usize,
    /// Pairs that failed to bind since the last one that bound: once every pair of the range
    /// has failed in a row, stop asking (a relay address where nothing binds must not loop).
    failed_in_a_row: usize,
    sessions: HashMap<CallRef, MediaSession>,
    /// Calls whose sockets are being closed: their ports return to the pool when the driver
    /// says they are closed.
    closing: HashMap<CallRef, [PortPair; 2]>,
    out: VecDeque<MediaCommand>,
}

fn leg_of(id: LegId) -> Leg {
    if id.is_a() {
        Leg::A
    } else {
        Leg::B
    }
}

fn seam_error(e: SessionError) -> MediaSeamError {
    match e {
        SessionError::Sdp(_) => MediaSeamError::BadSdp("unparseable SDP"),
        SessionError::NoAudio => MediaSeamError::BadSdp("no audio stream"),
        SessionError::NoG711 => MediaSeamError::BadSdp("neither PCMU nor PCMA offered"),
    }
}

impl MediaPlan {
    /// Relay on `relay_ip`, ports `port_min..=port_max`.
    pub fn new(
        relay_ip: IpAddr,
        port_min: u16,
        port_max: u16,
        recordable_codecs_only: bool,
    ) -> Result<Self, PortPoolError> {
        Ok(MediaPlan {
            relay_ip,
            recordable_codecs_only,
            pool: PortPool::new(port_min, port_max)?,
            ready: VecDeque::new(),
            binding: 0,
            failed_in_a_row: 0,
            sessions: HashMap::new(),
            closing: HashMap::new(),
            out: VecDeque::new(),
        }
        .refilled())
    }

    fn refilled(mut self) -> Self {
        self.refill();
        self
    }

    /// Asks the driver to bind pairs until the reserve is full.
    fn refill(&mut self) {
        let mut pairs = Vec::new();
        while self.ready.len() + self.binding + pairs.len() < RESERVE_PAIRS {
            match self.pool.allocate() {
                Ok(p) => pairs.push(p),
                Err(_) => break,
            }
        }
        if !pairs.is_empty() {
            self.binding += pairs.len();
            self.out.push_back(MediaCommand::Bind { pairs });
        }
    }

    /// The driver bound `bound` and could not bind `failed` (another program holds a port):
    /// the first join the reserve, the others go back to the end of the pool.
    pub fn bound(&mut self, bound: Vec<PortPair>, failed: Vec<PortPair>) {
        self.binding = self.binding.saturating_sub(bound.len() + failed.len());
        if bound.is_empty() {
            self.failed_in_a_row += failed.len();
        } else {
            self.failed_in_a_row = 0;
        }
        self.ready.extend(bound);
        for p in failed {
            self.pool.release(p);
        }
        // Other programs (another callrec on this machine) may hold the first ports of the
        // range: keep trying further ones, until every pair has failed in a row.
        if self.failed_in_a_row < self.pool.available() + self.pool.in_use() {
            self.refill();
        }
    }

    /// The next command for the media driver.
    pub fn poll_command(&mut self) -> Option<MediaCommand> {
        self.out.pop_front()
    }

    /// Calls with media open.
    pub fn open_calls(&self) -> usize {
        self.sessions.len()
    }

    /// Port pairs used by calls (open and closing; the reserve is not counted).
    pub fn ports_in_use(&self) -> usize {
        self.pool
            .in_use()
            .saturating_sub(self.ready.len() + self.binding)
    }

    /// The payload types each leg of `call` named, for a recorder starting now.
    pub fn codecs(&self, call: CallRef) -> Option<[CodecMap; 2]> {
        self.sessions.get(&call).map(MediaSession::codecs)
    }

    /// Whether `call` has media open.
    pub fn is_open(&self, call: CallRef) -> bool {
        self.sessions.contains_key(&call)
    }

    /// The driver closed `call`'s sockets: its ports are free again.
    pub fn closed(&mut self, call: CallRef) {
        if let Some(ports) = self.closing.remove(&call) {
            for p in ports {
                self.pool.release(p);
            }
        }
    }

    fn session(&mut self, call: CallRef) -> Result<&mut MediaSession, MediaSeamError> {
        if !self.sessions.contains_key(&call) {
            if self.ready.len() < 2 {
                self.refill();
                return Err(MediaSeamError::Exhausted);
            }
            let (Some(a), Some(b)) = (self.ready.pop_front(), self.ready.pop_front()) else {
                return Err(MediaSeamError::Exhausted);
            };
            self.refill();
            let ports = [a, b];
            self.out.push_back(MediaCommand::Open { call, ports });
            self.sessions.insert(
                call,
                MediaSession::new(self.relay_ip, ports, self.recordable_codecs_only),
            );
        }
        self.sessions.get_mut(&call).ok_or(MediaSeamError::Unknown)
    }

    fn flush(&mut self, call: CallRef) {
        if let Some(s) = self.sessions.get_mut(&call) {
            while let Some(command) = s.poll_command() {
                self.out.push_back(MediaCommand::Relay { call, command });
            }
        }
    }

    fn with_session<T>(
        &mut self,
        call: CallRef,
        f: impl FnOnce(&mut MediaSession) -> Result<T, SessionError>,
    ) -> Result<T, MediaSeamError> {
        let result = f(self.session(call)?).map_err(seam_error);
        self.flush(call);
        result
    }
}

impl MediaSeam for MediaPlan {
    fn offer(
        &mut self,
        call: CallRef,
        from: LegId,
        _to: LegId,
        sdp: &Bytes,
    ) -> Result<Bytes, MediaSeamError> {
        self.with_session(call, |s| s.rewrite_offer(leg_of(from), sdp))
            .map(Bytes::from)
    }

    fn answer(
        &mut self,
        call: CallRef,
        from: LegId,
        _to: LegId,
        sdp: &Bytes,
    ) -> Result<Bytes, MediaSeamError> {
        self.with_session(call, |s| s.rewrite_answer(leg_of(from), sdp))
            .map(Bytes::from)
    }

    fn local_answer(
        &mut self,
        call: CallRef,
        leg: LegId,
        offer: &Bytes,
    ) -> Result<Bytes, MediaSeamError> {
        self.with_session(call, |s| s.local_answer(leg_of(leg), offer))
            .map(Bytes::from)
    }

    fn release(&mut self, call: CallRef) {
        if let Some(s) = self.sessions.remove(&call) {
            self.closing.insert(call, s.ports());
            self.out.push_back(MediaCommand::Close { call });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binds(plan: &mut MediaPlan) -> Vec<PortPair> {
        std::iter::from_fn(|| plan.poll_command())
            .filter_map(|c| match c {
                MediaCommand::Bind { pairs } => Some(pairs),
                _ => None,
            })
            .flatten()
            .collect()
    }

    const OFFER: &[u8] = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    #[test]
    fn a_call_gets_two_pairs_the_driver_bound_and_a_busy_pair_is_never_offered() {
        let mut plan = MediaPlan::new("127.0.0.1".parse().unwrap(), 20_000, 20_099, true).unwrap();
        let first = binds(&mut plan);
        assert_eq!(first.len(), RESERVE_PAIRS);
        // Another program holds 20000: the driver could bind every pair but that one.
        let busy = first[0];
        plan.bound(first[1..].to_vec(), vec![busy]);
        let refill = binds(&mut plan);
        assert_eq!(refill.len(), 1, "the reserve is topped up again");
        assert_ne!(refill[0], busy, "a busy pair goes to the back of the pool");
        let sdp = plan
            .offer(CallRef(1), LegId::A, LegId(1), &Bytes::from_static(OFFER))
            .unwrap();
        let opened: Vec<_> = std::iter::from_fn(|| plan.poll_command())
            .filter_map(|c| match c {
                MediaCommand::Open { ports, .. } => Some(ports),
                _ => None,
            })
            .collect();
        assert_eq!(opened, vec![[first[1], first[2]]]);
        let text = String::from_utf8_lossy(&sdp);
        assert!(
            text.contains(&format!("m=audio {} ", first[2].rtp)),
            "{text}"
        );
        assert_eq!(plan.ports_in_use(), 2);
        plan.release(CallRef(1));
        plan.closed(CallRef(1));
        assert_eq!(plan.ports_in_use(), 0);
    }

    #[test]
    fn ports_held_by_another_process_are_skipped_until_free_ones_are_found() {
        let mut plan = MediaPlan::new("127.0.0.1".parse().unwrap(), 20_000, 20_199, true).unwrap();
        // Another callrec holds the first 16 pairs: the whole first batch fails.
        let first = binds(&mut plan);
        plan.bound(Vec::new(), first.clone());
        let second = binds(&mut plan);
        assert_eq!(second.len(), RESERVE_PAIRS, "the next pairs are tried");
        assert!(second.iter().all(|p| !first.contains(p)));
        plan.bound(second, Vec::new());
        assert!(plan
            .offer(CallRef(1), LegId::A, LegId(1), &Bytes::from_static(OFFER))
            .is_ok());
    }

    #[test]
    fn with_nothing_bound_a_call_gets_no_ports_and_no_bind_loop_starts() {
        let mut plan = MediaPlan::new("127.0.0.1".parse().unwrap(), 20_000, 20_009, true).unwrap();
        // Five pairs in the range, none binds (two rounds: every pair failed in a row).
        for _ in 0..3 {
            let pairs = binds(&mut plan);
            if pairs.is_empty() {
                break;
            }
            plan.bound(Vec::new(), pairs);
        }
        assert!(
            binds(&mut plan).is_empty(),
            "every pair failed: no new bind"
        );
        assert_eq!(
            plan.offer(CallRef(1), LegId::A, LegId(1), &Bytes::from_static(OFFER)),
            Err(MediaSeamError::Exhausted)
        );
    }
}
