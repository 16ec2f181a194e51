//! Typed configuration read from TOML, with a documented default for every key and start-up
//! validation whose messages name the offending key.
//!
//! Every section and every key is optional; a missing key takes the default documented on its
//! field (and written out in `config/callrec.toml`, which is also [`Config::embedded_default`]).
//! Unknown keys are refused (`deny_unknown_fields`), so a typo is reported instead of ignored.
//!
//! Relative paths (`paths.data_dir`, `paths.documents_dir`) are resolved against the **current
//! working directory** of the process, not against the config file's location: the README runs
//! `callrec --config config/callrec.toml` from the repository root, and the defaults
//! (`./data`, `config/documents`) are written for that.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The text of `config/callrec.toml`, compiled into the binary.
const EMBEDDED_DEFAULT: &str = include_str!("../../../config/callrec.toml");

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed, has an unknown key or a value of the wrong type. The message from
    /// the TOML parser names the key and the line.
    #[error("invalid config{}: {message}", origin.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    Parse {
        /// The file, when the text came from one.
        origin: Option<PathBuf>,
        /// The parser's message (names the key, line and column).
        message: String,
    },
    /// A value is out of range or contradicts another one.
    #[error("invalid config: {key} {problem}")]
    Invalid {
        /// The dotted key, e.g. `media.port_min`.
        key: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[sip]`: signalling.
    pub sip: SipConfig,
    /// `[auth]`: digest authentication of phones.
    pub auth: AuthConfig,
    /// `[media]`: RTP relay.
    pub media: MediaConfig,
    /// `[recording]`: recorder limits and defaults.
    pub recording: RecordingConfig,
    /// `[upload]`: the uploader's retry policy.
    pub upload: UploadSection,
    /// `[paths]`: where data and documents live.
    pub paths: PathsConfig,
    /// `[cdr]`: CDR log retention.
    pub cdr: CdrConfig,
    /// `[security]`: rate limiting of unknown sources and digest brute-force blocking.
    pub security: SecurityConfig,
    /// `[log]`: logging.
    pub log: LogConfig,
    /// `[store]`: the database of documents, CDRs and recording metadata.
    pub store: StoreSection,
    /// `[api]`: the Crossbar-compatible HTTP API.
    pub api: ApiSection,
    /// `[dns]`: how carrier gateways given by host name are resolved.
    pub dns: DnsSection,
    /// `[cluster]`: several nodes behind an edge proxy, sharing the database.
    pub cluster: ClusterSection,
}

/// `[cluster]`: a node of several behind a SIP edge proxy (Kamailio), sharing one database.
/// Without it (or with `edge` empty) callrec is a single node, as before.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSection {
    /// This node's name (`[A-Za-z0-9._-]`, 1 to 64): on every CDR (`node_id`, `media_server`),
    /// every recording's metadata and every `/metrics` line. Required when `edge` is set.
    /// Default empty (none).
    pub node_id: String,
    /// The edge proxies this node trusts (`"ip"` or `"ip:port"`, port 5060 when not given).
    /// Set: the node neither registers nor challenges phones; the edge names callers with
    /// `X-AUTH-*` headers, and calls to phones go to the first edge. Default empty.
    pub edge: Vec<String>,
    /// `[cluster.storage]`: the cluster bucket for recordings whose rule has no `url` and
    /// whose account has no storage plan. Default none (such recordings stay in the spool).
    pub storage: Option<ClusterStorage>,
}

/// `[cluster.storage]`: an S3-compatible bucket.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterStorage {
    /// `http://host[:port]` or `https://host[:port]` of an S3-compatible server; empty: AWS
    /// (derived from `region`).
    #[serde(default)]
    pub endpoint: String,
    /// The bucket.
    pub bucket: String,
    /// Region. Default `us-east-1`.
    #[serde(default = "default_region")]
    pub region: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key (never logged; masked in `Debug`).
    pub secret_key: String,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

impl std::fmt::Debug for ClusterStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterStorage")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("secret_key", &callrec_kazoo::storage::SECRET_MASK)
            .finish()
    }
}

