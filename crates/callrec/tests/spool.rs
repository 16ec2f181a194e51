//! Spool: atomic state transitions, crash recovery, start-up checks.

use std::path::Path;
use std::sync::Mutex;

use callrec::spool::{
    parse_sidecar, NewRecording, Spool, SpoolError, SpoolState, UploadMethod, UploadTarget,
    COMPACT_AT,
};
use serde_json::json;

fn new_recording(id: &str) -> NewRecording {
    NewRecording {
        id: id.to_owned(),
        file_name: format!("call_recording_{id}.wav"),
        content_type: "audio/wav".to_owned(),
        target: UploadTarget {
            method: UploadMethod::Put,
            url: format!("http://127.0.0.1:9/r/call_recording_{id}.wav?call_id={id}"),
        },
        metadata: json!({"call_id": id, "format": "wav"}),
    }
}

/// The sidecar's current record as stored on disk (not through the API).
fn on_disk(dir: &Path, id: &str) -> serde_json::Value {
    parse_sidecar(&std::fs::read(dir.join(format!("{id}.json"))).unwrap()).unwrap()
}

/// The sidecar's lines (one record per state written).
fn lines(dir: &Path, id: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(format!("{id}.json")))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn no_temp_files(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .unwrap()
        .all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".tmp"))
}

#[test]
fn an_entry_goes_from_recording_to_stored_and_each_state_a_restart_needs_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 0).unwrap();
    let entry = spool.create(new_recording("r1")).unwrap();
    assert_eq!(entry.audio_path, dir.path().join("r1.wav"));
    assert_eq!(on_disk(dir.path(), "r1")["state"], "recording");
    std::fs::write(&entry.audio_path, b"RIFF....").unwrap();

    spool.finish("r1", 1234).unwrap();
    let d = on_disk(dir.path(), "r1");
    assert_eq!(d["state"], "finished");
    assert_eq!(d["duration_ms"], 1234);
    assert_eq!(d["metadata"]["duration_ms"], 1234);
    assert_eq!(d["target"]["method"], "put");
    assert_eq!(spool.pending().unwrap().len(), 1);

    let r = spool.begin_upload("r1").unwrap();
    assert_eq!(r.attempts, 1);
    // The attempt is held in memory (a crash mid-upload uploads again): the API sees it, the
    // sidecar still says `finished`.
    assert_eq!(spool.get("r1").unwrap().state, SpoolState::Uploading);
    assert_eq!(spool.get("r1").unwrap().attempts, 1);
    let d = on_disk(dir.path(), "r1");
    assert_eq!(
        (d["state"].as_str(), d["attempts"].as_u64()),
        (Some("finished"), Some(0))
    );
    assert!(spool.pending().unwrap().is_empty());
    assert_eq!(spool.list().unwrap()[0].state, SpoolState::Uploading);

    spool
        .mark_retry("r1", "HTTP status 500".into(), 42)
        .unwrap();
    let d = on_disk(dir.path(), "r1");
    assert_eq!(d["state"], "finished");
    assert_eq!(d["last_error"], "HTTP status 500");
    assert_eq!(d["next_attempt_at"], 42);
    assert_eq!(
        d["attempts"], 1,
        "a failed attempt is written with its count"
    );
    assert!(d["first_attempt_at_ms"].as_u64().is_some());

    spool.begin_upload("r1").unwrap();
    spool.mark_stored("r1", false).unwrap();
    let d = on_disk(dir.path(), "r1");
    assert_eq!(d["state"], "stored");
    assert_eq!(d["attempts"], 2);
    assert!(!entry.audio_path.exists(), "audio deleted after upload");
    assert!(no_temp_files(dir.path()));
}

#[test]
fn transitions_out_of_order_are_refused_and_leave_the_state_alone() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 0).unwrap();
    spool.create(new_recording("r2")).unwrap();
    let err = spool.begin_upload("r2").unwrap_err();
    assert!(matches!(
        err,
        SpoolError::BadTransition {
            from: SpoolState::Recording,
            to: SpoolState::Uploading,
            ..
        }
    ));
    assert!(matches!(
        spool.mark_stored("r2", false),
        Err(SpoolError::BadTransition { .. })
    ));
    spool.finish("r2", 10).unwrap();
    assert!(matches!(
        spool.finish("r2", 10),
        Err(SpoolError::BadTransition { .. })
    ));
    assert!(matches!(
        spool.discard("r2"),
        Err(SpoolError::BadTransition { .. })
    ));
    assert_eq!(spool.get("r2").unwrap().state, SpoolState::Finished);
    assert!(matches!(
        spool.create(new_recording("r2")),
        Err(SpoolError::AlreadyExists(_))
    ));
    assert!(matches!(spool.get("nope"), Err(SpoolError::NotFound(_))));
}

