//! Fuzz the crash repair of WAV files (`repair_wav`) on arbitrary bytes written to a file:
//! it must never panic, and a repaired file must repair again to the same result with nothing
//! left to change.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use callrec_media::record::repair_wav;
use libfuzzer_sys::fuzz_target;

/// One file per fuzzing process, rewritten for every input.
fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("callrec-fuzz-wav-{}.wav", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    if std::fs::write(path, data).is_err() {
        return;
    }
    if let Ok(first) = repair_wav(path) {
        let again = repair_wav(path).expect("a repaired file repairs again");
        assert!(!again.changed, "a repaired file needs no change");
        assert_eq!(
            (again.data_bytes, again.frames, again.sample_rate, again.channels),
            (first.data_bytes, first.frames, first.sample_rate, first.channels)
        );
    }
});
