//! Fuzz target `reply_body`: see `check_reply_body` in fuzz/checks.rs, which
//! tests/proto_corpus.rs replays on stable over fuzz/corpus/reply_body.
#![no_main]

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check_reply_body(data));
