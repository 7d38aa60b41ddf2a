//! pcap/pcapng reader: open the input as a capture and read every packet record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlscap_io::PacketReader;

fuzz_target!(|data: &[u8]| {
    let Ok((format, mut reader)) = PacketReader::new(data) else {
        return;
    };
    let _ = format.name();
    let mut sum = 0u64;
    for p in reader.by_ref() {
        sum = sum
            .wrapping_add(p.frame)
            .wrapping_add(p.ts_ns as u64)
            .wrapping_add(u64::from(p.linktype))
            .wrapping_add(u64::from(p.orig_len))
            .wrapping_add(p.data.len() as u64)
            .wrapping_add(u64::from(p.truncated()));
        // Record bytes are borrowed from the input.
        std::hint::black_box(p.data.first());
    }
    if let Some(e) = reader.error() {
        let _ = e.to_string();
    }
    std::hint::black_box((sum, reader.offset()));
});
