//! Whole calls through the sans-IO [`Engine`] on a fake clock: SIP in from scripted phones and
//! gateways, every command out checked in order, the driver's answers (spool entry written,
//! recorder finished) given by hand. From the INVITE to the upload request, and crash
//! recovery of a recording the crash cut off. Nothing sleeps.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use callrec_engine::b2bua::CallRef;
use callrec_engine::upload_target::{recovered, Disposition};
use callrec_engine::{
    Command, FinishedRecording, MediaCommand, MediaEvent, RecordedAudio, RecorderStart, SpoolEntry,
    SpoolRefusal,
};
use callrec_kazoo::directory::Directory;
use callrec_kazoo::recording::{Format, Method, UploadState};
use callrec_media::record::{Channels, Codec};
use callrec_media::relay::PortPair;
use callrec_media::session::SessionCommand;
use callrec_sip::message::Method as SipMethod;
use serde_json::{json, Value};
use support::engine_net::{EngineNet, UNIX_START_MS};
use support::phone::Phone;
use support::world::{documents, ACCOUNT, DOMAIN, RECORD_CALLER_NUMBER};
use support::Network;

/// The test world's documents, the account recording every call to the PSTN as WAV.
fn recording_world() -> (EngineNet, Phone, Phone, Phone) {
    let docs = documents()
        .into_iter()
        .map(|(name, mut doc)| {
            if doc["_id"] == ACCOUNT {
                doc["call_recording"] = json!({"account": {"outbound": {"offnet": {
                    "enabled": true, "format": "wav", "url": "https://rec.example.com/calls/"}}}});
            }
            (name, doc)
        })
        .collect();
    let mut net = EngineNet::new(Directory::build(docs).expect("documents are valid"));
    let mut p1001 = Phone::new("1001", "pw-1001", DOMAIN, "192.0.2.1:5060");
    p1001.register(&mut net);
    let gw1 = Phone::new("gw1", "", DOMAIN, "203.0.113.10:5060");
    let gw2 = Phone::new("gw2", "", DOMAIN, "203.0.113.11:5060");
    net.take_commands();
    (net, p1001, gw1, gw2)
}

fn spool_entries(commands: &[Command]) -> Vec<SpoolEntry> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::CreateSpoolEntry(e) => Some((**e).clone()),
            _ => None,
        })
        .collect()
}

fn only<T: std::fmt::Debug>(mut v: Vec<T>, what: &str) -> T {
    assert_eq!(v.len(), 1, "exactly one {what}: {v:?}");
    v.remove(0)
}

fn recorder_starts(commands: &[Command]) -> Vec<RecorderStart> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::StartRecorder(s) => Some((**s).clone()),
            _ => None,
        })
        .collect()
}

fn finished(commands: &[Command]) -> Vec<FinishedRecording> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::FinishRecording(f) => Some((**f).clone()),
            _ => None,
        })
        .collect()
}

fn cdrs(commands: &[Command]) -> Vec<Value> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::WriteCdr(v) => Some((**v).clone()),
            _ => None,
        })
        .collect()
}

fn opened(commands: &[Command]) -> Vec<(CallRef, [PortPair; 2])> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Media(MediaCommand::Open { call, ports }) => Some((*call, *ports)),
            _ => None,
        })
        .collect()
}

/// 1001 calls the PSTN, gateway 1 answers, 1001 ACKs. Returns the phone's dialog, the
/// gateway's INVITE and the phone's Call-ID.
fn answered_pstn_call(
    net: &mut EngineNet,
    p1001: &mut Phone,
    gw1: &Phone,
) -> (support::phone::Dialog, support::phone::Dialog, String) {
    let invite = p1001.call(net, "15551230000");
    let b_invite = net.expect(gw1.addr, "INVITE", |m| {
        m.method().is_some_and(|x| x.as_str() == "INVITE")
    });
    let offer = String::from_utf8_lossy(b_invite.body()).into_owned();
    assert!(
        offer.contains("c=IN IP4 10.0.0.1") && offer.contains("m=audio 20002 "),
        "the carrier is offered the relay's B-leg port: {offer}"
    );
    let ok_b = gw1.answer(&b_invite, "gw-tag");
    let gw_dialog = Phone::uas_dialog(&b_invite, "gw-tag");
    net.deliver(gw1.addr, &ok_b);
    let ok = net.expect(p1001.addr, "200", |m| m.status() == Some(200));
    let answer = String::from_utf8_lossy(ok.body()).into_owned();
    assert!(
        answer.contains("m=audio 20000 "),
        "the phone is answered with the relay's A-leg port: {answer}"
    );
    let mut dialog = Phone::uac_dialog(&invite, &ok);
    let ack = p1001.in_dialog(&mut dialog, SipMethod::Ack);
    net.deliver(p1001.addr, &ack);
    (dialog, gw_dialog, invite.call_id().expect("Call-ID"))
}

