//! TCP under stress: what each direction's stream delivers, exactly, when the capture is
//! imperfect: mid-connection starts, duplicates from two taps, overlapping retransmissions with
//! different bytes, keep-alives, TFO data on the SYN, port reuse, sequence wrap-around,
//! timestamps going backwards, out-of-order and lost segments.

use std::net::IpAddr;

use tlscap_decode::{flags, TcpSegment};
use tlscap_flows::{CloseKind, FlowInfo, FlowKey, FlowTable, PacketMeta, Side, StreamHandler};

#[derive(Default, Debug)]
struct Conn {
    a: Vec<u8>,
    b: Vec<u8>,
    gaps: Vec<(Side, u64)>,
    closes: Vec<(Side, CloseKind)>,
}

#[derive(Default)]
struct Recorder {
    finished: Vec<(Conn, FlowInfo)>,
}

impl StreamHandler for Recorder {
    type Conn = Conn;
    fn open(&mut self, _: &FlowInfo) -> Conn {
        Conn::default()
    }
    fn data(&mut self, c: &mut Conn, side: Side, data: &[u8], _: PacketMeta) {
        match side {
            Side::A => c.a.extend_from_slice(data),
            Side::B => c.b.extend_from_slice(data),
        }
    }
    fn gap(&mut self, c: &mut Conn, side: Side, missing: u64) {
        c.gaps.push((side, missing));
    }
    fn close(&mut self, c: &mut Conn, side: Side, kind: CloseKind, _: PacketMeta) {
        c.closes.push((side, kind));
    }
    fn finish(&mut self, c: Conn, info: &FlowInfo) {
        self.finished.push((c, *info));
    }
    fn wants_data(&self, _: &Conn) -> bool {
        true
    }
}

const CLIENT: &str = "10.0.0.1";
const SERVER: &str = "10.0.0.2";

fn seg<'a>(from_client: bool, seq: u32, flags: u8, payload: &'a [u8]) -> TcpSegment<'a> {
    let (c, s): (IpAddr, IpAddr) = (CLIENT.parse().unwrap(), SERVER.parse().unwrap());
    let (src, dst, sp, dp) = if from_client {
        (c, s, 40000, 443)
    } else {
        (s, c, 443, 40000)
    };
    TcpSegment {
        src,
        dst,
        src_port: sp,
        dst_port: dp,
        seq,
        ack: 0,
        flags,
        window: 1000,
        vlan: None,
        tunnel: None,
        payload,
        wire_len: payload.len() as u32,
    }
}

struct Run<'a> {
    table: FlowTable<'a, Recorder>,
    frame: u64,
}

impl<'a> Run<'a> {
    fn new() -> Self {
        Run {
            table: FlowTable::new(Recorder::default()),
            frame: 0,
        }
    }
    fn push(&mut self, s: TcpSegment<'a>) {
        self.push_at(s, self.frame as i64 * 1000);
    }
    fn push_at(&mut self, s: TcpSegment<'a>, ts_ns: i64) {
        self.frame += 1;
        self.table.segment(
            FlowKey::of(&s),
            &s,
            PacketMeta {
                frame: self.frame,
                ts_ns,
            },
        );
    }
    fn finish(mut self) -> Vec<(Conn, FlowInfo)> {
        self.table.finish_all();
        self.table.handler.finished
    }
}

const ACK: u8 = flags::ACK;
const SYN: u8 = flags::SYN;

#[test]
fn mid_connection_start_and_one_sided_capture() {
    let mut r = Run::new();
    r.push(seg(true, 5000, ACK, b"hello "));
    r.push(seg(true, 5006, ACK, b"world"));
    let out = r.finish();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0.a, b"hello world");
    assert!(out[0].0.b.is_empty());
    assert_eq!(out[0].1.syn_from, None);
}

#[test]
fn duplicates_from_two_taps_are_delivered_once() {
    let mut r = Run::new();
    r.push(seg(true, 100, SYN, b""));
    for (seq, p) in [(101u32, &b"abc"[..]), (104, b"def"), (107, b"ghi")] {
        r.push(seg(true, seq, ACK, p));
        r.push(seg(true, seq, ACK, p));
    }
    let out = r.finish();
    assert_eq!(out[0].0.a, b"abcdefghi");
    assert_eq!(out[0].1.stats[0].retransmitted, 3);
}

