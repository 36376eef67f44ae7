//! libFuzzer entry for [`ember_fuzz::sockmsg::sockmsg`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_fuzz::sockmsg::sockmsg(data));
