//! The driver through real UDP sockets on 127.0.0.1: two fake phones, the engine's session
//! decisions applied to the relay, relaying both ways, latching, DTMF, a recording, the time
//! limit, and the sockets closing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use callrec_media::relay::PortPair;
use callrec_media::sdp::SessionDescription;
use callrec_media::session::MediaSession;
use tokio::net::UdpSocket;
use tokio::time::timeout;

use super::*;

fn offer(port: u16) -> String {
    format!(
        "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )
}

fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn port_of(sdp: &str) -> SocketAddr {
    SessionDescription::parse(sdp.as_bytes())
        .unwrap()
        .audio()
        .unwrap()
        .remote_rtp()
        .unwrap()
}

async fn recv(socket: &UdpSocket) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    let (n, _) = timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("packet relayed within 5 s")
        .unwrap();
    buf[..n].to_vec()
}

/// Channels and samples of a finished 16-bit WAV (its header checked by `repair_wav`, which
/// must find nothing to repair).
fn read_wav(path: &std::path::Path) -> (u16, Vec<i16>) {
    let info = callrec_media::record::repair_wav(path).unwrap();
    assert!(!info.changed, "a finished WAV needs no repair");
    let bytes = std::fs::read(path).unwrap();
    let data = &bytes[bytes.len() - info.data_bytes as usize..];
    let samples = data
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    (info.channels, samples)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callrec-driver-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A call's relay opened by the driver on ports `base..base+4`, with the session the engine
/// would keep for it (its SDP decisions applied to the relay as the engine's driver does).
struct Fixture {
    driver: MediaDriver,
    call: CallMedia,
    session: MediaSession,
}

/// Two relay port pairs from `base`. The tests' fixed bases (31,000-32,500) are below Linux's
/// ephemeral range (32768-60999), so a socket bound to port 0 elsewhere in the process (a test
/// phone, an API test) can never take one of them first; and away from the example config's
/// relay range (20000-30000).
fn ports(base: u16) -> [PortPair; 2] {
    [PortPair { rtp: base }, PortPair { rtp: base + 2 }]
}

fn fixture_with(base: u16, config: MediaDriverConfig) -> Fixture {
    let driver = MediaDriver::new(config.clone());
    let [a, b] = ports(base);
    let call = driver.open_call(
        "test",
        [driver.bind_pair(a).unwrap(), driver.bind_pair(b).unwrap()],
    );
    Fixture {
        driver,
        call,
        session: MediaSession::new(config.relay_ip, ports(base), true),
    }
}

fn fixture(base: u16) -> Fixture {
    fixture_with(base, MediaDriverConfig::default())
}

/// A call opened on an existing driver (its shards shared with other calls).
fn fixture_on(driver: &MediaDriver, base: u16) -> Fixture {
    let [a, b] = ports(base);
    let call = driver.open_call(
        "test",
        [driver.bind_pair(a).unwrap(), driver.bind_pair(b).unwrap()],
    );
    Fixture {
        driver: driver.clone(),
        call,
        session: MediaSession::new(driver.config().relay_ip, ports(base), true),
    }
}

/// A driver with one relay shard: every call it opens shares that shard's thread.
fn one_shard_driver() -> MediaDriver {
    let driver = MediaDriver::new(MediaDriverConfig {
        relay_threads: 1,
        ..MediaDriverConfig::default()
    });
    assert_eq!(driver.shards().len(), 1);
    driver
}

impl Fixture {
    fn apply(&mut self) {
        while let Some(c) = self.session.poll_command() {
            self.call.apply(c).unwrap();
        }
    }

    fn offer(&mut self, from: Leg, sdp: &str) -> String {
        let out = self.session.rewrite_offer(from, sdp.as_bytes()).unwrap();
        self.apply();
        out
    }

    fn answer(&mut self, from: Leg, sdp: &str) -> String {
        let out = self.session.rewrite_answer(from, sdp.as_bytes()).unwrap();
        self.apply();
        out
    }

    fn start_recording(&mut self, spec: RecordingSpec) -> RecordingHandle {
        let codecs = self.session.codecs();
        self.call.start_recording(spec, codecs).unwrap()
    }
}

/// Every relay port of the call can be bound again: its sockets are closed.
fn assert_ports_free(base: u16) {
    for port in base..base + 4 {
        std::net::UdpSocket::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("port {port} still bound after close: {e}"));
    }
}