#[test]
fn overlapping_retransmission_with_different_bytes_first_copy_wins() {
    let mut r = Run::new();
    r.push(seg(true, 100, SYN, b""));
    r.push(seg(true, 101, ACK, b"AAAA"));
    // Overlaps "AAAA" with other bytes and extends it: only the new tail is taken.
    r.push(seg(true, 103, ACK, b"XXBB"));
    let out = r.finish();
    assert_eq!(out[0].0.a, b"AAAABB");
    assert_eq!(out[0].1.stats[0].retransmitted, 1);
}

#[test]
fn keep_alives_and_zero_windows_deliver_nothing() {
    let mut r = Run::new();
    r.push(seg(true, 100, SYN, b""));
    r.push(seg(true, 101, ACK, b"data"));
    r.push(seg(true, 104, ACK, b"\0")); // keep-alive: one old byte at next-1
    let mut zero = seg(false, 900, ACK, b"");
    zero.window = 0;
    r.push(zero);
    r.push(seg(true, 105, ACK, b"more"));
    let out = r.finish();
    assert_eq!(out[0].0.a, b"datamore");
}

#[test]
fn tcp_fast_open_data_on_the_syn() {
    let mut r = Run::new();
    r.push(seg(true, 100, SYN, b"early"));
    r.push(seg(true, 106, ACK, b"-late"));
    let out = r.finish();
    assert_eq!(out[0].0.a, b"early-late");
}

#[test]
fn port_reuse_after_close_is_a_new_connection() {
    let mut r = Run::new();
    r.push(seg(true, 100, SYN, b""));
    r.push(seg(true, 101, ACK, b"first"));
    r.push(seg(true, 106, ACK | flags::FIN, b""));
    r.push(seg(false, 500, ACK | flags::FIN, b""));
    r.push(seg(true, 9000, SYN, b""));
    r.push(seg(true, 9001, ACK, b"second"));
    let out = r.finish();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].0.a, b"first");
    assert_eq!(out[0].0.closes.len(), 2);
    assert_eq!(out[1].0.a, b"second");
}

#[test]
fn sequence_numbers_wrap_around() {
    let mut r = Run::new();
    let isn = u32::MAX - 3;
    r.push(seg(true, isn, SYN, b""));
    r.push(seg(true, isn.wrapping_add(1), ACK, b"abcd")); // crosses 2^32
    r.push(seg(true, isn.wrapping_add(9), ACK, b"ijkl")); // ahead of a gap, across the wrap
    r.push(seg(true, isn.wrapping_add(5), ACK, b"efgh")); // fills it
    let out = r.finish();
    assert_eq!(out[0].0.a, b"abcdefghijkl");
    assert_eq!(out[0].1.stats[0].out_of_order, 1);
    assert!(out[0].0.gaps.is_empty());
}

#[test]
fn timestamps_going_backwards_change_nothing() {
    let mut r = Run::new();
    r.push_at(seg(true, 100, SYN, b""), 5_000);
    r.push_at(seg(true, 101, ACK, b"ab"), 4_000);
    r.push_at(seg(true, 103, ACK, b"cd"), 1_000);
    let out = r.finish();
    assert_eq!(out[0].0.a, b"abcd");
}

#[test]
fn a_lost_segment_is_a_counted_gap_once_the_peer_acknowledges_past_it() {
    let mut r = Run::new();
    r.push(seg(true, 100, SYN, b""));
    r.push(seg(true, 101, ACK, b"aaaa"));
    r.push(seg(true, 109, ACK, b"cccc")); // 105..109 never captured
    let mut ack = seg(false, 500, ACK, b"");
    ack.ack = 113;
    r.push(ack);
    r.push(seg(true, 113, ACK, b"dddd"));
    let out = r.finish();
    assert_eq!(out[0].0.a, b"aaaaccccdddd");
    assert_eq!(out[0].0.gaps, [(Side::A, 4)]);
    assert_eq!(out[0].1.stats[0].missing_bytes, 4);
}

#[test]
fn hold_queue_is_bounded() {
    let mut r = Run::new();
    r.push(seg(true, 100, SYN, b""));
    let payload = [7u8; 10];
    // 1000 segments all ahead of a gap that never fills.
    for k in 0..1000u32 {
        r.push(seg(true, 1000 + k * 10, ACK, &payload));
    }
    let out = r.finish();
    assert_eq!(out[0].0.a.len(), 10_000);
    assert_eq!(out[0].0.gaps.len(), 1);
    assert_eq!(out[0].1.stats[0].missing_bytes, 1000 - 101);
}

