//! [`TransactionLayer`]: every transaction of one element, matching of received messages,
//! CANCEL handling, the output queues and one schedule of timer deadlines.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use tracing::debug;

use super::build::{cancel_for, random_tag};
use super::client_invite::{CancelState, ClientInvite};
use super::client_non_invite::ClientNonInvite;
use super::config::TimerConfig;
use super::event::{Output, Transmit, TxEvent, TxStats};
use super::key::{ClientKey, ServerKey};
use super::peer::{ClientTxId, Peer, ServerTxId};
use super::server_invite::{self, ServerInvite};
use super::server_non_invite::ServerNonInvite;
use super::timer::TimerTable;
use super::MAGIC_COOKIE;
use crate::message::{Message, Method};

/// A fresh RFC 3261 branch: "z9hG4bK" + random.
pub fn new_branch() -> String {
    format!(
        "{MAGIC_COOKIE}{:016x}{:08x}",
        crate::token::random_u64(),
        crate::token::random_u32()
    )
}

/// A transaction in the timer schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TxRef {
    Client(ClientTxId),
    Server(ServerTxId),
}

#[derive(Debug)]
enum ClientTx {
    Invite(ClientInvite),
    NonInvite(ClientNonInvite),
}

impl ClientTx {
    fn timers(&mut self) -> &mut TimerTable {
        match self {
            ClientTx::Invite(t) => &mut t.timers,
            ClientTx::NonInvite(t) => &mut t.timers,
        }
    }
    fn terminated(&self) -> bool {
        match self {
            ClientTx::Invite(t) => t.state == super::client_invite::State::Terminated,
            ClientTx::NonInvite(t) => t.state == super::client_non_invite::State::Terminated,
        }
    }
}

#[derive(Debug)]
struct ClientEntry {
    tx: ClientTx,
    key: Option<ClientKey>,
    scheduled: Option<Instant>,
}

#[derive(Debug)]
enum ServerTx {
    Invite(ServerInvite),
    NonInvite(ServerNonInvite),
}

impl ServerTx {
    fn timers(&mut self) -> &mut TimerTable {
        match self {
            ServerTx::Invite(t) => &mut t.timers,
            ServerTx::NonInvite(t) => &mut t.timers,
        }
    }
    fn terminated(&self) -> bool {
        match self {
            ServerTx::Invite(t) => t.state == server_invite::State::Terminated,
            ServerTx::NonInvite(t) => t.state == super::server_non_invite::State::Terminated,
        }
    }
    fn request(&self) -> &Message {
        match self {
            ServerTx::Invite(t) => &t.request,
            ServerTx::NonInvite(t) => &t.request,
        }
    }
}

#[derive(Debug)]
struct ServerEntry {
    tx: ServerTx,
    key: ServerKey,
    scheduled: Option<Instant>,
}

/// All client and server transactions of one SIP element (sans-IO; see the module docs).
///
/// Contract: after every input (`handle_message`, `send_*`, `cancel`, `handle_timeout`), the
/// caller drains [`poll_transmit`](Self::poll_transmit) and [`poll_event`](Self::poll_event)
/// until `None`, then sleeps until [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct TransactionLayer {
    config: TimerConfig,
    next_id: u64,
    clients: HashMap<ClientTxId, ClientEntry>,
    client_keys: HashMap<ClientKey, ClientTxId>,
    servers: HashMap<ServerTxId, ServerEntry>,
    server_keys: HashMap<ServerKey, ServerTxId>,
    schedule: BTreeSet<(Instant, TxRef)>,
    out: Output,
}

impl TransactionLayer {
    /// A layer with these timer values. A zero T1, T2 or T4 is raised to 1 ms (a zero
    /// retransmission interval would spin).
    pub fn new(timers: TimerConfig) -> Self {
        let min = Duration::from_millis(1);
        let config = TimerConfig {
            t1: timers.t1.max(min),
            t2: timers.t2.max(min),
            t4: timers.t4.max(min),
        };
        TransactionLayer {
            config,
            next_id: 1,
            clients: HashMap::new(),
            client_keys: HashMap::new(),
            servers: HashMap::new(),
            server_keys: HashMap::new(),
            schedule: BTreeSet::new(),
            out: Output::default(),
        }
    }

