//! A real headless Chromium driven over W3C WebDriver by Debian's `chromedriver`.
//!
//! The protocol is spoken directly as JSON over HTTP with `ureq` (already a dev-dependency):
//! the tests need a dozen commands (navigate, find, click, type, read, run a script,
//! screenshot, resize), which is less code than adapting an async client crate to these
//! synchronous tests, and it adds no dependency. Chromium runs with a fresh profile and every
//! background network feature off (this machine's network is closed).

use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::net::free_port;

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver with one Chromium session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
    log: PathBuf,
}

/// A located element.
#[derive(Clone, Debug)]
pub struct Element(String);

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .chain([
            PathBuf::from("/usr/bin"),
            PathBuf::from("/usr/lib/chromium"),
        ])
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// Where the tests save screenshots: `target/ui-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let dir = super::repo_root().join("target").join("ui-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

impl Browser {
    /// Starts chromedriver and a headless Chromium of 1280x800.
    pub fn start() -> Browser {
        let driver_bin = find_binary(&["chromedriver"]).unwrap_or_else(|| {
            panic!(
                "`chromedriver` is not installed: the UI tests need it (Debian: apt-get install \
                 chromium chromium-driver; tests/run.sh installs them)"
            )
        });
        let chromium = find_binary(&["chromium", "chromium-browser"]).unwrap_or_else(|| {
            panic!(
                "`chromium` is not installed (Debian: apt-get install chromium chromium-driver; \
                 tests/run.sh installs it)"
            )
        });
        let profile = tempfile::tempdir().expect("profile dir");
        let log = profile.path().join("chromedriver.log");
        let port = free_port(Ipv4Addr::LOCALHOST);
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            log,
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(v) = browser.raw("GET", "/status", None) {
                if v["value"]["ready"] == true {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready; log:\n{}",
                browser.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let user_data = browser._profile.path().join("chromium-profile");
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--autoplay-policy=no-user-gesture-required".to_owned(),
            "--window-size=1280,800".to_owned(),
            format!("--user-data-dir={}", user_data.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let v = browser
            .raw("POST", "/session", Some(&caps))
            .unwrap_or_else(|e| panic!("new session: {e}\n{}", browser.log_text()));
        browser.session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id: {v}"))
            .to_owned();
        browser
    }

    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        super::callrec::tail(&text, 40)
    }

    fn raw(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let req =
            ureq::request(method, &format!("{}{path}", self.base)).timeout(Duration::from_secs(60));
        let result = match body {
            Some(b) => req
                .set("Content-Type", "application/json")
                .send_string(&b.to_string()),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(e.to_string()),
        };
        let mut text = String::new();
        resp.into_reader()
            .take(100_000_000)
            .read_to_string(&mut text)
            .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if let Some(err) = v["value"].get("error") {
            return Err(format!("{err}: {}", v["value"]["message"]));
        }
        Ok(v)
    }

    /// A session command; panics on a WebDriver error.
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let full = format!("/session/{}{path}", self.session);
        match self.raw(method, &full, body.as_ref()) {
            Ok(v) => v["value"].clone(),
            Err(e) => panic!("WebDriver {method} {path}: {e}"),
        }
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url})));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// An element as a script argument.
    pub fn arg(el: &Element) -> Value {
        json!({ ELEMENT: el.0 })
    }

    /// The elements matching `css` now.
    pub fn find_all(&self, css: &str) -> Vec<Element> {
        self.cmd(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e[ELEMENT].as_str().map(|s| Element(s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
    }

    /// Waits up to `limit` for `f` to give a value (checked every 100 ms).
    pub fn wait<T>(&self, limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = f() {
                return v;
            }
            if Instant::now() >= deadline {
                let page = self.execute("return document.body.innerText", vec![]);
                panic!(
                    "timed out after {limit:?} waiting for {what}; the page says:\n{}",
                    page.as_str().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The first element matching `css`, waiting up to 10 s for it.
    pub fn find(&self, css: &str) -> Element {
        self.wait(Duration::from_secs(10), &format!("`{css}`"), || {
            self.find_all(css).into_iter().next()
        })
    }

    /// Clicks it.
    pub fn click(&self, el: &Element) {
        self.cmd("POST", &format!("/element/{}/click", el.0), Some(json!({})));
    }

    /// Clears a text input.
    pub fn clear(&self, el: &Element) {
        self.cmd("POST", &format!("/element/{}/clear", el.0), Some(json!({})));
    }

    /// Types `text` into it (`\u{E007}` is Enter).
    pub fn type_text(&self, el: &Element, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{}/value", el.0),
            Some(json!({"text": text})),
        );
    }

    /// Picks the `<option>` of a select by value (as a user does, with an input event).
    pub fn select(&self, el: &Element, value: &str) {
        let opt = self.cmd(
            "POST",
            &format!("/element/{}/element", el.0),
            Some(json!({"using": "css selector", "value": format!("option[value=\"{value}\"]")})),
        );
        let id = opt[ELEMENT].as_str().expect("option").to_owned();
        self.click(&Element(id));
    }

    /// Its visible text.
    pub fn text(&self, el: &Element) -> String {
        self.cmd("GET", &format!("/element/{}/text", el.0), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The visible text of the first element matching `css` now, read in one script (no
    /// stale reference when the page re-renders between finding and reading).
    pub fn text_of(&self, css: &str) -> Option<String> {
        self.execute(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : null",
            vec![json!(css)],
        )
        .as_str()
        .map(str::to_owned)
    }

    /// An attribute (`None` when absent).
    pub fn attr(&self, el: &Element, name: &str) -> Option<String> {
        self.cmd("GET", &format!("/element/{}/attribute/{name}", el.0), None)
            .as_str()
            .map(str::to_owned)
    }

    /// The element that has the focus.
    pub fn active(&self) -> Element {
        let v = self.cmd("GET", "/element/active", None);
        Element(v[ELEMENT].as_str().expect("active element").to_owned())
    }

    /// Whether two references name the same element.
    pub fn same(&self, a: &Element, b: &Element) -> bool {
        self.execute(
            "return arguments[0] === arguments[1]",
            vec![Self::arg(a), Self::arg(b)],
        ) == true
    }

    /// The page's visible text.
    pub fn body_text(&self) -> String {
        self.execute("return document.body.innerText", vec![])
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Resizes the window.
    pub fn resize(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// Saves a PNG of the viewport as `<screenshot_dir>/<name>.png` and returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = decode_base64(b64.as_str().expect("screenshot"));
        assert_eq!(&png[1..4], b"PNG", "a PNG");
        let path = screenshot_dir().join(format!("{name}.png"));
        write(&path, &png);
        path
    }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let Some(v) = val(c) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.raw("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
