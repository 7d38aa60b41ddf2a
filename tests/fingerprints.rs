//! Fingerprints against the references in `../shared/corpus`:
//! - JA3 and JA3S: every value tshark computed (`tls.handshake.ja3`, `tls.handshake.ja3s` in
//!   `truth/*.tsv`) equals the MD5 on our row for that ClientHello or ServerHello frame;
//! - JA4: every `JA4.1` and `JA4_r.1` of FoxIO's Python tool (`truth/*.ja4py.json`, run on every
//!   capture, and FoxIO's own expected outputs `*.ja4-python.expected`) equals the first
//!   handshake's `ja4` and `ja4_r` on our row for that connection.
//!
//! A row's fingerprints are those of its first ClientHello: the second ClientHello after a
//! HelloRetryRequest (tshark fingerprints it too) is not compared. An SSLv2-format ClientHello
//! has no JA4 of ours: the specification defines none for its 3-byte cipher kinds, and ja4.py's
//! value for it (`t10i000000_...`, no ciphers) only reflects that tshark does not list them.
//! The exceptions below are the rest, each with its reason; the list only ever shrinks.

/// (capture, check, frame or client port, reason).
const EXCEPTIONS: &[(&str, &str, u64, &str)] = &[
    (
        "ntop__nDPI/tests/cfgs/default/pcap/tls_cipher_lens.pcap",
        "ja3",
        5,
        "malformed ClientHello (extensions length 65472 in a 174-byte record): tshark stops its \
         JA3 string after the cipher list (`769,,`); ours has all five fields, empty",
    ),
    (
        "OISF__suricata-verify/tests/tls/tls13-draft14/tls13_draft14.pcap",
        "ja3s",
        6,
        "TLS 1.3 draft-14 ServerHello has no session id or compression method; tshark reads it \
         with the final layout and takes its cipher (0xacad) from the random; ours is 0xc02b",
    ),
    (
        "ntop__nDPI/tests/cfgs/default/pcap/tls_cipher_lens.pcap",
        "ja4",
        51590,
        "malformed ClientHello (odd cipher-suite length): ja4.py counts no ciphers, we count the \
         whole suites that are there, as tshark's JA3 does",
    ),
    (
        "zeek__zeek/testing/btest/Traces/tls/openjdk-25.0.2-zeek.org.pcap",
        "ja4",
        55058,
        "ja4.py takes the signature_algorithms_cert list (extension 50, after 13) into JA4_c; \
         the specification and FoxIO's Rust tool take signature_algorithms only (FoxIO ja4 #41)",
    ),
];

fn excepted(capture: &str, check: &str, at: u64) -> bool {
    EXCEPTIONS
        .iter()
        .any(|&(c, k, n, _)| c == capture && k == check && n == at)
}

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use common::{corpus_dir, corpus_files, field, scan_corpus_file, Truth};
use tlscap::CaptureRows;

/// tshark's ja3/ja3s per frame: (frame, ja3 values, ja3s values).
fn tshark_ja3(capture: &str) -> Vec<(u64, Vec<String>, Vec<String>)> {
    let truth = Truth::read(capture);
    let (frame, stream, ja3, ja3s) = (
        truth.col("frame.number"),
        truth.col("tcp.stream"),
        truth.col("tls.handshake.ja3"),
        truth.col("tls.handshake.ja3s"),
    );
    let list = |s: &str| -> Vec<String> {
        s.split(',')
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    };
    truth
        .rows
        .iter()
        // QUIC (no TCP stream) is not ours to fingerprint.
        .filter(|r| !field(r, stream).is_empty())
        .map(|r| {
            let f = |i| field(r, i);
            (f(frame).parse().unwrap(), list(f(ja3)), list(f(ja3s)))
        })
        .collect()
}

