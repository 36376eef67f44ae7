//! libFuzzer entry for [`ember_fuzz::virtio::transport`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_fuzz::virtio::transport(data));
