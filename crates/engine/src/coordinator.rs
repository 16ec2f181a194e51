//! The recording coordinator: which recordings a call gets, when they start and stop, and what
//! their metadata says. Sans-IO: it turns the B2BUA's [`CallEvent`]s (plus `now`) into
//! [`CoordinatorCommand`]s; the engine carries them out (spool entry, media recorder) and reports back
//! with [`Coordinator::finished`] when a recorder has closed its file.
//!
//! Rules (behaviour.md "Which legs get recorded", "Timing and limits"):
//! - The matrix plans come from [`decide`](callrec_kazoo::recording::decide()) once the first B leg starts (then
//!   the destination network is known). Account and caller plans are taken once; callee plans
//!   are kept per B leg and start only for the leg that answers (ring-all losers never record).
//!   When the B leg that answers goes to another network than the first B leg (a failover
//!   call forward to a carrier), the account and caller plans are decided again for it.
//!   A B leg forwarded to a carrier by a device's `call_forward` names that device: its
//!   (and its owner's) rules apply as the callee's.
//! - A plan starts when its trigger holds: `Now` at once, `Answer` when its leg is answered,
//!   `Bridge` when the call is bridged; a trigger already satisfied starts at once.
//! - `record_call` starts push and stops pop (LIFO); `record_caller` records the caller alone.
//! - Everything running stops when the call ends; a recorder also stops itself at its time
//!   limit. A recording shorter than `record_min_sec` is discarded (file deleted, no upload,
//!   the CDR says so).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::b2bua::{CallDirection, CallEvent, CallRef, LegId, LegInfo, Network};
use callrec_kazoo::load::DocLookup;
use callrec_kazoo::recording::{
    self as policy, CallFacts, EndpointFacts, Format, LegDirection, Origin, PolicyConfig,
    RecordCallStack, RecordCaller, RecordedLeg, RecordingMetadata, RecordingTable,
    ResolvedSettings, StackEvent, StartTrigger, UploadState, UrlStyle,
};
use serde_json::Value;

/// What audio a recording takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingKind {
    /// Both parties: caller (A leg) left, callee (answering B leg) right (or a mono mix).
    Call,
    /// The caller alone (`record_caller`), mono.
    CallerOnly,
}

/// A recording to start now.
#[derive(Debug, Clone)]
pub struct StartRecording {
    /// The call.
    pub call: CallRef,
    /// Recording id (32 hex digits); also the spool entry's id.
    pub id: String,
    /// What audio to take.
    pub kind: RecordingKind,
    /// File format.
    pub format: Format,
    /// Requested sample rate (`None` = the codec's rate).
    pub sample_rate: Option<u32>,
    /// The recorder stops by itself after this long.
    pub time_limit: Duration,
    /// Metadata so far (duration filled in when it finishes).
    pub metadata: RecordingMetadata,
}

/// What the engine must do.
#[derive(Debug, Clone)]
pub enum CoordinatorCommand {
    /// Create the spool entry and start a recorder.
    Start(Box<StartRecording>),
    /// Stop this recorder (hangup, `record_call` stop); it reports back through
    /// [`Coordinator::finished`].
    Stop {
        /// The call.
        call: CallRef,
        /// The recording id.
        id: String,
    },
}

/// The outcome of a finished recording.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Final metadata (duration set; upload state `Pending`, `NoUrl` or `Discarded`).
    pub metadata: RecordingMetadata,
    /// True when shorter than `record_min_sec`: delete the file, upload nothing.
    pub discard: bool,
}

/// A recording that a CDR mentions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegRecording {
    /// Recording id.
    pub id: String,
    /// File name as uploaded.
    pub file_name: String,
    /// Origin label.
    pub origin: String,
    /// True when it was (or will be) discarded for being shorter than `record_min_sec`.
    pub discarded: bool,
    /// Why it was never recorded (its spool entry was refused: `low_disk_space`,
    /// `spool_error`); `None` for a recording that has a file.
    pub refused: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct Pending {
    /// For callee plans: the B leg they belong to.
    b_leg: Option<LegId>,
    leg: RecordedLeg,
    origin: Origin,
    trigger: StartTrigger,
    settings: ResolvedSettings,
    endpoint_id: Option<String>,
    owner_id: Option<String>,
    file_name: Option<String>,
    id: Option<String>,
}

