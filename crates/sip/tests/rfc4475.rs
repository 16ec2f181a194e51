//! RFC 4475 torture messages, byte for byte, against the message layer.
//!
//! Every row of `shared/conformance/rfc4475/manifest.tsv` is checked. Each message is treated
//! as one UDP datagram; rows whose note speaks of stream transports are also framed with
//! `frame_stream`. Rows where we knowingly differ from the manifest's wording are listed in
//! `KNOWN_DIFFERENCES` with the reason.

use std::path::PathBuf;

use bytes::Bytes;
use callrec_sip::message::{
    check_request, check_response, error_response, frame_stream, Contact, Message, Method,
    ParseError, Policy, StreamFrame,
};

fn corpus_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/rfc4475"
    ))
}

/// Rows marked `[parse:should-reject]` that our parser accepts, because header values are
/// typed lazily: the refusal comes from `check_request` (400) instead of `Message::parse`.
/// The outcome on the wire (400) is the one the manifest asks for.
const REFUSED_BY_VALIDATE: &[(&str, &str)] = &[
    (
        "badinv01.dat",
        "empty Via/Contact params are found when Via/Contact are typed; check_request answers 400",
    ),
    (
        "quotbal.dat",
        "unterminated quote is inside To, typed on access; check_request answers 400",
    ),
    (
        "regbadct.dat",
        "Contact with '?' outside <> is found when Contact is typed; check_request answers 400",
    ),
    (
        "badaspec.dat",
        "spaces inside <> of To are found when To is typed; check_request answers 400",
    ),
];

/// Rows whose expected status we knowingly do not produce.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[(
    "baddate.dat",
    "Date is never used by callrec, so the EST zone is ignored and the request accepted \
     (the manifest marks it parse:may-accept: 'reject only if Date matters')",
)];

struct Row {
    file: String,
    expectation: String,
    note: String,
}

fn manifest() -> Vec<Row> {
    let path = corpus_dir().join("manifest.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "RFC 4475 corpus missing at {}: {e}. The conformance folder must sit beside the \
             checkout (shared/conformance/rfc4475).",
            path.display()
        )
    });
    let rows: Vec<Row> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert!(cols.len() >= 4, "bad manifest line: {l}");
            Row {
                file: cols[0].to_owned(),
                expectation: cols[2].to_owned(),
                note: cols[3].to_owned(),
            }
        })
        .collect();
    assert_eq!(rows.len(), 50, "manifest should list 50 messages");
    rows
}

fn read(file: &str) -> Bytes {
    let path = corpus_dir().join("messages").join(file);
    Bytes::from(
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display())),
    )
}

/// The key headers of a message that must be accepted are readable.
fn assert_key_headers(file: &str, msg: &Message) {
    msg.call_id()
        .unwrap_or_else(|e| panic!("{file}: Call-ID: {e}"));
    msg.cseq().unwrap_or_else(|e| panic!("{file}: CSeq: {e}"));
    msg.from().unwrap_or_else(|e| panic!("{file}: From: {e}"));
    msg.to().unwrap_or_else(|e| panic!("{file}: To: {e}"));
    if msg.header_count("Via") > 0 {
        let vias = msg.vias().unwrap_or_else(|e| panic!("{file}: Via: {e}"));
        assert!(!vias.is_empty(), "{file}: no Via values");
    }
    if let Some(cl) = msg
        .content_length()
        .unwrap_or_else(|e| panic!("{file}: Content-Length: {e}"))
    {
        assert_eq!(
            msg.body().len(),
            cl as usize,
            "{file}: body length differs from Content-Length"
        );
    }
}

fn status_of(file: &str, input: &Bytes, policy: &Policy) -> Result<(), u16> {
    match Message::parse(input.clone()) {
        Err(e) => Err(e.status()),
        Ok(msg) => {
            assert!(msg.is_request(), "{file}: expected a request");
            check_request(&msg, policy).map_err(|r| r.status)
        }
    }
}

