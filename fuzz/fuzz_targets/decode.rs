//! L2-L4 decode of one frame. Input: 4 bytes (u32 LE, modulo the table size) choosing the
//! link type, then the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Keep in step with `tlscap_decode::linktype` (seedgen writes the index into this table).
const LINKTYPES: [u32; 10] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276];

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let sel = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
    let linktype = LINKTYPES[sel as usize % LINKTYPES.len()];
    let frame = &data[4..];
    match tlscap_decode::decode(linktype, frame) {
        Ok(seg) => {
            let _ = seg.has(tlscap_decode::flags::SYN);
            std::hint::black_box(&seg);
        }
        Err(skip) => {
            let _ = skip.name();
        }
    }
});
