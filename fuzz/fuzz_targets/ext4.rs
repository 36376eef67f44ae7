//! libFuzzer entry for [`ember_fuzz::ext4::ext4`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_fuzz::ext4::ext4(data));
