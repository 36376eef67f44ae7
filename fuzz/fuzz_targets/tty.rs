//! libFuzzer entry for [`ember_fuzz::tty::tty`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ember_fuzz::tty::tty(data));
