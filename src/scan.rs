//! The scan of one capture: read, decode, route to shards, reassemble, analyse, emit rows.
//!
//! A capture is processed in windows of packets. For each window:
//! 1. the reader walks record headers (sequential, touches only headers);
//! 2. chunks of the window are decoded in parallel, each packet routed to the shard that owns
//!    its flow, keeping capture order within each shard;
//! 3. shards run in parallel, each owning its flow table: no locks, no channel waits inside
//!    the rayon pool, so nested file- and shard-level parallelism cannot deadlock.
//!
//! A mapped file is one long slice and its segments are borrowed for the whole scan. A streamed
//! file (compressed, or standard input) arrives in chunks: the reader's state carries from one
//! chunk to the next, and flow tables copy only the out-of-order segments they must hold past
//! the chunk. Rows leave through a crossbeam channel to the single writer thread.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;
use rayon::prelude::*;
use tlscap_decode::{
    decode_or_fragment, decode_reassembled, FragmentContext, Ipv4Fragment, Ipv4Reassembler,
    TcpSegment,
};
use tlscap_flows::{FlowKey, FlowTable, PacketMeta, TableLimits};
use tlscap_io::{open_input, Input, PacketReader, RawPacket, ReaderState};
use tlscap_output::{AlertRow, CertificateRow, FileRow, HandshakeRow};

use crate::rows::TlsHandler;

/// What the scan sends to the writer.
pub enum Rows {
    Handshakes(Vec<HandshakeRow>),
    Alerts(Vec<AlertRow>),
    /// Certificates read for the first time in a shard; the receiver drops repeats.
    Certificates(Vec<CertificateRow>),
    File(FileRow),
}

#[derive(Clone, Copy, Debug)]
pub struct ScanOptions {
    /// Flow-table shards per capture (normally the number of worker threads).
    pub shards: usize,
    /// Packets per window.
    pub window: usize,
    /// Bytes read per chunk of a streamed input (compressed files, standard input).
    pub chunk: usize,
}

/// Bytes per chunk of a streamed input.
pub const DEFAULT_CHUNK: usize = 16 << 20;

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            shards: rayon::current_num_threads().max(1),
            window: 64 * 1024,
            chunk: DEFAULT_CHUNK,
        }
    }
}

/// Packets decoded per parallel decode task.
const DECODE_CHUNK: usize = 8 * 1024;

/// A decoded segment on its way to its shard. It carries no flow key: the key is cheap to
/// derive again in the shard, and every byte here is copied for every packet.
struct Routed<'a> {
    seg: TcpSegment<'a>,
    meta: PacketMeta,
}

/// A datagram joined from IPv4 fragments; its segment is decoded again where it is used,
/// since it borrows from the datagram.
struct Joined {
    key: FlowKey,
    meta: PacketMeta,
    datagram: Vec<u8>,
    context: FragmentContext,
}

/// One decode task's output: segments per shard, and fragments in capture order.
struct Routes<'a> {
    per_shard: Vec<Vec<Routed<'a>>>,
    fragments: Vec<(PacketMeta, Ipv4Fragment<'a>)>,
}

/// Scans one capture file (`-` for standard input), sending its rows to `tx`. Returns its
/// `files` row; its `error` is set when the file could not be read whole (rows before the
/// damage, and after it where the reader resynchronised, are still sent).
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
    match open_input(path) {
        Ok(Input::Mapped(data)) => scan_bytes(&data, capture, opts, tx, progress, &mut row),
        Ok(Input::Stream {
            reader,
            compression,
        }) => {
            row.compression = compression.map(|c| c.name());
            let on_disk = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            scan_stream(reader, capture, opts, tx, &mut row);
            progress(on_disk);
        }
        Err(e) => row.error = Some(format!("cannot read: {e}")),
    }
    row.seconds = started.elapsed().as_secs_f64();
    row
}

/// The flow tables of one capture, one per shard, and the IPv4 reassembly in front of them.
struct Shards<'t> {
    tables: Vec<FlowTable<'t, TlsHandler>>,
    defrag: Ipv4Reassembler,
    /// The latest packet time of the capture so far.
    latest_ns: Option<i64>,
}

impl<'t> Shards<'t> {
    fn new(capture: &Arc<str>, shards: usize) -> Self {
        // The capture's memory limits, split so that all shards together keep them.
        let limits = TableLimits::DEFAULT.per_shard(shards.max(1));
        Shards {
            tables: (0..shards.max(1))
                .map(|_| FlowTable::with_limits(TlsHandler::new(capture.clone()), limits))
                .collect(),
            defrag: Ipv4Reassembler::new(),
            latest_ns: None,
        }
    }

