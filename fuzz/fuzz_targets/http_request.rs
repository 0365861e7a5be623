//! Fuzz target `http_request`: see `check_http_request` in fuzz/checks.rs, which
//! tests/proto_corpus.rs replays on stable over fuzz/corpus/http_request.
#![no_main]

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check_http_request(data));
