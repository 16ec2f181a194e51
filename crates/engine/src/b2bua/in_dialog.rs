//! In-dialog requests after the INVITE: re-INVITE and UPDATE (offers, hold/unhold) and other
//! requests (INFO...) relayed from one leg to the other, their responses relayed back, and
//! the local answers of a call callrec answered itself.

use tracing::{debug, warn};

use callrec_sip::message::{HeaderName, Message, Method};
use callrec_sip::transaction::ServerTxId;

use super::call::{reason_phrase, Call, Mode};
use super::events::CallEvent;
use super::hold::sdp_is_hold;
use super::ids::LegId;
use super::index::{ClientRole, Ctx, ServerRole};
use super::leg::{contact_value, LegState, PendingAck};

impl Call {
    /// Answers `req` on `tx` with a bare status.
    fn reply(&self, ctx: &mut Ctx<'_>, tx: ServerTxId, req: &Message, status: u16) {
        let mut resp = Message::response_to(req, status, reason_phrase(status).unwrap_or(""), None);
        resp.push_header(HeaderName::Server, &ctx.cfg.user_agent);
        ctx.txl.send_response(ctx.now, tx, resp);
    }

    /// Notes a hold or unhold by `id` from its offer.
    fn note_hold(&mut self, ctx: &mut Ctx<'_>, id: LegId, sdp: &[u8]) {
        let held = sdp_is_hold(sdp);
        let call = self.id;
        let Some(leg) = self.leg_mut(id) else { return };
        if held != leg.held {
            leg.held = held;
            ctx.events.push_back(if held {
                CallEvent::Hold { call, leg: id }
            } else {
                CallEvent::Unhold { call, leg: id }
            });
        }
    }

    /// An in-dialog request (not ACK, not BYE) from leg `from` on server transaction `tx`.
    pub(crate) fn on_in_dialog(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: LegId,
        tx: ServerTxId,
        req: &Message,
    ) {
        let Some(method) = req.method().cloned() else {
            return;
        };
        let is_offer_method = matches!(method, Method::Invite | Method::Update);
        if method == Method::Options {
            let mut resp = Message::response_to(req, 200, "OK", None);
            resp.push_header(HeaderName::Allow, ctx.cfg.allow_value());
            ctx.txl.send_response(ctx.now, tx, resp);
            return;
        }
        if matches!(self.mode, Mode::Local) {
            self.local_in_dialog(ctx, from, tx, req, &method);
            return;
        }
        let Some(to) = self.peer_leg(from) else {
            // Not bridged (yet): nothing to relay to.
            self.reply(ctx, tx, req, if is_offer_method { 491 } else { 481 });
            return;
        };
        let both_confirmed = [from, to]
            .iter()
            .all(|l| self.leg(*l).is_some_and(|l| l.state == LegState::Confirmed));
        if !both_confirmed {
            self.reply(ctx, tx, req, 481);
            return;
        }
        if is_offer_method
            && [from, to]
                .iter()
                .any(|l| self.leg(*l).is_some_and(|l| l.offer_in_progress))
        {
            // RFC 3261 §14.2 glare.
            self.reply(ctx, tx, req, 491);
            return;
        }
        let had_offer = !req.body().is_empty();
        let mut body = None;
        if had_offer {
            let ct = req
                .content_type()
                .ok()
                .flatten()
                .unwrap_or_else(|| "application/sdp".to_owned());
            if is_offer_method {
                self.note_hold(ctx, from, req.body());
                match ctx.media.offer(self.id, from, to, req.body()) {
                    Ok(sdp) => body = Some((ct, sdp)),
                    Err(e) => {
                        warn!(leg = %from, error = %e, "media refused the re-offer");
                        self.reply(ctx, tx, req, 488);
                        return;
                    }
                }
            } else {
                body = Some((ct, req.body().clone()));
            }
        }
        let cfg = ctx.cfg;
        let call = self.id;
        let Some(out_leg) = self.leg_mut(to) else {
            return;
        };
        let mut out = out_leg.request(cfg, method.clone());
        for name in [
            HeaderName::Event,
            HeaderName::SubscriptionState,
            HeaderName::ContentDisposition,
        ] {
            if let Some(v) = req.header(name.clone()) {
                out.push_header(name, v);
            }
        }
        if let Some((ct, b)) = body {
            out.set_body(&ct, b);
        }
        let peer = out_leg.peer;
        if is_offer_method {
            out_leg.offer_in_progress = true;
        }
        let ctx_tx = ctx.txl.send_request(ctx.now, peer, out);
        if is_offer_method {
            if let Some(l) = self.leg_mut(from) {
                l.offer_in_progress = true;
            }
        }
        ctx.index
            .add_server(call, tx, ServerRole::Relay { call, from });
        ctx.index.add_client(
            call,
            ctx_tx,
            ClientRole::Relay {
                call,
                to,
                from,
                server: tx,
                method: method.clone(),
                had_offer,
            },
        );
        debug!(from = %from, to = %to, method = %method, "in-dialog request relayed");
    }

