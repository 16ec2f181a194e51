//! Fuzz target for the SIP message layer: datagram parsing, stream framing, typed accessors,
//! validation, error responses and re-printing must never panic, and an unchanged message
//! must print back to bytes that parse to the same print.
#![no_main]

use bytes::Bytes;
use callrec_sip::message::{
    check_request, check_response, error_response, frame_stream, Message, Policy,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = frame_stream(data);
    match Message::parse(Bytes::copy_from_slice(data)) {
        Err(e) => {
            let _ = error_response(data, &e).map(|m| m.to_bytes());
        }
        Ok(m) => {
            let _ = (
                m.vias(),
                m.top_via(),
                m.from(),
                m.to(),
                m.call_id(),
                m.cseq(),
            );
            let _ = (
                m.contacts(),
                m.routes(),
                m.record_routes(),
                m.max_forwards(),
            );
            let _ = (m.content_length(), m.content_type(), m.media_type());
            let _ = (m.expires(), m.min_expires());
            let _ = (m.www_authenticate(), m.proxy_authenticate());
            let _ = (m.authorization(), m.proxy_authorization());
            let _ = (m.allow(), m.supported(), m.require(), m.proxy_require());
            let _ = (m.unsupported(), m.accept());
            // The allocation-free accessors agree with the typed ones when both succeed.
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
                let _ = (u.user_unescaped(), u.params().count());
            }
            let printed = m.to_bytes();
            let again = Message::parse(printed.clone()).expect("printed message reparses");
            assert_eq!(again.to_bytes(), printed);
            if m.is_request() {
                if let Err(r) = check_request(&m, &Policy::default()) {
                    let _ = r.response_to(&m).to_bytes();
                }
            } else {
                let _ = check_response(&m);
            }
        }
    }
});