#[test]
fn a_phone_call_to_the_pstn_is_recorded_from_invite_to_the_upload_request() {
    let (mut net, mut p1001, gw1, _gw2) = recording_world();
    let (mut dialog, _gw_dialog, call_id) = answered_pstn_call(&mut net, &mut p1001, &gw1);
    let commands = net.take_commands();

    // Media is opened (a command, not a wait) before anything records on it.
    let (call, ports) = only(opened(&commands), "relay opened");
    assert_eq!(ports, [PortPair { rtp: 20_000 }, PortPair { rtp: 20_002 }]);
    let open_at = commands
        .iter()
        .position(|c| matches!(c, Command::Media(MediaCommand::Open { .. })))
        .unwrap();
    let spool_at = commands
        .iter()
        .position(|c| matches!(c, Command::CreateSpoolEntry(_)))
        .expect("a spool entry is written");
    assert!(open_at < spool_at);
    assert!(commands.iter().any(|c| matches!(
        c,
        Command::Media(MediaCommand::Relay {
            command: SessionCommand::ArmTimeout,
            ..
        })
    )));

    // The account's outbound.offnet rule: one WAV recording of the A leg.
    let entry = only(spool_entries(&commands), "spool entry");
    assert_eq!(entry.file_name, format!("call_recording_{call_id}.wav"));
    assert_eq!(entry.content_type, "audio/wav");
    assert_eq!(entry.metadata.account_id.as_deref(), Some(ACCOUNT));
    assert_eq!(entry.metadata.call_id, call_id);
    // Registering and calling each moved the fake clock 1 s (digest nonces are per second).
    assert_eq!(entry.metadata.start_unix_secs, UNIX_START_MS / 1000 + 2);
    assert!(
        recorder_starts(&commands).is_empty(),
        "no recorder before its spool entry exists"
    );

    // The driver wrote the entry: the recorder starts on the call's relay.
    let path = PathBuf::from("/spool/rec.wav");
    net.engine
        .handle_spool_created(net.now, &entry.id, Ok(path.clone()));
    net.pump();
    let start = only(recorder_starts(&net.take_commands()), "recorder start");
    assert_eq!(start.call, call);
    assert_eq!(start.id, entry.id);
    assert_eq!(start.path, path);
    assert_eq!(start.format, Format::Wav);
    assert_eq!(start.channels, Channels::Stereo);
    assert_eq!(start.time_limit, Duration::from_secs(3600));
    assert_eq!(start.codecs[0].get(0), Codec::Pcmu, "A leg's PCMU");
    assert_eq!(start.codecs[1].get(0), Codec::Pcmu, "B leg's PCMU");

    // 30 s later the phone hangs up.
    net.advance(Duration::from_secs(30));
    let bye = p1001.in_dialog(&mut dialog, SipMethod::Bye);
    net.deliver(p1001.addr, &bye);
    let bye_b = net.expect(gw1.addr, "BYE", |m| {
        m.method().is_some_and(|x| x.as_str() == "BYE")
    });
    net.deliver(gw1.addr, &gw1.respond(&bye_b, 200, "OK", "gw-tag"));
    net.expect(p1001.addr, "200 to BYE", |m| m.status() == Some(200));
    let commands = net.take_commands();
    let cdrs = cdrs(&commands);
    assert_eq!(cdrs.len(), 2, "one CDR per leg");
    let a_cdr = cdrs
        .iter()
        .find(|c| c["call_id"] == call_id.as_str())
        .expect("the A leg's CDR");
    assert_eq!(
        a_cdr["custom_channel_vars"]["media_recording_id"],
        entry.id.as_str()
    );
    assert!(commands
        .iter()
        .any(|c| matches!(c, Command::Media(MediaCommand::Close { call: c }) if *c == call)));
    assert!(commands
        .iter()
        .any(|c| matches!(c, Command::StopRecorder { id, .. } if *id == entry.id)));

    // The recorder closed its file: 30 s of stereo audio. Where it goes is decided here.
    net.engine.handle_recording_finished(
        net.now,
        &entry.id,
        Ok(RecordedAudio {
            duration_ms: 30_000,
            sample_rate: 8000,
            channels: 2,
            cut_short: None,
        }),
    );
    net.pump();
    let done = only(finished(&net.take_commands()), "finished recording");
    assert_eq!(done.id, entry.id);
    assert_eq!(done.duration_ms, 30_000);
    assert_eq!(done.metadata.duration_ms, 30_000);
    assert_eq!(done.metadata.upload, UploadState::Pending { attempts: 0 });
    let Disposition::Upload(request) = done.disposition else {
        panic!("a recording with a url is uploaded: {:?}", done.disposition);
    };
    assert_eq!(request.method, Method::Put);
    assert_eq!(request.content_type, "audio/wav");
    let prefix = format!("https://rec.example.com/calls/call_recording_{call_id}.wav?");
    assert!(request.url.starts_with(&prefix), "{}", request.url);
    for part in [
        "duration_ms=30000",
        "account_id=acc-1",
        &format!("recording_id={}", entry.id),
        &format!(
            "start={}",
            callrec_kazoo::gregorian::from_unix(UNIX_START_MS / 1000 + 2)
        ),
    ] {
        assert!(request.url.contains(part), "{part} in {}", request.url);
    }

    let stats = net.engine.stats();
    assert_eq!(
        (
            stats.calls,
            stats.media_calls,
            stats.ports_in_use,
            stats.recordings
        ),
        (0, 0, 0, 0),
        "nothing left behind"
    );
}

