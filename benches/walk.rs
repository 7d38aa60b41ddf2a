//! The record walk (`tlscap-io`): every record of a 32 MiB in-memory capture of TLS traffic,
//! mostly 1514-byte data frames and 54-byte ACKs, read through `PacketReader`; each packet's
//! length is summed so that nothing is optimised away. Throughput in packets and bytes.
//!
//! - `pcap_us_le`, `pcap_us_be`, `pcap_ns_le`, `pcap_ns_be`: classic pcap in both byte orders
//!   and both stamp resolutions;
//! - `pcapng_le`, `pcapng_be`: one section, one interface, an Enhanced Packet Block per packet;
//! - `pcap_split_1MiB`: the split reading of a mapped pcap, on one thread: a chunk boundary
//!   found every 1 MiB (`PacketReader::record_start_in`, as `tlscap::DEFAULT_SPLIT`), then each
//!   chunk walked by its own reader (`PacketReader::chunk`);
//! - `pcap_boundaries_1MiB`: the boundary search alone (throughput: the bytes it splits);
//! - `record_walk_in_cache/pcap_us_le`, `.../pcapng_le`: a 1 MiB capture, which stays in cache:
//!   the reader's own cost per record. Over 32 MiB the walk waits on memory, and on a shared
//!   virtual machine that wait varies from run to run far more than the code's cost does.
//!
//! `cargo bench --bench walk`

mod common;

use std::hint::black_box;

use common::{pcap, pcapng, Endian, Traffic};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tlscap_io::PacketReader;

const SIZE: usize = 32 << 20;
const IN_CACHE: usize = 1 << 20;
const SPLIT: usize = tlscap::DEFAULT_SPLIT;

/// Packets read and their bytes summed.
fn walk(data: &[u8]) -> (u64, usize) {
    let (_, r) = PacketReader::new(data).unwrap();
    r.fold((0, 0), |(n, b), p| (n + 1, b + p.data.len()))
}

/// Chunk starts every `SPLIT` bytes, the first right after the file header.
fn boundaries(reader: &PacketReader<'_>, len: usize) -> Vec<usize> {
    let mut starts = vec![reader.offset()];
    let mut j = 1;
    while j * SPLIT < len {
        if let Some(at) = reader.record_start_in(j * SPLIT, (j + 1) * SPLIT) {
            starts.push(at);
        }
        j += 1;
    }
    starts.push(len);
    starts
}

fn split_walk(data: &[u8]) -> (u64, usize) {
    let (_, reader) = PacketReader::new(data).unwrap();
    let starts = boundaries(&reader, data.len());
    let mut total = (0, 0);
    for w in starts.windows(2) {
        let chunk = reader.chunk(w[0], w[1], None).unwrap();
        for p in chunk {
            total.0 += 1;
            total.1 += p.data.len();
        }
    }
    total
}

fn record_walk(c: &mut Criterion) {
    let packets = Traffic::bulk().sized(SIZE).packets();
    let mut g = c.benchmark_group("record_walk");
    let files = [
        ("pcap_us_le", pcap(&packets, Endian::Little, false)),
        ("pcap_us_be", pcap(&packets, Endian::Big, false)),
        ("pcap_ns_le", pcap(&packets, Endian::Little, true)),
        ("pcap_ns_be", pcap(&packets, Endian::Big, true)),
        ("pcapng_le", pcapng(&packets, Endian::Little)),
        ("pcapng_be", pcapng(&packets, Endian::Big)),
    ];
    drop(packets);
    for (name, data) in &files {
        let (n, _) = walk(data);
        g.throughput(Throughput::ElementsAndBytes {
            elements: n,
            bytes: data.len() as u64,
        });
        g.bench_function(*name, |b| b.iter(|| walk(black_box(data))));
    }

    let data = &files[0].1;
    let (n, bytes) = split_walk(data);
    assert_eq!((n, bytes), walk(data), "the chunks must hold every packet");
    g.throughput(Throughput::ElementsAndBytes {
        elements: n,
        bytes: data.len() as u64,
    });
    g.bench_function("pcap_split_1MiB", |b| {
        b.iter(|| split_walk(black_box(data)))
    });
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("pcap_boundaries_1MiB", |b| {
        b.iter(|| {
            let (_, reader) = PacketReader::new(black_box(data)).unwrap();
            boundaries(&reader, data.len()).len()
        })
    });
    g.finish();
}

/// The walk over a capture small enough to stay in cache: the reader's own cost per record,
/// without the memory system's (which varies from machine to machine, and between runs on a
/// shared virtual machine).
fn record_walk_in_cache(c: &mut Criterion) {
    let packets = Traffic::bulk().sized(IN_CACHE).packets();
    let mut g = c.benchmark_group("record_walk_in_cache");
    for (name, data) in [
        ("pcap_us_le", pcap(&packets, Endian::Little, false)),
        ("pcapng_le", pcapng(&packets, Endian::Little)),
    ] {
        let (n, _) = walk(&data);
        g.throughput(Throughput::ElementsAndBytes {
            elements: n,
            bytes: data.len() as u64,
        });
        g.bench_function(name, |b| b.iter(|| walk(black_box(&data))));
    }
    g.finish();
}

criterion_group!(benches, record_walk, record_walk_in_cache);
criterion_main!(benches);
