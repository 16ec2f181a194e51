//! The dispatcher: the Transaction User on top of the transaction layer. It takes the layer's
//! events, answers requests outside dialogs (OPTIONS, REGISTER, errors), admits INVITEs into
//! calls, and hands everything inside a dialog to its [`Call`].

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tracing::{debug, trace};

use callrec_kazoo::directory::{Directory, HostQuery, ResolvedHosts};
use callrec_sip::message::{check_request, HeaderName, Message, Method, Policy};
use callrec_sip::transaction::{Peer, ServerTxId, TransactionLayer, TxEvent};

use super::admission::Admission;
use super::call::{reason_phrase, Call};
use super::config::CoreConfig;
use super::events::CallEvent;
use super::ids::{CallRef, LegId};
use super::index::{ClientRole, Ctx, Index, ServerRole};
use super::media_seam::MediaSeam;
use callrec_kazoo::cdr::HangupCause;

/// The B2BUA core. Sans-IO: the engine feeds it the transaction layer's events and the
/// clock's timeouts, and drains its events. See the [module docs](super) for the loop.
pub struct Core {
    pub(crate) cfg: CoreConfig,
    pub(crate) policy: Policy,
    pub(crate) dir: Arc<Directory>,
    pub(crate) admission: Admission,
    pub(crate) calls: HashMap<CallRef, Call>,
    pub(crate) index: Index,
    timers: BTreeSet<(Instant, CallRef)>,
    pub(crate) events: VecDeque<CallEvent>,
    pub(crate) next_call: u64,
}

impl Core {
    /// A core with no calls.
    pub fn new(mut cfg: CoreConfig, dir: Arc<Directory>) -> Core {
        let methods = cfg.allow.clone();
        if !cfg.edge.is_empty() {
            // Behind an edge the edge registers phones: REGISTER is known but not allowed
            // here (405, and not in our Allow).
            cfg.allow.retain(|m| *m != Method::Register);
        }
        let policy = Policy {
            methods,
            extensions: cfg.supported.clone(),
            invite_body_types: vec!["application/sdp".to_owned()],
            proxying: false,
        };
        let mut admission =
            Admission::new(cfg.digest, cfg.registrar, cfg.routing, cfg.nat, cfg.guard);
        admission.edge = cfg.edge.clone();
        Core {
            cfg,
            policy,
            admission,
            dir,
            calls: HashMap::new(),
            index: Index::default(),
            timers: BTreeSet::new(),
            events: VecDeque::new(),
            next_call: 1,
        }
    }

    /// Replaces the directory (config reload). Calls in progress keep what they were admitted
    /// with; new requests see the new directory. Registrations of devices that are gone,
    /// renamed, moved to another realm or disabled (with their user or account) are dropped,
    /// so they are not called until they register again.
    pub fn set_directory(&mut self, dir: Arc<Directory>) {
        let dropped = self.admission.registrar.retain_known(|aor| {
            dir.device_by_sip(&aor.realm, &aor.username)
                .is_some_and(|d| d.ip_auth.is_none() && dir.device_active(d))
        });
        if dropped > 0 {
            debug!(
                dropped,
                "registrations of removed or disabled devices dropped"
            );
        }
        let queries = dir.host_queries();
        self.admission.hosts.retain(|q| queries.contains(q));
        self.dir = dir;
    }

    /// What the driver resolved a gateway's host name to (an empty list: nothing, the gateway
    /// is skipped). The next call routed to the gateway uses it; names no gateway of the
    /// directory has are ignored.
    pub fn set_resolved(&mut self, query: HostQuery, addrs: Vec<SocketAddr>) {
        if self.dir.host_queries().contains(&query) {
            self.admission.hosts.set(query, addrs);
        }
    }

    /// The gateways' host names as last resolved.
    pub fn resolved_hosts(&self) -> &ResolvedHosts {
        &self.admission.hosts
    }

    /// The configuration.
    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    /// Number of calls in progress.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Calls admitted since the core was made.
    pub fn calls_started(&self) -> u64 {
        self.next_call.saturating_sub(1)
    }