#[tokio::test]
async fn relay_forwards_both_ways_records_both_legs_and_returns_its_ports() {
    let mut f = fixture(31_000);
    let phone_a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let phone_b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    // A's offer goes to B pointing at the relay's B socket, B's answer to A at the A socket.
    let to_b = f.offer(Leg::A, &offer(phone_a.local_addr().unwrap().port()));
    let relay_for_b = port_of(&to_b);
    assert_eq!(relay_for_b, f.session.relay_address(Leg::B));
    assert!(to_b.contains("a=rtpmap:101 telephone-event/8000\r\n"));
    let to_a = f.answer(Leg::B, &offer(phone_b.local_addr().unwrap().port()));
    let relay_for_a = port_of(&to_a);
    assert_eq!(relay_for_a, f.session.relay_address(Leg::A));

    let dir = temp_dir("both");
    let path = dir.join("rec.wav");
    let mut spec = RecordingSpec::new(&path);
    spec.format = Format::Wav;
    let handle = f.start_recording(spec);

    // Ten 20 ms frames from each phone, paced like a phone sends them: the recording follows
    // the wall clock, so audio sent faster than real time would not fit in it.
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    for i in 0..10u16 {
        pace.tick().await;
        let a = rtp(0, i, u32::from(i) * 160, 0xa, &[0x10; 160]); // loud negative µ-law
        phone_a.send_to(&a, relay_for_a).await.unwrap();
        assert_eq!(recv(&phone_b).await, a);
        let b = rtp(0, i, u32::from(i) * 160, 0xb, &[0x90; 160]); // loud positive µ-law
        phone_b.send_to(&b, relay_for_b).await.unwrap();
        assert_eq!(recv(&phone_a).await, b);
    }
    pace.tick().await;
    // A stranger sending to A's relay port is dropped once A has latched.
    phone_a
        .send_to(&rtp(0, 1, 0, 0xdead, &[0; 160]), relay_for_a)
        .await
        .ok();
    stranger
        .send_to(&rtp(0, 99, 0, 0xdead, &[0; 160]), relay_for_a)
        .await
        .unwrap();
    let marker = rtp(0, 10, 1600, 0xa, &[0x10; 160]);
    phone_a.send_to(&marker, relay_for_a).await.unwrap();
    let mut got = recv(&phone_b).await;
    if got != marker {
        got = recv(&phone_b).await;
    }
    assert_eq!(got, marker, "the stranger's packet was not forwarded");
    assert_eq!(f.driver.counters().dropped_wrong_source, 1);

    // DTMF '1' from A, sent three times (one event).
    for _ in 0..3 {
        phone_a
            .send_to(&rtp(101, 11, 1760, 0xa, &[1, 10, 0, 160]), relay_for_a)
            .await
            .unwrap();
        recv(&phone_b).await;
    }
    let event = timeout(Duration::from_secs(5), f.call.next_event())
        .await
        .unwrap();
    assert_eq!(
        event,
        Some(MediaEvent::Dtmf {
            leg: Leg::A,
            digit: '1'
        })
    );
    assert_eq!(f.call.try_event(), None, "one event per key press");

    f.call.request_stop(handle.id());
    let done = handle.wait().await.unwrap();
    assert_eq!(done.path, path);
    assert!(done.frames > 0);
    let (channels, samples) = read_wav(&path);
    assert_eq!(channels, 2);
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
    let loud = |ch: &[i16], negative: bool| {
        ch.iter()
            .filter(|&&s| if negative { s < -1000 } else { s > 1000 })
            .count()
    };
    // A's frames (negative) on the left only, B's (positive) on the right only; at least 8 of
    // the 10 frames each (the last one may fall after the stop).
    assert!(
        loud(&left, true) >= 8 * 160,
        "left has {} of A's samples",
        loud(&left, true)
    );
    assert!(
        loud(&right, false) >= 8 * 160,
        "right has {} of B's samples",
        loud(&right, false)
    );
    assert_eq!(loud(&left, false), 0, "B leaked into the left channel");
    assert_eq!(loud(&right, true), 0, "A leaked into the right channel");
    assert!(f.driver.counters().relayed >= 20);

    f.call.close().await;
    assert_ports_free(31_000);
    std::fs::remove_dir_all(&dir).unwrap();
}

