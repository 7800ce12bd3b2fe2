#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| visage::fuzzing::archive(data));