#[test]
fn ids_that_could_escape_the_spool_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 0).unwrap();
    for id in ["../x", "a/b", "", ".hidden", "a\0b"] {
        assert!(
            matches!(
                spool.create(new_recording(id)),
                Err(SpoolError::InvalidId(_))
            ),
            "{id:?}"
        );
    }
}

#[test]
fn a_discarded_recording_loses_its_file_and_keeps_its_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 0).unwrap();
    let e = spool.create(new_recording("short")).unwrap();
    std::fs::write(&e.audio_path, b"x").unwrap();
    spool.discard("short").unwrap();
    assert!(!e.audio_path.exists());
    assert_eq!(on_disk(dir.path(), "short")["state"], "discarded");
    assert!(spool.pending().unwrap().is_empty());
}

#[test]
fn recovery_repairs_unfinished_recordings_and_requeues_interrupted_uploads() {
    let dir = tempfile::tempdir().unwrap();
    {
        let spool = Spool::open(dir.path(), 0).unwrap();
        // Crashed mid-recording: a truncated file, sidecar still `recording`.
        let e = spool.create(new_recording("crashed")).unwrap();
        std::fs::write(&e.audio_path, b"RIFF\0\0\0\0WAVEtrunc").unwrap();
        // Crashed mid-upload (the attempt was only held in memory).
        let u = spool.create(new_recording("uploading")).unwrap();
        std::fs::write(&u.audio_path, b"data").unwrap();
        spool.finish("uploading", 5).unwrap();
        spool.begin_upload("uploading").unwrap();
        // Crashed mid-upload under a version that wrote `uploading` to the sidecar.
        let o = spool.create(new_recording("old-uploading")).unwrap();
        std::fs::write(&o.audio_path, b"data").unwrap();
        spool.finish("old-uploading", 5).unwrap();
        let mut old = on_disk(dir.path(), "old-uploading");
        old["state"] = json!("uploading");
        old["attempts"] = json!(1);
        std::fs::write(
            dir.path().join("old-uploading.json"),
            serde_json::to_vec(&old).unwrap(),
        )
        .unwrap();
        // Crashed before the recorder created the file.
        spool.create(new_recording("nofile")).unwrap();
        // Already stored: left alone.
        let s = spool.create(new_recording("stored")).unwrap();
        std::fs::write(&s.audio_path, b"data").unwrap();
        spool.finish("stored", 5).unwrap();
        spool.begin_upload("stored").unwrap();
        spool.mark_stored("stored", false).unwrap();
        // A torn sidecar write.
        std::fs::write(dir.path().join("torn.json.tmp"), b"{\"id\":").unwrap();
    }

    let spool = Spool::open(dir.path(), 0).unwrap();
    let repaired = Mutex::new(Vec::new());
    let hook = |p: &Path| {
        repaired.lock().unwrap().push(p.to_owned());
        // A stand-in for the WAV header repair: mark the file as fixed.
        let mut bytes = std::fs::read(p)?;
        bytes.extend_from_slice(b"-repaired");
        std::fs::write(p, bytes)
    };
    let mut ids = spool.recover(&hook).unwrap();
    ids.sort();
    assert_eq!(ids, ["crashed", "old-uploading", "uploading"]);
    assert_eq!(*repaired.lock().unwrap(), [dir.path().join("crashed.wav")]);
    assert!(std::fs::read(dir.path().join("crashed.wav"))
        .unwrap()
        .ends_with(b"-repaired"));
    assert_eq!(on_disk(dir.path(), "crashed")["state"], "finished");
    assert_eq!(on_disk(dir.path(), "uploading")["state"], "finished");
    assert_eq!(on_disk(dir.path(), "old-uploading")["state"], "finished");
    assert_eq!(on_disk(dir.path(), "old-uploading")["attempts"], 1);
    let nofile = on_disk(dir.path(), "nofile");
    assert_eq!(nofile["state"], "failed");
    assert!(nofile["last_error"].as_str().unwrap().contains("missing"));
    assert_eq!(on_disk(dir.path(), "stored")["state"], "stored");
    assert!(no_temp_files(dir.path()));
    let pending: Vec<_> = spool.pending().unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(pending.len(), 3);
}

