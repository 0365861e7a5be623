//! Fuzz target `frame_decode`: see `check_stream` in fuzz/checks.rs, which
//! tests/proto_corpus.rs replays on stable over fuzz/corpus/frame_decode.
#![no_main]

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check_stream(data));
