//! The whole scan of one in-memory capture, stage by stage added: 32 MiB of interleaved TLS 1.3
//! connections (256 KiB responses, 64 at a time, some disorder), as pcap. Throughput in packets
//! and bytes.
//!
//! - `walk_and_decode`: every record read and decoded (one thread);
//! - `scan_to_rows/<n>_shards`: `tlscap::scan_to_rows`, the library's whole scan of a mapped
//!   capture (split reading, decoding, routing, reassembly, TLS, rows) with `n` shards.
//!
//! `short_connections/run`: `tlscap::run`, the whole run into Parquet files, on a capture of
//! 10,000 short TLS 1.3 connections (a handshake and a close each, one in four refused with a
//! fatal alert), as a load balancer's capture is: the cost of each handshake's rows, not of
//! the bytes, decides its time. Throughput in handshakes.
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

fn short_connections(c: &mut Criterion) {
    let traffic = Traffic::short(10_000);
    let capture = pcap(&traffic.packets(), Endian::Little, false);
    let dir = std::env::temp_dir().join(format!("tlscap-bench-short-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("short.pcap");
    std::fs::write(&input, &capture).unwrap();
    let out = dir.join("out");
    let mut g = c.benchmark_group("short_connections");
    g.throughput(Throughput::Elements(traffic.connections as u64));
    g.sample_size(10);
    g.bench_function("run", |b| {
        b.iter(|| {
            let report = tlscap::run(
                std::slice::from_ref(&input),
                &out,
                ScanOptions::default(),
                &|_| {},
            )
            .unwrap();
            assert_eq!(report.written.handshakes, traffic.connections as u64);
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, pipeline, short_connections);
criterion_main!(benches);
