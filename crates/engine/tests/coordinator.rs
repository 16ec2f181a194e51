//! The recording coordinator driven through whole calls, event by event, as the B2BUA core
//! reports them: which recordings start (and when), what their metadata says, when they stop,
//! what the CDRs name and what happens to short recordings. Deterministic: instants are a fixed
//! base plus seconds, recording ids come from a counter.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use callrec_engine::b2bua::{
    CallDirection, CallEvent, CallRef, CdrFacts, EndUserDirection, HangupCause, LegId, LegInfo,
    LegTags, Network, ResourceType,
};
use callrec_engine::coordinator::{Coordinator, CoordinatorCommand, RecordingKind, StartRecording};
use callrec_kazoo::load::DocLookup;
use callrec_kazoo::recording::{
    hex_id, upload_request, DiscardReason, Format, LegDirection, Method, PolicyConfig, UploadState,
    UrlStyle,
};
use serde_json::{json, Value};

const ACCOUNT: &str = "a0c0000000000000000000000000acc1";
const CALL: CallRef = CallRef(7);
const B1: LegId = LegId(1);
const B2: LegId = LegId(2);
const UNIX_BASE: u64 = 1_790_000_000;
const INTERACTION: &str = "63900000000-000000ab";

// ---------------------------------------------------------------------------------------------
// Documents

/// Account, user and device documents by id, in KAZOO's shapes.
#[derive(Default)]
struct Docs {
    accounts: HashMap<String, Value>,
    users: HashMap<String, Value>,
    devices: HashMap<String, Value>,
    default_account: Option<String>,
}

impl Docs {
    /// The account `ACCOUNT` with this `call_recording.account` object.
    fn account_rules(rules: Value) -> Docs {
        Docs::account_doc(json!({"_id": ACCOUNT, "call_recording": {"account": rules}}))
    }

    fn account_doc(doc: Value) -> Docs {
        let mut d = Docs::default();
        d.accounts.insert(ACCOUNT.to_owned(), doc);
        d
    }

    fn user(mut self, id: &str, call_recording: Value) -> Docs {
        self.users.insert(
            id.to_owned(),
            json!({"_id": id, "first_name": "Test", "call_recording": call_recording}),
        );
        self
    }

    fn device(mut self, id: &str, call_recording: Value) -> Docs {
        self.devices.insert(
            id.to_owned(),
            json!({"_id": id, "name": id, "call_recording": call_recording}),
        );
        self
    }

    fn default_account(mut self, id: &str) -> Docs {
        self.default_account = Some(id.to_owned());
        self
    }
}

impl DocLookup for Docs {
    fn account_doc(&self, id: &str) -> Option<&Value> {
        self.accounts.get(id)
    }
    fn user_doc(&self, id: &str) -> Option<&Value> {
        self.users.get(id)
    }
    fn device_doc(&self, id: &str) -> Option<&Value> {
        self.devices.get(id)
    }
    fn default_account_id(&self) -> Option<&str> {
        self.default_account.as_deref()
    }
}

