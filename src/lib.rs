//! tlscap: why did this TLS handshake fail? The binary's glue: find inputs, scan them in
//! parallel, write rows to Parquet, summarise. The protocol work lives in `crates/`.

#![forbid(unsafe_code)]

pub mod demo;
pub mod rows;
pub mod scan;
pub mod summary;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, TryLockError};

use anyhow::Context;
use crossbeam_channel::Receiver;
use rayon::prelude::*;
use tlscap_io::{Compression, Format};
use tlscap_output::{FileRow, ParquetOutput, Written};

pub use scan::{
    scan_bytes, scan_file, scan_stream, Job, Rows, ScanOptions, Sink, DEFAULT_CHUNK, DEFAULT_SPLIT,
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
    // Unbounded, because the workers that fill it also empty it (see `Sink`), and a worker
    // blocked on a full channel could be the one that would have emptied it.
    // `Writer::schedule` bounds it instead: past `MAX_WAITING_MESSAGES` the sender encodes
    // (a slow disk slows the scan rather than growing memory).
    let (tx, rx) = crossbeam_channel::unbounded::<Rows>();
    let encoders = output.handshake_encoders();
    let writer = Arc::new(Writer::new(output, rx));
    let drain = || Writer::schedule(&writer);
    // Encoding jobs spawned and not yet done (see `spawn` below).
    let waiting_jobs = AtomicUsize::new(0);
    // Inside the pool: a single capture would otherwise be scanned on this thread (a
    // parallel iterator over one item does not enter the pool), and every window's join would
    // be handed to the pool and waited for from outside it, waking its workers each time. The
    // scope also waits for the jobs the scan spawns (`Sink::spawn`).
    let mut files: Vec<FileRow> = rayon::scope(|scope| {
        // Jobs spawned wait behind the tasks the scan spawns after them, which keep coming until
        // the file ends (a shard's run of a window starts the next one); a worker takes an
        // older job only when it has none of its own. So encoding batches of handshake rows
        // could wait until the end: 100,000 short connections peaked at 67 to 137 MiB of
        // anonymous memory at two threads instead of ~83, and at 203 MiB instead of 45 with
        // one worker, where nothing else takes them. As many jobs may wait as there are other
        // workers; past that a batch is encoded in the task that made it (at two threads, the
        // bench tile at 0.244 s with one job waiting, 0.241 with two, 0.279 with none).
        let most_waiting = rayon::current_num_threads() - 1;
        let spawn = |job: Job| {
            let room = waiting_jobs.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < most_waiting).then_some(n + 1)
            });
            if room.is_err() {
                job()
            } else {
                let waiting_jobs = &waiting_jobs;
                scope.spawn(move |_| {
                    job();
                    waiting_jobs.fetch_sub(1, Ordering::AcqRel);
                })
            }
        };
        let sink = Sink {
            tx: &tx,
            drain: &drain,
            encoders: Some(&encoders),
            spawn: &spawn,
        };
        captures
            .par_iter()
            .map(|path| scan_file(path, opts, sink, progress))
            .collect()
    });
    files.append(&mut unreadable);
    files.sort_by(|a, b| a.capture.cmp(&b.capture));
    drop(tx);
    let (written, summary) = writer.finish(&files)?;
    Ok(RunReport {
        files,
        summary,
        written,
        out_dir: out_dir.to_path_buf(),
        skipped_non_captures,
    })
}

/// Messages that may wait in the rows channel before the worker that sends one encodes them
/// itself, waiting for the worker encoding if there is one: rows pile up only when no worker
/// is ever idle (one thread) or rows come faster than one worker encodes them, and this
/// keeps their memory bounded.
const MAX_WAITING_MESSAGES: usize = 256;

/// The Parquet tables being written and what the terminal summary needs, fed from the rows
/// channel by pool tasks that [`Writer::schedule`] spawns.
struct Writer {
    state: Mutex<WriterState>,
    rx: Receiver<Rows>,
    /// A drain task is spawned and has not started yet: no need for another.
    scheduled: AtomicBool,
    /// A drain task panicked: the tables may lack rows, and the run fails.
    panicked: AtomicBool,
}

struct WriterState {
    /// `None` once the run has closed the tables (a drain spawned late finds nothing to do).
    output: Option<ParquetOutput>,
    summary: Summary,
    certificates: DistinctCertificates,
    /// The first write that failed; once set, rows are dropped and the run fails with it.
    error: Option<tlscap_output::OutputError>,
}

impl Writer {
    fn new(output: ParquetOutput, rx: Receiver<Rows>) -> Self {
        Writer {
            state: Mutex::new(WriterState {
                output: Some(output),
                summary: Summary::default(),
                certificates: DistinctCertificates::default(),
                error: None,
            }),
            rx,
            scheduled: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
        }
    }

