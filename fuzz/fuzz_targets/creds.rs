//! libFuzzer entry for [`ember_fuzz::creds::creds`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_fuzz::creds::creds(data));