fn check_row(row: &Row) -> Result<(), String> {
    let file = row.file.as_str();
    let input = read(file);
    let should_reject = row.note.contains("[parse:should-reject]");
    let policy = Policy::default();

    if row.expectation == "valid" {
        let msg = Message::parse(input.clone()).map_err(|e| format!("parse failed: {e}"))?;
        assert_key_headers(file, &msg);
        if !msg.is_request() {
            check_response(&msg).map_err(|e| format!("valid response dropped: {e}"))?;
        }
        return Ok(());
    }

    if row.expectation == "invalid:ignore" {
        return match Message::parse(input.clone()) {
            Err(e) => {
                // A response that does not parse is dropped: nothing to answer.
                if error_response(&input, &e).is_some() {
                    return Err("unparsable response would be answered".into());
                }
                Ok(())
            }
            Ok(msg) => {
                assert!(!msg.is_request(), "{file}: expected a response");
                match check_response(&msg) {
                    Err(_) => Ok(()),
                    Ok(()) => Err("response not flagged drop".into()),
                }
            }
        };
    }

    let want: u16 = row
        .expectation
        .strip_prefix("invalid:")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("unknown expectation {}", row.expectation))?;

    if should_reject && !REFUSED_BY_VALIDATE.iter().any(|(f, _)| *f == file) {
        let err = match Message::parse(input.clone()) {
            Err(e) => e,
            Ok(_) => return Err("parse accepted a should-reject message".into()),
        };
        if err.status() != want {
            return Err(format!(
                "parse error {err} answers {}, want {want}",
                err.status()
            ));
        }
        return Ok(());
    }

    match status_of(file, &input, &policy) {
        Err(got) if got == want => Ok(()),
        Err(got) => Err(format!("answered {got}, want {want}")),
        Ok(()) => Err(format!("accepted, want {want}")),
    }
}

#[test]
fn every_rfc4475_row_meets_its_manifest_expectation_or_is_listed_as_a_known_difference() {
    let mut failures = Vec::new();
    for row in manifest() {
        let known = KNOWN_DIFFERENCES.iter().find(|(f, _)| *f == row.file);
        let result = check_row(&row);
        let outcome = match Message::parse(read(&row.file)) {
            Err(e) => format!("parse error: {e} ({})", e.status()),
            Ok(m) if m.is_request() => match check_request(&m, &Policy::default()) {
                Ok(()) => "accepted".to_owned(),
                Err(r) => format!("rejected {} {}", r.status, r.reason),
            },
            Ok(m) => match check_response(&m) {
                Ok(()) => "response accepted".to_owned(),
                Err(d) => format!("response dropped: {d}"),
            },
        };
        eprintln!(
            "{:14} {:16} {outcome} -> {result:?}",
            row.file, row.expectation
        );
        match (result, known) {
            (Ok(()), None) => {}
            (Ok(()), Some((f, _))) => {
                failures.push(format!("{f}: listed as known difference but now passes"))
            }
            (Err(_), Some(_)) => {}
            (Err(why), None) => failures.push(format!("{}: {why}", row.file)),
        }
    }
    assert!(
        failures.is_empty(),
        "rows failing:\n{}",
        failures.join("\n")
    );
}