/// Hangs up an answered call from the phone; returns the commands of the hang-up.
fn hang_up(
    net: &mut EngineNet,
    p1001: &mut Phone,
    dialog: &mut support::phone::Dialog,
    gw1: &Phone,
) -> Vec<Command> {
    let bye = p1001.in_dialog(dialog, SipMethod::Bye);
    net.deliver(p1001.addr, &bye);
    let bye_b = net.expect(gw1.addr, "BYE", |m| {
        m.method().is_some_and(|x| x.as_str() == "BYE")
    });
    net.deliver(gw1.addr, &gw1.respond(&bye_b, 200, "OK", "gw-tag"));
    net.expect(p1001.addr, "200 to BYE", |m| m.status() == Some(200));
    net.take_commands()
}

#[test]
fn a_recording_refused_for_low_disk_space_is_counted_and_named_in_the_cdr_and_the_call_goes_on() {
    let (mut net, mut p1001, gw1, _gw2) = recording_world();
    let (mut dialog, _gw_dialog, call_id) = answered_pstn_call(&mut net, &mut p1001, &gw1);
    let entry = only(spool_entries(&net.take_commands()), "spool entry");
    net.engine
        .handle_spool_created(net.now, &entry.id, Err(SpoolRefusal::LowDiskSpace));
    net.pump();
    let commands = net.take_commands();
    assert!(recorder_starts(&commands).is_empty(), "nothing records");
    let stats = net.engine.stats();
    assert_eq!(
        (
            stats.recordings,
            stats.recordings_refused,
            stats.recordings_refused_disk
        ),
        (0, 1, 1)
    );
    assert_eq!(stats.calls, 1, "the call goes on");
    net.advance(Duration::from_secs(10));
    let commands = hang_up(&mut net, &mut p1001, &mut dialog, &gw1);
    let cdrs = cdrs(&commands);
    let a_cdr = cdrs
        .iter()
        .find(|c| c["call_id"] == call_id.as_str())
        .expect("the A leg's CDR");
    let ccv = &a_cdr["custom_channel_vars"];
    assert_eq!(
        ccv["media_recordings_refused"],
        serde_json::json!([entry.id])
    );
    assert_eq!(ccv["media_recording_refused_reason"], "low_disk_space");
    assert!(
        ccv.get("media_recording_id").is_none(),
        "no file to name: {ccv}"
    );
    assert!(finished(&commands).is_empty());
}

