//! Property tests of the message layer: no input makes parsing, framing, typed access or
//! validation panic; unchanged messages print back byte for byte.
//!
//! Case counts are modest so the suite runs in seconds; raise them with `PROPTEST_CASES`
//! for a longer run (the fuzz stand-in when cargo-fuzz is unavailable).

use std::path::PathBuf;
use std::sync::OnceLock;

use bytes::Bytes;
use callrec_sip::message::{
    check_request, check_response, error_response, frame_stream, Message, Policy, StreamFrame,
};
use proptest::prelude::*;

fn corpus() -> &'static Vec<(String, Vec<u8>)> {
    static CORPUS: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/conformance/rfc4475/messages"
        ));
        let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("RFC 4475 corpus missing at {}: {e}", dir.display()))
            .map(|e| {
                let path = e.expect("dir entry").path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&path).expect("read message"))
            })
            .collect();
        out.sort();
        assert!(out.len() >= 50, "expected the 50 RFC 4475 files");
        out
    })
}

/// Everything a caller may do with untrusted input; must never panic.
fn exercise(input: &[u8]) {
    let _ = frame_stream(input);
    let bytes = Bytes::copy_from_slice(input);
    match Message::parse(bytes) {
        Err(e) => {
            let _ = error_response(input, &e).map(|m| m.to_bytes());
        }
        Ok(m) => {
            let _ = m.vias();
            let _ = m.top_via();
            let _ = m.from().map(|f| f.tag().map(str::len));
            let _ = m.to();
            let _ = m.call_id();
            let _ = m.cseq();
            let _ = m.contacts();
            let _ = m.routes();
            let _ = m.record_routes();
            let _ = m.max_forwards();
            let _ = m.content_length();
            let _ = m.content_type();
            let _ = m.media_type();
            let _ = m.expires();
            let _ = m.min_expires();
            let _ = m.www_authenticate();
            let _ = m.proxy_authenticate();
            let _ = m.authorization();
            let _ = m.proxy_authorization();
            let _ = (m.allow(), m.supported(), m.require(), m.proxy_require());
            let _ = (m.unsupported(), m.accept());
            // The allocation-free accessors agree with the typed ones whenever both succeed.
            if let (Some(b), Ok(v)) = (m.top_via_branch(), m.top_via()) {
                assert_eq!(Some(&*b), v.branch());
            }
            if let (Some(t), Ok(f)) = (m.from_tag(), m.from()) {
                assert_eq!(Some(&*t), f.tag());
            }
            if let (Some(t), Ok(to)) = (m.to_tag(), m.to()) {
                assert_eq!(Some(&*t), to.tag());
            }
            if let (Some(c), Ok(id)) = (m.call_id_str(), m.call_id()) {
                assert_eq!(&*c, id);
            }
            if let Some(u) = m.request_uri() {
                let _ = (u.user_unescaped(), u.host(), u.port(), u.param("lr"));
                let _ = u.params().count();
            }
            let _ = m.header_values("Via");
            let printed = m.to_bytes();
            let again = Message::parse(printed.clone()).expect("printed message reparses");
            assert_eq!(again.to_bytes(), printed, "print is stable");
            if m.is_request() {
                if let Err(r) = check_request(&m, &Policy::default()) {
                    let _ = r.response_to(&m).to_bytes();
                }
                let proxy = Policy {
                    proxying: true,
                    ..Policy::default()
                };
                let _ = check_request(&m, &proxy);
                let _ = Message::response_to(&m, 200, "OK", Some("t")).to_bytes();
            } else {
                let _ = check_response(&m);
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![
        Just(b'\r'),
        Just(b'\n'),
        Just(b' '),
        Just(b':'),
        Just(b';'),
        Just(b','),
        Just(b'"'),
        Just(b'<'),
        Just(b'>'),
        Just(b'%'),
        Just(b'\\'),
        Just(b'9'),
        Just(0u8),
        Just(0xffu8),
        any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), interesting.clone()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), interesting).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn apply(mut v: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = v.len().max(1);
        match *m {
            Mutation::Flip(i, b) => {
                if let Some(x) = v.get_mut(i % len) {
                    *x = b;
                }
            }
            Mutation::Insert(i, b) => v.insert(i % (v.len() + 1), b),
            Mutation::Delete(i) => {
                if !v.is_empty() {
                    v.remove(i % len);
                }
            }
            Mutation::Truncate(i) => v.truncate(i % (v.len() + 1)),
            Mutation::Duplicate(i, n) => {
                let start = i % len;
                let end = (start + n).min(v.len());
                if start < end {
                    let chunk = v[start..end].to_vec();
                    v.splice(start..start, chunk);
                }
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise(&input);
    }

    #[test]
    fn sip_shaped_text_never_panics(
        input in "(INVITE|SIP/2.0|REGISTER|ACK) [ -~]{0,40}(\r?\n(Via|v|To|t|From|f|Call-ID|i|CSeq|Contact|m|l|Content-Length|Max-Forwards|Require|Accept|WWW-Authenticate|Route) ?: ?[ -~]{0,60}){0,12}\r?\n\r?\n[ -~]{0,40}"
    ) {
        exercise(input.as_bytes());
    }

    #[test]
    fn mutated_rfc4475_messages_never_panic(
        pick in any::<usize>(),
        muts in proptest::collection::vec(mutation(), 1..8),
    ) {
        let c = corpus();
        let (_, bytes) = &c[pick % c.len()];
        exercise(&apply(bytes.clone(), &muts));
    }

    #[test]
    fn stream_framing_agrees_with_datagram_parsing_for_any_split(
        pick in any::<usize>(),
        cut in any::<usize>(),
    ) {
        // Messages with Content-Length frame the same on a stream: any prefix says NeedMore
        // (or KeepAlive for leading line ends), the whole message says Complete.
        let c = corpus();
        let (_, bytes) = &c[pick % c.len()];
        if let Ok(StreamFrame::Complete(n)) = frame_stream(bytes) {
            let cut = cut % n;
            let r = frame_stream(&bytes[..cut]);
            prop_assert!(matches!(r, Ok(StreamFrame::NeedMore)), "prefix {cut}: {r:?}");
            let framed = Message::parse(Bytes::copy_from_slice(&bytes[..n])).map(|m| m.to_bytes());
            let datagram = Message::parse(Bytes::copy_from_slice(bytes)).map(|m| m.to_bytes());
            prop_assert_eq!(framed, datagram);
        }
    }
}

#[test]
fn unmodified_rfc4475_messages_round_trip_byte_for_byte() {
    let mut checked = 0;
    for (name, bytes) in corpus() {
        let Ok(m) = Message::parse(Bytes::copy_from_slice(bytes)) else {
            continue;
        };
        let out = m.to_bytes();
        if name == "dblreq.dat" {
            // Trailing octets after Content-Length are not part of the message.
            assert!(bytes.starts_with(&out), "{name}: not a prefix");
            assert!(out.len() < bytes.len(), "{name}: trailing junk kept");
        } else {
            assert_eq!(&out[..], &bytes[..], "{name}: round trip differs");
        }
        checked += 1;
    }
    // All valid messages parse, plus the invalid ones that are refused only by validation.
    assert!(checked >= 40, "only {checked} messages parsed");
}
