//! TCP reassembly (`tlscap-flows`): a `FlowTable` fed the decoded segments of many interleaved
//! TLS connections (64 open at a time), in capture order, through a `StreamHandler` that only
//! counts, so that what is measured is the table: flow lookup by `FlowKey`, sequence tracking,
//! held out-of-order segments, retransmissions, FIN handling and the final `finish_all`.
//! Throughput in segments and in payload bytes. A new table per iteration, as a shard starts
//! with an empty one.
//!
//! - `in_order`: every segment in sequence;
//! - `disorder`: one data segment in 41 arrives after the next, one in 61 is retransmitted;
//! - `disorder_transient`: the same through `segment_transient` (streamed input), which copies
//!   the segments it must hold.
//!
//! `cargo bench --bench reassembly`

mod common;

use std::hint::black_box;

use common::{Traffic, LINKTYPE_ETHERNET};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tlscap_decode::TcpSegment;
use tlscap_flows::{CloseKind, FlowInfo, FlowKey, FlowTable, PacketMeta, Side, StreamHandler};

/// Counts what the table delivers, nothing more.
#[derive(Default)]
struct Count {
    bytes: u64,
    gaps: u64,
    closes: u64,
    finished: u64,
}

impl StreamHandler for Count {
    type Conn = u64;
    fn open(&mut self, _: &FlowInfo) -> u64 {
        0
    }
    fn data(&mut self, conn: &mut u64, _: Side, data: &[u8], _: PacketMeta) {
        *conn += data.len() as u64;
    }
    fn gap(&mut self, _: &mut u64, _: Side, _: u64) {
        self.gaps += 1;
    }
    fn close(&mut self, _: &mut u64, _: Side, _: CloseKind, _: PacketMeta) {
        self.closes += 1;
    }
    fn finish(&mut self, conn: u64, _: &FlowInfo) {
        self.bytes += conn;
        self.finished += 1;
    }
    fn wants_data(&self, _: &u64) -> bool {
        true
    }
}

fn reassemble<'a>(segments: &[(TcpSegment<'a>, PacketMeta)], transient: bool) -> Count {
    let mut table = FlowTable::new(Count::default());
    for (seg, at) in segments {
        let key = FlowKey::of(seg);
        if transient {
            table.segment_transient(key, seg, *at);
        } else {
            table.segment(key, seg, *at);
        }
    }
    table.finish_all();
    table.handler
}

fn reassembly(c: &mut Criterion) {
    let traffic = Traffic {
        connections: 512,
        response: 64 << 10,
        ..Traffic::bulk()
    };
    let mut g = c.benchmark_group("reassembly");
    for (name, disorder, transient) in [
        ("in_order", false, false),
        ("disorder", true, false),
        ("disorder_transient", true, true),
    ] {
        let packets = Traffic {
            disorder,
            ..traffic
        }
        .packets();
        let segments: Vec<(TcpSegment<'_>, PacketMeta)> = packets
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let seg = tlscap_decode::decode(LINKTYPE_ETHERNET, &p.data).unwrap();
                let at = PacketMeta {
                    frame: i as u64 + 1,
                    ts_ns: p.ts_ns,
                };
                (seg, at)
            })
            .collect();
        let payload: usize = segments.iter().map(|(s, _)| s.payload.len()).sum();
        let check = reassemble(&segments, transient);
        assert_eq!(check.finished, traffic.connections as u64, "{name}");
        assert_eq!(check.gaps, 0, "{name}: a gap means the traffic is wrong");
        g.throughput(Throughput::ElementsAndBytes {
            elements: segments.len() as u64,
            bytes: payload as u64,
        });
        g.bench_function(name, |b| {
            b.iter(|| reassemble(black_box(&segments), transient).bytes)
        });
    }
    g.finish();
}

criterion_group!(benches, reassembly);
criterion_main!(benches);