// tokio's paused clock needs the `test-util` feature, which this crate does not enable: the
// limit is short (100 ms) and the test waits for the relay's own timer, not a sleep.
#[tokio::test]
async fn recording_stops_at_its_time_limit_by_itself_with_full_length() {
    let mut f = fixture(31_200);
    let dir = temp_dir("limit");
    let path = dir.join("limit.wav");
    let mut spec = RecordingSpec::new(&path);
    spec.format = Format::Wav;
    spec.time_limit = Duration::from_millis(100);
    let handle = f.start_recording(spec);
    let done = timeout(Duration::from_secs(5), handle.wait())
        .await
        .expect("the recording stops at its time limit")
        .unwrap();
    // No packets at all: the file is 100 ms of silence (800 frames), not empty.
    assert_eq!(done.frames, 800);
    let (channels, samples) = read_wav(&path);
    assert_eq!(samples.len(), 800 * usize::from(channels));
    assert!(samples.iter().all(|s| *s == 0));
    f.call.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_port_in_use_is_refused_and_nothing_stays_bound() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:31402").unwrap();
    let driver = MediaDriver::new(MediaDriverConfig::default());
    let [a, b] = ports(31_400);
    let first = driver.bind_pair(a).unwrap();
    let err = driver.bind_pair(b).unwrap_err();
    assert!(
        matches!(err, MediaError::Bind { port: 31_402, .. }),
        "{err}"
    );
    drop(taken);
    drop(first);
    assert_ports_free(31_400);
}

#[tokio::test]
async fn media_timeout_is_reported_once_the_call_is_answered_and_silent() {
    let mut f = fixture_with(
        31_600,
        MediaDriverConfig {
            media_timeout: Duration::from_millis(100),
            ..MediaDriverConfig::default()
        },
    );
    f.offer(Leg::A, &offer(5000));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(f.call.try_event(), None, "no timeout while the call rings");
    f.answer(Leg::B, &offer(5002));
    let event = timeout(Duration::from_secs(5), f.call.next_event())
        .await
        .expect("media timeout within 5 s");
    assert_eq!(event, Some(MediaEvent::MediaTimeout));
    f.call.close().await;
}

#[tokio::test]
async fn a_new_sdp_version_from_a_moved_phone_relatches_its_leg() {
    let mut f = fixture(31_800);
    let phone_a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let phone_a_moved = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let phone_b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let a_port = phone_a.local_addr().unwrap().port();
    f.offer(Leg::A, &offer(a_port));
    f.answer(Leg::B, &offer(phone_b.local_addr().unwrap().port()));
    let relay_for_a = f.session.relay_address(Leg::A);
    let first = rtp(0, 1, 160, 0xa, &[0x10; 160]);
    phone_a.send_to(&first, relay_for_a).await.unwrap();
    assert_eq!(recv(&phone_b).await, first);

    // Re-INVITE from A's new address, session version 2.
    let moved_port = phone_a_moved.local_addr().unwrap().port();
    let reinvite = offer(moved_port).replace("o=phone 1 1", "o=phone 1 2");
    f.offer(Leg::A, &reinvite);
    let moved = rtp(0, 2, 320, 0xa, &[0x10; 160]);
    phone_a_moved.send_to(&moved, relay_for_a).await.unwrap();
    assert_eq!(recv(&phone_b).await, moved, "the new source latched");
    // The old address is now a stranger; B's packets go to the new one.
    phone_a.send_to(&first, relay_for_a).await.unwrap();
    let b = rtp(0, 1, 160, 0xb, &[0x90; 160]);
    phone_b
        .send_to(&b, f.session.relay_address(Leg::B))
        .await
        .unwrap();
    assert_eq!(recv(&phone_a_moved).await, b);
    let marker = rtp(0, 3, 480, 0xa, &[0x10; 160]);
    phone_a_moved.send_to(&marker, relay_for_a).await.unwrap();
    assert_eq!(
        recv(&phone_b).await,
        marker,
        "the old source's packet was dropped"
    );
    assert_eq!(f.driver.counters().dropped_wrong_source, 1);
    f.call.close().await;
}

