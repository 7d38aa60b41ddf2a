//! tlscap: why did this TLS handshake fail? The binary's glue: find inputs, scan them in
//! parallel, write rows to Parquet, summarise. The protocol work lives in `crates/`.

#![forbid(unsafe_code)]

pub mod demo;
pub mod rows;
pub mod scan;
pub mod summary;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;

use anyhow::Context;
use crossbeam_channel::TryRecvError;
use rayon::prelude::*;
use tlscap_io::{Compression, Format};
use tlscap_output::{FileRow, ParquetOutput, Written};

pub use scan::{
    scan_bytes, scan_file, scan_stream, Rows, ScanOptions, DEFAULT_CHUNK, DEFAULT_SPLIT,
};
pub use summary::Summary;

/// Everything a run produced, for the terminal summary and the exit status.
pub struct RunReport {
    pub files: Vec<FileRow>,
    pub summary: Summary,
    pub written: Written,
    pub out_dir: PathBuf,
    pub skipped_non_captures: u64,
}

impl RunReport {
    /// True when every input was read whole.
    pub fn all_read(&self) -> bool {
        self.files.iter().all(|f| f.error.is_none())
    }
}

/// The captures named by `inputs`: files as given, directories walked recursively with
/// captures recognised by content. Returns the captures, rows for inputs that could not be
/// read at all, and how many files in directories were not captures.
pub fn find_inputs(inputs: &[PathBuf]) -> (Vec<PathBuf>, Vec<FileRow>, u64) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let mut skipped = 0;
    for input in inputs {
        if input.as_os_str() == "-" {
            found.push(input.clone()); // standard input
            continue;
        }
        match std::fs::metadata(input) {
            Ok(m) if m.is_dir() => walk(input, &mut found, &mut errors, &mut skipped),
            Ok(_) => found.push(input.clone()),
            Err(e) => errors.push(error_row(input, format!("cannot read: {e}"))),
        }
    }
    found.sort();
    found.dedup();
    (found, errors, skipped)
}

fn error_row(path: &Path, error: String) -> FileRow {
    FileRow {
        capture: path.to_string_lossy().into(),
        error: Some(error),
        ..Default::default()
    }
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>, errors: &mut Vec<FileRow>, skipped: &mut u64) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(error_row(dir, format!("cannot read directory: {e}")));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            walk(&path, found, errors, skipped);
        } else if ft.is_symlink() {
            // Followed to files (a dangling link is an unreadable input), not to directories,
            // which could loop.
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => match looks_like_capture(&path) {
                    Ok(true) => found.push(path),
                    Ok(false) => *skipped += 1,
                    Err(e) => errors.push(error_row(&path, format!("cannot read: {e}"))),
                },
                Ok(_) => {}
                Err(e) => errors.push(error_row(&path, format!("cannot read: {e}"))),
            }
        } else if ft.is_file() {
            match looks_like_capture(&path) {
                Ok(true) => found.push(path),
                Ok(false) => *skipped += 1,
                Err(e) => errors.push(error_row(&path, format!("cannot read: {e}"))),
            }
        }
    }
}

/// Whether a file in a directory is a capture: by its magic number, or, for a compressed file,
/// by the magic number its decompressed stream starts with.
fn looks_like_capture(path: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut head = Vec::with_capacity(6);
    std::fs::File::open(path)?.take(6).read_to_end(&mut head)?;
    if Format::detect(&head).is_some() {
        return Ok(true);
    }
    let Some(c) = Compression::detect(&head) else {
        return Ok(false);
    };
    let mut inner = Vec::with_capacity(4);
    // A damaged compressed file is not a capture we can read; it is skipped like other files.
    let _ = c
        .decoder(std::fs::File::open(path)?)?
        .take(4)
        .read_to_end(&mut inner);
    Ok(Format::detect(&inner).is_some())
}

