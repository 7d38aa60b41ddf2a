//! TCP stream reassembly, sharded by a symmetric flow hash, in bounded memory.
//!
//! Every segment of a connection (both directions) carries the same [`FlowKey`] hash, so it is
//! routed to the same shard, whose [`FlowTable`] is owned by one worker: no locks (Arkime's
//! design). A table delivers each direction's bytes in sequence order to a [`StreamHandler`],
//! drops retransmissions, holds out-of-order segments (bounded; slices of the capture, copied
//! only when the capture is streamed) until the gap fills, and skips gaps that do not fill
//! instead of stalling.
//!
//! **Invariant:** a table's memory is bounded by its [`TableLimits`], whatever the capture:
//! - a flow that never carried payload (a SYN of a flood or a port scan) is one compact slot
//!   ([`FLOW_SLOT_BYTES`] bytes) and nothing else: its handler state is allocated with its first
//!   payload, and the handler hears nothing of a flow that never carries any;
//! - at most [`TableLimits::max_flows`] flows; a new flow in a full table evicts the least
//!   recently active one (silent flows first);
//! - a flow holds at most [`MAX_HELD_SEGMENTS`] out-of-order segments and [`MAX_HELD_BYTES`]
//!   of their payload per direction;
//! - the state of flows that carried payload (the handler's, by its own
//!   [`StreamHandler::heap_bytes`], and held segments) is charged to a memory budget; past it,
//!   the least recently active of those flows are evicted;
//! - a flow with no packet for its idle timeout, in capture time, is finished and removed.
//!
//! Every flow a limit cut says so in [`FlowInfo::limits`].

#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hashbrown::{DefaultHashBuilder, HashTable};
use tlscap_decode::{flags, TcpSegment, Tunnel};

/// Out-of-order segments held per direction before the oldest gap is declared lost.
pub const MAX_HELD_SEGMENTS: usize = 64;

/// Payload bytes held per direction before the oldest gap is declared lost: 64 full-size
/// Ethernet segments fit, so the segment count decides for ordinary traffic; this cap stops 64
/// segments offloaded to 64 KiB each from holding 4 MiB.
pub const MAX_HELD_BYTES: usize = 256 * 1024;

/// Capture time between two sweeps for idle flows. A sweep looks only at the heads of the
/// recency lists, so it costs nothing when no flow is due.
const SWEEP_INTERVAL_NS: i64 = 1_000_000_000;

/// The bytes one flow's slot takes, whatever it carried.
pub const FLOW_SLOT_BYTES: usize = std::mem::size_of::<Option<Flow<'static, ()>>>();

// Key 40 bytes, recency links 8, first and last packet 32, sequence numbers 16, packet counts
// 16, flags and VLAN 11, two boxes 16: 139, padded to 144. A million SYNs cost 144 MB.
const _: () = assert!(FLOW_SLOT_BYTES <= 144, "a flow's slot grew");

const NS_PER_S: i64 = 1_000_000_000;

/// How much one table may hold. [`TableLimits::DEFAULT`] is for a whole capture; a capture
/// split over shards gives each shard [`TableLimits::per_shard`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableLimits {
    /// Flows tracked at once.
    pub max_flows: usize,
    /// Bytes of per-flow state charged for flows that carried payload: the handler's state and
    /// held segments' payload (counted whether borrowed or copied, so that a mapped and a
    /// streamed capture give the same rows).
    pub memory_budget: usize,
    /// Capture time without a packet after which a flow that carried payload is finished.
    pub idle_timeout_ns: i64,
    /// The same for a flow that never carried payload (a SYN, a handshake and nothing more).
    pub silent_idle_timeout_ns: i64,
}

impl TableLimits {
    /// Limits for a whole capture.
    ///
    /// - 1 Mi flows: a million concurrent connections fit, in 1 Mi slots of
    ///   [`FLOW_SLOT_BYTES`] (144) bytes, 144 MiB, plus the index (5 bytes a bucket).
    /// - 256 MiB of state for flows that carried payload (TLS buffers, handshakes kept for
    ///   their rows, held segments): some 100k handshakes in progress at once. With the slots,
    ///   this keeps a scan's anonymous memory under 512 MiB.
    /// - 10 minutes idle for a flow that carried payload: Suricata's `flow-timeouts.tcp.established`
    ///   default (600 s); Zeek's `tcp_inactivity_timeout` is 5 min. The longer of the two,
    ///   because an established TLS connection that idles (HTTP keep-alive, long polls) and is
    ///   evicted has its later packets start a new, mid-stream flow.
    /// - 1 minute idle for a flow that never carried payload: Suricata's
    ///   `flow-timeouts.tcp.new` default (60 s). A connection attempt unanswered for a minute
    ///   has nothing more to tell, and a SYN flood's flows leave after a minute.
    pub const DEFAULT: TableLimits = TableLimits {
        max_flows: 1 << 20,
        memory_budget: 256 << 20,
        idle_timeout_ns: 600 * NS_PER_S,
        silent_idle_timeout_ns: 60 * NS_PER_S,
    };