    /// Decodes a window in parallel, routes it, runs the shards, sends their rows.
    /// `insert` puts one segment into a table: borrowed or transient.
    fn window<'p, F>(
        &mut self,
        window: &[RawPacket<'p>],
        row: &mut FileRow,
        tx: &Sender<Rows>,
        insert: F,
    ) where
        F: Fn(&mut FlowTable<'t, TlsHandler>, FlowKey, &TcpSegment<'p>, PacketMeta) + Sync,
    {
        row.packets += window.len() as u64;
        for p in [window.first(), window.last()].into_iter().flatten() {
            let us = p.ts_ns.div_euclid(1000);
            row.first_ts_us = Some(row.first_ts_us.map_or(us, |t| t.min(us)));
            row.last_ts_us = Some(row.last_ts_us.map_or(us, |t| t.max(us)));
        }
        let shards = self.tables.len();
        let parts: Vec<Routes<'p>> = window
            .par_chunks(DECODE_CHUNK)
            .map(|c| route(c, shards))
            .collect();
        row.tcp_packets += parts
            .iter()
            .flat_map(|p| &p.per_shard)
            .map(|v| v.len() as u64)
            .sum::<u64>();
        // Fragments carry no ports: they are joined here, in capture order, then routed.
        let mut joined: Vec<Vec<Joined>> = (0..shards).map(|_| Vec::new()).collect();
        for (meta, frag) in parts.iter().flat_map(|p| &p.fragments) {
            if let Some((datagram, context)) = self.defrag.push(frag, meta.ts_ns) {
                if let Ok(seg) = decode_reassembled(&datagram, context) {
                    let key = FlowKey::of(&seg);
                    row.tcp_packets += 1;
                    joined[FlowKey::shard_of(&seg, shards)].push(Joined {
                        key,
                        meta: *meta,
                        datagram,
                        context,
                    });
                }
            }
        }
        row.ip_fragments = self.defrag.stats.fragments;
        self.latest_ns = window.iter().map(|p| p.ts_ns).chain(self.latest_ns).max();
        self.tables
            .par_iter_mut()
            .zip(joined)
            .enumerate()
            .for_each(|(shard, (table, joined))| {
                let segments = parts.iter().flat_map(|p| &p.per_shard[shard]);
                if joined.is_empty() {
                    for r in segments {
                        insert(table, FlowKey::of(&r.seg), &r.seg, r.meta);
                    }
                } else {
                    // Segments and joined datagrams, merged by frame so each flow sees capture
                    // order.
                    let mut joined = joined.into_iter().peekable();
                    for r in segments {
                        while let Some(j) = joined.next_if(|j| j.meta.frame < r.meta.frame) {
                            insert_joined(table, &j);
                        }
                        insert(table, FlowKey::of(&r.seg), &r.seg, r.meta);
                    }
                    for j in joined {
                        insert_joined(table, &j);
                    }
                }
                table.handler.send(tx);
            });
    }

    /// Runs every packet `reader` yields through the shards, window by window; `after` is told
    /// the reader's offset after each window.
    fn consume<'p, F>(
        &mut self,
        reader: &mut PacketReader<'p>,
        window_len: usize,
        row: &mut FileRow,
        tx: &Sender<Rows>,
        insert: F,
        mut after: impl FnMut(usize),
    ) where
        F: Fn(&mut FlowTable<'t, TlsHandler>, FlowKey, &TcpSegment<'p>, PacketMeta) + Sync,
    {
        let mut window: Vec<RawPacket<'p>> = Vec::with_capacity(window_len);
        loop {
            window.clear();
            window.extend(reader.by_ref().take(window_len));
            if window.is_empty() {
                return;
            }
            self.window(&window, row, tx, &insert);
            after(reader.offset());
        }
    }

    /// Ends every flow (end of capture) and counts the rows.
    fn finish(mut self, row: &mut FileRow, tx: &Sender<Rows>) {
        let end_ns = self.latest_ns;
        self.tables.par_iter_mut().for_each(|t| {
            // Every table ends at the capture's last time, whichever packets it got, so that
            // flows idle by then are judged alike however the capture was split.
            if let Some(end_ns) = end_ns {
                t.advance_clock(end_ns);
            }
            t.finish_all();
            t.handler.send(tx);
        });
        for t in &self.tables {
            row.handshakes += t.handler.handshakes_emitted;
            row.alerts += t.handler.alerts_emitted;
            row.evicted_idle += t.evictions.idle;
            row.evicted_table_full += t.evictions.table_full;
            row.evicted_memory_budget += t.evictions.memory_budget;
        }
    }
}