/// A finished entry with some audio, in spool `spool`.
fn finished(spool: &Spool, id: &str) -> std::path::PathBuf {
    let e = spool.create(new_recording(id)).unwrap();
    std::fs::write(&e.audio_path, b"RIFF-audio").unwrap();
    spool.finish(id, 1000).unwrap();
    e.audio_path
}

#[test]
fn a_crash_mid_upload_recovers_to_finished_and_the_attempt_in_flight_is_not_counted() {
    let dir = tempfile::tempdir().unwrap();
    let audio = {
        let spool = Spool::open(dir.path(), 0).unwrap();
        let audio = finished(&spool, "first");
        let r = spool.begin_upload("first").unwrap();
        assert!(r.first_attempt_at_ms.is_some());
        audio
        // killed here, mid-attempt
    };
    let spool = Spool::open(dir.path(), 0).unwrap();
    assert_eq!(spool.get("first").unwrap().state, SpoolState::Finished);
    let ids = spool.recover(&|_: &Path| Ok(())).unwrap();
    assert_eq!(ids, ["first"]);
    let r = spool.get("first").unwrap();
    assert_eq!(r.state, SpoolState::Finished);
    assert_eq!(r.attempts, 0);
    // The window starts again at the first attempt after the restart.
    assert_eq!(r.first_attempt_at_ms, None);
    assert!(audio.exists());
    // ... which counts as the first.
    assert_eq!(spool.begin_upload("first").unwrap().attempts, 1);
}

#[test]
fn a_crash_after_failed_attempts_keeps_their_count_and_the_give_up_window() {
    let dir = tempfile::tempdir().unwrap();
    let first_at = {
        let spool = Spool::open(dir.path(), 0).unwrap();
        finished(&spool, "flaky");
        let first_at = spool.begin_upload("flaky").unwrap().first_attempt_at_ms;
        spool
            .mark_retry("flaky", "HTTP status 503".into(), 7)
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = spool.begin_upload("flaky").unwrap();
        assert_eq!(second.attempts, 2);
        assert_eq!(
            second.first_attempt_at_ms, first_at,
            "the window starts once"
        );
        first_at
        // killed during the second attempt
    };
    let spool = Spool::open(dir.path(), 0).unwrap();
    assert_eq!(spool.recover(&|_: &Path| Ok(())).unwrap(), ["flaky"]);
    let r = spool.get("flaky").unwrap();
    assert_eq!(r.state, SpoolState::Finished);
    assert_eq!(r.attempts, 1);
    assert_eq!(r.first_attempt_at_ms, first_at);
    assert_eq!(r.last_error.as_deref(), Some("HTTP status 503"));
    assert_eq!(r.next_attempt_at, 7);
    let again = spool.begin_upload("flaky").unwrap();
    assert_eq!((again.attempts, again.first_attempt_at_ms), (2, first_at));
}

#[test]
fn a_crash_right_after_the_upload_leaves_it_stored_and_nothing_to_recover() {
    let dir = tempfile::tempdir().unwrap();
    let audio = {
        let spool = Spool::open(dir.path(), 0).unwrap();
        let audio = finished(&spool, "done");
        spool.begin_upload("done").unwrap();
        spool.mark_stored("done", false).unwrap();
        audio
    };
    let spool = Spool::open(dir.path(), 0).unwrap();
    assert!(spool.recover(&|_: &Path| Ok(())).unwrap().is_empty());
    let d = on_disk(dir.path(), "done");
    assert_eq!(
        (d["state"].as_str(), d["attempts"].as_u64()),
        (Some("stored"), Some(1))
    );
    assert!(!audio.exists());
    assert!(no_temp_files(dir.path()));
}