    /// The timer values in use.
    pub fn config(&self) -> TimerConfig {
        self.config
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    /// A message parsed by the driver from `from`. Retransmissions are absorbed here.
    pub fn handle_message(&mut self, now: Instant, from: Peer, msg: Message) {
        if msg.is_request() {
            self.handle_request(now, from, msg);
        } else {
            self.handle_response(now, from, msg);
        }
    }

    fn handle_response(&mut self, now: Instant, from: Peer, resp: Message) {
        if !resp.status().is_some_and(|s| (100..=699).contains(&s)) {
            debug!(status = ?resp.status(), "response with status out of range dropped");
            self.out.stats.malformed += 1;
            return;
        }
        let id = ClientKey::of_response(&resp)
            .ok()
            .and_then(|k| self.client_keys.get(&k).copied());
        let Some(id) = id else {
            self.out.stats.stray_responses += 1;
            self.out.event(TxEvent::StrayResponse { from, resp });
            return;
        };
        let Some(entry) = self.clients.get_mut(&id) else {
            return;
        };
        match &mut entry.tx {
            ClientTx::Invite(t) => {
                t.on_response(now, resp, &mut self.out);
                match t.cancel {
                    CancelState::Pending(cancel_id) if t.is_final() => {
                        debug!(
                            ?cancel_id,
                            "final response before any provisional: no CANCEL"
                        );
                        t.cancel = CancelState::None;
                    }
                    CancelState::Pending(cancel_id)
                        if t.state == super::client_invite::State::Proceeding =>
                    {
                        self.send_cancel(now, id, cancel_id);
                    }
                    _ => {}
                }
            }
            ClientTx::NonInvite(t) => t.on_response(now, resp, &mut self.out),
        }
        self.settle(TxRef::Client(id));
    }

    fn handle_request(&mut self, now: Instant, from: Peer, req: Message) {
        let is_ack = req.method() == Some(&Method::Ack);
        let key = match ServerKey::of_request(&req) {
            Ok(k) => k,
            Err(e) => {
                self.out.stats.malformed += 1;
                debug!(error = %e, "request cannot be matched");
                if !is_ack {
                    let resp = Message::response_to(&req, 400, "Bad Request", Some(&random_tag()));
                    self.out.send(from, resp.to_bytes());
                }
                return;
            }
        };
        if is_ack {
            let found = self.server_keys.get(&key).copied();
            match found.and_then(|id| self.servers.get_mut(&id).map(|e| (id, e))) {
                Some((
                    id,
                    ServerEntry {
                        tx: ServerTx::Invite(t),
                        ..
                    },
                )) => {
                    t.on_ack(now, from, req, &mut self.out);
                    self.settle(TxRef::Server(id));
                }
                _ => self.out.event(TxEvent::Ack { from, req }),
            }
            return;
        }
        if let Some(&id) = self.server_keys.get(&key) {
            if let Some(entry) = self.servers.get_mut(&id) {
                match &mut entry.tx {
                    ServerTx::Invite(t) => t.on_retransmission(&mut self.out),
                    ServerTx::NonInvite(t) => t.on_retransmission(&mut self.out),
                }
                self.settle(TxRef::Server(id));
                return;
            }
        }
        let id = ServerTxId(self.next_id());
        self.out.stats.server_started += 1;
        let is_invite = req.method() == Some(&Method::Invite);
        let is_cancel = req.method() == Some(&Method::Cancel);
        let tx = if is_invite {
            ServerTx::Invite(ServerInvite::start(
                id,
                from,
                req.clone(),
                self.config,
                &mut self.out,
            ))
        } else {
            ServerTx::NonInvite(ServerNonInvite::start(from, req.clone(), self.config))
        };
        self.server_keys.insert(key.clone(), id);
        self.servers.insert(
            id,
            ServerEntry {
                tx,
                key: key.clone(),
                scheduled: None,
            },
        );
        if is_cancel {
            self.answer_cancel(now, id, &key, req);
        } else {
            self.out.event(TxEvent::Request { tx: id, from, req });
        }
        self.settle(TxRef::Server(id));
    }

    /// A new CANCEL on server transaction `cancel_tx`: 200 and Cancelled if it matches an
    /// INVITE that has no final response yet, 200 alone if that INVITE is past it, else 481.
    fn answer_cancel(
        &mut self,
        now: Instant,
        cancel_tx: ServerTxId,
        key: &ServerKey,
        cancel: Message,
    ) {
        let invite_key = key.with_method(Method::Invite);
        let invite =
            self.server_keys
                .get(&invite_key)
                .copied()
                .and_then(|id| match self.servers.get(&id) {
                    Some(ServerEntry {
                        tx: ServerTx::Invite(t),
                        ..
                    }) => Some((id, t.state, t.to_tag.clone())),
                    _ => None,
                });
        let resp = match &invite {
            Some((_, _, tag)) => {
                let tag = tag.clone().unwrap_or_else(random_tag);
                Message::response_to(&cancel, 200, "OK", Some(&tag))
            }
            None => Message::response_to(
                &cancel,
                481,
                "Call/Transaction Does Not Exist",
                Some(&random_tag()),
            ),
        };
        if let Some(ServerEntry {
            tx: ServerTx::NonInvite(t),
            ..
        }) = self.servers.get_mut(&cancel_tx)
        {
            t.send_response(now, &resp, &mut self.out);
        }
        if let Some((invite_id, server_invite::State::Proceeding, _)) = invite {
            self.out.event(TxEvent::Cancelled {
                tx: invite_id,
                cancel,
            });
        }
    }

    /// Start a client transaction (INVITE or non-INVITE; not ACK). The request must carry a
    /// top Via with a fresh branch (use [`new_branch`]).
    ///
    /// A request without a readable top Via branch cannot be matched: it is still sent, and
    /// the transaction runs its timers, but responses to it will come up as `StrayResponse`
    /// (a bug in the caller, logged). An ACK is sent without a transaction (as
    /// [`send_stateless`](Self::send_stateless)); the returned id then never sees an event.
    pub fn send_request(&mut self, now: Instant, to: Peer, req: Message) -> ClientTxId {
        let id = ClientTxId(self.next_id());
        self.start_client(now, id, to, req);
        id
    }

    fn start_client(&mut self, now: Instant, id: ClientTxId, to: Peer, req: Message) {
        if req.method() == Some(&Method::Ack) {
            self.out.send(to, req.to_bytes());
            return;
        }
        let key = match ClientKey::of_request(&req) {
            Ok(k) => Some(k),
            Err(e) => {
                debug!(error = %e, "request sent without a matchable top Via branch");
                None
            }
        };
        self.out.stats.client_started += 1;
        let tx = if req.method() == Some(&Method::Invite) {
            ClientTx::Invite(ClientInvite::start(
                id,
                now,
                to,
                req,
                self.config,
                &mut self.out,
            ))
        } else {
            ClientTx::NonInvite(ClientNonInvite::start(
                id,
                now,
                to,
                req,
                self.config,
                &mut self.out,
            ))
        };
        if let Some(k) = &key {
            if let Some(old) = self.client_keys.insert(k.clone(), id) {
                debug!(?old, "branch reused by a new client transaction");
            }
        }
        self.clients.insert(
            id,
            ClientEntry {
                tx,
                key,
                scheduled: None,
            },
        );
        self.settle(TxRef::Client(id));
    }

    /// Send a response on a server transaction (1xx..6xx). Final responses end it per §17.2.
    /// Responses go to the peer the request came from. A response on an unknown or ended
    /// transaction, or after the final one (except 2xx retransmissions in Accepted), is not
    /// sent (logged at debug).
    pub fn send_response(&mut self, now: Instant, tx: ServerTxId, resp: Message) {
        let Some(entry) = self.servers.get_mut(&tx) else {
            debug!(?tx, "response on unknown server transaction not sent");
            return;
        };
        match &mut entry.tx {
            ServerTx::Invite(t) => t.send_response(now, &resp, &mut self.out),
            ServerTx::NonInvite(t) => t.send_response(now, &resp, &mut self.out),
        };
        self.settle(TxRef::Server(tx));
    }

    /// CANCEL a pending INVITE client transaction (RFC 3261 §9.1): builds the CANCEL from the
    /// INVITE and sends it in its own non-INVITE transaction, whose id is returned.
    ///
    /// Before any provisional response the CANCEL is remembered and sent when one arrives
    /// (the id is returned now and used then); if a final response arrives first, it is never
    /// sent and that id sees no event. Calling it again returns the same id. `None`: unknown
    /// transaction, not an INVITE, a final response already arrived, or the INVITE is unreadable.
    pub fn cancel(&mut self, now: Instant, tx: ClientTxId) -> Option<ClientTxId> {
        let cancel_id = ClientTxId(self.next_id);
        let Some(ClientEntry {
            tx: ClientTx::Invite(t),
            ..
        }) = self.clients.get_mut(&tx)
        else {
            return None;
        };
        if t.is_final() {
            return None;
        }
        match t.cancel {
            CancelState::Pending(id) | CancelState::Sent(id) => Some(id),
            CancelState::None => {
                cancel_for(&t.request)?;
                let calling = t.state == super::client_invite::State::Calling;
                if calling {
                    t.cancel = CancelState::Pending(cancel_id);
                }
                self.next_id();
                if !calling {
                    self.send_cancel(now, tx, cancel_id);
                }
                Some(cancel_id)
            }
        }
    }

    /// Builds and sends the CANCEL of INVITE `invite` as client transaction `cancel_id`.
    fn send_cancel(&mut self, now: Instant, invite: ClientTxId, cancel_id: ClientTxId) {
        let Some(ClientEntry {
            tx: ClientTx::Invite(t),
            ..
        }) = self.clients.get_mut(&invite)
        else {
            return;
        };
        let Some(cancel) = cancel_for(&t.request) else {
            t.cancel = CancelState::None;
            return;
        };
        let peer = t.peer;
        t.on_cancel_sent(now, cancel_id);
        self.settle(TxRef::Client(invite));
        self.start_client(now, cancel_id, peer, cancel);
    }

    /// The driver could not deliver to `peer` (e.g. a TCP connection could not be opened).
    /// Every client transaction to that peer still waiting for a final response ends with
    /// [`TxEvent::Timeout`] (RFC 3261 §17.1.4), so the TU can fail over at once instead of
    /// waiting for Timer B/F. Server transactions are left to their timers.
    pub fn transport_error(&mut self, _now: Instant, peer: Peer) {
        let mut ids: Vec<ClientTxId> = self
            .clients
            .iter()
            .filter(|(_, e)| match &e.tx {
                ClientTx::Invite(t) => t.peer == peer,
                ClientTx::NonInvite(t) => t.peer == peer,
            })
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(e) = self.clients.get_mut(&id) {
                match &mut e.tx {
                    ClientTx::Invite(t) => t.on_transport_error(&mut self.out),
                    ClientTx::NonInvite(t) => t.on_transport_error(&mut self.out),
                }
            }
            self.settle(TxRef::Client(id));
        }
    }

