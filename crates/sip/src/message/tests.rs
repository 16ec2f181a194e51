//! Unit tests of the message layer.

use bytes::Bytes;

use super::*;

const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: \"Alice, A.\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

fn parse(s: &str) -> Message {
    Message::parse(Bytes::copy_from_slice(s.as_bytes())).expect("parses")
}

#[test]
fn compact_header_names_resolve_to_their_long_forms() {
    let m = parse(
        "OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:x@y>;tag=1\r\n\
         t: <sip:a@b>\r\ni: cid\r\nm: <sip:x@h>\r\nl: 0\r\nk: timer\r\ns: hi\r\n\r\n",
    );
    assert_eq!(m.call_id().unwrap(), "cid");
    assert_eq!(m.from().unwrap().tag(), Some("1"));
    assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK1"));
    assert_eq!(m.content_length().unwrap(), Some(0));
    assert_eq!(m.supported(), vec!["timer".to_owned()]);
    assert_eq!(m.header("Subject").as_deref(), Some("hi"));
    assert_eq!(m.contacts().unwrap().len(), 1);
    assert_eq!(HeaderName::from("I"), HeaderName::CallId);
    assert_eq!(HeaderName::from("cAlL-iD"), HeaderName::CallId);
}

#[test]
fn folded_values_are_unfolded_when_read_and_printed_as_received() {
    let text = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
                Subject: first\r\n  second\r\n\tthird\r\nCSeq: 1\r\n OPTIONS\r\n\r\n";
    let m = parse(text);
    assert_eq!(m.header("subject").as_deref(), Some("first second third"));
    assert_eq!(m.cseq().unwrap().seq, 1);
    assert_eq!(m.to_bytes(), text.as_bytes());
}

#[test]
fn lf_only_line_ends_and_leading_crlfs_are_accepted() {
    let m = Message::parse(Bytes::from_static(
        b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\nCall-ID: x\nContent-Length: 2\n\nhi",
    ))
    .unwrap();
    assert_eq!(m.call_id().unwrap(), "x");
    assert_eq!(&m.body()[..], b"hi");
    assert_eq!(
        &m.to_bytes()[..],
        b"OPTIONS sip:a@b SIP/2.0\nCall-ID: x\nContent-Length: 2\n\nhi"
    );
}

