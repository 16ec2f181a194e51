//! The recordings browser (`/` of the API listener, docs/ui.md) in a real headless Chromium,
//! driven over WebDriver by chromedriver, through real calls (SIPp carrier and phones, nginx
//! receiving uploads): log in; a carrier call to a DID shows as inbound and a phone's call to
//! the PSTN as outbound, appearing without a reload; filters; a validation error shown next to
//! its field; a user's setting edited in the form changes the next call's recording; the
//! detail page's legs, recordings, waveform lanes, download and an audio element that plays
//! past one second and seeks; phone width; an expired token and logout return to the login
//! page. Each page is saved as a screenshot under `target/ui-screenshots/`.
//!
//! Needs sipp, sox, nginx, chromium and chromium-driver; `tests/run.sh` installs them.

mod support;

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use support::browser::Browser;
use support::callrec::{Callrec, Options};
use support::nginx::Nginx;
use support::phones::{phone_1001, Carrier, Phone};
use support::sipp::Sipp;

const ENTER: &str = "\u{E007}";
const CALLER: &str = "+15557770001";
const DID: &str = "+15550100";
const PSTN: &str = "+15559990000";
const WAIT: Duration = Duration::from_secs(20);

/// A carrier call to the DID that streams a modulated sweep (carrier_rec_uac.xml), answered
/// by phone 1001, which echoes it.
fn inbound_call(callrec: &Callrec, carrier: &Carrier, p1: &Phone) {
    let callee = p1.answer(callrec, "phone_uas.xml", 1);
    let ip = match carrier.addr.ip() {
        std::net::IpAddr::V4(ip) => ip,
        std::net::IpAddr::V6(_) => Ipv4Addr::new(127, 0, 0, 2),
    };
    let caller = Sipp::new("carrier-streams", "carrier_rec_uac.xml", callrec.dir.path())
        .csv(&[&[CALLER, DID]])
        .local(ip, carrier.addr.port())
        .media_port(carrier.media)
        .target(callrec.sip)
        .cwd(callrec.dir.path())
        .hold_ms(2500)
        .run();
    caller.assert_ok(1);
    callee.wait().assert_ok(1);
}

/// Phone 1001 calls the PSTN; the carrier answers.
fn outbound_call(callrec: &Callrec, carrier: &Carrier, p1: &Phone) {
    let answering = carrier.answer(callrec, 1);
    let caller = p1.call(callrec, PSTN, "phone_uac.xml").hold_ms(1500).run();
    caller.assert_ok(1);
    answering.wait().assert_ok(1);
}

/// The rows of the calls table: (interaction id, direction, text).
fn rows(b: &Browser) -> Vec<(String, String, String)> {
    let v = b.execute(
        "return [...document.querySelectorAll('#calls-body tr[data-interaction]')]
           .map(r => [r.dataset.interaction, r.dataset.direction, r.innerText])",
        vec![],
    );
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_owned(),
                r[1].as_str().unwrap().to_owned(),
                r[2].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn login(b: &Browser, base: &str, password: &str) {
    b.goto(&format!("{base}/#/login"));
    let user = b.find("#login-username");
    b.clear(&user);
    b.type_text(&user, "admin");
    let pw = b.find("#login-password");
    b.clear(&pw);
    b.type_text(&pw, password);
    let account = b.find("#login-account");
    b.clear(&account);
    // Enter submits the form.
    b.type_text(&account, &format!("Demo{ENTER}"));
}

fn wait_heading(b: &Browser, text: &str) {
    b.wait(WAIT, &format!("the heading {text:?}"), || {
        (b.text_of("main h1").as_deref() == Some(text)).then_some(())
    });
}

fn session_token(b: &Browser) -> Option<String> {
    let v = b.execute("return sessionStorage.getItem('callrec.session')", vec![]);
    let s: Value = serde_json::from_str(v.as_str()?).ok()?;
    s["token"].as_str().map(str::to_owned)
}

fn api_get(base: &str, token: &str, path: &str) -> Value {
    let r = ureq::get(&format!("{base}{path}"))
        .set("X-Auth-Token", token)
        .timeout(Duration::from_secs(20))
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let text = r.into_string().expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
}

fn md5_hex(s: &str) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(s.as_bytes()))
}

