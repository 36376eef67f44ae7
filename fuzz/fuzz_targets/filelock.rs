//! libFuzzer entry for [`ember_fuzz::filelock::filelock`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_fuzz::filelock::filelock(data));
