#![no_main]
// Placeholder; the media lane writes this target.
libfuzzer_sys::fuzz_target!(|_d: &[u8]| {});
