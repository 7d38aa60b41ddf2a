//! The whole scan of one in-memory capture, stage by stage added: 32 MiB of interleaved TLS 1.3
//! connections (256 KiB responses, 64 at a time, some disorder), as pcap. Throughput in packets
//! and bytes.
//!
//! - `walk_and_decode`: every record read and decoded (one thread);
//! - `scan_to_rows/<n>_shards`: `tlscap::scan_to_rows`, the library's whole scan of a mapped
//!   capture (split reading, decoding, routing, reassembly, TLS, rows) with `n` shards.
//!
//! The stages alone: `walk`, `decode`, `reassembly`, `client_hello`, `parquet`. The binary
//! against `cat`, ssldump and tshark: `cargo xtask bench`; instruction counts of the binary:
//! `cargo xtask instructions`.
//!
//! `cargo bench --bench pipeline`

mod common;

use std::hint::black_box;

use common::{pcap, Endian, Traffic};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tlscap::{scan_to_rows, ScanOptions};
use tlscap_io::PacketReader;

fn pipeline(c: &mut Criterion) {
    let traffic = Traffic::bulk().sized(32 << 20);
    let packets = traffic.packets();
    let n = packets.len() as u64;
    let capture = pcap(&packets, Endian::Little, false);
    drop(packets);
    let rows = scan_to_rows(&capture, "bench", ScanOptions::default());
    assert_eq!(rows.handshakes.len(), traffic.connections);

    let mut g = c.benchmark_group("pipeline_32MiB");
    g.throughput(Throughput::ElementsAndBytes {
        elements: n,
        bytes: capture.len() as u64,
    });
    g.sample_size(10);
    g.bench_function("walk_and_decode", |b| {
        b.iter(|| {
            let (_, r) = PacketReader::new(black_box(&capture)).unwrap();
            r.filter_map(|p| tlscap_decode::decode(p.linktype, p.data).ok())
                .map(|s| s.payload.len())
                .sum::<usize>()
        })
    });
    for shards in [1, 2] {
        g.bench_function(
            BenchmarkId::new("scan_to_rows", format!("{shards}_shards")),
            |b| {
                b.iter(|| {
                    scan_to_rows(
                        black_box(&capture),
                        "bench",
                        ScanOptions {
                            shards,
                            ..ScanOptions::default()
                        },
                    )
                    .handshakes
                    .len()
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