#[test]
fn known_differences_still_behave_as_documented() {
    // baddate.dat: accepted because Date is not used.
    let msg = Message::parse(read("baddate.dat")).expect("baddate parses");
    assert_eq!(check_request(&msg, &Policy::default()), Ok(()));
    // Rows refused by validation rather than parsing really are refused with 400.
    for (file, _) in REFUSED_BY_VALIDATE {
        let msg = Message::parse(read(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let rej = check_request(&msg, &Policy::default()).expect_err(file);
        assert_eq!(rej.status, 400, "{file}");
    }
}

#[test]
fn unparsable_requests_with_readable_essentials_get_an_error_response() {
    let input = read("ncl.dat");
    let err = Message::parse(input.clone()).expect_err("negative Content-Length");
    assert_eq!(err, ParseError::ContentLength);
    let resp = error_response(&input, &err).expect("essentials readable");
    let resp = Message::parse(resp.to_bytes()).expect("response parses");
    assert_eq!(resp.status(), Some(400));
    assert!(resp.call_id().is_ok() && resp.cseq().is_ok() && resp.top_via().is_ok());
}

#[test]
fn stream_framing_of_the_content_length_rows() {
    // clerr: Content-Length larger than the body: a stream waits for more data.
    assert_eq!(frame_stream(&read("clerr.dat")), Ok(StreamFrame::NeedMore));
    // ncl: negative Content-Length: framing is lost.
    assert_eq!(
        frame_stream(&read("ncl.dat")),
        Err(ParseError::ContentLength)
    );
    // mcl01: conflicting values: framing error.
    assert_eq!(
        frame_stream(&read("mcl01.dat")),
        Err(ParseError::ContentLengthConflict)
    );
    // Over UDP clerr is a 400.
    assert_eq!(
        Message::parse(read("clerr.dat")).map(|_| ()),
        Err(ParseError::BodyTruncated)
    );
}

#[test]
fn message_content_details_of_selected_rows() {
    // dblreq: the REGISTER only; trailing INVITE ignored.
    let m = Message::parse(read("dblreq.dat")).unwrap();
    assert_eq!(m.method(), Some(&Method::Register));
    assert!(m.body().is_empty());
    assert_eq!(
        m.call_id().unwrap(),
        "dblreq.0ha0isndaksdj99sdfafnl3lk233412"
    );
    // esc02: method is unknown, C%6Fntact is not Contact.
    let m = Message::parse(read("esc02.dat")).unwrap();
    assert_eq!(m.method(), Some(&Method::Other("RE%47IST%45R".into())));
    assert_eq!(m.contacts().unwrap().len(), 2);
    assert_eq!(
        check_request(&m, &Policy::default()).unwrap_err().status,
        501
    );
    // escnull: two distinct contacts, user with NUL not truncated.
    let m = Message::parse(read("escnull.dat")).unwrap();
    let c = m.contacts().unwrap();
    assert_eq!(c.len(), 2);
    assert_ne!(c[0], c[1]);
    assert_eq!(
        m.to().unwrap().uri.user_unescaped().unwrap(),
        b"null-\0-null"
    );
    // semiuri: user contains ';par=u@example.net' once unescaped.
    let m = Message::parse(read("semiuri.dat")).unwrap();
    assert_eq!(
        m.request_uri().unwrap().user_unescaped().unwrap(),
        b"user;par=u@example.net"
    );
    // esc01: unescape once only.
    let m = Message::parse(read("esc01.dat")).unwrap();
    assert_eq!(
        m.request_uri().unwrap().user().unwrap(),
        "sips%3Auser%40example.com"
    );
    // cparam01: ;unknownparam is a contact param; cparam02: a URI param.
    let m = Message::parse(read("cparam01.dat")).unwrap();
    let Contact::Addr(a) = &m.contacts().unwrap()[0] else {
        panic!("star")
    };
    assert!(a.params.contains("unknownparam"));
    let m = Message::parse(read("cparam02.dat")).unwrap();
    let Contact::Addr(a) = &m.contacts().unwrap()[0] else {
        panic!("star")
    };
    assert!(a.uri.param("unknownparam").is_some() && !a.params.contains("unknownparam"));
    // zeromf: accepted by an endpoint, 483 when proxying.
    let m = Message::parse(read("zeromf.dat")).unwrap();
    assert_eq!(check_request(&m, &Policy::default()), Ok(()));
    let proxy = Policy {
        proxying: true,
        ..Policy::default()
    };
    assert_eq!(check_request(&m, &proxy).unwrap_err().status, 483);
    // bext01: 420 lists the unsupported tags.
    let m = Message::parse(read("bext01.dat")).unwrap();
    let rej = check_request(&m, &Policy::default()).unwrap_err();
    let resp = rej.response_to(&m);
    let unsupported = resp.unsupported();
    assert!(unsupported.contains(&"nothingSupportsThis".to_owned()));
    assert!(unsupported.contains(&"nothingSupportsThisEither".to_owned()));
    // transports: the unknown transport is kept.
    let m = Message::parse(read("transports.dat")).unwrap();
    assert!(m.vias().unwrap().iter().any(|v| v.transport == "UNKNOWN"));
    // longreq: the file holds 34 Via fields (sip33 .. sip1 and host), in all name spellings.
    let m = Message::parse(read("longreq.dat")).unwrap();
    let vias = m.vias().unwrap();
    assert_eq!(vias.len(), 34);
    assert_eq!(vias[0].host, "sip33.example.com");
    assert!(vias[33].branch().unwrap().starts_with("verylong"));
}
