//! The scan of one capture: read, decode, route to shards, reassemble, analyse, emit rows.
//!
//! A mapped pcap or pcapng file is split across the workers from its first byte. It is read in
//! windows of chunks; for each window:
//! 1. chunk boundaries are found by validating a chain of record headers near each nominal
//!    offset ([`PacketReader::record_start_in`]), which gives where the next window starts;
//! 2. chunks are read and decoded in parallel, each packet routed to the shard that owns its
//!    flow; frames are numbered within the chunk;
//! 3. the chunks are checked to meet end to start, the first against the window before's last
//!    (a chunk whose reading ended elsewhere, after damage or a false boundary, makes the next
//!    one be read again from where it really starts), frame numbers are offset by the frames
//!    before each chunk, and IPv4 fragments are joined in capture order;
//! 4. shards run in parallel, each owning its flow table and taking the chunks in file order,
//!    so every flow sees its packets in capture order.
//!
//! Each step is a pool task started once what it needs is done ([`Pipeline`]): a shard goes on
//! to the next window while another is still on this one, and the next window is read
//! meanwhile. No task waits for another and nothing waits on a channel inside the rayon pool,
//! so nested file- and shard-level parallelism cannot deadlock.
//!
//! Formats that cannot be entered at an arbitrary offset (Network Monitor) and streamed input
//! are read by one reader walking record headers in windows of packets, decoded and routed in
//! parallel, then steps 3 and 4.
//!
//! A mapped file is one long slice and its segments are borrowed for the whole scan. A streamed
//! file (compressed, or standard input) arrives in chunks: the reader's state carries from one
//! chunk to the next, and flow tables copy only the out-of-order segments they must hold past
//! the chunk. Rows leave through a crossbeam channel, and pool tasks encode them (see [`Sink`]).

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use crossbeam_channel::Sender;
use rayon::prelude::*;
use tlscap_decode::{
    decode_common, decode_or_fragment, decode_reassembled, FragmentContext, Ipv4Fragment,
    Ipv4Reassembler, TcpSegment,
};
use tlscap_flows::{FlowKey, FlowTable, PacketMeta, TableLimits};
use tlscap_io::{open_input, prefetch, Input, PacketReader, RawPacket, ReadError, ReaderState};
use tlscap_output::{AlertRow, CertificateRow, FileRow, HandshakeRow};

use crate::rows::TlsHandler;

/// What the scan sends to the writer.
pub enum Rows {
    Handshakes(Vec<HandshakeRow>),
    /// A full row group of handshake rows, encoded by the scan's jobs (when its sink has
    /// [`Sink::encoders`]).
    HandshakeGroup(tlscap_output::EncodedGroup),
    /// What the terminal summary needs of handshake rows a shard batched for encoding.
    HandshakeSummary(crate::summary::Summary),
    /// Encoding handshake rows failed, and they are lost: the run fails.
    Failed(tlscap_output::OutputError),
    Alerts(Vec<AlertRow>),
    /// Certificates read for the first time in a shard; the receiver drops repeats.
    Certificates(Vec<CertificateRow>),
}

/// Where a scan's rows go: a channel, and what has the rows waiting in it encoded.
///
/// There is no writer thread. A thread of its own would take a core from the workers every
/// time it ran, and the worker it displaced would hold up its whole window: on two cores that
/// cost twice the writer's own time. Instead the scan calls [`Sink::drain`] after each window
/// and each file, and encoding is pool work like any other.
#[derive(Clone, Copy)]
pub struct Sink<'a> {
    pub tx: &'a Sender<Rows>,
    /// With these, handshake rows never reach the writer as rows: for the Parquet writer. A
    /// shard makes every 512 of its rows into an Arrow record batch and drops them, and a job
    /// of its own ([`Sink::spawn`]) encodes the batch into a row group of these, which goes to
    /// the writer finished ([`Rows::HandshakeGroup`]). So the Arrow conversion and the Parquet
    /// encoding run in parallel, and every row is freed by the thread that made it. Sent as
    /// rows, every row's ~30 heap allocations were freed by whichever worker encoded them (on a
    /// capture of 200,000 short connections at two threads a third of all the time went to
    /// the allocator), and one writer at a time encoded the Parquet. Callers that want the
    /// rows themselves leave it `None`.
    pub encoders: Option<&'a tlscap_output::SharedEncoders>,
    /// Has the rows waiting encoded, normally by a pool task of their own, which a worker
    /// takes when it has nothing else to do. It may encode them in the caller's task and wait
    /// for a worker that is encoding (when rows pile up), but never for other work of the
    /// pool, so calling it in a pool task cannot deadlock.
    pub drain: &'a (dyn Fn() + Sync),
    /// Runs a job as a pool task of its own, which the caller does not wait for: for the
    /// encoding of handshake batches (see [`Sink::encoders`]). The run waits for every job
    /// before it closes the tables (the jobs are spawned in its `rayon::scope`). Callers
    /// without encoders may run the job at once, and so does a run when other jobs wait
    /// (see `tlscap::run`).
    pub spawn: &'a (dyn Fn(Job) + Sync),
}

/// A job for [`Sink::spawn`].
pub type Job = Box<dyn FnOnce() + Send>;

impl Sink<'_> {
    pub fn drain(&self) {
        (self.drain)()
    }
}

#[derive(Clone, Copy, Debug)]
pub struct ScanOptions {
    /// Flow-table shards per capture (normally the number of worker threads).
    pub shards: usize,
    /// Packets per window, where one reader walks the file (formats that cannot be split).
    pub window: usize,
    /// Bytes per chunk of a mapped file split across workers; 0 reads it with one reader.
    pub split: usize,
    /// Bytes read per chunk of a streamed input (compressed files, standard input).
    pub chunk: usize,
}

/// Bytes per chunk of a streamed input.
pub const DEFAULT_CHUNK: usize = 16 << 20;