#[test]
fn a_recording_cut_short_by_a_full_disk_is_uploaded_as_written_and_marked() {
    let (mut net, mut p1001, gw1, _gw2) = recording_world();
    let (mut dialog, _gw_dialog, _call_id) = answered_pstn_call(&mut net, &mut p1001, &gw1);
    let entry = only(spool_entries(&net.take_commands()), "spool entry");
    net.engine
        .handle_spool_created(net.now, &entry.id, Ok(PathBuf::from("/spool/full.wav")));
    net.pump();
    net.take_commands();
    // 12 s in, the disk is full: the recorder closed the file with what it holds
    net.advance(Duration::from_secs(12));
    net.engine.handle_recording_finished(
        net.now,
        &entry.id,
        Ok(RecordedAudio {
            duration_ms: 11_800,
            sample_rate: 8000,
            channels: 2,
            cut_short: Some("No space left on device".to_owned()),
        }),
    );
    net.pump();
    let done = only(finished(&net.take_commands()), "finished recording");
    assert_eq!(done.duration_ms, 11_800);
    assert_eq!(done.cut_short.as_deref(), Some("No space left on device"));
    assert!(matches!(done.disposition, Disposition::Upload(_)));
    assert_eq!(net.engine.stats().recordings_cut_short, 1);
    assert_eq!(net.engine.stats().calls, 1, "the call goes on");
    net.advance(Duration::from_secs(5));
    let commands = hang_up(&mut net, &mut p1001, &mut dialog, &gw1);
    assert_eq!(cdrs(&commands).len(), 2);
}

#[test]
fn a_recording_cut_off_by_a_crash_is_recovered_to_the_upload_a_normal_finish_gives() {
    let (mut net, mut p1001, gw1, _gw2) = recording_world();
    answered_pstn_call(&mut net, &mut p1001, &gw1);
    let entry = only(spool_entries(&net.take_commands()), "spool entry");
    net.engine
        .handle_spool_created(net.now, &entry.id, Ok(PathBuf::from("/spool/a.wav")));
    net.pump();
    net.advance(Duration::from_secs(4));
    // The sidecar holds the metadata as written at the start. The process dies here.
    let sidecar = serde_json::to_value(&entry.metadata).unwrap();
    drop(net);

    // After the restart the repaired file measures 4.2 s.
    let rec = recovered(&sidecar, Some(4_200)).expect("recording metadata");
    assert_eq!(rec.metadata.duration_ms, 4_200);
    assert_eq!(rec.metadata.upload, UploadState::Pending { attempts: 0 });
    let Disposition::Upload(request) = &rec.disposition else {
        panic!("uploaded: {:?}", rec.disposition);
    };
    let mut finished = entry.metadata.clone();
    finished.duration_ms = 4_200;
    assert_eq!(
        Some(request.url.clone()),
        callrec_kazoo::recording::upload_request(&finished).map(|r| r.url),
        "the same URL a normal finish of 4.2 s gives"
    );
    assert!(request.url.contains("duration_ms=4200"));
    assert!(request
        .url
        .starts_with("https://rec.example.com/calls/call_recording_"));
}

#[test]
fn a_record_caller_recording_is_recovered_to_its_own_url_and_one_without_url_is_kept() {
    let (mut net, mut p1001, _gw1, _gw2) = recording_world();
    let invite = p1001.call(&mut net, RECORD_CALLER_NUMBER);
    let ok = net.expect(p1001.addr, "200 from callrec itself", |m| {
        m.status() == Some(200)
    });
    assert!(String::from_utf8_lossy(ok.body()).contains("a=recvonly"));
    let entry = only(spool_entries(&net.take_commands()), "spool entry");
    assert_eq!(entry.metadata.channels, 1);
    let call_id = invite.call_id().unwrap();

    let sidecar = serde_json::to_value(&entry.metadata).unwrap();
    let rec = recovered(&sidecar, Some(2_000)).unwrap();
    assert_eq!(
        rec.disposition,
        Disposition::Upload(callrec_kazoo::recording::UploadRequest {
            method: Method::Put,
            url: format!("http://rec.example.com/{call_id}.mp3"),
            content_type: "audio/mpeg",
        }),
        "record_caller's URL form, not KAZOO's call_recording one"
    );

    let mut no_url = entry.metadata.clone();
    no_url.url = None;
    let kept = recovered(&serde_json::to_value(&no_url).unwrap(), Some(2_000)).unwrap();
    assert_eq!(kept.disposition, Disposition::KeepLocal);
    assert_eq!(kept.metadata.upload, UploadState::NoUrl);
}

