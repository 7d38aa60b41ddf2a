//! Parquet writing (`tlscap-output`): 16 Ki handshake rows and 16 Ki alert rows, made by
//! scanning 2048 interleaved TLS 1.3 connections (one in four refused with a fatal alert), then
//! repeated with their own ports, times and frame numbers so that no two rows are equal. Rows
//! go in record batches of `BATCH_ROWS` (as the output crate buffers them) to an `ArrowWriter`
//! over a `Vec` with the output crate's own `writer_properties()` (zstd level 1). Throughput in
//! rows.
//!
//! - `write/handshakes`, `write/alerts`: batches built and written, file closed;
//! - `arrow_batches/handshakes`, `arrow_batches/alerts`: the record batches alone, to tell the
//!   Arrow conversion from the Parquet encoding.
//!
//! `cargo bench --bench parquet`

mod common;

use std::hint::black_box;

use arrow_array::RecordBatch;
use common::{pcap, Endian, Traffic};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use parquet::arrow::ArrowWriter;
use tlscap::{scan_to_rows, ScanOptions};
use tlscap_output::{
    alert_batch, handshake_batch, writer_properties, AlertRow, HandshakeRow, BATCH_ROWS,
};

const ROWS: usize = 16 << 10;

fn write<R>(rows: &[R], to_batch: fn(&[R]) -> RecordBatch) -> usize {
    let schema = to_batch(&[]).schema();
    let mut w = ArrowWriter::try_new(Vec::new(), schema, Some(writer_properties())).unwrap();
    for chunk in rows.chunks(BATCH_ROWS) {
        w.write(&to_batch(chunk)).unwrap();
    }
    w.into_inner().unwrap().len()
}

fn batches<R>(rows: &[R], to_batch: fn(&[R]) -> RecordBatch) -> usize {
    rows.chunks(BATCH_ROWS)
        .map(|chunk| to_batch(chunk).num_rows())
        .sum()
}

/// `rows` repeated to `ROWS`, each copy `k` shifted by `k` capture-seconds and `k * frames`.
fn repeat<R: Clone>(rows: &[R], mut shift: impl FnMut(&mut R, u64)) -> Vec<R> {
    assert!(!rows.is_empty());
    (0..ROWS)
        .map(|i| {
            let mut r = rows[i % rows.len()].clone();
            shift(&mut r, (i / rows.len()) as u64);
            r
        })
        .collect()
}

fn parquet(c: &mut Criterion) {
    let traffic = Traffic::short(2048);
    let packets = traffic.packets();
    let frames = packets.len() as u64;
    let capture = pcap(&packets, Endian::Little, false);
    drop(packets);
    let rows = scan_to_rows(&capture, "bench.pcap", ScanOptions::default());
    assert_eq!(rows.handshakes.len(), traffic.connections);
    assert_eq!(rows.alerts.len(), traffic.connections / 4);

    let frame = |f: &mut Option<u64>, k: u64| {
        if let Some(f) = f {
            *f += k * frames;
        }
    };
    let handshakes: Vec<HandshakeRow> = repeat(&rows.handshakes, |r, k| {
        r.ts_us += k as i64 * 1_000_000;
        r.client_port = r.client_port.map(|p| p.wrapping_add(k as u16 * 7));
        for f in [
            &mut r.client_hello_frame,
            &mut r.server_hello_frame,
            &mut r.established_frame,
            &mut r.alert_frame,
        ] {
            frame(f, k);
        }
    });
    let alerts: Vec<AlertRow> = repeat(&rows.alerts, |r, k| {
        r.ts_us += k as i64 * 1_000_000;
        r.frame += k * frames;
        r.client_port = r.client_port.map(|p| p.wrapping_add(k as u16 * 7));
    });

    let mut g = c.benchmark_group("parquet");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function(BenchmarkId::new("write", "handshakes"), |b| {
        b.iter(|| write(black_box(&handshakes), handshake_batch))
    });
    g.bench_function(BenchmarkId::new("write", "alerts"), |b| {
        b.iter(|| write(black_box(&alerts), alert_batch))
    });
    g.bench_function(BenchmarkId::new("arrow_batches", "handshakes"), |b| {
        b.iter(|| batches(black_box(&handshakes), handshake_batch))
    });
    g.bench_function(BenchmarkId::new("arrow_batches", "alerts"), |b| {
        b.iter(|| batches(black_box(&alerts), alert_batch))
    });
    g.finish();
}

criterion_group!(benches, parquet);
criterion_main!(benches);
