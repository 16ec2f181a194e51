//! Messages per second: parse a typical INVITE with SDP (~550 octets) and read the headers a
//! transaction layer and B2BUA need first (top Via branch, From tag, To, Call-ID, CSeq,
//! Content-Length), either with the allocation-free accessors a transaction layer uses for
//! matching, or as owned typed values. Run: `cargo bench -p callrec-sip --bench parse`.

use bytes::Bytes;
use callrec_sip::message::Message;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

const INVITE: &[u8] = b"INVITE sip:+15551234567@pbx.example.com;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9a1c2d;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:alice@example.com>;tag=9fxced76sl\r\n\
To: <sip:+15551234567@pbx.example.com>\r\n\
Call-ID: 3848276298220188511@192.0.2.10\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@192.0.2.10:5060>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 165\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 101\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=sendrecv\r\n";

/// Parse and read the key headers with the allocation-free hot-path accessors (what a
/// transaction layer does for every message); returns something derived from all of them.
fn parse_and_match(input: &Bytes) -> usize {
    let m = Message::parse(input.clone()).expect("bench message parses");
    let branch = m.top_via_branch().expect("branch");
    let from_tag = m.from_tag().expect("from tag");
    let to_tag = m.to_tag();
    let call_id = m.call_id_str().expect("call-id");
    let cseq = m.cseq().expect("cseq");
    let cl = m.content_length().expect("content-length").unwrap_or(0);
    branch.len()
        + from_tag.len()
        + to_tag.map_or(1, |t| t.len())
        + call_id.len()
        + cseq.seq as usize
        + cl as usize
}

/// Parse and read the key headers as owned typed values (Via, NameAddr...).
fn parse_and_read(input: &Bytes) -> usize {
    let m = Message::parse(input.clone()).expect("bench message parses");
    let via = m.top_via().expect("via");
    let from = m.from().expect("from");
    let to = m.to().expect("to");
    let call_id = m.call_id().expect("call-id");
    let cseq = m.cseq().expect("cseq");
    let cl = m.content_length().expect("content-length").unwrap_or(0);
    via.branch().map_or(0, str::len)
        + from.tag().map_or(0, str::len)
        + to.uri.as_str().len()
        + call_id.len()
        + cseq.seq as usize
        + cl as usize
}

fn bench(c: &mut Criterion) {
    let input = Bytes::from_static(INVITE);
    assert!(parse_and_read(&input) > 0);
    assert!(parse_and_match(&input) > 0);
    let mut g = c.benchmark_group("sip_message");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_invite_match_key_headers", |b| {
        b.iter(|| parse_and_match(black_box(&input)))
    });
    g.bench_function("parse_invite_read_typed_headers", |b| {
        b.iter(|| parse_and_read(black_box(&input)))
    });
    g.bench_function("parse_invite_only", |b| {
        b.iter(|| Message::parse(black_box(input.clone())).map(|m| m.body().len()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