    /// One shard's share when `shards` tables split these limits (the timeouts are not split).
    pub fn per_shard(self, shards: usize) -> TableLimits {
        let shards = shards.max(1);
        TableLimits {
            max_flows: self.max_flows.div_ceil(shards).max(1),
            memory_budget: self.memory_budget.div_ceil(shards),
            ..self
        }
    }
}

impl Default for TableLimits {
    fn default() -> Self {
        TableLimits::DEFAULT
    }
}

/// The limits that cut what a flow could tell: a set, reported when the flow finishes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LimitsHit(u8);

impl LimitsHit {
    /// The hold queue reached [`MAX_HELD_SEGMENTS`]: a gap was skipped that a later
    /// retransmission might have filled.
    pub const HELD_SEGMENTS: LimitsHit = LimitsHit(1);
    /// The held payload reached [`MAX_HELD_BYTES`]: likewise.
    pub const HELD_BYTES: LimitsHit = LimitsHit(2);
    /// Finished after its idle timeout: later packets of the connection, if any, started a new
    /// flow.
    pub const IDLE_TIMEOUT: LimitsHit = LimitsHit(4);
    /// Evicted to make room for a new flow in a full table.
    pub const TABLE_FULL: LimitsHit = LimitsHit(8);
    /// Evicted because the table's memory budget was spent.
    pub const MEMORY_BUDGET: LimitsHit = LimitsHit(16);

    const NAMES: [(LimitsHit, &'static str); 5] = [
        (LimitsHit::HELD_SEGMENTS, "held segments"),
        (LimitsHit::HELD_BYTES, "held bytes"),
        (LimitsHit::IDLE_TIMEOUT, "idle timeout"),
        (LimitsHit::TABLE_FULL, "flow table full"),
        (LimitsHit::MEMORY_BUDGET, "memory budget"),
    ];

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn contains(self, other: LimitsHit) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn insert(&mut self, other: LimitsHit) {
        self.0 |= other.0;
    }

    /// The names of the limits hit, in a fixed order (the `limits` column's values).
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        LimitsHit::NAMES
            .into_iter()
            .filter(move |(l, _)| self.contains(*l))
            .map(|(_, name)| name)
    }
}

/// Flows a table finished early, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evictions {
    /// No packet for the idle timeout.
    pub idle: u64,
    /// Evicted for room in a full table.
    pub table_full: u64,
    /// Evicted because the memory budget was spent.
    pub memory_budget: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// A connection's identity, the same for both directions (endpoints in sorted order).
///
/// Built for every packet and kept in every flow's slot, so it is plain integers, cheap to
/// order, hash and copy, and small: both addresses as 64-bit halves (IPv4 in the low 32 bits;
/// halves rather than `u128`, whose 16-byte alignment would pad the key to 48 bytes), both
/// ports, and the address family (a packet's two addresses always share one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    /// High and low halves of the lower endpoint's address, then of the higher's.
    addrs: [u64; 4],
    ports: [u16; 2],
    v6: bool,
}

#[inline]
fn addr_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

impl FlowKey {
    #[inline]
    pub fn of(seg: &TcpSegment<'_>) -> FlowKey {
        if let (IpAddr::V4(s), IpAddr::V4(d)) = (seg.src, seg.dst) {
            // Most keys: each endpoint in one word, address above port, ordered as below.
            let a = u64::from(u32::from(s)) << 16 | u64::from(seg.src_port);
            let b = u64::from(u32::from(d)) << 16 | u64::from(seg.dst_port);
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            return FlowKey {
                addrs: [0, lo >> 16, 0, hi >> 16],
                ports: [lo as u16, hi as u16],
                v6: false,
            };
        }
        let a = (addr_bits(seg.src), seg.src_port);
        let b = (addr_bits(seg.dst), seg.dst_port);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        FlowKey {
            addrs: [
                (lo.0 >> 64) as u64,
                lo.0 as u64,
                (hi.0 >> 64) as u64,
                hi.0 as u64,
            ],
            ports: [lo.1, hi.1],
            v6: seg.src.is_ipv6(),
        }
    }

    /// Whether `ip`:`port` is the key's lower endpoint.
    #[inline(always)]
    fn is_lo(&self, ip: IpAddr, port: u16) -> bool {
        let bits = addr_bits(ip);
        [(bits >> 64) as u64, bits as u64] == [self.addrs[0], self.addrs[1]]
            && port == self.ports[0]
    }

    /// The lower (`lo`) or higher endpoint.
    fn endpoint(&self, lo: bool) -> Endpoint {
        let (i, port) = if lo {
            (0, self.ports[0])
        } else {
            (2, self.ports[1])
        };
        let bits = u128::from(self.addrs[i]) << 64 | u128::from(self.addrs[i + 1]);
        let ip = if self.v6 {
            IpAddr::V6(Ipv6Addr::from(bits))
        } else {
            IpAddr::V4(Ipv4Addr::from(bits as u32))
        };
        Endpoint { ip, port }
    }