#[test]
fn changes_to_a_recording_entry_reach_the_disk_with_its_end_and_a_crash_before_drops_them() {
    let dir = tempfile::tempdir().unwrap();
    let new_target = UploadTarget {
        method: UploadMethod::Post,
        url: "http://127.0.0.1:9/r/x.wav?duration_ms=2000".to_owned(),
    };
    {
        let spool = Spool::open(dir.path(), 0).unwrap();
        for id in ["ended", "cut"] {
            let e = spool.create(new_recording(id)).unwrap();
            std::fs::write(&e.audio_path, b"RIFF-audio").unwrap();
            // What the engine sets when the recording ends, before `finish`.
            spool
                .update(id, |r| {
                    r.target = new_target.clone();
                    r.metadata["origin"] = json!("callflow : x");
                    r.cut_short = Some("disk full".into());
                    Ok(())
                })
                .unwrap();
            let r = spool.get(id).unwrap();
            assert_eq!((r.state, &r.target), (SpoolState::Recording, &new_target));
            let d = on_disk(dir.path(), id);
            assert_eq!(d["state"], "recording");
            assert_eq!(
                d["target"]["method"], "put",
                "held until the recording ends"
            );
        }
        spool.finish("ended", 2000).unwrap();
        let d = on_disk(dir.path(), "ended");
        assert_eq!(d["state"], "finished");
        assert_eq!(d["target"]["method"], "post");
        assert_eq!(d["metadata"]["origin"], "callflow : x");
        assert_eq!(d["cut_short"], "disk full");
        // killed before "cut" finished
    }
    let spool = Spool::open(dir.path(), 0).unwrap();
    let mut ids = spool.recover(&|_: &Path| Ok(())).unwrap();
    ids.sort();
    assert_eq!(ids, ["cut", "ended"]);
    // "cut" is recovered like a recording cut off a moment earlier: from what `create` wrote.
    let cut = spool.get("cut").unwrap();
    assert_eq!(cut.state, SpoolState::Finished);
    assert_eq!(cut.target.method, UploadMethod::Put);
    assert_eq!(cut.last_error.as_deref(), Some("recovered after crash"));
    assert_eq!(spool.get("ended").unwrap().target, new_target);
}

#[test]
fn removing_an_entry_during_an_upload_forgets_the_attempt_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 0).unwrap();
    let audio = finished(&spool, "gone");
    spool.begin_upload("gone").unwrap();
    spool.remove("gone").unwrap();
    assert!(matches!(spool.get("gone"), Err(SpoolError::NotFound(_))));
    assert!(spool.list().unwrap().is_empty());
    assert!(!audio.exists());
    assert!(matches!(
        spool.mark_stored("gone", false),
        Err(SpoolError::NotFound(_))
    ));
}

#[test]
fn a_failing_repair_marks_the_entry_failed_and_keeps_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 0).unwrap();
    let e = spool.create(new_recording("bad")).unwrap();
    std::fs::write(&e.audio_path, b"junk").unwrap();
    let ids = spool
        .recover(&|_: &Path| Err(std::io::Error::other("not a WAV file")))
        .unwrap();
    assert!(ids.is_empty());
    let d = on_disk(dir.path(), "bad");
    assert_eq!(d["state"], "failed");
    assert!(d["last_error"].as_str().unwrap().contains("not a WAV file"));
    assert!(e.audio_path.exists());
}

#[test]
fn a_spool_that_cannot_be_created_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = Spool::open(file.join("spool"), 0).unwrap_err();
    assert!(matches!(err, SpoolError::NotWritable { .. }), "{err:?}");
    assert!(err.to_string().contains("a-file/spool"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_read_only_spool_directory_is_refused_at_open() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    // root ignores permission bits; the check is only meaningful for other users.
    let probe_allowed = std::fs::write(ro.join("p"), b"x").is_ok();
    let res = Spool::open(&ro, 0);
    if probe_allowed {
        assert!(res.is_ok());
    } else {
        assert!(matches!(res, Err(SpoolError::NotWritable { .. })));
    }
}

#[test]
fn too_little_free_space_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let err = Spool::open(dir.path(), u64::MAX).unwrap_err();
    assert!(
        matches!(
            err,
            SpoolError::InsufficientSpace {
                required: u64::MAX,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("min_free_mb"));
}

#[test]
fn finish_with_replaces_the_target_and_metadata_built_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 0).unwrap();
    spool.create(new_recording("fw")).unwrap();
    let target = UploadTarget {
        method: UploadMethod::Post,
        url: "http://127.0.0.1:9/r/x.wav?duration_ms=2500".to_owned(),
    };
    spool
        .finish_with(
            "fw",
            2500,
            target.clone(),
            json!({"call_id": "fw", "origin": "callflow : x"}),
        )
        .unwrap();
    let r = spool.get("fw").unwrap();
    assert_eq!(r.state, SpoolState::Finished);
    assert_eq!(r.target, target);
    assert_eq!(r.metadata["origin"], "callflow : x");
    assert_eq!(r.metadata["duration_ms"], 2500);
    assert_eq!(on_disk(dir.path(), "fw")["target"]["method"], "post");
}

