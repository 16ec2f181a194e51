//! The uploader against the in-process receiver on loopback sockets (port 0).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use callrec::receive::{self, ReceiverConfig, ReceiverStats};
use callrec::spool::{NewRecording, Spool, SpoolRecord, SpoolState, UploadMethod, UploadTarget};
use callrec::upload::{UploadConfig, Uploader};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

fn fast_config() -> UploadConfig {
    UploadConfig {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        give_up_after: Duration::from_secs(30),
        concurrency: 2,
        request_timeout: Duration::from_secs(5),
        max_redirects: 10,
        keep_after_upload: false,
        connect_timeout: Duration::from_secs(5),
        ca_file: None,
    }
}

async fn start_receiver_on(
    listener: TcpListener,
    dir: &Path,
    fail_first: u64,
) -> (Arc<ReceiverStats>, oneshot::Sender<()>) {
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
    (stats, tx)
}

async fn start_receiver(
    dir: &Path,
    fail_first: u64,
) -> (SocketAddr, Arc<ReceiverStats>, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stats, tx) = start_receiver_on(listener, dir, fail_first).await;
    (addr, stats, tx)
}

/// Creates a finished spool entry with `body` as audio.
fn finished_entry(spool: &Spool, id: &str, method: UploadMethod, url: String, body: &[u8]) {
    let e = spool
        .create(NewRecording {
            id: id.to_owned(),
            file_name: format!("call_recording_{id}.wav"),
            content_type: "audio/wav".to_owned(),
            target: UploadTarget { method, url },
            metadata: json!({"call_id": id}),
        })
        .unwrap();
    std::fs::write(&e.audio_path, body).unwrap();
    spool.finish(id, 1000).unwrap();
}

/// Polls the sidecar (every 10 ms, at most 10 s) until `done` holds.
async fn wait_for(spool: &Spool, id: &str, done: impl Fn(&SpoolRecord) -> bool) -> SpoolRecord {
    for _ in 0..1000 {
        let r = spool.get(id).unwrap();
        if done(&r) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out; last state {:?}", spool.get(id).unwrap());
}

fn sidecar(dir: &Path, file: &str) -> serde_json::Value {
    callrec::spool::parse_sidecar(&std::fs::read(dir.join(format!("{file}.json"))).unwrap())
        .unwrap()
}

#[tokio::test]
async fn a_put_arrives_with_its_body_content_type_and_query_and_the_file_is_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let (rx_dir, sp_dir) = (tmp.path().join("rx"), tmp.path().join("spool"));
    let (addr, _stats, _stop) = start_receiver(&rx_dir, 0).await;
    let spool = Arc::new(Spool::open(&sp_dir, 0).unwrap());
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let url =
        format!("http://{addr}/recordings/call_recording_c1.wav?from=1001%40demo&to=&call_id=c1");
    finished_entry(&spool, "c1", UploadMethod::Put, url, &body);

    let up = Uploader::spawn(spool.clone(), fast_config()).unwrap();
    up.enqueue("c1");
    // The sidecar says `stored` first, then the audio file is deleted.
    let audio = sp_dir.join("c1.wav");
    let r = wait_for(&spool, "c1", |r| {
        r.state == SpoolState::Stored && !audio.exists()
    })
    .await;
    assert_eq!(r.attempts, 1);
    assert_eq!(
        std::fs::read(rx_dir.join("call_recording_c1.wav")).unwrap(),
        body
    );
    let side = sidecar(&rx_dir, "call_recording_c1.wav");
    assert_eq!(side["method"], "PUT");
    assert_eq!(side["content_type"], "audio/wav");
    assert_eq!(side["query"]["from"], "1001@demo");
    assert_eq!(side["query"]["to"], "");
    assert_eq!(side["query"]["call_id"], "c1");
    up.shutdown().await; // waits for the attempt task, so the counters are final
    assert_eq!(up.stats().stored, 1);
}

#[tokio::test]
async fn a_post_target_is_posted_and_keep_after_upload_keeps_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (rx_dir, sp_dir) = (tmp.path().join("rx"), tmp.path().join("spool"));
    let (addr, _stats, _stop) = start_receiver(&rx_dir, 0).await;
    let spool = Arc::new(Spool::open(&sp_dir, 0).unwrap());
    finished_entry(
        &spool,
        "p1",
        UploadMethod::Post,
        format!("http://{addr}/p1.wav"),
        b"RIFFdata",
    );
    let cfg = UploadConfig {
        keep_after_upload: true,
        ..fast_config()
    };
    let up = Uploader::spawn(spool.clone(), cfg).unwrap();
    up.enqueue("p1");
    wait_for(&spool, "p1", |r| r.state == SpoolState::Stored).await;
    assert_eq!(sidecar(&rx_dir, "p1.wav")["method"], "POST");
    assert_eq!(std::fs::read(rx_dir.join("p1.wav")).unwrap(), b"RIFFdata");
    assert!(sp_dir.join("p1.wav").exists(), "kept");
    up.shutdown().await;
}

