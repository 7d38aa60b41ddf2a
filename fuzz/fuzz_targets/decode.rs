//! L2-L4 decode of a sequence of frames of one link type, with IPv4 fragment reassembly.
//! Input: 4 bytes (u32 LE, modulo the table size) choosing the link type, then frames, each a
//! u16 LE length and that many bytes (the last frame takes what is left if it is shorter).
//! Every frame goes through `decode_or_fragment`; fragments go to one `Ipv4Reassembler`, and a
//! completed datagram through `decode_reassembled`. A frame that `decode_common` (the inline
//! path for Ethernet/IPv4/TCP) decodes must decode to the same segment through `decode`. Frame i is stamped i × 7 s, so runs of
//! fragments also cross the reassembler's 30 s age limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlscap_decode::{decode, decode_common, decode_or_fragment, decode_reassembled, Ipv4Reassembler};

/// Keep in step with `tlscap_decode::linktype` (seedgen writes the index into this table).
const LINKTYPES: [u32; 10] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276];

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let sel = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
    let linktype = LINKTYPES[sel as usize % LINKTYPES.len()];
    let mut rest = &data[4..];
    let mut defrag = Ipv4Reassembler::new();
    let mut index = 0i64;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let body = &rest[2..];
        let frame = &body[..len.min(body.len())];
        rest = &body[frame.len()..];
        if let Some(common) = decode_common(linktype, frame) {
            assert_eq!(Ok(common), decode(linktype, frame), "decode_common disagrees");
        }
        let mut fragment = None;
        match decode_or_fragment(linktype, frame, &mut fragment) {
            Ok(seg) => {
                std::hint::black_box(&seg);
            }
            Err(skip) => {
                let _ = skip.name();
            }
        }
        if let Some(frag) = fragment {
            if let Some((datagram, context)) = defrag.push(&frag, index * 7_000_000_000) {
                let _ = std::hint::black_box(decode_reassembled(&datagram, context));
            }
        }
        index += 1;
    }
    std::hint::black_box(defrag.stats);
});
