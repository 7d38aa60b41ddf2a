//! The table's memory limits: compact silent flows, idle eviction by capture time, a full
//! table, the memory budget and the per-flow hold caps, each with exact counts.

use super::*;

/// Records what the table tells it; each connection claims `heap` bytes of its own.
#[derive(Default)]
struct Recorder {
    opened: usize,
    finished: Vec<(FlowInfo, Vec<u8>)>,
    heap: usize,
}

impl StreamHandler for Recorder {
    type Conn = Vec<u8>;
    fn open(&mut self, _: &FlowInfo) -> Vec<u8> {
        self.opened += 1;
        Vec::new()
    }
    fn data(&mut self, c: &mut Vec<u8>, _: Side, data: &[u8], _: PacketMeta) {
        c.extend_from_slice(data);
    }
    fn gap(&mut self, _: &mut Vec<u8>, _: Side, _: u64) {}
    fn close(&mut self, _: &mut Vec<u8>, _: Side, _: CloseKind, _: PacketMeta) {}
    fn finish(&mut self, c: Vec<u8>, info: &FlowInfo) {
        self.finished.push((*info, c));
    }
    fn wants_data(&self, _: &Vec<u8>) -> bool {
        true
    }
    fn heap_bytes(&self, _: &Vec<u8>) -> usize {
        self.heap
    }
}

const S: i64 = 1_000_000_000;

/// A segment from client 10.0.0.1:`port` to 10.0.0.2:443 (or back, `to_client`).
fn seg(port: u16, to_client: bool, seq: u32, flags: u8, payload: &[u8]) -> TcpSegment<'_> {
    let (c, s): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
    let (src, dst, src_port, dst_port) = if to_client {
        (s, c, 443, port)
    } else {
        (c, s, port, 443)
    };
    TcpSegment {
        src,
        dst,
        src_port,
        dst_port,
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
    fn new(limits: TableLimits) -> Self {
        Run {
            table: FlowTable::with_limits(Recorder::default(), limits),
            frame: 0,
        }
    }
    fn push(&mut self, s: TcpSegment<'a>, ts_ns: i64) {
        self.frame += 1;
        let at = PacketMeta {
            frame: self.frame,
            ts_ns,
        };
        self.table.segment(FlowKey::of(&s), &s, at);
    }
    /// A bare SYN from client port `port`.
    fn syn(&mut self, port: u16, ts_ns: i64) {
        self.push(seg(port, false, 100, flags::SYN, b""), ts_ns);
    }
    /// A SYN and one byte of payload from client port `port`.
    fn talk(&mut self, port: u16, ts_ns: i64) {
        self.syn(port, ts_ns);
        self.push(seg(port, false, 101, flags::ACK, b"x"), ts_ns);
    }
    fn finish(mut self) -> (Recorder, Evictions) {
        self.table.finish_all();
        let ev = self.table.evictions;
        (self.table.handler, ev)
    }
}

fn limits(max_flows: usize) -> TableLimits {
    TableLimits {
        max_flows,
        ..TableLimits::DEFAULT
    }
}

/// The client ports of the finished flows, in the order they finished, with their limits.
fn finished(r: &Recorder) -> Vec<(u16, Vec<&'static str>)> {
    r.finished
        .iter()
        .map(|(info, _)| (info.a.port, info.limits.names().collect()))
        .collect()
}

#[test]
fn a_flow_that_never_carried_payload_is_one_small_slot() {
    eprintln!("a flow slot takes {FLOW_SLOT_BYTES} bytes");
    assert_eq!(std::mem::size_of::<FlowKey>(), 40);
    let mut r = Run::new(TableLimits::DEFAULT);
    for port in 0..1000 {
        r.syn(port, 0);
    }
    assert_eq!(r.table.active_flows(), 1000);
    assert_eq!(r.table.memory_charged(), 0);
    let (rec, ev) = r.finish();
    // The handler never hears of flows without payload.
    assert_eq!((rec.opened, rec.finished.len()), (0, 0));
    assert_eq!(ev, Evictions::default());
}

