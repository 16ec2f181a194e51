//! `callrec-loadgen`: media load through callrec on loopback. It plays the carrier (on
//! 127.0.0.2, trusted by address) and phone 1001 (registered with MD5 digest), opens N
//! concurrent carrier → DID calls that the phone auto-answers, sends G.711 RTP at 50 packets/s
//! per direction per call through callrec's relay, holds them, hangs up, and reports calls set
//! up / failed and packets sent / received per direction with loss.
//!
//! Output: human-readable lines, `PHASE steady_start` / `PHASE steady_end` markers (printed
//! when the steady-state window begins and ends, so a script can sample callrec's CPU between
//! them), and a final `RESULT key=value ...` line.

mod carrier;
mod digest;
mod endpoint;
mod phone;
mod rtp;
mod sdp;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use carrier::{CarrierConfig, CarrierStats};
use phone::{MediaShared, PhoneConfig, PhoneStats};
use rtp::{Direction, Phases};

const USAGE: &str = "callrec-loadgen [--calls N] [--duration S] [--ramp S] [--callrec ADDR]
    [--carrier-ip IP] [--carrier-port P] [--phone-ip IP] [--phone-port P] [--did NUMBER]
    [--user EXT] [--password PW] [--threads N]
  --calls N        concurrent calls (default 10, at most 5000)
  --duration S     seconds of steady state once every call is set up (default 10, at most 600)
  --ramp S         seconds over which call starts are spread (default 5)
  --callrec ADDR   callrec's SIP UDP address (default 127.0.0.1:5060, loopback only)
  --carrier-ip IP  carrier address, trusted by callrec (default 127.0.0.2), port --carrier-port (5060)
  --phone-ip IP    phone address (default 127.0.0.1), port --phone-port (default 5072)
  --did NUMBER     dialled number (default +15550100); --user/--password: 1001 / demo-1001
  --threads N      tokio worker threads (default 1)";

