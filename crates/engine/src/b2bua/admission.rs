//! Admitting an INVITE into a call: who is calling (a carrier by source address, or a device
//! by digest authentication — anything else is refused, so callrec is no open relay), where
//! the dialled number goes (routing), and starting the call: ringing devices, trying
//! gateways, or answering ourselves.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use tracing::{debug, info, info_span};

use callrec_sip::message::{HeaderName, Message};
use callrec_sip::transaction::{Peer, ServerTxId, TransactionLayer};

use super::call::{BTarget, Call, Mode};
use super::core::Core;
use super::dir_adapter::{self, Caller, Decision, PlanTarget};
use super::events::{CallEvent, LegInfo};
use super::ids::{CallRef, LegId};
use super::index::{Ctx, ServerRole};
use super::leg::{random_token, Leg, LegState};
use super::media_seam::MediaSeam;
use callrec_kazoo::cdr::HangupCause;
use callrec_kazoo::tags::{interaction_id, CallDirection, LegTags, Network, ResourceType};

pub(crate) use super::dir_adapter::Admission;

impl Core {
    /// REGISTER: handed to the registrar with our directory.
    pub(crate) fn on_register(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        from: Peer,
        req: &Message,
        txl: &mut TransactionLayer,
    ) {
        let resp = dir_adapter::register(&mut self.admission, &self.dir, now, from, req);
        txl.send_response(now, tx, resp);
    }