#[test]
fn a_policy_upload_request_converts_to_a_spool_target() {
    let req = callrec_kazoo::recording::UploadRequest {
        method: callrec_kazoo::recording::Method::Post,
        url: "http://h/x.mp3?a=1".to_owned(),
        content_type: "audio/mpeg",
    };
    let t = UploadTarget::from(&req);
    assert_eq!(t.method, UploadMethod::Post);
    assert_eq!(t.url, "http://h/x.mp3?a=1");
}

#[test]
fn an_empty_mp3_cut_off_by_a_crash_is_recovered_as_silence_of_the_time_recorded() {
    let dir = tempfile::tempdir().unwrap();
    {
        let spool = Spool::open(dir.path(), 0).unwrap();
        let mut new = new_recording("mp3");
        new.file_name = "call_recording_mp3.mp3".to_owned();
        new.content_type = "audio/mpeg".to_owned();
        new.metadata =
            json!({"call_id": "mp3", "format": "mp3", "sample_rate": 8000, "channels": 2});
        let e = spool.create(new).unwrap();
        // The recorder had created its file and written no whole frame when the process died;
        // the recorders' heartbeat says it ran 3 s.
        std::fs::write(callrec_media::record::part_path(&e.audio_path), b"").unwrap();
        let alive =
            std::fs::File::create(dir.path().join(callrec_media::record::RECORDERS_ALIVE_FILE))
                .unwrap();
        alive
            .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(3))
            .unwrap();
    }
    let spool = Spool::open(dir.path(), 0).unwrap();
    let ids = spool.recover(&|_: &Path| Ok(())).unwrap();
    assert_eq!(ids, ["mp3"]);
    assert_eq!(on_disk(dir.path(), "mp3")["state"], "finished");
    let audio = dir.path().join("mp3.mp3");
    let found = callrec_media::record::repair_mp3(&audio).unwrap();
    assert_eq!((found.sample_rate, found.channels), (8000, 2));
    // 3 s of silence (plus the encoder's delay: well under a second)
    assert!((24_000..28_000).contains(&found.frames), "{found:?}");
    let ms =
        callrec::server::recovery::audio_duration_ms(&audio, callrec_kazoo::recording::Format::Mp3)
            .unwrap();
    assert!((3000..3500).contains(&ms), "{ms} ms");
}

#[test]
fn a_second_process_cannot_take_a_held_spool() {
    use callrec::spool::{SpoolError, SpoolLock};
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let held = SpoolLock::acquire(&spool_dir).expect("first holder");
    // flock is per open file: a second open of the lock file is refused as another process is.
    let err = SpoolLock::acquire(&spool_dir).expect_err("held");
    assert!(matches!(err, SpoolError::InUse { .. }), "{err}");
    assert!(err.to_string().contains("spool.dir"), "{err}");
    drop(held);
    SpoolLock::acquire(&spool_dir).expect("free again once released");
}

#[test]
fn each_state_written_is_one_line_appended_to_the_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 0).unwrap();
    let audio = finished(&spool, "log");
    spool.begin_upload("log").unwrap();
    spool
        .mark_retry("log", "HTTP status 500".into(), 9)
        .unwrap();
    spool.begin_upload("log").unwrap();
    spool.mark_stored("log", false).unwrap();
    let states: Vec<String> = lines(dir.path(), "log")
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["state"].as_str().unwrap().to_owned()
        })
        .collect();
    // `uploading` is held in memory; a failed attempt is written as `finished`.
    assert_eq!(states, ["recording", "finished", "finished", "stored"]);
    assert_eq!(on_disk(dir.path(), "log")["attempts"], 2);
    assert!(!audio.exists());
    assert!(no_temp_files(dir.path()));
}

