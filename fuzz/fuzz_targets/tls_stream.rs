//! TLS over an already reassembled TCP connection, driven chunk by chunk.
//!
//! Input format (`seedgen` writes it from real captures):
//! - byte 0: client hint, `b % 3`: 0 = `None`, 1 = `Some(A)`, 2 = `Some(B)`;
//! - then operations, each a control byte `c` followed by its arguments:
//!   - side = `c & 1` (0 = A, 1 = B); kind = `(c >> 1) & 7`;
//!   - kind 0..=5, data: u16 LE length, then that many bytes (fewer at the end of input);
//!   - kind 6, gap: u32 LE count of missing bytes (the flow table reports at most 2^31 - 1);
//!   - kind 7, close: bit 4 set means RST, else FIN.
//!
//! Then `finish`. The message parsers also run on the whole input and on each data chunk
//! past a record header (offset 2 for SSLv2, 9 for a TLS record + handshake header).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlscap_tls::messages::{
    parse_certificate, parse_certificate_request, parse_client_hello,
    parse_client_hello_lenient, parse_server_hello, parse_sslv2_client_hello,
    parse_sslv2_server_hello,
};
use tlscap_tls::{
    der, fingerprint, x509, Alert, At, Close, Connection, Handshake, Side, Sink, Version,
};

#[derive(Default)]
struct Count {
    alerts: u64,
    handshakes: u64,
}

impl Sink for Count {
    fn alert(&mut self, alert: &Alert) {
        self.alerts += 1;
        let _ = alert.is_fatal();
        let _ = alert.name();
        std::hint::black_box(alert);
    }
    fn handshake(&mut self, handshake: Handshake) {
        self.handshakes += 1;
        // What the row builder does with a handshake: fingerprints, resumption, certificates.
        if let Some((_, ch)) = &handshake.client_hello {
            let _ = std::hint::black_box((fingerprint::ja3(ch), fingerprint::ja4(ch)));
        }
        if let Some((_, sh)) = &handshake.server_hello {
            let _ = std::hint::black_box(fingerprint::ja3s(sh));
        }
        let _ = std::hint::black_box(handshake.resumed());
        for cert in handshake.server_chain.iter().chain(handshake.client_chain.iter().flatten()) {
            let _ = std::hint::black_box(x509::parse_certificate_info(&cert.der));
        }
        std::hint::black_box(&handshake);
    }
}

fn parsers(b: &[u8]) {
    let _ = std::hint::black_box(parse_client_hello(b));
    let _ = std::hint::black_box(parse_client_hello_lenient(b));
    let _ = std::hint::black_box(parse_server_hello(b));
    let _ = std::hint::black_box(parse_certificate(b));
    let _ = std::hint::black_box(parse_sslv2_client_hello(b));
    let _ = std::hint::black_box(parse_sslv2_server_hello(b));
    let _ = std::hint::black_box(parse_certificate_request(b, Version::TLS12));
    let _ = std::hint::black_box(parse_certificate_request(b, Version(0x0301)));
    if let Some((issuer, subject)) = der::issuer_and_subject(b) {
        let _ = std::hint::black_box(der::name_to_string(issuer));
        let _ = std::hint::black_box(der::name_to_string(subject));
    }
    let _ = std::hint::black_box(der::name_to_string(b));
    let _ = std::hint::black_box(x509::parse_certificate_info(b));
    if let Ok(ch) = parse_client_hello(b) {
        let _ = std::hint::black_box((fingerprint::ja3(&ch), fingerprint::ja4(&ch)));
    }
}

/// Takes `n` bytes, zero-padded when the input ends early.
fn take<const N: usize>(data: &mut &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = N.min(data.len());
    out[..n].copy_from_slice(&data[..n]);
    *data = &data[n..];
    out
}

fuzz_target!(|input: &[u8]| {
    parsers(input);

    let Some((&hint, mut data)) = input.split_first() else {
        return;
    };
    let hint = match hint % 3 {
        0 => None,
        1 => Some(Side::A),
        _ => Some(Side::B),
    };
    let mut conn = Connection::new(hint);
    let mut sink = Count::default();
    let mut frame = 0u64;
    let mut chunks = 0usize;
    while let Some((&c, rest)) = data.split_first() {
        data = rest;
        frame += 1;
        let at = At {
            frame,
            ts_ns: frame as i64 * 1_000,
        };
        let side = if c & 1 == 0 { Side::A } else { Side::B };
        match (c >> 1) & 7 {
            6 => {
                let n = u64::from(u32::from_le_bytes(take::<4>(&mut data)));
                conn.on_gap(side, n);
            }
            7 => {
                let kind = if c & 0x10 != 0 { Close::Rst } else { Close::Fin };
                conn.on_close(side, kind, at, &mut sink);
            }
            _ => {
                let len = usize::from(u16::from_le_bytes(take::<2>(&mut data)));
                let (chunk, rest) = data.split_at(len.min(data.len()));
                data = rest;
                conn.on_data(side, chunk, at, &mut sink);
                if chunks < 8 {
                    chunks += 1;
                    for off in [2, 9] {
                        if chunk.len() > off {
                            parsers(&chunk[off..]);
                        }
                    }
                }
            }
        }
        let _ = (conn.wants_data(), conn.is_tls(), conn.client(), conn.desyncs());
    }
    conn.finish(&mut sink);
    std::hint::black_box((sink.alerts, sink.handshakes));
});