#[test]
fn ja3_and_ja3s_match_tshark() {
    let mut failures = Vec::new();
    let (mut ja3_checked, mut ja3s_checked) = (0, 0);
    for capture in corpus_files() {
        let rows = scan_corpus_file(&capture);
        for (frame, ja3, ja3s) in tshark_ja3(&capture) {
            let retry = rows
                .handshakes
                .iter()
                .any(|h| h.retry_client_hello_frame == Some(frame));
            if retry || excepted(&capture, "ja3", frame) {
                continue;
            }
            // A frame with several ClientHellos (renegotiations) has several values.
            for want in &ja3 {
                ja3_checked += 1;
                let ours: Vec<_> = rows
                    .handshakes
                    .iter()
                    .filter(|h| h.client_hello_frame == Some(frame))
                    .map(|h| h.ja3_hash.clone())
                    .collect();
                if !ours.contains(&Some(want.clone())) {
                    failures.push(format!(
                        "{capture} frame {frame}: ja3 {want}, ours {ours:?}"
                    ));
                }
            }
            for want in &ja3s {
                // A HelloRetryRequest is a ServerHello to tshark; its JA3S is not on our row.
                if rows
                    .handshakes
                    .iter()
                    .any(|h| h.hello_retry_frame == Some(frame))
                    || excepted(&capture, "ja3s", frame)
                {
                    continue;
                }
                ja3s_checked += 1;
                let ours: Vec<_> = rows
                    .handshakes
                    .iter()
                    .filter(|h| h.server_hello_frame == Some(frame))
                    .map(|h| h.ja3s_hash.clone())
                    .collect();
                if !ours.contains(&Some(want.clone())) {
                    failures.push(format!(
                        "{capture} frame {frame}: ja3s {want}, ours {ours:?}"
                    ));
                }
            }
        }
    }
    eprintln!("checked {ja3_checked} JA3 and {ja3s_checked} JA3S");
    assert!(ja3_checked > 200 && ja3s_checked > 150);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// One connection's JA4 values from FoxIO's Python tool.
struct Ja4Ref {
    client: (IpAddr, u16),
    server: (IpAddr, u16),
    ja4: String,
    ja4_r: Option<String>,
}

fn read_ja4_json(path: &Path) -> Vec<Ja4Ref> {
    let text = std::fs::read_to_string(path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let s = |e: &serde_json::Value, k: &str| e.get(k).and_then(|x| x.as_str()).map(str::to_string);
    v.as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let ja4 = s(e, "JA4.1")?;
            // ja4.py keeps QUIC and TCP apart by the first letter.
            if !ja4.starts_with('t') {
                return None;
            }
            let ip = |k| s(e, k)?.parse::<IpAddr>().ok();
            let port = |k| s(e, k)?.parse::<u16>().ok();
            Some(Ja4Ref {
                client: (ip("src")?, port("srcport")?),
                server: (ip("dst")?, port("dstport")?),
                ja4,
                ja4_r: s(e, "JA4_r.1"),
            })
        })
        .collect()
}

fn check_ja4(capture: &str, rows: &CaptureRows, refs: &[Ja4Ref], failures: &mut Vec<String>) {
    // Connections in capture order per 4-tuple: port reuse makes several. ja4.py names the
    // sender of the stream's first packet `src`, which is the server when the capture starts
    // mid-connection, so either orientation matches.
    let mut used = BTreeMap::<((IpAddr, u16), (IpAddr, u16)), usize>::new();
    for r in refs {
        let nth = used.entry((r.client, r.server)).or_default();
        let mut conns: Vec<_> = rows
            .handshakes
            .iter()
            .filter(|h| {
                // Inside a tunnel, ja4.py reports the outer addresses with the inner ports.
                let ips = |inner: Option<IpAddr>, outer: Option<IpAddr>| [inner, outer.or(inner)];
                let is = |ips: [Option<IpAddr>; 2], port, want: (IpAddr, u16)| {
                    ips.contains(&Some(want.0)) && port == Some(want.1)
                };
                let (c, s) = (
                    ips(h.client_ip, h.tunnel_src),
                    ips(h.server_ip, h.tunnel_dst),
                );
                let (cp, sp) = (h.client_port, h.server_port);
                h.handshake_index == 0
                    && ((is(c, cp, r.client) && is(s, sp, r.server))
                        || (is(s, sp, r.client) && is(c, cp, r.server)))
            })
            .collect();
        conns.sort_by_key(|h| h.client_hello_frame);
        let row = conns.get(*nth);
        *nth += 1;
        let Some(h) = row else {
            failures.push(format!("{capture} {:?}->{:?}: no row", r.client, r.server));
            continue;
        };
        if h.client_hello_format == Some("sslv2") {
            if h.ja4.is_some() {
                failures.push(format!("{capture}: a JA4 for an SSLv2-format ClientHello"));
            }
            continue;
        }
        if excepted(capture, "ja4", u64::from(h.client_port.unwrap())) {
            continue;
        }
        if h.ja4.as_deref() != Some(r.ja4.as_str()) {
            failures.push(format!(
                "{capture} {:?}->{:?}: ja4 {}, ours {:?}",
                r.client, r.server, r.ja4, h.ja4
            ));
        }
        if r.ja4_r.is_some() && h.ja4_r != r.ja4_r {
            failures.push(format!(
                "{capture} {:?}->{:?}: ja4_r {:?}, ours {:?}",
                r.client, r.server, r.ja4_r, h.ja4_r
            ));
        }
    }
}

#[test]
fn exceptions_name_real_captures() {
    let files = common::corpus_files();
    for (c, check, _, reason) in EXCEPTIONS {
        assert!(files.iter().any(|f| f == c), "unknown capture {c}");
        assert!(["ja3", "ja3s", "ja4"].contains(check), "{check}");
        assert!(!reason.is_empty());
    }
}

#[test]
fn ja4_matches_foxio() {
    let dir = corpus_dir();
    let mut failures = Vec::new();
    let mut checked = 0;
    for capture in corpus_files() {
        let rows = scan_corpus_file(&capture);
        let truth = dir
            .join("truth")
            .join(format!("{}.ja4py.json", capture.replace('/', "__")));
        let refs = read_ja4_json(&truth);
        checked += refs.len();
        check_ja4(&capture, &rows, &refs, &mut failures);
        let foxio = dir.join(format!("{capture}.ja4-python.expected"));
        if foxio.exists() {
            let refs = read_ja4_json(&foxio);
            checked += refs.len();
            check_ja4(&capture, &rows, &refs, &mut failures);
        }
    }
    eprintln!("checked {checked} JA4");
    assert!(checked > 150);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
