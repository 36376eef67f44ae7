//! libFuzzer entry for [`ember_fuzz::frames::frames`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_fuzz::frames::frames(data));
