//! Fuzz target `config_parse`: see `check_config` in fuzz/checks.rs, which
//! tests/proto_corpus.rs replays on stable over fuzz/corpus/config_parse.
#![no_main]

#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check_config(data));