/// Bytes per chunk of a split mapped file: large enough that finding its start and the
/// per-chunk bookkeeping cost nothing, small enough that a window of chunks keeps its routed
/// segments in a few MiB and that its tasks are short. With 1 MiB instead of 2, two threads
/// read 16 MiB windows in four tasks of 4 MiB instead of 32 MiB in four of 8: on the 2 GiB
/// bench tile 0.206 s instead of 0.217 (CPU 0.361 s instead of 0.381, page faults 7.9 K
/// instead of 9.9 K; 21 interleaved rounds), `-j 1` the same (0.306 and 0.311 s). 512 KiB
/// was slower again (0.204 against 0.190 s, 15 rounds).
pub const DEFAULT_SPLIT: usize = 1 << 20;

/// Most bytes of a split file in one window, whatever the number of shards. At most two
/// windows are in memory at once as routed segments ([`WINDOWS_IN_FLIGHT`], 64 bytes each):
/// for 1500-byte packets that is a twentieth of the window's bytes, for the smallest TCP
/// records (70 bytes) about as much as the window; so at most ~120 MiB of routed segments,
/// and ~10 MiB for typical TLS traffic.
const MAX_WINDOW_BYTES: usize = 64 << 20;

/// Smallest chunk a split file gets when many shards share a window.
const MIN_SPLIT: usize = 64 << 10;

/// Reading tasks per window of a split file, per shard: enough that every worker has reading
/// to do beside the shards' runs, few enough that a window's routed segments stay small.
/// (The figures below are from before [`Pipeline`], when every window also waited for its
/// slowest task; with it, 1 instead of 2 took the same time at two threads, 0.209 against
/// 0.206 s, 15 interleaved rounds, with 1.2 K fewer page faults and `-j 1` 0.339 against
/// 0.332 s.) Every buffer of routed segments keeps the pages of its largest use, and each page's first
/// touch is a page fault (~5 µs on the development VM): with 4, two threads read 64 MiB
/// windows (of 2 MiB chunks) and took 14.2 K page faults on the 2 GiB bench tile; with 2
/// (32 MiB windows), 10.4 K, and 0.214 s instead of 0.226 (21 interleaved rounds; CPU 0.388 s
/// instead of 0.412). With 1 MiB chunks ([`DEFAULT_SPLIT`]), 4 was slower again (0.213 against
/// 0.190 s, 15 rounds).
const SPLIT_TASKS_PER_SHARD: usize = 2;

/// Bytes per record a chunk's buffers are first sized for: small enough that captures of
/// full-size frames (1.2 KB a record on average in the bench's TLS traffic) never grow them,
/// large enough that the room reserved stays a fraction of the chunk.
const TYPICAL_RECORD_BYTES: usize = 512;

/// Chunks one task reads at once, a record of each in turn. Finding a record's successor is a
/// chain of dependent loads, each usually a cache miss; reading several chunks side by side,
/// each record's successor asked for as it is read ([`PacketReader::prefetch_next`]), keeps
/// that many misses in flight instead of one.
const INTERLEAVE: usize = 4;

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            shards: rayon::current_num_threads().max(1),
            window: 64 * 1024,
            split: DEFAULT_SPLIT,
            chunk: DEFAULT_CHUNK,
        }
    }
}

/// Packets decoded per parallel decode task.
const DECODE_CHUNK: usize = 8 * 1024;

/// A decoded segment on its way to its shard, in one cache line: every byte here is written
/// by the worker that reads the packet and read by the one that owns its flow, for every
/// packet. An IPv4 segment outside a tunnel (nearly all of them) is held whole here; any other
/// is kept in its part's `whole` list, and this holds where. It carries no flow key: the key
/// is cheap to derive again in the shard.
#[derive(Clone, Copy)]
struct Routed<'a> {
    payload: &'a [u8],
    ts_ns: i64,
    /// Numbered within its chunk (see [`Routes::frame_base`]).
    frame: u64,
    /// IPv4 source and destination; for a segment kept whole, `src` is its index there.
    src: u32,
    dst: u32,
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    wire_len: u32,
    window: u16,
    vlan: u16,
    flags: u8,
    kind: RoutedKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RoutedKind {
    Ipv4,
    Ipv4Vlan,
    /// In the part's `whole` list.
    Whole,
}

impl<'a> Routed<'a> {
    #[inline(always)]
    fn new(seg: TcpSegment<'a>, meta: PacketMeta, whole: &mut Vec<TcpSegment<'a>>) -> Self {
        let mut r = Routed {
            payload: seg.payload,
            ts_ns: meta.ts_ns,
            frame: meta.frame,
            src: 0,
            dst: 0,
            src_port: seg.src_port,
            dst_port: seg.dst_port,
            seq: seg.seq,
            ack: seg.ack,
            wire_len: seg.wire_len,
            window: seg.window,
            vlan: seg.vlan.unwrap_or(0),
            flags: seg.flags,
            kind: RoutedKind::Whole,
        };
        match (seg.src, seg.dst, seg.tunnel) {
            (IpAddr::V4(src), IpAddr::V4(dst), None) => {
                r.src = u32::from(src);
                r.dst = u32::from(dst);
                r.kind = match seg.vlan {
                    Some(_) => RoutedKind::Ipv4Vlan,
                    None => RoutedKind::Ipv4,
                };
            }
            _ => {
                // A part holds far fewer than 4 G segments.
                r.src = whole.len() as u32;
                whole.push(seg);
            }
        }
        r
    }

