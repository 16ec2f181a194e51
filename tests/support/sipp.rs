//! Running SIPp scenarios from `sipp-scenarios/` as phones and carriers.

use std::ffi::OsString;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A SIPp command line being built.
#[derive(Clone)]
pub struct Sipp {
    name: String,
    scenario: PathBuf,
    workdir: PathBuf,
    cwd: PathBuf,
    args: Vec<OsString>,
    local: Option<(Ipv4Addr, u16)>,
    target: Option<SocketAddr>,
    timeout_s: u64,
    calls: u64,
    trace_messages: bool,
    /// SIP over one TCP connection (-t t1): no UDP port to wait for.
    tcp: bool,
}

/// A SIPp process running in the background; killed on drop.
pub struct SippProcess {
    name: String,
    child: Child,
    workdir: PathBuf,
    timeout: Duration,
}

/// How a SIPp run ended.
#[derive(Debug)]
pub struct Outcome {
    /// Name given to the instance (appears in messages).
    pub name: String,
    /// SIPp's exit status: 0 = every call succeeded.
    pub status: ExitStatus,
    /// Successful calls from SIPp's statistics (-trace_stat), if it wrote any.
    pub successful: u64,
    /// Failed calls from SIPp's statistics.
    pub failed: u64,
    /// SIPp's error log (unexpected messages, timeouts).
    pub errors: String,
    /// SIPp's stdout/stderr.
    pub output: String,
    /// The SIP messages SIPp sent and received (-trace_msg), if traced.
    pub messages: String,
}

impl Outcome {
    /// Panics with SIPp's logs unless SIPp exited 0 with `calls` successful calls and no failure.
    pub fn assert_ok(&self, calls: u64) -> &Self {
        assert!(
            self.status.success() && self.failed == 0 && self.successful == calls,
            "SIPp `{}`: exit {}, {} successful / {} failed calls (expected {calls} successful)\n\
             errors:\n{}\noutput:\n{}\nlast SIP messages:\n{}",
            self.name,
            self.status,
            self.successful,
            self.failed,
            super::callrec::tail(&self.errors, 60),
            super::callrec::tail(&self.output, 30),
            super::callrec::tail(&self.messages, 80)
        );
        self
    }
}

impl Sipp {
    /// SIPp running `sipp-scenarios/<scenario>`, writing its files into `workdir`.
    pub fn new(name: &str, scenario: &str, workdir: &Path) -> Sipp {
        super::require_tool("sipp", "sip-tester");
        let scenario = super::scenarios().join(scenario);
        assert!(
            scenario.is_file(),
            "missing scenario {}",
            scenario.display()
        );
        let workdir = workdir.join(format!("sipp-{name}"));
        fs::create_dir_all(&workdir).expect("sipp work dir");
        Sipp {
            name: name.to_owned(),
            scenario,
            cwd: workdir.clone(),
            workdir,
            args: Vec::new(),
            local: None,
            target: None,
            timeout_s: 30,
            calls: 1,
            trace_messages: true,
            tcp: false,
        }
    }

    fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    /// Local SIP address (-i, -p).
    pub fn local(mut self, ip: Ipv4Addr, port: u16) -> Self {
        self.local = Some((ip, port));
        self
    }

    /// Remote SIP address (callrec).
    pub fn target(mut self, addr: SocketAddr) -> Self {
        self.target = Some(addr);
        self
    }

    /// SIP over a single TCP connection to the target (-t t1), which SIPp opens itself.
    pub fn tcp(mut self) -> Self {
        self.tcp = true;
        self.arg("-t").arg("t1")
    }

    /// Messages that belong to no call of the main scenario (a request from callrec with a
    /// Call-ID of its own) run `sipp-scenarios/<scenario>` (-oocsf).
    pub fn out_of_call(self, scenario: &str) -> Self {
        let path = super::scenarios().join(scenario);
        assert!(path.is_file(), "missing scenario {}", path.display());
        self.arg("-oocsf").arg(path)
    }

    /// Media port for [media_port] (-mp) and -mi on the local IP.
    pub fn media_port(self, port: u16) -> Self {
        self.arg("-mp").arg(port.to_string())
    }

    /// Echo received RTP back (-rtp_echo).
    pub fn rtp_echo(self) -> Self {
        self.arg("-rtp_echo")
    }

    /// A generic keyword for the scenario (-key NAME VALUE, used as [NAME]).
    pub fn key(self, name: &str, value: &str) -> Self {
        self.arg("-key").arg(name).arg(value)
    }

    /// Injection rows written to a CSV (SEQUENTIAL), fields separated by ';'.
    pub fn csv(self, rows: &[&[&str]]) -> Self {
        let path = self.workdir.join("inject.csv");
        let mut text = String::from("SEQUENTIAL\n");
        for row in rows {
            text.push_str(&row.join(";"));
            text.push_str(";\n");
        }
        fs::write(&path, text).expect("write csv");
        self.arg("-inf").arg(path)
    }

    /// The digest URI to use: must equal the INVITE's Request-URI `sip:<user>@<callrec>`.
    pub fn auth_uri(self, user: &str, callrec: SocketAddr) -> Self {
        self.arg("-auth_uri").arg(format!("{user}@{callrec}"))
    }

    /// Length of `<pause/>` (-d).
    pub fn hold_ms(self, ms: u64) -> Self {
        self.arg("-d").arg(ms.to_string())
    }

