//! ClientHello parsing and fingerprints (`tlscap-tls`), on three real hellos from the corpus:
//! Chrome with TLS 1.3, GREASE and a post-quantum key share (1798 bytes), curl/OpenSSL with
//! TLS 1.3 (512 bytes), Chrome 34 with TLS 1.2 (204 bytes).
//!
//! - `parse/<hello>`: `messages::parse_client_hello` on the message body, per hello and per byte;
//! - `record_to_handshake/<hello>`: the hello as a TLS record pushed through a new
//!   `Connection` (record framing, message reassembly, parse) until the `Handshake` reaches the
//!   sink, as every connection's first bytes do;
//! - `ja3/<hello>`, `ja4/<hello>`: the fingerprints of a parsed hello (strings and hashes).
//!
//! `cargo bench --bench client_hello`

mod common;

use std::hint::black_box;

use common::{tls_record, ClientHellos};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tlscap_tls::messages::parse_client_hello;
use tlscap_tls::{fingerprint, Alert, At, Connection, Handshake, Side, Sink};

/// Keeps the last handshake.
#[derive(Default)]
struct Last(Option<Handshake>);

impl Sink for Last {
    fn alert(&mut self, _: &Alert) {}
    fn handshake(&mut self, h: Handshake) {
        self.0 = Some(h);
    }
}

fn through_connection(record: &[u8]) -> Option<Handshake> {
    let mut conn = Connection::new(Some(Side::A));
    let mut sink = Last::default();
    let at = At {
        frame: 4,
        ts_ns: 1_800_007_200_000_000_000,
    };
    conn.on_data(Side::A, record, at, &mut sink);
    conn.finish(&mut sink);
    sink.0
}

fn client_hello(c: &mut Criterion) {
    let mut g = c.benchmark_group("client_hello");
    for (name, msg) in ClientHellos::all() {
        let body = &msg[4..];
        let hello = parse_client_hello(body).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(!hello.cipher_suites.is_empty(), "{name}");
        let record = tls_record(22, 0x0301, msg);
        let hs = through_connection(&record).expect("a handshake row");
        assert_eq!(
            hs.client_hello.as_ref().map(|(_, h)| h),
            Some(&hello),
            "{name}"
        );

        g.throughput(Throughput::ElementsAndBytes {
            elements: 1,
            bytes: body.len() as u64,
        });
        g.bench_with_input(BenchmarkId::new("parse", name), body, |b, body| {
            b.iter(|| parse_client_hello(black_box(body)))
        });
        g.throughput(Throughput::ElementsAndBytes {
            elements: 1,
            bytes: record.len() as u64,
        });
        g.bench_with_input(
            BenchmarkId::new("record_to_handshake", name),
            &record,
            |b, record| b.iter(|| through_connection(black_box(record))),
        );
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::new("ja3", name), &hello, |b, h| {
            b.iter(|| fingerprint::ja3(black_box(h)))
        });
        g.bench_with_input(BenchmarkId::new("ja4", name), &hello, |b, h| {
            b.iter(|| fingerprint::ja4(black_box(h)))
        });
    }
    g.finish();
}

criterion_group!(benches, client_hello);
criterion_main!(benches);