    /// The key folded to 64 bits, for hashing: the halves of both addresses and both ports.
    /// Distinct keys may fold alike; the hash table compares whole keys.
    #[inline]
    fn fold(&self) -> u64 {
        let lo = self.addrs[1] ^ self.addrs[0];
        let hi = self.addrs[3] ^ self.addrs[2];
        let ports = u64::from(self.ports[0]) << 16 | u64::from(self.ports[1]);
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
    /// The limits that cut what this flow could tell (empty in `open`).
    pub limits: LimitsHit,
}

/// Consumes reassembled streams. One `Conn` per TCP connection that carries payload: a flow is
/// opened with its first segment that carries payload, and a flow that never carries any (a
/// SYN, a bare handshake, a reset) is never seen by the handler.
pub trait StreamHandler {
    type Conn;
    fn open(&mut self, info: &FlowInfo) -> Self::Conn;
    /// In-order payload bytes from `side`, all from the packet `at`.
    fn data(&mut self, conn: &mut Self::Conn, side: Side, data: &[u8], at: PacketMeta);
    /// `missing` bytes of `side`'s stream were never captured.
    fn gap(&mut self, conn: &mut Self::Conn, side: Side, missing: u64);
    fn close(&mut self, conn: &mut Self::Conn, side: Side, kind: CloseKind, at: PacketMeta);
    /// The connection is over, the capture ended, or a limit evicted it (`info.limits` says).
    fn finish(&mut self, conn: Self::Conn, info: &FlowInfo);
    /// False when the handler has no further use for this connection's payload.
    fn wants_data(&self, conn: &Self::Conn) -> bool;
    /// How many of `side`'s next in-order bytes the handler would only count past without
    /// reading them (the rest of an encrypted record's body, say). A segment that lies wholly
    /// within them is not given to [`StreamHandler::data`]: the table counts it off, and tells
    /// the handler with [`StreamHandler::skipped`] before it next hears of the connection.
    /// Asked after every [`StreamHandler::data`], so it must be cheap.
    fn blind_bytes(&self, _conn: &Self::Conn, _side: Side) -> u64 {
        0
    }
    /// `n` bytes of `side` within [`StreamHandler::blind_bytes`] went by without being read.
    fn skipped(&mut self, _conn: &mut Self::Conn, _side: Side, _n: u64) {}
    /// Heap bytes `conn` holds beyond its own size, charged to the table's memory budget.
    /// Asked after every segment of a flow that carried payload, so it must be cheap.
    fn heap_bytes(&self, _conn: &Self::Conn) -> usize {
        0
    }
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

/// What a flow needs once it carries payload, allocated then: a SYN flood's flows have none.
struct Talk<'a, C> {
    conn: C,
    held: [Vec<Held<'a>>; 2],
    /// Payload bytes in `held`, per direction.
    held_bytes: [usize; 2],
    /// All but `packets`, which the flow counts from its first packet.
    stats: [DirStats; 2],
    /// What this flow was last charged to the table's memory budget.
    charged: usize,
    /// Per direction, what is left of the handler's last [`StreamHandler::blind_bytes`]:
    /// in-order bytes it would not read.
    blind: [u64; 2],
    /// Per direction, bytes counted off `blind` that the handler has not been told of yet.
    unseen: [u64; 2],
    /// The handler heard of the connection, or held segments changed, since the flow was last
    /// charged: its cost may have changed. A segment counted off as blind changes nothing.
    dirty: bool,
}

impl<C> Talk<'_, C> {
    /// The hold cap direction `s` is past, if any.
    fn hold_cap_hit(&self, s: usize) -> Option<LimitsHit> {
        if self.held[s].len() > MAX_HELD_SEGMENTS {
            Some(LimitsHit::HELD_SEGMENTS)
        } else if self.held_bytes[s] > MAX_HELD_BYTES {
            Some(LimitsHit::HELD_BYTES)
        } else {
            None
        }
    }

    /// Bytes to charge to the memory budget, given the handler's own count for `conn`.
    fn cost(&self, conn_heap: usize) -> usize {
        let held_slots = self.held[0].capacity() + self.held[1].capacity();
        std::mem::size_of::<Self>()
            + held_slots * std::mem::size_of::<Held<'_>>()
            + self.held_bytes[0]
            + self.held_bytes[1]
            + conn_heap
    }
}

/// One tracked connection: kept compact, since a flood of SYNs makes a million of them.
struct Flow<'a, C> {
    key: FlowKey,
    /// Neighbours in the recency list of the flow's phase (slot numbers; [`NIL`] at the ends).
    prev: u32,
    next: u32,
    first: PacketMeta,
    last: PacketMeta,
    /// The next sequence number expected per direction, once known.
    next_seq: [Option<u32>; 2],
    packets: [u64; 2],
    /// The side that sent the first SYN, when the capture saw it.
    syn_from: Option<Side>,
    /// Endpoint A (the first sender) is the key's lower endpoint.
    a_is_lo: bool,
    fin: [bool; 2],
    rst: bool,
    wants_data: bool,
    limits: LimitsHit,
    vlan: Option<u16>,
    /// Boxed: rare, and 44 bytes inline in every flow.
    tunnel: Option<Box<Tunnel>>,
    talk: Option<Box<Talk<'a, C>>>,
}

