//! TCP stream reassembly, sharded by a symmetric flow hash.
//!
//! Every segment of a connection (both directions) carries the same [`FlowKey`] hash, so it is
//! routed to the same shard, whose [`FlowTable`] is owned by one worker: no locks (Arkime's
//! design). A table delivers each direction's bytes in sequence order to a [`StreamHandler`],
//! drops retransmissions, holds out-of-order segments (bounded, as slices of the capture: never
//! copied) until the gap fills, and skips gaps that do not fill instead of stalling.
//!
//! **Invariant:** a flow's memory is its fixed state plus at most [`MAX_HELD_SEGMENTS`] held
//! slices per direction; the payload bytes themselves stay in the mapped capture.

#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::net::IpAddr;

use hashbrown::HashMap;
use tlscap_decode::{flags, TcpSegment, Tunnel};

/// Out-of-order segments held per direction before the oldest gap is declared lost.
pub const MAX_HELD_SEGMENTS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// A connection's identity, the same for both directions (endpoints in sorted order).
///
/// Built for every packet, so it is plain integers, cheap to order, hash and copy: each
/// endpoint's address as 128 bits (IPv4 in the low 32) and its port, and the address family
/// (a packet's two addresses always share one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    lo: KeyEnd,
    hi: KeyEnd,
    v6: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KeyEnd {
    addr: u128,
    port: u16,
}

impl KeyEnd {
    #[inline]
    fn new(ip: IpAddr, port: u16) -> KeyEnd {
        let addr = match ip {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        };
        KeyEnd { addr, port }
    }
}

impl FlowKey {
    #[inline]
    pub fn of(seg: &TcpSegment<'_>) -> FlowKey {
        let a = KeyEnd::new(seg.src, seg.src_port);
        let b = KeyEnd::new(seg.dst, seg.dst_port);
        let (lo, hi) = if (a.addr, a.port) <= (b.addr, b.port) {
            (a, b)
        } else {
            (b, a)
        };
        FlowKey {
            lo,
            hi,
            v6: seg.src.is_ipv6(),
        }
    }

    /// The key folded to 64 bits, for hashing: the halves of both addresses and both ports.
    /// Distinct keys may fold alike; the hash table compares whole keys.
    #[inline]
    fn fold(&self) -> u64 {
        let lo = self.lo.addr as u64 ^ (self.lo.addr >> 64) as u64;
        let hi = self.hi.addr as u64 ^ (self.hi.addr >> 64) as u64;
        let ports = u64::from(self.lo.port) << 16 | u64::from(self.hi.port);
        lo ^ hi.rotate_left(29) ^ ports << 40 ^ u64::from(self.v6)
    }

    /// The shard of `shards` that owns `seg`'s connection, without building its key: each
    /// endpoint folded to a word, the two words added (so both directions agree), then a
    /// multiplicative mix. The same in every run.
    #[inline]
    pub fn shard_of(seg: &TcpSegment<'_>, shards: usize) -> usize {
        let end = |ip: IpAddr, port: u16| {
            let addr = match ip {
                IpAddr::V4(a) => u64::from(u32::from(a)),
                IpAddr::V6(a) => {
                    let bits = u128::from(a);
                    bits as u64 ^ (bits >> 64) as u64
                }
            };
            addr ^ u64::from(port) << 40
        };
        let x = end(seg.src, seg.src_port).wrapping_add(end(seg.dst, seg.dst_port));
        let m = u128::from(x) * 0x9e37_79b9_7f4a_7c15_u128;
        let h = (m as u64) ^ ((m >> 64) as u64);
        ((h >> 32) as usize * shards) >> 32
    }
}

impl std::hash::Hash for FlowKey {
    /// One word for the table's hasher to mix; equality still compares the whole key.
    #[inline]
    fn hash<S: std::hash::Hasher>(&self, state: &mut S) {
        state.write_u64(self.fold());
    }
}

/// Which endpoint sent a segment: A is the first endpoint the table saw for the flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    A = 0,
    B = 1,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// Frame number and time of the packet being processed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketMeta {
    pub frame: u64,
    pub ts_ns: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseKind {
    Fin,
    Rst,
}

/// Per-direction capture-quality counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirStats {
    pub packets: u64,
    pub payload_bytes: u64,
    pub retransmitted: u64,
    pub out_of_order: u64,
    pub missing_bytes: u64,
    /// Segments whose payload the snap length cut.
    pub truncated: u64,
}

