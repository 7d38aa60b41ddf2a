//! Memory bounded by design (issue 5): a capture with a million concurrent connections (a SYN
//! flood that never closes), a port scan and a second flood wave past the flow cap keeps the
//! scan's live heap under 512 MiB and keeps going: the TLS connections after the flood have
//! their rows, and every eviction is counted exactly. The heap is measured with a counting
//! allocator, so this file holds one test only (the count is process-wide).

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use common::{client_hello_record, server_hello_record, PcapBuilder, Tcp};
use tlscap::{scan_to_rows, ScanOptions};
use tlscap_decode::{flags, TcpSegment};
use tlscap_flows::{FlowKey, TableLimits};

#[global_allocator]
static ALLOC: common::heap::Counting = common::heap::Counting;

const MIB: usize = 1 << 20;
/// The target for a million concurrent connections (anonymous memory, whole process).
const HEAP_BOUND: usize = 512 * MIB;

const FLOOD: u32 = 1_000_000;
const SECOND_WAVE: u32 = 100_000;
/// Ports of the scanned host that answer with a SYN-ACK.
const OPEN_PORTS: [u16; 3] = [22, 80, 443];
/// Ports whose SYNs get no answer: those flows stay open, silent.
const FILTERED_PORTS: std::ops::RangeInclusive<u16> = 10_000..=19_999;
/// Three shards: the flow cap does not divide evenly.
const SHARDS: usize = 3;

const T0_US: u64 = 1_700_000_000_000_000;
const S_US: u64 = 1_000_000;

const VICTIM: [u8; 4] = [192, 0, 2, 1];
const SCANNED: [u8; 4] = [192, 0, 2, 2];
const SCANNER: ([u8; 4], u16) = ([198, 51, 100, 7], 40_000);
const CLIENT: [u8; 4] = [203, 0, 113, 10];
const SERVER: [u8; 4] = [203, 0, 113, 20];

/// A SYN flood source: distinct (address, port) pairs, 64 ports per address.
fn flood_source(net: u8, i: u32) -> ([u8; 4], u16) {
    let host = i >> 6;
    (
        [net, (host >> 16) as u8, (host >> 8) as u8, host as u8],
        1024 + (i & 63) as u16,
    )
}

fn syn(src: ([u8; 4], u16), dst: ([u8; 4], u16)) -> Tcp {
    Tcp {
        src,
        dst,
        seq: 7,
        ack: 0,
        flags: flags::SYN,
    }
}

/// The shard `scan` routes a connection between `a` and `b` to.
fn shard_of(a: ([u8; 4], u16), b: ([u8; 4], u16)) -> usize {
    let seg = TcpSegment {
        src: IpAddr::V4(Ipv4Addr::from(a.0)),
        dst: IpAddr::V4(Ipv4Addr::from(b.0)),
        src_port: a.1,
        dst_port: b.1,
        seq: 0,
        ack: 0,
        flags: flags::SYN,
        window: 0,
        vlan: None,
        tunnel: None,
        payload: &[],
        wire_len: 0,
    };
    FlowKey::shard_of(&seg, SHARDS)
}

/// Connections alive per shard, for the exact count of table-full evictions: a new connection
/// in a full shard evicts one (the oldest flood connection), else takes a free place.
struct Occupancy {
    alive: [usize; SHARDS],
    evicted: [u64; SHARDS],
    cap: usize,
}

impl Occupancy {
    fn open(&mut self, a: ([u8; 4], u16), b: ([u8; 4], u16)) {
        let s = shard_of(a, b);
        if self.alive[s] == self.cap {
            self.evicted[s] += 1;
        } else {
            self.alive[s] += 1;
        }
    }
    fn close(&mut self, a: ([u8; 4], u16), b: ([u8; 4], u16)) {
        self.alive[shard_of(a, b)] -= 1;
    }
}