fn field_error(b: &Browser, id: &str) -> String {
    b.text_of(&format!("#{id}-error")).unwrap_or_default()
}

#[test]
fn recordings_browser_in_chromium_through_real_calls() {
    let _serial = support::serial();
    support::require_tool("sox", "sox");
    let nginx = Nginx::start();
    let callrec = Callrec::start(Options::default().receiver(&nginx.base_url()));
    // The carrier's stream: a voice-band sweep, amplitude-modulated like speech.
    let st = Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-e", "a-law", "-t", "al"])
        .arg(callrec.dir.path().join("uac.al"))
        .args(["synth", "10", "sine", "300-3000", "tremolo", "0.8", "90"])
        .status()
        .expect("sox");
    assert!(st.success());
    let p1 = phone_1001();
    p1.register(&callrec);
    let carrier = Carrier::of(&callrec);
    let base = format!("http://{}", callrec.api);
    // The page and its assets come from the binary, with a policy that allows nothing else.
    let page = ureq::get(&format!("{base}/")).call().expect("GET /");
    assert_eq!(page.content_type(), "text/html");
    let csp = page
        .header("content-security-policy")
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    for asset in ["/ui/app.js", "/ui/md5.js", "/ui/app.css", "/ui/icon.svg"] {
        let r = ureq::get(&format!("{base}{asset}")).call().expect(asset);
        assert_eq!(r.status(), 200, "{asset}");
    }
    match ureq::get(&format!("{base}/ui/missing.js")).call() {
        Err(ureq::Error::Status(404, _)) => {}
        other => panic!("an unknown asset is 404: {other:?}"),
    }
    let b = Browser::start();

    // ---- the login page: labelled inputs, focus on the first, a wrong password refused ----
    b.goto(&format!("{base}/"));
    let user = b.find("#login-username");
    assert!(
        b.same(&b.active(), &user),
        "the username input has the focus"
    );
    for id in ["login-username", "login-password", "login-account"] {
        assert_eq!(
            b.find_all(&format!("label[for=\"{id}\"]")).len(),
            1,
            "{id} has a label"
        );
    }
    assert_eq!(
        b.attr(&b.find("#login-password"), "type").as_deref(),
        Some("password")
    );
    b.screenshot("login");
    login(&b, &base, "not-the-password");
    b.wait(WAIT, "the login error", || {
        let t = b.text_of("#login-error")?;
        t.contains("wrong").then_some(())
    });
    assert!(session_token(&b).is_none());
    login(&b, &base, "demo-admin");
    wait_heading(&b, "Calls");
    let token = session_token(&b).expect("the token is kept in sessionStorage");
    assert_eq!(token.len(), 64);
    assert_eq!(
        b.execute("return localStorage.length", vec![]),
        json!(0),
        "nothing outlives the tab"
    );
    assert_eq!(
        b.attr(&b.find("#nav-calls"), "aria-current").as_deref(),
        Some("page")
    );

    // ---- new calls appear without a reload: inbound, then outbound ----
    b.execute("window.__sameDocument = true", vec![]);
    inbound_call(&callrec, &carrier, &p1);
    let (first_inbound, _, text) = b.wait(WAIT, "the inbound call's row", || {
        rows(&b)
            .into_iter()
            .find(|(_, d, t)| d == "inbound" && t.contains(CALLER))
    });
    assert!(text.contains("inbound"), "the direction as a word: {text}");
    assert!(text.contains("Alice Demo"), "our user: {text}");
    outbound_call(&callrec, &carrier, &p1);
    let (_, _, text) = b.wait(WAIT, "the outbound call's row", || {
        rows(&b)
            .into_iter()
            .find(|(_, d, t)| d == "outbound" && t.contains(PSTN))
    });
    assert!(text.contains("outbound"), "{text}");
    assert_eq!(
        b.execute("return window.__sameDocument === true", vec![]),
        json!(true),
        "the rows came without a reload"
    );
    // The inbound call had the account's recording only (uploaded to nginx).
    let first_recs = b.wait(WAIT, "the first call's recording state", || {
        let t = rows(&b)
            .into_iter()
            .find(|(id, _, _)| *id == first_inbound)?
            .2;
        t.contains("stored").then_some(t)
    });
    assert!(first_recs.contains("1 stored"), "{first_recs}");
    b.screenshot("calls");

    // ---- filters: direction, then number ----
    b.select(&b.find("#f-direction"), "outbound");
    b.wait(WAIT, "only outbound rows", || {
        let r = rows(&b);
        (!r.is_empty() && r.iter().all(|(_, d, _)| d == "outbound")).then_some(())
    });
    b.click(&b.find("#f-clear"));
    let q = b.find("#f-q");
    b.type_text(&q, &format!("5557770001{ENTER}"));
    b.wait(WAIT, "only the carrier's calls", || {
        let r = rows(&b);
        (!r.is_empty() && r.iter().all(|(_, _, t)| t.contains(CALLER))).then_some(())
    });
    b.click(&b.find("#f-clear"));

    // ---- recording settings: a validation error next to its field, then a valid change ----
    b.click(&b.find("#nav-settings"));
    wait_heading(&b, "Recording settings");
    b.select(&b.find("#s-target"), "user:user-1001");
    b.wait(WAIT, "user 1001's form", || {
        b.find_all("#settings-form")
            .first()
            .filter(|f| {
                b.attr(f, "aria-label")
                    .is_some_and(|l| l.contains("Alice Demo"))
            })
            .map(|_| ())
    });
    let before = api_get(&base, &token, "/v2/accounts/demo/users/user-1001");
    b.select(&b.find("#cr-inbound-offnet-enabled"), "true");
    let url = b.find("#cr-inbound-offnet-url");
    b.type_text(&url, "ftp://nope/");
    b.click(&b.find("#settings-save"));
    let message = b.wait(WAIT, "the url field's error", || {
        let t = field_error(&b, "cr-inbound-offnet-url");
        (!t.is_empty()).then_some(t)
    });
    assert!(message.contains("http"), "the API's message: {message}");
    assert_eq!(b.attr(&url, "aria-invalid").as_deref(), Some("true"));
    assert_eq!(
        b.attr(&url, "aria-describedby").as_deref(),
        Some("cr-inbound-offnet-url-error")
    );
    assert!(
        b.same(&b.active(), &url),
        "the field in error has the focus"
    );
    assert!(
        field_error(&b, "cr-inbound-offnet-format").is_empty(),
        "only the field named has an error"
    );
    b.screenshot("settings-error");
    assert_eq!(
        api_get(&base, &token, "/v2/accounts/demo/users/user-1001")["data"],
        before["data"],
        "the refused change changed nothing"
    );
    b.clear(&url);
    b.select(&b.find("#cr-inbound-offnet-format"), "wav");
    b.click(&b.find("#settings-save"));
    b.wait(WAIT, "saved", || {
        b.text_of("#settings-saved")?
            .contains("Saved")
            .then_some(())
    });
    assert!(field_error(&b, "cr-inbound-offnet-url").is_empty());
    let user = api_get(&base, &token, "/v2/accounts/demo/users/user-1001");
    assert_eq!(
        user["data"]["call_recording"],
        json!({"inbound": {"offnet": {"enabled": true, "format": "wav"}}}),
        "only what the form set"
    );
    b.screenshot("settings");

    // ---- the next inbound call has the user's recording too ----
    b.click(&b.find("#nav-calls"));
    wait_heading(&b, "Calls");
    inbound_call(&callrec, &carrier, &p1);
    let (second, _, text) = b.wait(WAIT, "the second inbound call with two recordings", || {
        rows(&b).into_iter().find(|(id, d, t)| {
            *id != first_inbound && d == "inbound" && t.contains("local") && t.contains("stored")
        })
    });
    assert!(text.contains("2 "), "two recordings: {text}");
    // The interaction listing behind the page: one page of one row at a time sees each of the
    // three calls once, newest first.
    let mut seen = Vec::new();
    let mut next = String::new();
    loop {
        let v = api_get(
            &base,
            &token,
            &format!("/v2/accounts/demo/cdrs/interaction?page_size=1{next}"),
        );
        seen.extend(
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["interaction_id"].as_str().unwrap().to_owned()),
        );
        match v["next_start_key"].as_str() {
            Some(k) => next = format!("&start_key={}", k.replace(':', "%3A").replace('@', "%40")),
            None => break,
        }
        assert!(seen.len() < 10, "paging does not end: {seen:?}");
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    b.screenshot("calls-three");
    // A user-level token sees only the calls of its own user: Bob has none of these.
    let r = ureq::request("PATCH", &format!("{base}/v2/accounts/demo/users/user-1002"))
        .set("X-Auth-Token", &token)
        .set("Content-Type", "application/json")
        .send_string(&json!({"data": {"password": "bob-pw"}}).to_string())
        .expect("set Bob's password");
    assert_eq!(r.status(), 200);
    let r: Value = serde_json::from_str(
        &ureq::put(&format!("{base}/v2/user_auth"))
            .set("Content-Type", "application/json")
            .send_string(
                &json!({"data": {"credentials": md5_hex("1002:bob-pw"), "account_name": "Demo"}})
                    .to_string(),
            )
            .expect("Bob logs in")
            .into_string()
            .unwrap(),
    )
    .unwrap();
    let bob = r["auth_token"].as_str().unwrap().to_owned();
    let v = api_get(&base, &bob, "/v2/accounts/demo/cdrs/interaction");
    assert_eq!(v["data"], json!([]), "Bob sees none of Alice's calls");
    match ureq::get(&format!(
        "{base}/v2/accounts/demo/cdrs/interaction/{second}"
    ))
    .set("X-Auth-Token", &bob)
    .call()
    {
        Err(ureq::Error::Status(404, _)) => {}
        other => panic!("Alice's call is not Bob's: {other:?}"),
    }
    assert_eq!(seen[0], second);
    assert_eq!(seen[2], first_inbound);

    // ---- the detail page ----
    let link = b.find(&format!("tr[data-interaction=\"{second}\"] a.row-link"));
    b.click(&link);
    b.find("#detail-title");
    let legs = b.execute(
        "return [...document.querySelectorAll('#legs tbody tr')].map(r => r.dataset.callDirection)",
        vec![],
    );
    let mut legs: Vec<&str> = legs
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    legs.sort_unstable();
    assert_eq!(legs, ["inbound", "outbound"], "both legs");
    let legs_text = b.text(&b.find("#legs"));
    assert!(legs_text.contains("offnet-origination"), "{legs_text}");
    assert!(legs_text.contains("Alice's phone"), "{legs_text}");
    assert_eq!(
        b.find_all("article.recording").len(),
        2,
        "{}\n{}",
        b.body_text(),
        api_get(
            &base,
            &token,
            &format!("/v2/accounts/demo/cdrs/interaction/{second}")
        )
    );
    let local = b.find("article.recording[data-state=\"local\"]");
    let stored = b.find("article.recording[data-state=\"stored\"]");
    assert!(
        b.text(&stored).contains("Last error"),
        "{}",
        b.text(&stored)
    );
    b.wait(WAIT, "the local recording's audio and waveform", || {
        (b.attr(&local, "data-loaded").as_deref() == Some("true")).then_some(())
    });
    let lanes = b.execute(
        "return [...arguments[0].querySelectorAll('.lane')].map(l => l.innerText)",
        vec![Browser::arg(&local)],
    );
    let lanes: Vec<&str> = lanes
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(lanes.len(), 2, "two lanes: {lanes:?}");
    assert!(
        lanes[0].contains("caller") && lanes[0].contains(CALLER),
        "{lanes:?}"
    );
    assert!(
        lanes[1].contains("callee") && lanes[1].contains("Alice Demo"),
        "{lanes:?}"
    );
    let drawn = b.execute(
        "const c = arguments[0].querySelector('.lane canvas');
         const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
         let lit = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) lit++;
         return [lit, c.width * c.height];",
        vec![Browser::arg(&local)],
    );
    let (lit, all) = (drawn[0].as_u64().unwrap(), drawn[1].as_u64().unwrap());
    assert!(
        lit > all / 20,
        "the waveform shows the sweep: {lit} of {all} pixels"
    );
    let download = b.execute(
        "const a = arguments[0].querySelector('a.download'); return [a.href, a.download, a.hidden]",
        vec![Browser::arg(&local)],
    );
    assert!(download[0].as_str().unwrap().starts_with("blob:"));
    assert!(
        download[1].as_str().unwrap().ends_with(".wav"),
        "{download}"
    );
    assert_eq!(download[2], json!(false));
    // Play: currentTime passes one second.
    let audio = b.find("article.recording[data-state=\"local\"] audio");
    let played = b.execute(
        "return arguments[0].play().then(() => true, e => String(e))",
        vec![Browser::arg(&audio)],
    );
    assert_eq!(played, json!(true), "play() was refused");
    b.wait(WAIT, "currentTime past 1 s", || {
        let t = b.execute(
            "return arguments[0].currentTime",
            vec![Browser::arg(&audio)],
        );
        (t.as_f64().unwrap_or(0.0) > 1.0).then_some(())
    });
    b.screenshot("call-detail");
    b.execute(
        "arguments[0].scrollIntoView({block: 'center'})",
        vec![Browser::arg(&local)],
    );
    b.screenshot("call-detail-recording");
    // Seek by clicking the middle of the caller's lane.
    let duration = b
        .execute(
            "arguments[0].pause(); return arguments[0].duration",
            vec![Browser::arg(&audio)],
        )
        .as_f64()
        .unwrap();
    assert!(duration > 2.0, "the call was held 2.5 s: {duration}");
    let lane = b
        .find_all("article.recording[data-state=\"local\"] .lane canvas")
        .into_iter()
        .next()
        .unwrap();
    b.click(&lane);
    let at = b.wait(WAIT, "the seek", || {
        let t = b
            .execute(
                "return arguments[0].currentTime",
                vec![Browser::arg(&audio)],
            )
            .as_f64()
            .unwrap_or(0.0);
        ((t - duration / 2.0).abs() < duration * 0.2).then_some(t)
    });
    assert!(at > 0.0);

    // ---- phone width: nothing wider than the screen ----
    b.resize(390, 844);
    b.click(&b.find("a[href=\"#/calls\"]"));
    wait_heading(&b, "Calls");
    b.wait(WAIT, "rows", || (!rows(&b).is_empty()).then_some(()));
    let overflow = b.execute(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
        vec![],
    );
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "no horizontal scrolling at 390 px: {overflow}"
    );
    b.screenshot("calls-phone");
    b.click(&b.find("#nav-settings"));
    wait_heading(&b, "Recording settings");
    b.find("#cr-inbound-offnet-enabled");
    let overflow = b.execute(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
        vec![],
    );
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "settings at 390 px: {overflow}"
    );
    b.screenshot("settings-phone");
    b.resize(1280, 800);

    // ---- an expired token returns to the login page; logout too ----
    b.click(&b.find("#nav-calls"));
    wait_heading(&b, "Calls");
    b.execute(
        "const s = JSON.parse(sessionStorage.getItem('callrec.session'));
         s.token = '0'.repeat(64);
         sessionStorage.setItem('callrec.session', JSON.stringify(s));",
        vec![],
    );
    wait_heading(&b, "Log in");
    assert!(
        b.text_of("#login-error")
            .unwrap_or_default()
            .contains("expired"),
        "{}",
        b.body_text()
    );
    assert!(session_token(&b).is_none());
    login(&b, &base, "demo-admin");
    wait_heading(&b, "Calls");
    b.click(&b.find("#logout"));
    wait_heading(&b, "Log in");
    assert!(session_token(&b).is_none(), "logout forgets the token");
    b.goto(&format!("{base}/#/calls"));
    wait_heading(&b, "Log in");
}
