//! The uploader against receivers that misbehave, on real loopback sockets: one that accepts
//! and never answers, one that reads one byte a second, one that closes mid-body. Each attempt
//! is bounded by the request timeout and retried, and none holds up the other uploads. And an
//! HTTPS receiver whose certificate comes from a private CA (`[upload] ca_file`).
//!
//! No timing assertions: the tests wait for states (with generous limits) and count attempts.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use callrec::spool::{NewRecording, Spool, SpoolRecord, SpoolState, UploadMethod, UploadTarget};
use callrec::upload::{UploadConfig, Uploader};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn config() -> UploadConfig {
    UploadConfig {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        give_up_after: Duration::from_secs(600),
        concurrency: 2,
        request_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        max_redirects: 3,
        keep_after_upload: false,
        ca_file: None,
    }
}

fn finished(spool: &Spool, id: &str, url: String, body: &[u8]) {
    let e = spool
        .create(NewRecording {
            id: id.to_owned(),
            file_name: format!("call_recording_{id}.wav"),
            content_type: "audio/wav".to_owned(),
            target: UploadTarget {
                method: UploadMethod::Put,
                url,
            },
            metadata: json!({"call_id": id}),
        })
        .expect("create");
    std::fs::write(&e.audio_path, body).expect("audio");
    spool.finish(id, 1000).expect("finish");
}

/// Polls the sidecar until `done` holds (at most 60 s, a hang guard, not a timing check).
async fn wait_for(spool: &Spool, id: &str, done: impl Fn(&SpoolRecord) -> bool) -> SpoolRecord {
    for _ in 0..6000 {
        let r = spool.get(id).expect("sidecar");
        if done(&r) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "timed out; last state {:?}",
        spool.get(id).expect("sidecar")
    );
}

/// Reads a request's head (up to the blank line); returns its Content-Length.
async fn read_head(s: &mut TcpStream) -> Option<usize> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).await.ok()? == 0 {
            return None;
        }
        head.push(b[0]);
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    text.lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
}

/// A receiver that behaves: reads the whole body, answers 201.
async fn good_receiver() -> (SocketAddr, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let stored = Arc::new(AtomicU64::new(0));
    let count = stored.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let Some(len) = read_head(&mut s).await else {
                    return;
                };
                let mut body = vec![0u8; len];
                if s.read_exact(&mut body).await.is_ok() {
                    count.fetch_add(1, Ordering::Relaxed);
                    let _ = s
                        .write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n")
                        .await;
                }
            });
        }
    });
    (addr, stored)
}

/// A receiver that accepts connections, reads the request, and never answers.
async fn silent_receiver() -> (SocketAddr, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let accepted = Arc::new(AtomicU64::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let mut sink = vec![0u8; 65536];
                while let Ok(n) = s.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// A receiver that reads one byte a second and never finishes.
async fn slow_receiver() -> (SocketAddr, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let accepted = Arc::new(AtomicU64::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let mut b = [0u8; 1];
                while let Ok(1) = s.read(&mut b).await {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        }
    });
    (addr, accepted)
}

/// A receiver whose first connection closes after part of the body; later ones behave.
async fn closing_receiver() -> (SocketAddr, Arc<AtomicU64>, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let accepted = Arc::new(AtomicU64::new(0));
    let stored = Arc::new(AtomicU64::new(0));
    let (acc, sto) = (accepted.clone(), stored.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let n = acc.fetch_add(1, Ordering::Relaxed);
            let sto = sto.clone();
            tokio::spawn(async move {
                let Some(len) = read_head(&mut s).await else {
                    return;
                };
                if n == 0 {
                    let mut part = vec![0u8; len / 2];
                    let _ = s.read_exact(&mut part).await;
                    // Close mid-body without an answer.
                    drop(s);
                    return;
                }
                let mut body = vec![0u8; len];
                if s.read_exact(&mut body).await.is_ok() {
                    sto.fetch_add(1, Ordering::Relaxed);
                    let _ = s
                        .write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n")
                        .await;
                }
            });
        }
    });
    (addr, accepted, stored)
}

/// Checks that a stuck receiver's recording is retried (attempts grow, error kept) while the
/// good receiver's recordings, queued after it, are all stored.
async fn stuck_receiver_does_not_hold_up_others(stuck: SocketAddr, body: &[u8]) {
    let tmp = tempfile::tempdir().expect("dir");
    let spool = Arc::new(Spool::open(tmp.path(), 0).expect("spool"));
    let (good, stored) = good_receiver().await;
    finished(&spool, "stuck", format!("http://{stuck}/stuck.wav"), body);
    for i in 0..4 {
        finished(
            &spool,
            &format!("ok{i}"),
            format!("http://{good}/ok{i}.wav"),
            b"RIFF",
        );
    }
    let up = Uploader::spawn(spool.clone(), config()).expect("uploader");
    up.enqueue("stuck");
    for i in 0..4 {
        up.enqueue(format!("ok{i}"));
    }
    for i in 0..4 {
        wait_for(&spool, &format!("ok{i}"), |r| r.state == SpoolState::Stored).await;
    }
    assert_eq!(stored.load(Ordering::Relaxed), 4);
    // The stuck one was cut off by the timeout and is retried.
    let r = wait_for(&spool, "stuck", |r| {
        r.attempts >= 2 && r.last_error.is_some()
    })
    .await;
    assert_ne!(r.state, SpoolState::Stored);
    assert_ne!(
        r.state,
        SpoolState::Failed,
        "a timeout is retried, not given up"
    );
    up.shutdown().await;
}