/// The capture, and how many connections a full table evicts while it is scanned.
fn flood_capture() -> (Vec<u8>, u64) {
    let mut pcap = PcapBuilder::with_capacity(90 * MIB);
    let mut occupancy = Occupancy {
        alive: [0; SHARDS],
        evicted: [0; SHARDS],
        cap: TableLimits::DEFAULT.per_shard(SHARDS).max_flows,
    };
    let victim = (VICTIM, 443);
    // 0-10 s: a million SYNs to one server, never answered, never closed.
    for i in 0..FLOOD {
        let src = flood_source(10, i);
        pcap.tcp(T0_US + u64::from(i) * 10, syn(src, victim), &[]);
        occupancy.open(src, victim);
    }
    // 10-11 s: a SYN scan of every port of another host: closed ports answer RST-ACK, open
    // ones SYN-ACK (and the scanner resets), filtered ones nothing.
    let mut t = T0_US + 10 * S_US;
    for port in 1..=u16::MAX {
        let target = (SCANNED, port);
        pcap.tcp(t, syn(SCANNER, target), &[]);
        occupancy.open(SCANNER, target);
        let answer = Tcp {
            src: target,
            dst: SCANNER,
            seq: 0,
            ack: 8,
            flags: flags::RST | flags::ACK,
        };
        if OPEN_PORTS.contains(&port) {
            let syn_ack = flags::SYN | flags::ACK;
            pcap.tcp(
                t + 1,
                Tcp {
                    flags: syn_ack,
                    ..answer
                },
                &[],
            );
            let reset = Tcp {
                src: SCANNER,
                dst: target,
                seq: 8,
                ack: 1,
                flags: flags::RST,
            };
            pcap.tcp(t + 2, reset, &[]);
            occupancy.close(SCANNER, target);
        } else if !FILTERED_PORTS.contains(&port) {
            pcap.tcp(t + 1, answer, &[]);
            occupancy.close(SCANNER, target);
        }
        t += 15;
    }
    // 11-12 s: a second wave, past the flow cap.
    for i in 0..SECOND_WAVE {
        let src = flood_source(172, i);
        pcap.tcp(T0_US + 11 * S_US + u64::from(i) * 10, syn(src, victim), &[]);
        occupancy.open(src, victim);
    }
    // 120 s: the scan keeps going. A TLS 1.2 connection that completes, and one whose server
    // never answers its ClientHello.
    let hello = client_hello_record();
    let server_hello = server_hello_record();
    let mut app = vec![23, 3, 3, 0, 32];
    app.resize(5 + 32, 0xab);
    let t = T0_US + 120 * S_US;
    let (c, s) = ((CLIENT, 50_000), (SERVER, 443));
    let (mut cseq, mut sseq) = (1000u32, 5000u32);
    let conversation: [(bool, u8, &[u8]); 9] = [
        (true, flags::SYN, &[]),
        (false, flags::SYN | flags::ACK, &[]),
        (true, flags::ACK, &[]),
        (true, flags::PSH | flags::ACK, &hello),
        (false, flags::PSH | flags::ACK, &server_hello),
        (true, flags::PSH | flags::ACK, &app),
        (false, flags::PSH | flags::ACK, &app),
        (true, flags::FIN | flags::ACK, &[]),
        (false, flags::FIN | flags::ACK, &[]),
    ];
    for (k, (from_client, fl, payload)) in conversation.into_iter().enumerate() {
        let (src, dst, seq, ack) = if from_client {
            (c, s, cseq, sseq)
        } else {
            (s, c, sseq, cseq)
        };
        let tcp = Tcp {
            src,
            dst,
            seq,
            ack,
            flags: fl,
        };
        pcap.tcp(t + k as u64 * 1000, tcp, payload);
        let advance = payload.len() as u32 + u32::from(fl & (flags::SYN | flags::FIN) != 0);
        if from_client {
            cseq += advance;
        } else {
            sseq += advance;
        }
    }
    let (c2, s2) = ((CLIENT, 50_001), (SERVER, 443));
    let unanswered: [(bool, u8, &[u8]); 4] = [
        (true, flags::SYN, &[]),
        (false, flags::SYN | flags::ACK, &[]),
        (true, flags::ACK, &[]),
        (true, flags::PSH | flags::ACK, &hello),
    ];
    for (k, (from_client, fl, payload)) in unanswered.into_iter().enumerate() {
        let (src, dst, seq) = if from_client {
            (c2, s2, 1000 + u32::from(k > 1))
        } else {
            (s2, c2, 5000)
        };
        let tcp = Tcp {
            src,
            dst,
            seq,
            ack: 0,
            flags: fl,
        };
        pcap.tcp(t + 20_000 + k as u64 * 1000, tcp, payload);
    }
    // 820 s: one last SYN; the unanswered ClientHello has been idle for over ten minutes.
    pcap.tcp(T0_US + 820 * S_US, syn((CLIENT, 50_002), s2), &[]);
    (pcap.bytes, occupancy.evicted.iter().sum())
}

#[test]
fn a_million_concurrent_connections_stay_under_the_memory_bound() {
    let built = Instant::now();
    let (capture, table_full) = flood_capture();
    let built = built.elapsed();
    let opts = ScanOptions {
        shards: SHARDS,
        ..ScanOptions::default()
    };
    let base = common::heap::Counting::start();
    let scanned = Instant::now();
    let rows = scan_to_rows(&capture, "flood.pcap", opts);
    let scanned = scanned.elapsed();
    let peak = common::heap::Counting::peak_since(base);
    eprintln!(
        "{} packets ({} MiB) built in {built:.1?}, scanned in {scanned:.1?} with {SHARDS} shards: \
         peak heap {:.1} MiB; {table_full} evicted for room",
        rows.file.packets,
        capture.len() / MIB,
        peak as f64 / MIB as f64
    );
    assert!(
        peak < HEAP_BOUND,
        "peak heap {peak} bytes over the {HEAP_BOUND}-byte bound"
    );

    // Every packet was read; the flood and the scan made no rows.
    let scan_packets = 2 * 65_535 + OPEN_PORTS.len() as u64 - FILTERED_PORTS.len() as u64;
    let packets = u64::from(FLOOD) + scan_packets + u64::from(SECOND_WAVE) + 9 + 4 + 1;
    assert_eq!(rows.file.packets, packets);
    assert_eq!(rows.file.tcp_packets, packets);
    assert_eq!(rows.file.error, None);

    // The second wave overflowed the cap: that many flood connections were evicted for room,
    // all others idled out (a minute without payload), and so did the unanswered ClientHello
    // (ten minutes); the completed connection closed. The numbers are exact.
    let silent = u64::from(FLOOD) + FILTERED_PORTS.len() as u64 + u64::from(SECOND_WAVE);
    assert!(table_full > 0, "the second wave must overflow the cap");
    assert_eq!(rows.file.evicted_table_full, table_full);
    assert_eq!(rows.file.evicted_idle, silent - table_full + 1);
    assert_eq!(rows.file.evicted_memory_budget, 0);

    // The scan kept going: both TLS connections after the flood have their rows.
    let summary: Vec<_> = rows
        .handshakes
        .iter()
        .map(|h| (h.client_port, h.outcome, h.limits.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (Some(50_000), "established", vec![]),
            (Some(50_001), "incomplete", vec!["idle timeout"]),
        ]
    );
    assert_eq!(rows.file.handshakes, 2);
}