    /// Number of calls (-m); the default is 1.
    pub fn calls(mut self, calls: u64) -> Self {
        self.calls = calls;
        self
    }

    /// Call rate (-r, calls per second).
    pub fn rate(self, per_s: u64) -> Self {
        self.arg("-r").arg(per_s.to_string())
    }

    /// Maximum simultaneous calls (-l).
    pub fn limit(self, calls: u64) -> Self {
        self.arg("-l").arg(calls.to_string())
    }

    /// A call fails when an expected message takes longer than this (-recv_timeout).
    pub fn recv_timeout_ms(self, ms: u64) -> Self {
        self.arg("-recv_timeout").arg(ms.to_string())
    }

    /// Overall time limit (-timeout, a timeout is an error).
    pub fn timeout_s(mut self, s: u64) -> Self {
        self.timeout_s = s;
        self
    }

    /// Do not log every SIP message (for high call rates).
    pub fn no_message_trace(mut self) -> Self {
        self.trace_messages = false;
        self
    }

    /// Working directory (uac_pcap.xml opens pcap/g711a.pcap relative to it).
    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = dir.to_path_buf();
        self
    }

    /// Starts SIPp in the background; when it has a local port, returns once SIPp has bound it.
    pub fn spawn(self) -> SippProcess {
        let mut cmd = Command::new("sipp");
        cmd.arg("-sf").arg(&self.scenario);
        cmd.args(&self.args);
        if let Some((ip, port)) = self.local {
            cmd.arg("-i")
                .arg(ip.to_string())
                .arg("-p")
                .arg(port.to_string());
            cmd.arg("-mi").arg(ip.to_string());
        }
        cmd.arg("-m").arg(self.calls.to_string());
        cmd.arg("-timeout")
            .arg(format!("{}s", self.timeout_s))
            .arg("-timeout_error");
        cmd.arg("-nostdin")
            .arg("-trace_err")
            .arg("-trace_stat")
            .arg("-fd")
            .arg("1");
        cmd.arg("-error_file").arg(self.workdir.join("errors.log"));
        cmd.arg("-stf").arg(self.workdir.join("stat.csv"));
        if self.trace_messages {
            cmd.arg("-trace_msg")
                .arg("-message_file")
                .arg(self.workdir.join("messages.log"));
        }
        if let Some(target) = self.target {
            cmd.arg(target.to_string());
        }
        let out = fs::File::create(self.workdir.join("output.log")).expect("sipp output file");
        cmd.current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("fd"))
            .stderr(out);
        let child = cmd.spawn().expect("spawn sipp");
        let mut process = SippProcess {
            name: self.name,
            child,
            workdir: self.workdir,
            timeout: Duration::from_secs(self.timeout_s + 10),
        };
        if let (Some((ip, port)), false) = (self.local, self.tcp) {
            process.wait_bound(ip, port);
        }
        process
    }

    /// Runs SIPp to its end.
    ///
    /// A port chosen free can be taken by another process before SIPp binds it (the harness
    /// probes, then SIPp binds); only that, SIPp's own "Unable to bind main socket", is retried.
    pub fn run(self) -> Outcome {
        for _ in 0..3 {
            let out = self.clone().spawn().wait();
            if !out.errors.contains("Unable to bind main socket") {
                return out;
            }
            let _ = fs::remove_file(self.workdir.join("errors.log"));
            std::thread::sleep(Duration::from_millis(300));
        }
        self.spawn().wait()
    }
}

impl SippProcess {
    /// Waits (bounded) until SIPp owns its UDP port, so that callrec's messages reach it.
    fn wait_bound(&mut self, ip: Ipv4Addr, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if UdpSocket::bind((ip, port)).is_err() {
                return;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return; // it failed; wait() reports why
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("SIPp `{}` did not bind {ip}:{port}", self.name);
    }

    /// Waits for SIPp to end (it is bounded by its own -timeout; killed after that plus 10 s).
    pub fn wait(mut self) -> Outcome {
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {
                    let _ = self.child.kill();
                    break self.child.wait().expect("wait sipp");
                }
            }
        };
        let read = |f: &str| fs::read_to_string(self.workdir.join(f)).unwrap_or_default();
        let stats = read("stat.csv");
        Outcome {
            name: self.name.clone(),
            status,
            successful: stat_column(&stats, "SuccessfulCall(C)"),
            failed: stat_column(&stats, "FailedCall(C)"),
            errors: read("errors.log"),
            output: read("output.log"),
            messages: read("messages.log"),
        }
    }

    /// SIP messages SIPp sent and received so far (-trace_msg).
    pub fn messages(&self) -> String {
        fs::read_to_string(self.workdir.join("messages.log")).unwrap_or_default()
    }
}

impl Drop for SippProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `column` in the last line of a SIPp statistics CSV (0 when absent).
fn stat_column(csv: &str, column: &str) -> u64 {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    // (header first, then the last data line)
    let Some(header) = lines.next() else {
        return 0;
    };
    let Some(index) = header.split(';').position(|c| c == column) else {
        return 0;
    };
    lines
        .next_back()
        .and_then(|l| l.split(';').nth(index))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The `[authentication ...]` injection field for a username and password.
pub fn credentials(user: &str, password: &str) -> String {
    format!("[authentication username={user} password={password}]")
}