    /// The response to a relayed request; `resp` None: it timed out.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_relay_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        to: LegId,
        from: LegId,
        server: ServerTxId,
        method: &Method,
        had_offer: bool,
        resp: Option<&Message>,
    ) -> bool {
        let status = resp.and_then(Message::status).unwrap_or(408);
        if status < 200 {
            return false;
        }
        let is_invite = *method == Method::Invite;
        let Some(orig) = ctx.txl.server_request(server).cloned() else {
            return true;
        };
        let reason = resp
            .and_then(Message::reason)
            .or_else(|| reason_phrase(status))
            .unwrap_or("")
            .to_owned();
        let mut back = Message::response_to(&orig, status, &reason, None);
        back.push_header(HeaderName::Server, &ctx.cfg.user_agent);
        let cfg = ctx.cfg;
        if (200..300).contains(&status) {
            if matches!(method, Method::Invite | Method::Update) {
                let tp = self.leg(from).map(|l| l.peer.transport);
                if let Some(tp) = tp {
                    back.push_header(HeaderName::Contact, contact_value(cfg, tp));
                }
            }
            if let Some(resp) = resp {
                if !resp.body().is_empty() {
                    let ct = resp
                        .content_type()
                        .ok()
                        .flatten()
                        .unwrap_or_else(|| "application/sdp".to_owned());
                    let sdp = if matches!(method, Method::Invite | Method::Update) {
                        if had_offer {
                            ctx.media.answer(self.id, to, from, resp.body())
                        } else {
                            self.note_hold(ctx, to, resp.body());
                            ctx.media.offer(self.id, to, from, resp.body())
                        }
                    } else {
                        Ok(resp.body().clone())
                    };
                    match sdp {
                        Ok(b) => back.set_body(&ct, b),
                        Err(e) => {
                            warn!(leg = %to, error = %e, "media refused SDP in a relayed response")
                        }
                    }
                }
            }
            if is_invite {
                // ACK the other leg's 2xx now, or when the caller's ACK brings the answer.
                let seq = self.leg(to).map_or(0, |l| l.local_cseq);
                if let Some(l) = self.leg_mut(to) {
                    let ack = l.request_with_cseq(cfg, Method::Ack, seq);
                    if had_offer {
                        ctx.txl.send_stateless(l.peer, ack.clone());
                        l.ack = Some(ack);
                    } else {
                        l.deferred_ack = Some(ack);
                    }
                }
            }
        }
        for id in [to, from] {
            if let Some(l) = self.leg_mut(id) {
                if matches!(method, Method::Invite | Method::Update) {
                    l.offer_in_progress = false;
                }
            }
        }
        if is_invite && (200..300).contains(&status) {
            let now = ctx.now;
            let t1 = cfg.t1;
            let cseq = back.cseq().map_or(0, |c| c.seq);
            if let Some(l) = self.leg_mut(from) {
                l.pending_ack = Some(PendingAck {
                    resp: back.clone(),
                    cseq,
                    next: now + t1,
                    interval: t1,
                    give_up: now + t1.saturating_mul(64),
                });
            }
        }
        ctx.txl.send_response(ctx.now, server, back);
        ctx.index.server.remove(&server);
        true
    }

    /// In-dialog requests on a call callrec answered itself.
    fn local_in_dialog(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: LegId,
        tx: ServerTxId,
        req: &Message,
        method: &Method,
    ) {
        match method {
            Method::Invite | Method::Update => {
                let mut resp = Message::response_to(req, 200, "OK", None);
                resp.push_header(HeaderName::Server, &ctx.cfg.user_agent);
                if let Some(tp) = self.leg(from).map(|l| l.peer.transport) {
                    resp.push_header(HeaderName::Contact, contact_value(ctx.cfg, tp));
                }
                if !req.body().is_empty() {
                    self.note_hold(ctx, from, req.body());
                    match ctx.media.local_answer(self.id, from, req.body()) {
                        Ok(sdp) => resp.set_body("application/sdp", sdp),
                        Err(e) => {
                            warn!(error = %e, "media refused the re-offer");
                            self.reply(ctx, tx, req, 488);
                            return;
                        }
                    }
                }
                ctx.txl.send_response(ctx.now, tx, resp.clone());
                if *method == Method::Invite {
                    let now = ctx.now;
                    let t1 = ctx.cfg.t1;
                    let cseq = resp.cseq().map_or(0, |c| c.seq);
                    if let Some(l) = self.leg_mut(from) {
                        l.pending_ack = Some(PendingAck {
                            resp,
                            cseq,
                            next: now + t1,
                            interval: t1,
                            give_up: now + t1.saturating_mul(64),
                        });
                    }
                }
            }
            _ => self.reply(ctx, tx, req, 200),
        }
    }
}