    /// The segment, from this or from `whole` (its part's list).
    #[inline(always)]
    fn segment(&self, whole: &[TcpSegment<'a>]) -> TcpSegment<'a> {
        let vlan = match self.kind {
            RoutedKind::Whole => return whole[self.src as usize],
            RoutedKind::Ipv4 => None,
            RoutedKind::Ipv4Vlan => Some(self.vlan),
        };
        TcpSegment {
            src: IpAddr::V4(Ipv4Addr::from(self.src)),
            dst: IpAddr::V4(Ipv4Addr::from(self.dst)),
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            vlan,
            tunnel: None,
            payload: self.payload,
            wire_len: self.wire_len,
        }
    }

    /// The packet's frame number in the file (it was numbered within its chunk) and time.
    #[inline(always)]
    fn at(&self, frame_base: u64) -> PacketMeta {
        PacketMeta {
            frame: self.frame + frame_base,
            ts_ns: self.ts_ns,
        }
    }
}

/// A datagram joined from IPv4 fragments; its segment is decoded again where it is used,
/// since it borrows from the datagram.
struct Joined {
    key: FlowKey,
    meta: PacketMeta,
    datagram: Vec<u8>,
    context: FragmentContext,
}

/// One decode task's output: segments per shard, and fragments in capture order. Reused from
/// window to window, so routing allocates nothing once the buffers have grown.
#[derive(Default)]
struct Routes<'a> {
    per_shard: Vec<Vec<Routed<'a>>>,
    /// Segments that [`Routed`] does not hold whole, in capture order.
    whole: Vec<TcpSegment<'a>>,
    fragments: Vec<(PacketMeta, Ipv4Fragment<'a>)>,
    /// Records read, TCP or not.
    packets: u64,
    /// Earliest and latest timestamps of those records.
    ts_range: Option<(i64, i64)>,
    /// Added to every frame number of the task: the frames of the file before its chunk
    /// (frames are numbered within a chunk while it is read).
    frame_base: u64,
}

impl<'a> Routes<'a> {
    /// Decodes one packet and routes its TCP segment to the shard that owns its flow.
    #[inline]
    fn push(&mut self, p: RawPacket<'a>) {
        self.packets += 1;
        let (first, last) = self.ts_range.get_or_insert((p.ts_ns, p.ts_ns));
        *first = (*first).min(p.ts_ns);
        *last = (*last).max(p.ts_ns);
        let meta = PacketMeta {
            frame: p.frame,
            ts_ns: p.ts_ns,
        };
        let shards = self.per_shard.len();
        if let Some(seg) = decode_common(p.linktype, p.data) {
            let shard = shard_of(&seg, shards);
            self.per_shard[shard].push(Routed::new(seg, meta, &mut self.whole));
            return;
        }
        // Frames that are not TCP count as packets, not as TCP packets.
        let mut fragment = None;
        match decode_or_fragment(p.linktype, p.data, &mut fragment) {
            Ok(seg) => {
                let shard = shard_of(&seg, shards);
                self.per_shard[shard].push(Routed::new(seg, meta, &mut self.whole));
            }
            Err(_) => {
                if let Some(f) = fragment {
                    self.fragments.push((meta, f));
                }
            }
        }
    }

    /// Empties the buffers for a new task of about `packets` packets, reserving room for them
    /// up front: grown one doubling at a time, the first window's buffers were copied again
    /// and again (on a 64 MiB capture, read as one window, memcpy was 9% of all instructions).
    fn reset(&mut self, shards: usize, packets: usize) {
        self.per_shard.resize_with(shards, spare_buffer);
        let per_shard = packets.div_ceil(shards.max(1));
        for v in &mut self.per_shard {
            v.clear();
            v.reserve(per_shard);
        }
        self.fragments.clear();
        self.whole.clear();
        self.packets = 0;
        self.ts_range = None;
        self.frame_base = 0;
    }
}

/// The shard that owns `seg`'s flow; with one shard, without hashing the flow.
#[inline(always)]
fn shard_of(seg: &TcpSegment<'_>, shards: usize) -> usize {
    if shards == 1 {
        0
    } else {
        FlowKey::shard_of(seg, shards)
    }
}

/// Buffers of routed segments from scans that ended, for the next scan to fill: freeing them
/// took ~5 ms at the end of each scan of the bench tile (tens of MiB handed back to the kernel
/// page by page, while the run waited), and a new scan's first windows spent as much on
/// first touches of new ones. Each scan holds at most two windows' worth, so this holds at most
/// what the scans running at once did.
static SPARE_BUFFERS: Mutex<Vec<Vec<Routed<'static>>>> = Mutex::new(Vec::new());

/// An empty buffer for routed segments: a spare one if there is one.
fn spare_buffer<'a>() -> Vec<Routed<'a>> {
    let spare = SPARE_BUFFERS.lock().ok().and_then(|mut s| s.pop());
    spare.map_or_else(Vec::new, any_lifetime)
}

/// Keeps the segment buffers of `parts` for later scans.
fn keep_buffers(parts: Vec<Routes<'_>>) {
    let buffers: Vec<Vec<Routed<'static>>> = parts
        .into_iter()
        .flat_map(|p| p.per_shard)
        .map(any_lifetime)
        .collect();
    if let Ok(mut spare) = SPARE_BUFFERS.lock() {
        spare.extend(buffers);
    }
}

/// `v`'s allocation, emptied, as a buffer of segments borrowing from anything. Collecting an
/// emptied vector's iterator into one of a type of the same size reuses its allocation (the
/// standard library does this in place); no segment is kept, so no borrow outlives its data.
fn any_lifetime<'a, 'b>(mut v: Vec<Routed<'a>>) -> Vec<Routed<'b>> {
    v.clear();
    v.into_iter()
        .map(|_| unreachable!("the vector was emptied"))
        .collect()
}

/// How reading one chunk of a split file ended.
struct ChunkRead {
    start: usize,
    limit: usize,
    /// Offset where the reader stopped: the next chunk's start when both agree.
    end: usize,
    frames: u64,
    error: Option<ReadError>,
    skipped: u64,
    /// What the reader knew when it stopped, for reading on from `end`.
    state: Option<ReaderState>,
    /// The reader's [`PacketReader::epoch`] when it started and when it stopped: a chunk that
    /// started with a smaller count than the chunk before ended with read its packets with
    /// sections or interfaces it did not know, and is read again.
    epoch_start: u64,
    epoch_end: u64,
}

impl ChunkRead {
    fn of(reader: &PacketReader<'_>, start: usize, limit: usize, epoch_start: u64) -> Self {
        ChunkRead {
            start,
            limit,
            end: reader.offset(),
            frames: reader.frames(),
            error: reader.error().cloned(),
            skipped: reader.skipped(),
            state: reader.state().map(|(st, _)| st),
            epoch_start,
            epoch_end: reader.epoch(),
        }
    }
}

/// Scans one capture file (`-` for standard input), sending its rows to `out`. Returns its
/// `files` row; its `error` is set when the file could not be read whole (rows before the
/// damage, and after it where the reader resynchronised, are still sent).
pub fn scan_file(
    path: &Path,
    opts: ScanOptions,
    out: Sink<'_>,
    progress: &(dyn Fn(u64) + Sync),
) -> FileRow {
    let started = Instant::now();
    let capture: Arc<str> = path.to_string_lossy().into();
    let mut row = FileRow {
        capture: capture.clone(),
        ..Default::default()
    };
    match open_input(path) {
        Ok(Input::Mapped(data)) => {
            let release = |range: Range<usize>| data.release(range);
            scan_bytes_releasing(&data, &release, capture, opts, out, progress, &mut row);
        }
        Ok(Input::Stream {
            reader,
            compression,
        }) => {
            row.compression = compression.map(|c| c.name());
            let on_disk = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            scan_stream(reader, capture, opts, out, &mut row);
            progress(on_disk);
        }
        Err(e) => row.error = Some(format!("cannot read: {e}")),
    }
    row.seconds = started.elapsed().as_secs_f64();
    out.drain();
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
    fn new(
        capture: &Arc<str>,
        shards: usize,
        encoders: Option<&tlscap_output::SharedEncoders>,
    ) -> Self {
        // The capture's memory limits, split so that all shards together keep them.
        let limits = TableLimits::DEFAULT.per_shard(shards.max(1));
        Shards {
            tables: (0..shards.max(1))
                .map(|_| {
                    FlowTable::with_limits(
                        TlsHandler::new(capture.clone(), encoders.cloned()),
                        limits,
                    )
                })
                .collect(),
            defrag: Ipv4Reassembler::new(),
            latest_ns: None,
        }
    }

    /// Runs routed parts (in file order) through the shards, a task per shard, and sends
    /// their rows. `insert` puts one segment into a table: borrowed or transient.
    fn run_parts<'p, F>(
        &mut self,
        parts: &[Routes<'p>],
        row: &mut FileRow,
        out: Sink<'_>,
        insert: F,
    ) where
        F: Fn(&mut FlowTable<'t, TlsHandler>, FlowKey, &TcpSegment<'p>, PacketMeta) + Sync,
    {
        let shards = self.tables.len();
        let mut joined: Vec<Vec<Joined>> = (0..shards).map(|_| Vec::new()).collect();
        count_and_join(
            &mut self.defrag,
            &mut self.latest_ns,
            parts,
            row,
            &mut joined,
        );
        self.tables
            .par_iter_mut()
            .zip(joined)
            .enumerate()
            .for_each(|(shard, (table, joined))| {
                run_table(table, shard, joined, parts, out, &insert)
            });
    }

    /// Runs every packet `reader` yields through the shards, window by window: one reader
    /// walks the records, decoding and routing run in parallel. `after` is told the reader's
    /// offset after each window.
    fn consume<'p, F>(
        &mut self,
        reader: &mut PacketReader<'p>,
        window_len: usize,
        row: &mut FileRow,
        out: Sink<'_>,
        insert: F,
        mut after: impl FnMut(usize),
    ) where
        F: Fn(&mut FlowTable<'t, TlsHandler>, FlowKey, &TcpSegment<'p>, PacketMeta) + Sync,
    {
        let shards = self.tables.len();
        let mut window: Vec<RawPacket<'p>> = Vec::with_capacity(window_len);
        let mut parts: Vec<Routes<'p>> = Vec::new();
        loop {
            window.clear();
            window.extend(reader.by_ref().take(window_len));
            if window.is_empty() {
                break;
            }
            let tasks = window.len().div_ceil(DECODE_CHUNK);
            parts.resize_with(tasks, Routes::default);
            parts
                .par_iter_mut()
                .zip(window.par_chunks(DECODE_CHUNK))
                .for_each(|(part, packets)| {
                    part.reset(shards, packets.len());
                    route(packets.iter().copied(), part);
                });
            self.run_parts(&parts[..tasks], row, out, &insert);
            out.drain();
            after(reader.offset());
        }
        keep_buffers(parts);
    }

    /// Reads a mapped file that can be entered at any record in windows of chunks read in
    /// parallel (see the module documentation and [`Pipeline`]). Sets the file's error and
    /// skipped bytes.
    #[allow(clippy::too_many_arguments)]
    fn split<F>(
        &mut self,
        reader: &PacketReader<'t>,
        split: usize,
        row: &mut FileRow,
        out: Sink<'_>,
        insert: F,
        mut after: impl FnMut(usize) + Send,
        release: &(dyn Fn(Range<usize>) + Sync),
    ) where
        F: Fn(&mut FlowTable<'t, TlsHandler>, FlowKey, &TcpSegment<'t>, PacketMeta) + Sync,
    {
        let first = reader.offset();
        let len = reader.data_len();
        if first >= len {
            return;
        }
        let shards = self.tables.len();
        let chunks = SPLIT_TASKS_PER_SHARD * INTERLEAVE * shards;
        // Many shards get smaller chunks, not larger windows: see MAX_WINDOW_BYTES.
        let split = split.min((MAX_WINDOW_BYTES / chunks).max(MIN_SPLIT));
        let groups = chunks.div_ceil(INTERLEAVE);
        let in_flight = if rayon::current_num_threads() > 1 {
            WINDOWS_IN_FLIGHT
        } else {
            1
        };
        let Shards {
            tables,
            defrag,
            latest_ns,
        } = self;
        let pipeline = Pipeline {
            reader,
            split,
            chunks,
            windows: (0..in_flight)
                .map(|_| (0..groups).map(|_| RwLock::default()).collect())
                .collect(),
            tables: tables.iter_mut().map(Mutex::new).collect(),
            progress: Mutex::new(Progress {
                row,
                defrag,
                latest_ns,
                after: &mut after,
                frames: 0,
                skipped: 0,
                damaged: false,
                next_start: Some(first),
                // The first window is planned below.
                planning: true,
                planned: 0,
                read: 0,
                done: 0,
                tail: None,
                shard_next: vec![0; shards],
                shard_running: vec![false; shards],
                slots: (0..in_flight).map(|_| SlotProgress::default()).collect(),
            }),
            insert,
            out,
            release,
        };
        rayon::scope(|scope| pipeline.plan(scope));
        let Pipeline {
            windows, progress, ..
        } = pipeline;
        let progress = progress
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        if progress.damaged {
            progress.row.skipped_bytes = progress.skipped;
        }
        for group in windows.into_iter().flatten() {
            let group = group.into_inner().unwrap_or_else(PoisonError::into_inner);
            keep_buffers(group.parts);
        }
    }

    /// Ends every flow (end of capture) and counts the rows.
    fn finish(mut self, row: &mut FileRow, out: Sink<'_>) {
        let end_ns = self.latest_ns;
        self.tables.par_iter_mut().for_each(|t| {
            // Every table ends at the capture's last time, whichever packets it got, so that
            // flows idle by then are judged alike however the capture was split.
            if let Some(end_ns) = end_ns {
                t.advance_clock(end_ns);
            }
            t.finish_all();
            t.handler.send_last(out);
        });
        for t in &self.tables {
            row.handshakes += t.handler.handshakes_emitted();
            row.alerts += t.handler.alerts_emitted();
            row.evicted_idle += t.evictions.idle;
            row.evicted_table_full += t.evictions.table_full;
            row.evicted_memory_budget += t.evictions.memory_budget;
        }
    }
}

/// Counts a window's packets into the file's row and joins its IPv4 fragments, in capture
/// order, adding the joined datagrams to `joined` (one list per shard). Parts must come in file
/// order.
fn count_and_join(
    defrag: &mut Ipv4Reassembler,
    latest_ns: &mut Option<i64>,
    parts: &[Routes<'_>],
    row: &mut FileRow,
    joined: &mut [Vec<Joined>],
) {
    let shards = joined.len();
    for p in parts {
        row.packets += p.packets;
        if let Some((first, last)) = p.ts_range {
            let (first, last) = (first.div_euclid(1000), last.div_euclid(1000));
            row.first_ts_us = Some(row.first_ts_us.map_or(first, |t| t.min(first)));
            row.last_ts_us = Some(row.last_ts_us.map_or(last, |t| t.max(last)));
        }
        row.tcp_packets += p.per_shard.iter().map(|v| v.len() as u64).sum::<u64>();
    }
    // Fragments carry no ports: they are joined here, in capture order, then routed.
    for p in parts {
        for (meta, frag) in &p.fragments {
            let meta = PacketMeta {
                frame: meta.frame + p.frame_base,
                ..*meta
            };
            if let Some((datagram, context)) = defrag.push(frag, meta.ts_ns) {
                if let Ok(seg) = decode_reassembled(&datagram, context) {
                    let key = FlowKey::of(&seg);
                    row.tcp_packets += 1;
                    joined[shard_of(&seg, shards)].push(Joined {
                        key,
                        meta,
                        datagram,
                        context,
                    });
                }
            }
        }
    }
    row.ip_fragments = defrag.stats.fragments;
    let latest = parts
        .iter()
        .filter_map(|p| p.ts_range)
        .map(|(_, last)| last);
    *latest_ns = latest.chain(*latest_ns).max();
}

/// Windows of a split file in memory at once, as routed segments (those being read, and those
/// read that some shard has still to run), when the pool has more than one worker. With two,
/// a shard done with its share of a window goes on to the next while another shard is still
/// on a long one, and reading goes on while both are busy. On the 2 GiB bench tile at two
/// threads, 2 and 3 took the same time (0.224 and 0.231 s, 15 interleaved rounds; 3 made 1 K
/// more page faults). With one worker a window is read only once the one before is run: read
/// ahead, its routed segments and payloads left the cache before their run (`-j 1` 0.383
/// against 0.399 s with 2 and 3).
const WINDOWS_IN_FLIGHT: usize = 2;

/// The reading of a split file and its shards' runs, as pool tasks started when what they need
/// is ready; no task waits for another.
///
/// 1. A window is planned: its chunks' starts are found ([`PacketReader::record_start_in`]),
///    which gives where the next window starts, and a task is spawned per group of
///    [`INTERLEAVE`] chunks, which reads them side by side. Windows are planned one after
///    another, as long as there is a slot for them (see [`WINDOWS_IN_FLIGHT`]).
/// 2. When the last group of a window is read and the window before is checked, the window is
///    checked: a chunk whose predecessor (maybe the window before's last chunk) did not end
///    where it starts, or ended knowing more (pcapng interfaces), is read again from where the
///    file really goes on. Then its frames are numbered, its fragments joined, and each shard
///    whose run of the window before is done gets a task for this one.
/// 3. A shard's run of a window, when done, starts its run of the next window if that is
///    checked. When every shard is done with a window, its pages are released and its slot
///    taken for the next window to plan.
///
/// Locks: `progress` is taken last; a task holding it takes a group's lock only where no other
/// task can hold it (a window's groups between their reading and its shards' runs).
struct Pipeline<'t, 'r, F> {
    reader: &'r PacketReader<'t>,
    split: usize,
    chunks: usize,
    /// Window `k`'s groups of chunks are in `windows[k % windows.len()]`: as many as there
    /// may be windows in flight.
    windows: Vec<Vec<RwLock<ReadGroup<'t>>>>,
    tables: Vec<Mutex<&'r mut FlowTable<'t, TlsHandler>>>,
    progress: Mutex<Progress<'r>>,
    insert: F,
    out: Sink<'r>,
    release: &'r (dyn Fn(Range<usize>) + Sync),
}

/// Chunks of a window read side by side by one task, and what reading them gave.
#[derive(Default)]
struct ReadGroup<'t> {
    /// One per chunk (may be longer than `reads`: buffers kept from larger groups).
    parts: Vec<Routes<'t>>,
    reads: Vec<ChunkRead>,
}

impl<'t> ReadGroup<'t> {
    fn routed(&self) -> &[Routes<'t>] {
        &self.parts[..self.reads.len()]
    }
}

/// What the tasks of a [`Pipeline`] share, and what tells them which task comes next.
struct Progress<'r> {
    row: &'r mut FileRow,
    defrag: &'r mut Ipv4Reassembler,
    latest_ns: &'r mut Option<i64>,
    /// Told where the file's next unread byte is each time every shard is done with a window.
    after: &'r mut (dyn FnMut(usize) + Send),
    /// Frames and skipped bytes of the windows checked so far.
    frames: u64,
    skipped: u64,
    damaged: bool,
    /// Where the next window to plan starts; `None` when the file's end is planned.
    next_start: Option<usize>,
    /// A task is planning windows.
    planning: bool,
    /// Windows planned, checked, and done with by every shard.
    planned: usize,
    read: usize,
    done: usize,
    /// How the last chunk of window `read - 1` ended.
    tail: Option<Tail>,
    /// Per shard: the next window it runs, and whether a task of it is running or spawned.
    shard_next: Vec<usize>,
    shard_running: Vec<bool>,
    /// Per slot of `windows`.
    slots: Vec<SlotProgress>,
}

/// How a checked chunk ended: what the next one must start with.
struct Tail {
    end: usize,
    epoch: u64,
    state: Option<ReaderState>,
}

/// A window's bookkeeping beside its groups.
#[derive(Default)]
struct SlotProgress {
    /// The file's bytes the window was planned to read.
    range: Range<usize>,
    /// Its groups of chunks, and those not yet read.
    groups: usize,
    groups_left: usize,
    /// Shards not yet done with it.
    shards_left: usize,
    /// IPv4 datagrams joined in it, per shard.
    joined: Vec<Vec<Joined>>,
}

/// A lock's value, even when a task that held it panicked (the panic reaches the scan's caller
/// through `rayon::scope`).
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read_lock<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

fn write_lock<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}

