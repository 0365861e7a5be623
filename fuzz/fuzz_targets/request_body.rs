//! Fuzz target `request_body`: see `check_request_body` in fuzz/checks.rs, which
//! tests/proto_corpus.rs replays on stable over fuzz/corpus/request_body.
#![no_main]

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check_request_body(data));
