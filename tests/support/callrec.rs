//! Runs the real `callrec` binary on a generated copy of the example configuration.
//!
//! The copy lives in a temporary directory: `config/callrec.toml` with `sip.listen`,
//! `paths.data_dir` and `paths.documents_dir` pointed at fresh values, and `config/documents/*.json`
//! with the carrier's port (127.0.0.2) and the recording URL (http://127.0.0.1:8080/...) replaced
//! by ports of this test. Tests may edit the documents (account/user/device recording settings)
//! before the start. The process is killed on drop; its log is printed when a test fails.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cdr::{self, Cdr};
use super::net::{self, CARRIER_IP, PHONES_IP};

/// The example configuration's carrier address and the recording URL prefix it names.
const EXAMPLE_CARRIER: &str = "127.0.0.2";
const EXAMPLE_CARRIER_PORT: u16 = 5060;
const EXAMPLE_RECORDING_PREFIX: &str = "http://127.0.0.1:8080";

/// The KAZOO-shaped documents of the generated configuration, editable before the start.
pub struct Documents {
    files: Vec<(PathBuf, Value)>,
    dir: PathBuf,
}

/// What kind of KAZOO document a file holds (from `pvt_type`, else from its shape/name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Account,
    User,
    Device,
    Resource,
    Callflow,
    Other,
}

fn kind_of(path: &Path, doc: &Value) -> Kind {
    let pvt = doc.get("pvt_type").and_then(Value::as_str).unwrap_or("");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let is = |word: &str| pvt == word || name.contains(word);
    if is("account") {
        Kind::Account
    } else if is("device") || doc.pointer("/sip/username").is_some() {
        Kind::Device
    } else if is("user") {
        Kind::User
    } else if is("resource") || doc.get("gateways").is_some() {
        Kind::Resource
    } else if is("callflow") || doc.get("flow").is_some() {
        Kind::Callflow
    } else {
        Kind::Other
    }
}

impl Documents {
    fn load(dir: &Path) -> Self {
        let mut files = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(&d).expect("read documents dir") {
                let path = entry.expect("dir entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    let text = fs::read_to_string(&path).expect("read document");
                    let doc: Value = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
                    files.push((path, doc));
                }
            }
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Documents {
            files,
            dir: dir.to_path_buf(),
        }
    }

    /// Adds a document (saved as `<name>.json` beside the others).
    pub fn add(&mut self, name: &str, doc: Value) {
        self.files
            .push((self.dir.join(format!("{name}.json")), doc));
    }

    /// The document whose `_id` is `id`.
    pub fn by_id(&mut self, id: &str) -> &mut Value {
        self.all()
            .find(|d| doc_id(d) == Some(id))
            .unwrap_or_else(|| panic!("no document with _id {id}"))
    }

    fn save(&self) {
        for (path, doc) in &self.files {
            fs::write(path, serde_json::to_vec_pretty(doc).expect("serialize"))
                .expect("write document");
        }
    }

    /// Every document.
    pub fn all(&mut self) -> impl Iterator<Item = &mut Value> {
        self.files.iter_mut().map(|(_, d)| d)
    }

    /// Every document of `kind`.
    pub fn of_kind(&mut self, kind: Kind) -> impl Iterator<Item = &mut Value> {
        self.files
            .iter_mut()
            .filter(move |(p, d)| kind_of(p, d) == kind)
            .map(|(_, d)| d)
    }

    /// The account document (the example configuration has exactly one).
    pub fn account(&mut self) -> &mut Value {
        self.of_kind(Kind::Account)
            .next()
            .expect("no account document in config/documents")
    }

    /// The device whose SIP username is `username`.
    pub fn device(&mut self, username: &str) -> &mut Value {
        self.of_kind(Kind::Device)
            .find(|d| d.pointer("/sip/username").and_then(Value::as_str) == Some(username))
            .unwrap_or_else(|| panic!("no device with sip.username {username}"))
    }

    /// The user that owns the device `username` (device `owner_id` = user `id`/`_id`).
    pub fn owner_of(&mut self, username: &str) -> &mut Value {
        let owner = self
            .device(username)
            .get("owner_id")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("device {username} has no owner_id"))
            .to_owned();
        self.of_kind(Kind::User)
            .find(|u| doc_id(u) == Some(owner.as_str()))
            .unwrap_or_else(|| panic!("no user document with id {owner}"))
    }

    /// Id of the account / of the owner of device `username` (for CDR assertions).
    pub fn account_id(&mut self) -> String {
        doc_id(self.account())
            .expect("account has an id")
            .to_owned()
    }

    /// Id of the user that owns device `username`.
    pub fn owner_id(&mut self, username: &str) -> String {
        doc_id(self.owner_of(username))
            .expect("user has an id")
            .to_owned()
    }

    /// Id of the device `username`.
    pub fn device_id(&mut self, username: &str) -> String {
        doc_id(self.device(username))
            .expect("device has an id")
            .to_owned()
    }

    /// Replaces the example carrier's port and the recording URL prefix everywhere.
    fn retarget(&mut self, carrier_port: u16, recording_prefix: &str) -> usize {
        let mut carrier_hits = 0;
        for (_, doc) in &mut self.files {
            carrier_hits += retarget_value(doc, carrier_port, recording_prefix);
        }
        carrier_hits
    }
}

