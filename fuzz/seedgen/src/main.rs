//! Writes seeds for the `decode` and `tls_stream` fuzz targets from real captures.
//!
//! Usage: tlscap-seedgen OUT_DIR NAME CAPTURE
//! Writes OUT_DIR/decode/NAME-fNNNN and OUT_DIR/tls_stream/NAME-cNNN.

use std::collections::HashSet;
use std::path::Path;

use tlscap_decode::decode;
use tlscap_flows::{CloseKind, FlowInfo, FlowKey, FlowTable, PacketMeta, Side, StreamHandler};
use tlscap_io::PacketReader;

/// Same table as fuzz_targets/decode.rs: the seed's first 4 bytes are an index into it.
const LINKTYPES: [u32; 10] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276];
/// Frames kept per capture for `decode`.
const MAX_FRAMES: usize = 48;
/// Largest `tls_stream` seed: the handshake is near the start of a connection.
const MAX_STREAM_SEED: usize = 48 * 1024;

/// One connection's events in the tls_stream encoding (see fuzz_targets/tls_stream.rs).
struct Rec {
    buf: Vec<u8>,
    full: bool,
}

impl Rec {
    fn push(&mut self, op: &[u8]) {
        if self.full || self.buf.len() + op.len() > MAX_STREAM_SEED {
            self.full = true;
            return;
        }
        self.buf.extend_from_slice(op);
    }
}

fn side_bit(s: Side) -> u8 {
    match s {
        Side::A => 0,
        Side::B => 1,
    }
}

struct Recorder {
    done: Vec<Vec<u8>>,
}

impl StreamHandler for Recorder {
    type Conn = Rec;
    fn open(&mut self, info: &FlowInfo) -> Rec {
        let hint = match info.syn_from {
            None => 0,
            Some(Side::A) => 1,
            Some(Side::B) => 2,
        };
        Rec {
            buf: vec![hint],
            full: false,
        }
    }
    fn data(&mut self, c: &mut Rec, side: Side, data: &[u8], _at: PacketMeta) {
        for piece in data.chunks(usize::from(u16::MAX)) {
            let mut op = vec![side_bit(side)];
            op.extend_from_slice(&(piece.len() as u16).to_le_bytes());
            op.extend_from_slice(piece);
            c.push(&op);
        }
    }
    fn gap(&mut self, c: &mut Rec, side: Side, missing: u64) {
        let mut op = vec![side_bit(side) | 6 << 1];
        op.extend_from_slice(&(missing.min(u64::from(u32::MAX)) as u32).to_le_bytes());
        c.push(&op);
    }
    fn close(&mut self, c: &mut Rec, side: Side, kind: CloseKind, _at: PacketMeta) {
        let rst = if kind == CloseKind::Rst { 0x10 } else { 0 };
        c.push(&[side_bit(side) | 7 << 1 | rst]);
    }
    fn finish(&mut self, c: Rec, _info: &FlowInfo) {
        if c.buf.len() > 1 {
            self.done.push(c.buf);
        }
    }
    fn wants_data(&self, c: &Rec) -> bool {
        !c.full
    }
}

/// Frames of a capture also written as IPv4 fragments, for the reassembler.
const MAX_FRAGMENT_SEEDS: usize = 4;

/// Appends one frame in the `decode` target's encoding: u16 LE length, then the bytes (cut at
/// 65535).
fn push_frame(seed: &mut Vec<u8>, frame: &[u8]) {
    let frame = &frame[..frame.len().min(usize::from(u16::MAX))];
    seed.extend_from_slice(&(frame.len() as u16).to_le_bytes());
    seed.extend_from_slice(frame);
}

/// Splits an untagged Ethernet/IPv4 frame (no options) into three IPv4 fragments at 8-byte
/// boundaries, or None if it is not one or is too short to split.
fn fragment_ethernet_ipv4(frame: &[u8]) -> Option<[Vec<u8>; 3]> {
    const ETH: usize = 14;
    const IP: usize = 20;
    if frame.len() < ETH + IP + 24 || frame[12..14] != [0x08, 0x00] || frame[ETH] != 0x45 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([frame[ETH + 2], frame[ETH + 3]]));
    let payload = frame.get(ETH + IP..ETH + total)?;
    let cut1 = (payload.len() / 3) & !7;
    let cut2 = (2 * payload.len() / 3) & !7;
    if cut1 == 0 || cut2 <= cut1 {
        return None;
    }
    let piece = |from: usize, to: usize, more: bool| {
        let mut f = frame[..ETH + IP].to_vec();
        let len = (IP + to - from) as u16;
        f[ETH + 2..ETH + 4].copy_from_slice(&len.to_be_bytes());
        let off = (from / 8) as u16 | if more { 0x2000 } else { 0 };
        f[ETH + 6..ETH + 8].copy_from_slice(&off.to_be_bytes());
        f.extend_from_slice(&payload[from..to]);
        f
    };
    Some([
        piece(0, cut1, true),
        piece(cut1, cut2, true),
        piece(cut2, payload.len(), false),
    ])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, out, name, capture] = &args[..] else {
        eprintln!("usage: tlscap-seedgen OUT_DIR NAME CAPTURE");
        std::process::exit(2);
    };
    let data = std::fs::read(capture).expect("read capture");
    let Ok((_, reader)) = PacketReader::new(&data) else {
        eprintln!("{capture}: not a capture");
        return;
    };
    let out = Path::new(out);
    let dir_decode = out.join("decode");
    let dir_stream = out.join("tls_stream");
    std::fs::create_dir_all(&dir_decode).unwrap();
    std::fs::create_dir_all(&dir_stream).unwrap();

    let mut table = FlowTable::new(Recorder { done: Vec::new() });
    let mut seen = HashSet::new();
    let mut frames = 0;
    let mut frag_seeds = 0;
    for p in reader {
        if let Some(i) = LINKTYPES.iter().position(|&l| l == p.linktype) {
            if frames < MAX_FRAMES && seen.insert(p.data) {
                let mut seed = (i as u32).to_le_bytes().to_vec();
                push_frame(&mut seed, p.data);
                std::fs::write(dir_decode.join(format!("{name}-f{:04}", p.frame)), &seed).unwrap();
                frames += 1;
                if frag_seeds < MAX_FRAGMENT_SEEDS && p.linktype == 1 {
                    if let Some(pieces) = fragment_ethernet_ipv4(p.data) {
                        let mut seed = (i as u32).to_le_bytes().to_vec();
                        // Out of order and with the first fragment repeated, as taps deliver.
                        for k in [1, 0, 2, 0] {
                            push_frame(&mut seed, &pieces[k]);
                        }
                        let file = format!("{name}-g{:04}", p.frame);
                        std::fs::write(dir_decode.join(file), seed).unwrap();
                        frag_seeds += 1;
                    }
                }
            }
        }
        if let Ok(seg) = decode(p.linktype, p.data) {
            let meta = PacketMeta {
                frame: p.frame,
                ts_ns: p.ts_ns,
            };
            table.segment(FlowKey::of(&seg), &seg, meta);
        }
    }
    table.finish_all();
    let mut streams = 0;
    for (i, s) in table.handler.done.iter().enumerate() {
        std::fs::write(dir_stream.join(format!("{name}-c{i:03}")), s).unwrap();
        streams += 1;
    }
    println!("{name}: {frames} frames, {streams} connections");
}
