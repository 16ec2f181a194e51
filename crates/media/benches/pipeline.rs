//! Throughput of the media hot paths (plain harness, no criterion):
//! - relay decisions per second (`CallRelay::on_packet`, latched, forwarding both ways);
//! - recorder packets per second and the real-time factor of one recording (60 s of 20 ms
//!   G.711 from both legs) for WAV 8 kHz, MP3 8 kHz and MP3 16 kHz (resampled) stereo.
//!
//! - the recorder pool's load: N recordings (1000 in full) on one thread, fed 20 s of 20 ms
//!   G.711 from both legs in 100 ms batches, each synced every second, as a recorder worker
//!   does: CPU per recording-second and resident memory per recording (the growth of the
//!   process's VmRSS from before the recorders are created to the end of the 20 s, over N:
//!   what the recordings' buffers hold, malloc's overhead and fragmentation included).
//!
//! `cargo bench -p callrec-media --bench pipeline` runs it in full; under `cargo test` it runs
//! one tiny iteration so the target stays built and working. Figures: wall clock and the thread's
//! CPU time (`/proc/thread-self/schedstat`, Linux), so a loaded machine's waiting is separated.

use std::f64::consts::PI;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callrec_media::record::{g711, CodecMap, Format, Recorder, RecorderConfig, RecordingSpec};
use callrec_media::relay::{CallRelay, Channel, Leg, RelayConfig};
use callrec_media::Counters;

/// VmRSS and VmHWM of the process, in bytes.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn cpu_time() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn measure<T>(f: impl FnOnce() -> T) -> (T, Duration, Option<Duration>) {
    let (w0, c0) = (Instant::now(), cpu_time());
    let out = f();
    let wall = w0.elapsed();
    let cpu = match (c0, cpu_time()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    (out, wall, cpu)
}

fn packet(seq: u16, ts: u32, ssrc: u32, tone: f64) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..160).map(|i| {
        let n = f64::from(ts) + f64::from(i);
        g711::linear_to_ulaw((8000.0 * (2.0 * PI * tone * n / 8000.0).sin()) as i16)
    }));
    p
}

fn bench_relay(packets: u32) {
    let t0 = Instant::now();
    let mut relay = CallRelay::new(t0, RelayConfig::default(), Arc::new(Counters::default()));
    let a: SocketAddr = "192.0.2.1:4000".parse().unwrap();
    let b: SocketAddr = "198.51.100.1:5000".parse().unwrap();
    relay.update_remote(Leg::A, Some(a));
    relay.update_remote(Leg::B, Some(b));
    let pa = packet(1, 0, 1, 440.0);
    let pb = packet(1, 0, 2, 1000.0);
    let ((), wall, cpu) = measure(|| {
        for i in 0..packets {
            let (leg, src, p) = if i % 2 == 0 {
                (Leg::A, a, &pa)
            } else {
                (Leg::B, b, &pb)
            };
            std::hint::black_box(relay.on_packet(t0, leg, Channel::Rtp, src, p));
        }
    });
    report("relay on_packet", packets, wall, cpu, None);
}