#[test]
fn silent_flows_idle_out_after_a_minute_and_talking_ones_after_ten() {
    let mut r = Run::new(TableLimits::DEFAULT);
    r.syn(1, 0); // silent
    r.talk(2, 0); // talking
    r.syn(3, 30 * S); // silent, later
                      // 61 s: only port 1 has been silent for over a minute.
    r.syn(4, 61 * S);
    assert_eq!(r.table.evictions.idle, 1);
    assert_eq!(r.table.active_flows(), 3);
    // 91 s: port 3 too; ports 2 (talking) and 4 stay.
    r.table.advance_clock(91 * S);
    assert_eq!(r.table.evictions.idle, 2);
    // 601 s: port 2 talked last at 0 s, port 4 was silent since 61 s.
    r.table.advance_clock(601 * S);
    assert_eq!(r.table.evictions.idle, 4);
    assert_eq!(r.table.active_flows(), 0);
    let (rec, ev) = r.finish();
    assert_eq!(ev.idle, 4);
    assert_eq!(finished(&rec), [(2, vec!["idle timeout"])]);
    assert_eq!(rec.finished[0].1, b"x");
}

#[test]
fn a_packet_after_the_idle_timeout_starts_a_new_flow_whether_or_not_a_sweep_ran() {
    for other_flow in [false, true] {
        let mut r = Run::new(TableLimits::DEFAULT);
        r.talk(7, 0);
        if other_flow {
            // A sweep at 599.9 s finds port 7 not yet idle, and the next is due at 600.9 s:
            // port 7's packet at 600.5 s finds it expired itself.
            r.syn(8, 599_900_000_000);
            assert_eq!(r.table.active_flows(), 2);
        }
        r.push(seg(7, false, 102, flags::ACK, b"y"), 600_500_000_000);
        let (rec, ev) = r.finish();
        assert_eq!(ev.idle, 1, "other flow: {other_flow}");
        assert_eq!(
            finished(&rec),
            [(7, vec!["idle timeout"]), (7, vec![])],
            "other flow: {other_flow}"
        );
        // The new flow starts mid-stream, with no SYN.
        assert_eq!(rec.finished[1].0.syn_from, None);
        assert_eq!(rec.finished[1].1, b"y");
    }
}

#[test]
fn timeouts_are_capture_time_and_a_close_is_not_an_eviction() {
    let mut r = Run::new(TableLimits::DEFAULT);
    r.talk(1, 0);
    r.push(seg(1, false, 102, flags::FIN | flags::ACK, b""), 599 * S);
    r.push(seg(1, true, 900, flags::FIN | flags::ACK, b""), 1198 * S);
    let (rec, ev) = r.finish();
    assert_eq!(ev, Evictions::default());
    assert_eq!(finished(&rec), [(1, vec![])]);
}

#[test]
fn flows_idle_when_the_capture_ends_finish_as_idle() {
    let mut r = Run::new(TableLimits::DEFAULT);
    r.talk(1, 0);
    r.talk(2, 599_900_000_000); // a sweep; the next is due at 600.9 s
                                // Another shard's packet: the capture ends at 600.5 s, when port 1 had been idle for
                                // over ten minutes. No sweep ran since: finishing the table decides it.
    r.table.advance_clock(600_500_000_000);
    assert_eq!(r.table.evictions.idle, 0);
    let (rec, ev) = r.finish();
    assert_eq!(ev.idle, 1);
    let mut done = finished(&rec);
    done.sort();
    assert_eq!(done, [(1, vec!["idle timeout"]), (2, vec![])]);
}

