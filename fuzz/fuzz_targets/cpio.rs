//! libFuzzer entry for [`ember_fuzz::cpio::cpio`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_fuzz::cpio::cpio(data));
