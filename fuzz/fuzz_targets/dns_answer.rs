//! An authoritative server's answer, as arbitrary bytes from the wire.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| domains::dns::fuzzing::dns_answer(data));