impl<'t, 'r, F> Pipeline<'t, 'r, F>
where
    F: Fn(&mut FlowTable<'t, TlsHandler>, FlowKey, &TcpSegment<'t>, PacketMeta) + Sync,
{
    /// Plans windows while there are slots for them (the caller set `planning`).
    fn plan<'s>(&'s self, scope: &rayon::Scope<'s>) {
        let shards = self.tables.len();
        let len = self.reader.data_len();
        let split = self.split;
        loop {
            let mut p = locked(&self.progress);
            let start = match p.next_start {
                Some(start) if p.planned - p.done < self.windows.len() => start,
                _ => {
                    p.planning = false;
                    return;
                }
            };
            let k = p.planned;
            // Chunks start knowing what the file's records so far taught (pcapng's interfaces);
            // a chunk that needed more is read again when its window is checked.
            let state = p
                .tail
                .as_ref()
                .and_then(|t| t.state.as_ref())
                .map(ReaderState::for_new_chunk);
            drop(p);
            // A chunk starts at the window's start, then at a record start found in each
            // following nominal range of `split` bytes (none in a range: the chunk before it
            // runs on). The window's last chunk ends at the next record start found after it.
            let first_range = start / split + 1;
            let last_range = first_range + self.chunks.max(1) - 1;
            let in_file = |j: &usize| j * split < len;
            let record_start = |j: usize| self.reader.record_start_in(j * split, (j + 1) * split);
            let mut starts = Vec::with_capacity(self.chunks + 1);
            starts.push(start);
            starts.extend(
                (first_range..last_range)
                    .take_while(in_file)
                    .filter_map(record_start),
            );
            let end = (last_range..)
                .take_while(in_file)
                .find_map(record_start)
                .unwrap_or(len);
            starts.push(end);
            let groups = (starts.len() - 1).div_ceil(INTERLEAVE);
            let mut p = locked(&self.progress);
            p.slots[k % self.windows.len()] = SlotProgress {
                range: start..end,
                groups,
                groups_left: groups,
                shards_left: shards,
                joined: Vec::new(),
            };
            p.planned = k + 1;
            // Every window reads at least one record or skips at least one byte.
            p.next_start = (end > start && end < len).then_some(end);
            drop(p);
            let starts = Arc::new(starts);
            for g in 0..groups {
                let (starts, state) = (starts.clone(), state.clone());
                scope.spawn(move |scope| self.read_group(scope, k, g, &starts, state));
            }
        }
    }

    /// Reads group `g` of window `k`: the chunks that start at `starts[g * INTERLEAVE..]`.
    fn read_group<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        k: usize,
        g: usize,
        starts: &[usize],
        state: Option<ReaderState>,
    ) {
        {
            let mut group = write_lock(&self.windows[k % self.windows.len()][g]);
            let first = g * INTERLEAVE;
            let bounds = &starts[first..(first + INTERLEAVE + 1).min(starts.len())];
            let chunks = bounds.len() - 1;
            let ReadGroup { parts, reads } = &mut *group;
            parts.resize_with(parts.len().max(chunks), Routes::default);
            *reads = read_side_by_side(
                self.reader,
                bounds,
                state.as_ref(),
                &mut parts[..chunks],
                self.tables.len(),
            );
        }
        let mut progress = locked(&self.progress);
        let p = &mut *progress;
        p.slots[k % self.windows.len()].groups_left -= 1;
        // Windows are checked in order: this one may let later ones, read already, follow.
        while p.read < p.planned && p.slots[p.read % self.windows.len()].groups_left == 0 {
            let k = p.read;
            self.check(p, k);
            p.read = k + 1;
            for shard in 0..self.tables.len() {
                if !p.shard_running[shard] && p.shard_next[shard] == k {
                    self.spawn_run(scope, p, shard, k);
                }
            }
        }
    }

    /// Checks window `k`, whose groups are read, against the window before (see [`Pipeline`]),
    /// numbers its frames and joins its fragments.
    fn check(&self, p: &mut Progress<'_>, k: usize) {
        let shards = self.tables.len();
        let slot = k % self.windows.len();
        let mut joined: Vec<Vec<Joined>> = (0..shards).map(|_| Vec::new()).collect();
        for group in &self.windows[slot][..p.slots[slot].groups] {
            let mut group = write_lock(group);
            let ReadGroup { parts, reads } = &mut *group;
            for (part, read) in parts.iter_mut().zip(reads.iter_mut()) {
                if let Some(before) = p.tail.take() {
                    if before.end != read.start || before.epoch != read.epoch_start {
                        // The chunk before ended elsewhere (damage, or a record start that
                        // was not one), or read sections or interfaces this one did not
                        // know: read this one again from where the file really goes on, as
                        // the reader before would.
                        *read = read_chunk(
                            self.reader,
                            before.end,
                            read.limit,
                            before.state,
                            part,
                            shards,
                        );
                    }
                }
                part.frame_base = p.frames;
                p.frames += read.frames;
                p.skipped += read.skipped;
                if let Some(e) = &read.error {
                    p.damaged = true;
                    if p.row.error.is_none() {
                        p.row.error = Some(e.to_string());
                        p.row.error_offset = Some(e.offset);
                    }
                }
                p.tail = Some(Tail {
                    end: read.end,
                    epoch: read.epoch_end,
                    state: read.state.clone(),
                });
            }
            count_and_join(p.defrag, p.latest_ns, group.routed(), p.row, &mut joined);
        }
        p.slots[slot].joined = joined;
    }

    /// Spawns shard `shard`'s run of window `k`, which is checked.
    fn spawn_run<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        p: &mut Progress<'_>,
        shard: usize,
        k: usize,
    ) {
        p.shard_running[shard] = true;
        let slot = &mut p.slots[k % self.windows.len()];
        let groups = slot.groups;
        let joined = slot
            .joined
            .get_mut(shard)
            .map(std::mem::take)
            .unwrap_or_default();
        scope.spawn(move |scope| self.run(scope, shard, k, groups, joined));
    }

    /// Runs shard `shard`'s segments of window `k` (read in `groups` groups) through its table,
    /// then starts what was waiting for that: its run of the next window and, when it was the
    /// window's last shard, the planning of a window into its slot.
    fn run<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        shard: usize,
        k: usize,
        groups: usize,
        joined: Vec<Joined>,
    ) {
        {
            let slot = k % self.windows.len();
            let groups: Vec<_> = self.windows[slot][..groups].iter().map(read_lock).collect();
            let parts = groups.iter().flat_map(|g| g.routed());
            let mut table = locked(&self.tables[shard]);
            run_table(&mut table, shard, joined, parts, self.out, &self.insert);
        }
        let mut progress = locked(&self.progress);
        let p = &mut *progress;
        p.shard_running[shard] = false;
        p.shard_next[shard] = k + 1;
        if k + 1 < p.read {
            self.spawn_run(scope, p, shard, k + 1);
        }
        let slot = &mut p.slots[k % self.windows.len()];
        slot.shards_left -= 1;
        if slot.shards_left > 0 {
            return;
        }
        let range = slot.range.clone();
        p.done = k + 1;
        (p.after)(range.end);
        let plan = !p.planning && p.next_start.is_some();
        p.planning |= plan;
        drop(progress);
        if plan {
            scope.spawn(move |scope| self.plan(scope));
        }
        // The window's pages leave the process. Held segments that still borrow from them are
        // read again from the page cache.
        release_in_pieces(self.release, range, self.tables.len());
        // The window's rows are encoded by whichever worker is free.
        self.out.drain();
    }
}