/// Two phones that have offered and answered through the fixture's call; (A, B).
async fn connect(f: &mut Fixture) -> (UdpSocket, UdpSocket) {
    let phone_a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let phone_b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    f.offer(Leg::A, &offer(phone_a.local_addr().unwrap().port()));
    f.answer(Leg::B, &offer(phone_b.local_addr().unwrap().port()));
    (phone_a, phone_b)
}

#[tokio::test]
async fn many_calls_on_one_shard_relay_each_to_its_own_phones_and_close() {
    let driver = one_shard_driver();
    const CALLS: u16 = 24;
    let mut calls = Vec::new();
    for i in 0..CALLS {
        let mut f = fixture_on(&driver, 32_000 + 4 * i);
        let phones = connect(&mut f).await;
        calls.push((f, phones));
    }
    // Every call's packets, tagged with the call's number, reach that call's other phone only
    // (a phone receiving another call's packet would see the wrong tag).
    for round in 0..3u16 {
        for (i, (f, (a, b))) in calls.iter().enumerate() {
            let tag = [i as u8; 160];
            let from_a = rtp(0, round, u32::from(round) * 160, 0xa00 + i as u32, &tag);
            a.send_to(&from_a, f.session.relay_address(Leg::A))
                .await
                .unwrap();
            let from_b = rtp(0, round, u32::from(round) * 160, 0xb00 + i as u32, &tag);
            b.send_to(&from_b, f.session.relay_address(Leg::B))
                .await
                .unwrap();
        }
        for (i, (_, (a, b))) in calls.iter().enumerate() {
            let got_b = recv(b).await;
            let got_a = recv(a).await;
            assert_eq!(
                got_b[2..4],
                round.to_be_bytes(),
                "call {i}: this round's packet"
            );
            assert_eq!(
                got_b[12..],
                [i as u8; 160],
                "call {i}: B got A's packet of this call"
            );
            assert_eq!(
                got_a[12..],
                [i as u8; 160],
                "call {i}: A got B's packet of this call"
            );
        }
    }
    for (i, (_, (a, b))) in calls.iter().enumerate() {
        // Nothing from another call is waiting.
        let mut buf = [0u8; 2048];
        assert!(a.try_recv_from(&mut buf).is_err(), "call {i}: stray packet");
        assert!(b.try_recv_from(&mut buf).is_err(), "call {i}: stray packet");
    }
    assert_eq!(driver.counters().relayed, u64::from(CALLS) * 2 * 3);
    assert_eq!(driver.counters().dropped_wrong_source, 0);
    for (f, _) in calls {
        f.call.close().await;
    }
    for i in 0..CALLS {
        assert_ports_free(32_000 + 4 * i);
    }
}