#[test]
fn a_dtmf_digit_ends_a_record_caller_call_and_its_recording() {
    let (mut net, mut p1001, _gw1, _gw2) = recording_world();
    let invite = p1001.call(&mut net, RECORD_CALLER_NUMBER);
    let ok = net.expect(p1001.addr, "200", |m| m.status() == Some(200));
    let mut dialog = Phone::uac_dialog(&invite, &ok);
    let ack = p1001.in_dialog(&mut dialog, SipMethod::Ack);
    net.deliver(p1001.addr, &ack);
    let commands = net.take_commands();
    let (call, _) = only(opened(&commands), "relay opened");
    let entry = only(spool_entries(&commands), "spool entry");
    net.engine
        .handle_spool_created(net.now, &entry.id, Ok(PathBuf::from("/spool/vm.mp3")));
    net.pump();
    let start = only(recorder_starts(&net.take_commands()), "recorder");
    assert_eq!(start.channels, Channels::CallerOnly);

    net.advance(Duration::from_secs(3));
    net.engine.handle_media_event(
        net.now,
        call,
        MediaEvent::Dtmf {
            leg: callrec_media::relay::Leg::A,
            digit: '#',
        },
    );
    net.pump();
    let bye = net.expect(p1001.addr, "BYE from callrec", |m| {
        m.method().is_some_and(|x| x.as_str() == "BYE")
    });
    net.deliver(p1001.addr, &p1001.respond(&bye, 200, "OK", "x"));
    let commands = net.take_commands();
    assert!(commands
        .iter()
        .any(|c| matches!(c, Command::StopRecorder { id, .. } if *id == entry.id)));
}

#[test]
fn a_dtmf_digit_on_an_ordinary_call_changes_nothing() {
    let (mut net, mut p1001, gw1, _gw2) = recording_world();
    answered_pstn_call(&mut net, &mut p1001, &gw1);
    let (call, _) = only(opened(&net.take_commands()), "relay opened");
    net.engine.handle_media_event(
        net.now,
        call,
        MediaEvent::Dtmf {
            leg: callrec_media::relay::Leg::A,
            digit: '1',
        },
    );
    net.pump();
    assert_eq!(net.engine.stats().calls, 1);
}

#[test]
fn relay_ports_that_cannot_be_opened_end_the_call_and_go_back_to_the_pool() {
    let (mut net, mut p1001, gw1, _gw2) = recording_world();
    p1001.call(&mut net, "15551230000");
    let b_invite = net.expect(gw1.addr, "INVITE", |m| {
        m.method().is_some_and(|x| x.as_str() == "INVITE")
    });
    net.deliver(gw1.addr, &gw1.respond(&b_invite, 180, "Ringing", "gw-tag"));
    let (call, _) = only(opened(&net.take_commands()), "relay opened");
    net.engine.handle_media_failed(net.now, call);
    net.pump();
    let cancel = net.expect(gw1.addr, "CANCEL", |m| {
        m.method().is_some_and(|x| x.as_str() == "CANCEL")
    });
    net.deliver(gw1.addr, &gw1.respond(&cancel, 200, "OK", "gw-tag"));
    net.deliver(
        gw1.addr,
        &gw1.respond(&b_invite, 487, "Request Terminated", "gw-tag"),
    );
    let resp = net.expect(p1001.addr, "a final response", |m| {
        m.status().is_some_and(|s| s >= 300)
    });
    assert_eq!(resp.status(), Some(503), "{resp:?}");
    let commands = net.take_commands();
    assert!(
        spool_entries(&commands).is_empty(),
        "nothing recorded without media"
    );
    assert_eq!(net.engine.stats().ports_in_use, 0);
}

#[test]
fn a_media_timeout_hangs_up_both_legs() {
    let (mut net, mut p1001, gw1, _gw2) = recording_world();
    answered_pstn_call(&mut net, &mut p1001, &gw1);
    let (call, _) = only(opened(&net.take_commands()), "relay opened");
    net.engine
        .handle_media_event(net.now, call, MediaEvent::Timeout);
    net.pump();
    let bye_a = net.expect(p1001.addr, "BYE", |m| {
        m.method().is_some_and(|x| x.as_str() == "BYE")
    });
    net.deliver(p1001.addr, &p1001.respond(&bye_a, 200, "OK", "x"));
    let bye_b = net.expect(gw1.addr, "BYE", |m| {
        m.method().is_some_and(|x| x.as_str() == "BYE")
    });
    net.deliver(gw1.addr, &gw1.respond(&bye_b, 200, "OK", "gw-tag"));
    let hangups: Vec<_> = cdrs(&net.take_commands())
        .into_iter()
        .map(|c| c["hangup_cause"].clone())
        .collect();
    assert_eq!(hangups.len(), 2);
    assert!(hangups.iter().all(|h| h == "MEDIA_TIMEOUT"), "{hangups:?}");
}