#[tokio::test]
async fn a_receiver_that_accepts_and_never_answers_is_timed_out_and_retried() {
    let (addr, accepted) = silent_receiver().await;
    stuck_receiver_does_not_hold_up_others(addr, b"RIFFdata").await;
    assert!(accepted.load(Ordering::Relaxed) >= 2);
}

#[tokio::test]
async fn a_receiver_that_reads_one_byte_a_second_is_timed_out_and_retried() {
    let (addr, accepted) = slow_receiver().await;
    // Larger than the loopback socket buffers, so the sender really waits on the reader.
    let body = vec![7u8; 16 * 1024 * 1024];
    stuck_receiver_does_not_hold_up_others(addr, &body).await;
    assert!(accepted.load(Ordering::Relaxed) >= 2);
}

#[tokio::test]
async fn a_receiver_that_closes_mid_body_gets_the_recording_on_a_retry() {
    let tmp = tempfile::tempdir().expect("dir");
    let spool = Arc::new(Spool::open(tmp.path(), 0).expect("spool"));
    let (addr, accepted, stored) = closing_receiver().await;
    let body = vec![3u8; 4 * 1024 * 1024];
    finished(&spool, "c1", format!("http://{addr}/c1.wav"), &body);
    let up = Uploader::spawn(spool.clone(), config()).expect("uploader");
    up.enqueue("c1");
    let r = wait_for(&spool, "c1", |r| r.state == SpoolState::Stored).await;
    assert!(r.attempts >= 2, "stored on a retry: {r:?}");
    assert!(accepted.load(Ordering::Relaxed) >= 2);
    assert_eq!(stored.load(Ordering::Relaxed), 1);
    up.shutdown().await;
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made with openssl in `dir`.
fn private_ca(dir: &Path) -> bool {
    let run = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=callrec test CA",
    ]) && run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]) && run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ])
}

/// An HTTPS receiver (the good one behind TLS) with `server.pem`/`server.key` from `dir`.
async fn tls_receiver(dir: &Path) -> (SocketAddr, Arc<AtomicU64>) {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .expect("server.pem")
        .map(|c| c.expect("cert"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).expect("server.key");
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let tls = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let stored = Arc::new(AtomicU64::new(0));
    let count = stored.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let (acceptor, count) = (acceptor.clone(), count.clone());
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(s).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match s.read(&mut b).await {
                        Ok(1) => head.push(b[0]),
                        _ => return,
                    }
                }
                let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                let len: usize = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; len];
                if s.read_exact(&mut body).await.is_ok() {
                    count.fetch_add(1, Ordering::Relaxed);
                    let _ = s
                        .write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    let _ = s.shutdown().await;
                }
            });
        }
    });
    (addr, stored)
}

#[tokio::test]
async fn an_https_receiver_with_a_private_ca_is_trusted_only_with_ca_file() {
    let tmp = tempfile::tempdir().expect("dir");
    assert!(private_ca(tmp.path()), "openssl made the test CA");
    let (addr, stored) = tls_receiver(tmp.path()).await;

    // Without ca_file the certificate is not trusted: the attempt fails and is retried.
    let spool_dir = tmp.path().join("spool-untrusted");
    let spool = Arc::new(Spool::open(&spool_dir, 0).expect("spool"));
    finished(
        &spool,
        "t0",
        format!("https://127.0.0.1:{}/t0.wav", addr.port()),
        b"RIFF",
    );
    let up = Uploader::spawn(spool.clone(), config()).expect("uploader");
    up.enqueue("t0");
    let r = wait_for(&spool, "t0", |r| r.last_error.is_some()).await;
    assert_ne!(r.state, SpoolState::Stored);
    up.shutdown().await;
    assert_eq!(stored.load(Ordering::Relaxed), 0);

    // With ca_file it is stored.
    let spool = Arc::new(Spool::open(tmp.path().join("spool"), 0).expect("spool"));
    finished(
        &spool,
        "t1",
        format!("https://127.0.0.1:{}/t1.wav", addr.port()),
        b"RIFFdata",
    );
    let cfg = UploadConfig {
        ca_file: Some(tmp.path().join("ca.pem")),
        ..config()
    };
    let up = Uploader::spawn(spool.clone(), cfg).expect("uploader");
    up.enqueue("t1");
    let r = wait_for(&spool, "t1", |r| r.state == SpoolState::Stored).await;
    assert_eq!(r.attempts, 1);
    assert_eq!(stored.load(Ordering::Relaxed), 1);
    up.shutdown().await;
}

#[test]
fn a_ca_file_without_certificates_is_refused_naming_the_key() {
    let tmp = tempfile::tempdir().expect("dir");
    let ca = tmp.path().join("empty.pem");
    std::fs::write(&ca, "not a certificate\n").expect("write");
    let text = format!("[upload]\nca_file = {:?}\n", ca.display().to_string());
    let err = callrec::config::Config::from_toml_str(&text)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("upload.ca_file"), "{err}");
    assert!(err.contains("empty.pem"), "{err}");
}
