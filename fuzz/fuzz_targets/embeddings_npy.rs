#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| visage::fuzzing::embeddings_npy(data));
