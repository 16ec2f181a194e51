//! nginx as the recording receiver: accepts PUT (WebDAV module) under `/`, stores the bodies in
//! `<dir>/www/...`, and logs method, URI with query, status and Content-Type as JSON lines.

use std::collections::BTreeMap;
use std::fs;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::net::{self, PHONES_IP};

/// A running nginx; killed on drop.
pub struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    /// TCP port on 127.0.0.1.
    pub port: u16,
}

/// One request nginx logged.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path without the query, still percent-encoded.
    pub path: String,
    /// Query parameters, percent-decoded (a key given twice keeps the last value).
    pub query: BTreeMap<String, String>,
    /// The raw query string.
    pub raw_query: String,
    pub status: u16,
    pub content_type: String,
    /// Where nginx stored the body.
    pub file: PathBuf,
}

fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        == Some("0")
}

impl Nginx {
    /// Starts nginx on a free port and waits until it accepts connections.
    pub fn start() -> Nginx {
        super::require_tool("nginx", "nginx");
        let dir = tempfile::Builder::new()
            .prefix("callrec-nginx.")
            .tempdir()
            .expect("temp dir");
        let port = net::free_port(PHONES_IP);
        let d = dir.path().display().to_string();
        fs::create_dir_all(dir.path().join("www")).expect("www");
        let user = if running_as_root() {
            "user root;\n"
        } else {
            ""
        };
        let conf = format!(
            r#"{user}daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    log_format uploads escape=json '{{"method":"$request_method","uri":"$request_uri","status":"$status","content_type":"$content_type","length":"$content_length"}}';
    access_log {d}/access.log uploads;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size 0;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        location / {{
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }}
    }}
}}
"#
        );
        let conf_path = dir.path().join("nginx.conf");
        fs::write(&conf_path, conf).expect("nginx.conf");
        let out = fs::File::create(dir.path().join("stderr.log")).expect("stderr log");
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("fd"))
            .stderr(out)
            .spawn()
            .expect("spawn nginx");
        let mut nginx = Nginx { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((PHONES_IP, port)).is_err() {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!("nginx exited ({status}): {}", nginx.error_log());
            }
            assert!(Instant::now() < deadline, "nginx did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// nginx's error log and stderr.
    pub fn error_log(&self) -> String {
        let read = |f: &str| fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("error.log"))
    }

    /// Every request logged so far.
    pub fn requests(&self) -> Vec<Request> {
        let text = fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| {
                let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                let uri = s("uri");
                let (path, raw_query) = match uri.split_once('?') {
                    Some((p, q)) => (p.to_owned(), q.to_owned()),
                    None => (uri.clone(), String::new()),
                };
                let query = raw_query
                    .split('&')
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                        (decode(k), decode(v))
                    })
                    .collect();
                let file = self
                    .dir
                    .path()
                    .join("www")
                    .join(decode(path.trim_start_matches('/')));
                Request {
                    method: s("method"),
                    status: s("status").parse().unwrap_or(0),
                    content_type: s("content_type"),
                    path,
                    query,
                    raw_query,
                    file,
                }
            })
            .collect()
    }

    /// Waits (bounded) until at least `count` requests were logged; returns them all.
    pub fn wait_requests(&self, count: usize, limit: Duration) -> Vec<Request> {
        let deadline = Instant::now() + limit;
        loop {
            let requests = self.requests();
            if requests.len() >= count || Instant::now() >= deadline {
                return requests;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- nginx error log ----\n{}", self.error_log());
        }
    }
}

/// Percent-decoding (and '+' as space, as in form encoding).
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
