//! libFuzzer entry for [`ember_fuzz::devmem::devmem`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_fuzz::devmem::devmem(data));
