//! The same rows, however the work is split: one shard or several, large or tiny windows, the
//! whole file mapped or streamed in small chunks. Checked on every corpus capture (rows are
//! compared after the library's sort, which is a total order).

mod common;

use common::{corpus_dir, corpus_files};
use tlscap::{scan_to_rows, stream_to_rows, CaptureRows, ScanOptions};

fn opts(shards: usize, window: usize, chunk: usize) -> ScanOptions {
    ScanOptions {
        shards,
        window,
        chunk,
    }
}

fn same(what: &str, a: &CaptureRows, b: &CaptureRows) {
    assert_eq!(a.file.packets, b.file.packets, "{what}: packets");
    assert_eq!(
        a.file.tcp_packets, b.file.tcp_packets,
        "{what}: TCP packets"
    );
    assert_eq!(a.handshakes, b.handshakes, "{what}: handshakes");
    assert_eq!(a.alerts, b.alerts, "{what}: alerts");
    assert_eq!(a.certificates, b.certificates, "{what}: certificates");
}

#[test]
fn rows_do_not_depend_on_shards_windows_or_chunks() {
    let mut compared = 0;
    for capture in corpus_files() {
        let data = std::fs::read(corpus_dir().join(&capture)).unwrap();
        let one = scan_to_rows(&data, &capture, opts(1, 1 << 16, 1 << 24));
        for (shards, window) in [(2, 97), (3, 7), (8, 1)] {
            let split = scan_to_rows(&data, &capture, opts(shards, window, 1 << 24));
            same(
                &format!("{capture}: {shards} shards, window {window}"),
                &one,
                &split,
            );
        }
        let chunk = 700 + data.len() % 3000;
        let input = Box::new(std::io::Cursor::new(data.clone()));
        let streamed = stream_to_rows(input, &capture, opts(2, 97, chunk));
        same(
            &format!("{capture}: streamed in {chunk}-byte chunks"),
            &one,
            &streamed,
        );
        compared += 1;
    }
    assert_eq!(compared, corpus_files().len());
    assert!(compared > 100);
}