    /// The next event for the engine, in order.
    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    /// Whether a message from `from` may go on to the transaction layer: requests from an
    /// unknown source beyond its rate, or from a source blocked after wrong passwords, are
    /// dropped and counted (see [`SourceGuard`](super::SourceGuard)). Call before
    /// `TransactionLayer::handle_message`.
    pub fn admit_source(&mut self, now: Instant, from: Peer, msg: &Message) -> bool {
        super::dir_adapter::admit_source(&mut self.admission, &self.dir, now, from, msg)
    }

    /// The source guard's counters.
    pub fn guard_stats(&self) -> super::GuardStats {
        self.admission.guard.stats()
    }

    /// When [`Core::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let call = self.timers.iter().next().map(|(t, _)| *t);
        [call, self.admission.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Entries in the core's lookup tables (transactions, dialogs, branches): zero when no call
    /// is in progress (for leak checks).
    pub fn tracked(&self) -> usize {
        self.index.len()
    }

    /// The registrar's bindings (for status pages and tests).
    pub fn registrar(&self) -> &callrec_sip::registrar::Registrar {
        &self.admission.registrar
    }

    /// Runs every timer due at `now`: calls (no-answer, gateway set-up, 2xx retransmission),
    /// binding expiry.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        txl: &mut TransactionLayer,
        media: &mut dyn MediaSeam,
    ) {
        self.admission.handle_timeout(now);
        let due: Vec<CallRef> = self
            .timers
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, c)| *c)
            .collect();
        for c in due {
            self.with_call(now, c, txl, media, |call, ctx| call.on_timeout(ctx));
        }
    }

    /// Ends a call from the engine (media timeout, record_caller finished, shutdown): a caller
    /// still ringing gets the status of `cause`, answered legs get BYE, ringing B legs CANCEL.
    pub fn hangup(
        &mut self,
        now: Instant,
        call: CallRef,
        cause: HangupCause,
        txl: &mut TransactionLayer,
        media: &mut dyn MediaSeam,
    ) {
        self.with_call(now, call, txl, media, |c, ctx| c.hangup(ctx, cause));
    }

    /// Handles one event drained from the transaction layer.
    pub fn handle_tx_event(
        &mut self,
        now: Instant,
        ev: TxEvent,
        txl: &mut TransactionLayer,
        media: &mut dyn MediaSeam,
    ) {
        match ev {
            TxEvent::Request { tx, from, req } => self.on_request(now, tx, from, req, txl, media),
            TxEvent::Cancelled { tx, .. } => self.on_cancelled(now, tx, txl, media),
            TxEvent::Ack { req, .. } => {
                let Some((call, leg)) = self.dialog_of(&req, true) else {
                    trace!("ACK for no dialog dropped");
                    return;
                };
                self.with_call(now, call, txl, media, |c, ctx| c.on_ack(ctx, leg, &req));
            }
            TxEvent::Response { tx, resp } => {
                let Some(role) = self.index.client.get(&tx).cloned() else {
                    self.on_stray(&resp, txl);
                    return;
                };
                match role {
                    ClientRole::Invite { call, leg } => {
                        self.with_call(now, call, txl, media, |c, ctx| {
                            c.on_b_invite_response(ctx, leg, &resp)
                        })
                    }
                    ClientRole::Relay {
                        call,
                        to,
                        from,
                        server,
                        method,
                        had_offer,
                    } => {
                        let mut done = false;
                        self.with_call(now, call, txl, media, |c, ctx| {
                            done = c.on_relay_response(
                                ctx,
                                to,
                                from,
                                server,
                                &method,
                                had_offer,
                                Some(&resp),
                            );
                        });
                        if done {
                            self.index.client.remove(&tx);
                        }
                    }
                    ClientRole::Bye { call, leg } => {
                        if resp.status().is_some_and(|s| s >= 200) {
                            self.index.client.remove(&tx);
                            let status = resp.status();
                            self.with_call(now, call, txl, media, |c, ctx| {
                                c.on_bye_done(ctx, leg, status)
                            });
                        }
                    }
                }
            }
            TxEvent::StrayResponse { resp, .. } => self.on_stray(&resp, txl),
            TxEvent::Timeout { tx } => {
                let Some(role) = self.index.client.remove(&tx) else {
                    return;
                };
                match role {
                    ClientRole::Invite { call, leg } => {
                        self.with_call(now, call, txl, media, |c, ctx| {
                            c.b_failed(ctx, leg, 408, HangupCause::RecoveryOnTimerExpire)
                        })
                    }
                    ClientRole::Relay {
                        call,
                        to,
                        from,
                        server,
                        method,
                        had_offer,
                    } => self.with_call(now, call, txl, media, |c, ctx| {
                        c.on_relay_response(ctx, to, from, server, &method, had_offer, None);
                    }),
                    ClientRole::Bye { call, leg } => {
                        self.with_call(now, call, txl, media, |c, ctx| {
                            c.on_bye_done(ctx, leg, None)
                        })
                    }
                }
            }
            TxEvent::AckTimeout { tx } => {
                debug!(tx = tx.0, "final response never acknowledged");
            }
        }
    }

    /// Runs `f` on a call with a context, then files its timers or finishes it.
    pub(crate) fn with_call(
        &mut self,
        now: Instant,
        id: CallRef,
        txl: &mut TransactionLayer,
        media: &mut dyn MediaSeam,
        f: impl FnOnce(&mut Call, &mut Ctx<'_>),
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let span = call.span.clone();
        let _enter = span.enter();
        let mut ctx = Ctx {
            now,
            cfg: &self.cfg,
            index: &mut self.index,
            events: &mut self.events,
            txl,
            media,
        };
        f(call, &mut ctx);
        if let Some(t) = call.scheduled.take() {
            self.timers.remove(&(t, id));
        }
        let over = call.is_over();
        if !call.released && (over || call.conversation_over()) {
            call.released = true;
            media.release(id);
            self.events.push_back(CallEvent::CallEnded { call: id });
            debug!("call ended");
        }
        if over {
            self.calls.remove(&id);
            self.index.forget_call(id);
            return;
        }
        if let Some(t) = call.next_deadline() {
            call.scheduled = Some(t);
            self.timers.insert((t, id));
        }
    }

    /// The call and leg of the dialog `msg` belongs to. Requests (`ours_in_to`) carry our tag
    /// in To; responses carry it in From.
    pub(crate) fn dialog_of(&self, msg: &Message, ours_in_to: bool) -> Option<(CallRef, LegId)> {
        let call_id = msg.call_id().ok()?;
        let (ours, theirs) = if ours_in_to {
            (msg.to().ok()?, msg.from().ok()?)
        } else {
            (msg.from().ok()?, msg.to().ok()?)
        };
        let key = (call_id, ours.tag()?.to_owned());
        let (call, leg) = *self.index.dialogs.get(&key)?;
        let l = self.calls.get(&call)?.leg(leg)?;
        match (&l.remote_tag, theirs.tag()) {
            (Some(r), Some(t)) if r == t => Some((call, leg)),
            (None, _) => Some((call, leg)),
            _ => None,
        }
    }

    /// Sends a bare response to a request.
    pub(crate) fn respond(
        &self,
        now: Instant,
        txl: &mut TransactionLayer,
        tx: ServerTxId,
        req: &Message,
        status: u16,
    ) {
        let tag = super::leg::random_token();
        let mut resp = Message::response_to(
            req,
            status,
            reason_phrase(status).unwrap_or("Error"),
            Some(&tag),
        );
        resp.push_header(HeaderName::Server, &self.cfg.user_agent);
        if status == 405 || status == 501 {
            resp.push_header(HeaderName::Allow, self.cfg.allow_value());
        }
        txl.send_response(now, tx, resp);
    }

    fn on_request(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        from: Peer,
        req: Message,
        txl: &mut TransactionLayer,
        media: &mut dyn MediaSeam,
    ) {
        if let Err(rej) = check_request(&req, &self.policy) {
            debug!(status = rej.status, reason = %rej.reason, "request rejected");
            txl.send_response(now, tx, rej.response_to(&req));
            return;
        }
        let Some(method) = req.method().cloned() else {
            return;
        };
        let to_tag = req.to().ok().and_then(|t| t.tag().map(str::to_owned));
        if to_tag.is_some() {
            let Some((call, leg)) = self.dialog_of(&req, true) else {
                self.respond(now, txl, tx, &req, 481);
                return;
            };
            if method == Method::Bye {
                self.respond(now, txl, tx, &req, 200);
                self.with_call(now, call, txl, media, |c, ctx| c.on_bye(ctx, leg));
            } else {
                self.with_call(now, call, txl, media, |c, ctx| {
                    c.on_in_dialog(ctx, leg, tx, &req)
                });
            }
            return;
        }
        if req.max_forwards().ok().flatten() == Some(0)
            && !matches!(method, Method::Options | Method::Register)
        {
            self.respond(now, txl, tx, &req, 483);
            return;
        }
        match method {
            Method::Options => {
                let tag = super::leg::random_token();
                let mut resp = Message::response_to(&req, 200, "OK", Some(&tag));
                resp.push_header(HeaderName::Allow, self.cfg.allow_value());
                if !self.cfg.supported.is_empty() {
                    resp.push_header(HeaderName::Supported, self.cfg.supported.join(", "));
                }
                resp.push_header(HeaderName::Accept, "application/sdp");
                resp.push_header(HeaderName::Server, &self.cfg.user_agent);
                txl.send_response(now, tx, resp);
            }
            Method::Register if self.admission.behind_edge() => {
                debug!("REGISTER behind the edge refused");
                self.respond(now, txl, tx, &req, 405);
            }
            Method::Register => self.on_register(now, tx, from, &req, txl),
            Method::Invite => {
                if self.is_loop(&req) {
                    debug!("INVITE loop detected");
                    self.respond(now, txl, tx, &req, 482);
                    return;
                }
                self.on_invite(now, tx, from, req, txl, media);
            }
            Method::Bye | Method::Update | Method::Info | Method::Prack => {
                self.respond(now, txl, tx, &req, 481)
            }
            _ => self.respond(now, txl, tx, &req, 405),
        }
    }

    /// An INVITE we sent came back to us: its Call-ID and From tag are one of our B legs, or
    /// one of its Vias carries a branch of ours.
    fn is_loop(&self, req: &Message) -> bool {
        if let (Ok(call_id), Ok(from)) = (req.call_id(), req.from()) {
            if let Some(tag) = from.tag() {
                if let Some((_, leg)) = self.index.dialogs.get(&(call_id, tag.to_owned())) {
                    if !leg.is_a() {
                        return true;
                    }
                }
            }
        }
        req.vias().is_ok_and(|vias| {
            vias.iter().any(|v| {
                v.branch()
                    .is_some_and(|b| self.index.branches.contains_key(b))
                    && self.cfg.advertised.iter().any(|a| {
                        a.host.eq_ignore_ascii_case(&v.host) && v.port.unwrap_or(5060) == a.port
                    })
            })
        })
    }

    fn on_cancelled(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        txl: &mut TransactionLayer,
        media: &mut dyn MediaSeam,
    ) {
        match self.index.server.get(&tx).copied() {
            Some(ServerRole::Invite { call }) => {
                self.with_call(now, call, txl, media, |c, ctx| c.on_a_cancel(ctx));
            }
            Some(ServerRole::Relay { .. }) => {
                // A re-INVITE was cancelled: cancel what we relayed; its 487 is relayed back.
                let relayed = self.index.client.iter().find_map(|(ctx_id, r)| match r {
                    ClientRole::Relay { server, .. } if *server == tx => Some(*ctx_id),
                    _ => None,
                });
                if let Some(c) = relayed {
                    txl.cancel(now, c);
                }
            }
            None => {
                if let Some(req) = txl.server_request(tx).cloned() {
                    self.respond(now, txl, tx, &req, 487);
                }
            }
        }
    }

    /// A response that matched no transaction of ours: a retransmitted 2xx to an INVITE we
    /// already ACKed; ACK it again.
    fn on_stray(&self, resp: &Message, txl: &mut TransactionLayer) {
        let is_2xx_invite = resp.status().is_some_and(|s| (200..300).contains(&s))
            && resp.cseq().is_ok_and(|c| c.method == Method::Invite);
        if !is_2xx_invite {
            return;
        }
        let Some((call, leg)) = self.dialog_of(resp, false) else {
            return;
        };
        let Some(l) = self.calls.get(&call).and_then(|c| c.leg(leg)) else {
            return;
        };
        let seq = resp.cseq().map_or(0, |c| c.seq);
        if let Some(ack) = &l.ack {
            if ack.cseq().is_ok_and(|c| c.seq == seq) {
                txl.send_stateless(l.peer, ack.clone());
            }
        }
    }
}
