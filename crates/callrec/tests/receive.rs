//! The HTTP receiver through a real loopback socket.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use callrec::receive::{self, ReceiverConfig, ReceiverStats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

async fn start(
    dir: &Path,
    fail_first: u64,
) -> (SocketAddr, Arc<ReceiverStats>, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (app, stats) = receive::router(ReceiverConfig {
        dir: dir.to_owned(),
        fail_first,
    });
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (addr, stats, tx)
}

/// Sends a raw HTTP/1.1 request (no URL normalisation by a client library) and returns the status.
async fn raw_status(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.unwrap();
    let text = String::from_utf8_lossy(&resp);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_put_stores_the_body_and_a_sidecar_with_the_decoded_query() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, stats, _stop) = start(dir.path(), 0).await;
    let client = reqwest::Client::new();
    let resp = client
        .put(format!(
            "http://{addr}/recordings/call_recording_abc.mp3?from=1001%40demo.callrec.local&to=&caller_id_name=Alice%20Demo"
        ))
        .header("content-type", "audio/mpeg")
        .body(b"ID3 audio bytes".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(
        std::fs::read(dir.path().join("call_recording_abc.mp3")).unwrap(),
        b"ID3 audio bytes"
    );
    let side: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("call_recording_abc.mp3.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(side["method"], "PUT");
    assert_eq!(side["content_type"], "audio/mpeg");
    assert_eq!(side["size"], 15);
    assert_eq!(side["path"], "/recordings/call_recording_abc.mp3");
    assert_eq!(side["query"]["from"], "1001@demo.callrec.local");
    assert_eq!(side["query"]["to"], "");
    assert_eq!(side["query"]["caller_id_name"], "Alice Demo");
    assert_eq!(stats.stored.load(std::sync::atomic::Ordering::Relaxed), 1);
    // Nothing but the file and its sidecar (no temporary files left).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[tokio::test]
async fn a_post_is_stored_too() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, _stats, _stop) = start(dir.path(), 0).await;
    assert_eq!(raw_status(addr, "POST", "/x.wav?a=1", b"RIFF").await, 201);
    assert_eq!(std::fs::read(dir.path().join("x.wav")).unwrap(), b"RIFF");
    let side: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("x.wav.json")).unwrap()).unwrap();
    assert_eq!(side["method"], "POST");
}

#[tokio::test]
async fn paths_that_escape_the_directory_are_refused_with_400() {
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("store");
    std::fs::create_dir(&dir).unwrap();
    let (addr, stats, _stop) = start(&dir, 0).await;
    for target in [
        "/../escape.mp3",
        "/a/../../escape.mp3",
        "/%2e%2e/escape.mp3",
        "/a/%2e%2e",
        "/..%2fescape.mp3",
        "/%2Fetc%2Fpasswd",
        "/",
        "/dir/",
        "/x%00y.mp3",
        "/.hidden",
    ] {
        assert_eq!(
            raw_status(addr, "PUT", target, b"evil").await,
            400,
            "{target}"
        );
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(outer.path()).unwrap().count(), 1);
    assert_eq!(stats.refused.load(std::sync::atomic::Ordering::Relaxed), 10);
}

#[tokio::test]
async fn other_methods_get_405() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, _stats, _stop) = start(dir.path(), 0).await;
    assert_eq!(raw_status(addr, "GET", "/x.mp3", b"").await, 405);
    assert_eq!(raw_status(addr, "DELETE", "/x.mp3", b"").await, 405);
}

#[tokio::test]
async fn fail_first_answers_500_to_the_first_requests_only() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, stats, _stop) = start(dir.path(), 2).await;
    assert_eq!(raw_status(addr, "PUT", "/f.mp3", b"1").await, 500);
    assert_eq!(raw_status(addr, "PUT", "/f.mp3", b"2").await, 500);
    assert!(!dir.path().join("f.mp3").exists());
    assert_eq!(raw_status(addr, "PUT", "/f.mp3", b"3").await, 201);
    assert_eq!(std::fs::read(dir.path().join("f.mp3")).unwrap(), b"3");
    assert_eq!(
        stats
            .injected_failures
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}

#[tokio::test]
async fn the_serve_function_creates_the_directory_and_stops_on_shutdown() {
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("new/dir");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(receive::serve(
        listener,
        ReceiverConfig {
            dir: dir.clone(),
            fail_first: 0,
        },
        async {
            let _ = rx.await;
        },
    ));
    assert_eq!(raw_status(addr, "PUT", "/s.mp3", b"ok").await, 201);
    assert!(dir.join("s.mp3").exists());
    tx.send(()).unwrap();
    let stats = server.await.unwrap().unwrap();
    assert_eq!(stats.stored.load(std::sync::atomic::Ordering::Relaxed), 1);
}
