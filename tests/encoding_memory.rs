//! Memory bounded by the active flows, not by the number of handshakes (issue 5), on the whole
//! run with its Parquet encoders: a capture of four times as many short connections (a
//! handshake and a close each, as a load balancer's capture is) peaks at about the same heap,
//! at one thread and at two.
//!
//! Handshake rows are batched and each batch is encoded by a pool job. Jobs spawned wait
//! behind every task the scan spawns after them, and the scan's tasks keep coming until the
//! file ends; unbounded, the batches waited until the end, and the peak grew with the
//! capture (at one thread, 100,000 connections peaked at 203 MiB instead of 45).
//!
//! The heap is measured with a counting allocator, so this file holds one test only (the
//! count is process-wide).

mod common;

use std::path::{Path, PathBuf};

use common::heap::Counting;
use common::TempDir;
use tlscap::ScanOptions;

#[path = "../benches/common/mod.rs"]
mod traffic;

#[global_allocator]
static ALLOC: Counting = Counting;

const MIB: usize = 1 << 20;
const FEW: usize = 5_000;
const MANY: usize = 4 * FEW;
/// What each handshake more may add to the peak: the open row group holds its row encoded,
/// in pages not yet compressed and dictionaries (~590 bytes a handshake measured, up to the
/// group's 128 Ki rows). A batch waiting to be encoded holds ~1.4 KB a row as Arrow: with
/// every job allowed to wait, one thread's peak grew by 1.5 KB a handshake (15.4 to 37.1 MiB).
/// At two threads how many wait depends on timing, so there the test may not see it.
const MOST_GROWTH_PER_HANDSHAKE: usize = 1024;

fn write_short(dir: &Path, connections: usize) -> PathBuf {
    let packets = traffic::Traffic::short(connections).packets();
    let path = dir.join(format!("short-{connections}.pcap"));
    std::fs::write(
        &path,
        traffic::pcap(&packets, traffic::Endian::Little, false),
    )
    .unwrap();
    path
}

/// The peak heap of a whole run (scan, encoding, Parquet files) of `capture` on `threads`.
fn peak_of_run(capture: &Path, out: &Path, threads: usize) -> (usize, u64) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let base = Counting::start();
        let report = tlscap::run(
            &[capture.to_path_buf()],
            out,
            ScanOptions::default(),
            &|_| {},
        )
        .unwrap();
        (Counting::peak_since(base), report.written.handshakes)
    })
}

#[test]
fn peak_heap_does_not_grow_with_handshakes() {
    let dir = TempDir::new("encoding-memory");
    let few = write_short(&dir, FEW);
    let many = write_short(&dir, MANY);
    for threads in [1, 2] {
        let out = dir.join(format!("out-{threads}"));
        let (few_peak, few_rows) = peak_of_run(&few, &out, threads);
        let (many_peak, many_rows) = peak_of_run(&many, &out, threads);
        assert_eq!(few_rows, FEW as u64, "{threads} threads");
        assert_eq!(many_rows, MANY as u64, "{threads} threads");
        eprintln!(
            "{threads} threads: peak heap {:.1} MiB for {FEW} connections, {:.1} MiB for {MANY}",
            few_peak as f64 / MIB as f64,
            many_peak as f64 / MIB as f64
        );
        assert!(
            many_peak <= few_peak + (MANY - FEW) * MOST_GROWTH_PER_HANDSHAKE,
            "{threads} threads: {MANY} connections peaked at {many_peak} bytes of heap, \
             {FEW} at {few_peak}: memory grows with the handshakes"
        );
    }
}