impl<C> Flow<'_, C> {
    #[inline(always)]
    fn side_of(&self, seg: &TcpSegment<'_>) -> Side {
        if self.key.is_lo(seg.src, seg.src_port) == self.a_is_lo {
            Side::A
        } else {
            Side::B
        }
    }

    fn phase(&self) -> Phase {
        if self.talk.is_some() {
            Phase::Talking
        } else {
            Phase::Silent
        }
    }

    fn info(&self) -> FlowInfo {
        let mut stats = self
            .talk
            .as_ref()
            .map_or([DirStats::default(); 2], |t| t.stats);
        stats[0].packets = self.packets[0];
        stats[1].packets = self.packets[1];
        FlowInfo {
            a: self.key.endpoint(self.a_is_lo),
            b: self.key.endpoint(!self.a_is_lo),
            syn_from: self.syn_from,
            first: self.first,
            last: self.last,
            stats,
            vlan: self.vlan,
            tunnel: self.tunnel.as_deref().copied(),
            limits: self.limits,
        }
    }
}

/// The end of a recency list, and "no slot".
const NIL: u32 = u32::MAX;

/// Which recency list a flow is on: flows that never carried payload idle out sooner and are
/// evicted first when the table is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Silent = 0,
    Talking = 1,
}

/// A doubly linked list of slots, least recently active first. Flows are appended when a
/// packet arrives, so the list is in order of last packet (in capture order; in time order too
/// while timestamps increase), and the flows due for idle eviction are at its head.
#[derive(Clone, Copy, Debug)]
struct Recency {
    head: u32,
    tail: u32,
}

impl Recency {
    const EMPTY: Recency = Recency {
        head: NIL,
        tail: NIL,
    };
}

/// Signed distance from `b` to `a` in sequence space (wraps at 2^32).
#[inline]
fn seq_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// One shard's connections. `'a` is the lifetime of the capture's bytes.
///
/// Flows live in a slab of slots, found through a hash table of slot numbers (4 bytes per
/// bucket, so growing it moves little) and linked into two recency lists for eviction.
pub struct FlowTable<'a, H: StreamHandler> {
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    slots: Vec<Option<Flow<'a, H::Conn>>>,
    /// Empty slots, reused before the slab grows.
    free: Vec<u32>,
    recency: [Recency; 2],
    limits: TableLimits,
    /// The latest capture time seen.
    clock_ns: i64,
    next_sweep_ns: i64,
    /// Bytes charged to the memory budget, summed over flows that carried payload.
    charged: usize,
    /// The slot of the flow of the last packet (it may have ended since).
    recent: u32,
    pub evictions: Evictions,
    pub handler: H,
}

impl<'a, H: StreamHandler> FlowTable<'a, H> {
    /// A table with the limits of a whole capture.
    pub fn new(handler: H) -> Self {
        FlowTable::with_limits(handler, TableLimits::DEFAULT)
    }

    pub fn with_limits(handler: H, limits: TableLimits) -> Self {
        FlowTable {
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            slots: Vec::new(),
            free: Vec::new(),
            recency: [Recency::EMPTY; 2],
            limits: TableLimits {
                // Slot numbers are u32, NIL excluded.
                max_flows: limits.max_flows.clamp(1, NIL as usize - 1),
                ..limits
            },
            clock_ns: i64::MIN,
            next_sweep_ns: i64::MIN,
            charged: 0,
            recent: NIL,
            evictions: Evictions::default(),
            handler,
        }
    }

    pub fn active_flows(&self) -> usize {
        self.index.len()
    }

    /// Bytes charged to the memory budget now.
    pub fn memory_charged(&self) -> usize {
        self.charged
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

    /// Capture time has reached `ts_ns` (a packet of another shard, or the capture's end):
    /// flows idle past their timeout by then are finished. A table's clock otherwise follows
    /// only its own packets, so that its rows depend on its own packet sequence and not on
    /// how the capture was cut into windows or chunks; a scan tells every table the capture's
    /// last time before [`FlowTable::finish_all`], so that all tables judge idleness at the end
    /// alike.
    pub fn advance_clock(&mut self, ts_ns: i64) {
        if ts_ns > self.clock_ns {
            self.clock_ns = ts_ns;
        }
        if self.clock_ns >= self.next_sweep_ns {
            self.sweep();
            self.next_sweep_ns = self.clock_ns.saturating_add(SWEEP_INTERVAL_NS);
        }
    }

    fn flow(&self, i: u32) -> &Flow<'a, H::Conn> {
        self.slots[i as usize]
            .as_ref()
            .expect("a linked slot holds a flow")
    }