/// Releases `range` of the mapping (see [`CaptureData::release`](tlscap_io::CaptureData)) in
/// `pieces` pieces, in parallel.
fn release_in_pieces(release: &(dyn Fn(Range<usize>) + Sync), range: Range<usize>, pieces: usize) {
    let piece = range.len().div_ceil(pieces.max(1)).max(1);
    (0..pieces.max(1)).into_par_iter().for_each(|k| {
        let from = (range.start + k * piece).min(range.end);
        release(from..(from + piece).min(range.end));
    });
}

/// Runs shard `shard`'s segments of `parts`, and the datagrams joined for it, through its
/// table, in capture order; then sends the table's rows.
fn run_table<'t, 'a, 'p: 'a, F>(
    table: &mut FlowTable<'t, TlsHandler>,
    shard: usize,
    joined: Vec<Joined>,
    parts: impl IntoIterator<Item = &'a Routes<'p>>,
    out: Sink<'_>,
    insert: &F,
) where
    F: Fn(&mut FlowTable<'t, TlsHandler>, FlowKey, &TcpSegment<'p>, PacketMeta) + Sync,
{
    if joined.is_empty() {
        for p in parts {
            let segs = &p.per_shard[shard];
            for (k, r) in segs.iter().enumerate() {
                payload_ahead(segs, k);
                let seg = r.segment(&p.whole);
                insert(table, FlowKey::of(&seg), &seg, r.at(p.frame_base));
            }
        }
    } else {
        // Segments and joined datagrams, merged by frame so each flow sees capture order.
        let mut joined = joined.into_iter().peekable();
        for p in parts {
            let segs = &p.per_shard[shard];
            for (k, r) in segs.iter().enumerate() {
                payload_ahead(segs, k);
                let meta = r.at(p.frame_base);
                while let Some(j) = joined.next_if(|j| j.meta.frame < meta.frame) {
                    insert_joined(table, &j);
                }
                let seg = r.segment(&p.whole);
                insert(table, FlowKey::of(&seg), &seg, meta);
            }
        }
        for j in joined {
            insert_joined(table, &j);
        }
    }
    table.handler.send(out);
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
    out: Sink<'_>,
    progress: &(dyn Fn(u64) + Sync),
    row: &mut FileRow,
) {
    scan_bytes_releasing(data, &|_| {}, capture, opts, out, progress, row);
}

