//! libFuzzer entry for [`ember_fuzz::exec::stack`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_fuzz::exec::stack(data));