/// A handler that would only count past the next `blind` bytes of each direction: the table
/// must not give it those bytes, must tell it how many went by before anything else, and must
/// give it the byte that ends the blind stretch.
#[derive(Default)]
struct Counter {
    /// Per side: bytes read, bytes skipped unread, and what was heard, in order.
    read: [u64; 2],
    skipped: [u64; 2],
    events: Vec<String>,
    blind: u64,
    /// What the table reported of the connection at its end.
    info: Option<FlowInfo>,
}

impl StreamHandler for Counter {
    type Conn = [u64; 2];
    fn open(&mut self, _: &FlowInfo) -> [u64; 2] {
        [0; 2]
    }
    fn data(&mut self, c: &mut [u64; 2], side: Side, data: &[u8], _: PacketMeta) {
        self.read[side as usize] += data.len() as u64;
        self.events.push(format!("data {side:?} {}", data.len()));
        // After its first bytes, the side's next `blind` bytes need no reading.
        c[side as usize] = self.blind;
    }
    fn blind_bytes(&self, c: &[u64; 2], side: Side) -> u64 {
        c[side as usize]
    }
    fn skipped(&mut self, c: &mut [u64; 2], side: Side, n: u64) {
        self.skipped[side as usize] += n;
        c[side as usize] -= n;
        self.events.push(format!("skipped {side:?} {n}"));
    }
    fn gap(&mut self, c: &mut [u64; 2], side: Side, missing: u64) {
        c[side as usize] = 0;
        self.events.push(format!("gap {side:?} {missing}"));
    }
    fn close(&mut self, _: &mut [u64; 2], side: Side, _: CloseKind, _: PacketMeta) {
        self.events.push(format!("close {side:?}"));
    }
    fn finish(&mut self, _: [u64; 2], info: &FlowInfo) {
        self.events.push("finish".into());
        self.info = Some(*info);
    }
    fn wants_data(&self, _: &[u64; 2]) -> bool {
        true
    }
}

#[test]
fn bytes_the_handler_would_not_read_are_counted_not_delivered() {
    let mut table = FlowTable::new(Counter {
        blind: 250,
        ..Counter::default()
    });
    let body = [0u8; 100];
    let mut frame = 0;
    let mut push = |table: &mut FlowTable<'_, Counter>, s: TcpSegment<'_>| {
        frame += 1;
        let at = PacketMeta {
            frame,
            ts_ns: frame as i64,
        };
        table.segment_transient(FlowKey::of(&s), &s, at);
    };
    push(&mut table, seg(true, 99, SYN, &[]));
    push(&mut table, seg(false, 499, SYN | ACK, &[]));
    // 100 bytes read, after which 250 need no reading: the next two segments are counted
    // off, the one reaching past the stretch is read (after the handler hears of the two),
    // and the next is counted off again.
    for k in 0..5 {
        push(&mut table, seg(true, 100 + k * 100, ACK, &body));
        if k == 1 {
            // A bare ACK the other way between two skipped segments changes nothing heard.
            push(&mut table, seg(false, 500, ACK, &[]));
        }
    }
    // 600..700 lost: 700..800 waits, the other side speaks, then the FIN gives up on the gap:
    // the handler hears of the bytes skipped before it hears of the gap.
    push(&mut table, seg(true, 700, ACK, &body));
    push(&mut table, seg(false, 500, ACK, &body));
    push(&mut table, seg(true, 800, ACK | flags::FIN, &[]));
    table.finish_all();
    let h = &table.handler;
    assert_eq!(h.read, [300, 100]);
    assert_eq!(h.skipped, [300, 0]);
    assert_eq!(
        h.events,
        [
            "data A 100",
            "skipped A 200",
            "data A 100",
            "data B 100",
            "skipped A 100",
            "gap A 100",
            "data A 100",
            "close A",
            "finish",
        ]
    );
    // Segments counted off still count as packets and payload, as the others do.
    let info = h.info.expect("the flow finished");
    let (a, b) = (info.stats[0], info.stats[1]);
    assert_eq!((a.packets, a.payload_bytes), (8, 600));
    assert_eq!(
        (a.out_of_order, a.missing_bytes, a.retransmitted),
        (1, 100, 0)
    );
    assert_eq!((b.packets, b.payload_bytes), (3, 100));
    assert_eq!(info.last.frame, 11);
}
