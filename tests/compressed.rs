//! Compressed captures are streamed (they cannot be mapped) and give exactly the rows of the
//! uncompressed file. Chunks here are tiny, so records and blocks straddle chunk boundaries.

mod common;

use std::io::Write;

use common::{corpus_dir, corpus_files, scan_corpus_file};
use tlscap::{stream_to_rows, ScanOptions};
use tlscap_io::Compression;

fn compress(data: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(data, 1).unwrap(),
        Compression::Xz => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 0);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Lz4 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
    }
}

#[test]
fn every_corpus_capture_compressed_gives_the_same_rows() {
    let codecs = [
        Compression::Gzip,
        Compression::Zstd,
        Compression::Xz,
        Compression::Lz4,
    ];
    for (i, rel) in corpus_files().iter().enumerate() {
        let data = std::fs::read(corpus_dir().join(rel)).unwrap();
        let mapped = scan_corpus_file(rel);
        // Every codec for the first files, then one codec each in turn.
        let chosen: Vec<Compression> = if i < 4 {
            codecs.to_vec()
        } else {
            vec![codecs[i % 4]]
        };
        for c in chosen {
            let packed = compress(&data, c);
            assert_eq!(Compression::detect(&packed), Some(c));
            let chunk = 700 + (i * 131) % 5000;
            let opts = ScanOptions {
                shards: 2,
                window: 97,
                split: 0,
                chunk,
            };
            let streamed =
                stream_to_rows(c.decoder(std::io::Cursor::new(packed)).unwrap(), rel, opts);
            let what = format!("{rel} via {} in {chunk}-byte chunks", c.name());
            assert_eq!(streamed.file.packets, mapped.file.packets, "{what}");
            assert_eq!(streamed.file.tcp_packets, mapped.file.tcp_packets, "{what}");
            assert_eq!(streamed.file.error, mapped.file.error, "{what}");
            assert_eq!(streamed.file.bytes, data.len() as u64, "{what}");
            assert_eq!(streamed.handshakes, mapped.handshakes, "{what}");
            assert_eq!(streamed.alerts, mapped.alerts, "{what}");
        }
    }
}

#[test]
fn damaged_stream_resumes_like_the_mapped_file() {
    let mut pcap = tlscap::demo::seed_capture();
    let mut pos = 24;
    for _ in 0..9 {
        pos += 16 + u32::from_le_bytes(pcap[pos + 8..pos + 12].try_into().unwrap()) as usize;
    }
    pcap[pos + 8..pos + 12].copy_from_slice(&0x8000_0000u32.to_le_bytes());
    let opts = ScanOptions {
        shards: 2,
        window: 5,
        split: 0,
        chunk: 600,
    };
    let mapped = tlscap::scan_to_rows(&pcap, "x", opts);
    let streamed = stream_to_rows(Box::new(std::io::Cursor::new(pcap)), "x", opts);
    assert_eq!(streamed.file.error_offset, mapped.file.error_offset);
    assert_eq!(streamed.file.skipped_bytes, mapped.file.skipped_bytes);
    assert_eq!(streamed.file.packets, 35);
    assert_eq!(streamed.alerts, mapped.alerts);
    assert_eq!(streamed.handshakes, mapped.handshakes);
}