impl Pending {
    /// A matrix plan waiting for its trigger (`b_leg`: the B leg a callee plan belongs to).
    fn from_plan(p: policy::Plan, b_leg: Option<LegId>) -> Pending {
        Pending {
            b_leg,
            leg: p.leg,
            origin: p.origin,
            trigger: p.trigger,
            settings: p.settings,
            endpoint_id: p.endpoint_id,
            owner_id: p.owner_id,
            file_name: None,
            id: None,
        }
    }
}

#[derive(Debug, Clone)]
struct Running {
    call: CallRef,
    id: String,
    /// The leg whose CDR carries it.
    cdr_leg: LegId,
    started: Instant,
    min_sec: u32,
    metadata: RecordingMetadata,
    stopped_at: Option<Instant>,
    /// The matrix rule of an A-leg recording (account or caller endpoint), for re-deciding
    /// when the destination's network changes; None for callee, `record_call`/`_caller`.
    matrix_origin: Option<Origin>,
}

#[derive(Debug, Default)]
struct CallState {
    a: Option<LegInfo>,
    b: HashMap<LegId, LegInfo>,
    winner: Option<LegId>,
    a_answered: bool,
    bridged: bool,
    decided: bool,
    /// The destination network the A-leg rules were decided for.
    decided_to: Option<Network>,
    pending: Vec<Pending>,
    running: Vec<Running>,
    stack: RecordCallStack,
    /// Recordings that finished while the call goes on (`record_call` stop, time limit), by
    /// the leg whose CDR names them: the CDR is written later, at that leg's end.
    finished: Vec<(LegId, LegRecording)>,
    ended: bool,
    /// The account the call belongs to, once known.
    account_id: Option<String>,
}

/// The per-process recording coordinator.
pub struct Coordinator {
    cfg: PolicyConfig,
    calls: HashMap<CallRef, CallState>,
    /// Recordings still being written after their call ended, by id.
    closing: HashMap<String, Running>,
    new_id: Box<dyn FnMut() -> u128 + Send>,
}

impl Coordinator {
    /// A coordinator with these policy settings and id generator (random in production,
    /// a counter in tests).
    pub fn new(cfg: PolicyConfig, new_id: Box<dyn FnMut() -> u128 + Send>) -> Self {
        Coordinator {
            cfg,
            calls: HashMap::new(),
            closing: HashMap::new(),
            new_id,
        }
    }

    /// Replace the policy settings (document reload).
    pub fn set_config(&mut self, cfg: PolicyConfig) {
        self.cfg = cfg;
    }

    /// Number of calls being tracked.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Feed one event from the B2BUA. `unix_secs` is the wall clock for metadata.
    pub fn handle(
        &mut self,
        now: Instant,
        unix_secs: u64,
        event: &CallEvent,
        docs: &dyn DocLookup,
    ) -> Vec<CoordinatorCommand> {
        let mut out = Vec::new();
        match event {
            CallEvent::LegStarted { call, leg } => {
                let st = self.calls.entry(*call).or_default();
                if leg.leg.is_a() {
                    st.a = Some((**leg).clone());
                } else {
                    st.b.insert(leg.leg, (**leg).clone());
                    self.decide_for_b(*call, leg.leg, docs);
                    self.start_due(now, unix_secs, *call, &mut out);
                }
            }
            CallEvent::LegAnswered { call, leg } => {
                if let Some(st) = self.calls.get_mut(call) {
                    if leg.is_a() {
                        st.a_answered = true;
                    } else {
                        st.winner = Some(*leg);
                        // Callee plans of the other B legs can never start.
                        let winner = *leg;
                        st.pending.retain(|p| p.b_leg.is_none_or(|b| b == winner));
                    }
                }
                if !leg.is_a() {
                    self.redecide_a(now, *call, *leg, docs, &mut out);
                }
                self.start_due(now, unix_secs, *call, &mut out);
            }
            CallEvent::Bridged { call, b, .. } => {
                if let Some(st) = self.calls.get_mut(call) {
                    st.bridged = true;
                    st.a_answered = true;
                    st.winner = Some(*b);
                }
                self.start_due(now, unix_secs, *call, &mut out);
            }
            CallEvent::RecordCall { call, data } => {
                self.record_call(now, unix_secs, *call, data_value(data), &mut out);
            }
            CallEvent::RecordCaller { call, data } => {
                self.record_caller(now, unix_secs, *call, data_value(data), &mut out);
            }
            CallEvent::LegEnded { call, leg, .. } => {
                if let Some(st) = self.calls.get_mut(call) {
                    if !leg.is_a() && st.winner != Some(*leg) {
                        st.pending.retain(|p| p.b_leg != Some(*leg));
                    }
                }
            }
            CallEvent::CallEnded { call } => {
                if let Some(mut st) = self.calls.remove(call) {
                    st.ended = true;
                    for r in st.running.drain(..) {
                        out.push(CoordinatorCommand::Stop {
                            call: *call,
                            id: r.id.clone(),
                        });
                        let mut r = r;
                        r.stopped_at.get_or_insert(now);
                        self.closing.insert(r.id.clone(), r);
                    }
                }
            }
            CallEvent::LegRinging { .. } | CallEvent::Hold { .. } | CallEvent::Unhold { .. } => {}
        }
        out
    }