#[test]
fn a_full_table_evicts_the_least_recently_active_silent_flow_first() {
    let mut r = Run::new(limits(4));
    r.talk(1, 0);
    r.syn(2, S);
    r.talk(3, 2 * S);
    r.syn(4, 3 * S);
    r.syn(2, 4 * S); // port 2 active again (a SYN retransmission): port 4 is now the oldest silent
    r.syn(5, 5 * S); // evicts port 4
    assert_eq!(r.table.evictions.table_full, 1);
    r.syn(6, 6 * S); // evicts port 2
    r.syn(7, 7 * S); // evicts port 5
    r.syn(8, 8 * S); // evicts port 6
    assert_eq!(r.table.evictions.table_full, 4);
    assert_eq!(r.table.active_flows(), 4);
    // Ports 7 and 8 (silent) go before any talking flow ...
    r.talk(9, 9 * S);
    r.talk(10, 10 * S);
    assert_eq!(r.table.evictions.table_full, 6);
    // ... then the least recently active talking flow, port 1.
    r.syn(11, 11 * S);
    let (rec, ev) = r.finish();
    assert_eq!(ev.table_full, 7);
    let mut done = finished(&rec);
    assert_eq!(done.remove(0), (1, vec!["flow table full"]));
    done.sort();
    assert_eq!(done, [(3, vec![]), (9, vec![]), (10, vec![])]);
}

#[test]
fn past_the_memory_budget_the_least_recently_active_talking_flows_are_evicted() {
    let cost = std::mem::size_of::<Talk<'_, Vec<u8>>>() + 1000;
    let mut r = Run::new(TableLimits {
        memory_budget: 3 * cost,
        ..TableLimits::DEFAULT
    });
    r.table.handler.heap = 1000;
    for port in 1..=3 {
        r.talk(port, 0);
    }
    assert_eq!(r.table.memory_charged(), 3 * cost);
    assert_eq!(r.table.evictions.memory_budget, 0);
    r.push(seg(1, false, 102, flags::ACK, b"y"), S); // port 1 is the most recent now
    r.talk(4, 2 * S); // over budget by one flow: port 2 goes
    assert_eq!(r.table.evictions.memory_budget, 1);
    r.syn(5, 3 * S); // silent flows cost the budget nothing
    assert_eq!(r.table.memory_charged(), 3 * cost);
    let (rec, ev) = r.finish();
    assert_eq!(ev.memory_budget, 1);
    assert_eq!(ev.table_full + ev.idle, 0);
    assert_eq!(finished(&rec)[0], (2, vec!["memory budget"]));
    assert_eq!(rec.finished.len(), 4);
}

#[test]
fn the_hold_queue_is_capped_by_segments_and_by_bytes() {
    // 65 one-byte segments ahead of a gap: the 65th skips it.
    let one = [1u8; 1];
    let mut r = Run::new(TableLimits::DEFAULT);
    r.syn(1, 0);
    for k in 0..65u32 {
        r.push(seg(1, false, 200 + k, flags::ACK, &one), 0);
    }
    let (rec, _) = r.finish();
    assert_eq!(finished(&rec), [(1, vec!["held segments"])]);
    assert_eq!(rec.finished[0].0.stats[0].missing_bytes, 99);
    assert_eq!(rec.finished[0].1.len(), 65);

    // Three 100 KiB segments ahead of a gap: the third passes 256 KiB and skips it.
    let big = vec![2u8; 100 * 1024];
    let mut r = Run::new(TableLimits::DEFAULT);
    r.syn(2, 0);
    for k in 0..3u32 {
        r.push(seg(2, false, 1000 + k * 100 * 1024, flags::ACK, &big), 0);
    }
    assert!(r.table.memory_charged() > 0);
    let (rec, _) = r.finish();
    assert_eq!(finished(&rec), [(2, vec!["held bytes"])]);
    assert_eq!(rec.finished[0].0.stats[0].missing_bytes, 899);
    assert_eq!(rec.finished[0].1.len(), 3 * 100 * 1024);
}

