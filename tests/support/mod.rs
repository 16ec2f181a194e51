//! Black-box test harness shared by the end-to-end tests in `tests/*.rs`: it runs the real
//! `callrec` binary on a generated copy of the example configuration, SIPp as phones and
//! carriers, and nginx as the recording receiver, all on loopback, bounded in time, and cleaned
//! up on drop. Missing tools make a test fail with a clear message (CI installs them through
//! `tests/run.sh`); they never make it pass silently.
//!
//! Each test binary compiles this module, and not every binary uses every helper.
#![allow(dead_code)]

pub mod audio;
pub mod browser;
pub mod callrec;
pub mod cdr;
pub mod http;
pub mod kamailio;
pub mod net;
pub mod nginx;
pub mod phones;
pub mod s3;
pub mod sipp;

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

/// Repository root (the workspace), from the callrec crate's manifest directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// The SIPp scenarios directory.
pub fn scenarios() -> PathBuf {
    repo_root().join("sipp-scenarios")
}

/// End-to-end tests of one binary run one at a time: they start several processes each, the
/// machine is small, and timing checks (pcap length within 1 %) need a quiet machine.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Fails the test with a clear message when an external tool is missing.
pub fn require_tool(name: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{name}` is not installed: the end-to-end tests need it (Debian: apt-get install \
         {package}; tests/run.sh installs it)"
    );
}