    /// The recordings a leg's CDR names (ids, file names, discard flag judged at `now`).
    pub fn recordings_for_leg(&self, now: Instant, call: CallRef, leg: LegId) -> Vec<LegRecording> {
        let running = self
            .calls
            .get(&call)
            .map(|s| s.running.iter().collect::<Vec<_>>())
            .unwrap_or_default();
        let finished = self
            .calls
            .get(&call)
            .map(|s| s.finished.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|(l, _)| *l == leg)
            .map(|(_, rec)| rec.clone());
        running
            .into_iter()
            .chain(self.closing.values().filter(|r| r.call == call))
            .filter(|r| r.cdr_leg == leg)
            .map(|r| {
                let end = r.stopped_at.unwrap_or(now);
                let secs = end.saturating_duration_since(r.started).as_secs_f64();
                LegRecording {
                    id: r.id.clone(),
                    file_name: r.metadata.file_name.clone(),
                    origin: r.metadata.origin.clone(),
                    discarded: secs < f64::from(r.min_sec),
                    refused: None,
                }
            })
            .chain(finished)
            .collect()
    }

    /// Takes recording `id` out of the tables: from those closing, or (stopped by its own
    /// time limit, a record_call stop, or refused) from its call's running ones.
    fn take_ended(&mut self, id: &str) -> Option<Running> {
        if let Some(r) = self.closing.remove(id) {
            return Some(r);
        }
        for st in self.calls.values_mut() {
            if let Some(i) = st.running.iter().position(|r| r.id == id) {
                let r = st.running.remove(i);
                st.stack.finished(id);
                return Some(r);
            }
        }
        None
    }

    /// Recording `id` was refused before it started (its spool entry could not be written,
    /// `reason` as the CDR names it): it is forgotten, and the CDR of its leg says it was
    /// refused and why.
    pub fn refused(&mut self, id: &str, reason: &'static str) {
        let Some(r) = self.take_ended(id) else { return };
        if let Some(st) = self.calls.get_mut(&r.call) {
            st.finished.push((
                r.cdr_leg,
                LegRecording {
                    id: r.id.clone(),
                    file_name: r.metadata.file_name.clone(),
                    origin: r.metadata.origin.clone(),
                    discarded: false,
                    refused: Some(reason),
                },
            ));
        }
    }

    /// A recorder closed its file after `duration_ms` of audio. Returns what to do with it;
    /// `None` for an unknown id.
    pub fn finished(&mut self, id: &str, duration_ms: u64) -> Option<Finished> {
        let r = self.take_ended(id)?;
        let discard = duration_ms < u64::from(r.min_sec) * 1000;
        if let (Some(st), true) = (self.calls.get_mut(&r.call), duration_ms > 0) {
            // The call goes on: its CDRs, written later, must still name this recording
            // (not one that never got any audio: the engine reports a recorder that could
            // not start or failed as finished with 0 ms).
            st.finished.push((
                r.cdr_leg,
                LegRecording {
                    id: r.id.clone(),
                    file_name: r.metadata.file_name.clone(),
                    origin: r.metadata.origin.clone(),
                    discarded: discard,
                    refused: None,
                },
            ));
        }
        let mut metadata = r.metadata;
        metadata.duration_ms = duration_ms;
        metadata.upload = if discard {
            UploadState::Discarded {
                reason: policy::DiscardReason::TooShort,
            }
        } else if metadata.url.is_none() {
            UploadState::NoUrl
        } else {
            UploadState::Pending { attempts: 0 }
        };
        Some(Finished { metadata, discard })
    }

    /// Every call being tracked (for shutdown).
    pub fn call_refs(&self) -> Vec<CallRef> {
        self.calls.keys().copied().collect()
    }

