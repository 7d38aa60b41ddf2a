//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use tlscap::{scan_to_rows, CaptureRows, ScanOptions};

/// `../shared/corpus` beside the repository (or `TLSCAP_CORPUS`). Tests fail, never skip, when
/// it is missing: CI has it there.
pub fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("TLSCAP_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    assert!(
        dir.join("FILES.txt").exists(),
        "corpus not found at {} (set TLSCAP_CORPUS)",
        dir.display()
    );
    dir
}

/// The corpus captures, as paths relative to the corpus folder.
pub fn corpus_files() -> Vec<String> {
    let list = std::fs::read_to_string(corpus_dir().join("FILES.txt")).unwrap();
    list.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Scans one corpus capture with small windows (so window boundaries are exercised) and two
/// shards.
pub fn scan_corpus_file(rel: &str) -> CaptureRows {
    let data = std::fs::read(corpus_dir().join(rel)).unwrap();
    scan_to_rows(
        &data,
        rel,
        ScanOptions {
            shards: 2,
            window: 97,
            chunk: tlscap::DEFAULT_CHUNK,
        },
    )
}