/// The reader's first damage becomes the file's error, unless reading already failed earlier.
fn record_error(reader: &PacketReader<'_>, row: &mut FileRow) {
    if row.error.is_some() {
        return;
    }
    if let Some(e) = reader.error() {
        row.error = Some(e.to_string());
        row.error_offset = Some(e.offset);
        row.skipped_bytes = reader.skipped();
    }
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
    let mut shards = Shards::new(&capture, opts.shards);
    let mut done_bytes = 0u64;
    shards.consume(
        &mut reader,
        opts.window,
        row,
        tx,
        |t, k, s, m| t.segment(k, s, m),
        |offset| {
            progress((offset as u64).saturating_sub(done_bytes));
            done_bytes = offset as u64;
        },
    );
    shards.finish(row, tx);
    progress((data.len() as u64).saturating_sub(done_bytes));
    record_error(&reader, row);
}

/// Reads until `buf` holds `want` bytes or the input ends; true at the end.
fn fill(input: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    let start = buf.len();
    let target = start + want;
    buf.resize(target, 0);
    let mut n = start;
    while n < target {
        match input.read(&mut buf[n..target]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(n);
                return Err(e);
            }
        }
    }
    buf.truncate(n);
    Ok(n < target)
}

/// Scans a capture that can only be read in order (a compressed file, standard input), chunk by
/// chunk; memory holds one chunk, the carried partial record and the flow state.
pub fn scan_stream(
    mut input: Box<dyn Read + Send>,
    capture: Arc<str>,
    opts: ScanOptions,
    tx: &Sender<Rows>,
    row: &mut FileRow,
) {
    let chunk = opts.chunk.max(512);
    let mut buf: Vec<u8> = Vec::with_capacity(chunk);
    let mut base = 0u64;
    let read_error = |row: &mut FileRow, e: std::io::Error, at: u64| {
        row.error.get_or_insert(format!(
            "cannot read past byte {at} of the decompressed stream: {e}"
        ));
        row.error_offset.get_or_insert(at);
    };
    let mut eof = match fill(&mut *input, &mut buf, chunk) {
        Ok(eof) => eof,
        Err(e) => {
            read_error(row, e, 0);
            true
        }
    };
    let format = match PacketReader::first_chunk(&buf, eof) {
        Ok(Some((format, _))) => format,
        Ok(None) => {
            // Network Monitor keeps its frame table at the end: such a file is read whole.
            if let Err(e) = input.read_to_end(&mut buf) {
                read_error(row, e, buf.len() as u64);
            }
            scan_bytes(&buf, capture, opts, tx, &|_| {}, row);
            return;
        }
        Err(e) => {
            row.bytes = buf.len() as u64;
            row.error = Some(e.to_string());
            row.error_offset = Some(e.offset);
            return;
        }
    };
    row.format = Some(format.name());
    let mut shards: Shards<'static> = Shards::new(&capture, opts.shards);
    let mut state: Option<ReaderState> = None;
    loop {
        let mut reader = match state.take() {
            None => match PacketReader::first_chunk(&buf, eof) {
                Ok(Some((_, r))) => r,
                _ => unreachable!("the first chunk was read above"),
            },
            Some(st) => PacketReader::resume(st, &buf, base, eof),
        };
        shards.consume(
            &mut reader,
            opts.window,
            row,
            tx,
            |t, k, s, m| t.segment_transient(k, s, m),
            |_| {},
        );
        let (next, used) = reader.state().expect("pcap and pcapng readers stream");
        if eof {
            record_error(&reader, row);
            break;
        }
        drop(reader);
        buf.drain(..used);
        base += used as u64;
        state = Some(next);
        // A record may be larger than what is carried: read a whole chunk more either way.
        eof = match fill(&mut *input, &mut buf, chunk) {
            Ok(eof) => eof,
            Err(e) => {
                read_error(row, e, base + buf.len() as u64);
                true
            }
        };
    }
    row.bytes = base + buf.len() as u64;
    shards.finish(row, tx);
}

/// A joined datagram's segment enters the table as transient: the datagram is gone afterwards.
fn insert_joined(table: &mut FlowTable<'_, TlsHandler>, j: &Joined) {
    if let Ok(seg) = decode_reassembled(&j.datagram, j.context) {
        table.segment_transient(j.key, &seg, j.meta);
    }
}

fn route<'a>(chunk: &[RawPacket<'a>], shards: usize) -> Routes<'a> {
    let mut per_shard: Vec<Vec<Routed<'a>>> = (0..shards)
        .map(|_| Vec::with_capacity(chunk.len() / shards + 16))
        .collect();
    let mut fragments = Vec::new();
    for p in chunk {
        let meta = PacketMeta {
            frame: p.frame,
            ts_ns: p.ts_ns,
        };
        // Frames that are not TCP count as packets, not as TCP packets.
        let mut fragment = None;
        match decode_or_fragment(p.linktype, p.data, &mut fragment) {
            Ok(seg) => {
                let shard = FlowKey::shard_of(&seg, shards);
                per_shard[shard].push(Routed { seg, meta });
            }
            Err(_) => {
                if let Some(f) = fragment {
                    fragments.push((meta, f));
                }
            }
        }
    }
    Routes {
        per_shard,
        fragments,
    }
}