    /// How many recordings have been started and not yet reported finished (the number of
    /// [`open_recordings`](Self::open_recordings), without collecting their ids).
    pub fn open_recording_count(&self) -> usize {
        self.calls.values().map(|s| s.running.len()).sum::<usize>() + self.closing.len()
    }

    /// Ids of every recording that has been started and not yet reported finished.
    pub fn open_recordings(&self) -> Vec<String> {
        self.calls
            .values()
            .flat_map(|s| s.running.iter().map(|r| r.id.clone()))
            .chain(self.closing.keys().cloned())
            .collect()
    }

    /// The B leg that answered goes to another network than the A-leg rules were decided
    /// for (a failover forward to a carrier, or a device answering while its forward rang
    /// too): the account's and caller's rules are decided again for that network. A rule
    /// that still applies keeps its recording; one that no longer applies is stopped (or
    /// dropped before it started); one that now applies starts.
    fn redecide_a(
        &mut self,
        now: Instant,
        call: CallRef,
        b: LegId,
        docs: &dyn DocLookup,
        out: &mut Vec<CoordinatorCommand>,
    ) {
        let Some(st) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(net) = st.b.get(&b).map(|l| l.tags.network) else {
            return;
        };
        if st.decided_to.is_none_or(|n| n == net) {
            return;
        }
        let Some(plans) = self.plans_for(call, b, docs) else {
            return;
        };
        let Some(st) = self.calls.get_mut(&call) else {
            return;
        };
        st.decided_to = Some(net);
        let wanted: Vec<policy::Plan> = plans
            .into_iter()
            .filter(|p| p.leg == RecordedLeg::A)
            .collect();
        let matrix_a = |p: &Pending| p.b_leg.is_none() && p.id.is_none();
        st.pending
            .retain(|p| !matrix_a(p) || wanted.iter().any(|w| w.origin == p.origin));
        let mut i = 0;
        while i < st.running.len() {
            let stale = st.running[i]
                .matrix_origin
                .as_ref()
                .is_some_and(|o| !wanted.iter().any(|w| &w.origin == o));
            if stale {
                let mut r = st.running.remove(i);
                r.stopped_at = Some(now);
                out.push(CoordinatorCommand::Stop {
                    call,
                    id: r.id.clone(),
                });
                self.closing.insert(r.id.clone(), r);
            } else {
                i += 1;
            }
        }
        for p in wanted {
            let have = st
                .pending
                .iter()
                .any(|x| matrix_a(x) && x.origin == p.origin)
                || st
                    .running
                    .iter()
                    .any(|r| r.matrix_origin.as_ref() == Some(&p.origin));
            if !have {
                st.pending.push(Pending::from_plan(p, None));
            }
        }
    }

    /// The matrix plans for the A leg and B leg `b` (None when either is unknown).
    fn plans_for(
        &mut self,
        call: CallRef,
        b: LegId,
        docs: &dyn DocLookup,
    ) -> Option<Vec<policy::Plan>> {
        let st = self.calls.get_mut(&call)?;
        let (a, bl) = (st.a.as_ref()?, st.b.get(&b)?);
        let account_id = a
            .tags
            .account_id
            .clone()
            .or(bl.tags.account_id.clone())
            .or_else(|| docs.default_account_id().map(str::to_owned));
        let account_doc = account_id.as_deref().and_then(|id| docs.account_doc(id));
        st.account_id = account_id.clone();
        let account = account_doc
            .map(RecordingTable::for_account)
            .unwrap_or_default();
        // An endpoint: a device (onnet, or the device whose call forwarding sent this leg to
        // a carrier); carrier legs name a resource, not a device.
        let endpoint = |info: &LegInfo| -> Option<EndpointFacts> {
            let device_id = info.tags.authorizing_id.clone()?;
            let device = docs.device_doc(&device_id);
            if info.tags.network != Network::Onnet && device.is_none() {
                return None;
            }
            let user = info.tags.owner_id.as_deref().and_then(|u| docs.user_doc(u));
            Some(EndpointFacts {
                endpoint_id: device_id,
                owner_id: info.tags.owner_id.clone(),
                recording: RecordingTable::for_endpoint(account_doc, user, device),
            })
        };
        let facts = CallFacts {
            from: a.tags.network,
            to: bl.tags.network,
            caller: endpoint(a),
            callees: endpoint(bl).into_iter().collect(),
            account,
        };
        Some(policy::decide(&facts, &self.cfg))
    }

