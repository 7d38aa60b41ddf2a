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
