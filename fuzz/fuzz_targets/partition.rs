//! libFuzzer entry for [`ember_fuzz::partition::partition`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_fuzz::partition::partition(data));