fn bench_recorder(name: &str, format: Format, rate: Option<u32>, seconds: u32) {
    let dir = std::env::temp_dir().join(format!("callrec-media-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("bench.{}", format.extension()));
    let mut spec = RecordingSpec::new(&path);
    spec.format = format;
    spec.sample_rate = rate;
    let t0 = Instant::now();
    let frames = seconds * 50;
    // Packets prepared beforehand: the measurement is the recorder's, not the synthesis.
    let packets: Vec<(Leg, Instant, Vec<u8>)> = (0..frames)
        .flat_map(|k| {
            let at = t0 + Duration::from_millis(u64::from(k) * 20 + 40);
            [
                (Leg::A, at, packet(k as u16, k * 160, 1, 440.0)),
                (Leg::B, at, packet(k as u16, k * 160, 2, 1000.0)),
            ]
        })
        .collect();
    let count = packets.len() as u32;
    let (done, wall, cpu) = measure(|| {
        let mut rec = Recorder::new(
            spec,
            t0,
            [CodecMap::default(), CodecMap::default()],
            RecorderConfig::default(),
        )
        .unwrap();
        for (leg, at, p) in &packets {
            rec.push(*leg, *at, p).unwrap();
        }
        rec.finish(t0 + Duration::from_secs(u64::from(seconds)))
            .unwrap()
    });
    report(name, count, wall, cpu, Some(done.duration));
    std::fs::remove_dir_all(&dir).ok();
}

/// `n` recordings on this thread, as a recorder worker runs them (see the module doc).
fn bench_pool(name: &str, format: Format, n: usize, seconds: u32) {
    let dir = std::env::temp_dir().join(format!("callrec-media-pool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let t0 = Instant::now();
    let frames = seconds * 50;
    let packets: Vec<(Leg, u32, Vec<u8>)> = (0..frames)
        .flat_map(|k| {
            let at = k * 20 + 40;
            [
                (Leg::A, at, packet(k as u16, k * 160, 1, 440.0)),
                (Leg::B, at + 7, packet(k as u16, k * 160, 2, 1000.0)),
            ]
        })
        .collect();
    let (rss0, _) = rss();
    let ((rss_end, finished), wall, cpu) = measure(|| {
        let mut recorders: Vec<Recorder> = (0..n)
            .map(|i| {
                let mut spec = RecordingSpec::new(dir.join(format!("{i}.{}", format.extension())));
                spec.format = format;
                Recorder::new(
                    spec,
                    t0,
                    [CodecMap::default(), CodecMap::default()],
                    RecorderConfig::default(),
                )
                .unwrap()
            })
            .collect();
        let mut next = 0;
        for tick in 1..=(seconds * 10) {
            let until = tick * 100;
            let from = next;
            while packets.get(next).is_some_and(|p| p.1 <= until) {
                next += 1;
            }
            let batch = &packets[from..next];
            let now = t0 + Duration::from_millis(u64::from(until));
            for rec in &mut recorders {
                for (leg, at, p) in batch {
                    rec.push(*leg, t0 + Duration::from_millis(u64::from(*at)), p)
                        .unwrap();
                }
                if until % 1000 == 0 {
                    rec.sync(now).unwrap();
                }
            }
        }
        let (rss_end, _) = rss();
        let stop = t0 + Duration::from_secs(u64::from(seconds));
        let finished = recorders
            .into_iter()
            .map(|r| r.finish(stop).unwrap().frames)
            .sum::<u64>();
        (rss_end, finished)
    });
    let (_, hwm) = rss();
    let rec_seconds = f64::from(seconds) * n as f64;
    std::hint::black_box(finished);
    let mut line = format!(
        "{name:<28} {n:>5} recordings x {seconds} s  resident {:>6.1} KiB/recording (VmHWM {} MiB)  wall {:>5.1} us/recording-s",
        rss_end.saturating_sub(rss0) as f64 / n as f64 / 1024.0,
        hwm >> 20,
        wall.as_secs_f64() * 1e6 / rec_seconds,
    );
    if let Some(cpu) = cpu {
        line += &format!(
            "  cpu {:>5.1} us/recording-s",
            cpu.as_secs_f64() * 1e6 / rec_seconds
        );
    }
    println!("{line}");
    std::fs::remove_dir_all(&dir).ok();
}

fn report(name: &str, n: u32, wall: Duration, cpu: Option<Duration>, audio: Option<Duration>) {
    let per = |d: Duration| d.as_secs_f64() * 1e9 / f64::from(n);
    let mut line = format!(
        "{name:<28} {n:>8} packets  wall {:>8.0} ns/packet",
        per(wall)
    );
    if let Some(cpu) = cpu {
        line += &format!("  cpu {:>8.0} ns/packet", per(cpu));
        if let Some(audio) = audio {
            let factor = audio.as_secs_f64() / cpu.as_secs_f64().max(1e-9);
            line += &format!("  {factor:>6.0}x real time per core");
        }
    }
    println!("{line}");
}

/// The pool runs each in a process of its own (this program again), so that one's freed
/// memory does not hide the next one's growth.
const POOL_ENV: &str = "CALLREC_BENCH_POOL";

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (n, pool_seconds) = if full { (1000, 20) } else { (3, 2) };
    match std::env::var(POOL_ENV).as_deref() {
        Ok("wav") => return bench_pool("pool wav 8k stereo", Format::Wav, n, pool_seconds),
        Ok("mp3") => return bench_pool("pool mp3 8k stereo", Format::Mp3, n, pool_seconds),
        _ => {}
    }
    let (relay_packets, seconds) = if full { (2_000_000, 60) } else { (1000, 1) };
    bench_relay(relay_packets);
    bench_recorder("recorder wav 8k stereo", Format::Wav, None, seconds);
    bench_recorder("recorder mp3 8k stereo", Format::Mp3, None, seconds);
    bench_recorder(
        "recorder mp3 16k stereo",
        Format::Mp3,
        Some(16_000),
        seconds,
    );
    for format in ["wav", "mp3"] {
        let status = std::env::current_exe()
            .and_then(|exe| {
                std::process::Command::new(exe)
                    .args(std::env::args().skip(1))
                    .env(POOL_ENV, format)
                    .status()
            })
            .unwrap();
        assert!(status.success(), "pool bench {format}: {status}");
    }
}