impl ClusterStorage {
    /// As the S3 settings of an attachment handler (the default object key template), or why
    /// the endpoint is not usable.
    pub fn s3_settings(&self) -> Result<callrec_kazoo::storage::S3Settings, String> {
        use callrec_kazoo::storage::{S3Settings, Scheme, DEFAULT_OBJECT_NAME};
        let (scheme, host, port) = if self.endpoint.trim().is_empty() {
            (Scheme::Https, None, None)
        } else {
            let e = self.endpoint.trim().trim_end_matches('/');
            let (scheme, rest) = if let Some(r) = e.strip_prefix("http://") {
                (Scheme::Http, r)
            } else if let Some(r) = e.strip_prefix("https://") {
                (Scheme::Https, r)
            } else {
                return Err("must start with http:// or https://".into());
            };
            if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
                return Err("must be scheme://host[:port] with no path".into());
            }
            let (host, port) = match rest.rsplit_once(':') {
                Some((h, p)) if !p.contains(']') => {
                    let port: u16 = p
                        .parse()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| format!("has a bad port {p:?}"))?;
                    (h, Some(port))
                }
                _ => (rest, None),
            };
            if host.is_empty() {
                return Err("names no host".into());
            }
            (scheme, Some(host.to_owned()), port)
        };
        Ok(S3Settings {
            bucket: self.bucket.clone(),
            host,
            port,
            scheme,
            region: self.region.clone(),
            key: self.access_key.clone(),
            secret: self.secret_key.clone(),
            path: String::new(),
            object_name: DEFAULT_OBJECT_NAME.to_owned(),
            vhost: false,
        })
    }
}

impl ClusterSection {
    /// `node_id`, when set.
    pub fn node_id(&self) -> Option<String> {
        (!self.node_id.is_empty()).then(|| self.node_id.clone())
    }

    /// `edge` as addresses (checked at load; a bad entry is refused there).
    pub fn edge_addrs(&self) -> Vec<SocketAddr> {
        self.edge.iter().filter_map(|s| parse_edge(s)).collect()
    }

    /// The cluster bucket's S3 settings (checked at load).
    pub fn storage_settings(&self) -> Option<callrec_kazoo::storage::S3Settings> {
        self.storage.as_ref().and_then(|s| s.s3_settings().ok())
    }
}

/// `"ip:port"`, `"[v6]:port"` or a bare IP address (port 5060); not the unspecified address.
fn parse_edge(s: &str) -> Option<SocketAddr> {
    parse_addr(s, 5060).filter(|a| !a.ip().is_unspecified())
}

/// Whether `id` is a valid `cluster.node_id`.
fn valid_node_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `[dns]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsSection {
    /// Name servers to ask (`"ip"` or `"ip:port"`, port 53 when not given; UDP, TCP for
    /// long answers). Empty (the default): the system's (`/etc/resolv.conf`).
    pub servers: Vec<String>,
}

impl DnsSection {
    /// `servers` as addresses (checked at load; a bad entry is refused there).
    pub fn server_addrs(&self) -> Vec<SocketAddr> {
        self.servers
            .iter()
            .filter_map(|s| parse_dns_server(s))
            .collect()
    }
}

/// `"ip:port"`, `"[v6]:port"` or a bare IP address (port 53).
fn parse_dns_server(s: &str) -> Option<SocketAddr> {
    parse_addr(s, 53)
}

/// `"ip:port"`, `"[v6]:port"` or a bare IP address (`default_port`); never port 0.
fn parse_addr(s: &str, default_port: u16) -> Option<SocketAddr> {
    let s = s.trim();
    s.parse::<SocketAddr>()
        .ok()
        .or_else(|| {
            s.trim_matches(['[', ']'])
                .parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, default_port))
        })
        .filter(|a| a.port() != 0)
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSection {
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`. Default empty: SQLite in
    /// `<data_dir>/callrec.db`.
    pub url: String,
    /// Seconds between checks for changes made by another process sharing the database.
    /// Default 0.25.
    pub poll_interval_s: f64,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            url: String::new(),
            poll_interval_s: 0.25,
        }
    }
}

