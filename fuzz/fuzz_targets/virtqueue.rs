//! libFuzzer entry for [`ember_fuzz::virtio::virtqueue`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_fuzz::virtio::virtqueue(data));
