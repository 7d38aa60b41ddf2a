//! Criterion benchmarks of each stage, with throughput. `cargo bench` runs them;
//! `cargo xtask bench` times the whole binary against cat, ssldump and tshark.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tlscap::demo::{seed_capture, SEED_FRAME_32};
use tlscap::{scan_to_rows, ScanOptions};
use tlscap_io::PacketReader;
use tlscap_output::{handshake_batch, HandshakeRow};

/// The demo capture's packets repeated until the capture is about `target` bytes, each copy with
/// its own client port so that copies are distinct connections.
fn tiled_capture(target: usize) -> Vec<u8> {
    let seed = seed_capture();
    let (_, reader) = PacketReader::new(&seed).unwrap();
    let packets: Vec<(i64, Vec<u8>)> = reader.map(|p| (p.ts_ns, p.data.to_vec())).collect();
    let mut out = seed[..24].to_vec();
    let mut copy = 0u16;
    while out.len() < target {
        copy = copy.wrapping_add(1);
        for (ts, data) in &packets {
            let mut d = data.clone();
            // Rewrite the client port (1100) wherever it appears as a TCP port.
            if d.len() >= 38 && d[12..14] == [8, 0] && d[23] == 6 {
                for off in [34, 36] {
                    if d[off..off + 2] == 1100u16.to_be_bytes() {
                        d[off..off + 2].copy_from_slice(&(10_000 + copy % 50_000).to_be_bytes());
                    }
                }
            }
            let us = *ts / 1000 + i64::from(copy) * 1_000_000;
            for x in [
                (us / 1_000_000) as u32,
                (us % 1_000_000) as u32,
                d.len() as u32,
                d.len() as u32,
            ] {
                out.extend_from_slice(&x.to_le_bytes());
            }
            out.extend_from_slice(&d);
        }
    }
    out
}

/// An Ethernet/IPv4/TCP frame carrying 1460 bytes of application data.
fn data_frame() -> Vec<u8> {
    let mut f = SEED_FRAME_32[..54].to_vec();
    f[16..18].copy_from_slice(&(40u16 + 1460).to_be_bytes());
    f.extend_from_slice(&[0x17; 1460]);
    f
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for (name, frame) in [
        ("alert_61B", SEED_FRAME_32.to_vec()),
        ("data_1514B", data_frame()),
    ] {
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::new("hand_written", name), &frame, |b, f| {
            b.iter(|| {
                tlscap_decode::decode(1, black_box(f))
                    .unwrap()
                    .payload
                    .len()
            })
        });
        g.bench_with_input(
            BenchmarkId::new("etherparse_sliced", name),
            &frame,
            |b, f| {
                b.iter(|| {
                    let p = etherparse::SlicedPacket::from_ethernet(black_box(f)).unwrap();
                    match p.transport {
                        Some(etherparse::TransportSlice::Tcp(t)) => t.payload().len(),
                        _ => 0,
                    }
                })
            },
        );
    }
    g.finish();
}

fn read_and_scan(c: &mut Criterion) {
    let capture = tiled_capture(32 << 20);
    let mut g = c.benchmark_group("capture_32MiB");
    g.throughput(Throughput::Bytes(capture.len() as u64));
    g.sample_size(10);
    g.bench_function("record_walk", |b| {
        b.iter(|| {
            let (_, r) = PacketReader::new(black_box(&capture)).unwrap();
            r.map(|p| p.data.len()).sum::<usize>()
        })
    });
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
                            window: 64 * 1024,
                            split: tlscap::DEFAULT_SPLIT,
                            chunk: tlscap::DEFAULT_CHUNK,
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

fn parquet(c: &mut Criterion) {
    let rows = scan_to_rows(&seed_capture(), "seed", ScanOptions::default()).handshakes;
    let many: Vec<HandshakeRow> = rows.iter().cycle().take(10_000).cloned().collect();
    let mut g = c.benchmark_group("parquet");
    g.throughput(Throughput::Elements(many.len() as u64));
    g.bench_function("handshake_rows_10k", |b| {
        b.iter(|| {
            let batch = handshake_batch(black_box(&many));
            let mut w =
                parquet::arrow::ArrowWriter::try_new(Vec::new(), batch.schema(), None).unwrap();
            w.write(&batch).unwrap();
            w.into_inner().unwrap().len()
        })
    });
    g.finish();
}

criterion_group!(benches, decode, read_and_scan, parquet);
criterion_main!(benches);