#[derive(Debug, Clone)]
struct Args {
    calls: u32,
    duration: u64,
    ramp: f64,
    callrec: SocketAddr,
    carrier: SocketAddr,
    phone: SocketAddr,
    did: String,
    user: String,
    password: String,
    threads: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        calls: 10,
        duration: 10,
        ramp: 5.0,
        callrec: SocketAddr::from(([127, 0, 0, 1], 5060)),
        carrier: SocketAddr::from(([127, 0, 0, 2], 5060)),
        phone: SocketAddr::from(([127, 0, 0, 1], 5072)),
        did: "+15550100".into(),
        user: "1001".into(),
        password: "demo-1001".into(),
        threads: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = format!("bad value for {flag}: {v}");
        match flag.as_str() {
            "--calls" => a.calls = v.parse().map_err(|_| bad.clone())?,
            "--duration" => a.duration = v.parse().map_err(|_| bad.clone())?,
            "--ramp" => a.ramp = v.parse().map_err(|_| bad.clone())?,
            "--callrec" => a.callrec = v.parse().map_err(|_| bad.clone())?,
            "--carrier-ip" => a.carrier.set_ip(v.parse().map_err(|_| bad.clone())?),
            "--carrier-port" => a.carrier.set_port(v.parse().map_err(|_| bad.clone())?),
            "--phone-ip" => a.phone.set_ip(v.parse().map_err(|_| bad.clone())?),
            "--phone-port" => a.phone.set_port(v.parse().map_err(|_| bad.clone())?),
            "--did" => a.did = v,
            "--user" => a.user = v,
            "--password" => a.password = v,
            "--threads" => a.threads = v.parse().map_err(|_| bad.clone())?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    let loopback = |ip: IpAddr| ip.is_loopback();
    if !loopback(a.callrec.ip()) || !loopback(a.carrier.ip()) || !loopback(a.phone.ip()) {
        return Err("loopback addresses only".into());
    }
    if a.calls == 0 || a.calls > 5000 || a.duration > 600 || !(0.0..=60.0).contains(&a.ramp) {
        return Err("--calls 1..=5000, --duration <= 600, --ramp 0..=60".into());
    }
    a.threads = a.threads.clamp(1, 8);
    Ok(a)
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build();
    let code = match rt {
        Ok(rt) => rt.block_on(run(args)),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            1
        }
    };
    std::process::exit(code);
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn loss(sent: u64, received: u64) -> f64 {
    if sent == 0 {
        0.0
    } else {
        (sent.saturating_sub(received)) as f64 * 100.0 / sent as f64
    }
}

async fn run(args: Args) -> i32 {
    let (phone_ep, phone_rx) = match endpoint::Endpoint::bind(args.phone).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: cannot bind the phone on {}: {e}", args.phone);
            return 1;
        }
    };
    let (carrier_ep, carrier_rx) = match endpoint::Endpoint::bind(args.carrier).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: cannot bind the carrier on {}: {e}", args.carrier);
            return 1;
        }
    };
    let (stop_send_tx, stop_send) = watch::channel(false);
    let (stop_recv_tx, stop_recv) = watch::channel(false);
    let phases = Phases {
        stop_send,
        stop_recv,
    };
    let c2p = Arc::new(Direction::default());
    let p2c = Arc::new(Direction::default());
    let phone_media = MediaShared {
        out: Arc::clone(&p2c),
        inc: Arc::clone(&c2p),
        phases: phases.clone(),
    };
    let carrier_media = MediaShared {
        out: Arc::clone(&c2p),
        inc: Arc::clone(&p2c),
        phases,
    };
    let phone_stats = Arc::new(PhoneStats::default());
    let carrier_stats = Arc::new(CarrierStats::default());
    tokio::spawn(phone::answer_loop(
        Arc::clone(&phone_ep),
        phone_rx,
        phone_media,
        Arc::clone(&phone_stats),
    ));
    tokio::spawn(carrier::answer_loop(
        Arc::clone(&carrier_ep),
        carrier_rx,
        Arc::clone(&carrier_stats),
    ));

    let pcfg = PhoneConfig {
        user: args.user.clone(),
        password: args.password.clone(),
        callrec: args.callrec,
    };
    if let Err(e) = phone::register(&phone_ep, &pcfg).await {
        eprintln!("error: REGISTER of {} failed: {e}", args.user);
        return 1;
    }
    say(&format!("registered {} from {}", args.user, phone_ep.local));

    let ccfg = CarrierConfig {
        callrec: args.callrec,
        did: args.did.clone(),
    };
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(args.calls as usize);
    for n in 0..args.calls {
        let at = t0 + Duration::from_secs_f64(args.ramp * f64::from(n) / f64::from(args.calls));
        let ep = Arc::clone(&carrier_ep);
        let cfg = ccfg.clone();
        let media = carrier_media.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let started = Instant::now();
            let r = carrier::place_call(&ep, &cfg, n, &media).await;
            (r, started.elapsed())
        }));
    }
    let mut dialogs = Vec::new();
    let mut failures: std::collections::BTreeMap<String, u32> = Default::default();
    let mut setup_ms: Vec<u128> = Vec::new();
    for t in tasks {
        match t.await {
            Ok((Ok(d), took)) => {
                dialogs.push(d);
                setup_ms.push(took.as_millis());
            }
            Ok((Err(e), _)) => *failures.entry(e.to_string()).or_default() += 1,
            Err(e) => *failures.entry(format!("task: {e}")).or_default() += 1,
        }
    }
    setup_ms.sort_unstable();
    let pct = |p: usize| {
        setup_ms
            .get((setup_ms.len().saturating_sub(1)) * p / 100)
            .copied()
            .unwrap_or(0)
    };
    let set_up = dialogs.len();
    let failed: u32 = failures.values().sum();
    say(&format!(
        "calls set up {set_up} failed {failed} in {:.1} s; setup time median {} ms p95 {} ms max {} ms",
        t0.elapsed().as_secs_f64(),
        pct(50),
        pct(95),
        pct(100)
    ));
    for (why, n) in &failures {
        say(&format!("  failed: {n} x {why}"));
    }

    // Settle, then the steady-state window.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let snap = |d: &Direction| {
        (
            d.sent.load(Ordering::Relaxed),
            d.received.load(Ordering::Relaxed),
        )
    };
    let (c2p_s0, c2p_r0) = snap(&c2p);
    let (p2c_s0, p2c_r0) = snap(&p2c);
    let w0 = Instant::now();
    say("PHASE steady_start");
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    let (c2p_s1, c2p_r1) = snap(&c2p);
    let (p2c_s1, p2c_r1) = snap(&p2c);
    let window = w0.elapsed().as_secs_f64();
    say("PHASE steady_end");

    // Stop sending, let packets in flight arrive, stop counting, hang up.
    let _ = stop_send_tx.send(true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop_recv_tx.send(true);
    let mut byes = Vec::with_capacity(dialogs.len());
    let n_dialogs = dialogs.len().max(1);
    for (i, d) in dialogs.into_iter().enumerate() {
        let ep = Arc::clone(&carrier_ep);
        let cfg = ccfg.clone();
        let at = Instant::now() + Duration::from_millis((2000 * i / n_dialogs) as u64);
        byes.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            carrier::hang_up(&ep, &cfg, d).await
        }));
    }
    let mut bye_ok = 0u32;
    let mut bye_failed = 0u32;
    for b in byes {
        match b.await {
            Ok(s) if (200..300).contains(&s) => bye_ok += 1,
            _ => bye_failed += 1,
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (c2p_s, c2p_r) = snap(&c2p);
    let (p2c_s, p2c_r) = snap(&p2c);
    let rate = |sent: u64| sent as f64 / window.max(0.001) / set_up.max(1) as f64;
    say(&format!(
        "carrier->phone: sent {c2p_s} received {c2p_r} loss {:.3} %; in the {window:.1} s window: sent {} received {} loss {:.3} % (packets in flight at the window edges count) ({:.1} packets/s per call)",
        loss(c2p_s, c2p_r), c2p_s1 - c2p_s0, c2p_r1 - c2p_r0, loss(c2p_s1 - c2p_s0, c2p_r1 - c2p_r0), rate(c2p_s1 - c2p_s0)
    ));
    say(&format!(
        "phone->carrier: sent {p2c_s} received {p2c_r} loss {:.3} %; in the {window:.1} s window: sent {} received {} loss {:.3} % (packets in flight at the window edges count) ({:.1} packets/s per call)",
        loss(p2c_s, p2c_r), p2c_s1 - p2c_s0, p2c_r1 - p2c_r0, loss(p2c_s1 - p2c_s0, p2c_r1 - p2c_r0), rate(p2c_s1 - p2c_s0)
    ));
    let send_errors =
        c2p.send_errors.load(Ordering::Relaxed) + p2c.send_errors.load(Ordering::Relaxed);
    say(&format!(
        "BYE ok {bye_ok} failed {bye_failed}; phone answered {} refused {} BYEs {}; BYEs from callrec to the carrier {}; RTP send errors {send_errors}",
        phone_stats.answered.load(Ordering::Relaxed),
        phone_stats.refused.load(Ordering::Relaxed),
        phone_stats.byes.load(Ordering::Relaxed),
        carrier_stats.byes_from_callrec.load(Ordering::Relaxed),
    ));
    say(&format!(
        "RESULT calls={} set_up={set_up} failed={failed} bye_ok={bye_ok} bye_failed={bye_failed} c2p_sent={c2p_s} c2p_received={c2p_r} c2p_loss_pct={:.3} p2c_sent={p2c_s} p2c_received={p2c_r} p2c_loss_pct={:.3} window_s={window:.1} window_c2p_loss_pct={:.3} window_p2c_loss_pct={:.3} setup_p95_ms={}",
        args.calls,
        loss(c2p_s, c2p_r),
        loss(p2c_s, p2c_r),
        loss(c2p_s1 - c2p_s0, c2p_r1 - c2p_r0),
        loss(p2c_s1 - p2c_s0, p2c_r1 - p2c_r0),
        pct(95)
    ));
    i32::from(failed > 0 || bye_failed > 0 || set_up == 0)
}
