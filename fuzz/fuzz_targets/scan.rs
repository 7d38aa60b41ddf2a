//! The whole pipeline on the input taken as a capture file: read, decode, reassemble, TLS.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let rows = tlscap::scan_to_rows(
        data,
        "fuzz",
        tlscap::ScanOptions {
            shards: 2,
            window: 97,
            chunk: tlscap::DEFAULT_CHUNK,
        },
    );
    std::hint::black_box(&rows);
});