fn doc_id(doc: &Value) -> Option<&str> {
    doc.get("id")
        .or_else(|| doc.get("_id"))
        .and_then(Value::as_str)
}

/// Rewrites `127.0.0.2:5060` in strings, `port` beside a `127.0.0.2` server/ip/host, and the
/// recording URL prefix. Returns how many carrier references were rewritten.
fn retarget_value(value: &mut Value, carrier_port: u16, recording_prefix: &str) -> usize {
    let example = format!("{EXAMPLE_CARRIER}:{EXAMPLE_CARRIER_PORT}");
    match value {
        Value::String(s) => {
            let mut hits = 0;
            if s.contains(&example) {
                *s = s.replace(&example, &format!("{EXAMPLE_CARRIER}:{carrier_port}"));
                hits += 1;
            }
            if s.starts_with(EXAMPLE_RECORDING_PREFIX) {
                *s = s.replacen(EXAMPLE_RECORDING_PREFIX, recording_prefix, 1);
            }
            hits
        }
        Value::Array(items) => items
            .iter_mut()
            .map(|v| retarget_value(v, carrier_port, recording_prefix))
            .sum(),
        Value::Object(map) => {
            let mut hits = 0;
            let names_carrier = ["server", "ip", "host", "address", "realm"]
                .iter()
                .any(|k| map.get(*k).and_then(Value::as_str) == Some(EXAMPLE_CARRIER));
            if names_carrier {
                map.insert("port".into(), Value::from(carrier_port));
                hits += 1;
            }
            for v in map.values_mut() {
                hits += retarget_value(v, carrier_port, recording_prefix);
            }
            hits
        }
        _ => 0,
    }
}

/// A running callrec; killed on drop.
pub struct Callrec {
    child: Child,
    /// Temporary directory holding config, documents, data and the log.
    pub dir: tempfile::TempDir,
    /// callrec's SIP address (UDP and TCP).
    pub sip: SocketAddr,
    /// callrec's HTTP API address.
    pub api: SocketAddr,
    /// Where callrec sends offnet calls: the carrier gateway (127.0.0.2:<port>).
    pub carrier: SocketAddr,
    /// `<data_dir>`: CDR log and spool.
    pub data_dir: PathBuf,
    /// Account, user and device ids of the documents it runs on.
    pub ids: Ids,
    log: PathBuf,
}

/// Ids from the generated documents, for CDR assertions.
#[derive(Debug, Clone)]
pub struct Ids {
    pub account: String,
    pub owner_1001: String,
    pub owner_1002: String,
    pub device_1001: String,
    pub device_1002: String,
}

/// An edit applied to the documents before the start.
pub type Edit = Box<dyn FnOnce(&mut Documents)>;

/// How to start callrec.
#[derive(Default)]
pub struct Options {
    /// Base URL replacing `http://127.0.0.1:8080` in the documents (nginx's). None: a closed port.
    pub receiver: Option<String>,
    /// `[store] url` (None: the default, SQLite in the data directory).
    pub store_url: Option<String>,
    /// The address SIP listens on (None: 127.0.0.1), e.g. a cluster node on 127.0.0.2.
    pub sip_ip: Option<std::net::Ipv4Addr>,
    edits: Vec<Edit>,
    config_edits: Vec<ConfigEdit>,
}

/// An edit applied to the generated `callrec.toml` before the start.
pub type ConfigEdit = Box<dyn FnOnce(&mut toml::Table)>;

impl Options {
    /// Uploads go to `base` (e.g. `http://127.0.0.1:PORT`), keeping the documents' paths.
    pub fn receiver(mut self, base: &str) -> Self {
        self.receiver = Some(base.trim_end_matches('/').to_owned());
        self
    }

    /// Runs on this database (`[store] url`).
    pub fn store(mut self, url: &str) -> Self {
        self.store_url = Some(url.to_owned());
        self
    }