#[tokio::test]
async fn a_call_closed_while_its_packets_arrive_ends_its_recording_and_the_shard_goes_on() {
    let driver = one_shard_driver();
    let mut busy = fixture_on(&driver, 32_200);
    let mut other = fixture_on(&driver, 32_204);
    let (busy_a, _busy_b) = connect(&mut busy).await;
    let (other_a, other_b) = connect(&mut other).await;
    let dir = temp_dir("closed-busy");
    let path = dir.join("busy.wav");
    let mut spec = RecordingSpec::new(&path);
    spec.format = Format::Wav;
    let handle = busy.start_recording(spec);

    // A phone keeps sending to the busy call while it is closed (and after).
    let target = busy.session.relay_address(Leg::A);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        let socket = busy_a.into_std().unwrap();
        socket.set_nonblocking(false).unwrap();
        std::thread::spawn(move || {
            let mut seq = 0u16;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let p = rtp(0, seq, u32::from(seq) * 160, 0xa, &[0x10; 160]);
                let _ = socket.send_to(&p, target);
                seq = seq.wrapping_add(1);
                if seq % 16 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    timeout(Duration::from_secs(5), busy.call.close())
        .await
        .expect("close returns while packets arrive");
    let done = timeout(Duration::from_secs(5), handle.wait())
        .await
        .expect("closing stopped the recording")
        .unwrap();
    assert!(
        done.frames > 0,
        "the recording got the packets before the close"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flood.join().unwrap();
    assert_ports_free(32_200);

    // The shard still relays its other call.
    let p = rtp(0, 1, 160, 0xa, &[0x10; 160]);
    other_a
        .send_to(&p, other.session.relay_address(Leg::A))
        .await
        .unwrap();
    assert_eq!(recv(&other_b).await, p);
    other.call.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn commands_after_close_are_ignored_and_a_recorder_queue_sent_then_ends() {
    let driver = one_shard_driver();
    let closed = fixture_on(&driver, 32_300);
    let mut other = fixture_on(&driver, 32_304);
    let (other_a, other_b) = connect(&mut other).await;
    let link = closed.call.link().detached();
    closed.call.close().await;
    assert_ports_free(32_300);

    // The handle is gone; its link still reaches the shard, which ignores the call's commands.
    link.send(relay_task::Command::Session(
        callrec_media::session::SessionCommand::ArmTimeout,
    ))
    .unwrap();
    link.send(relay_task::Command::Session(
        callrec_media::session::SessionCommand::Hold(true),
    ))
    .unwrap();
    let dir = temp_dir("late-feed");
    let path = dir.join("late.wav");
    let spec = RecordingSpec::new(&path);
    let (feed, done) = driver
        .recorders()
        .start(spec, std::time::Instant::now(), closed.session.codecs())
        .unwrap();
    link.send(relay_task::Command::AddRecorder {
        id: RecordingId(7),
        feed,
        deadline: std::time::Instant::now() + Duration::from_secs(60),
    })
    .unwrap();
    // The shard dropped the recording's feed with the command: the recording ends (without
    // frames) instead of waiting for frames that never come.
    let finished = tokio::time::timeout(Duration::from_secs(10), done)
        .await
        .expect("the recording ends")
        .expect("the worker reports it")
        .expect("its file is finished");
    assert_eq!(finished.path, path);
    assert!(path.exists(), "the file is there");

    // The shard goes on relaying the other call, and no event came for the closed one.
    let p = rtp(0, 1, 160, 0xa, &[0x10; 160]);
    other_a
        .send_to(&p, other.session.relay_address(Leg::A))
        .await
        .unwrap();
    assert_eq!(recv(&other_b).await, p);
    drop(link);
    other.call.close().await;
}

#[tokio::test]
async fn recording_limits_of_calls_on_one_shard_fire_each_at_its_own_deadline() {
    let driver = one_shard_driver();
    let dir = temp_dir("deadlines");
    // Started longest first, so the shard's earliest deadline is the last one added.
    let limits_ms = [300u64, 200, 100];
    let mut calls = Vec::new();
    for (i, ms) in limits_ms.iter().enumerate() {
        let mut f = fixture_on(&driver, 32_400 + 4 * i as u16);
        let path = dir.join(format!("limit-{ms}.wav"));
        let mut spec = RecordingSpec::new(&path);
        spec.format = Format::Wav;
        spec.time_limit = Duration::from_millis(*ms);
        let handle = f.start_recording(spec);
        calls.push((f, handle, *ms));
    }
    for (f, handle, ms) in calls {
        let done = timeout(Duration::from_secs(5), handle.wait())
            .await
            .expect("the recording stops at its time limit")
            .unwrap();
        // Silence for exactly its own limit (8 frames per ms), whichever fired first.
        assert_eq!(done.frames, ms * 8, "the {ms} ms recording");
        f.call.close().await;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shard_timers_come_out_earliest_first_and_only_when_due() {
    let t0 = std::time::Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut timers = shard::Timers::default();
    timers.push(at(300), 0, 1);
    timers.push(at(100), 1, 2);
    timers.push(at(200), 2, 3);
    timers.push(at(100), 0, 1); // the call in slot 0 re-armed earlier; the 300 entry is stale
    assert_eq!(timers.next(), Some(at(100)));
    assert_eq!(timers.pop_due(at(50)), None, "nothing due yet");
    assert_eq!(timers.pop_due(at(150)), Some((at(100), 0, 1)));
    assert_eq!(timers.pop_due(at(150)), Some((at(100), 1, 2)));
    assert_eq!(timers.pop_due(at(150)), None);
    assert_eq!(timers.next(), Some(at(200)));
    assert_eq!(timers.pop_due(at(1000)), Some((at(200), 2, 3)));
    assert_eq!(timers.pop_due(at(1000)), Some((at(300), 0, 1)));
    assert_eq!(timers.pop_due(at(1000)), None);
    assert_eq!(timers.len(), 0);
}