    /// A new INVITE outside any dialog.
    pub(crate) fn on_invite(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        from: Peer,
        req: Message,
        txl: &mut TransactionLayer,
        media: &mut dyn MediaSeam,
    ) {
        let caller = match dir_adapter::admit(&mut self.admission, &self.dir, now, from, &req) {
            Decision::Admit(c) => c,
            Decision::Reply(resp) => {
                debug!(status = ?resp.status(), "INVITE not admitted");
                txl.send_response(now, tx, resp);
                return;
            }
        };
        let (Ok(call_id), Ok(from_hdr), Ok(to_hdr)) = (req.call_id(), req.from(), req.to()) else {
            self.respond(now, txl, tx, &req, 400);
            return;
        };
        let Some(ruri) = req.request_uri().cloned() else {
            return;
        };
        let number = ruri
            .user()
            .map(|u| String::from_utf8_lossy(&callrec_sip::message::unescape(u)).into_owned())
            .or_else(|| to_hdr.uri.user().map(str::to_owned))
            .unwrap_or_default();
        let id = CallRef(self.next_call);
        self.next_call += 1;
        let span = info_span!("call", call = id.0, call_id = %call_id);
        let _enter = span.enter();
        let gregorian = callrec_kazoo::gregorian::from_unix(self.cfg.wall_clock.unix_secs(now));
        let interaction = interaction_id(gregorian, callrec_sip::token::random_u32());

        let plan = dir_adapter::plan(&self.admission, &self.dir, now, &caller, &number);
        let to_network = match &plan.target {
            PlanTarget::Carriers(_) => Network::Offnet,
            _ => Network::Onnet,
        };
        let from_display = from_hdr.display_name.clone();
        let from_user = from_hdr.uri.user().map(str::to_owned);
        let (network, resource_type, account_id, owner_id, authorizing_id, cid_name, cid_number) =
            match &caller {
                Caller::Carrier {
                    resource_id,
                    account_id,
                } => (
                    Network::Offnet,
                    Some(ResourceType::OffnetOrigination),
                    account_id.clone(),
                    None,
                    Some(resource_id.clone()),
                    from_display,
                    from_user,
                ),
                Caller::Device {
                    device_id,
                    account_id,
                    owner_id,
                    internal,
                    external,
                } => {
                    let cid = if to_network == Network::Offnet {
                        external
                    } else {
                        internal
                    };
                    (
                        Network::Onnet,
                        None,
                        account_id.clone(),
                        owner_id.clone(),
                        Some(device_id.clone()),
                        cid.name.clone().or(from_display),
                        cid.number.clone().or(from_user),
                    )
                }
            };
        // The call's account: the callflow's it matched (a global carrier's call to a DID),
        // else the caller's.
        let account_id = plan.account_id.clone().or(account_id);
        let tags = LegTags {
            call_direction: CallDirection::Inbound,
            network,
            resource_type,
            account_id: account_id.clone(),
            owner_id,
            authorizing_id,
            interaction_id: interaction.clone(),
            caller_id_name: cid_name.clone(),
            caller_id_number: cid_number.clone(),
            callee_number: Some(number.clone()),
        };
        let info = LegInfo {
            leg: LegId::A,
            call_id: call_id.clone(),
            from_uri: from_hdr.uri.to_string(),
            to_uri: to_hdr.uri.to_string(),
            request_uri: ruri.to_string(),
            tags,
        };
        let local_tag = random_token();
        let remote_target = match req.contacts() {
            Ok(c) => match c.into_iter().next() {
                Some(callrec_sip::message::Contact::Addr(a)) => a.uri,
                _ => from_hdr.uri.clone(),
            },
            Err(_) => from_hdr.uri.clone(),
        };
        let a = Leg {
            id: LegId::A,
            info: info.clone(),
            state: LegState::Trying,
            local_tag: local_tag.clone(),
            remote_tag: from_hdr.tag().map(str::to_owned),
            local_hdr: format!(
                "{};tag={local_tag}",
                req.header(HeaderName::To).unwrap_or_default()
            ),
            remote_hdr: req
                .header(HeaderName::From)
                .unwrap_or_default()
                .into_owned(),
            local_cseq: 0,
            remote_target,
            route_set: req
                .record_routes()
                .map(|rr| rr.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            peer: from,
            created: now,
            answered: None,
            ended: None,
            end: None,
            held: false,
            invite_tx: None,
            invite: None,
            ack: None,
            provisional_seen: false,
            cancelled: false,
            setup_deadline: None,
            pending_ack: None,
            offer_in_progress: true,
            deferred_ack: None,
            failover: VecDeque::new(),
        };
        let a_offer: Bytes = req.body().clone();
        let max_forwards = req
            .max_forwards()
            .ok()
            .flatten()
            .unwrap_or(self.cfg.max_forwards)
            .saturating_sub(1);
        let mut call = Call {
            id,
            span: span.clone(),
            interaction_id: interaction,
            legs: vec![a],
            a_tx: tx,
            a_invite: req,
            a_offer,
            max_forwards,
            a_final_sent: false,
            mode: Mode::Local,
            winner: None,
            failures: Vec::new(),
            no_answer_at: None,
            from_network: network,
            to_network,
            caller_id_name: cid_name,
            caller_id_number: cid_number,
            callee_number: Some(number),
            account_id,
            scheduled: None,
            on_no_answer: Vec::new(),
            released: false,
        };
        self.index
            .add_server(id, tx, ServerRole::Invite { call: id });
        self.index.add_dialog(id, (call_id, local_tag), LegId::A);
        self.events.push_back(CallEvent::LegStarted {
            call: id,
            leg: Box::new(info),
        });
        for data in plan.records {
            self.events
                .push_back(CallEvent::RecordCall { call: id, data });
        }
        call.on_no_answer = plan.on_no_answer;
        let ring_timeout = plan.ring_timeout;
        match plan.target {
            PlanTarget::Devices(targets) => {
                call.mode = Mode::Bridge;
                self.calls.insert(id, call);
                self.with_call(now, id, txl, media, |c, ctx| {
                    if targets.is_empty() {
                        if c.start_forward(ctx, HangupCause::UserNotRegistered) {
                            return;
                        }
                        info!("callee has no registered device");
                        c.fail_a(ctx, HangupCause::UserNotRegistered, Some(480));
                        return;
                    }
                    start_forks(c, ctx, targets);
                    if let Some(t) = ring_timeout {
                        if c.no_answer_at.is_some() {
                            c.no_answer_at = Some(ctx.now + t);
                        }
                    }
                });
            }
            PlanTarget::Carriers(gateways) => {
                call.mode = Mode::Bridge;
                self.calls.insert(id, call);
                self.with_call(now, id, txl, media, |c, ctx| {
                    let mut gateways = VecDeque::from(gateways);
                    match gateways.pop_front() {
                        Some(mut t) => {
                            t.failover = gateways.into();
                            start_forks(c, ctx, vec![t]);
                        }
                        None => c.fail_a(ctx, HangupCause::NoRouteDestination, Some(503)),
                    }
                });
            }
            PlanTarget::RecordCaller(data) => {
                self.calls.insert(id, call);
                self.events
                    .push_back(CallEvent::RecordCaller { call: id, data });
                self.with_call(now, id, txl, media, answer_locally);
            }
            PlanTarget::NotFound => {
                self.calls.insert(id, call);
                self.with_call(now, id, txl, media, |c, ctx| {
                    c.fail_a(ctx, HangupCause::NoRouteDestination, Some(404));
                });
            }
            PlanTarget::Refused => {
                self.calls.insert(id, call);
                self.with_call(now, id, txl, media, |c, ctx| {
                    c.fail_a(ctx, HangupCause::CallRejected, Some(403));
                });
            }
        }
    }
}

/// Sends the INVITE of every B leg in `targets` at once (ring all); the first 2xx wins.
fn start_forks(call: &mut Call, ctx: &mut Ctx<'_>, targets: Vec<BTarget>) {
    let mut started = 0;
    for t in targets {
        if call.start_b_leg(ctx, t).is_ok() {
            started += 1;
        }
    }
    if started == 0 {
        call.fail_a(ctx, HangupCause::IncompatibleDestination, Some(488));
        return;
    }
    call.no_answer_at = Some(ctx.now + ctx.cfg.no_answer_timeout);
}

/// record_caller: callrec answers the A leg itself with the media side's SDP. An INVITE
/// without an offer gets 488 (the seam has no way to make an offer).
fn answer_locally(call: &mut Call, ctx: &mut Ctx<'_>) {
    let mut resp = call.a_response(ctx, 200, "OK");
    resp.push_header(HeaderName::Allow, ctx.cfg.allow_value());
    if call.a_offer.is_empty() {
        // We would have to offer in the 200; the media seam only answers.
        tracing::warn!("record_caller needs an SDP offer in the INVITE");
        call.fail_a(ctx, HangupCause::IncompatibleDestination, Some(488));
        return;
    }
    match ctx.media.local_answer(call.id, LegId::A, &call.a_offer) {
        Ok(sdp) => resp.set_body("application/sdp", sdp),
        Err(e) => {
            tracing::warn!(error = %e, "media refused the caller's offer");
            call.fail_a(ctx, HangupCause::IncompatibleDestination, Some(488));
            return;
        }
    }
    call.send_a_2xx(ctx, resp);
    info!("answered by callrec (record_caller)");
}
