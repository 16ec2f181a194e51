//! Runs the reference SIP edge, Debian's Kamailio 5.6 on `deploy/kamailio/kamailio.cfg`, in the
//! foreground with its pid file, runtime dir and control socket in a temporary directory, its
//! settings given as `-A` defines (the configuration file is used as shipped). Killed on drop;
//! its log is printed when a test fails.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::net::{self, PHONES_IP};

const KAMAILIO: &str = "/usr/sbin/kamailio";
const KAMCMD: &str = "/usr/sbin/kamcmd";

/// One callrec node as the dispatcher list names it.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its SIP address.
    pub sip: SocketAddr,
    /// Its `[cluster] node_id` (the list's `duid` attribute).
    pub id: String,
}

/// A node's state in the dispatcher, from `kamcmd dispatcher.list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    /// `sip:ip:port`.
    pub uri: String,
    /// Dispatcher flags: `AP` active and probed, `IP` inactive and probed, `DX` disabled...
    pub flags: String,
}

impl NodeState {
    /// Whether the dispatcher sends calls to it.
    pub fn is_up(&self) -> bool {
        self.flags.starts_with('A')
    }
}

/// A running Kamailio edge.
pub struct Kamailio {
    child: Option<Child>,
    /// Stops Kamailio if the test process dies without dropping this (a killed test run).
    watchdog: Option<Child>,
    /// Its temporary directory (config, dispatcher list, pid file, control socket, log).
    pub dir: tempfile::TempDir,
    /// Its SIP address (UDP and TCP).
    pub sip: SocketAddr,
    db_url: String,
    log: PathBuf,
}

fn ctl_socket(dir: &Path) -> String {
    format!("unix:{}", dir.join("ctl.sock").display())
}

impl Kamailio {
    /// Starts Kamailio on a free port of 127.0.0.1 against callrec's PostgreSQL database
    /// `db_url` (already migrated by callrec: the views and the location table exist), with
    /// `nodes` as dispatcher set 1, and waits until it answers OPTIONS.
    pub fn start(db_url: &str, nodes: &[Node]) -> Kamailio {
        Kamailio::start_on(
            net::addr(PHONES_IP, net::free_port(PHONES_IP)),
            db_url,
            nodes,
        )
    }

    /// Like [`Kamailio::start`] on `sip` (chosen before the nodes that must trust it start).
    pub fn start_on(sip: SocketAddr, db_url: &str, nodes: &[Node]) -> Kamailio {
        super::require_tool("kamailio", "kamailio kamailio-postgres-modules");
        assert!(
            Path::new("/usr/lib/x86_64-linux-gnu/kamailio/modules/db_postgres.so").is_file(),
            "Kamailio's PostgreSQL driver is not installed (Debian: apt-get install \
             kamailio-postgres-modules; tests/run.sh installs it)"
        );
        let dir = tempfile::Builder::new()
            .prefix("callrec-kamailio.")
            .tempdir()
            .expect("temp dir");
        let mut k = Kamailio {
            child: None,
            watchdog: None,
            sip,
            db_url: db_url.to_owned(),
            log: dir.path().join("kamailio.log"),
            dir,
        };
        k.set_nodes(nodes);
        k.spawn();
        k
    }

    /// Writes the dispatcher list (set 1 = `nodes`); re-read at the next start or
    /// [`Kamailio::reload_nodes`].
    pub fn set_nodes(&self, nodes: &[Node]) {
        let mut list = String::from("# set uri flags priority attrs\n");
        for n in nodes {
            list.push_str(&format!("1 sip:{} 0 0 duid={}\n", n.sip, n.id));
        }
        fs::write(self.dir.path().join("dispatcher.list"), list).expect("dispatcher list");
    }

    /// `kamcmd dispatcher.reload`.
    pub fn reload_nodes(&self) {
        self.kamcmd(&["dispatcher.reload"]);
    }