/// `{"enabled": true}` plus `extra`'s keys.
fn enabled(extra: Value) -> Value {
    let mut v = json!({"enabled": true});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Legs

/// Who is at the far end of a leg.
struct Party {
    network: Network,
    account: Option<&'static str>,
    owner: Option<&'static str>,
    device: Option<&'static str>,
    number: &'static str,
}

fn carrier(number: &'static str) -> Party {
    Party {
        network: Network::Offnet,
        account: None,
        owner: None,
        device: None,
        number,
    }
}

fn phone(device: &'static str, owner: &'static str, number: &'static str) -> Party {
    Party {
        network: Network::Onnet,
        account: Some(ACCOUNT),
        owner: Some(owner),
        device: Some(device),
        number,
    }
}

/// A leg of `CALL`: the A leg comes from `caller`, a B leg goes to `far`.
fn leg(id: LegId, call_id: &str, caller: &Party, far: &Party, dialled: &str) -> LegInfo {
    let (direction, resource_type) = match (id.is_a(), far.network) {
        (true, Network::Offnet) => (
            CallDirection::Inbound,
            Some(ResourceType::OffnetOrigination),
        ),
        (true, Network::Onnet) => (CallDirection::Inbound, None),
        (false, Network::Offnet) => (
            CallDirection::Outbound,
            Some(ResourceType::OffnetTermination),
        ),
        (false, Network::Onnet) => (CallDirection::Outbound, None),
    };
    LegInfo {
        leg: id,
        call_id: call_id.to_owned(),
        from_uri: format!("sip:{}@example.net", caller.number),
        to_uri: format!("sip:{dialled}@example.net"),
        request_uri: format!("sip:{dialled}@example.net"),
        tags: LegTags {
            call_direction: direction,
            network: far.network,
            resource_type,
            account_id: far.account.map(str::to_owned),
            owner_id: far.owner.map(str::to_owned),
            authorizing_id: far.device.map(str::to_owned),
            interaction_id: INTERACTION.to_owned(),
            caller_id_name: Some("Caller".to_owned()),
            caller_id_number: Some(caller.number.to_owned()),
            callee_number: Some(dialled.to_owned()),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// The harness

/// One coordinator, its documents and a clock counted in whole seconds from a fixed base.
struct Harness {
    coord: Coordinator,
    docs: Docs,
    base: Instant,
    legs: HashMap<LegId, LegInfo>,
}

impl Harness {
    fn new(docs: Docs) -> Harness {
        let mut next: u128 = 0;
        let coord = Coordinator::new(
            PolicyConfig::default(),
            Box::new(move || {
                next += 1;
                next
            }),
        );
        Harness {
            coord,
            docs,
            base: Instant::now(),
            legs: HashMap::new(),
        }
    }

    fn at(&self, secs: u64) -> Instant {
        self.base + Duration::from_secs(secs)
    }

    fn send(&mut self, secs: u64, event: CallEvent) -> Vec<CoordinatorCommand> {
        let now = self.at(secs);
        self.coord.handle(now, UNIX_BASE + secs, &event, &self.docs)
    }

    fn leg_started(&mut self, secs: u64, info: LegInfo) -> Vec<CoordinatorCommand> {
        self.legs.insert(info.leg, info.clone());
        self.send(
            secs,
            CallEvent::LegStarted {
                call: CALL,
                leg: Box::new(info),
            },
        )
    }

    fn ringing(&mut self, secs: u64, leg: LegId) -> Vec<CoordinatorCommand> {
        self.send(secs, CallEvent::LegRinging { call: CALL, leg })
    }

    fn answered(&mut self, secs: u64, leg: LegId) -> Vec<CoordinatorCommand> {
        self.send(secs, CallEvent::LegAnswered { call: CALL, leg })
    }

    fn bridged(&mut self, secs: u64, b: LegId) -> Vec<CoordinatorCommand> {
        self.send(
            secs,
            CallEvent::Bridged {
                call: CALL,
                a: LegId::A,
                b,
            },
        )
    }

    fn record_call(&mut self, secs: u64, data: Value) -> Vec<CoordinatorCommand> {
        self.send(secs, CallEvent::RecordCall { call: CALL, data })
    }

    fn record_caller(&mut self, secs: u64, data: Value) -> Vec<CoordinatorCommand> {
        self.send(secs, CallEvent::RecordCaller { call: CALL, data })
    }

    /// `LegEnded` with CDR facts built from the leg as it started (answered at `answered`).
    fn leg_ended(
        &mut self,
        secs: u64,
        leg: LegId,
        answered: Option<u64>,
    ) -> Vec<CoordinatorCommand> {
        let info = self.legs.get(&leg).expect("leg was started").clone();
        let a_call_id = self
            .legs
            .get(&LegId::A)
            .map(|a| a.call_id.clone())
            .unwrap_or_default();
        let created = self.at(0);
        let ended = self.at(secs);
        let answered = answered.map(|s| self.at(s));
        let cdr = CdrFacts {
            call_id: info.call_id.clone(),
            a_leg_call_id: a_call_id,
            interaction_id: info.tags.interaction_id.clone(),
            call_direction: info.tags.call_direction,
            network: info.tags.network,
            from_uri: info.from_uri.clone(),
            to_uri: info.to_uri.clone(),
            request_uri: info.request_uri.clone(),
            caller_id_name: info.tags.caller_id_name.clone(),
            caller_id_number: info.tags.caller_id_number.clone(),
            callee_number: info.tags.callee_number.clone(),
            created,
            answered,
            ended,
            duration: ended - created,
            billing: answered.map_or(Duration::ZERO, |a| ended - a),
            ringing: answered.unwrap_or(ended) - created,
            hangup_cause: if answered.is_some() {
                HangupCause::NormalClearing
            } else {
                HangupCause::OriginatorCancel
            },
            hangup_code: None,
            account_id: info.tags.account_id.clone(),
            owner_id: info.tags.owner_id.clone(),
            authorizing_id: info.tags.authorizing_id.clone(),
            resource_type: info.tags.resource_type,
            end_user_direction: EndUserDirection::Internal,
        };
        self.send(
            secs,
            CallEvent::LegEnded {
                call: CALL,
                leg,
                cdr: Box::new(cdr),
            },
        )
    }

    fn call_ended(&mut self, secs: u64) -> Vec<CoordinatorCommand> {
        self.send(secs, CallEvent::CallEnded { call: CALL })
    }

    /// The ids named by the CDR of `leg` at `secs`.
    fn cdr_ids(&self, secs: u64, leg: LegId) -> Vec<String> {
        let mut ids: Vec<String> = self
            .coord
            .recordings_for_leg(self.at(secs), CALL, leg)
            .into_iter()
            .map(|r| r.id)
            .collect();
        ids.sort();
        ids
    }

    /// A answers B1 and they are bridged at `secs` (B answers, then A, then the bridge), as the
    /// core reports it. Returns every command.
    fn answer_and_bridge(&mut self, secs: u64, b: LegId) -> Vec<CoordinatorCommand> {
        let mut out = self.answered(secs, b);
        out.extend(self.answered(secs, LegId::A));
        out.extend(self.bridged(secs, b));
        out
    }

    /// Both legs hang up at `secs` after an answer at `answered_at`, then the call ends.
    fn hang_up(&mut self, secs: u64, b: LegId, answered_at: u64) -> Vec<CoordinatorCommand> {
        let mut out = self.leg_ended(secs, b, Some(answered_at));
        out.extend(self.leg_ended(secs, LegId::A, Some(answered_at)));
        out.extend(self.call_ended(secs));
        out
    }
}

fn starts(cmds: &[CoordinatorCommand]) -> Vec<&StartRecording> {
    cmds.iter()
        .filter_map(|c| match c {
            CoordinatorCommand::Start(s) => Some(&**s),
            CoordinatorCommand::Stop { .. } => None,
        })
        .collect()
}

fn stops(cmds: &[CoordinatorCommand]) -> Vec<String> {
    cmds.iter()
        .filter_map(|c| match c {
            CoordinatorCommand::Stop { call, id } => {
                assert_eq!(*call, CALL);
                Some(id.clone())
            }
            CoordinatorCommand::Start(_) => None,
        })
        .collect()
}

/// The one recording started by `cmds`.
fn only_start(cmds: &[CoordinatorCommand]) -> StartRecording {
    let s = starts(cmds);
    assert_eq!(s.len(), 1, "expected exactly one start in {cmds:?}");
    assert!(stops(cmds).is_empty(), "expected no stop in {cmds:?}");
    s[0].clone()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn pstn() -> Party {
    carrier("+14155550100")
}

fn alice() -> Party {
    phone("dev-alice", "user-alice", "1001")
}

fn bob() -> Party {
    phone("dev-bob", "user-bob", "1002")
}

fn bob_desk() -> Party {
    phone("dev-bob-desk", "user-bob", "1002")
}

/// A carrier calls Bob's DID: A from the carrier, B1 to Bob's phone.
fn start_inbound_call(h: &mut Harness) -> (Vec<CoordinatorCommand>, Vec<CoordinatorCommand>) {
    let a = h.leg_started(
        0,
        leg(LegId::A, "a-call-1", &pstn(), &pstn(), "+14155550199"),
    );
    let b = h.leg_started(0, leg(B1, "b-call-1", &pstn(), &bob(), "+14155550199"));
    (a, b)
}

/// Alice calls Bob: both onnet.
fn start_internal_call(h: &mut Harness) -> Vec<CoordinatorCommand> {
    let mut out = h.leg_started(0, leg(LegId::A, "a-call-1", &alice(), &alice(), "1002"));
    out.extend(h.leg_started(0, leg(B1, "b-call-1", &alice(), &bob(), "1002")));
    out
}

/// Alice calls the PSTN: A from her phone, B1 to the carrier.
fn start_outbound_call(h: &mut Harness) -> Vec<CoordinatorCommand> {
    let mut out = h.leg_started(
        0,
        leg(LegId::A, "a-call-1", &alice(), &alice(), "+14155550100"),
    );
    out.extend(h.leg_started(0, leg(B1, "b-call-1", &alice(), &pstn(), "+14155550100")));
    out
}

// ---------------------------------------------------------------------------------------------
// Account rules

#[test]
fn an_offnet_call_to_an_account_recording_inbound_offnet_records_from_the_b_leg_until_the_end() {
    let docs = Docs::account_rules(json!({"inbound": {"offnet": enabled(json!({
        "format": "wav", "time_limit": 600, "url": "https://rec.example.com/store"
    }))}}));
    let mut h = Harness::new(docs);

    let (at_a, at_b) = start_inbound_call(&mut h);
    assert!(at_a.is_empty(), "nothing is decided before a B leg exists");
    let s = only_start(&at_b);
    assert_eq!(s.call, CALL);
    assert_eq!(s.id, hex_id(1));
    assert_eq!(s.kind, RecordingKind::Call);
    assert_eq!(s.format, Format::Wav);
    assert_eq!(s.time_limit, Duration::from_secs(600));
    assert_eq!(s.metadata.url_style, UrlStyle::Kazoo);
    let m = &s.metadata;
    assert_eq!(m.id, s.id);
    assert_eq!(m.origin, "inbound from offnet to account");
    assert_eq!(m.file_name, "call_recording_a-call-1.wav");
    assert_eq!(m.call_id, "a-call-1");
    assert_eq!(m.direction, LegDirection::Inbound);
    assert_eq!(m.account_id.as_deref(), Some(ACCOUNT));
    assert_eq!(m.interaction_id, INTERACTION);
    assert_eq!(m.caller_id_number, "+14155550100");
    assert_eq!(m.callee_id_number, "+14155550199");
    assert_eq!(m.url.as_deref(), Some("https://rec.example.com/store"));
    assert_eq!(m.start_unix_secs, UNIX_BASE);
    assert_eq!(m.channels, 2);

    assert!(h.ringing(1, B1).is_empty());
    assert!(h.answer_and_bridge(5, B1).is_empty());
    assert_eq!(h.coord.open_recordings(), vec![s.id.clone()]);
    assert_eq!(h.coord.open_recording_count(), 1);

    assert!(h.leg_ended(65, B1, Some(5)).is_empty());
    assert_eq!(h.cdr_ids(65, B1), Vec::<String>::new());
    assert!(h.leg_ended(65, LegId::A, Some(5)).is_empty());
    let a_cdr = h.coord.recordings_for_leg(h.at(65), CALL, LegId::A);
    assert_eq!(a_cdr.len(), 1);
    assert_eq!(a_cdr[0].id, s.id);
    assert_eq!(a_cdr[0].file_name, "call_recording_a-call-1.wav");
    assert_eq!(a_cdr[0].origin, "inbound from offnet to account");
    assert!(!a_cdr[0].discarded);

    let end = h.call_ended(65);
    assert_eq!(stops(&end), vec![s.id.clone()]);
    assert!(starts(&end).is_empty());
    assert_eq!(h.coord.calls(), 0);
    assert_eq!(h.coord.open_recordings(), vec![s.id.clone()]);

    let f = h.coord.finished(&s.id, 65_000).expect("known recording");
    assert!(!f.discard);
    assert_eq!(f.metadata.duration_ms, 65_000);
    assert_eq!(f.metadata.upload, UploadState::Pending { attempts: 0 });
    assert_eq!(f.metadata.origin, "inbound from offnet to account");
    assert!(h.coord.open_recordings().is_empty());
    assert_eq!(h.coord.open_recording_count(), 0);
    assert!(h.coord.finished(&s.id, 65_000).is_none(), "reported once");
}

#[test]
fn a_finished_recording_without_any_url_is_kept_locally() {
    let docs = Docs::account_rules(json!({"inbound": {"offnet": {"enabled": true}}}));
    let mut h = Harness::new(docs);
    let (_, at_b) = start_inbound_call(&mut h);
    let s = only_start(&at_b);
    assert_eq!(s.format, Format::Mp3, "mp3 is the default format");
    assert_eq!(s.metadata.file_name, "call_recording_a-call-1.mp3");
    assert_eq!(s.time_limit, Duration::from_secs(3600));
    h.answer_and_bridge(2, B1);
    assert_eq!(stops(&h.hang_up(30, B1, 2)), vec![s.id.clone()]);
    let f = h.coord.finished(&s.id, 30_000).unwrap();
    assert_eq!(f.metadata.upload, UploadState::NoUrl);
}

#[test]
fn an_onnet_call_to_the_pstn_is_recorded_by_the_account_outbound_offnet_rule() {
    let docs = Docs::account_rules(json!({"outbound": {"offnet": enabled(json!({
        "record_sample_rate": 16000, "method": "post", "url": "https://rec.example.com/in"
    }))}}));
    let mut h = Harness::new(docs);
    let s = only_start(&start_outbound_call(&mut h));
    assert_eq!(s.metadata.origin, "outbound to offnet from account");
    assert_eq!(s.sample_rate, Some(16000));
    assert_eq!(s.metadata.method, Method::Post);
    assert_eq!(s.metadata.direction, LegDirection::Inbound);
    assert_eq!(s.metadata.callee_id_number, "+14155550100");
    assert_eq!(s.metadata.file_name, "call_recording_a-call-1.mp3");
    assert_eq!(s.metadata.account_id.as_deref(), Some(ACCOUNT));
    assert!(h.answer_and_bridge(4, B1).is_empty());
    let end = h.hang_up(20, B1, 4);
    assert_eq!(stops(&end), vec![s.id]);
}

#[test]
fn an_account_enabling_inbound_onnet_and_outbound_offnet_records_an_outbound_call_once_by_the_inbound_rule(
) {
    let docs = Docs::account_rules(json!({
        "inbound": {"onnet": {"enabled": true}},
        "outbound": {"offnet": {"enabled": true}},
    }));
    let mut h = Harness::new(docs);
    let s = only_start(&start_outbound_call(&mut h));
    assert_eq!(s.metadata.origin, "inbound from onnet to account");
    h.answer_and_bridge(4, B1);
    assert_eq!(stops(&h.hang_up(20, B1, 4)), vec![s.id]);
}

#[test]
fn an_account_recording_inbound_only_does_not_record_an_outbound_call() {
    let docs = Docs::account_rules(json!({"inbound": {"offnet": {"enabled": true}}}));
    let mut h = Harness::new(docs);
    let mut all = start_outbound_call(&mut h);
    all.extend(h.answer_and_bridge(4, B1));
    all.extend(h.hang_up(20, B1, 4));
    assert!(all.is_empty(), "{all:?}");
    assert!(h.coord.open_recordings().is_empty());
}

#[test]
fn record_on_answer_waits_for_the_answer_of_the_recorded_leg() {
    let docs = Docs::account_rules(
        json!({"inbound": {"offnet": enabled(json!({"record_on_answer": true}))}}),
    );
    let mut h = Harness::new(docs);
    let (_, at_b) = start_inbound_call(&mut h);
    assert!(at_b.is_empty(), "not at LegStarted");
    assert!(h.ringing(1, B1).is_empty());
    assert!(
        h.answered(5, B1).is_empty(),
        "an account recording is on the A leg, which is not answered yet"
    );
    let s = only_start(&h.answered(5, LegId::A));
    assert_eq!(s.metadata.origin, "inbound from offnet to account");
    assert_eq!(s.metadata.start_unix_secs, UNIX_BASE + 5);
    assert!(h.bridged(5, B1).is_empty(), "started once");
    assert_eq!(stops(&h.hang_up(60, B1, 5)), vec![s.id]);
}

#[test]
fn record_on_bridge_waits_for_the_bridge() {
    let docs = Docs::account_rules(
        json!({"inbound": {"offnet": enabled(json!({"record_on_bridge": true}))}}),
    );
    let mut h = Harness::new(docs);
    let (_, at_b) = start_inbound_call(&mut h);
    assert!(at_b.is_empty());
    assert!(h.answered(5, B1).is_empty());
    assert!(h.answered(5, LegId::A).is_empty());
    let s = only_start(&h.bridged(6, B1));
    assert_eq!(s.metadata.start_unix_secs, UNIX_BASE + 6);
    assert_eq!(stops(&h.hang_up(60, B1, 5)), vec![s.id]);
}

#[test]
fn a_record_on_answer_recording_of_a_call_never_answered_never_starts() {
    let docs = Docs::account_rules(
        json!({"inbound": {"offnet": enabled(json!({"record_on_answer": true}))}}),
    );
    let mut h = Harness::new(docs);
    start_inbound_call(&mut h);
    h.ringing(1, B1);
    let mut all = h.leg_ended(20, B1, None);
    all.extend(h.leg_ended(20, LegId::A, None));
    all.extend(h.call_ended(20));
    assert!(all.is_empty(), "{all:?}");
    assert!(h.coord.open_recordings().is_empty());
    assert_eq!(h.coord.calls(), 0);
}

// ---------------------------------------------------------------------------------------------
// Endpoint rules

#[test]
fn a_callee_device_recording_inbound_onnet_is_recorded_on_its_b_leg_from_its_answer() {
    let docs = Docs::account_doc(json!({"_id": ACCOUNT}))
        .device("dev-bob", json!({"inbound": {"onnet": {"enabled": true}}}));
    let mut h = Harness::new(docs);
    assert!(start_internal_call(&mut h).is_empty());
    assert!(h.ringing(1, B1).is_empty());
    let s = only_start(&h.answered(3, B1));
    let m = &s.metadata;
    assert_eq!(m.origin, "inbound from onnet to endpoint");
    assert_eq!(m.call_id, "b-call-1");
    assert_eq!(m.file_name, "call_recording_b-call-1.mp3");
    assert_eq!(m.direction, LegDirection::Outbound);
    assert_eq!(m.endpoint_id.as_deref(), Some("dev-bob"));
    assert_eq!(m.owner_id.as_deref(), Some("user-bob"));
    assert_eq!(m.account_id.as_deref(), Some(ACCOUNT));
    assert!(h.answered(3, LegId::A).is_empty());
    assert!(h.bridged(3, B1).is_empty());

    assert_eq!(h.cdr_ids(30, B1), vec![s.id.clone()]);
    assert!(h.cdr_ids(30, LegId::A).is_empty());
    assert_eq!(stops(&h.hang_up(30, B1, 3)), vec![s.id]);
}

#[test]
fn a_user_ringing_two_devices_records_only_the_device_that_answers() {
    let docs = Docs::account_doc(json!({"_id": ACCOUNT}))
        .user("user-bob", json!({"inbound": {"onnet": {"enabled": true}}}));
    let mut h = Harness::new(docs);
    let mut all = h.leg_started(0, leg(LegId::A, "a-call-1", &alice(), &alice(), "1002"));
    all.extend(h.leg_started(0, leg(B1, "b-call-1", &alice(), &bob(), "1002")));
    all.extend(h.leg_started(0, leg(B2, "b-call-2", &alice(), &bob_desk(), "1002")));
    all.extend(h.ringing(1, B1));
    all.extend(h.ringing(1, B2));
    assert!(all.is_empty(), "{all:?}");

    let s = only_start(&h.answered(4, B2));
    assert_eq!(s.metadata.endpoint_id.as_deref(), Some("dev-bob-desk"));
    assert_eq!(s.metadata.call_id, "b-call-2");
    assert_eq!(s.metadata.origin, "inbound from onnet to endpoint");

    // The loser is cancelled; its plan never starts, whatever comes after.
    let mut rest = h.leg_ended(4, B1, None);
    rest.extend(h.answered(4, LegId::A));
    rest.extend(h.bridged(4, B2));
    assert!(rest.is_empty(), "{rest:?}");
    assert!(h.cdr_ids(40, B1).is_empty());
    assert_eq!(h.cdr_ids(40, B2), vec![s.id.clone()]);
    assert_eq!(stops(&h.hang_up(40, B2, 4)), vec![s.id.clone()]);
    assert_eq!(h.coord.open_recordings(), vec![s.id]);
}

#[test]
fn a_callee_device_recording_on_bridge_starts_at_the_bridge() {
    let docs = Docs::account_doc(json!({"_id": ACCOUNT})).device(
        "dev-bob",
        json!({"inbound": {"onnet": enabled(json!({"record_on_bridge": true}))}}),
    );
    let mut h = Harness::new(docs);
    start_internal_call(&mut h);
    assert!(h.answered(3, B1).is_empty());
    assert!(h.answered(3, LegId::A).is_empty());
    let s = only_start(&h.bridged(3, B1));
    assert_eq!(s.metadata.origin, "inbound from onnet to endpoint");
    assert_eq!(h.cdr_ids(10, B1), vec![s.id]);
}

#[test]
fn a_device_disabling_what_its_user_enables_is_not_recorded() {
    let docs = Docs::account_doc(json!({"_id": ACCOUNT}))
        .user("user-bob", json!({"inbound": {"onnet": {"enabled": true}}}))
        .device("dev-bob", json!({"inbound": {"onnet": {"enabled": false}}}));
    let mut h = Harness::new(docs);
    let mut all = start_internal_call(&mut h);
    all.extend(h.answer_and_bridge(3, B1));
    all.extend(h.hang_up(30, B1, 3));
    assert!(all.is_empty(), "{all:?}");
}

#[test]
fn an_internal_call_with_account_caller_and_callee_rules_makes_three_recordings() {
    let docs = Docs::account_doc(json!({
        "_id": ACCOUNT,
        "call_recording": {"account": {"inbound": {"onnet": {"enabled": true}}}},
    }))
    .device(
        "dev-alice",
        json!({"outbound": {"onnet": {"enabled": true}}}),
    )
    .device("dev-bob", json!({"inbound": {"onnet": {"enabled": true}}}));
    let mut h = Harness::new(docs);

    let at_start = start_internal_call(&mut h);
    let mut origins: Vec<String> = starts(&at_start)
        .iter()
        .map(|s| s.metadata.origin.clone())
        .collect();
    origins.sort();
    assert_eq!(
        origins,
        vec![
            "inbound from onnet to account",
            "outbound to onnet from endpoint"
        ]
    );
    let caller = starts(&at_start)
        .into_iter()
        .find(|s| s.metadata.origin == "outbound to onnet from endpoint")
        .unwrap()
        .clone();
    assert_eq!(caller.metadata.endpoint_id.as_deref(), Some("dev-alice"));
    assert_eq!(caller.metadata.owner_id.as_deref(), Some("user-alice"));
    assert_eq!(caller.metadata.call_id, "a-call-1");

    let callee = only_start(&h.answered(3, B1));
    assert_eq!(callee.metadata.origin, "inbound from onnet to endpoint");
    assert!(h.answered(3, LegId::A).is_empty());
    assert!(h.bridged(3, B1).is_empty());

    let mut ids: Vec<String> = starts(&at_start).iter().map(|s| s.id.clone()).collect();
    ids.push(callee.id.clone());
    let ids = sorted(ids);
    assert_eq!(ids, vec![hex_id(1), hex_id(2), hex_id(3)]);

    assert_eq!(h.cdr_ids(30, LegId::A).len(), 2);
    assert_eq!(h.cdr_ids(30, B1), vec![callee.id.clone()]);
    let end = h.hang_up(30, B1, 3);
    assert_eq!(sorted(stops(&end)), ids);
    assert_eq!(sorted(h.coord.open_recordings()), ids);
    for id in &ids {
        assert!(h.coord.finished(id, 27_000).is_some());
    }
    assert!(h.coord.open_recordings().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Callflow actions

#[test]
fn record_call_with_a_label_starts_at_once_and_its_stop_ends_it() {
    let mut h = Harness::new(Docs::account_doc(json!({"_id": ACCOUNT})));
    h.leg_started(
        0,
        leg(LegId::A, "a-call-1", &pstn(), &pstn(), "+14155550199"),
    );
    let s = only_start(&h.record_call(
        0,
        json!({"action": "start", "label": "sales", "media_name": "sales-line.mp3"}),
    ));
    assert_eq!(s.kind, RecordingKind::Call);
    assert_eq!(s.metadata.origin, "callflow : sales");
    assert_eq!(s.metadata.file_name, "sales-line.mp3");
    assert_eq!(s.metadata.call_id, "a-call-1");
    assert_eq!(s.time_limit, Duration::from_secs(3600));

    h.leg_started(0, leg(B1, "b-call-1", &pstn(), &bob(), "+14155550199"));
    h.answer_and_bridge(2, B1);
    assert_eq!(h.cdr_ids(10, LegId::A), vec![s.id.clone()]);
    let stop = h.record_call(10, json!({"action": "stop"}));
    assert_eq!(stops(&stop), vec![s.id.clone()]);
    assert!(starts(&stop).is_empty());

    // The CDR still names it; the hangup does not stop it twice.
    assert_eq!(h.cdr_ids(30, LegId::A), vec![s.id.clone()]);
    assert!(h.hang_up(30, B1, 2).is_empty());
    let f = h.coord.finished(&s.id, 10_000).unwrap();
    assert_eq!(f.metadata.duration_ms, 10_000);
}

#[test]
fn record_call_without_a_label_or_media_name_uses_its_id_as_the_file_name() {
    let mut h = Harness::new(Docs::default());
    h.leg_started(
        0,
        leg(LegId::A, "a-call-1", &pstn(), &pstn(), "+14155550199"),
    );
    let s = only_start(&h.record_call(0, json!({"format": "wav"})));
    assert_eq!(s.metadata.origin, "callflow");
    assert_eq!(s.metadata.file_name, format!("{}.wav", hex_id(1)));
    assert_eq!(s.format, Format::Wav);
}

#[test]
fn record_call_stops_end_the_newest_recording_first() {
    let mut h = Harness::new(Docs::default());
    h.leg_started(
        0,
        leg(LegId::A, "a-call-1", &pstn(), &pstn(), "+14155550199"),
    );
    let first = only_start(&h.record_call(0, json!({"label": "first"})));
    let second = only_start(&h.record_call(1, json!({"label": "second"})));
    assert_ne!(first.id, second.id);
    assert_eq!(
        stops(&h.record_call(2, json!({"action": "stop"}))),
        vec![second.id.clone()]
    );
    assert_eq!(
        stops(&h.record_call(3, json!({"action": "stop"}))),
        vec![first.id.clone()]
    );
    assert!(h.record_call(4, json!({"action": "stop"})).is_empty());
    assert!(h.call_ended(5).is_empty(), "both were already stopped");
}

#[test]
fn record_call_with_a_capitalised_stop_starts_a_recording() {
    let mut h = Harness::new(Docs::default());
    h.leg_started(
        0,
        leg(LegId::A, "a-call-1", &pstn(), &pstn(), "+14155550199"),
    );
    let s = only_start(&h.record_call(0, json!({"action": "Stop"})));
    assert_eq!(s.metadata.origin, "callflow");
    assert_eq!(stops(&h.call_ended(9)), vec![s.id]);
}

#[test]
fn record_call_on_answer_waits_for_the_caller_to_be_answered() {
    let mut h = Harness::new(Docs::default());
    h.leg_started(
        0,
        leg(LegId::A, "a-call-1", &pstn(), &pstn(), "+14155550199"),
    );
    assert!(h
        .record_call(0, json!({"label": "late", "record_on_answer": true}))
        .is_empty());
    h.leg_started(0, leg(B1, "b-call-1", &pstn(), &bob(), "+14155550199"));
    assert!(h.answered(4, B1).is_empty());
    let s = only_start(&h.answered(4, LegId::A));
    assert_eq!(s.metadata.origin, "callflow : late");
}

#[test]
fn a_record_call_stop_before_the_recording_started_cancels_it() {
    let mut h = Harness::new(Docs::default());
    h.leg_started(
        0,
        leg(LegId::A, "a-call-1", &pstn(), &pstn(), "+14155550199"),
    );
    assert!(h
        .record_call(0, json!({"record_on_answer": true}))
        .is_empty());
    assert!(h.record_call(0, json!({"action": "stop"})).is_empty());
    h.leg_started(0, leg(B1, "b-call-1", &pstn(), &bob(), "+14155550199"));
    let mut all = h.answer_and_bridge(4, B1);
    all.extend(h.hang_up(20, B1, 4));
    assert!(all.is_empty(), "{all:?}");
    assert!(h.coord.open_recordings().is_empty());
}

#[test]
fn a_record_call_recording_that_hit_its_time_limit_is_not_stopped_again() {
    let mut h = Harness::new(Docs::default());
    h.leg_started(
        0,
        leg(LegId::A, "a-call-1", &pstn(), &pstn(), "+14155550199"),
    );
    let older = only_start(&h.record_call(0, json!({"label": "long"})));
    let newer = only_start(&h.record_call(0, json!({"label": "short", "time_limit": 5})));
    assert_eq!(newer.time_limit, Duration::from_secs(5));
    // The recorder of the newer one stops by itself and reports.
    let f = h.coord.finished(&newer.id, 5_000).unwrap();
    assert_eq!(f.metadata.origin, "callflow : short");
    // So the next stop ends the older one.
    assert_eq!(
        stops(&h.record_call(9, json!({"action": "stop"}))),
        vec![older.id.clone()]
    );
    assert_eq!(h.coord.open_recordings(), vec![older.id]);
}

#[test]
fn record_caller_records_the_caller_alone_and_uploads_to_its_fixed_url() {
    let mut h = Harness::new(Docs::default());
    h.leg_started(
        0,
        leg(LegId::A, "a-call-1", &pstn(), &pstn(), "+14155550199"),
    );
    let s = only_start(&h.record_caller(
        0,
        json!({"url": "https://vm.example.com/box/", "format": "wav", "time_limit": 120}),
    ));
    assert_eq!(s.kind, RecordingKind::CallerOnly);
    assert_eq!(s.format, Format::Wav);
    assert_eq!(s.time_limit, Duration::from_secs(120));
    assert_eq!(s.metadata.url_style, UrlStyle::RecordCaller);
    assert_eq!(s.metadata.channels, 1);
    assert_eq!(s.metadata.origin, "record_caller");
    assert_eq!(s.metadata.file_name, "a-call-1.wav");
    assert_eq!(h.cdr_ids(5, LegId::A), vec![s.id.clone()]);

    h.leg_ended(30, LegId::A, Some(0));
    assert_eq!(stops(&h.call_ended(30)), vec![s.id.clone()]);
    let f = h.coord.finished(&s.id, 30_000).unwrap();
    assert!(!f.discard);
    assert_eq!(
        upload_request(&f.metadata).map(|r| r.url).as_deref(),
        Some("https://vm.example.com/box/a-call-1.wav")
    );
    assert_eq!(f.metadata.upload, UploadState::Pending { attempts: 0 });
}

#[test]
fn record_caller_without_a_url_keeps_the_recording_locally() {
    let mut h = Harness::new(Docs::default());
    h.leg_started(
        0,
        leg(LegId::A, "a-call-1", &pstn(), &pstn(), "+14155550199"),
    );
    let s = only_start(&h.record_caller(0, json!({})));
    assert_eq!(s.metadata.url, None);
    assert_eq!(upload_request(&s.metadata), None);
    h.call_ended(12);
    let f = h.coord.finished(&s.id, 12_000).unwrap();
    assert_eq!(f.metadata.upload, UploadState::NoUrl);
}

// ---------------------------------------------------------------------------------------------
// record_min_sec

#[test]
fn a_recording_shorter_than_record_min_sec_is_discarded_and_the_cdr_says_so() {
    let docs = Docs::account_rules(json!({"inbound": {"offnet": enabled(json!({
        "record_min_sec": 10, "url": "https://rec.example.com/store"
    }))}}));
    let mut h = Harness::new(docs);
    let (_, at_b) = start_inbound_call(&mut h);
    let s = only_start(&at_b);
    h.answer_and_bridge(1, B1);

    // The caller hangs up 3 s in: the A leg's CDR is written before the recorder closes.
    h.leg_ended(3, B1, Some(1));
    h.leg_ended(3, LegId::A, Some(1));
    let cdr = h.coord.recordings_for_leg(h.at(3), CALL, LegId::A);
    assert_eq!(cdr.len(), 1);
    assert!(cdr[0].discarded);
    assert_eq!(stops(&h.call_ended(3)), vec![s.id.clone()]);

    let f = h.coord.finished(&s.id, 3_000).unwrap();
    assert!(f.discard);
    assert_eq!(
        f.metadata.upload,
        UploadState::Discarded {
            reason: DiscardReason::TooShort
        }
    );
    assert!(h.coord.open_recordings().is_empty());
}

#[test]
fn a_recording_as_long_as_record_min_sec_is_kept() {
    let docs = Docs::account_rules(json!({"inbound": {"offnet": enabled(json!({
        "record_min_sec": 10, "url": "https://rec.example.com/store"
    }))}}));
    let mut h = Harness::new(docs);
    let (_, at_b) = start_inbound_call(&mut h);
    let s = only_start(&at_b);
    h.answer_and_bridge(1, B1);
    h.leg_ended(10, B1, Some(1));
    h.leg_ended(10, LegId::A, Some(1));
    let cdr = h.coord.recordings_for_leg(h.at(10), CALL, LegId::A);
    assert!(!cdr[0].discarded);
    h.call_ended(10);
    let f = h.coord.finished(&s.id, 10_000).unwrap();
    assert!(!f.discard);
    assert_eq!(f.metadata.upload, UploadState::Pending { attempts: 0 });
}

// ---------------------------------------------------------------------------------------------
// Accounts and state

#[test]
fn legs_without_an_account_use_the_single_account_of_the_install() {
    let docs = Docs::account_rules(json!({"inbound": {"offnet": {"enabled": true}}}))
        .default_account(ACCOUNT);
    let mut h = Harness::new(docs);
    // A carrier calls a device whose document names no account.
    let mut bob_no_account = bob();
    bob_no_account.account = None;
    h.leg_started(
        0,
        leg(LegId::A, "a-call-1", &pstn(), &pstn(), "+14155550199"),
    );
    let at_b = h.leg_started(
        0,
        leg(B1, "b-call-1", &pstn(), &bob_no_account, "+14155550199"),
    );
    let s = only_start(&at_b);
    assert_eq!(s.metadata.origin, "inbound from offnet to account");
    assert_eq!(s.metadata.account_id.as_deref(), Some(ACCOUNT));
}

#[test]
fn legs_without_an_account_and_no_single_account_are_not_recorded_by_account_rules() {
    let docs = Docs::account_rules(json!({"inbound": {"offnet": {"enabled": true}}}));
    let mut h = Harness::new(docs);
    let mut bob_no_account = bob();
    bob_no_account.account = None;
    h.leg_started(
        0,
        leg(LegId::A, "a-call-1", &pstn(), &pstn(), "+14155550199"),
    );
    let at_b = h.leg_started(
        0,
        leg(B1, "b-call-1", &pstn(), &bob_no_account, "+14155550199"),
    );
    assert!(at_b.is_empty(), "{at_b:?}");
}

#[test]
fn a_call_that_ends_before_any_b_leg_starts_records_nothing_and_leaves_no_state() {
    let on = json!({"enabled": true});
    let everything = json!({"any": {"any": on}});
    let docs = Docs::account_rules(everything.clone()).device("dev-alice", everything);
    let mut h = Harness::new(docs);
    let mut all = h.leg_started(0, leg(LegId::A, "a-call-1", &alice(), &alice(), "1002"));
    assert_eq!(h.coord.calls(), 1);
    all.extend(h.leg_ended(2, LegId::A, None));
    assert!(h.cdr_ids(2, LegId::A).is_empty());
    all.extend(h.call_ended(2));
    assert!(all.is_empty(), "{all:?}");
    assert!(h.coord.open_recordings().is_empty());
    assert_eq!(h.coord.calls(), 0);
    assert!(h.coord.call_refs().is_empty());
}

#[test]
fn events_for_an_unknown_call_do_nothing() {
    let mut h = Harness::new(Docs::default());
    let mut all = h.answered(1, B1);
    all.extend(h.bridged(1, B1));
    all.extend(h.record_call(1, json!({"label": "x"})));
    all.extend(h.record_caller(1, json!({})));
    all.extend(h.call_ended(1));
    assert!(all.is_empty(), "{all:?}");
    assert_eq!(h.coord.calls(), 0);
    assert!(h.coord.finished("nope", 1).is_none());
}

// ---------------------------------------------------------------------------------------------
// CDRs of recordings that finished while their call went on

#[test]
fn a_record_call_recording_stopped_and_finished_mid_call_is_still_named_by_the_a_leg_cdr() {
    let mut h = Harness::new(Docs::default());
    h.leg_started(
        0,
        leg(LegId::A, "a-call-1", &pstn(), &pstn(), "+14155550199"),
    );
    let s = only_start(&h.record_call(0, json!({"label": "intro"})));
    h.leg_started(0, leg(B1, "b-call-1", &pstn(), &bob(), "+14155550199"));
    h.answer_and_bridge(2, B1);
    assert_eq!(
        stops(&h.record_call(10, json!({"action": "stop"}))),
        vec![s.id.clone()]
    );
    // The recorder closes its file long before the call ends.
    assert!(h.coord.finished(&s.id, 10_000).is_some());
    h.leg_ended(60, B1, Some(2));
    assert!(h.cdr_ids(60, B1).is_empty());
    h.leg_ended(60, LegId::A, Some(2));
    let cdr = h.coord.recordings_for_leg(h.at(60), CALL, LegId::A);
    assert_eq!(cdr.len(), 1, "{cdr:?}");
    assert_eq!(cdr[0].id, s.id);
    assert_eq!(cdr[0].origin, "callflow : intro");
    assert!(!cdr[0].discarded);
    assert!(h.call_ended(60).is_empty());
    assert!(h.coord.open_recordings().is_empty());
    assert_eq!(h.coord.calls(), 0);
}

#[test]
fn a_recording_that_reached_its_time_limit_mid_call_is_still_named_by_its_leg_cdr() {
    let docs = Docs::account_rules(
        json!({"inbound": {"offnet": enabled(json!({"time_limit": 30, "record_min_sec": 60}))}}),
    );
    let mut h = Harness::new(docs);
    let (_, at_b) = start_inbound_call(&mut h);
    let s = only_start(&at_b);
    assert_eq!(s.time_limit, Duration::from_secs(30));
    h.answer_and_bridge(2, B1);
    // The recorder stops by itself at its limit; 30 s is below record_min_sec.
    let f = h.coord.finished(&s.id, 30_000).unwrap();
    assert!(f.discard);
    h.leg_ended(90, B1, Some(2));
    h.leg_ended(90, LegId::A, Some(2));
    let cdr = h.coord.recordings_for_leg(h.at(90), CALL, LegId::A);
    assert_eq!(cdr.len(), 1, "{cdr:?}");
    assert_eq!(cdr[0].id, s.id);
    assert!(cdr[0].discarded, "the CDR says it was discarded");
    assert!(h.call_ended(90).is_empty(), "nothing left to stop");
    assert!(h.coord.open_recordings().is_empty());
}

#[test]
fn a_recorder_that_failed_without_audio_mid_call_is_not_named_by_the_cdr() {
    let docs = Docs::account_rules(json!({"inbound": {"offnet": {"enabled": true}}}));
    let mut h = Harness::new(docs);
    let (_, at_b) = start_inbound_call(&mut h);
    let s = only_start(&at_b);
    // The engine could not create the spool entry: it reports 0 ms at once.
    assert!(h.coord.finished(&s.id, 0).is_some());
    h.answer_and_bridge(2, B1);
    h.leg_ended(30, B1, Some(2));
    h.leg_ended(30, LegId::A, Some(2));
    assert!(h.cdr_ids(30, LegId::A).is_empty());
    assert!(h.call_ended(30).is_empty());
    assert!(h.coord.open_recordings().is_empty());
}
