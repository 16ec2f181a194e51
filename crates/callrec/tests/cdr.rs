//! CDR log: one JSON object per line, appended.

use callrec::cdr::CdrWriter;
use serde_json::json;

#[tokio::test]
async fn records_are_appended_one_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/cdrs.jsonl");

    let (sink, writer) = CdrWriter::spawn(&path).await.unwrap();
    for i in 0..3 {
        assert!(sink.write(json!({"call_id": format!("c{i}"), "duration_s": i})));
    }
    assert_eq!(sink.dropped(), 0);
    drop(sink);
    let stats = writer.finish().await;
    assert_eq!((stats.written, stats.dropped), (3, 0));

    // A second run appends instead of truncating.
    let (sink, writer) = CdrWriter::spawn(&path).await.unwrap();
    assert!(sink.write(json!({"call_id": "c3", "text": "line\nbreak"})));
    drop(sink);
    writer.finish().await;

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["call_id"], "c0");
    assert_eq!(lines[2]["duration_s"], 2);
    assert_eq!(lines[3]["text"], "line\nbreak");
}

#[tokio::test]
async fn writing_after_the_writer_stopped_is_counted_as_dropped_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, writer) = CdrWriter::spawn(&dir.path().join("cdrs.jsonl"))
        .await
        .unwrap();
    writer_abort(writer);
    // Wait (bounded) until the channel reports closed.
    let mut dropped = false;
    for _ in 0..200 {
        if !sink.write(json!({"x": 1})) {
            dropped = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(dropped);
    assert!(sink.dropped() >= 1);
}

fn writer_abort(writer: callrec::cdr::CdrWriterHandle) {
    writer.abort();
}

#[tokio::test]
async fn an_unopenable_path_is_reported_at_spawn() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let err = CdrWriter::spawn(&file.join("cdrs.jsonl"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cdrs.jsonl"), "{err}");
}

#[tokio::test]
async fn a_burst_far_larger_than_any_queue_is_written_whole_without_a_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdrs.jsonl");
    let (sink, writer) = CdrWriter::spawn(&path).await.unwrap();
    // 50 000 hang-ups at once (the old queue held 4096): none waits, none is dropped.
    for i in 0..50_000u32 {
        assert!(sink.write(json!({"call_id": format!("burst-{i}"), "n": i})));
    }
    assert_eq!(sink.dropped(), 0);
    drop(sink);
    let stats = writer.finish().await;
    assert_eq!((stats.written, stats.dropped), (50_000, 0));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut n = 0u32;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("whole JSON lines");
        assert_eq!(v["n"], n, "in order, each once");
        n += 1;
    }
    assert_eq!(n, 50_000);
}