    fn spawn(&mut self) {
        let cfg = super::repo_root().join("deploy/kamailio/kamailio.cfg");
        assert!(cfg.is_file(), "missing {}", cfg.display());
        let d = self.dir.path();
        let run = d.join("run");
        fs::create_dir_all(&run).expect("runtime dir");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let define = |name: &str, value: &str| format!("{name}={value}");
        let mut cmd = Command::new(KAMAILIO);
        cmd.arg("-DD")
            .arg("-E")
            .arg("-f")
            .arg(&cfg)
            .arg("-P")
            .arg(d.join("kamailio.pid"))
            .arg("-Y")
            .arg(&run)
            .arg("-w")
            .arg(d)
            // Small shared and private memory: a test edge, not a production one.
            .args(["-m", "64", "-M", "8"])
            .arg("-A")
            .arg(define("LISTEN_IP", &self.sip.ip().to_string()))
            .arg("-A")
            .arg(define("SIP_PORT", &self.sip.port().to_string()))
            .arg("-A")
            .arg(define(
                "DBURL",
                &format!("\"{}\"", kamailio_db_url(&self.db_url)),
            ))
            .arg("-A")
            .arg(define(
                "SQLCON",
                &format!("\"cb=>{}\"", kamailio_db_url(&self.db_url)),
            ))
            .arg("-A")
            .arg(define(
                "DSLIST",
                &format!("\"{}\"", d.join("dispatcher.list").display()),
            ))
            .arg("-A")
            .arg(define("CTLSOCK", &format!("\"{}\"", ctl_socket(d))));
        if std::env::var_os("CALLREC_E2E_KAMAILIO_DEBUG").is_some() {
            cmd.arg("-A").arg("WITH_DEBUG");
        }
        let child = cmd
            .current_dir(d)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn kamailio");
        let script = format!(
            "while kill -0 {test} 2>/dev/null; do sleep 0.5; done; kill -TERM {k}; sleep 3; \
             kill -KILL {k}",
            test = std::process::id(),
            k = child.id()
        );
        self.watchdog = Command::new("/bin/sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(20));
    }

    fn wait_ready(&mut self, limit: Duration) {
        let child = &mut self.child;
        let probe = super::net::probe_options(self.sip, limit, b"SIP/2.0 200", || {
            child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
                .map(|s| s.to_string())
        });
        match probe {
            super::net::Probe::Ready => {}
            super::net::Probe::Exited(status) => panic!(
                "kamailio exited during start-up ({status}); log:\n{}",
                super::callrec::tail(&self.log_text(), 80)
            ),
            super::net::Probe::TimedOut => panic!(
                "kamailio did not answer OPTIONS on {} within {limit:?}; log:\n{}",
                self.sip,
                super::callrec::tail(&self.log_text(), 80)
            ),
        }
    }

    /// Stops Kamailio (SIGTERM, then SIGKILL after a bounded wait).
    pub fn stop(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        if let Some(mut child) = self.child.take() {
            // TERM lets the main process stop its children (kill(1) by pid: it is ours).
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops Kamailio and starts it again on the same settings and port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Runs `kamcmd` on the control socket and returns its output.
    pub fn kamcmd(&self, args: &[&str]) -> String {
        let out = Command::new(KAMCMD)
            .arg("-s")
            .arg(ctl_socket(self.dir.path()))
            .args(args)
            .output()
            .expect("run kamcmd");
        assert!(
            out.status.success(),
            "kamcmd {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every node's state in the dispatcher (`kamcmd dispatcher.list`).
    pub fn nodes(&self) -> Vec<NodeState> {
        let text = self.kamcmd(&["dispatcher.list"]);
        let mut out = Vec::new();
        let mut uri: Option<String> = None;
        for line in text.lines() {
            let line = line.trim();
            if let Some(v) = line.strip_prefix("URI:") {
                uri = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("FLAGS:") {
                if let Some(u) = uri.take() {
                    out.push(NodeState {
                        uri: u,
                        flags: v.trim().to_owned(),
                    });
                }
            }
        }
        out
    }

    /// The state of the node at `sip`.
    pub fn node(&self, sip: SocketAddr) -> NodeState {
        let uri = format!("sip:{sip}");
        self.nodes()
            .into_iter()
            .find(|n| n.uri == uri)
            .unwrap_or_else(|| panic!("{uri} is not in the dispatcher list"))
    }

    /// The edge's own counters (`kamcmd cnt.grp_get_all script`), by name.
    pub fn counters(&self) -> Vec<(String, u64)> {
        let text = self.kamcmd(&["cnt.grp_get_all", "script"]);
        text.lines()
            .filter_map(|l| {
                let (name, value) = l.trim().split_once(':')?;
                Some((name.trim().to_owned(), value.trim().parse().ok()?))
            })
            .collect()
    }

    /// One of [`Kamailio::counters`] (0 when absent).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters()
            .into_iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| v)
    }

    /// tm's statistics (`kamcmd tm.stats`) as printed.
    pub fn tm_stats(&self) -> String {
        self.kamcmd(&["tm.stats"])
    }

    /// Kamailio's log so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "---- kamailio log ({}) ----\n{}",
                self.log.display(),
                super::callrec::tail(&self.log_text(), 150)
            );
        }
    }
}

/// Kamailio's db_postgres takes `postgres://user[:password]@host[:port]/db` and no query
/// string; the harness's URLs have no password (`postgres://postgres@127.0.0.1:PORT/db`).
/// Its URL parser also wants a `:` after the user name (an empty password) to read the port.
fn kamailio_db_url(url: &str) -> String {
    let url = url.split('?').next().unwrap_or(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user, host)) if !user.contains(':') => format!("{scheme}://{user}:@{host}"),
        _ => url.to_owned(),
    }
}