/// What a finished flow reports about its transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowInfo {
    pub a: Endpoint,
    pub b: Endpoint,
    /// The side that sent the first SYN, when the capture saw it.
    pub syn_from: Option<Side>,
    pub first: PacketMeta,
    pub last: PacketMeta,
    pub stats: [DirStats; 2],
    pub vlan: Option<u16>,
    /// The outermost tunnel of the connection's first packet.
    pub tunnel: Option<Tunnel>,
}

/// Consumes reassembled streams. One `Conn` per TCP connection.
pub trait StreamHandler {
    type Conn;
    fn open(&mut self, info: &FlowInfo) -> Self::Conn;
    /// In-order payload bytes from `side`, all from the packet `at`.
    fn data(&mut self, conn: &mut Self::Conn, side: Side, data: &[u8], at: PacketMeta);
    /// `missing` bytes of `side`'s stream were never captured.
    fn gap(&mut self, conn: &mut Self::Conn, side: Side, missing: u64);
    fn close(&mut self, conn: &mut Self::Conn, side: Side, kind: CloseKind, at: PacketMeta);
    /// The connection is over, or the capture ended.
    fn finish(&mut self, conn: Self::Conn, info: &FlowInfo);
    /// False when the handler has no further use for this connection's payload.
    fn wants_data(&self, conn: &Self::Conn) -> bool;
}

/// A segment waiting for a gap before it to fill. Its bytes are a slice of the capture when
/// the capture outlives the table (a mapping), and a copy when they come from a streamed chunk
/// that will be gone by then (compressed input, stdin).
struct Held<'a> {
    seq: u32,
    data: Cow<'a, [u8]>,
    at: PacketMeta,
}

/// A segment's payload as it enters the table.
#[derive(Clone, Copy)]
enum Payload<'a, 'b> {
    /// Lives as long as the table: held as a borrow.
    Lasting(&'a [u8]),
    /// Lives only for this call: copied if it must be held.
    Transient(&'b [u8]),
}

impl<'a> Payload<'a, '_> {
    fn bytes(&self) -> &[u8] {
        match *self {
            Payload::Lasting(b) => b,
            Payload::Transient(b) => b,
        }
    }
    fn hold(self) -> Cow<'a, [u8]> {
        match self {
            Payload::Lasting(b) => Cow::Borrowed(b),
            Payload::Transient(b) => Cow::Owned(b.to_vec()),
        }
    }
}

struct Direction<'a> {
    next_seq: Option<u32>,
    held: Vec<Held<'a>>,
    fin: bool,
    stats: DirStats,
}

impl Direction<'_> {
    fn new() -> Self {
        Direction {
            next_seq: None,
            held: Vec::new(),
            fin: false,
            stats: DirStats::default(),
        }
    }
}

struct Flow<'a, C> {
    info: FlowInfo,
    dirs: [Direction<'a>; 2],
    conn: C,
    rst: bool,
    wants_data: bool,
}

/// Signed distance from `b` to `a` in sequence space (wraps at 2^32).
#[inline]
fn seq_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// One shard's connections. `'a` is the lifetime of the capture's bytes.
pub struct FlowTable<'a, H: StreamHandler> {
    flows: HashMap<FlowKey, Flow<'a, H::Conn>>,
    pub handler: H,
}

impl<'a, H: StreamHandler> FlowTable<'a, H> {
    pub fn new(handler: H) -> Self {
        FlowTable {
            flows: HashMap::new(),
            handler,
        }
    }

    pub fn active_flows(&self) -> usize {
        self.flows.len()
    }

    /// Processes one segment whose bytes outlive the table (a mapped capture). Segments of a
    /// flow must come in capture order.
    pub fn segment(&mut self, key: FlowKey, seg: &TcpSegment<'a>, at: PacketMeta) {
        self.process(key, seg, Payload::Lasting(seg.payload), at);
    }

    /// Processes one segment whose bytes are gone after this call (streamed input): a segment
    /// that must wait for a gap to fill is copied.
    pub fn segment_transient(&mut self, key: FlowKey, seg: &TcpSegment<'_>, at: PacketMeta) {
        self.process(key, seg, Payload::Transient(seg.payload), at);
    }