#[tokio::test]
async fn two_server_errors_are_retried_with_backoff_until_the_file_arrives() {
    let tmp = tempfile::tempdir().unwrap();
    let (rx_dir, sp_dir) = (tmp.path().join("rx"), tmp.path().join("spool"));
    let (addr, stats, _stop) = start_receiver(&rx_dir, 2).await;
    let spool = Arc::new(Spool::open(&sp_dir, 0).unwrap());
    finished_entry(
        &spool,
        "f1",
        UploadMethod::Put,
        format!("http://{addr}/f1.wav"),
        b"audio",
    );
    let up = Uploader::spawn(spool.clone(), fast_config()).unwrap();
    up.enqueue("f1");
    let r = wait_for(&spool, "f1", |r| r.state == SpoolState::Stored).await;
    assert_eq!(r.attempts, 3);
    assert_eq!(std::fs::read(rx_dir.join("f1.wav")).unwrap(), b"audio");
    assert_eq!(
        stats
            .injected_failures
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    up.shutdown().await;
    let s = up.stats();
    assert_eq!((s.attempts, s.retries, s.stored, s.failed), (3, 2, 1, 0));
}

#[tokio::test]
async fn a_307_redirect_is_followed_and_the_body_sent_again() {
    let tmp = tempfile::tempdir().unwrap();
    let (rx_dir, sp_dir) = (tmp.path().join("rx"), tmp.path().join("spool"));
    let (addr, _stats, _stop) = start_receiver(&rx_dir, 0).await;
    // A server that redirects every request to the receiver, keeping path and query.
    let redirector = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let raddr = redirector.local_addr().unwrap();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| async move {
        let pq = uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        (
            axum::http::StatusCode::TEMPORARY_REDIRECT,
            [(
                axum::http::header::LOCATION,
                format!("http://{addr}/moved{pq}"),
            )],
        )
    });
    tokio::spawn(async move { axum::serve(redirector, app).await.unwrap() });

    let spool = Arc::new(Spool::open(&sp_dir, 0).unwrap());
    finished_entry(
        &spool,
        "r1",
        UploadMethod::Put,
        format!("http://{raddr}/r1.wav?x=1"),
        b"redirected body",
    );
    let up = Uploader::spawn(spool.clone(), fast_config()).unwrap();
    up.enqueue("r1");
    let r = wait_for(&spool, "r1", |r| r.state == SpoolState::Stored).await;
    assert_eq!(r.attempts, 1);
    assert_eq!(
        std::fs::read(rx_dir.join("r1.wav")).unwrap(),
        b"redirected body"
    );
    let side = sidecar(&rx_dir, "r1.wav");
    assert_eq!(side["path"], "/moved/r1.wav");
    assert_eq!(side["query"]["x"], "1");
    assert_eq!(side["method"], "PUT");
    up.shutdown().await;
}

#[tokio::test]
async fn a_redirect_loop_counts_as_a_failed_attempt() {
    let tmp = tempfile::tempdir().unwrap();
    let looper = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let laddr = looper.local_addr().unwrap();
    let app = axum::Router::new().fallback(move || async move {
        (
            axum::http::StatusCode::PERMANENT_REDIRECT,
            [(
                axum::http::header::LOCATION,
                format!("http://{laddr}/again.wav"),
            )],
        )
    });
    tokio::spawn(async move { axum::serve(looper, app).await.unwrap() });
    let spool = Arc::new(Spool::open(tmp.path(), 0).unwrap());
    finished_entry(
        &spool,
        "l1",
        UploadMethod::Put,
        format!("http://{laddr}/l1.wav"),
        b"x",
    );
    let cfg = UploadConfig {
        max_redirects: 3,
        give_up_after: Duration::from_millis(1),
        ..fast_config()
    };
    let up = Uploader::spawn(spool.clone(), cfg).unwrap();
    up.enqueue("l1");
    let r = wait_for(&spool, "l1", |r| r.state == SpoolState::Failed).await;
    assert!(
        r.last_error
            .as_deref()
            .unwrap()
            .contains("more than 3 redirects"),
        "{r:?}"
    );
    up.shutdown().await;
}