#[test]
fn held_payload_is_charged_until_delivered() {
    let mut r = Run::new(TableLimits::DEFAULT);
    r.talk(1, 0); // next byte expected: 102
    let base = r.table.memory_charged();
    let ahead = [3u8; 500];
    r.push(seg(1, false, 110, flags::ACK, &ahead), 0);
    let holding = r.table.memory_charged();
    assert!(holding >= base + 500, "{base} then {holding}");
    r.push(seg(1, false, 102, flags::ACK, b"12345678"), 0); // fills the gap
    let after = r.table.memory_charged();
    assert_eq!(holding - after, 500);
    let (rec, _) = r.finish();
    assert_eq!(rec.finished[0].1.len(), 1 + 8 + 500);
    assert_eq!(finished(&rec), [(1, vec![])]);
}

#[test]
fn per_shard_limits_split_flows_and_budget_but_not_timeouts() {
    let l = TableLimits::DEFAULT.per_shard(3);
    assert_eq!(l.max_flows, (1 << 20) / 3 + 1);
    assert_eq!(l.memory_budget, (256 << 20) / 3 + 1);
    assert_eq!(l.idle_timeout_ns, 600 * S);
    assert_eq!(l.silent_idle_timeout_ns, 60 * S);
    assert_eq!(TableLimits::DEFAULT.per_shard(0), TableLimits::DEFAULT);
}

#[test]
fn flow_keys_give_back_their_endpoints() {
    for (a, b) in [
        ("10.0.0.1", "10.0.0.2"),
        ("2001:db8::1", "2001:db8::ff"),
        ("192.0.2.9", "192.0.2.9"),
    ] {
        let mut s = seg(5000, false, 1, flags::SYN, b"");
        s.src = a.parse().unwrap();
        s.dst = b.parse().unwrap();
        let k = FlowKey::of(&s);
        let ends = [k.endpoint(true), k.endpoint(false)];
        assert!(ends.contains(&Endpoint {
            ip: s.src,
            port: 5000
        }));
        assert!(ends.contains(&Endpoint {
            ip: s.dst,
            port: 443
        }));
        assert!(k.is_lo(s.src, 5000) != k.is_lo(s.dst, 443) || s.src == s.dst);
    }
}

/// A key is the same from either direction, and its lower endpoint is the one with the lower
/// (address, port), IPv4 and IPv6 alike (IPv4 keys are built on a path of their own).
#[test]
fn flow_keys_order_endpoints_by_address_then_port_from_either_side() {
    let cases: [(&str, u16, &str, u16); 5] = [
        ("10.0.0.1", 443, "10.0.0.2", 80),
        ("10.0.0.2", 80, "10.0.0.1", 443),
        ("192.0.2.9", 5000, "192.0.2.9", 443),
        ("255.255.255.255", 1, "0.0.0.0", 65535),
        ("2001:db8::2", 1, "2001:db8::1", 2),
    ];
    for (a, ap, b, bp) in cases {
        let mut s = seg(0, false, 1, flags::SYN, b"");
        (s.src, s.src_port, s.dst, s.dst_port) = (a.parse().unwrap(), ap, b.parse().unwrap(), bp);
        let mut back = s;
        (back.src, back.src_port, back.dst, back.dst_port) = (s.dst, s.dst_port, s.src, s.src_port);
        let k = FlowKey::of(&s);
        assert_eq!(k, FlowKey::of(&back), "{a}:{ap} {b}:{bp}");
        let bits = |ip: IpAddr| match ip {
            IpAddr::V4(v) => u128::from(u32::from(v)),
            IpAddr::V6(v) => u128::from(v),
        };
        let (lo, hi) = if (bits(s.src), ap) <= (bits(s.dst), bp) {
            ((s.src, ap), (s.dst, bp))
        } else {
            ((s.dst, bp), (s.src, ap))
        };
        assert_eq!(
            k.endpoint(true),
            Endpoint {
                ip: lo.0,
                port: lo.1
            }
        );
        assert_eq!(
            k.endpoint(false),
            Endpoint {
                ip: hi.0,
                port: hi.1
            }
        );
    }
}
