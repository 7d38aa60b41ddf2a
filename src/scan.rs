//! The scan of one capture: read, decode, route to shards, reassemble, analyse, emit rows.
//!
//! A capture is processed in windows of packets. For each window:
//! 1. the reader walks record headers (sequential, touches only headers);
//! 2. chunks of the window are decoded in parallel, each packet routed to the shard that owns
//!    its flow, keeping capture order within each shard;
//! 3. shards run in parallel, each owning its flow table: no locks, no channel waits inside
//!    the rayon pool, so nested file- and shard-level parallelism cannot deadlock.
//!
//! Rows leave through a crossbeam channel to the single writer thread.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;
use rayon::prelude::*;
use tlscap_decode::{decode, TcpSegment};
use tlscap_flows::{FlowKey, FlowTable, PacketMeta};
use tlscap_io::{CaptureData, PacketReader, RawPacket};
use tlscap_output::{AlertRow, FileRow, HandshakeRow};

use crate::rows::TlsHandler;

/// What the scan sends to the writer.
pub enum Rows {
    Handshakes(Vec<HandshakeRow>),
    Alerts(Vec<AlertRow>),
    File(FileRow),
}

#[derive(Clone, Copy, Debug)]
pub struct ScanOptions {
    /// Flow-table shards per capture (normally the number of worker threads).
    pub shards: usize,
    /// Packets per window.
    pub window: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            shards: rayon::current_num_threads().max(1),
            window: 64 * 1024,
        }
    }
}

/// Packets decoded per parallel decode task.
const DECODE_CHUNK: usize = 8 * 1024;

struct Routed<'a> {
    key: FlowKey,
    seg: TcpSegment<'a>,
    meta: PacketMeta,
}

#[derive(Default)]
struct DecodeCounts {
    tcp: u64,
}

/// Scans one capture file, sending its rows to `tx`. Returns its `files` row; its `error` is set
/// when the file could not be read whole (rows before the damage are still sent).
pub fn scan_file(
    path: &Path,
    opts: ScanOptions,
    tx: &Sender<Rows>,
    progress: &(dyn Fn(u64) + Sync),
) -> FileRow {
    let started = Instant::now();
    let capture: Arc<str> = path.to_string_lossy().into();
    let mut row = FileRow {
        capture: capture.clone(),
        ..Default::default()
    };
    match CaptureData::open(path) {
        Ok(data) => scan_bytes(&data, capture, opts, tx, progress, &mut row),
        Err(e) => row.error = Some(format!("cannot read: {e}")),
    }
    row.seconds = started.elapsed().as_secs_f64();
    row
}

/// Scans capture bytes already in memory (a mapping, or bytes the caller made).
pub fn scan_bytes(
    data: &[u8],
    capture: Arc<str>,
    opts: ScanOptions,
    tx: &Sender<Rows>,
    progress: &(dyn Fn(u64) + Sync),
    row: &mut FileRow,
) {
    row.bytes = data.len() as u64;
    let (format, mut reader) = match PacketReader::new(data) {
        Ok(r) => r,
        Err(e) => {
            row.error = Some(e.to_string());
            row.error_offset = Some(e.offset);
            return;
        }
    };
    row.format = Some(format.name());
    let shards = opts.shards.max(1);
    let mut tables: Vec<FlowTable<'_, TlsHandler>> = (0..shards)
        .map(|_| FlowTable::new(TlsHandler::new(capture.clone())))
        .collect();
    let mut window: Vec<RawPacket<'_>> = Vec::with_capacity(opts.window);
    let mut done_bytes = 0u64;
    loop {
        window.clear();
        window.extend(reader.by_ref().take(opts.window));
        if window.is_empty() {
            break;
        }
        row.packets += window.len() as u64;
        for p in [window.first(), window.last()].into_iter().flatten() {
            let us = p.ts_ns.div_euclid(1000);
            row.first_ts_us = Some(row.first_ts_us.map_or(us, |t| t.min(us)));
            row.last_ts_us = Some(row.last_ts_us.map_or(us, |t| t.max(us)));
        }
        let parts: Vec<(Vec<Vec<Routed<'_>>>, DecodeCounts)> = window
            .par_chunks(DECODE_CHUNK)
            .map(|chunk| route(chunk, shards))
            .collect();
        for (_, c) in &parts {
            row.tcp_packets += c.tcp;
        }
        tables
            .par_iter_mut()
            .enumerate()
            .for_each(|(shard, table)| {
                for (per_shard, _) in &parts {
                    for r in &per_shard[shard] {
                        table.segment(r.key, &r.seg, r.meta);
                    }
                }
                table.handler.send(tx);
            });
        let now = reader.offset() as u64;
        progress(now - done_bytes);
        done_bytes = now;
    }
    tables.par_iter_mut().for_each(|t| {
        t.finish_all();
        t.handler.send(tx);
    });
    for t in &tables {
        row.handshakes += t.handler.handshakes_emitted;
        row.alerts += t.handler.alerts_emitted;
    }
    progress(data.len() as u64 - done_bytes);
    if let Some(e) = reader.error() {
        row.error = Some(e.to_string());
        row.error_offset = Some(e.offset);
        row.skipped_bytes = reader.skipped();
    }
}

fn route<'a>(chunk: &[RawPacket<'a>], shards: usize) -> (Vec<Vec<Routed<'a>>>, DecodeCounts) {
    let mut per: Vec<Vec<Routed<'a>>> = (0..shards)
        .map(|_| Vec::with_capacity(chunk.len() / shards + 16))
        .collect();
    let mut counts = DecodeCounts::default();
    for p in chunk {
        // Frames that are not TCP count as packets, not as TCP packets.
        if let Ok(seg) = decode(p.linktype, p.data) {
            counts.tcp += 1;
            let key = FlowKey::of(&seg);
            per[key.shard(shards)].push(Routed {
                key,
                seg,
                meta: PacketMeta {
                    frame: p.frame,
                    ts_ns: p.ts_ns,
                },
            });
        }
    }
    (per, counts)
}