/// [`scan_bytes`], telling `release` of each range of `data` the scan is done with (so a
/// mapping's pages can leave the process as the scan moves on).
fn scan_bytes_releasing(
    data: &[u8],
    release: &(dyn Fn(Range<usize>) + Sync),
    capture: Arc<str>,
    opts: ScanOptions,
    out: Sink<'_>,
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
    let mut shards = Shards::new(&capture, opts.shards, out.encoders);
    let mut done_bytes = 0u64;
    let after = |offset: usize| {
        progress((offset as u64).saturating_sub(done_bytes));
        done_bytes = offset as u64;
    };
    if opts.split > 0 && reader.splittable() {
        reader.read_prologue();
        shards.split(
            &reader,
            opts.split,
            row,
            out,
            insert_lasting,
            after,
            release,
        );
    } else {
        shards.consume(&mut reader, opts.window, row, out, insert_lasting, after);
        record_error(&reader, row);
    }
    shards.finish(row, out);
    progress((data.len() as u64).saturating_sub(done_bytes));
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
    out: Sink<'_>,
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
            scan_bytes(&buf, capture, opts, out, &|_| {}, row);
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
    let mut shards: Shards<'static> = Shards::new(&capture, opts.shards, out.encoders);
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
            out,
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
    shards.finish(row, out);
}

