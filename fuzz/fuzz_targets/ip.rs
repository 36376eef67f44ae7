//! libFuzzer entry for [`ember_fuzz::cmdline::ip`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_fuzz::cmdline::ip(data));