    /// Listens for SIP on `ip` (a free port), e.g. a cluster node on 127.0.0.2-4.
    pub fn sip_ip(mut self, ip: std::net::Ipv4Addr) -> Self {
        self.sip_ip = Some(ip);
        self
    }

    /// Sets `[section] key = value` in the configuration.
    pub fn config(self, name: &str, key: &str, value: toml::Value) -> Self {
        let (name, key) = (name.to_owned(), key.to_owned());
        self.edit_config(move |config| {
            let mut table = section(config, &name);
            table.insert(key, value);
            config.insert(name, toml::Value::Table(table));
        })
    }

    /// Edits the documents before the start.
    pub fn edit(mut self, f: impl FnOnce(&mut Documents) + 'static) -> Self {
        self.edits.push(Box::new(f));
        self
    }

    /// Edits the configuration (a `toml::Table`) before the start.
    pub fn edit_config(mut self, f: impl FnOnce(&mut toml::Table) + 'static) -> Self {
        self.config_edits.push(Box::new(f));
        self
    }
}

impl Callrec {
    /// Starts callrec on the example configuration (patched as described in the module docs) and
    /// waits until it answers an OPTIONS over UDP.
    pub fn start(options: Options) -> Callrec {
        let root = super::repo_root();
        let example = root.join("config/callrec.toml");
        assert!(
            example.is_file(),
            "the example configuration {} is missing",
            example.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("callrec-e2e.")
            .tempdir()
            .expect("temp dir");
        let sip_ip = options.sip_ip.unwrap_or(PHONES_IP);
        let sip_port = net::free_port(sip_ip);
        let carrier_port = net::free_port(CARRIER_IP);
        let data_dir = dir.path().join("data");
        let docs_dir = dir.path().join("documents");
        fs::create_dir_all(&data_dir).expect("data dir");

        // callrec.toml
        let text = fs::read_to_string(&example).expect("read example config");
        let mut config: toml::Table = text.parse().expect("example config is TOML");
        let example_docs = config
            .get("paths")
            .and_then(|p| p.get("documents_dir"))
            .and_then(|d| d.as_str())
            .unwrap_or("config/documents")
            .to_owned();
        let mut sip = section(&mut config, "sip");
        sip.insert(
            "listen".into(),
            toml::Value::Array(vec![toml::Value::String(format!("{sip_ip}:{sip_port}"))]),
        );
        config.insert("sip".into(), toml::Value::Table(sip));
        let mut paths = section(&mut config, "paths");
        paths.insert(
            "data_dir".into(),
            toml::Value::String(data_dir.to_string_lossy().into_owned()),
        );
        paths.insert(
            "documents_dir".into(),
            toml::Value::String(docs_dir.to_string_lossy().into_owned()),
        );
        config.insert("paths".into(), toml::Value::Table(paths));
        // The API on a port of its own (the example's 8000 would collide between tests).
        let api_port = net::free_port(PHONES_IP);
        let mut api = section(&mut config, "api");
        api.insert(
            "listen".into(),
            toml::Value::String(format!("127.0.0.1:{api_port}")),
        );
        config.insert("api".into(), toml::Value::Table(api));
        if let Some(url) = &options.store_url {
            let mut store = section(&mut config, "store");
            store.insert("url".into(), toml::Value::String(url.clone()));
            config.insert("store".into(), toml::Value::Table(store));
        }
        for edit in options.config_edits {
            edit(&mut config);
        }
        let config_path = dir.path().join("callrec.toml");
        fs::write(
            &config_path,
            toml::to_string(&config).expect("serialize config"),
        )
        .expect("write config");

        // documents
        copy_dir(&root.join(&example_docs), &docs_dir);
        let mut docs = Documents::load(&docs_dir);
        let receiver = options
            .receiver
            .clone()
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", net::free_port(PHONES_IP)));
        let carrier_hits = docs.retarget(carrier_port, &receiver);
        assert!(
            carrier_hits > 0,
            "no reference to the carrier {EXAMPLE_CARRIER} found in {example_docs}: adapt \
             tests/support/callrec.rs (retarget_value) to the resource document's shape"
        );
        for edit in options.edits {
            edit(&mut docs);
        }
        let ids = Ids {
            account: docs.account_id(),
            owner_1001: docs.owner_id("1001"),
            owner_1002: docs.owner_id("1002"),
            device_1001: docs.device_id("1001"),
            device_1002: docs.device_id("1002"),
        };
        docs.save();

        let log = dir.path().join("callrec.log");
        let child = spawn_callrec(dir.path(), &log);
        let mut callrec = Callrec {
            child,
            dir,
            api: net::addr(PHONES_IP, api_port),
            sip: net::addr(sip_ip, sip_port),
            carrier: net::addr(CARRIER_IP, carrier_port),
            data_dir,
            ids,
            log,
        };
        callrec.wait_ready(Duration::from_secs(15));
        callrec
    }

    fn wait_ready(&mut self, limit: Duration) {
        let child = &mut self.child;
        let probe = net::probe_options(self.sip, limit, b"SIP/2.0 ", || {
            child.try_wait().ok().flatten().map(|s| s.to_string())
        });
        match probe {
            net::Probe::Ready => {}
            net::Probe::Exited(status) => panic!(
                "callrec exited during start-up ({status}); log:\n{}",
                self.log_text()
            ),
            net::Probe::TimedOut => panic!(
                "callrec did not answer OPTIONS on {} within {limit:?}; log:\n{}",
                self.sip,
                self.log_text()
            ),
        }
    }

    /// Stops callrec (SIGKILL) and starts it again on the same configuration and data
    /// directory, then waits until it answers OPTIONS again.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_callrec(self.dir.path(), &self.log);
        self.wait_ready(Duration::from_secs(15));
    }

