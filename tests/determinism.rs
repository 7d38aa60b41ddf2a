//! The same rows, however the work is split: one shard or several; one reader walking the
//! file in large or tiny windows, or the file split into chunks of any size read in parallel;
//! the whole file mapped or streamed in small chunks. Checked on every corpus capture (rows are
//! compared after the library's sort, which is a total order).

mod common;

use common::{assert_same_rows, corpus_dir, corpus_files};
use tlscap::{scan_to_rows, stream_to_rows, ScanOptions};

fn opts(shards: usize, window: usize, split: usize, chunk: usize) -> ScanOptions {
    ScanOptions {
        shards,
        window,
        split,
        chunk,
    }
}

#[test]
fn rows_do_not_depend_on_shards_windows_or_chunks() {
    let mut compared = 0;
    for capture in corpus_files() {
        let data = std::fs::read(corpus_dir().join(&capture)).unwrap();
        // One shard, one reader walking the whole file: the reference.
        let one = scan_to_rows(&data, &capture, opts(1, 1 << 16, 0, 1 << 24));
        for (shards, window) in [(2, 97), (3, 7), (8, 1)] {
            let walked = scan_to_rows(&data, &capture, opts(shards, window, 0, 1 << 24));
            assert_same_rows(
                &format!("{capture}: {shards} shards, window {window}"),
                &one,
                &walked,
            );
        }
        // Split chunks from a few records each down to smaller than one record header, so
        // that many chunk starts are searched for, missed, or found inside a record.
        let sizes = [1 << 20, 4096, 700 + data.len() % 1000, 61, 7];
        for (shards, split) in [
            (1, sizes[0]),
            (2, sizes[1]),
            (2, sizes[2]),
            (3, sizes[3]),
            (2, sizes[4]),
        ] {
            let chunked = scan_to_rows(&data, &capture, opts(shards, 1 << 16, split, 1 << 24));
            assert_same_rows(
                &format!("{capture}: {shards} shards, split in {split}-byte chunks"),
                &one,
                &chunked,
            );
        }
        let chunk = 700 + data.len() % 3000;
        let input = Box::new(std::io::Cursor::new(data.clone()));
        let streamed = stream_to_rows(input, &capture, opts(2, 97, 0, chunk));
        assert_same_rows(
            &format!("{capture}: streamed in {chunk}-byte chunks"),
            &one,
            &streamed,
        );
        compared += 1;
    }
    assert_eq!(compared, corpus_files().len());
    assert!(compared > 100);
}

/// pcapng blocks in either byte order, for a capture whose sections and interfaces change
/// midway.
struct PcapNg {
    out: Vec<u8>,
    big: bool,
}

impl PcapNg {
    fn u16(&mut self, x: u16) {
        let b = if self.big {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        };
        self.out.extend_from_slice(&b);
    }
    fn u32(&mut self, x: u32) {
        let b = if self.big {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        };
        self.out.extend_from_slice(&b);
    }
    fn block(&mut self, kind: u32, body: impl FnOnce(&mut Self)) {
        let start = self.out.len();
        self.u32(kind);
        self.u32(0);
        body(self);
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
        let len = (self.out.len() - start + 4) as u32;
        self.u32(len);
        let b = if self.big {
            len.to_be_bytes()
        } else {
            len.to_le_bytes()
        };
        self.out[start + 4..start + 8].copy_from_slice(&b);
    }
    fn section(&mut self, big: bool) {
        self.big = big;
        self.block(0x0a0d_0d0a, |w| {
            w.u32(0x1a2b_3c4d);
            w.u16(1);
            w.u16(0);
            w.u32(u32::MAX);
            w.u32(u32::MAX);
        });
    }
    /// An Ethernet interface with nanosecond (`if_tsresol` 9) or microsecond stamps.
    fn interface(&mut self, nanos: bool) {
        self.block(1, |w| {
            w.u16(1);
            w.u16(0);
            w.u32(262_144);
            if nanos {
                w.u16(9);
                w.u16(1);
                w.out.extend_from_slice(&[9, 0, 0, 0]);
            }
            w.u32(0);
        });
    }
    fn packet(&mut self, interface: u32, nanos: bool, ts_ns: i64, data: &[u8], orig: u32) {
        let ticks = if nanos { ts_ns } else { ts_ns / 1000 } as u64;
        self.block(6, |w| {
            w.u32(interface);
            w.u32((ticks >> 32) as u32);
            w.u32(ticks as u32);
            w.u32(data.len() as u32);
            w.u32(orig);
            w.out.extend_from_slice(data);
        });
    }
}

/// A pcapng file whose byte order, interfaces and time resolution change midway is split into
/// chunks that start inside every part of it: its rows are those of the same packets in a
/// classic pcap file, however small the chunks.
#[test]
fn pcapng_sections_and_interfaces_change_midway_and_rows_do_not() {
    let pcap = tlscap::demo::seed_capture();
    let (_, reader) = tlscap_io::PacketReader::new(&pcap).unwrap();
    let packets: Vec<_> = reader.collect();
    let mut ng = PcapNg {
        out: Vec::new(),
        big: false,
    };
    ng.section(false);
    ng.interface(false);
    let third = packets.len() / 3;
    for p in &packets[..third] {
        ng.packet(0, false, p.ts_ns, p.data, p.orig_len);
    }
    // A second interface, with nanosecond stamps, declared mid-section.
    ng.interface(true);
    for p in &packets[third..2 * third] {
        ng.packet(1, true, p.ts_ns, p.data, p.orig_len);
    }
    // A big-endian section: interfaces are numbered afresh.
    ng.section(true);
    ng.interface(true);
    for p in &packets[2 * third..] {
        ng.packet(0, true, p.ts_ns, p.data, p.orig_len);
    }
    let reference = scan_to_rows(&pcap, "capture", opts(1, 1 << 16, 0, 1 << 24));
    assert!(reference.handshakes.len() == 1 && reference.alerts.len() == 1);
    for (shards, split) in [(1, 0), (2, 1 << 20), (2, 512), (3, 100), (2, 4)] {
        let rows = scan_to_rows(&ng.out, "capture", opts(shards, 7, split, 1 << 24));
        let mut rows_file = rows.file.clone();
        rows_file.format = reference.file.format;
        rows_file.bytes = reference.file.bytes;
        rows_file.seconds = reference.file.seconds;
        assert_eq!(rows_file, reference.file, "split {split}: files row");
        assert_same_rows(
            &format!("pcapng split in {split}-byte chunks"),
            &reference,
            &rows,
        );
    }
}