    /// Has the rows waiting encoded by a pool task of their own, which an idle worker takes:
    /// not in the caller's task, where a long encoding would hold up the window that waits
    /// for that task while the other worker had nothing to do. When many rows wait (no worker
    /// is ever idle), encodes them here instead.
    fn schedule(writer: &Arc<Writer>) {
        if writer.rx.len() > MAX_WAITING_MESSAGES {
            writer.drain(true);
        } else if !writer.scheduled.swap(true, Ordering::AcqRel) {
            let writer = Arc::clone(writer);
            rayon::spawn(move || {
                writer.scheduled.store(false, Ordering::Release);
                // A panic in a spawned task would abort the process; this one fails the run.
                let drained = std::panic::catch_unwind(AssertUnwindSafe(|| writer.drain(false)));
                if drained.is_err() {
                    writer.panicked.store(true, Ordering::Release);
                }
            });
        }
    }

    /// Encodes the rows waiting. `wait`: even if another task is encoding (it only encodes,
    /// so it cannot be waiting for this one); otherwise leaves them to that task.
    fn drain(&self, wait: bool) {
        let mut state = if wait {
            self.state.lock().unwrap_or_else(|p| p.into_inner())
        } else {
            match self.state.try_lock() {
                Ok(s) => s,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            }
        };
        if state.output.is_none() {
            return;
        }
        state.take_waiting(&self.rx);
        // Rows short of a full batch are encoded now, while the scan runs, rather than at the
        // end, when the run waits for the writer alone.
        let flushed = state.output.as_mut().map_or(Ok(()), |o| o.flush_idle());
        state.keep_error(flushed);
    }

    /// Encodes the last rows, writes the files and certificates tables and closes every
    /// table. Called once the scans are done (and the senders dropped).
    fn finish(&self, files: &[FileRow]) -> anyhow::Result<(Written, Summary)> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if self.panicked.load(Ordering::Acquire) {
            anyhow::bail!("encoding rows to Parquet panicked");
        }
        state.take_waiting(&self.rx);
        let WriterState {
            output,
            summary,
            certificates,
            error,
        } = &mut *state;
        if let Some(e) = error.take() {
            return Err(e.into());
        }
        let mut output = output.take().context("the tables were closed twice")?;
        for f in files {
            summary.file(f);
        }
        output.files(files.iter().cloned())?;
        output.certificates(std::mem::take(certificates).into_sorted())?;
        Ok((output.close()?, std::mem::take(summary)))
    }
}

impl WriterState {
    /// Takes every message waiting in `rx`.
    fn take_waiting(&mut self, rx: &Receiver<Rows>) {
        while let Ok(rows) = rx.try_recv() {
            self.take(rows);
        }
    }

    fn take(&mut self, rows: Rows) {
        let Some(output) = self.output.as_mut() else {
            return;
        };
        if self.error.is_some() {
            return;
        }
        let written = match rows {
            Rows::Handshakes(h) => {
                self.summary.handshakes(&h);
                output.handshakes(h)
            }
            Rows::HandshakeGroup(g) => output.handshake_group(g),
            Rows::HandshakeSummary(s) => {
                self.summary.add_handshakes(s);
                Ok(())
            }
            Rows::Failed(e) => Err(e),
            Rows::Alerts(a) => {
                self.summary.alerts(&a);
                output.alerts(a)
            }
            Rows::Certificates(c) => {
                self.certificates.add(c);
                Ok(())
            }
        };
        self.keep_error(written);
    }

    fn keep_error(&mut self, r: Result<(), tlscap_output::OutputError>) {
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }
}

/// Scans one capture held in memory and returns its rows (tests, the demo, tools).
pub fn scan_to_rows(data: &[u8], name: &str, opts: ScanOptions) -> CaptureRows {
    collect_rows(name, |out, file| {
        scan_bytes(data, Arc::from(name), opts, out, &|_| {}, file)
    })
}

/// Scans one capture read in order from `input` (as compressed files and standard input are)
/// and returns its rows.
pub fn stream_to_rows(
    input: Box<dyn std::io::Read + Send>,
    name: &str,
    opts: ScanOptions,
) -> CaptureRows {
    collect_rows(name, |out, file| {
        scan_stream(input, Arc::from(name), opts, out, file)
    })
}

fn collect_rows(name: &str, scan: impl FnOnce(Sink<'_>, &mut FileRow)) -> CaptureRows {
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut file = FileRow {
        capture: Arc::from(name),
        ..Default::default()
    };
    // Rows are collected at the end: nothing to encode meanwhile.
    let sink = Sink {
        tx: &tx,
        drain: &|| {},
        encoders: None,
        spawn: &|job| job(),
    };
    scan(sink, &mut file);
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
            Rows::HandshakeGroup(_) | Rows::HandshakeSummary(_) | Rows::Failed(_) => {
                unreachable!("this sink does not encode")
            }
            Rows::Alerts(a) => out.alerts.extend(a),
            Rows::Certificates(c) => certificates.add(c),
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