    /// callrec's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// callrec's log so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics (with the log) if callrec is no longer running.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("callrec exited ({status}); log:\n{}", self.log_text());
        }
    }

    /// The CDR log `<data_dir>/cdrs.jsonl` as written so far.
    pub fn cdrs(&self) -> Vec<Cdr> {
        cdr::read(&self.data_dir.join("cdrs.jsonl"))
    }

    /// Waits (bounded) until at least `count` CDRs were written, then returns them all.
    pub fn wait_cdrs(&self, count: usize, limit: Duration) -> Vec<Cdr> {
        let deadline = Instant::now() + limit;
        loop {
            let cdrs = self.cdrs();
            if cdrs.len() >= count || Instant::now() >= deadline {
                return cdrs;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Files in the recording spool (`<data_dir>/spool`), recursively.
    pub fn spool_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.data_dir.join("spool")];
        while let Some(d) = stack.pop() {
            let Ok(entries) = fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.push(path);
                }
            }
        }
        out.sort();
        out
    }

    /// The spool's sidecar records (JSON files with a `state`).
    pub fn spool_records(&self) -> Vec<Value> {
        self.spool_files()
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "json"))
            .filter_map(|f| fs::read_to_string(f).ok())
            .filter_map(|t| callrec::spool::parse_sidecar::<Value>(t.as_bytes()).ok())
            .filter(|v| v.get("state").is_some())
            .collect()
    }

    /// Waits (bounded) until no recording in the spool is still recording, finished but not yet
    /// uploaded, or uploading; panics with the records if that does not happen in time.
    pub fn wait_spool_settled(&self, limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let records = self.spool_records();
            let busy = records.iter().any(|r| {
                matches!(
                    r.get("state").and_then(Value::as_str),
                    Some("recording" | "finished" | "uploading")
                )
            });
            if !busy {
                return records;
            }
            assert!(
                Instant::now() < deadline,
                "the spool did not settle within {limit:?}: {records:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// CPU seconds (user + system) callrec used so far, from /proc/PID/stat.
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // utime and stime are fields 14 and 15; after ")" the state is field 3 (index 0).
        (ticks(11) + ticks(12)) / 100.0
    }
}

impl Drop for Callrec {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- callrec log ({}) ----\n{}",
                self.log.display(),
                tail(&self.log_text(), 200)
            );
            if std::env::var_os("CALLREC_E2E_KEEP").is_some() {
                let kept = self.dir.path().to_path_buf();
                eprintln!("keeping {}", kept.display());
                // Leak the directory on purpose when asked to keep it for debugging.
                let _ =
                    std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir")).keep();
            }
        }
    }
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create dir");
    for entry in fs::read_dir(from)
        .unwrap_or_else(|e| panic!("read {}: {e}", from.display()))
        .flatten()
    {
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &dest);
        } else {
            fs::copy(&path, &dest).expect("copy document");
        }
    }
}

/// Starts the callrec binary on `<dir>/callrec.toml`, appending its output to `log`.
fn spawn_callrec(dir: &Path, log: &Path) -> Child {
    let log_file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    Command::new(env!("CARGO_BIN_EXE_callrec"))
        .arg("--config")
        .arg(dir.join("callrec.toml"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env(
            "RUST_LOG",
            std::env::var("CALLREC_E2E_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log fd"))
        .stderr(log_file)
        .spawn()
        .expect("spawn callrec")
}

/// Takes `[name]` out of `config` (empty when absent), to be edited and put back.
fn section(config: &mut toml::Table, name: &str) -> toml::Table {
    config
        .remove(name)
        .and_then(|v| v.as_table().cloned())
        .unwrap_or_default()
}