#[test]
fn a_line_cut_off_by_a_crash_is_passed_over_and_the_next_state_starts_a_new_line() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = dir.path().join("torn.json");
    {
        let spool = Spool::open(dir.path(), 0).unwrap();
        finished(&spool, "torn");
        spool.begin_upload("torn").unwrap();
    }
    // Killed while `stored` was being appended: half a line (and, with delayed allocation, a
    // block of zeros) at the end.
    let mut bytes = std::fs::read(&sidecar).unwrap();
    bytes.extend_from_slice(b"{\"id\":\"torn\",\"state\":\"sto\0\0\0");
    std::fs::write(&sidecar, &bytes).unwrap();

    let spool = Spool::open(dir.path(), 0).unwrap();
    assert_eq!(spool.get("torn").unwrap().state, SpoolState::Finished);
    assert_eq!(spool.recover(&|_: &Path| Ok(())).unwrap(), ["torn"]);
    spool.begin_upload("torn").unwrap();
    spool.mark_stored("torn", false).unwrap();
    assert_eq!(spool.get("torn").unwrap().state, SpoolState::Stored);
    let l = lines(dir.path(), "torn");
    assert_eq!(
        l.len(),
        4,
        "recording, finished, the torn line, stored: {l:?}"
    );
    assert!(l[2].starts_with("{\"id\":\"torn\",\"state\":\"sto"));
    // The same spool opened again reads the same.
    let again = Spool::open(dir.path(), 0).unwrap();
    assert_eq!(again.get("torn").unwrap().state, SpoolState::Stored);
}

#[test]
fn a_create_cut_off_by_a_crash_is_removed_and_whole_sidecars_of_earlier_versions_are_read() {
    let dir = tempfile::tempdir().unwrap();
    {
        let spool = Spool::open(dir.path(), 0).unwrap();
        finished(&spool, "pretty");
        finished(&spool, "compact");
    }
    // Killed while the sidecar was being created: no whole line, no audio yet.
    std::fs::write(
        dir.path().join("halfmade.json"),
        b"{\"id\":\"halfmade\",\"fi",
    )
    .unwrap();
    // Written whole by an earlier version: pretty-printed, and compact without a newline.
    let pretty = on_disk(dir.path(), "pretty");
    std::fs::write(
        dir.path().join("pretty.json"),
        serde_json::to_vec_pretty(&pretty).unwrap(),
    )
    .unwrap();
    let compact = on_disk(dir.path(), "compact");
    std::fs::write(
        dir.path().join("compact.json"),
        serde_json::to_vec(&compact).unwrap(),
    )
    .unwrap();

    let spool = Spool::open(dir.path(), 0).unwrap();
    let mut ids = spool.recover(&|_: &Path| Ok(())).unwrap();
    ids.sort();
    assert_eq!(ids, ["compact", "pretty"]);
    assert!(!dir.path().join("halfmade.json").exists());
    // A state appended to a pretty-printed sidecar is read back.
    spool.begin_upload("pretty").unwrap();
    spool.mark_stored("pretty", false).unwrap();
    assert_eq!(on_disk(dir.path(), "pretty")["state"], "stored");
    let reopened = Spool::open(dir.path(), 0).unwrap();
    assert_eq!(reopened.get("pretty").unwrap().state, SpoolState::Stored);
    assert_eq!(reopened.get("compact").unwrap().state, SpoolState::Finished);
}

#[test]
fn a_sidecar_that_grows_past_its_limit_is_rewritten_with_its_current_record_alone() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 0).unwrap();
    finished(&spool, "retried");
    let path = dir.path().join("retried.json");
    let mut compacted = false;
    for attempt in 1..=200u64 {
        spool.begin_upload("retried").unwrap();
        spool
            .mark_retry("retried", format!("HTTP status 503 ({attempt})"), attempt)
            .unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(len <= COMPACT_AT, "attempt {attempt}: {len} bytes");
        compacted |= lines(dir.path(), "retried").len() == 1;
        let d = on_disk(dir.path(), "retried");
        assert_eq!(d["attempts"], attempt);
        assert_eq!(d["next_attempt_at"], attempt);
    }
    assert!(compacted, "the sidecar was never rewritten whole");
    assert!(no_temp_files(dir.path()));
    let reopened = Spool::open(dir.path(), 0).unwrap();
    assert_eq!(reopened.get("retried").unwrap().attempts, 200);
}