    /// Send without a transaction: ACK for 2xx, stateless responses.
    pub fn send_stateless(&mut self, to: Peer, msg: Message) {
        self.out.send(to, msg.to_bytes());
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = Vec::new();
        while let Some(&(at, r)) = self.schedule.first() {
            if at > now {
                break;
            }
            self.schedule.remove(&(at, r));
            due.push(r);
        }
        for r in due {
            match r {
                TxRef::Client(id) => {
                    if let Some(e) = self.clients.get_mut(&id) {
                        e.scheduled = None;
                        // Bounded: each timer fires at most once per call.
                        for _ in 0..12 {
                            let Some(timer) = e.tx.timers().pop_expired(now) else {
                                break;
                            };
                            match &mut e.tx {
                                ClientTx::Invite(t) => t.on_timer(now, timer, &mut self.out),
                                ClientTx::NonInvite(t) => t.on_timer(now, timer, &mut self.out),
                            }
                        }
                    }
                }
                TxRef::Server(id) => {
                    if let Some(e) = self.servers.get_mut(&id) {
                        e.scheduled = None;
                        for _ in 0..12 {
                            let Some(timer) = e.tx.timers().pop_expired(now) else {
                                break;
                            };
                            match &mut e.tx {
                                ServerTx::Invite(t) => t.on_timer(now, timer, &mut self.out),
                                ServerTx::NonInvite(t) => t.on_timer(timer),
                            }
                        }
                    }
                }
            }
            self.settle(r);
        }
    }

