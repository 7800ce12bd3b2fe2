#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| visage::fuzzing::json_body(data));
