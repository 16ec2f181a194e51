//! Inputs the wav_repair fuzz target found, kept as regression tests.

use callrec_media::record::repair_wav;

#[test]
fn a_fmt_chunk_shorter_than_pcm_is_refused_instead_of_read_from_the_data_after_it() {
    let bytes = include_bytes!("../../../fuzz/regressions/wav_repair/fmt_chunk_size_0");
    let dir = std::env::temp_dir().join(format!("callrec-repair-reg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fmt0.wav");
    std::fs::write(&path, bytes).unwrap();
    let first = repair_wav(&path);
    assert!(first.is_err(), "refused: {first:?}");
    // Refused means untouched: a second look gives the same answer.
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    std::fs::remove_dir_all(&dir).unwrap();
}
