//! Every DNS rule over arbitrary TXT data (one value per line).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| domains::dns::fuzzing::txt_rules(data));
