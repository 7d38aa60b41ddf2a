//! Handshake rows that the scan encodes into Parquet row groups in pool tasks (`Sink::encoders`,
//! `tlscap_output::GroupEncoders`) reach `handshakes.parquet` whole and the same whatever the
//! number of threads, and in few row groups: a task takes an open row group, encodes a batch
//! into it and gives it back for the next batch, of any capture.
//!
//! The corpus's captures hold too few handshakes a shard (at most a few dozen) for shards to
//! encode them; these captures are the benches' short connections, a handshake each.

mod common;
#[path = "../benches/common/mod.rs"]
mod traffic;

use std::path::Path;

use common::{duckdb, TempDir};
use tlscap::{RunReport, ScanOptions};

/// Writes a capture of `connections` short connections to `path`. One in four is refused with
/// a plaintext fatal handshake_failure; the others end with the server's close after the
/// client's encrypted flight (the generator sends no more), so every handshake has failed.
fn write_short(path: &Path, connections: usize) {
    let packets = traffic::Traffic::short(connections).packets();
    std::fs::write(
        path,
        traffic::pcap(&packets, traffic::Endian::Little, false),
    )
    .unwrap();
}

/// `tlscap::run` on `input` with `threads` workers (and as many shards), into `out`.
fn run(input: &Path, out: &Path, threads: usize) -> RunReport {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| tlscap::run(&[input.to_path_buf()], out, ScanOptions::default(), &|_| {}))
        .unwrap()
}

/// (rows, rows refused by handshake_failure, a hash of every column of every row but the file name, row groups)
/// of a run's handshakes table.
fn handshakes_table(out: &Path) -> (String, String, String, usize) {
    let file = out.join("handshakes.parquet").display().to_string();
    let q = |sql: &str| duckdb(&sql.replace("FILE", &format!("'{file}'")));
    let rows = q("SELECT count(*) FROM FILE");
    let failed = q(
        "SELECT count(*) FROM FILE WHERE outcome = 'failed' AND alert_sender = 'server' \
         AND alert_code = 40 AND NOT alert_encrypted",
    );
    let hash = q("SELECT sum(hash(COLUMNS(* EXCLUDE (capture)))) FROM FILE");
    let groups = q("SELECT count(DISTINCT row_group_id) FROM parquet_metadata(FILE)");
    (rows, failed, hash, groups.parse().unwrap())
}

#[test]
fn one_large_capture_is_written_whole_at_any_number_of_threads() {
    let dir = TempDir::new("row-groups-one");
    let capture = dir.join("short.pcap");
    // 3,001 connections: 1,000 to 1,500 handshakes a shard at two or three shards, so each
    // encodes full batches of 512 during the scan and the rest at the end.
    write_short(&capture, 3001);
    let mut tables = Vec::new();
    for threads in [1, 2, 3] {
        let out = dir.join(format!("out-{threads}"));
        let report = run(&capture, &out, threads);
        assert_eq!(report.written.handshakes, 3001, "{threads} threads");
        // The summary counts the rows the shards encoded.
        assert_eq!(report.summary.outcomes.get("failed"), Some(&3001));
        assert_eq!(report.summary.outcomes.values().sum::<u64>(), 3001);
        assert_eq!(report.summary.failures.len(), 10);
        let table = handshakes_table(&out);
        assert_eq!((table.0.as_str(), table.1.as_str()), ("3001", "750"));
        // At most a row group per thread (a row group per encoding task running at once);
        // none from the writer, which got no rows.
        assert!(
            (1..=threads).contains(&table.3),
            "{threads} threads: {}",
            table.3
        );
        tables.push(table);
    }
    assert_eq!(
        tables[0].2, tables[1].2,
        "1 and 2 threads wrote different rows"
    );
    assert_eq!(
        tables[0].2, tables[2].2,
        "1 and 3 threads wrote different rows"
    );
}

#[test]
fn captures_of_a_directory_fill_the_same_row_groups() {
    let dir = TempDir::new("row-groups-dir");
    let captures = dir.join("captures");
    std::fs::create_dir_all(&captures).unwrap();
    // Ten captures of 300 connections (150 handshakes a shard at two threads: encoded by the
    // shards at each capture's end) and two of 40 (sent as rows, for the writer to gather).
    let sizes = [300; 10].into_iter().chain([40, 40]);
    for (i, n) in sizes.enumerate() {
        write_short(&captures.join(format!("c{i:02}.pcap")), n);
    }
    let expected = 10 * 300 + 2 * 40;
    let (one, two) = (dir.join("out-1"), dir.join("out-2"));
    for (threads, out) in [(1, &one), (2, &two)] {
        let report = run(&captures, out, threads);
        assert_eq!(report.files.len(), 12);
        assert_eq!(
            report.written.handshakes, expected as u64,
            "{threads} threads"
        );
        assert_eq!(
            report.summary.outcomes.get("failed"),
            Some(&(expected as u64))
        );
    }
    let (t1, t2) = (handshakes_table(&one), handshakes_table(&two));
    assert_eq!(t1.0, expected.to_string());
    assert_eq!(t1.1, (10 * 75 + 2 * 10).to_string());
    assert_eq!((&t1.0, &t1.1, &t1.2), (&t2.0, &t2.1, &t2.2));
    // One thread: one row group, given back and taken again by every batch of every capture,
    // and by the writer, encoding the small captures' rows at the end.
    assert_eq!(t1.3, 1);
    // Two threads: at most one a thread and the writer's, not one for every shard of every
    // capture (20).
    assert!(t2.3 <= 3, "{} row groups", t2.3);
}
