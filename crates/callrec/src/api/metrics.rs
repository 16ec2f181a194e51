//! `GET /metrics` in Prometheus text format: what the `stats` log line says, plus calls and
//! recordings in progress, the spool backlog and API requests by status. Counters only: no
//! numbers, addresses or ids.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::Response;

use super::ApiState;
use crate::cdr::CdrSink;
use crate::media::MediaDriver;
use crate::store_writer::StoreWriter;
use crate::upload::UploaderHandle;

/// Gauges the server loop refreshes, and the sources of the counters.
#[derive(Default)]
pub struct Metrics {
    /// Calls in the B2BUA.
    pub calls: AtomicU64,
    /// Calls admitted since start.
    pub calls_started: AtomicU64,
    /// Calls with media open.
    pub media_calls: AtomicU64,
    /// Recordings started and not yet finished.
    pub recordings: AtomicU64,
    /// Relay port pairs in use.
    pub ports_in_use: AtomicU64,
    /// Requests the source guard dropped for its rate limit (since start).
    pub guard_rate_limited: AtomicU64,
    /// Requests the source guard dropped because their source was blocked.
    pub guard_blocked_requests: AtomicU64,
    /// Times the source guard blocked a source (password guessing).
    pub guard_blocks: AtomicU64,
    /// Recordings refused (their spool entry was not written), any cause.
    pub recordings_refused: AtomicU64,
    /// Recordings refused because the spool had less than `min_free_mb` free.
    pub recordings_refused_disk: AtomicU64,
    /// Recordings cut short by a failed write (a full disk).
    pub recordings_cut_short: AtomicU64,
    api: Mutex<BTreeMap<u16, u64>>,
    sources: Mutex<Option<Sources>>,
    /// `[cluster] node_id`: a label on every line, and `callrec_node_info`.
    node_id: std::sync::OnceLock<Option<String>>,
    /// Calls whose recordings a crash cut off, found at this start.
    calls_lost: AtomicU64,
}

/// Where the other counters live.
pub struct Sources {
    /// Relay and recorder counters.
    pub media: MediaDriver,
    /// Upload counters.
    pub uploader: Arc<UploaderHandle>,
    /// CDR log counters.
    pub cdrs: CdrSink,
    /// Database writer counters.
    pub store: StoreWriter,
}

impl Metrics {
    /// Counts one API reply.
    pub fn count_request(&self, status: u16) {
        if let Ok(mut m) = self.api.lock() {
            *m.entry(status).or_default() += 1;
        }
    }

    /// Sets this node's name (labels every line) and the calls found lost at start-up.
    pub fn set_node(&self, node_id: Option<String>, calls_lost: u64) {
        let _ = self.node_id.set(node_id);
        self.calls_lost.store(calls_lost, Ordering::Relaxed);
    }

    /// Sets where the counters come from (once the server runs).
    pub fn set_sources(&self, sources: Sources) {
        if let Ok(mut s) = self.sources.lock() {
            *s = Some(sources);
        }
    }
}