/// Reads the consecutive chunks `bounds[i]..bounds[i + 1]` of a split file side by side, one
/// record of each in turn, each into its part (see [`INTERLEAVE`]).
fn read_side_by_side<'a>(
    reader: &PacketReader<'a>,
    bounds: &[usize],
    state: Option<&ReaderState>,
    parts: &mut [Routes<'a>],
    shards: usize,
) -> Vec<ChunkRead> {
    debug_assert!(parts.len() < bounds.len() && parts.len() <= INTERLEAVE);
    let mut readers: Vec<PacketReader<'a>> = bounds
        .windows(2)
        .map(|w| {
            reader
                .chunk(w[0], w[1], state)
                .expect("only splittable files are split")
        })
        .collect();
    let epochs: Vec<u64> = readers.iter().map(PacketReader::epoch).collect();
    for (p, w) in parts.iter_mut().zip(bounds.windows(2)) {
        p.reset(shards, w[1].saturating_sub(w[0]) / TYPICAL_RECORD_BYTES);
    }
    // A chunk's reader is not asked again once it has stopped, as when read alone.
    let mut live = [false; INTERLEAVE];
    live[..readers.len()].fill(true);
    // A record of each chunk in turn: while one chunk's record is decoded and routed, the
    // loads of the other chunks' next records are in flight.
    while live.iter().any(|&l| l) {
        for ((r, part), live) in readers.iter_mut().zip(parts.iter_mut()).zip(&mut live) {
            if !*live {
                continue;
            }
            match r.next() {
                Some(p) => {
                    r.prefetch_next();
                    part.push(p);
                }
                None => *live = false,
            }
        }
    }
    readers
        .iter()
        .zip(bounds.windows(2))
        .zip(epochs)
        .map(|((r, w), epoch)| ChunkRead::of(r, w[0], w[1], epoch))
        .collect()
}