    /// Removes a terminated transaction, or files its next deadline in the schedule.
    fn settle(&mut self, r: TxRef) {
        match r {
            TxRef::Client(id) => {
                let Some(e) = self.clients.get_mut(&id) else {
                    return;
                };
                if let Some(at) = e.scheduled.take() {
                    self.schedule.remove(&(at, r));
                }
                if e.tx.terminated() {
                    if let Some(e) = self.clients.remove(&id) {
                        if let Some(k) = e.key {
                            if self.client_keys.get(&k) == Some(&id) {
                                self.client_keys.remove(&k);
                            }
                        }
                    }
                } else if let Some(at) = e.tx.timers().next_timeout() {
                    e.scheduled = Some(at);
                    self.schedule.insert((at, r));
                }
            }
            TxRef::Server(id) => {
                let Some(e) = self.servers.get_mut(&id) else {
                    return;
                };
                if let Some(at) = e.scheduled.take() {
                    self.schedule.remove(&(at, r));
                }
                if e.tx.terminated() {
                    if let Some(e) = self.servers.remove(&id) {
                        if self.server_keys.get(&e.key) == Some(&id) {
                            self.server_keys.remove(&e.key);
                        }
                    }
                } else if let Some(at) = e.tx.timers().next_timeout() {
                    e.scheduled = Some(at);
                    self.schedule.insert((at, r));
                }
            }
        }
    }

    /// The earliest timer deadline of all transactions.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.schedule.first().map(|(at, _)| *at)
    }

    /// The next datagram / stream write to perform.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// The next event for the transaction user.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.out.events.pop_front()
    }

    /// The original request of a server transaction (for building responses).
    pub fn server_request(&self, tx: ServerTxId) -> Option<&Message> {
        self.servers.get(&tx).map(|e| e.tx.request())
    }

    /// The request of a live client transaction.
    pub fn client_request(&self, tx: ClientTxId) -> Option<&Message> {
        self.clients.get(&tx).map(|e| match &e.tx {
            ClientTx::Invite(t) => &t.request,
            ClientTx::NonInvite(t) => &t.request,
        })
    }

    /// Number of live transactions (for metrics and tests).
    pub fn len(&self) -> usize {
        self.clients.len() + self.servers.len()
    }

    /// Whether no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counters since creation.
    pub fn stats(&self) -> TxStats {
        self.out.stats
    }
}
