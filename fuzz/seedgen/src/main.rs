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
    for p in reader {
        if let Some(i) = LINKTYPES.iter().position(|&l| l == p.linktype) {
            if frames < MAX_FRAMES && seen.insert(p.data) {
                let mut seed = (i as u32).to_le_bytes().to_vec();
                seed.extend_from_slice(p.data);
                std::fs::write(dir_decode.join(format!("{name}-f{:04}", p.frame)), seed).unwrap();
                frames += 1;
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