    fn decide_for_b(&mut self, call: CallRef, b: LegId, docs: &dyn DocLookup) {
        let Some(plans) = self.plans_for(call, b, docs) else {
            return;
        };
        let Some(st) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(net) = st.b.get(&b).map(|l| l.tags.network) else {
            return;
        };
        let first = !st.decided;
        st.decided = true;
        if first {
            st.decided_to = Some(net);
        }
        for p in plans {
            let is_b = p.leg == RecordedLeg::B;
            if !is_b && !first {
                continue;
            }
            st.pending.push(Pending::from_plan(p, is_b.then_some(b)));
        }
    }

    fn start_due(
        &mut self,
        now: Instant,
        unix_secs: u64,
        call: CallRef,
        out: &mut Vec<CoordinatorCommand>,
    ) {
        let Some(st) = self.calls.get_mut(&call) else {
            return;
        };
        let mut i = 0;
        while i < st.pending.len() {
            let p = &st.pending[i];
            let leg_answered = match p.b_leg {
                None => st.a_answered,
                Some(b) => st.winner == Some(b),
            };
            let due = match p.trigger {
                StartTrigger::Now => true,
                StartTrigger::Answer => leg_answered,
                StartTrigger::Bridge => st.bridged,
            };
            if !due {
                i += 1;
                continue;
            }
            let p = st.pending.remove(i);
            let id =
                p.id.clone()
                    .unwrap_or_else(|| policy::hex_id((self.new_id)()));
            let cdr_leg = p.b_leg.unwrap_or(LegId::A);
            let recorded_leg = if cdr_leg.is_a() {
                st.a.as_ref()
            } else {
                st.b.get(&cdr_leg)
            };
            let metadata = metadata_for(
                st,
                recorded_leg,
                &id,
                p.file_name.clone(),
                &p.origin,
                p.leg,
                &p.settings,
                p.endpoint_id.clone(),
                p.owner_id.clone(),
                unix_secs,
                2,
            );
            let time_limit = Duration::from_secs(u64::from(p.settings.time_limit_secs));
            st.running.push(Running {
                call,
                id: id.clone(),
                cdr_leg,
                started: now,
                min_sec: p.settings.record_min_sec,
                metadata: metadata.clone(),
                stopped_at: None,
                matrix_origin: (p.b_leg.is_none() && p.id.is_none()).then(|| p.origin.clone()),
            });
            out.push(CoordinatorCommand::Start(Box::new(StartRecording {
                call,
                id,
                kind: RecordingKind::Call,
                format: p.settings.format,
                sample_rate: p.settings.sample_rate,
                time_limit,
                metadata,
            })));
        }
    }

    fn record_call(
        &mut self,
        now: Instant,
        unix_secs: u64,
        call: CallRef,
        data: &Value,
        out: &mut Vec<CoordinatorCommand>,
    ) {
        let new_id = &mut self.new_id;
        let Some(st) = self.calls.get_mut(&call) else {
            return;
        };
        match st.stack.apply(data, &self.cfg, &mut **new_id) {
            StackEvent::Started(rec) => {
                st.pending.push(Pending {
                    b_leg: None,
                    leg: RecordedLeg::A,
                    origin: rec.origin,
                    trigger: rec.trigger,
                    settings: rec.settings,
                    endpoint_id: None,
                    owner_id: None,
                    file_name: Some(rec.file_name),
                    id: Some(rec.id),
                });
                self.start_due(now, unix_secs, call, out);
            }
            StackEvent::Stopped(rec) => {
                if let Some(i) = st
                    .pending
                    .iter()
                    .position(|p| p.id.as_deref() == Some(&rec.id))
                {
                    // Never started: nothing to stop.
                    st.pending.remove(i);
                } else if let Some(i) = st.running.iter().position(|r| r.id == rec.id) {
                    let mut r = st.running.remove(i);
                    r.stopped_at = Some(now);
                    out.push(CoordinatorCommand::Stop {
                        call,
                        id: r.id.clone(),
                    });
                    self.closing.insert(r.id.clone(), r);
                }
            }
            StackEvent::NothingToStop => {
                tracing::debug!(%call, "record_call stop with nothing running");
            }
        }
    }