/// Scans `inputs` into Parquet tables in `out_dir`. `progress` is told of bytes consumed.
pub fn run(
    inputs: &[PathBuf],
    out_dir: &Path,
    opts: ScanOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<RunReport> {
    let (captures, mut unreadable, skipped_non_captures) = find_inputs(inputs);
    let output = ParquetOutput::create(out_dir)
        .with_context(|| format!("cannot write to {}", out_dir.display()))?;
    // Rows flow to one writer thread; bounded so a slow disk slows the scan instead of
    // growing memory.
    let (tx, rx) = crossbeam_channel::bounded::<Rows>(256);
    let writer = thread::spawn(move || -> anyhow::Result<(Written, Summary)> {
        let mut output = output;
        let mut summary = Summary::default();
        let mut certificates = DistinctCertificates::default();
        loop {
            let rows = match rx.try_recv() {
                Ok(rows) => rows,
                Err(TryRecvError::Empty) => {
                    // Nothing to take: encode what waits now, while the scan runs, rather than
                    // at the end, when the run waits for the writer alone.
                    output.flush_idle()?;
                    match rx.recv() {
                        Ok(rows) => rows,
                        Err(_) => break,
                    }
                }
                Err(TryRecvError::Disconnected) => break,
            };
            match rows {
                Rows::Handshakes(h) => {
                    summary.handshakes(&h);
                    output.handshakes(h)?;
                }
                Rows::Alerts(a) => {
                    summary.alerts(&a);
                    output.alerts(a)?;
                }
                Rows::Certificates(c) => certificates.add(c),
                Rows::File(f) => {
                    summary.file(&f);
                    output.files([f])?;
                }
            }
        }
        output.certificates(certificates.into_sorted())?;
        Ok((output.close()?, summary))
    });
    let mut files: Vec<FileRow> = captures
        .par_iter()
        .map(|path| scan_file(path, opts, &tx, progress))
        .collect();
    files.append(&mut unreadable);
    files.sort_by(|a, b| a.capture.cmp(&b.capture));
    for f in &files {
        let _ = tx.send(Rows::File(f.clone()));
    }
    drop(tx);
    let (written, summary) = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the Parquet writer thread panicked"))??;
    Ok(RunReport {
        files,
        summary,
        written,
        out_dir: out_dir.to_path_buf(),
        skipped_non_captures,
    })
}

/// Scans one capture held in memory and returns its rows (tests, the demo, tools).
pub fn scan_to_rows(data: &[u8], name: &str, opts: ScanOptions) -> CaptureRows {
    collect_rows(name, |tx, file| {
        scan_bytes(data, Arc::from(name), opts, tx, &|_| {}, file)
    })
}

/// Scans one capture read in order from `input` (as compressed files and standard input are)
/// and returns its rows.
pub fn stream_to_rows(
    input: Box<dyn std::io::Read + Send>,
    name: &str,
    opts: ScanOptions,
) -> CaptureRows {
    collect_rows(name, |tx, file| {
        scan_stream(input, Arc::from(name), opts, tx, file)
    })
}

fn collect_rows(
    name: &str,
    scan: impl FnOnce(&crossbeam_channel::Sender<Rows>, &mut FileRow),
) -> CaptureRows {
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut file = FileRow {
        capture: Arc::from(name),
        ..Default::default()
    };
    scan(&tx, &mut file);
    drop(tx);
    let mut out = CaptureRows {
        file,
        handshakes: Vec::new(),
        alerts: Vec::new(),
        certificates: Vec::new(),
    };
    let mut certificates = DistinctCertificates::default();
    for r in rx {
        match r {
            Rows::Handshakes(h) => out.handshakes.extend(h),
            Rows::Alerts(a) => out.alerts.extend(a),
            Rows::Certificates(c) => certificates.add(c),
            Rows::File(_) => {}
        }
    }
    out.certificates = certificates.into_sorted();
    out.sort();
    out
}

/// Each certificate once per run. Shards and captures report theirs in any order, so the row
/// kept is the least by (capture, seen_as), and rows leave sorted by fingerprint: the table
/// is the same on every run.
#[derive(Default)]
struct DistinctCertificates(std::collections::HashMap<String, tlscap_output::CertificateRow>);

impl DistinctCertificates {
    fn add(&mut self, rows: Vec<tlscap_output::CertificateRow>) {
        for row in rows {
            match self.0.entry(row.sha256.clone()) {
                std::collections::hash_map::Entry::Occupied(mut kept) => {
                    let k = kept.get();
                    if (&row.capture, row.seen_as) < (&k.capture, k.seen_as) {
                        kept.insert(row);
                    }
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(row);
                }
            }
        }
    }

    fn into_sorted(self) -> Vec<tlscap_output::CertificateRow> {
        let mut rows: Vec<_> = self.0.into_values().collect();
        rows.sort_by(|a, b| a.sha256.cmp(&b.sha256));
        rows
    }
}

/// The rows of one capture, in a stable order (by frame).
#[derive(Clone, Debug)]
pub struct CaptureRows {
    pub file: tlscap_output::FileRow,
    pub handshakes: Vec<tlscap_output::HandshakeRow>,
    pub alerts: Vec<tlscap_output::AlertRow>,
    /// Each distinct certificate once, by fingerprint.
    pub certificates: Vec<tlscap_output::CertificateRow>,
}

impl CaptureRows {
    fn sort(&mut self) {
        // A total order: handshakes without hellos can share a frame and a time, and shards
        // deliver them in any order, so the connection breaks the tie.
        let hs_key = |h: &tlscap_output::HandshakeRow| {
            (
                h.client_hello_frame
                    .or(h.server_hello_frame)
                    .unwrap_or(u64::MAX),
                h.ts_us,
                (h.client_ip, h.client_port, h.server_ip, h.server_port),
                h.handshake_index,
            )
        };
        self.handshakes.sort_by_key(hs_key);
        self.alerts.sort_by_key(|a| (a.frame, a.ts_us));
    }
}