fn line(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// Every sample line of `text` with `name="value"` as its first label (comments unchanged).
/// `value` is a node id (`[A-Za-z0-9._-]`): nothing to escape.
fn with_label(text: &str, name: &str, value: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for l in text.lines() {
        if l.starts_with('#') || l.is_empty() {
            out.push_str(l);
        } else if let Some(brace) = l.find('{').filter(|b| l.find(' ').is_none_or(|s| *b < s)) {
            out.push_str(&l[..=brace]);
            let _ = write!(out, "{name}=\"{value}\",");
            out.push_str(&l[brace + 1..]);
        } else if let Some((metric, rest)) = l.split_once(' ') {
            let _ = write!(out, "{metric}{{{name}=\"{value}\"}} {rest}");
        } else {
            out.push_str(l);
        }
        out.push('\n');
    }
    out
}

/// The page.
pub(super) async fn render(st: &ApiState) -> Response {
    let m = &st.metrics;
    let mut out = String::new();
    line(
        &mut out,
        "callrec_calls_in_progress",
        "gauge",
        "Calls in the B2BUA.",
        m.calls.load(Ordering::Relaxed),
    );
    line(
        &mut out,
        "callrec_calls_total",
        "counter",
        "Calls admitted since start.",
        m.calls_started.load(Ordering::Relaxed),
    );
    line(
        &mut out,
        "callrec_media_calls",
        "gauge",
        "Calls with relay sockets open.",
        m.media_calls.load(Ordering::Relaxed),
    );
    line(
        &mut out,
        "callrec_recordings_in_progress",
        "gauge",
        "Recordings started and not yet finished.",
        m.recordings.load(Ordering::Relaxed),
    );
    line(
        &mut out,
        "callrec_relay_port_pairs_in_use",
        "gauge",
        "Relay port pairs allocated.",
        m.ports_in_use.load(Ordering::Relaxed),
    );
    line(
        &mut out,
        "callrec_documents_change_seq",
        "gauge",
        "The store's change sequence the engine's documents reflect.",
        u64::try_from(st.docs.applied()).unwrap_or(0),
    );
    let _ = writeln!(out, "# HELP callrec_guard_dropped_total SIP requests the source guard dropped, by reason.\n# TYPE callrec_guard_dropped_total counter");
    let _ = writeln!(
        out,
        "callrec_guard_dropped_total{{reason=\"rate_limited\"}} {}",
        m.guard_rate_limited.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "callrec_guard_dropped_total{{reason=\"blocked\"}} {}",
        m.guard_blocked_requests.load(Ordering::Relaxed)
    );
    line(
        &mut out,
        "callrec_guard_blocks_total",
        "counter",
        "Sources blocked for guessing passwords.",
        m.guard_blocks.load(Ordering::Relaxed),
    );
    let _ = writeln!(out, "# HELP callrec_recordings_refused_total Recordings that never started, by reason.\n# TYPE callrec_recordings_refused_total counter");
    let refused = m.recordings_refused.load(Ordering::Relaxed);
    let disk = m.recordings_refused_disk.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "callrec_recordings_refused_total{{reason=\"low_disk_space\"}} {disk}"
    );
    let _ = writeln!(
        out,
        "callrec_recordings_refused_total{{reason=\"spool_error\"}} {}",
        refused.saturating_sub(disk)
    );
    line(
        &mut out,
        "callrec_recordings_cut_short_total",
        "counter",
        "Recordings whose file ends early because a write failed (a full disk).",
        m.recordings_cut_short.load(Ordering::Relaxed),
    );
    let spool = st.spool.clone();
    let backlog =
        tokio::task::spawn_blocking(move || spool.pending().map(|p| p.len()).unwrap_or(0))
            .await
            .unwrap_or(0);
    line(
        &mut out,
        "callrec_spool_backlog",
        "gauge",
        "Recordings waiting for upload.",
        backlog as u64,
    );
    let sources = m.sources.lock().ok();
    if let Some(Some(s)) = sources.as_deref() {
        let c = s.media.counters();
        line(
            &mut out,
            "callrec_rtp_relayed_total",
            "counter",
            "RTP/RTCP packets relayed.",
            c.relayed,
        );
        let _ = writeln!(out, "# HELP callrec_rtp_dropped_total Packets dropped, by reason.\n# TYPE callrec_rtp_dropped_total counter");
        let _ = writeln!(
            out,
            "callrec_rtp_dropped_total{{reason=\"not_rtp\"}} {}",
            c.dropped_not_rtp
        );
        let _ = writeln!(
            out,
            "callrec_rtp_dropped_total{{reason=\"wrong_source\"}} {}",
            c.dropped_wrong_source
        );
        let _ = writeln!(
            out,
            "callrec_rtp_dropped_total{{reason=\"no_destination\"}} {}",
            c.dropped_destination_unknown
        );
        line(
            &mut out,
            "callrec_recorder_frames_queued_total",
            "counter",
            "Frames handed to recorders.",
            c.recorder_frames_queued,
        );
        line(
            &mut out,
            "callrec_recorder_frames_dropped_total",
            "counter",
            "Frames a recorder could not take (must stay 0).",
            c.recorder_frames_dropped,
        );
        let u = s.uploader.stats();
        line(
            &mut out,
            "callrec_uploads_stored_total",
            "counter",
            "Recordings the receiver took.",
            u.stored,
        );
        line(
            &mut out,
            "callrec_uploads_retried_total",
            "counter",
            "Upload attempts that will be retried.",
            u.retries,
        );
        line(
            &mut out,
            "callrec_uploads_failed_total",
            "counter",
            "Recordings given up on.",
            u.failed,
        );
        line(
            &mut out,
            "callrec_cdrs_written_total",
            "counter",
            "CDRs written to the log.",
            s.cdrs.written(),
        );
        line(
            &mut out,
            "callrec_cdrs_dropped_total",
            "counter",
            "CDRs the log writer could not take.",
            s.cdrs.dropped(),
        );
        let w = s.store.stats();
        line(
            &mut out,
            "callrec_store_rows_written_total",
            "counter",
            "CDRs and recording rows written to the database.",
            w.written.load(Ordering::Relaxed),
        );
        line(
            &mut out,
            "callrec_store_backlog_rows",
            "gauge",
            "Rows waiting on disk for the database.",
            w.backlog.load(Ordering::Relaxed),
        );
    }
    drop(sources);
    let _ = writeln!(out, "# HELP callrec_api_requests_total API replies, by status.\n# TYPE callrec_api_requests_total counter");
    if let Ok(api) = m.api.lock() {
        for (status, n) in api.iter() {
            let _ = writeln!(out, "callrec_api_requests_total{{status=\"{status}\"}} {n}");
        }
    }
    line(
        &mut out,
        "callrec_calls_lost_total",
        "counter",
        "Recorded calls whose recordings were cut off by a crash of the previous process (counted at start-up; unrecorded calls are not counted).",
        m.calls_lost.load(Ordering::Relaxed),
    );
    if let Some(Some(node)) = m.node_id.get() {
        let _ = writeln!(
            out,
            "# HELP callrec_node_info This node.\n# TYPE callrec_node_info gauge\ncallrec_node_info 1"
        );
        out = with_label(&out, "node_id", node);
    }
    let mut r = Response::new(Body::from(out));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::with_label;

    #[test]
    fn the_node_label_goes_first_on_every_sample() {
        let text = "# HELP a x\n# TYPE a counter\na 3\nb{reason=\"x\"} 4\n";
        assert_eq!(
            with_label(text, "node_id", "node-a"),
            "# HELP a x\n# TYPE a counter\na{node_id=\"node-a\"} 3\nb{node_id=\"node-a\",reason=\"x\"} 4\n"
        );
    }
}
