//! libFuzzer entry for [`ember_fuzz::boot::zero_page`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_fuzz::boot::zero_page(data));
