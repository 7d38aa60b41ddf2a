//! The same rows, however the work is split: one shard or several, large or tiny windows, the
//! whole file mapped or streamed in small chunks. Checked on every corpus capture (rows are
//! compared after the library's sort, which is a total order).

mod common;

use common::{assert_same_rows, corpus_dir, corpus_files};
use tlscap::{scan_to_rows, stream_to_rows, ScanOptions};

fn opts(shards: usize, window: usize, chunk: usize) -> ScanOptions {
    ScanOptions {
        shards,
        window,
        chunk,
    }
}

#[test]
fn rows_do_not_depend_on_shards_windows_or_chunks() {
    let mut compared = 0;
    for capture in corpus_files() {
        let data = std::fs::read(corpus_dir().join(&capture)).unwrap();
        let one = scan_to_rows(&data, &capture, opts(1, 1 << 16, 1 << 24));
        for (shards, window) in [(2, 97), (3, 7), (8, 1)] {
            let split = scan_to_rows(&data, &capture, opts(shards, window, 1 << 24));
            assert_same_rows(
                &format!("{capture}: {shards} shards, window {window}"),
                &one,
                &split,
            );
        }
        let chunk = 700 + data.len() % 3000;
        let input = Box::new(std::io::Cursor::new(data.clone()));
        let streamed = stream_to_rows(input, &capture, opts(2, 97, chunk));
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
