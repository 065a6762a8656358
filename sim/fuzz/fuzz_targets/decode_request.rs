#![no_main]
//! Fuzz the request decoding path: content-type selection, JSON/YAML/protobuf decoding, and
//! create/update/patch of what decodes. `cargo fuzz run decode_request` (from sim/).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cleanroom_sim::http::fuzzing::request(data);
});
