//! libFuzzer entry for [`ember_fuzz::vsock::vsock`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_fuzz::vsock::vsock(data));
