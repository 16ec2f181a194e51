//! The B2BUA's media seam, sans-IO: relay ports come from a [`PortPool`] the engine owns, SDP
//! is rewritten by each call's [`MediaSession`], and what the relay driver must do is queued as
//! [`MediaCommand`]s. Opening a call's media is a command (`Open`) that the driver answers with
//! an event (opened, or failed: the engine then ends the call): nothing waits on a socket.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use bytes::Bytes;
use callrec_media::record::CodecMap;
use callrec_media::relay::{Leg, PortPair, PortPool, PortPoolError};
use callrec_media::session::{MediaSession, SessionCommand, SessionError};

use crate::b2bua::{CallRef, LegId, MediaSeam, MediaSeamError};

/// What the media driver must do for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaCommand {
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
            sessions: HashMap::new(),
            closing: HashMap::new(),
            out: VecDeque::new(),
        })
    }

    /// The next command for the media driver.
    pub fn poll_command(&mut self) -> Option<MediaCommand> {
        self.out.pop_front()
    }

    /// Calls with media open.
    pub fn open_calls(&self) -> usize {
        self.sessions.len()
    }

    /// Port pairs allocated (open and closing calls).
    pub fn ports_in_use(&self) -> usize {
        self.pool.in_use()
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
            let a = self
                .pool
                .allocate()
                .map_err(|_| MediaSeamError::Exhausted)?;
            let b = match self.pool.allocate() {
                Ok(b) => b,
                Err(_) => {
                    self.pool.release(a);
                    return Err(MediaSeamError::Exhausted);
                }
            };
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