/// `[api]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSection {
    /// Serve the API. Default `true`.
    pub enabled: bool,
    /// Address of the HTTP API. Default `127.0.0.1:8000`.
    pub listen: SocketAddr,
    /// Seconds an auth token stays valid. Default 3600.
    pub token_ttl_s: u64,
    /// Failed logins (user_auth / api_auth) allowed per source address per minute before 429.
    /// Default 5.
    pub login_failures_per_minute: u32,
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8000),
            token_ttl_s: 3600,
            login_failures_per_minute: 5,
        }
    }
}

/// `[sip]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// Addresses to listen on (UDP and/or TCP on each). Default `["127.0.0.1:5060"]`.
    pub listen: Vec<SocketAddr>,
    /// Listen on UDP. Default `true`.
    pub udp: bool,
    /// Listen on TCP. Default `true`.
    pub tcp: bool,
    /// RFC 3261 T1 (round-trip estimate), milliseconds. Default 500.
    pub t1_ms: u64,
    /// RFC 3261 T2 (maximum retransmit interval), milliseconds. Default 4000.
    pub t2_ms: u64,
    /// RFC 3261 T4 (maximum time a message stays in the network), milliseconds. Default 5000.
    pub t4_ms: u64,
    /// `User-Agent` / `Server` header value. Default `"callrec"`.
    pub user_agent: String,
    /// Seconds a B leg may ring before it is cancelled. Default 60.
    pub no_answer_timeout_s: u64,
    /// Where requests to registered devices go unless a device's `sip.nat` says: `"auto"`
    /// (default: the Contact unless NAT is detected, then the REGISTER's source), `"always"`
    /// (the source) or `"never"` (the Contact).
    pub nat: String,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5060)],
            udp: true,
            tcp: true,
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
            user_agent: "callrec".to_owned(),
            no_answer_timeout_s: 60,
            nat: "auto".to_owned(),
        }
    }
}

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Seconds a digest nonce stays valid. Default 300.
    pub nonce_lifetime_s: u64,
    /// Digest algorithms offered, in order: `"md5"` and/or `"sha-256"`. Default `["md5"]`.
    pub algorithms: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            nonce_lifetime_s: 300,
            algorithms: vec!["md5".to_owned()],
        }
    }
}

/// Recorded channel layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channels {
    /// Caller left, callee right (default).
    Stereo,
    /// Both parties mixed into one channel.
    Mono,
}

/// `[media]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Address written into SDP and bound by the relay sockets. Default `127.0.0.1`.
    pub relay_ip: IpAddr,
    /// Lowest RTP port (even). Default 20000.
    pub port_min: u16,
    /// Highest RTP port. Default 30000.
    pub port_max: u16,
    /// Seconds without RTP before the call is hung up. Default 60.
    pub media_timeout_s: u64,
    /// Whether the media timeout also applies to a call on hold. Default `false`.
    pub media_timeout_on_hold: bool,
    /// `"stereo"` (default) or `"mono"`.
    pub channels: Channels,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            relay_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port_min: 20000,
            port_max: 30000,
            media_timeout_s: 60,
            media_timeout_on_hold: false,
            channels: Channels::Stereo,
        }
    }
}