    fn flow_mut(&mut self, i: u32) -> &mut Flow<'a, H::Conn> {
        self.slots[i as usize]
            .as_mut()
            .expect("a linked slot holds a flow")
    }

    fn timeout_ns(&self, phase: Phase) -> i64 {
        match phase {
            Phase::Silent => self.limits.silent_idle_timeout_ns,
            Phase::Talking => self.limits.idle_timeout_ns,
        }
    }

    /// Whether `f` had no packet for its idle timeout by `now_ns`.
    fn idle_at(&self, f: &Flow<'a, H::Conn>, now_ns: i64) -> bool {
        now_ns.saturating_sub(f.last.ts_ns) > self.timeout_ns(f.phase())
    }

    fn find(&self, hash: u64, key: &FlowKey) -> Option<u32> {
        let slots = &self.slots;
        self.index
            .find(hash, |&i| {
                slots[i as usize].as_ref().is_some_and(|f| f.key == *key)
            })
            .copied()
    }

    fn unlink(&mut self, i: u32) {
        let f = self.flow(i);
        let (prev, next, list) = (f.prev, f.next, f.phase() as usize);
        match prev {
            NIL => self.recency[list].head = next,
            p => self.flow_mut(p).next = next,
        }
        match next {
            NIL => self.recency[list].tail = prev,
            n => self.flow_mut(n).prev = prev,
        }
    }

    /// Appends `i` to the recency list of its phase: it is now the most recently active.
    fn link_last(&mut self, i: u32) {
        let list = self.flow(i).phase() as usize;
        let tail = self.recency[list].tail;
        let f = self.flow_mut(i);
        f.prev = tail;
        f.next = NIL;
        match tail {
            NIL => self.recency[list].head = i,
            t => self.flow_mut(t).next = i,
        }
        self.recency[list].tail = i;
    }

    /// Flow `i` had a packet: it becomes the most recently active of its list. A burst of one
    /// flow's packets leaves it last and touches no other slot.
    #[inline(always)]
    fn touch(&mut self, i: u32) {
        let list = self.flow(i).phase() as usize;
        if self.recency[list].tail != i {
            self.unlink(i);
            self.link_last(i);
        }
    }

    /// Finds room for one more flow: evicts the least recently active flow that never carried
    /// payload, else the least recently active of all, when the table is full.
    fn make_room(&mut self) {
        if self.index.len() < self.limits.max_flows {
            return;
        }
        let silent = self.recency[Phase::Silent as usize].head;
        let victim = if silent != NIL {
            silent
        } else {
            self.recency[Phase::Talking as usize].head
        };
        if victim != NIL {
            self.end_flow(victim, LimitsHit::TABLE_FULL);
        }
    }

    /// A new flow's slot, in the index and last on the silent list.
    fn open(&mut self, hash: u64, key: FlowKey, seg: &TcpSegment<'_>, at: PacketMeta) -> u32 {
        self.make_room();
        let syn_from = if !seg.has(flags::SYN) {
            None
        } else if seg.has(flags::ACK) {
            Some(Side::B) // a SYN-ACK first: its receiver is the client
        } else {
            Some(Side::A)
        };
        let flow = Flow {
            key,
            prev: NIL,
            next: NIL,
            first: at,
            last: at,
            next_seq: [None; 2],
            packets: [0; 2],
            syn_from,
            a_is_lo: key.is_lo(seg.src, seg.src_port),
            fin: [false; 2],
            rst: false,
            wants_data: true,
            limits: LimitsHit::default(),
            vlan: seg.vlan,
            tunnel: seg.tunnel.map(Box::new),
            talk: None,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(flow);
                i
            }
            None => {
                if self.slots.len() == self.slots.capacity() {
                    // Double, but never past the flow cap: a full table's slab is exactly
                    // its cap.
                    let want = (self.slots.len() * 2)
                        .max(64)
                        .min(self.limits.max_flows)
                        .max(self.slots.len() + 1);
                    self.slots.reserve_exact(want - self.slots.len());
                }
                self.slots.push(Some(flow));
                (self.slots.len() - 1) as u32
            }
        };
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(hash, i, |&j| {
            slots[j as usize]
                .as_ref()
                .map_or(0, |f| hasher.hash_one(f.key))
        });
        self.link_last(i);
        i
    }

    /// Removes flow `i` and, when it carried payload, delivers what it holds and finishes it
    /// with the limits it hit plus `reason` (empty when it simply ended).
    fn end_flow(&mut self, i: u32, reason: LimitsHit) {
        self.unlink(i);
        let Some(mut f) = self.slots[i as usize].take() else {
            return;
        };
        self.free.push(i);
        let hash = self.hasher.hash_one(f.key);
        if let Ok(entry) = self.index.find_entry(hash, |&j| j == i) {
            entry.remove();
        }
        if reason.contains(LimitsHit::IDLE_TIMEOUT) {
            self.evictions.idle += 1;
        }
        if reason.contains(LimitsHit::TABLE_FULL) {
            self.evictions.table_full += 1;
        }
        if reason.contains(LimitsHit::MEMORY_BUDGET) {
            self.evictions.memory_budget += 1;
        }
        f.limits.insert(reason);
        if let Some(t) = f.talk.as_ref() {
            self.charged = self.charged.saturating_sub(t.charged);
            for side in [Side::A, Side::B] {
                while f
                    .talk
                    .as_ref()
                    .is_some_and(|t| !t.held[side as usize].is_empty())
                {
                    Self::skip_gap(&mut self.handler, &mut f, side);
                }
            }
            let info = f.info();
            if let Some(mut t) = f.talk {
                Self::catch_up_all(&mut self.handler, &mut t);
                self.handler.finish(t.conn, &info);
            }
        }
    }

    /// Finishes the flows idle at the table's clock: the heads of the recency lists.
    fn sweep(&mut self) {
        for phase in [Phase::Silent, Phase::Talking] {
            loop {
                let head = self.recency[phase as usize].head;
                if head == NIL || !self.idle_at(self.flow(head), self.clock_ns) {
                    break;
                }
                self.end_flow(head, LimitsHit::IDLE_TIMEOUT);
            }
        }
    }

    /// Re-measures what flow `i` costs the memory budget; past the budget, evicts the least
    /// recently active flows that carried payload, never `i` itself (its own caps bound it).
    fn charge(&mut self, i: u32) {
        let handler = &self.handler;
        let Some(t) = self.slots[i as usize]
            .as_mut()
            .and_then(|f| f.talk.as_deref_mut())
        else {
            return;
        };
        if !std::mem::take(&mut t.dirty) {
            return;
        }
        let cost = t.cost(handler.heap_bytes(&t.conn));
        self.charged = self.charged.saturating_sub(t.charged) + cost;
        t.charged = cost;
        while self.charged > self.limits.memory_budget {
            let victim = self.recency[Phase::Talking as usize].head;
            if victim == NIL || victim == i {
                break;
            }
            self.end_flow(victim, LimitsHit::MEMORY_BUDGET);
        }
    }

    /// One segment: inline, the packet of the last flow found that [`Self::continue_quietly`]
    /// applies in place (most packets); out of line, everything else.
    #[inline(always)]
    fn process<'b>(
        &mut self,
        key: FlowKey,
        seg: &TcpSegment<'b>,
        payload: Payload<'a, 'b>,
        at: PacketMeta,
    ) {
        self.advance_clock(at.ts_ns);
        // Packets of one flow often come in runs: the last flow found is tried before the
        // index. A slot holds at most one flow, and a flow is in the index while it is in its
        // slot, so a slot whose flow has this key is what the index would give.
        let recent = match self.slots.get(self.recent as usize) {
            Some(Some(f)) if f.key == key => Some(self.recent),
            _ => None,
        };
        if let Some(i) = recent {
            if self.continue_quietly(i, seg, at) {
                return;
            }
        }
        self.process_in_general(key, seg, payload, at, recent);
    }

    /// [`Self::process`] for a segment that is not of the last flow found, or that
    /// [`Self::continue_quietly`] does not take; `recent` is the last flow's slot when the
    /// segment is of it.
    #[inline(never)]
    fn process_in_general<'b>(
        &mut self,
        key: FlowKey,
        seg: &TcpSegment<'b>,
        payload: Payload<'a, 'b>,
        at: PacketMeta,
        recent: Option<u32>,
    ) {
        let is_syn = seg.has(flags::SYN) && !seg.has(flags::ACK);
        let mut found = recent.or_else(|| self.find(self.hasher.hash_one(key), &key));
        if let Some(i) = found {
            self.recent = i;
            if recent.is_none() && self.continue_quietly(i, seg, at) {
                return;
            }
            let f = self.flow(i);
            if self.idle_at(f, at.ts_ns) {
                // Idle past its timeout, whether or not a sweep came by yet: the flow ended
                // then, and this packet is another flow's. Deciding here too keeps the rows
                // the same however often sweeps run.
                self.end_flow(i, LimitsHit::IDLE_TIMEOUT);
                found = None;
            } else if is_syn && (f.rst || (f.fin[0] && f.fin[1])) {
                // Port reuse: a new SYN on a connection that already ended.
                self.end_flow(i, LimitsHit::default());
                found = None;
            }
        }
        let i = match found {
            Some(i) => {
                self.touch(i);
                i
            }
            // A bare ACK, FIN or RST of a connection we do not track (one that already ended,
            // or began before the capture with nothing more to say) opens no flow.
            None if !seg.has(flags::SYN) && seg.payload.is_empty() => return,
            None => {
                let i = self.open(self.hasher.hash_one(key), key, seg, at);
                self.recent = i;
                i
            }
        };
        // The handler's state comes with the first payload (on the wire: a segment the snap
        // length emptied still tells the stream a gap).
        let carries_payload = seg.wire_len > 0 || !seg.payload.is_empty();
        if carries_payload && self.flow(i).talk.is_none() {
            let info = self.flow(i).info();
            let conn = self.handler.open(&info);
            self.unlink(i);
            self.flow_mut(i).talk = Some(Box::new(Talk {
                conn,
                held: [Vec::new(), Vec::new()],
                held_bytes: [0; 2],
                stats: [DirStats::default(); 2],
                charged: 0,
                blind: [0; 2],
                unseen: [0; 2],
                dirty: true,
            }));
            self.link_last(i);
        }
        let ended = self.segment_into(i, seg, payload, at);
        if ended {
            self.end_flow(i, LimitsHit::default());
        } else {
            self.charge(i);
        }
    }

    /// The common packet of a connection under way, applied in place: no SYN, FIN or RST, not
    /// cut by the snap length, nothing held in either direction, and either no payload or
    /// payload in order that the handler would only count past (see
    /// [`StreamHandler::blind_bytes`]). Most packets of a capture are this; they skip the
    /// general path's checks. Changes exactly what [`FlowTable::process`] would; false, having
    /// changed nothing, for any other packet.
    #[inline(always)]
    fn continue_quietly(&mut self, i: u32, seg: &TcpSegment<'_>, at: PacketMeta) -> bool {
        let len = seg.payload.len();
        if seg.flags & (flags::SYN | flags::FIN | flags::RST) != 0 || seg.wire_len as usize != len {
            return false;
        }
        let timeout = self.limits.idle_timeout_ns;
        let Some(f) = self.slots[i as usize].as_mut() else {
            return false;
        };
        let s = f.side_of(seg) as usize;
        let Some(t) = f.talk.as_deref_mut() else {
            return false;
        };
        if at.ts_ns.saturating_sub(f.last.ts_ns) > timeout
            || t.dirty
            || !t.held[0].is_empty()
            || !t.held[1].is_empty()
        {
            return false;
        }
        if len > 0 {
            let len = len as u64;
            if f.wants_data {
                match f.next_seq[s] {
                    Some(next) if next == seg.seq && len < t.blind[s] => {
                        f.next_seq[s] = Some(next.wrapping_add(len as u32));
                        t.blind[s] -= len;
                        t.unseen[s] += len;
                    }
                    _ => return false,
                }
            }
            t.stats[s].payload_bytes += len;
        }
        f.last = at;
        f.packets[s] += 1;
        self.touch(i);
        true
    }

    /// Applies a segment to flow `i`; true when the connection is over (both FINs, or a RST).
    fn segment_into<'b>(
        &mut self,
        i: u32,
        seg: &TcpSegment<'b>,
        payload: Payload<'a, 'b>,
        at: PacketMeta,
    ) -> bool {
        let h = &mut self.handler;
        let flow = self.slots[i as usize]
            .as_mut()
            .expect("a linked slot holds a flow");
        let side = flow.side_of(seg);
        let s = side as usize;
        flow.last = at;
        flow.packets[s] += 1;
        if seg.has(flags::SYN) {
            if flow.syn_from.is_none() {
                flow.syn_from = Some(if seg.has(flags::ACK) {
                    side.other()
                } else {
                    side
                });
            }
            flow.next_seq[s] = Some(seg.seq.wrapping_add(1));
        }
        // An ACK from this side for bytes the other side sent that we never saw: skip the gap
        // now rather than wait for the hold queue to fill.
        if seg.has(flags::ACK) && flow.wants_data {
            let o = 1 - s;
            let first_held = flow
                .talk
                .as_ref()
                .and_then(|t| t.held[o].first())
                .map(|x| x.seq);
            if let (Some(next), Some(first)) = (flow.next_seq[o], first_held) {
                if seq_diff(seg.ack, next) > 0 && seq_diff(seg.ack, first) >= 0 {
                    Self::skip_gap(h, flow, side.other());
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
            if let Some(t) = flow.talk.as_mut() {
                t.stats[s].payload_bytes += seg.payload.len() as u64;
            }
            if flow.wants_data {
                Self::payload(h, flow, side, seq, payload, at);
            }
        }
        let cut = (seg.wire_len as usize).saturating_sub(seg.payload.len());
        if cut > 0 {
            // The snap length cut this segment: its tail is missing from the stream. When it was
            // delivered in order, skip the tail now so the stream stays in sequence.
            let end = seq.wrapping_add(seg.payload.len() as u32);
            let in_order = flow.next_seq[s] == Some(end);
            if let Some(t) = flow.talk.as_mut() {
                t.stats[s].truncated += 1;
                if flow.wants_data && in_order {
                    t.stats[s].missing_bytes += cut as u64;
                    flow.next_seq[s] = Some(end.wrapping_add(cut as u32));
                    Self::catch_up_all(h, t);
                    h.gap(&mut t.conn, side, cut as u64);
                    Self::drain_held(h, flow, side);
                }
            }
        }
        if seg.has(flags::FIN) || seg.has(flags::RST) {
            let kind = if seg.has(flags::RST) {
                CloseKind::Rst
            } else {
                CloseKind::Fin
            };
            while flow.talk.as_ref().is_some_and(|t| !t.held[s].is_empty()) {
                Self::skip_gap(h, flow, side);
            }
            let first_close = !flow.fin[s] && !flow.rst;
            if kind == CloseKind::Rst {
                flow.rst = true;
            } else {
                flow.fin[s] = true;
            }
            if first_close {
                if let Some(t) = flow.talk.as_mut() {
                    Self::catch_up_all(h, t);
                    h.close(&mut t.conn, side, kind, at);
                }
            }
            return flow.rst || (flow.fin[0] && flow.fin[1]);
        }
        false
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
        let next = *flow.next_seq[s].get_or_insert(seq);
        let Some(t) = flow.talk.as_mut() else {
            return;
        };
        let d = seq_diff(seq, next);
        if d < 0 {
            let overlap = d.unsigned_abs() as usize;
            t.stats[s].retransmitted += 1;
            if overlap >= data.len() {
                return;
            }
            // A retransmission that carries new bytes past what we have: keep the new part.
            Self::deliver(h, flow, side, &data[overlap..], at);
        } else if d == 0 {
            Self::deliver(h, flow, side, data, at);
        } else {
            t.stats[s].out_of_order += 1;
            let held = &mut t.held[s];
            if held
                .iter()
                .any(|x| x.seq == seq && x.data.len() >= data.len())
            {
                t.stats[s].retransmitted += 1;
                return;
            }
            let pos = held.partition_point(|x| seq_diff(x.seq, seq) <= 0);
            held.insert(
                pos,
                Held {
                    seq,
                    data: payload.hold(),
                    at,
                },
            );
            t.held_bytes[s] += data.len();
            t.dirty = true;
            // Past either cap the oldest gap is declared lost, until the queue fits again.
            while let Some(limit) = flow.talk.as_ref().and_then(|t| t.hold_cap_hit(s)) {
                flow.limits.insert(limit);
                Self::skip_gap(h, flow, side);
            }
            return;
        }
        Self::drain_held(h, flow, side);
    }

    fn deliver(h: &mut H, flow: &mut Flow<'a, H::Conn>, side: Side, data: &[u8], at: PacketMeta) {
        let s = side as usize;
        flow.next_seq[s] = Some(
            flow.next_seq[s]
                .unwrap_or(0)
                .wrapping_add(data.len() as u32),
        );
        let Some(t) = flow.talk.as_mut() else {
            return;
        };
        let len = data.len() as u64;
        if len < t.blind[s] {
            // Bytes the handler would only count past (most of a connection's packets, once
            // its handshake is over): counted here, the payload never read.
            t.blind[s] -= len;
            t.unseen[s] += len;
            return;
        }
        Self::catch_up(h, t, side);
        t.dirty = true;
        h.data(&mut t.conn, side, data, at);
        t.blind[s] = h.blind_bytes(&t.conn, side);
        if !h.wants_data(&t.conn) {
            flow.wants_data = false;
            for dir in 0..2 {
                t.held[dir].clear();
                t.held_bytes[dir] = 0;
            }
        }
    }

    /// Delivers held segments that have become contiguous.
    fn drain_held(h: &mut H, flow: &mut Flow<'a, H::Conn>, side: Side) {
        let s = side as usize;
        loop {
            let Some(t) = flow.talk.as_mut() else {
                return;
            };
            let Some(first_seq) = t.held[s].first().map(|x| x.seq) else {
                return;
            };
            let next = flow.next_seq[s].unwrap_or(first_seq);
            let d = seq_diff(first_seq, next);
            if d > 0 {
                return;
            }
            let first = t.held[s].remove(0);
            t.held_bytes[s] -= first.data.len();
            t.dirty = true;
            let overlap = d.unsigned_abs() as usize;
            if overlap < first.data.len() {
                Self::deliver(h, flow, side, &first.data[overlap..], first.at);
            }
        }
    }

    /// Tells the handler of the bytes of `side` it was not given (see
    /// [`StreamHandler::blind_bytes`]); called before anything else is said of the connection.
    fn catch_up(h: &mut H, t: &mut Talk<'a, H::Conn>, side: Side) {
        let s = side as usize;
        if t.unseen[s] > 0 {
            h.skipped(&mut t.conn, side, t.unseen[s]);
            t.unseen[s] = 0;
        }
    }

    /// Both directions' [`FlowTable::catch_up`], and no more blind bytes: what comes next
    /// (a gap, a close, the end) is the handler's to judge.
    fn catch_up_all(h: &mut H, t: &mut Talk<'a, H::Conn>) {
        for side in [Side::A, Side::B] {
            Self::catch_up(h, t, side);
        }
        t.blind = [0; 2];
        t.dirty = true;
    }

    /// Declares the bytes before the first held segment lost and resumes from it.
    fn skip_gap(h: &mut H, flow: &mut Flow<'a, H::Conn>, side: Side) {
        let s = side as usize;
        let Some(t) = flow.talk.as_mut() else {
            return;
        };
        let Some(first_seq) = t.held[s].first().map(|x| x.seq) else {
            return;
        };
        let next = flow.next_seq[s].unwrap_or(first_seq);
        let missing = seq_diff(first_seq, next).max(0) as u64;
        if missing > 0 {
            t.stats[s].missing_bytes += missing;
            Self::catch_up_all(h, t);
            h.gap(&mut t.conn, side, missing);
            flow.next_seq[s] = Some(first_seq);
        }
        Self::drain_held(h, flow, side);
    }

    /// Ends every flow (end of capture): flows idle at the table's clock first, as idle, then
    /// the rest; held segments past gaps are delivered first. Frees the table's memory.
    pub fn finish_all(&mut self) {
        self.sweep();
        for i in 0..self.slots.len() {
            if self.slots[i].is_some() {
                self.end_flow(i as u32, LimitsHit::default());
            }
        }
        self.index = HashTable::new();
        self.slots = Vec::new();
        self.free = Vec::new();
        self.recency = [Recency::EMPTY; 2];
        self.charged = 0;
    }
}

#[cfg(test)]
mod tests;