#[tokio::test]
async fn a_receiver_that_is_down_and_then_up_gets_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (rx_dir, sp_dir) = (tmp.path().join("rx"), tmp.path().join("spool"));
    // Reserve a port, then close it so connections are refused.
    let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let spool = Arc::new(Spool::open(&sp_dir, 0).unwrap());
    finished_entry(
        &spool,
        "d1",
        UploadMethod::Put,
        format!("http://{addr}/d1.wav"),
        b"later",
    );
    let up = Uploader::spawn(spool.clone(), fast_config()).unwrap();
    up.enqueue("d1");
    let r = wait_for(&spool, "d1", |r| {
        r.attempts >= 2 && r.state == SpoolState::Finished
    })
    .await;
    assert!(
        r.last_error
            .as_deref()
            .unwrap()
            .contains("HTTP request failed"),
        "{r:?}"
    );
    assert!(
        !r.last_error.as_deref().unwrap().contains("d1.wav"),
        "URL kept out of errors"
    );

    let listener = TcpListener::bind(addr).await.unwrap();
    let (_stats, _stop) = start_receiver_on(listener, &rx_dir, 0).await;
    wait_for(&spool, "d1", |r| r.state == SpoolState::Stored).await;
    assert_eq!(std::fs::read(rx_dir.join("d1.wav")).unwrap(), b"later");
    up.shutdown().await;
}

#[tokio::test]
async fn after_the_give_up_window_the_entry_is_failed_and_the_file_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let (rx_dir, sp_dir) = (tmp.path().join("rx"), tmp.path().join("spool"));
    let (addr, _stats, _stop) = start_receiver(&rx_dir, u64::MAX).await;
    let spool = Arc::new(Spool::open(&sp_dir, 0).unwrap());
    finished_entry(
        &spool,
        "g1",
        UploadMethod::Put,
        format!("http://{addr}/g1.wav"),
        b"keep me",
    );
    let cfg = UploadConfig {
        give_up_after: Duration::from_millis(200),
        ..fast_config()
    };
    let up = Uploader::spawn(spool.clone(), cfg).unwrap();
    up.enqueue("g1");
    let r = wait_for(&spool, "g1", |r| r.state == SpoolState::Failed).await;
    assert!(r.attempts >= 2, "{r:?}");
    assert_eq!(r.last_error.as_deref(), Some("HTTP status 500"));
    assert_eq!(std::fs::read(sp_dir.join("g1.wav")).unwrap(), b"keep me");
    assert!(!rx_dir.join("g1.wav").exists());
    up.shutdown().await;
    assert_eq!(up.stats().failed, 1);
}

#[tokio::test]
async fn entries_recovered_after_a_restart_are_uploaded() {
    let tmp = tempfile::tempdir().unwrap();
    let (rx_dir, sp_dir) = (tmp.path().join("rx"), tmp.path().join("spool"));
    let (addr, _stats, _stop) = start_receiver(&rx_dir, 0).await;
    {
        let spool = Spool::open(&sp_dir, 0).unwrap();
        finished_entry(
            &spool,
            "k1",
            UploadMethod::Put,
            format!("http://{addr}/k1.wav"),
            b"one",
        );
        finished_entry(
            &spool,
            "k2",
            UploadMethod::Put,
            format!("http://{addr}/k2.wav"),
            b"two",
        );
        spool.begin_upload("k2").unwrap(); // the process died mid-upload
    }
    let spool = Arc::new(Spool::open(&sp_dir, 0).unwrap());
    let ids = spool.recover(&|_: &Path| Ok(())).unwrap();
    assert_eq!(ids.len(), 2);
    let up = Uploader::spawn(spool.clone(), fast_config()).unwrap();
    for id in ids {
        up.enqueue(id);
    }
    wait_for(&spool, "k1", |r| r.state == SpoolState::Stored).await;
    let k2 = wait_for(&spool, "k2", |r| r.state == SpoolState::Stored).await;
    // The interrupted attempt was only held in memory: the one after the restart is the first.
    assert_eq!(k2.attempts, 1);
    assert_eq!(std::fs::read(rx_dir.join("k2.wav")).unwrap(), b"two");
    up.shutdown().await;
}

#[tokio::test]
async fn a_target_that_is_not_http_fails_at_once_and_one_without_url_is_kept_local() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = Arc::new(Spool::open(tmp.path(), 0).unwrap());
    finished_entry(
        &spool,
        "u1",
        UploadMethod::Put,
        "ftp://example.invalid/x.wav".to_owned(),
        b"x",
    );
    finished_entry(&spool, "u2", UploadMethod::Put, String::new(), b"y");
    let up = Arc::new(Uploader::spawn(spool.clone(), fast_config()).unwrap());
    up.enqueue("u1");
    up.enqueue("u2");
    let r = wait_for(&spool, "u1", |r| r.state == SpoolState::Failed).await;
    assert_eq!(r.attempts, 1);
    assert_eq!(r.last_error.as_deref(), Some("invalid upload URL"));
    assert!(tmp.path().join("u1.wav").exists());
    // No url at all: kept locally, never attempted (issue 13: it used to fail at once).
    let r = wait_for(&spool, "u2", |r| r.state == SpoolState::Local).await;
    assert_eq!(r.attempts, 0);
    assert!(tmp.path().join("u2.wav").exists());
    // A shared handle can be shut down, twice.
    up.shutdown().await;
    up.shutdown().await;
}
