//! After a crash: recordings the spool recovered (their audio repaired) still carry the upload
//! target they were created with — the bare document `url` — because the KAZOO-compatible URL
//! names the duration, which was not known yet. This completes their metadata from the audio
//! file and rebuilds the URL exactly as a normal finish would.

use std::path::Path;

use callrec_policy::{Format, RecordingMetadata};

use crate::spool::{Spool, SpoolError};

/// Length of an audio file in milliseconds: exact for WAV (from the repaired header); for MP3
/// estimated from the file size at the recorder's CBR bit rate (32 kbit/s by default).
pub fn audio_duration_ms(path: &Path, format: Format) -> Option<u64> {
    match format {
        Format::Wav => {
            let reader = hound::WavReader::open(path).ok()?;
            let rate = u64::from(reader.spec().sample_rate);
            (rate > 0).then(|| u64::from(reader.duration()) * 1000 / rate)
        }
        Format::Mp3 => {
            let bytes = std::fs::metadata(path).ok()?.len();
            Some(bytes * 8 / 32)
        }
    }
}

/// Completes the metadata and upload URL of each recovered entry (`ids` as returned by
/// [`Spool::recover`]). Entries that finished normally are left as they are.
pub fn finalize_recovered(spool: &Spool, ids: &[String]) -> Result<usize, SpoolError> {
    let mut fixed = 0;
    for id in ids {
        let record = spool.get(id)?;
        if record.last_error.as_deref() != Some("recovered after crash") {
            continue;
        }
        let Ok(mut meta) = serde_json::from_value::<RecordingMetadata>(record.metadata.clone())
        else {
            continue;
        };
        let audio = spool.audio_path(&record);
        if let Some(ms) = audio_duration_ms(&audio, meta.format) {
            meta.duration_ms = ms;
        }
        // A fixed URL (record_caller) already names the file; a document URL is a base.
        let url = if meta.url.as_deref() == Some(record.target.url.as_str()) {
            callrec_policy::upload_request(&meta).map(|r| r.url)
        } else {
            None
        };
        let json = serde_json::to_value(&meta).unwrap_or(record.metadata.clone());
        spool.update(id, |r| {
            if let Some(url) = &url {
                r.target.url = url.clone();
            }
            r.duration_ms = Some(meta.duration_ms);
            r.metadata = json;
            Ok(())
        })?;
        fixed += 1;
    }
    Ok(fixed)
}
