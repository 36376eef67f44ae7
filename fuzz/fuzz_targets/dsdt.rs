//! libFuzzer entry for [`ember_fuzz::platform::dsdt`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_fuzz::platform::dsdt(data));