/// Segments a shard looks ahead to start loading a payload: enough to cover a load from
/// memory at a few hundred instructions a segment.
const PAYLOAD_AHEAD: usize = 8;

/// Starts loading the first payload line of the segment [`PAYLOAD_AHEAD`] after `segs[k]`.
/// Routing read the headers of a window's packets long before a shard gets to them, and their
/// payloads not at all: where a segment holds a TLS record header, the TLS layer would
/// otherwise wait on memory for it.
#[inline(always)]
fn payload_ahead(segs: &[Routed<'_>], k: usize) {
    if let Some(ahead) = segs.get(k + PAYLOAD_AHEAD) {
        prefetch(ahead.payload);
    }
}

/// A segment of a mapped file enters the table borrowed: the mapping outlives the table.
fn insert_lasting<'a>(
    table: &mut FlowTable<'a, TlsHandler>,
    key: FlowKey,
    seg: &TcpSegment<'a>,
    at: PacketMeta,
) {
    table.segment(key, seg, at);
}

/// Reads the records of a split file that start in `start..limit` into `part`; `after` is the
/// state of the reader of the chunk before when this one starts where that one stopped.
fn read_chunk<'a>(
    reader: &PacketReader<'a>,
    start: usize,
    limit: usize,
    after: Option<ReaderState>,
    part: &mut Routes<'a>,
    shards: usize,
) -> ChunkRead {
    part.reset(shards, limit.saturating_sub(start) / TYPICAL_RECORD_BYTES);
    let mut chunk = reader
        .chunk(start, limit, after.as_ref())
        .expect("only splittable files are split");
    let epoch = chunk.epoch();
    route(chunk.by_ref(), part);
    ChunkRead::of(&chunk, start, limit, epoch)
}

/// A joined datagram's segment enters the table as transient: the datagram is gone afterwards.
fn insert_joined(table: &mut FlowTable<'_, TlsHandler>, j: &Joined) {
    if let Ok(seg) = decode_reassembled(&j.datagram, j.context) {
        table.segment_transient(j.key, &seg, j.meta);
    }
}

/// Decodes packets and routes each TCP segment to the shard that owns its flow, in order.
fn route<'a>(packets: impl Iterator<Item = RawPacket<'a>>, out: &mut Routes<'a>) {
    for p in packets {
        out.push(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kept buffer is the same allocation, emptied: what makes keeping buffers save their
    /// freeing and first touches. (If the standard library stopped collecting in place, buffers
    /// would come back empty and new, still correct, and this would say so.)
    /// What each packet costs to route: one cache line.
    #[test]
    fn a_routed_segment_fills_one_cache_line() {
        assert_eq!(std::mem::size_of::<Routed<'_>>(), 64);
    }

    #[test]
    fn kept_buffers_keep_their_allocation() {
        let mut v: Vec<Routed<'_>> = Vec::with_capacity(1000);
        let (ptr, capacity) = (v.as_mut_ptr() as usize, v.capacity());
        let kept: Vec<Routed<'static>> = any_lifetime(v);
        assert!(kept.is_empty());
        assert_eq!((kept.as_ptr() as usize, kept.capacity()), (ptr, capacity));
    }
}