/// `[recording]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingConfig {
    /// Format used when a document names none or an unknown one: `"mp3"` (default) or `"wav"`.
    pub default_format: String,
    /// System maximum for `time_limit`, seconds. Default 10800.
    pub max_time_limit_s: u64,
    /// Keep the audio file in the spool after a successful upload. Default `false`.
    pub keep_after_upload: bool,
    /// Minimum free space, in MiB, the spool's file system must have at start-up, and below
    /// which new recordings are refused while running (the call goes on unrecorded). Default 100.
    pub min_free_mb: u64,
    /// How often recorded audio is written out, milliseconds (a crash loses at most about
    /// this much). Default 1000; 100 to 60000.
    pub flush_interval_ms: u64,
    /// How often each recording's file is `fdatasync`ed, milliseconds (a power loss loses at
    /// most about this much); 0 leaves it to the kernel's write-back. Default 0; 0 or 100 to
    /// 60000.
    pub fsync_interval_ms: u64,
    /// Days a recording kept locally (its rule has no `url`, state `local`) stays in the spool;
    /// 0 keeps it forever. Default 30.
    pub keep_local_days: u64,
    /// Days a recording whose upload was given up (state `failed`) stays in the spool; 0 keeps
    /// it forever. Default 30.
    pub keep_failed_days: u64,
    /// Days the sidecar of an uploaded or discarded recording (and an audio file kept by
    /// `keep_after_upload`) stays in the spool; 0 keeps it forever. Default 7.
    pub keep_uploaded_days: u64,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        Self {
            default_format: "mp3".to_owned(),
            max_time_limit_s: 10800,
            keep_after_upload: false,
            min_free_mb: 100,
            flush_interval_ms: 1000,
            fsync_interval_ms: 0,
            keep_local_days: 30,
            keep_failed_days: 30,
            keep_uploaded_days: 7,
        }
    }
}

/// `[upload]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadSection {
    /// First retry delay, seconds (doubles each attempt). Default 5.
    pub initial_backoff_s: u64,
    /// Largest retry delay, seconds. Default 600.
    pub max_backoff_s: u64,
    /// Give up (state `failed`, file kept) this many seconds after the first attempt. Default 86400.
    pub give_up_after_s: u64,
    /// Uploads in flight at once. Default 4.
    pub concurrency: usize,
    /// Timeout of one HTTP request, seconds. Default 60.
    pub request_timeout_s: u64,
    /// Redirects (301/302/307/308) followed per attempt. Default 10.
    pub max_redirects: u32,
    /// Timeout of establishing one connection (TCP + TLS), seconds; at most
    /// `request_timeout_s`. Default 10.
    pub connect_timeout_s: u64,
    /// PEM file of CA certificates trusted for HTTPS receivers in addition to the system's
    /// (a private CA). Default none.
    pub ca_file: Option<PathBuf>,
}

impl Default for UploadSection {
    fn default() -> Self {
        Self {
            initial_backoff_s: 5,
            max_backoff_s: 600,
            give_up_after_s: 86400,
            concurrency: 4,
            request_timeout_s: 60,
            max_redirects: 10,
            connect_timeout_s: 10,
            ca_file: None,
        }
    }
}

/// `[cdr]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CdrConfig {
    /// Days a rotated CDR log (`cdrs-YYYY-MM-DD.jsonl`, one per UTC day) is kept; 0 keeps them
    /// forever. Default 90.
    pub keep_days: u64,
}

impl Default for CdrConfig {
    fn default() -> Self {
        Self { keep_days: 90 }
    }
}

/// `[security]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// Requests per second accepted from one source address that is neither a carrier nor a
    /// device that authenticated recently; the excess is dropped and counted. 0 turns the limit
    /// off. Default 20.
    pub unknown_source_rate: u32,
    /// Requests such a source may send in a burst above the rate. Default 40.
    pub unknown_source_burst: u32,
    /// Wrong digest credentials from one source address within `auth_failure_window_s` after
    /// which the address is blocked. 0 turns blocking off. Default 10.
    pub auth_failures: u32,
    /// The window in which `auth_failures` are counted, seconds. Default 60.
    pub auth_failure_window_s: u64,
    /// Seconds a blocked address stays blocked (its requests are dropped and counted). Default 300.
    pub auth_block_s: u64,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            unknown_source_rate: 20,
            unknown_source_burst: 40,
            auth_failures: 10,
            auth_failure_window_s: 60,
            auth_block_s: 300,
        }
    }
}

/// `[paths]`. Relative paths are relative to the current working directory.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathsConfig {
    /// Spool (`<data_dir>/spool/`) and CDR log (`<data_dir>/cdrs.jsonl`). Default `"./data"`.
    pub data_dir: PathBuf,
    /// KAZOO-shaped JSON documents. Default `"config/documents"`.
    pub documents_dir: PathBuf,
}

impl Default for PathsConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            documents_dir: PathBuf::from("config/documents"),
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter (`"info"`, `"callrec=debug,info"`); `RUST_LOG` overrides it. Default `"info"`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
        }
    }
}

