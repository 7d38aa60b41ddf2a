//! The whole pipeline on the input taken as a capture file: read, decode, reassemble, TLS; once
//! mapped and split into chunks, once streamed in small chunks (as compressed files and standard input are read).
//! The two paths must agree on every row: that is the oracle besides "no panic".
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = |split, chunk| tlscap::ScanOptions {
        shards: 2,
        window: 97,
        split,
        chunk,
    };
    // Mapped and split into chunks (sized from the input), so chunk starts are searched for
    // at varying places; streamed through one reader below.
    let split = 40 + data.len() % 900;
    let mapped = tlscap::scan_to_rows(data, "fuzz", opts(split, tlscap::DEFAULT_CHUNK));
    // Chunk size from the input, so records straddle chunk boundaries at varying places.
    let chunk = 512 + data.len() % 1500;
    let input = Box::new(std::io::Cursor::new(data.to_vec()));
    let streamed = tlscap::stream_to_rows(input, "fuzz", opts(0, chunk));
    assert_eq!(streamed.file.packets, mapped.file.packets);
    assert_eq!(streamed.file.error, mapped.file.error);
    assert_eq!(streamed.file.error_offset, mapped.file.error_offset);
    assert_eq!(streamed.handshakes, mapped.handshakes);
    assert_eq!(streamed.alerts, mapped.alerts);
});