    fn process<'b>(
        &mut self,
        key: FlowKey,
        seg: &TcpSegment<'b>,
        payload: Payload<'a, 'b>,
        at: PacketMeta,
    ) {
        let src = Endpoint {
            ip: seg.src,
            port: seg.src_port,
        };
        let is_syn = seg.has(flags::SYN) && !seg.has(flags::ACK);
        // Port reuse: a new SYN on a connection that already ended starts a new connection.
        if is_syn {
            if let Some(f) = self.flows.get(&key) {
                let ended = f.rst || (f.dirs[0].fin && f.dirs[1].fin);
                if ended {
                    let f = self.flows.remove(&key).unwrap();
                    self.handler.finish(f.conn, &f.info);
                }
            }
        }
        let flow = match self.flows.get_mut(&key) {
            Some(f) => f,
            // A bare ACK, FIN or RST of a connection we do not track (one that already ended,
            // or began before the capture with nothing more to say) opens no flow.
            None if !seg.has(flags::SYN) && seg.payload.is_empty() => return,
            None => {
                let dst = Endpoint {
                    ip: seg.dst,
                    port: seg.dst_port,
                };
                let syn_from = if is_syn {
                    Some(Side::A)
                } else if seg.has(flags::SYN) {
                    Some(Side::B) // a SYN-ACK first: its receiver is the client
                } else {
                    None
                };
                let info = FlowInfo {
                    a: src,
                    b: dst,
                    syn_from,
                    first: at,
                    last: at,
                    stats: [DirStats::default(); 2],
                    vlan: seg.vlan,
                    tunnel: seg.tunnel,
                };
                let conn = self.handler.open(&info);
                self.flows.entry(key).or_insert(Flow {
                    info,
                    dirs: [Direction::new(), Direction::new()],
                    conn,
                    rst: false,
                    wants_data: true,
                })
            }
        };
        let side = if src == flow.info.a { Side::A } else { Side::B };
        let s = side as usize;
        flow.info.last = at;
        flow.dirs[s].stats.packets += 1;
        if seg.has(flags::SYN) {
            if flow.info.syn_from.is_none() {
                flow.info.syn_from = Some(if seg.has(flags::ACK) {
                    side.other()
                } else {
                    side
                });
            }
            flow.dirs[s].next_seq = Some(seg.seq.wrapping_add(1));
        }
        // An ACK from this side for bytes the other side sent that we never saw: skip the gap
        // now rather than wait for the hold queue to fill.
        if seg.has(flags::ACK) && flow.wants_data {
            let o = 1 - s;
            if let (Some(next), Some(first)) = (flow.dirs[o].next_seq, flow.dirs[o].held.first()) {
                if seq_diff(seg.ack, next) > 0 && seq_diff(seg.ack, first.seq) >= 0 {
                    Self::skip_gap(&mut self.handler, flow, side.other());
                }
            }
        }
        // Payload starts one past a SYN's own sequence number (TCP Fast Open data).
        let seq = if seg.has(flags::SYN) {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        if !seg.payload.is_empty() {
            flow.dirs[s].stats.payload_bytes += seg.payload.len() as u64;
            if flow.wants_data {
                Self::payload(&mut self.handler, flow, side, seq, payload, at);
            }
        }
        let cut = (seg.wire_len as usize).saturating_sub(seg.payload.len());
        if cut > 0 {
            // The snap length cut this segment: its tail is missing from the stream. When it was
            // delivered in order, skip the tail now so the stream stays in sequence.
            let end = seq.wrapping_add(seg.payload.len() as u32);
            let dir = &mut flow.dirs[s];
            dir.stats.truncated += 1;
            if flow.wants_data && dir.next_seq == Some(end) {
                dir.stats.missing_bytes += cut as u64;
                dir.next_seq = Some(end.wrapping_add(cut as u32));
                self.handler.gap(&mut flow.conn, side, cut as u64);
                Self::drain_held(&mut self.handler, flow, side);
            }
        }
        if seg.has(flags::FIN) || seg.has(flags::RST) {
            let kind = if seg.has(flags::RST) {
                CloseKind::Rst
            } else {
                CloseKind::Fin
            };
            while !flow.dirs[s].held.is_empty() {
                Self::skip_gap(&mut self.handler, flow, side);
            }
            let first_close = !flow.dirs[s].fin && !flow.rst;
            if kind == CloseKind::Rst {
                flow.rst = true;
            } else {
                flow.dirs[s].fin = true;
            }
            if first_close {
                self.handler.close(&mut flow.conn, side, kind, at);
            }
            let done = flow.rst || (flow.dirs[0].fin && flow.dirs[1].fin);
            if done {
                let f = self.flows.remove(&key).unwrap();
                let mut info = f.info;
                info.stats = [f.dirs[0].stats, f.dirs[1].stats];
                self.handler.finish(f.conn, &info);
            }
        }
    }

    fn payload(
        h: &mut H,
        flow: &mut Flow<'a, H::Conn>,
        side: Side,
        seq: u32,
        payload: Payload<'a, '_>,
        at: PacketMeta,
    ) {
        let data = payload.bytes();
        let s = side as usize;
        let dir = &mut flow.dirs[s];
        let next = *dir.next_seq.get_or_insert(seq);
        let d = seq_diff(seq, next);
        if d < 0 {
            let overlap = d.unsigned_abs() as usize;
            if overlap >= data.len() {
                dir.stats.retransmitted += 1;
                return;
            }
            // A retransmission that carries new bytes past what we have: keep the new part.
            dir.stats.retransmitted += 1;
            Self::deliver(h, flow, side, &data[overlap..], at);
        } else if d == 0 {
            Self::deliver(h, flow, side, data, at);
        } else {
            dir.stats.out_of_order += 1;
            if dir
                .held
                .iter()
                .any(|x| x.seq == seq && x.data.len() >= data.len())
            {
                dir.stats.retransmitted += 1;
                return;
            }
            let pos = dir.held.partition_point(|x| seq_diff(x.seq, seq) <= 0);
            dir.held.insert(
                pos,
                Held {
                    seq,
                    data: payload.hold(),
                    at,
                },
            );
            if dir.held.len() > MAX_HELD_SEGMENTS {
                Self::skip_gap(h, flow, side);
            }
            return;
        }
        Self::drain_held(h, flow, side);
    }

    fn deliver(h: &mut H, flow: &mut Flow<'a, H::Conn>, side: Side, data: &[u8], at: PacketMeta) {
        let dir = &mut flow.dirs[side as usize];
        dir.next_seq = Some(dir.next_seq.unwrap_or(0).wrapping_add(data.len() as u32));
        h.data(&mut flow.conn, side, data, at);
        if !h.wants_data(&flow.conn) {
            flow.wants_data = false;
            flow.dirs[0].held.clear();
            flow.dirs[1].held.clear();
        }
    }

    /// Delivers held segments that have become contiguous.
    fn drain_held(h: &mut H, flow: &mut Flow<'a, H::Conn>, side: Side) {
        let s = side as usize;
        while let Some(first_seq) = flow.dirs[s].held.first().map(|x| x.seq) {
            let next = flow.dirs[s].next_seq.unwrap_or(first_seq);
            let d = seq_diff(first_seq, next);
            if d > 0 {
                break;
            }
            let first = flow.dirs[s].held.remove(0);
            let overlap = d.unsigned_abs() as usize;
            if overlap < first.data.len() {
                Self::deliver(h, flow, side, &first.data[overlap..], first.at);
            }
        }
    }

    /// Declares the bytes before the first held segment lost and resumes from it.
    fn skip_gap(h: &mut H, flow: &mut Flow<'a, H::Conn>, side: Side) {
        let s = side as usize;
        let Some(first_seq) = flow.dirs[s].held.first().map(|x| x.seq) else {
            return;
        };
        let next = flow.dirs[s].next_seq.unwrap_or(first_seq);
        let missing = seq_diff(first_seq, next).max(0) as u64;
        if missing > 0 {
            flow.dirs[s].stats.missing_bytes += missing;
            h.gap(&mut flow.conn, side, missing);
            flow.dirs[s].next_seq = Some(first_seq);
        }
        Self::drain_held(h, flow, side);
    }

    /// Ends every flow (end of capture): held segments past gaps are delivered first.
    pub fn finish_all(&mut self) {
        for (_, mut f) in self.flows.drain() {
            for side in [Side::A, Side::B] {
                while !f.dirs[side as usize].held.is_empty() {
                    Self::skip_gap(&mut self.handler, &mut f, side);
                }
            }
            let mut info = f.info;
            info.stats = [f.dirs[0].stats, f.dirs[1].stats];
            self.handler.finish(f.conn, &info);
        }
    }
}
