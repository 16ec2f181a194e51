//! One call: the A leg (server dialog), its B legs (client dialogs, forks or carrier
//! fail-over), who won, and everything that happens to them until every leg has ended.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{debug, info, warn};

use callrec_sip::message::{HeaderName, Message, Method, Uri};
use callrec_sip::transaction::{Peer, ServerTxId};

use super::events::{CallEvent, LegInfo};
use super::ids::{CallRef, LegId};
use super::index::{ClientRole, Ctx};
use super::leg::{contact_value, random_token, via_value, Leg, LegState, PendingAck};
use callrec_kazoo::cdr::{CdrFacts, EndUserDirection, HangupCause};
use callrec_kazoo::tags::{CallDirection, LegTags, Network, ResourceType};

/// Where a B leg goes.
#[derive(Debug, Clone)]
pub(crate) struct BTarget {
    /// Request-URI: a device's registered Contact, or `sip:<number>@<gateway>`.
    pub(crate) request_uri: Uri,
    /// Where to send: the address the device registered from, or the gateway.
    pub(crate) peer: Peer,
    /// The URI for the To header.
    pub(crate) to_uri: String,
    /// onnet (device) or offnet (carrier).
    pub(crate) network: Network,
    /// `offnet-termination` for carriers.
    pub(crate) resource_type: Option<ResourceType>,
    /// The user owning the callee device.
    pub(crate) owner_id: Option<String>,
    /// The callee device (or the carrier resource; a forwarding device for its forward).
    pub(crate) authorizing_id: Option<String>,
    /// Caller id (name, number) for this leg instead of the call's (a forward that does not
    /// keep the caller's id shows the forwarding device's external id).
    pub(crate) caller_id: Option<(Option<String>, Option<String>)>,
    /// Carriers: the further gateways of the same destination, in fail-over order.
    pub(crate) failover: Vec<BTarget>,
}

/// How the call is completed.
#[derive(Debug)]
pub(crate) enum Mode {
    /// Bridged to B legs (devices, carriers, forwards).
    Bridge,
    /// callrec answered the A leg itself (record_caller).
    Local,
}

/// One call.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) id: CallRef,
    pub(crate) span: tracing::Span,
    pub(crate) interaction_id: String,
    /// Index 0 is the A leg; B legs follow in creation order.
    pub(crate) legs: Vec<Leg>,
    /// The A leg's INVITE server transaction and the INVITE.
    pub(crate) a_tx: ServerTxId,
    pub(crate) a_invite: Message,
    /// The SDP offer of the A leg's INVITE (empty: late offer).
    pub(crate) a_offer: Bytes,
    /// Max-Forwards for B legs (A's minus one).
    pub(crate) max_forwards: u8,
    /// A final response was sent to the A leg's INVITE.
    pub(crate) a_final_sent: bool,
    pub(crate) mode: Mode,
    /// The answered B leg.
    pub(crate) winner: Option<LegId>,
    /// Final statuses of failed B legs, in order.
    pub(crate) failures: Vec<u16>,
    /// When ringing B legs are given up.
    pub(crate) no_answer_at: Option<Instant>,
    /// The caller's network (A leg) and the callee's (B side).
    pub(crate) from_network: Network,
    pub(crate) to_network: Network,
    /// The caller id presented on B legs.
    pub(crate) caller_id_name: Option<String>,
    pub(crate) caller_id_number: Option<String>,
    pub(crate) callee_number: Option<String>,
    pub(crate) account_id: Option<String>,
    /// The deadline this call is filed under in the core's timer set.
    pub(crate) scheduled: Option<Instant>,
    /// Failover call forwarding: started when the devices do not answer in time or all
    /// fail (but not busy or decline).
    pub(crate) on_no_answer: Vec<BTarget>,
    /// The conversation is over and its media was released (`CallEnded` sent), though a
    /// cancelled fork may still be finishing its INVITE.
    pub(crate) released: bool,
}

/// 64 × T1: how long we retransmit a 2xx or wait for a cancelled leg to finish.
fn sixty_four_t1(t1: Duration) -> Duration {
    t1.saturating_mul(64)
}

impl Call {
    pub(crate) fn a(&self) -> &Leg {
        // legs[0] exists from construction on.
        &self.legs[0]
    }

    pub(crate) fn leg(&self, id: LegId) -> Option<&Leg> {
        self.legs.get(id.0 as usize)
    }

    pub(crate) fn leg_mut(&mut self, id: LegId) -> Option<&mut Leg> {
        self.legs.get_mut(id.0 as usize)
    }

