//! libFuzzer entry for [`ember_fuzz::initramfs::initramfs`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_fuzz::initramfs::initramfs(data));