impl Config {
    /// Parses and validates TOML text.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Self::parse(text, None)
    }

    /// Reads, parses and validates a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, Some(path))
    }

    /// The configuration compiled into the binary (the text of `config/callrec.toml`).
    pub fn embedded_default() -> Self {
        // The embedded text is checked by the tests, so this cannot fail in a built binary.
        Self::from_toml_str(EMBEDDED_DEFAULT).unwrap_or_default()
    }

    /// The raw text of the embedded default configuration.
    pub fn embedded_default_text() -> &'static str {
        EMBEDDED_DEFAULT
    }

    fn parse(text: &str, origin: Option<&Path>) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.map(Path::to_owned),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks ranges and combinations; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn bad(key: &'static str, problem: impl Into<String>) -> Result<(), ConfigError> {
            Err(ConfigError::Invalid {
                key,
                problem: problem.into(),
            })
        }
        let s = &self.sip;
        if s.listen.is_empty() {
            return bad("sip.listen", "must list at least one address");
        }
        if !s.udp && !s.tcp {
            return bad("sip.udp", "and sip.tcp are both false: enable at least one");
        }
        if s.t1_ms == 0 {
            return bad("sip.t1_ms", "must be above 0");
        }
        if s.t2_ms < s.t1_ms {
            return bad(
                "sip.t2_ms",
                format!("({}) must be at least sip.t1_ms ({})", s.t2_ms, s.t1_ms),
            );
        }
        if s.t4_ms == 0 {
            return bad("sip.t4_ms", "must be above 0");
        }
        if s.user_agent.trim().is_empty() || s.user_agent.chars().any(char::is_control) {
            return bad("sip.user_agent", "must be non-empty printable text");
        }
        if s.no_answer_timeout_s == 0 {
            return bad("sip.no_answer_timeout_s", "must be above 0");
        }
        if callrec_sip::registrar::NatPolicy::parse(&s.nat).is_none() {
            return bad(
                "sip.nat",
                format!("({:?}) must be \"auto\", \"always\" or \"never\"", s.nat),
            );
        }
        let a = &self.auth;
        if a.nonce_lifetime_s == 0 {
            return bad("auth.nonce_lifetime_s", "must be above 0");
        }
        if a.algorithms.is_empty() {
            return bad(
                "auth.algorithms",
                "must list at least one of \"md5\", \"sha-256\"",
            );
        }
        for alg in &a.algorithms {
            if !matches!(alg.to_ascii_lowercase().as_str(), "md5" | "sha-256") {
                return bad(
                    "auth.algorithms",
                    format!("contains {alg:?}: only \"md5\" and \"sha-256\" are supported"),
                );
            }
        }
        let m = &self.media;
        if m.relay_ip.is_unspecified() {
            return bad(
                "media.relay_ip",
                format!(
                    "({}) must be a concrete address (it is written into SDP)",
                    m.relay_ip
                ),
            );
        }
        if m.port_min == 0 {
            return bad("media.port_min", "must be above 0");
        }
        if m.port_min >= m.port_max {
            return bad(
                "media.port_min",
                format!(
                    "({}) must be below media.port_max ({})",
                    m.port_min, m.port_max
                ),
            );
        }
        if m.port_max - m.port_min < 3 {
            return bad(
                "media.port_max",
                "leaves fewer than two RTP/RTCP port pairs above media.port_min",
            );
        }
        if m.media_timeout_s == 0 {
            return bad("media.media_timeout_s", "must be above 0");
        }
        let r = &self.recording;
        if !matches!(r.default_format.as_str(), "mp3" | "wav") {
            return bad(
                "recording.default_format",
                format!("({:?}) must be \"mp3\" or \"wav\"", r.default_format),
            );
        }
        if r.max_time_limit_s < 5 {
            return bad(
                "recording.max_time_limit_s",
                format!(
                    "({}) must be at least 5 (the smallest time_limit)",
                    r.max_time_limit_s
                ),
            );
        }
        if !(100..=60_000).contains(&r.flush_interval_ms) {
            return bad(
                "recording.flush_interval_ms",
                format!("({}) must be 100 to 60000", r.flush_interval_ms),
            );
        }
        if r.fsync_interval_ms != 0 && !(100..=60_000).contains(&r.fsync_interval_ms) {
            return bad(
                "recording.fsync_interval_ms",
                format!("({}) must be 0 (off) or 100 to 60000", r.fsync_interval_ms),
            );
        }
        let u = &self.upload;
        if u.initial_backoff_s == 0 {
            return bad("upload.initial_backoff_s", "must be above 0");
        }
        if u.max_backoff_s < u.initial_backoff_s {
            return bad(
                "upload.max_backoff_s",
                format!(
                    "({}) must be at least upload.initial_backoff_s ({})",
                    u.max_backoff_s, u.initial_backoff_s
                ),
            );
        }
        if u.give_up_after_s == 0 {
            return bad("upload.give_up_after_s", "must be above 0");
        }
        if u.concurrency == 0 {
            return bad("upload.concurrency", "must be above 0");
        }
        if u.request_timeout_s == 0 {
            return bad("upload.request_timeout_s", "must be above 0");
        }
        if u.max_redirects > 50 {
            return bad("upload.max_redirects", "must be at most 50");
        }
        if u.connect_timeout_s == 0 || u.connect_timeout_s > u.request_timeout_s {
            return bad(
                "upload.connect_timeout_s",
                format!(
                    "({}) must be above 0 and at most upload.request_timeout_s ({})",
                    u.connect_timeout_s, u.request_timeout_s
                ),
            );
        }
        if let Some(ca) = &u.ca_file {
            if let Err(e) = crate::upload::read_ca_file(ca) {
                return bad("upload.ca_file", format!("({}): {e}", ca.display()));
            }
        }
        let sec = &self.security;
        if sec.unknown_source_rate > 0 && sec.unknown_source_burst < sec.unknown_source_rate {
            return bad(
                "security.unknown_source_burst",
                format!(
                    "({}) must be at least security.unknown_source_rate ({})",
                    sec.unknown_source_burst, sec.unknown_source_rate
                ),
            );
        }
        if sec.auth_failures > 0 && (sec.auth_failure_window_s == 0 || sec.auth_block_s == 0) {
            return bad(
                "security.auth_block_s",
                "and security.auth_failure_window_s must be above 0 when security.auth_failures is set",
            );
        }
        if self.paths.data_dir.as_os_str().is_empty() {
            return bad("paths.data_dir", "must not be empty");
        }
        if self.paths.documents_dir.as_os_str().is_empty() {
            return bad("paths.documents_dir", "must not be empty");
        }
        if !self.store.url.is_empty()
            && !["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|p| self.store.url.starts_with(p))
        {
            return bad(
                "store.url",
                "must start with sqlite:, postgres:// or postgresql://",
            );
        }
        if !(0.01..=60.0).contains(&self.store.poll_interval_s) {
            return bad("store.poll_interval_s", "must be between 0.01 and 60");
        }
        if self.api.token_ttl_s < 60 {
            return bad("api.token_ttl_s", "must be at least 60");
        }
        if self.api.login_failures_per_minute == 0 {
            return bad("api.login_failures_per_minute", "must be above 0");
        }
        for server in &self.dns.servers {
            if parse_dns_server(server).is_none() {
                return bad(
                    "dns.servers",
                    format!("({server:?}) must list IP addresses, each with an optional :port"),
                );
            }
        }
        let c = &self.cluster;
        if !c.node_id.is_empty() && !valid_node_id(&c.node_id) {
            return bad(
                "cluster.node_id",
                format!("({:?}) must be 1 to 64 of A-Z a-z 0-9 . _ -", c.node_id),
            );
        }
        for edge in &c.edge {
            if parse_edge(edge).is_none() {
                return bad(
                    "cluster.edge",
                    format!("({edge:?}) must list IP addresses, each with an optional :port"),
                );
            }
        }
        if !c.edge.is_empty() && c.node_id.is_empty() {
            return bad(
                "cluster.node_id",
                "is required when cluster.edge is set (each node names its CDRs and recordings)",
            );
        }
        if let Some(st) = &c.storage {
            if let Err(why) = st.s3_settings() {
                return bad(
                    "cluster.storage.endpoint",
                    format!("({:?}) {why}", st.endpoint),
                );
            }
            if st.bucket.trim().is_empty() {
                return bad("cluster.storage.bucket", "must not be empty");
            }
            if st.region.trim().is_empty() {
                return bad("cluster.storage.region", "must not be empty");
            }
            if st.access_key.is_empty() {
                return bad("cluster.storage.access_key", "must not be empty");
            }
            if st.secret_key.is_empty() {
                return bad("cluster.storage.secret_key", "must not be empty");
            }
        }
        if self.log.level.trim().is_empty() {
            return bad("log.level", "must not be empty");
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return bad(
                "log.level",
                format!("({:?}) is not a valid tracing filter: {e}", self.log.level),
            );
        }
        Ok(())
    }

    /// The uploader settings derived from `[upload]` and `[recording]`.
    pub fn upload_config(&self) -> crate::upload::UploadConfig {
        let u = &self.upload;
        crate::upload::UploadConfig {
            initial_backoff: Duration::from_secs(u.initial_backoff_s),
            max_backoff: Duration::from_secs(u.max_backoff_s),
            give_up_after: Duration::from_secs(u.give_up_after_s),
            concurrency: u.concurrency,
            request_timeout: Duration::from_secs(u.request_timeout_s),
            max_redirects: u.max_redirects,
            keep_after_upload: self.recording.keep_after_upload,
            connect_timeout: Duration::from_secs(u.connect_timeout_s),
            ca_file: u.ca_file.clone(),
        }
    }

    /// How long done recordings stay in the spool (`recording.keep_*_days`).
    pub fn retention(&self) -> crate::spool::Retention {
        let days = |d: u64| (d > 0).then(|| Duration::from_secs(d.saturating_mul(86_400)));
        let r = &self.recording;
        crate::spool::Retention {
            local: days(r.keep_local_days),
            failed: days(r.keep_failed_days),
            done: days(r.keep_uploaded_days),
        }
    }

    /// The source guard's settings from `[security]`.
    pub fn guard_config(&self) -> callrec_engine::b2bua::GuardConfig {
        let s = &self.security;
        callrec_engine::b2bua::GuardConfig {
            rate: s.unknown_source_rate,
            burst: s.unknown_source_burst,
            auth_failures: s.auth_failures,
            auth_failure_window: Duration::from_secs(s.auth_failure_window_s),
            auth_block: Duration::from_secs(s.auth_block_s),
            ..callrec_engine::b2bua::GuardConfig::default()
        }
    }

    /// `[sip] nat` as the engine takes it (validated at load).
    pub fn nat_policy(&self) -> callrec_sip::registrar::NatPolicy {
        callrec_sip::registrar::NatPolicy::parse(&self.sip.nat).unwrap_or_default()
    }

    /// `<data_dir>/spool`.
    pub fn spool_dir(&self) -> PathBuf {
        self.paths.data_dir.join("spool")
    }

    /// `<data_dir>/cdrs.jsonl`.
    pub fn cdr_path(&self) -> PathBuf {
        self.paths.data_dir.join("cdrs.jsonl")
    }

    /// The database URL: `store.url`, or SQLite in `<data_dir>/callrec.db`.
    pub fn store_url(&self) -> String {
        if self.store.url.is_empty() {
            format!(
                "sqlite://{}",
                self.paths.data_dir.join("callrec.db").display()
            )
        } else {
            self.store.url.clone()
        }
    }

    /// How often to look for changes made by another process.
    pub fn store_poll_interval(&self) -> Duration {
        Duration::from_secs_f64(self.store.poll_interval_s)
    }

    /// Minimum free bytes for the spool, from `recording.min_free_mb`.
    pub fn spool_min_free_bytes(&self) -> u64 {
        self.recording.min_free_mb.saturating_mul(1024 * 1024)
    }
}