    fn record_caller(
        &mut self,
        now: Instant,
        unix_secs: u64,
        call: CallRef,
        data: &Value,
        out: &mut Vec<CoordinatorCommand>,
    ) {
        let rc = RecordCaller::from_value(data, &self.cfg);
        let id = policy::hex_id((self.new_id)());
        let Some(st) = self.calls.get_mut(&call) else {
            return;
        };
        let a_call_id = st.a.as_ref().map(|a| a.call_id.clone()).unwrap_or_default();
        let file_name = format!("{a_call_id}.{}", rc.settings.format.extension());
        let origin = Origin::RecordCaller;
        let mut metadata = metadata_for(
            st,
            st.a.as_ref(),
            &id,
            Some(file_name),
            &origin,
            RecordedLeg::A,
            &rc.settings,
            None,
            None,
            unix_secs,
            1,
        );
        metadata.url_style = UrlStyle::RecordCaller;
        st.running.push(Running {
            call,
            id: id.clone(),
            cdr_leg: LegId::A,
            started: now,
            min_sec: rc.settings.record_min_sec,
            metadata: metadata.clone(),
            stopped_at: None,
            matrix_origin: None,
        });
        out.push(CoordinatorCommand::Start(Box::new(StartRecording {
            call,
            id,
            kind: RecordingKind::CallerOnly,
            format: rc.settings.format,
            sample_rate: rc.settings.sample_rate,
            time_limit: Duration::from_secs(u64::from(rc.settings.time_limit_secs)),
            metadata,
        })));
    }
}

fn data_value(data: &callrec_kazoo::routing::RecordData) -> &Value {
    data
}

#[allow(clippy::too_many_arguments)]
fn metadata_for(
    st: &CallState,
    recorded_leg: Option<&LegInfo>,
    id: &str,
    file_name: Option<String>,
    origin: &Origin,
    leg: RecordedLeg,
    settings: &ResolvedSettings,
    endpoint_id: Option<String>,
    owner_id: Option<String>,
    unix_secs: u64,
    channels: u16,
) -> RecordingMetadata {
    let a = st.a.as_ref();
    let b = st
        .winner
        .and_then(|w| st.b.get(&w))
        .or_else(|| recorded_leg.filter(|l| !l.leg.is_a()))
        .or_else(|| st.b.values().next());
    let call_id = recorded_leg.map(|l| l.call_id.clone()).unwrap_or_default();
    let file_name =
        file_name.unwrap_or_else(|| policy::upload_file_name(&call_id, settings.format));
    let direction = match recorded_leg.map(|l| l.tags.call_direction) {
        Some(CallDirection::Outbound) => LegDirection::Outbound,
        Some(CallDirection::Inbound) => LegDirection::Inbound,
        None => leg.direction(),
    };
    RecordingMetadata {
        id: id.to_owned(),
        file_name,
        call_id: call_id.clone(),
        cdr_id: call_id,
        interaction_id: a.map(|l| l.tags.interaction_id.clone()).unwrap_or_default(),
        origin: origin.to_string(),
        direction,
        from: a.map(|l| l.from_uri.clone()).unwrap_or_default(),
        to: a.map(|l| l.to_uri.clone()).unwrap_or_default(),
        caller_id_name: a
            .and_then(|l| l.tags.caller_id_name.clone())
            .unwrap_or_default(),
        caller_id_number: a
            .and_then(|l| l.tags.caller_id_number.clone())
            .unwrap_or_default(),
        // Signalling knows the callee's number, not a display name for it.
        callee_id_name: String::new(),
        callee_id_number: a
            .and_then(|l| l.tags.callee_number.clone())
            .or_else(|| b.and_then(|l| l.tags.callee_number.clone()))
            .unwrap_or_default(),
        owner_id: owner_id.or_else(|| recorded_leg.and_then(|l| l.tags.owner_id.clone())),
        endpoint_id: endpoint_id
            .or_else(|| recorded_leg.and_then(|l| l.tags.authorizing_id.clone())),
        account_id: recorded_leg
            .and_then(|l| l.tags.account_id.clone())
            .or_else(|| a.and_then(|l| l.tags.account_id.clone()))
            .or_else(|| st.account_id.clone()),
        start_unix_secs: unix_secs,
        duration_ms: 0,
        format: settings.format,
        sample_rate: settings.sample_rate.unwrap_or(0),
        channels,
        url: settings.url.clone(),
        method: settings.method,
        upload: UploadState::Pending { attempts: 0 },
        url_style: UrlStyle::Kazoo,
        storage: None,
        node_id: None,
    }
}