#[test]
fn multi_value_headers_split_on_commas_outside_quotes_and_angle_brackets() {
    assert_eq!(
        split_list(r#""Doe, J" <sip:a@b;x=1,2>, <sip:c@d>;q=0.5 , *"#),
        vec![r#""Doe, J" <sip:a@b;x=1,2>"#, "<sip:c@d>;q=0.5", "*"]
    );
    assert_eq!(split_list(r#""a\",b", c"#), vec![r#""a\",b""#, "c"]);
    let m = parse(
        "REGISTER sip:r SIP/2.0\r\nContact: \"A, B\" <sip:a@h>;expires=60, <sip:b@h>;q=0.7\r\n\
         Contact: *\r\n\r\n",
    );
    let c = m.contacts().unwrap();
    assert_eq!(c.len(), 3);
    let Contact::Addr(a) = &c[0] else {
        panic!("address expected")
    };
    assert_eq!(a.display_name.as_deref(), Some("A, B"));
    assert_eq!(a.expires(), Some(60));
    let Contact::Addr(b) = &c[1] else {
        panic!("address expected")
    };
    assert_eq!(b.q(), Some("0.7"));
    assert_eq!(c[2], Contact::Star);
}

#[test]
fn via_parameters_are_typed() {
    let v = Via::parse(
        "SIP / 2.0 / TCP [2001:db8::1]:5070 ; branch=z9hG4bKx;received=192.0.2.1;rport=5080;ttl=3",
    )
    .unwrap();
    assert_eq!(v.transport, "TCP");
    assert_eq!(v.host, "[2001:db8::1]");
    assert_eq!(v.port, Some(5070));
    assert_eq!(v.branch(), Some("z9hG4bKx"));
    assert_eq!(v.received(), Some("192.0.2.1"));
    assert_eq!(v.rport(), Some(Some(5080)));
    assert_eq!(v.params.get("ttl"), Some("3"));
    let bare = Via::parse("SIP/2.0/UDP h;rport;branch=z9hG4bK1").unwrap();
    assert_eq!(bare.rport(), Some(None));
    assert_eq!(Via::parse("SIP/2.0/UDP h").unwrap().rport(), None);
    assert!(Via::parse("SIP/2.0/UDP h;;").is_err());
    assert_eq!(
        format_via("UDP", "10.0.0.1", Some(5060), "z9hG4bKabc", true),
        "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport"
    );
}

#[test]
fn tags_are_extracted_from_from_and_to() {
    let m = parse(INVITE);
    assert_eq!(m.from().unwrap().tag(), Some("1928301774"));
    assert_eq!(m.from().unwrap().display_name.as_deref(), Some("Alice, A."));
    assert_eq!(m.to().unwrap().tag(), None);
    let na = NameAddr::parse("sip:u@h;tag=abc").unwrap();
    assert_eq!(na.tag(), Some("abc"));
    assert_eq!(na.uri.as_str(), "sip:u@h");
    let na = NameAddr::parse("<sip:u@h;tag=uri-param>").unwrap();
    assert_eq!(na.tag(), None);
}

#[test]
fn udp_content_length_frames_the_body_and_ignores_extra_octets() {
    let m = Message::parse(Bytes::from_static(
        b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabcJUNK",
    ))
    .unwrap();
    assert_eq!(&m.body()[..], b"abc");
    let m = Message::parse(Bytes::from_static(
        b"MESSAGE sip:a@b SIP/2.0\r\n\r\nrest of datagram",
    ))
    .unwrap();
    assert_eq!(&m.body()[..], b"rest of datagram");
    let e = Message::parse(Bytes::from_static(
        b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 30\r\n\r\nshort",
    ))
    .unwrap_err();
    assert_eq!((e, e.status()), (ParseError::BodyTruncated, 400));
    for bad in ["-1", "4294967296", "1 2", "", "0x10"] {
        let text = format!("MESSAGE sip:a@b SIP/2.0\r\nContent-Length: {bad}\r\n\r\n");
        assert_eq!(
            Message::parse_slice(text.as_bytes()).unwrap_err(),
            ParseError::ContentLength,
            "{bad}"
        );
    }
    assert_eq!(
        Message::parse_slice(b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n").unwrap_err(),
        ParseError::Unterminated
    );
}

#[test]
fn stream_framing_handles_partial_input_two_messages_and_keepalives() {
    let one = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 2\r\n\r\nhi";
    for cut in 0..one.len() {
        assert_eq!(
            frame_stream(&one[..cut]),
            Ok(StreamFrame::NeedMore),
            "cut at {cut}"
        );
    }
    let mut two = one.to_vec();
    two.extend_from_slice(b"BYE sip:a@b SIP/2.0\r\nl: 0\r\n\r\n");
    assert_eq!(frame_stream(&two), Ok(StreamFrame::Complete(one.len())));
    assert_eq!(
        frame_stream(&two[one.len()..]),
        Ok(StreamFrame::Complete(two.len() - one.len()))
    );
    let first = Message::parse(Bytes::copy_from_slice(&two[..one.len()])).unwrap();
    assert_eq!(&first.body()[..], b"hi");

    assert_eq!(frame_stream(b"\r\n\r\n"), Ok(StreamFrame::KeepAlive(4)));
    assert_eq!(
        frame_stream(b"\r\nOPTIONS sip:a@b SIP/2.0\r\n"),
        Ok(StreamFrame::KeepAlive(2))
    );
    assert_eq!(frame_stream(b"\r"), Ok(StreamFrame::NeedMore));
    assert_eq!(frame_stream(b""), Ok(StreamFrame::NeedMore));
    assert_eq!(
        frame_stream(b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1\r\n\r\n"),
        Err(ParseError::MissingContentLength)
    );
    let huge = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 99999999\r\n\r\n";
    assert_eq!(frame_stream(huge), Err(ParseError::TooLarge));
}

#[test]
fn escapes_are_preserved_when_printed_and_decoded_once_when_asked() {
    let text = "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\r\n\
                To: sip:%61lice@atlanta.com;tag=1\r\nl: 0\r\n\r\n";
    let m = parse(text);
    let uri = m.request_uri().unwrap();
    assert_eq!(uri.user(), Some("sips%3Auser%40example.com"));
    assert_eq!(uri.user_unescaped().unwrap(), b"sips:user@example.com");
    assert_eq!(uri.host(), "example.net");
    assert_eq!(m.to().unwrap().uri.to_string(), "sip:%61lice@atlanta.com");
    assert_eq!(m.to_bytes(), text.as_bytes());
    assert_eq!(unescape("value%41%2"), b"valueA%2");
}

#[test]
fn header_mutation_keeps_the_other_bytes_intact() {
    let text = "OPTIONS sip:a@b SIP/2.0\r\nvia:  SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
                X-Odd  :  keep   me \r\nCSeq: 1\r\n  OPTIONS\r\nl: 0\r\n\r\n";
    let mut m = parse(text);
    m.push_header_top("Via", "SIP/2.0/UDP proxy;branch=z9hG4bK2");
    m.set_header("x-other", "new");
    m.remove_header("l");
    let out = String::from_utf8(m.to_bytes().to_vec()).unwrap();
    assert_eq!(
        out,
        "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP proxy;branch=z9hG4bK2\r\n\
         via:  SIP/2.0/UDP h;branch=z9hG4bK1\r\nX-Odd  :  keep   me \r\nCSeq: 1\r\n  OPTIONS\r\n\
         x-other: new\r\n\r\n"
    );
    let again = Message::parse(m.to_bytes()).unwrap();
    assert_eq!(again.vias().unwrap().len(), 2);
    assert_eq!(
        again.top_via().unwrap().branch(),
        Some("z9hG4bK2"),
        "new Via is on top"
    );
}

#[test]
fn set_header_replaces_in_place_and_removes_duplicates() {
    let mut m = parse("OPTIONS sip:a@b SIP/2.0\r\nA: 1\r\nB: 2\r\na: 3\r\n\r\n");
    m.set_header("a", "9");
    assert_eq!(
        &m.to_bytes()[..],
        b"OPTIONS sip:a@b SIP/2.0\r\na: 9\r\nB: 2\r\n\r\n"
    );
}

#[test]
fn responses_copy_the_transaction_headers_and_add_a_to_tag() {
    let req = parse(INVITE);
    let resp = Message::response_to(&req, 180, "Ringing", Some("abc"));
    let resp = Message::parse(resp.to_bytes()).unwrap();
    assert_eq!(resp.status(), Some(180));
    assert_eq!(resp.reason(), Some("Ringing"));
    assert_eq!(resp.top_via().unwrap().branch(), Some("z9hG4bK776asdhds"));
    assert_eq!(resp.from().unwrap().tag(), Some("1928301774"));
    assert_eq!(resp.to().unwrap().tag(), Some("abc"));
    assert_eq!(resp.call_id().unwrap(), req.call_id().unwrap());
    assert_eq!(resp.cseq().unwrap(), req.cseq().unwrap());
    assert_eq!(resp.content_length().unwrap(), Some(0));
    assert!(resp.contacts().unwrap().is_empty());
}

#[test]
fn responses_print_copied_fields_under_their_long_names_unfolded_and_as_utf8() {
    let mut raw = b"OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
Via: SIP/2.0/UDP g\r\n ;branch=z9hG4bK2\r\nf: <sip:x@y>;tag=1\r\nTo: <sip:a@b>  \r\n\
Call-ID: c\r\nCSeq: 1 OPTIONS\r\nRoute: <sip:p1;lr>\r\nRoute: <sip:p2;lr>\r\n\
Content-Length: 0\r\n\r\n"
        .to_vec();
    // A From display name that is not UTF-8.
    let at = raw.windows(3).position(|w| w == b"f: ").unwrap() + 3;
    raw.splice(at..at, b"\xff ".iter().copied());
    let req = Message::parse_slice(&raw).unwrap();
    let resp = Message::response_to(&req, 200, "OK", None);
    assert_eq!(
        &resp.to_bytes()[..],
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
Via: SIP/2.0/UDP g ;branch=z9hG4bK2\r\nFrom: \u{fffd} <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\n\
Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            .as_bytes()
    );
    let mut cancel = Message::request(Method::Cancel, Uri::parse("sip:a@b").unwrap());
    cancel.copy_headers(&req, "Route");
    assert_eq!(
        cancel.header_values("Route"),
        ["<sip:p1;lr>", "<sip:p2;lr>"]
    );
    // The copies do not change with the request they came from.
    drop(req);
    assert!(resp
        .to_bytes()
        .ends_with(b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"));
}

#[test]
fn built_requests_carry_body_and_matching_content_length() {
    let uri = Uri::sip(Some("bob"), "192.0.2.4", Some(5062)).unwrap();
    let mut m = Message::request(Method::Invite, uri);
    m.push_header(
        "Via",
        format_via("UDP", "192.0.2.1", None, "z9hG4bKnew", true),
    );
    m.push_header("Max-Forwards", "70");
    let from_uri = Uri::parse("sip:alice@example.com").unwrap();
    m.push_header(
        "From",
        format_name_addr(Some("Alice"), &from_uri, Some("t1")),
    );
    m.push_header("To", "<sip:bob@example.com>");
    m.push_header("Call-ID", "c1");
    m.push_header(
        "CSeq",
        CSeq {
            seq: 1,
            method: Method::Invite,
        }
        .to_string(),
    );
    m.set_body("application/sdp", Bytes::from_static(b"v=0\r\n"));
    let p = Message::parse(m.to_bytes()).unwrap();
    assert_eq!(p.request_uri().unwrap().port(), Some(5062));
    assert_eq!(p.content_length().unwrap(), Some(5));
    assert_eq!(&p.body()[..], b"v=0\r\n");
    assert_eq!(p.media_type().unwrap().as_deref(), Some("application/sdp"));
    assert_eq!(p.from().unwrap().display_name.as_deref(), Some("Alice"));
    assert_eq!(p.top_via().unwrap().rport(), Some(None));
    assert_eq!(check_request(&p, &Policy::default()), Ok(()));
    // A built message without body gets Content-Length: 0 on printing.
    let bye = Message::request(Method::Bye, Uri::parse("sip:x@y").unwrap());
    assert!(bye.to_bytes().ends_with(b"Content-Length: 0\r\n\r\n"));
}

#[test]
fn auth_headers_are_read_with_quoted_values_unquoted() {
    let m = parse(
        "SIP/2.0 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"a, b\", \
         nonce=\"n\\\"1\", algorithm=SHA-256, qop=\"auth\"\r\n\
         WWW-Authenticate: Digest realm=\"a\", nonce=\"n2\", algorithm=MD5\r\n\r\n",
    );
    let c = m.www_authenticate().unwrap();
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].scheme, "Digest");
    assert_eq!(c[0].get("realm"), Some("a, b"));
    assert_eq!(c[0].get("nonce"), Some("n\"1"));
    assert_eq!(c[0].get("ALGORITHM"), Some("SHA-256"));
    assert_eq!(c[1].get("algorithm"), Some("MD5"));
    let printed = c[0].to_string();
    assert_eq!(AuthHeader::parse(&printed).unwrap(), c[0]);
}

#[test]
fn uris_of_every_scheme_keep_their_text() {
    let u = Uri::parse("sips:user:pw@[2001:db8::2]:5061;transport=tcp;lr?Subject=x").unwrap();
    assert_eq!(u.scheme(), "sips");
    assert_eq!(u.password(), Some("pw"));
    assert_eq!(u.host(), "[2001:db8::2]");
    assert_eq!(u.port(), Some(5061));
    assert_eq!(u.param("transport"), Some("tcp"));
    assert_eq!(u.param("lr"), Some(""));
    assert_eq!(u.headers(), Some("Subject=x"));
    let t = Uri::parse("tel:+1-201-555-0123;phone-context=x").unwrap();
    assert_eq!(t.user(), Some("+1-201-555-0123"));
    assert_eq!(t.param("phone-context"), Some("x"));
    let o = Uri::parse("nobodyKnowsThisScheme:totallyopaquecontent").unwrap();
    assert_eq!(o.opaque(), "totallyopaquecontent");
    assert!(Uri::parse("sip:a b@c").is_err());
    assert!(Uri::parse("sip:a@h:99999").is_err());
    assert!(Uri::parse("<sip:a@b>").is_err());
}

#[test]
fn validation_answers_the_rfc_statuses() {
    let base = |extra: &str, method: &str| {
        format!(
            "{method} sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
             From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 {method}\r\n\
             Max-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
        )
    };
    let status =
        |text: String, policy: &Policy| check_request(&parse(&text), policy).map_err(|r| r.status);
    let p = Policy::default();
    assert_eq!(status(base("", "OPTIONS"), &p), Ok(()));
    assert_eq!(status(base("Call-ID: d\r\n", "OPTIONS"), &p), Err(400));
    assert_eq!(status(base("Max-Forwards: 1\r\n", "OPTIONS"), &p), Err(400));
    assert_eq!(status(base("", "FOO"), &p), Err(501));
    assert_eq!(status(base("Require: 100rel\r\n", "OPTIONS"), &p), Err(420));
    let p100 = Policy {
        extensions: vec!["100rel".into()],
        ..Policy::default()
    };
    assert_eq!(
        status(base("Require: 100rel\r\n", "OPTIONS"), &p100),
        Ok(())
    );
    assert_eq!(
        status(base("Accept: text/plain\r\n", "INVITE"), &p),
        Err(406)
    );
    assert_eq!(
        status(
            base("Accept: application/sdp;level=1, text/x\r\n", "INVITE"),
            &p
        ),
        Ok(())
    );
    let mismatch = base("", "OPTIONS").replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    assert_eq!(status(mismatch, &p), Err(400));
    let big = base("", "OPTIONS").replace("CSeq: 1 ", "CSeq: 4294967296 ");
    assert_eq!(status(big, &p), Err(400));
    let rej = check_request(&parse(&base("", "FOO")), &p).unwrap_err();
    let resp = Message::parse(rej.response_to(&parse(&base("", "FOO"))).to_bytes()).unwrap();
    assert_eq!(resp.status(), Some(501));
    assert!(resp.to().unwrap().tag().is_some());
    assert!(resp.allow().contains(&"INVITE".to_owned()));
}

#[test]
fn responses_out_of_range_are_dropped() {
    let m = parse(
        "SIP/2.0 999 Odd\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n\
         To: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",
    );
    assert_eq!(check_response(&m), Err(DropReason::StatusOutOfRange(999)));
    assert!(Message::parse_slice(b"SIP/2.0 1000 Odd\r\n\r\n").is_err());
}

#[test]
fn size_limits_are_enforced() {
    let mut text = String::from("OPTIONS sip:a@b SIP/2.0\r\n");
    for i in 0..=MAX_HEADERS {
        text.push_str(&format!("X-{i}: v\r\n"));
    }
    text.push_str("\r\n");
    assert_eq!(
        Message::parse_slice(text.as_bytes()).unwrap_err(),
        ParseError::TooManyHeaders
    );
    let mut big = String::from("MESSAGE sip:a@b SIP/2.0\r\n\r\n");
    big.push_str(&"x".repeat(MAX_MESSAGE_LEN));
    assert_eq!(
        Message::parse_slice(big.as_bytes()).unwrap_err(),
        ParseError::TooLarge
    );
}

#[test]
fn message_is_send_sync_static_and_cheap_to_clone() {
    fn assert_send<T: Send + Sync + 'static>() {}
    assert_send::<Message>();
    let m = parse(INVITE);
    let c = m.clone();
    assert_eq!(c.to_bytes(), m.to_bytes());
}

#[test]
fn copied_headers_keep_order_and_values() {
    let req = parse(
        "INVITE sip:a@b SIP/2.0\r\nRoute: <sip:p1;lr>\r\nX: y\r\nroute: <sip:p2;lr>,\r\n <sip:p3;lr>\r\n\r\n",
    );
    let mut cancel = Message::request(Method::Cancel, req.request_uri().unwrap().clone());
    cancel.copy_headers(&req, "Route");
    let routes = Message::parse(cancel.to_bytes()).unwrap().routes().unwrap();
    let uris: Vec<&str> = routes.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(uris, vec!["sip:p1;lr", "sip:p2;lr", "sip:p3;lr"]);
}

#[test]
fn borrowed_accessors_agree_with_the_typed_ones() {
    let m = parse(INVITE);
    assert_eq!(m.top_via_branch().as_deref(), Some("z9hG4bK776asdhds"));
    assert_eq!(m.from_tag().as_deref(), Some("1928301774"));
    assert_eq!(m.to_tag(), None);
    assert_eq!(
        m.call_id_str().as_deref(),
        Some("a84b4c76e66710@pc33.atlanta.example.com")
    );
    let m = parse(
        "OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;rport;\r\n branch=z9hG4bKf, SIP/2.0/UDP x;branch=no\r\n\
         f: \"a;tag=no\" <sip:u@h;tag=no>;x=\"q;tag=no\";TAG=yes\r\nt: sip:u@h;tag=t1,\r\n\r\n",
    );
    assert_eq!(m.top_via_branch().as_deref(), Some("z9hG4bKf"));
    assert_eq!(m.from_tag().as_deref(), Some("yes"));
    assert_eq!(m.from().unwrap().tag(), Some("yes"));
    assert_eq!(m.to_tag().as_deref(), Some("t1"));
}

#[test]
fn word_at_a_time_search_finds_the_first_match() {
    for len in 0..40 {
        for at in 0..len {
            let mut v = vec![b'a'; len];
            v[at] = b'\n';
            if at + 3 < len {
                v[at + 3] = b'\n';
            }
            assert_eq!(parse::find_byte(&v, b'\n'), Some(at));
        }
        assert_eq!(parse::find_byte(&vec![0x8a; len], b'\n'), None);
        assert_eq!(parse::find_byte(&vec![0x0b; len], b'\n'), None);
    }
}

#[test]
fn top_via_branch_reads_only_the_first_via_value() {
    // Found by the property test: a comma inside sent-by starts a second Via value.
    let m = parse("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 192.0,2.15;branch=z9hG4bKx\r\n\r\n");
    assert_eq!(m.top_via().unwrap().branch(), None);
    assert_eq!(m.top_via_branch(), None);
}

#[test]
fn checking_the_vias_in_place_agrees_with_building_them() {
    for vias in [
        "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n",
        "Via: SIP/2.0/UDP h;branch=z9hG4bK\r\nVia: SIP/2.0/TCP g\r\n",
        "Via: SIP/2.0/UDP h;branch=z9hG4bK1, SIP/2.0/UDP g,SIP/2.0/UDP f\r\n",
        "Via: SIP/2.0/UDP h;branch=z9hG4bK1,\r\n",
        "Via: SIP/2.0/UDP h\r\nVia: SIP/2.0/UDP g;;x\r\n",
        "Via: nonsense\r\n",
        "",
    ] {
        let m = parse(&format!(
            "OPTIONS sip:a@b SIP/2.0\r\n{vias}From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\n\
Call-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n"
        ));
        let built = m
            .vias()
            .map(|v| (v[0].branch().map(str::to_owned), v.len()));
        let checked = m.check_vias(|top| top.branch().map(str::to_owned));
        assert_eq!(checked, built, "{vias}");
    }
}