    /// Whether every leg has ended.
    pub(crate) fn is_over(&self) -> bool {
        self.legs.iter().all(|l| l.state == LegState::Ended)
    }

    /// Whether the conversation is over: every leg has ended but B legs that were cancelled
    /// and still wait for their INVITE to finish. A fork that never answered at all cannot be
    /// cancelled before it sends a provisional response (RFC 3261 §9.1), so it may take 64×T1
    /// to give up on; the call's media and recordings must not wait for it.
    pub(crate) fn conversation_over(&self) -> bool {
        self.legs
            .iter()
            .all(|l| l.state == LegState::Ended || (!l.id.is_a() && l.cancelled && l.is_pending()))
    }

    /// The earliest deadline of this call.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let mut d = self.no_answer_at;
        for l in &self.legs {
            for t in [l.setup_deadline, l.pending_ack.as_ref().map(|p| p.next)]
                .into_iter()
                .flatten()
            {
                d = Some(d.map_or(t, |x| x.min(t)));
            }
        }
        d
    }

    /// The other bridged leg: the winner for A, A for the winner.
    pub(crate) fn peer_leg(&self, of: LegId) -> Option<LegId> {
        match (of.is_a(), self.winner) {
            (true, w) => w,
            (false, Some(w)) if w == of => Some(LegId::A),
            _ => None,
        }
    }

    /// The next gateway not tried yet for the destination of leg `id`.
    fn next_gateway(&mut self, id: LegId) -> Option<BTarget> {
        self.leg_mut(id).and_then(|l| l.failover.pop_front())
    }

    /// Starts the failover forward (if any and nobody answered yet): the rest of the ringing
    /// legs are cancelled with `cause`. True when a forward leg started.
    pub(crate) fn start_forward(&mut self, ctx: &mut Ctx<'_>, cause: HangupCause) -> bool {
        if self.on_no_answer.is_empty() || self.a_final_sent || self.winner.is_some() {
            return false;
        }
        self.cancel_pending_b_legs(ctx, cause);
        let mut started = false;
        for t in std::mem::take(&mut self.on_no_answer) {
            let mut t = Some(t);
            while let Some(target) = t.take() {
                let mut rest: VecDeque<BTarget> = target.failover.clone().into();
                match self.start_b_leg(ctx, target) {
                    Ok(_) => started = true,
                    Err(()) => {
                        t = rest.pop_front().map(|mut n| {
                            n.failover = rest.into();
                            n
                        })
                    }
                }
            }
        }
        if started {
            info!("devices did not answer: call forwarded");
            self.no_answer_at = Some(ctx.now + ctx.cfg.no_answer_timeout);
        }
        started
    }

    // ----- B legs ---------------------------------------------------------------------------

    /// Creates a B leg to `target` and sends its INVITE. Err: the media side refused the offer.
    pub(crate) fn start_b_leg(
        &mut self,
        ctx: &mut Ctx<'_>,
        mut target: BTarget,
    ) -> Result<LegId, ()> {
        let id = LegId(u32::try_from(self.legs.len()).unwrap_or(u32::MAX));
        let adv = ctx.cfg.advertised_for(target.peer.transport);
        let call_id = format!("{}@{}", random_token(), adv.host);
        let local_tag = random_token();
        let (cid_name, cid_number) = target
            .caller_id
            .clone()
            .unwrap_or_else(|| (self.caller_id_name.clone(), self.caller_id_number.clone()));
        let from_uri = format!(
            "sip:{}@{}",
            cid_number.as_deref().unwrap_or("anonymous"),
            adv.host
        );
        let from_hdr = match &cid_name {
            Some(n) => callrec_sip::message::format_name_addr(
                Some(n),
                &Uri::parse(&from_uri).map_err(|_| ())?,
                Some(&local_tag),
            ),
            None => format!("<{from_uri}>;tag={local_tag}"),
        };
        let to_hdr = format!("<{}>", target.to_uri);
        let body = if self.a_offer.is_empty() {
            Bytes::new()
        } else {
            ctx.media
                .offer(self.id, LegId::A, id, &self.a_offer)
                .map_err(|e| warn!(leg = %id, error = %e, "media refused the offer"))?
        };
        let branch_via = via_value(ctx.cfg, target.peer.transport);
        let mut invite = Message::request(Method::Invite, target.request_uri.clone());
        invite.push_header(HeaderName::Via, &branch_via);
        invite.push_header(HeaderName::MaxForwards, self.max_forwards.to_string());
        invite.push_header(HeaderName::From, &from_hdr);
        invite.push_header(HeaderName::To, &to_hdr);
        invite.push_header(HeaderName::CallId, &call_id);
        invite.push_header(HeaderName::CSeq, "1 INVITE");
        invite.push_header(
            HeaderName::Contact,
            contact_value(ctx.cfg, target.peer.transport),
        );
        invite.push_header(HeaderName::Allow, ctx.cfg.allow_value());
        if !ctx.cfg.supported.is_empty() {
            invite.push_header(HeaderName::Supported, ctx.cfg.supported.join(", "));
        }
        invite.push_header(HeaderName::UserAgent, &ctx.cfg.user_agent);
        if !body.is_empty() {
            invite.set_body("application/sdp", body);
        }
        let tags = LegTags {
            call_direction: CallDirection::Outbound,
            network: target.network,
            resource_type: target.resource_type,
            account_id: self.account_id.clone(),
            owner_id: target.owner_id.clone(),
            authorizing_id: target.authorizing_id.clone(),
            interaction_id: self.interaction_id.clone(),
            caller_id_name: cid_name,
            caller_id_number: cid_number,
            callee_number: self.callee_number.clone(),
        };
        if self.winner.is_none() {
            // The destination's network as the end user sees it: the latest leg tried (a
            // failover forward to a carrier turns an inbound call into a forwarded one).
            self.to_network = target.network;
        }
        let failover: VecDeque<BTarget> = std::mem::take(&mut target.failover).into();
        let info = LegInfo {
            leg: id,
            call_id: call_id.clone(),
            from_uri,
            to_uri: target.to_uri.clone(),
            request_uri: target.request_uri.to_string(),
            tags,
        };
        let tx = ctx.txl.send_request(ctx.now, target.peer, invite.clone());
        debug!(leg = %id, peer = ?target.peer, ruri = %target.request_uri, "B leg INVITE sent");
        ctx.index.add_client(
            self.id,
            tx,
            ClientRole::Invite {
                call: self.id,
                leg: id,
            },
        );
        ctx.index
            .add_dialog(self.id, (call_id, local_tag.clone()), id);
        if let Some(b) = callrec_sip::message::Via::parse(&branch_via)
            .ok()
            .and_then(|v| v.branch().map(str::to_owned))
        {
            ctx.index.add_branch(self.id, b, id);
        }
        let setup_deadline =
            (target.network == Network::Offnet).then(|| ctx.now + ctx.cfg.gateway_setup_timeout);
        ctx.events.push_back(CallEvent::LegStarted {
            call: self.id,
            leg: Box::new(info.clone()),
        });
        self.legs.push(Leg {
            id,
            info,
            state: LegState::Trying,
            local_tag,
            remote_tag: None,
            local_hdr: from_hdr,
            remote_hdr: to_hdr,
            local_cseq: 1,
            remote_target: target.request_uri,
            route_set: Vec::new(),
            peer: target.peer,
            created: ctx.now,
            answered: None,
            ended: None,
            end: None,
            held: false,
            invite_tx: Some(tx),
            invite: Some(invite),
            ack: None,
            provisional_seen: false,
            cancelled: false,
            setup_deadline,
            pending_ack: None,
            offer_in_progress: true,
            deferred_ack: None,
            failover,
        });
        Ok(id)
    }

    /// A response to a B leg's INVITE.
    pub(crate) fn on_b_invite_response(&mut self, ctx: &mut Ctx<'_>, id: LegId, resp: &Message) {
        let Some(status) = resp.status() else { return };
        let Some(leg) = self.leg_mut(id) else { return };
        leg.setup_deadline = None;
        if status == 100 {
            return;
        }
        // The first tagged response sets the remote tag; a 2xx always does (a fork behind
        // a proxy may answer with another tag than the one that rang).
        if leg.remote_tag.is_none() || (200..300).contains(&status) {
            if let Ok(to) = resp.to() {
                if let Some(tag) = to.tag() {
                    leg.remote_tag = Some(tag.to_owned());
                    leg.remote_hdr = resp
                        .header(HeaderName::To)
                        .map(|v| v.into_owned())
                        .unwrap_or_else(|| to.to_string());
                }
            }
        }
        match status {
            101..=199 => self.on_b_provisional(ctx, id, status, resp),
            200..=299 => self.on_b_answer(ctx, id, resp),
            _ => {
                if let Some(tx) = self.leg(id).and_then(|l| l.invite_tx) {
                    ctx.index.client.remove(&tx);
                }
                let cause = HangupCause::from_sip_status(status);
                self.b_failed(ctx, id, status, cause);
            }
        }
    }

    fn on_b_provisional(&mut self, ctx: &mut Ctx<'_>, id: LegId, status: u16, resp: &Message) {
        let first = {
            let Some(leg) = self.leg_mut(id) else { return };
            if leg.is_finished() {
                return;
            }
            if leg.remote_tag.is_some() {
                leg.state = LegState::Early;
            }
            let first = !leg.provisional_seen;
            leg.provisional_seen = true;
            first
        };
        if self.a_final_sent || self.winner.is_some() {
            return;
        }
        if first && matches!(status, 180 | 183) {
            ctx.events.push_back(CallEvent::LegRinging {
                call: self.id,
                leg: id,
            });
        }
        let mut to_a = self.a_response(ctx, status, resp.reason().unwrap_or("Ringing"));
        if !resp.body().is_empty() {
            match ctx.media.answer(self.id, id, LegId::A, resp.body()) {
                Ok(sdp) => to_a.set_body("application/sdp", sdp),
                Err(e) => warn!(leg = %id, error = %e, "media refused early SDP; relayed without"),
            }
        }
        if let Some(a) = self.legs.first_mut() {
            if a.state == LegState::Trying {
                a.state = LegState::Early;
            }
        }
        ctx.txl.send_response(ctx.now, self.a_tx, to_a);
    }

    fn on_b_answer(&mut self, ctx: &mut Ctx<'_>, id: LegId, resp: &Message) {
        let cfg = ctx.cfg;
        let now = ctx.now;
        let late_offer = self.a_offer.is_empty();
        let Some(leg) = self.leg_mut(id) else { return };
        if leg.state == LegState::Confirmed || leg.state == LegState::Ended {
            // A retransmitted 2xx: the ACK got lost.
            if let Some(ack) = &leg.ack {
                ctx.txl.send_stateless(leg.peer, ack.clone());
            }
            return;
        }
        if let Some(tx) = leg.invite_tx {
            ctx.index.client.remove(&tx);
        }
        if let Ok(contacts) = resp.contacts() {
            if let Some(callrec_sip::message::Contact::Addr(c)) = contacts.into_iter().next() {
                leg.remote_target = c.uri;
            }
        }
        leg.route_set = resp
            .record_routes()
            .map(|rr| rr.iter().rev().map(ToString::to_string).collect())
            .unwrap_or_default();
        let invite_cseq = leg
            .invite
            .as_ref()
            .and_then(|i| i.cseq().ok())
            .map_or(1, |c| c.seq);
        let ack = leg.request_with_cseq(cfg, Method::Ack, invite_cseq);
        leg.offer_in_progress = false;
        let was_cancelled = leg.cancelled;
        let lost = was_cancelled || self.a_final_sent || self.winner.is_some();
        let Some(leg) = self.leg_mut(id) else { return };
        if lost || !late_offer {
            ctx.txl.send_stateless(leg.peer, ack.clone());
            leg.ack = Some(ack);
        } else {
            leg.deferred_ack = Some(ack);
        }
        leg.state = LegState::Confirmed;
        leg.answered = Some(now);
        if lost {
            // Too late: another leg won or the caller went away. Hang this one up.
            let cause = leg.end.map_or(HangupCause::LoseRace, |(c, _)| c);
            debug!(leg = %id, "late 2xx on a B leg; sending BYE");
            self.send_bye(ctx, id, cause);
            return;
        }
        self.winner = Some(id);
        self.no_answer_at = None;
        if let Some(net) = self.leg(id).map(|l| l.info.tags.network) {
            self.to_network = net;
        }
        ctx.events.push_back(CallEvent::LegAnswered {
            call: self.id,
            leg: id,
        });
        // Cancel the other forks.
        let others: Vec<LegId> = self
            .legs
            .iter()
            .filter(|l| !l.id.is_a() && l.id != id && l.is_pending())
            .map(|l| l.id)
            .collect();
        for o in others {
            self.cancel_b_leg(ctx, o, HangupCause::LoseRace);
        }
        // 200 to A with our Contact and the rewritten SDP.
        let mut to_a = self.a_response(ctx, 200, "OK");
        to_a.push_header(HeaderName::Allow, ctx.cfg.allow_value());
        if !resp.body().is_empty() {
            let sdp = if late_offer {
                ctx.media.offer(self.id, id, LegId::A, resp.body())
            } else {
                ctx.media.answer(self.id, id, LegId::A, resp.body())
            };
            match sdp {
                Ok(sdp) => to_a.set_body("application/sdp", sdp),
                Err(e) => {
                    warn!(leg = %id, error = %e, "media refused the answer; ending the call");
                    self.fail_a(ctx, HangupCause::IncompatibleDestination, None);
                    self.send_bye(ctx, id, HangupCause::IncompatibleDestination);
                    return;
                }
            }
        }
        self.send_a_2xx(ctx, to_a);
        info!(leg = %id, "call answered");
        ctx.events.push_back(CallEvent::Bridged {
            call: self.id,
            a: LegId::A,
            b: id,
        });
    }

    /// Sends the 2xx to the A leg's INVITE and starts retransmitting it until the ACK.
    pub(crate) fn send_a_2xx(&mut self, ctx: &mut Ctx<'_>, resp: Message) {
        let now = ctx.now;
        let t1 = ctx.cfg.t1;
        let cseq = resp.cseq().map_or(0, |c| c.seq);
        ctx.txl.send_response(now, self.a_tx, resp.clone());
        ctx.index.server.remove(&self.a_tx);
        self.a_final_sent = true;
        if let Some(a) = self.legs.first_mut() {
            a.state = LegState::Confirmed;
            a.answered = Some(now);
            a.offer_in_progress = false;
            a.pending_ack = Some(PendingAck {
                resp,
                cseq,
                next: now + t1,
                interval: t1,
                give_up: now + sixty_four_t1(t1),
            });
        }
        ctx.events.push_back(CallEvent::LegAnswered {
            call: self.id,
            leg: LegId::A,
        });
    }

    /// A response to the A leg's INVITE with our To tag and Contact.
    pub(crate) fn a_response(&self, ctx: &Ctx<'_>, status: u16, reason: &str) -> Message {
        let a = self.a();
        let mut r = Message::response_to(&self.a_invite, status, reason, Some(&a.local_tag));
        if status > 100 && status < 300 {
            // Responses that make the dialog carry the INVITE's Record-Route (RFC 3261
            // §12.1.1), so the caller's in-dialog requests keep going through its proxies.
            r.copy_headers(&self.a_invite, HeaderName::RecordRoute);
            r.push_header(
                HeaderName::Contact,
                contact_value(ctx.cfg, a.peer.transport),
            );
        }
        r.push_header(HeaderName::Server, &ctx.cfg.user_agent);
        r
    }

    /// A B leg's INVITE failed (final non-2xx, timeout, no answer from the gateway).
    pub(crate) fn b_failed(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: LegId,
        status: u16,
        cause: HangupCause,
    ) {
        let Some(leg) = self.leg_mut(id) else { return };
        if leg.state == LegState::Ended {
            return;
        }
        leg.offer_in_progress = false;
        let had_cause = leg.end.is_some();
        if !had_cause {
            leg.end = Some((cause, Some(status)));
        } else if let Some((c, None)) = leg.end {
            leg.end = Some((c, Some(status)));
        }
        self.end_leg(ctx, id);
        if had_cause || self.a_final_sent || self.winner.is_some() {
            return;
        }
        self.failures.push(status);
        debug!(leg = %id, status, "B leg failed");
        // Carrier fail-over on 5xx, 408, timeouts and refusals to us.
        let carrier = self
            .leg(id)
            .is_some_and(|l| l.info.tags.network == Network::Offnet);
        if carrier && matches!(status, 500..=599 | 408 | 401 | 407) && self.fail_over(ctx, id) {
            return;
        }
        self.maybe_fail_a(ctx);
    }

    /// Starts the next gateway of leg `id`'s destination (it inherits the rest). True when
    /// one started.
    fn fail_over(&mut self, ctx: &mut Ctx<'_>, id: LegId) -> bool {
        while let Some(mut next) = self.next_gateway(id) {
            debug!(peer = ?next.peer, "failing over to the next gateway");
            next.failover = self
                .leg_mut(id)
                .map(|l| std::mem::take(&mut l.failover).into())
                .unwrap_or_default();
            let rest = next.failover.clone();
            match self.start_b_leg(ctx, next) {
                Ok(_) => return true,
                Err(()) => {
                    if let Some(l) = self.leg_mut(id) {
                        l.failover = rest.into();
                    }
                }
            }
        }
        false
    }

    /// When no B leg is left ringing: the failover forward if any (unless the callee was
    /// busy or declined), else the best failure to the caller.
    fn maybe_fail_a(&mut self, ctx: &mut Ctx<'_>) {
        if self
            .legs
            .iter()
            .any(|l| !l.id.is_a() && l.is_pending() && !l.cancelled)
        {
            return;
        }
        let (status, cause) = self.best_failure();
        if !matches!(status, 486 | 600 | 603) && self.start_forward(ctx, cause) {
            return;
        }
        self.fail_a(ctx, cause, Some(status));
    }

    /// The final status for the caller when every B leg failed (RFC 3261 §16.7 in spirit:
    /// 6xx first, then busy, then the lowest class; 5xx from several gateways become 503).
    fn best_failure(&self) -> (u16, HangupCause) {
        let f = &self.failures;
        let pick = f
            .iter()
            .copied()
            .find(|s| (600..700).contains(s))
            .or_else(|| f.iter().copied().find(|s| *s == 486))
            .or_else(|| {
                f.iter()
                    .copied()
                    .filter(|s| (300..500).contains(s))
                    .find(|s| !matches!(s, 401 | 407 | 408))
            })
            .unwrap_or(503);
        let pick = if matches!(pick, 401 | 407) { 503 } else { pick };
        (pick, HangupCause::from_sip_status(pick))
    }

    /// Sends a final failure to the A leg (if not sent yet) and ends it.
    pub(crate) fn fail_a(&mut self, ctx: &mut Ctx<'_>, cause: HangupCause, status: Option<u16>) {
        self.no_answer_at = None;
        if !self.a_final_sent {
            let (code, default_reason) = cause.sip_status();
            let code = status.unwrap_or(code);
            let reason = reason_phrase(code).unwrap_or(default_reason);
            let resp = self.a_response(ctx, code, reason);
            ctx.txl.send_response(ctx.now, self.a_tx, resp);
            ctx.index.server.remove(&self.a_tx);
            self.a_final_sent = true;
            if let Some(a) = self.legs.first_mut() {
                if a.end.is_none() {
                    a.end = Some((cause, Some(code)));
                }
            }
            info!(status = code, cause = %cause, "call failed");
        }
        self.end_leg(ctx, LegId::A);
    }

    /// Asks for a pending B leg to be cancelled.
    pub(crate) fn cancel_b_leg(&mut self, ctx: &mut Ctx<'_>, id: LegId, cause: HangupCause) {
        let now = ctx.now;
        let guard = now + sixty_four_t1(ctx.cfg.t1);
        let Some(leg) = self.leg_mut(id) else { return };
        if !leg.is_pending() || leg.cancelled {
            return;
        }
        leg.cancelled = true;
        leg.end = Some((cause, None));
        // If the leg never finishes (no 487), give up on it after 64*T1.
        leg.setup_deadline = Some(guard);
        if let Some(tx) = leg.invite_tx {
            ctx.txl.cancel(now, tx);
        }
        debug!(leg = %id, cause = %cause, "B leg cancelled");
    }

    /// Sends BYE on a confirmed leg; it ends when the BYE completes.
    pub(crate) fn send_bye(&mut self, ctx: &mut Ctx<'_>, id: LegId, cause: HangupCause) {
        let cfg = ctx.cfg;
        let Some(leg) = self.leg_mut(id) else { return };
        if leg.state != LegState::Confirmed {
            return;
        }
        if leg.end.is_none() {
            leg.end = Some((cause, None));
        }
        leg.pending_ack = None;
        leg.state = LegState::Ending;
        let bye = leg.request(cfg, Method::Bye);
        let tx = ctx.txl.send_request(ctx.now, leg.peer, bye);
        ctx.index.add_client(
            self.id,
            tx,
            ClientRole::Bye {
                call: self.id,
                leg: id,
            },
        );
        debug!(leg = %id, "BYE sent");
    }

    /// Marks a leg ended and emits its CDR facts.
    pub(crate) fn end_leg(&mut self, ctx: &mut Ctx<'_>, id: LegId) {
        let now = ctx.now;
        let from_network = self.from_network;
        let to_network = self.to_network;
        let a_call_id = self.a().info.call_id.clone();
        let call = self.id;
        let Some(leg) = self.leg_mut(id) else { return };
        if leg.state == LegState::Ended {
            return;
        }
        leg.state = LegState::Ended;
        leg.ended = Some(now);
        leg.pending_ack = None;
        leg.setup_deadline = None;
        leg.offer_in_progress = false;
        let (cause, code) = leg.end.unwrap_or((HangupCause::NormalUnspecified, None));
        let created = leg.created;
        let answered = leg.answered;
        let cdr = CdrFacts {
            call_id: leg.info.call_id.clone(),
            a_leg_call_id: a_call_id,
            interaction_id: leg.info.tags.interaction_id.clone(),
            call_direction: leg.info.tags.call_direction,
            network: leg.info.tags.network,
            from_uri: leg.info.from_uri.clone(),
            to_uri: leg.info.to_uri.clone(),
            request_uri: leg.info.request_uri.clone(),
            caller_id_name: leg.info.tags.caller_id_name.clone(),
            caller_id_number: leg.info.tags.caller_id_number.clone(),
            callee_number: leg.info.tags.callee_number.clone(),
            created,
            answered,
            ended: now,
            duration: now.saturating_duration_since(created),
            billing: answered.map_or(Duration::ZERO, |a| now.saturating_duration_since(a)),
            ringing: answered.unwrap_or(now).saturating_duration_since(created),
            hangup_cause: cause,
            hangup_code: code,
            account_id: leg.info.tags.account_id.clone(),
            owner_id: leg.info.tags.owner_id.clone(),
            authorizing_id: leg.info.tags.authorizing_id.clone(),
            resource_type: leg.info.tags.resource_type,
            end_user_direction: EndUserDirection::from_networks(from_network, to_network),
        };
        ctx.index
            .dialogs
            .remove(&(leg.info.call_id.clone(), leg.local_tag.clone()));
        info!(leg = %id, cause = %cause, "leg ended");
        ctx.events.push_back(CallEvent::LegEnded {
            call,
            leg: id,
            cdr: Box::new(cdr),
        });
    }

    // ----- A leg ----------------------------------------------------------------------------

    /// The caller cancelled (CANCEL matched the INVITE, or BYE on the early dialog).
    pub(crate) fn on_a_cancel(&mut self, ctx: &mut Ctx<'_>) {
        if self.a_final_sent {
            return;
        }
        if let Some(a) = self.legs.first_mut() {
            a.end = Some((HangupCause::OriginatorCancel, Some(487)));
        }
        self.fail_a(ctx, HangupCause::OriginatorCancel, Some(487));
        self.cancel_pending_b_legs(ctx, HangupCause::OriginatorCancel);
    }

    /// An ACK on a dialog of this call (for a 2xx we sent).
    pub(crate) fn on_ack(&mut self, ctx: &mut Ctx<'_>, id: LegId, ack: &Message) {
        let seq = ack.cseq().map_or(0, |c| c.seq);
        let Some(leg) = self.leg_mut(id) else { return };
        match &leg.pending_ack {
            Some(p) if p.cseq == seq => leg.pending_ack = None,
            _ => {}
        }
        // Late offer: this ACK carries the answer the other leg waits for in its ACK.
        let Some(other) = self.peer_leg(id) else {
            return;
        };
        let call = self.id;
        let Some(o) = self.leg_mut(other) else { return };
        let Some(mut deferred) = o.deferred_ack.take() else {
            return;
        };
        if !ack.body().is_empty() {
            match ctx.media.answer(call, id, other, ack.body()) {
                Ok(sdp) => deferred.set_body("application/sdp", sdp),
                Err(e) => warn!(leg = %id, error = %e, "media refused the answer in ACK"),
            }
        }
        ctx.txl.send_stateless(o.peer, deferred.clone());
        o.ack = Some(deferred);
    }

    /// BYE received on leg `id` (already answered with 200 by the caller of this method).
    pub(crate) fn on_bye(&mut self, ctx: &mut Ctx<'_>, id: LegId) {
        if id.is_a() && !self.a_final_sent {
            self.on_a_cancel(ctx);
            return;
        }
        if !id.is_a() && self.leg(id).is_some_and(Leg::is_pending) {
            // A callee must not BYE an early dialog (RFC 3261 §15); its INVITE still ends
            // with a final response, which decides the leg.
            debug!(leg = %id, "BYE on an early B-leg dialog ignored");
            return;
        }
        let other = self.peer_leg(id);
        if let Some(leg) = self.leg_mut(id) {
            if leg.end.is_none() {
                leg.end = Some((HangupCause::NormalClearing, None));
            }
        }
        self.end_leg(ctx, id);
        info!(leg = %id, "hangup");
        if let Some(o) = other {
            self.send_bye(ctx, o, HangupCause::NormalClearing);
        }
    }

    /// The BYE we sent on `id` completed (any final response, or timeout).
    pub(crate) fn on_bye_done(&mut self, ctx: &mut Ctx<'_>, id: LegId, status: Option<u16>) {
        if let Some(leg) = self.leg_mut(id) {
            if let (Some((c, None)), Some(s)) = (leg.end, status) {
                leg.end = Some((c, Some(s)));
            }
        }
        self.end_leg(ctx, id);
    }

    /// Cancels every B leg still ringing (no final response yet) with `cause`.
    fn cancel_pending_b_legs(&mut self, ctx: &mut Ctx<'_>, cause: HangupCause) {
        let pending: Vec<LegId> = self
            .legs
            .iter()
            .filter(|l| !l.id.is_a() && l.is_pending())
            .map(|l| l.id)
            .collect();
        for id in pending {
            self.cancel_b_leg(ctx, id, cause);
        }
    }

    /// Ends the call from the engine (or a timer) with `cause`.
    pub(crate) fn hangup(&mut self, ctx: &mut Ctx<'_>, cause: HangupCause) {
        if !self.a_final_sent {
            self.fail_a(ctx, cause, None);
            self.cancel_pending_b_legs(ctx, cause);
            return;
        }
        let confirmed: Vec<LegId> = self
            .legs
            .iter()
            .filter(|l| l.state == LegState::Confirmed)
            .map(|l| l.id)
            .collect();
        for id in confirmed {
            self.send_bye(ctx, id, cause);
        }
        self.cancel_pending_b_legs(ctx, cause);
    }

    /// Runs the call's timers that are due.
    pub(crate) fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        if self.no_answer_at.is_some_and(|t| t <= now) {
            self.no_answer_at = None;
            if !self.start_forward(ctx, HangupCause::NoAnswer) {
                info!("no answer");
                self.hangup(ctx, HangupCause::NoAnswer);
            }
        }
        let ids: Vec<LegId> = self.legs.iter().map(|l| l.id).collect();
        for id in ids {
            let Some(leg) = self.leg_mut(id) else {
                continue;
            };
            if leg.setup_deadline.is_some_and(|t| t <= now) {
                leg.setup_deadline = None;
                if leg.cancelled {
                    // CANCEL went unanswered by a final response for 64*T1.
                    if let Some(tx) = leg.invite_tx {
                        ctx.index.client.remove(&tx);
                    }
                    self.end_leg(ctx, id);
                } else {
                    // A gateway said nothing: cancel it and fail over.
                    debug!(leg = %id, "gateway setup timeout");
                    // Fail over now; this leg ends when its CANCEL completes.
                    self.cancel_b_leg(ctx, id, HangupCause::RecoveryOnTimerExpire);
                    self.b_failed_soft(ctx, id);
                }
                continue;
            }
            let Some(leg) = self.leg_mut(id) else {
                continue;
            };
            let mut give_up = false;
            if let Some(p) = leg.pending_ack.as_mut() {
                if p.next <= now {
                    if now >= p.give_up {
                        give_up = true;
                        leg.pending_ack = None;
                    } else {
                        ctx.txl.send_stateless(leg.peer, p.resp.clone());
                        p.interval = (p.interval * 2).min(ctx.cfg.t2);
                        p.next = (now + p.interval).min(p.give_up);
                    }
                }
            }
            if give_up {
                warn!(leg = %id, "no ACK for our 2xx; ending the call");
                self.hangup(ctx, HangupCause::RecoveryOnTimerExpire);
            }
        }
    }

    /// A gateway timed out before any response: record a 408 and fail over while the
    /// cancelled leg finishes on its own.
    fn b_failed_soft(&mut self, ctx: &mut Ctx<'_>, id: LegId) {
        if let Some(l) = self.leg_mut(id) {
            l.end = Some((HangupCause::RecoveryOnTimerExpire, Some(408)));
        }
        if self.a_final_sent || self.winner.is_some() {
            return;
        }
        self.failures.push(408);
        if self.fail_over(ctx, id) {
            return;
        }
        // No gateway left: the caller gets the outcome once the last leg has finished, or
        // now when none is pending besides cancelled ones.
        self.maybe_fail_a(ctx);
    }
}

/// Standard reason phrases for the statuses we send.
pub(crate) fn reason_phrase(status: u16) -> Option<&'static str> {
    Some(match status {
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => return None,
    })
}
