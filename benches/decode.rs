//! The decoder (`tlscap-decode`): link layer to TCP segment.
//!
//! - `decode_frame/<frame>`: one frame decoded again and again (the branch predictor learns it:
//!   a lower bound), per frame and per byte. Frames: a 60-byte ACK and a 1514-byte data frame
//!   (Ethernet/IPv4/TCP), 802.1Q VLAN, IPv6, IPv6 with a Hop-by-Hop header (the etherparse
//!   path), VXLAN and GRE tunnels.
//! - `etherparse_sliced/<frame>`: etherparse's `SlicedPacket` on the Ethernet/IPv4/TCP frames,
//!   the alternative to the hand-written path (docs/architecture.md quotes this comparison).
//! - `decode_mix`: 4096 consecutive frames of the interleaved TLS traffic (data frames, ACKs,
//!   handshakes), each decoded once per pass, so branches vary as in a capture.
//!
//! `cargo bench --bench decode`

mod common;

use std::hint::black_box;

use common::frames::{
    ethernet, ethernet_vlan, gre, ipv4_tcp, ipv6_tcp, vxlan, Tcp, CLIENT_MAC, ETHERTYPE_IPV4,
    ETHERTYPE_IPV6, SERVER_MAC,
};
use common::tcp_flags::{ACK, PSH};
use common::{Traffic, LINKTYPE_ETHERNET, MSS};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const CLIENT_V4: [u8; 4] = [10, 51, 2, 231];
const SERVER_V4: [u8; 4] = [10, 244, 64, 15];
const CLIENT_V6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x31,
];
const SERVER_V6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
];

/// `(name, frame)` for every shape measured alone.
fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let data = vec![0x17; MSS];
    let ack = Tcp::to_https(ACK);
    let push = Tcp::to_https(PSH | ACK);
    let v4 = |t: &Tcp, p: &[u8]| ipv4_tcp(CLIENT_V4, SERVER_V4, t, p);
    let eth4 = |ip: &[u8]| ethernet(CLIENT_MAC, SERVER_MAC, ETHERTYPE_IPV4, ip);
    let v6_payload = &data[..MSS - 20];
    vec![
        ("ipv4_ack_60B", eth4(&v4(&ack, &[]))),
        ("ipv4_data_1514B", eth4(&v4(&push, &data))),
        (
            "vlan_ipv4_data_1518B",
            ethernet_vlan(100, ETHERTYPE_IPV4, &v4(&push, &data)),
        ),
        (
            "ipv6_data_1514B",
            ethernet(
                CLIENT_MAC,
                SERVER_MAC,
                ETHERTYPE_IPV6,
                &ipv6_tcp(CLIENT_V6, SERVER_V6, &push, v6_payload, false),
            ),
        ),
        (
            "ipv6_hop_by_hop_1514B",
            ethernet(
                CLIENT_MAC,
                SERVER_MAC,
                ETHERTYPE_IPV6,
                &ipv6_tcp(CLIENT_V6, SERVER_V6, &push, &v6_payload[..MSS - 28], true),
            ),
        ),
        ("vxlan_ipv4_data_1564B", vxlan(&eth4(&v4(&push, &data)))),
        ("gre_ipv4_data_1538B", gre(&v4(&push, &data))),
    ]
}

fn decode_frame(c: &mut Criterion) {
    let frames = frames();
    for (name, f) in &frames {
        let seg =
            tlscap_decode::decode(LINKTYPE_ETHERNET, f).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(seg.dst_port, 443, "{name}");
        assert!(
            name.contains("ack") || seg.payload.len() >= MSS - 28,
            "{name}"
        );
    }

    let mut g = c.benchmark_group("decode_frame");
    for (name, f) in &frames {
        g.throughput(Throughput::ElementsAndBytes {
            elements: 1,
            bytes: f.len() as u64,
        });
        g.bench_with_input(BenchmarkId::new("hand_written", name), f, |b, f| {
            b.iter(|| tlscap_decode::decode(LINKTYPE_ETHERNET, black_box(f)))
        });
    }
    for (name, f) in frames.iter().take(2) {
        g.throughput(Throughput::ElementsAndBytes {
            elements: 1,
            bytes: f.len() as u64,
        });
        g.bench_with_input(BenchmarkId::new("etherparse_sliced", name), f, |b, f| {
            b.iter(|| {
                let p = etherparse::SlicedPacket::from_ethernet(black_box(f)).unwrap();
                match p.transport {
                    Some(etherparse::TransportSlice::Tcp(t)) => t.payload().len(),
                    _ => 0,
                }
            })
        });
    }
    g.finish();
}

fn decode_mix(c: &mut Criterion) {
    let packets = Traffic::bulk().sized(8 << 20).packets();
    // From the middle, where handshakes, data and ACKs of many connections alternate.
    let mid = packets.len() / 2;
    let mix: Vec<&[u8]> = packets[mid..mid + 4096]
        .iter()
        .map(|p| p.data.as_slice())
        .collect();
    let bytes: usize = mix.iter().map(|f| f.len()).sum();
    let mut g = c.benchmark_group("decode_mix");
    g.throughput(Throughput::ElementsAndBytes {
        elements: mix.len() as u64,
        bytes: bytes as u64,
    });
    g.bench_function("tls_traffic_4096_frames", |b| {
        b.iter(|| {
            let mut payload = 0;
            for f in black_box(&mix) {
                if let Ok(seg) = tlscap_decode::decode(LINKTYPE_ETHERNET, f) {
                    payload += seg.payload.len();
                }
            }
            payload
        })
    });
    g.finish();
}

criterion_group!(benches, decode_frame, decode_mix);
criterion_main!(benches);
