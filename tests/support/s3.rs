//! A real S3-compatible server for the tests: `s3s-fs` (tests/run.sh cargo-installs it), serving
//! a directory on 127.0.0.1 with one bucket, the test's credentials, killed on drop; and the
//! test's own S3 client of it (`object_store`, the same library callrec uploads with).

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use super::net::{free_port, PHONES_IP};

/// The `s3s-fs` binary: on PATH, else where `cargo install` puts it.
pub fn s3s_fs_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("s3s-fs"))
            .find(|p| p.is_file())
    });
    let p = on_path.unwrap_or_else(|| {
        std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .unwrap_or_default()
            .join("bin/s3s-fs")
    });
    assert!(
        p.is_file(),
        "`s3s-fs` is not installed: the S3 tests need it (cargo install s3s-fs --version 0.14.1 \
         --locked --features binary; tests/run.sh installs it)"
    );
    p
}

/// A current-thread runtime for the test's S3 client calls.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The access key, secret and bucket a server is started with.
#[derive(Debug, Clone, Copy)]
pub struct S3Credentials {
    pub access_key: &'static str,
    pub secret: &'static str,
    pub bucket: &'static str,
}

/// s3s-fs on 127.0.0.1:`port` serving `root` (one directory per bucket); killed on drop, its
/// root and log removed.
pub struct S3Server {
    child: Child,
    root: PathBuf,
    log: PathBuf,
    pub port: u16,
    creds: S3Credentials,
}

impl S3Server {
    /// On a free port, serving a new temporary directory.
    pub fn start(creds: S3Credentials) -> S3Server {
        let root = tempfile::Builder::new()
            .prefix("callrec-s3.")
            .tempdir()
            .expect("s3 root")
            .keep();
        S3Server::start_at(&root, free_port(PHONES_IP), creds)
    }

    /// On `port`, serving `root` (a server restarted on the same port and directory finds the
    /// objects it had).
    pub fn start_at(root: &Path, port: u16, creds: S3Credentials) -> S3Server {
        fs::create_dir_all(root.join(creds.bucket)).expect("bucket directory");
        let log = root.with_extension("log");
        let out = fs::File::create(&log).expect("s3 log");
        let child = Command::new(s3s_fs_binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--access-key",
                creds.access_key,
                "--secret-key",
                creds.secret,
            ])
            .arg(root)
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("fd"))
            .stderr(out)
            .spawn()
            .expect("spawn s3s-fs");
        let mut s = S3Server {
            child,
            root: root.to_path_buf(),
            log,
            port,
            creds,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((PHONES_IP, port)).is_err() {
            if let Ok(Some(status)) = s.child.try_wait() {
                panic!(
                    "s3s-fs exited ({status}): {}",
                    fs::read_to_string(&s.log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "s3s-fs did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An S3 client of this server's bucket (the test's own view of it).
    pub fn client(&self) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(self.creds.bucket)
            .with_access_key_id(self.creds.access_key)
            .with_secret_access_key(self.creds.secret)
            .build()
            .expect("s3 client")
    }

    /// The keys in the bucket, sorted (as S3 lists them).
    pub fn keys(&self) -> Vec<String> {
        let store = self.client();
        rt().block_on(async {
            use futures_util::StreamExt;
            let mut keys = Vec::new();
            let mut list = store.list(None);
            while let Some(item) = list.next().await {
                keys.push(item.expect("list").location.to_string());
            }
            keys.sort();
            keys
        })
    }

    /// One object's bytes.
    pub fn object(&self, key: &str) -> Vec<u8> {
        let store = self.client();
        rt().block_on(async {
            let got = store
                .get(&ObjectPath::parse(key).expect("key"))
                .await
                .expect("object");
            got.bytes().await.expect("bytes").to_vec()
        })
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.root);
        let _ = fs::remove_file(&self.log);
    }
}
