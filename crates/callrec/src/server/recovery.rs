//! After a crash: recordings the spool recovered (their audio repaired) still carry the
//! metadata they were created with, without a duration. This measures each repaired audio
//! file and lets the engine's one upload-target builder
//! ([`callrec_engine::upload_target::recovered`]) say where it goes, exactly as a normal
//! finish would.

use std::path::Path;

use callrec_engine::upload_target::{recovered, Disposition};
use callrec_kazoo::recording::Format;

use crate::spool::{Spool, SpoolError, UploadTarget};

/// Length of an audio file in milliseconds: for WAV from the repaired header, for MP3 from its
/// whole frames (counted by `repair_mp3`, which also cuts a frame left half written).
pub fn audio_duration_ms(path: &Path, format: Format) -> Option<u64> {
    match format {
        Format::Wav => {
            let reader = hound::WavReader::open(path).ok()?;
            let rate = u64::from(reader.spec().sample_rate);
            (rate > 0).then(|| u64::from(reader.duration()) * 1000 / rate)
        }
        Format::Mp3 => {
            let found = callrec_media::record::repair_mp3(path).ok()?;
            let rate = u64::from(found.sample_rate);
            (rate > 0).then(|| found.frames * 1000 / rate)
        }
    }
}

/// What recovery found, by recording id.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryOutcome {
    /// Recordings to hand to the uploader.
    pub upload: Vec<String>,
    /// Recordings kept locally (their rule has no `url`): never uploaded.
    pub kept_local: Vec<String>,
    /// How many were cut off by the crash and repaired.
    pub repaired: usize,
    /// Distinct calls (interactions) whose recordings the crash cut off: the calls lost
    /// with the process (`callrec_calls_lost_total`; recorded calls only).
    pub lost_calls: usize,
}

/// Completes the metadata and upload target of each entry [`Spool::recover`] returned (`ids`)
/// and sorts them into uploads and local recordings.
pub fn finalize_recovered(spool: &Spool, ids: &[String]) -> Result<RecoveryOutcome, SpoolError> {
    let mut out = RecoveryOutcome::default();
    let mut lost = std::collections::HashSet::new();
    for id in ids {
        let record = spool.get(id)?;
        let cut_off = record.last_error.as_deref() == Some("recovered after crash");
        if !cut_off {
            // Finished normally before the restart: its target was decided then.
            if record.target.url.is_empty() {
                out.kept_local.push(id.clone());
            } else {
                out.upload.push(id.clone());
            }
            continue;
        }
        lost.insert(
            record
                .metadata
                .get("interaction_id")
                .and_then(serde_json::Value::as_str)
                .map_or_else(|| id.clone(), str::to_owned),
        );
        let format = record
            .metadata
            .get("format")
            .and_then(|f| serde_json::from_value::<Format>(f.clone()).ok())
            .unwrap_or(Format::Wav);
        let measured = audio_duration_ms(&spool.audio_path(&record), format);
        let Some(done) = recovered(&record.metadata, measured) else {
            out.upload.push(id.clone());
            continue;
        };
        let json = serde_json::to_value(&done.metadata).unwrap_or(record.metadata.clone());
        spool.update(id, |r| {
            r.target = match &done.disposition {
                Disposition::Upload(req) => UploadTarget::from(req),
                Disposition::KeepLocal => UploadTarget {
                    method: r.target.method,
                    url: String::new(),
                },
            };
            r.duration_ms = Some(done.metadata.duration_ms);
            r.metadata = json;
            Ok(())
        })?;
        out.repaired += 1;
        match done.disposition {
            Disposition::Upload(_) => out.upload.push(id.clone()),
            Disposition::KeepLocal => out.kept_local.push(id.clone()),
        }
    }
    out.lost_calls = lost.len();
    Ok(out)
}
