//! libFuzzer entry for [`ember_fuzz::sysvipc::sysvipc`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_fuzz::sysvipc::sysvipc(data));
