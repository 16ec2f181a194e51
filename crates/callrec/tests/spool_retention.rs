//! Recordings kept locally (no `url`: state `local`, never uploaded or retried) and retention
//! (`keep_local_days`, `keep_failed_days`, `keep_uploaded_days`).

use std::sync::Arc;
use std::time::Duration;

use callrec::spool::{NewRecording, Retention, Spool, SpoolState, UploadMethod, UploadTarget};
use callrec::upload::{UploadConfig, Uploader};
use serde_json::json;

fn recording(spool: &Spool, id: &str, url: &str) -> std::path::PathBuf {
    let e = spool
        .create(NewRecording {
            id: id.to_owned(),
            file_name: format!("call_recording_{id}.wav"),
            content_type: "audio/wav".to_owned(),
            target: UploadTarget {
                method: UploadMethod::Put,
                url: url.to_owned(),
            },
            metadata: json!({"call_id": id}),
        })
        .expect("create");
    std::fs::write(&e.audio_path, b"RIFFdata").expect("audio");
    e.audio_path
}

const DAY: u64 = 86_400;

#[test]
fn a_recording_without_url_is_kept_local_and_never_pending_or_recovered() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = Spool::open(dir.path(), 0).expect("spool");
    let audio = recording(&spool, "l1", "");
    let r = spool.keep_local("l1", 2500).expect("local");
    assert_eq!(r.state, SpoolState::Local);
    assert_eq!(r.duration_ms, Some(2500));
    let on_disk: serde_json::Value =
        callrec::spool::parse_sidecar(&std::fs::read(dir.path().join("l1.json")).expect("read"))
            .expect("json");
    assert_eq!(on_disk["state"], "local");
    assert!(spool.pending().expect("pending").is_empty());
    let ready = spool.recover(&|_| Ok(())).expect("recover");
    assert!(
        ready.is_empty(),
        "a local recording is not queued: {ready:?}"
    );
    assert!(audio.exists(), "the audio stays");
    // Not uploadable later either.
    assert!(spool.begin_upload("l1").is_err());
}

#[tokio::test]
async fn a_finished_entry_without_url_handed_to_the_uploader_becomes_local_without_an_attempt() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = Arc::new(Spool::open(dir.path(), 0).expect("spool"));
    recording(&spool, "legacy", "");
    spool.finish("legacy", 1000).expect("finish");
    let up = Uploader::spawn(spool.clone(), UploadConfig::default()).expect("uploader");
    up.enqueue("legacy");
    let mut state = SpoolState::Finished;
    for _ in 0..500 {
        state = spool.get("legacy").expect("get").state;
        if state != SpoolState::Finished {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(state, SpoolState::Local);
    assert_eq!(up.stats().attempts, 0, "no HTTP attempt");
    assert_eq!(up.stats().failed, 0, "not failed");
    up.shutdown().await;
}

#[test]
fn pruning_deletes_done_recordings_past_their_retention_and_nothing_else() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = Spool::open(dir.path(), 0).expect("spool");
    let local = recording(&spool, "local", "");
    spool.keep_local("local", 1000).expect("local");
    let failed = recording(&spool, "failed", "http://127.0.0.1:9/x");
    spool.finish("failed", 1000).expect("finish");
    spool
        .mark_failed("failed", "gave up".into())
        .expect("failed");
    let stored = recording(&spool, "stored", "http://127.0.0.1:9/x");
    spool.finish("stored", 1000).expect("finish");
    spool.begin_upload("stored").expect("begin");
    spool.mark_stored("stored", true).expect("stored");
    let waiting = recording(&spool, "waiting", "http://127.0.0.1:9/x");
    spool.finish("waiting", 1000).expect("finish");
    let live = recording(&spool, "live", "http://127.0.0.1:9/x");

    let keep = Retention {
        local: Some(Duration::from_secs(30 * DAY)),
        failed: Some(Duration::from_secs(10 * DAY)),
        done: Some(Duration::from_secs(7 * DAY)),
    };
    let now = callrec::spool::unix_now();
    assert_eq!(spool.prune(now, &keep).expect("prune"), 0, "all recent");
    // Eight days on: only the uploaded one's sidecar (and kept audio) goes.
    assert_eq!(spool.prune(now + 8 * DAY, &keep).expect("prune"), 1);
    assert!(!stored.exists());
    assert!(!dir.path().join("stored.json").exists());
    // Eleven days: the failed one too; thirty-one: the local one.
    assert_eq!(spool.prune(now + 11 * DAY, &keep).expect("prune"), 1);
    assert!(!failed.exists());
    assert_eq!(spool.prune(now + 31 * DAY, &keep).expect("prune"), 1);
    assert!(!local.exists());
    assert!(!dir.path().join("local.json").exists());
    // Waiting for upload and still recording: never pruned.
    assert_eq!(spool.prune(now + 1000 * DAY, &keep).expect("prune"), 0);
    assert!(waiting.exists() && live.exists());
    // No limit: kept forever.
    let forever = Retention::default();
    let again = recording(&spool, "again", "");
    spool.keep_local("again", 1).expect("local");
    assert_eq!(spool.prune(now + 1000 * DAY, &forever).expect("prune"), 0);
    assert!(again.exists());
}

#[test]
fn below_the_minimum_free_space_new_recordings_are_refused_and_counted() {
    let dir = tempfile::tempdir().expect("dir");
    // Opened with enough space; the disk then "fills" (a minimum no disk can meet).
    let spool = Spool::open(dir.path(), 0)
        .expect("spool")
        .with_min_free_bytes(u64::MAX);
    let err = spool
        .create(NewRecording {
            id: "r1".to_owned(),
            file_name: "call_recording_r1.wav".to_owned(),
            content_type: "audio/wav".to_owned(),
            target: UploadTarget {
                method: UploadMethod::Put,
                url: String::new(),
            },
            metadata: json!({}),
        })
        .expect_err("refused");
    assert!(err.to_string().contains("recording.min_free_mb"), "{err}");
    assert_eq!(spool.refused_for_space(), 1);
    assert!(spool.list().expect("list").is_empty(), "nothing written");
}
