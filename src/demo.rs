//! `tlscap demo`: rebuilds the motivating capture (`shared/seed-case.md`), scans it, and says
//! what the support engineer needed to know.
//!
//! The reconstruction follows the trace frame by frame: an SSLv2-format ClientHello (frame 7),
//! a TLS 1.0 server flight with a long certificate chain and a CertificateRequest spread over
//! 1460-byte segments (frames 9, 12, 13, 18, 22, 27), the client's Certificate,
//! ClientKeyExchange, CertificateVerify, ChangeCipherSpec and encrypted Finished (frame 30), and
//! frame 32 byte for byte as the seed gives it. Sequence numbers are derived backwards from
//! frame 32 so the whole conversation is consistent with it. The client's certificate is
//! issued by a CA that the CertificateRequest does not list.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use tlscap_output::{AlertRow, HandshakeRow};

use crate::{run, scan_to_rows, ScanOptions};

/// Frame 32 of the motivating capture, byte for byte.
pub const SEED_FRAME_32: [u8; 61] = [
    0x00, 0x1E, 0x68, 0x0F, 0x3E, 0x80, 0x00, 0x30, 0x48, 0x7E, 0x1B, 0x90, 0x08, 0x00, 0x45, 0x00,
    0x00, 0x2F, 0x13, 0x9E, 0x40, 0x00, 0x3D, 0x06, 0xD2, 0x0E, 0x0A, 0xF4, 0x40, 0x0F, 0x0A, 0x33,
    0x02, 0xE7, 0x15, 0x43, 0x04, 0x4C, 0xA4, 0xC5, 0x13, 0xA4, 0xE8, 0x46, 0x34, 0xBB, 0x50, 0x18,
    0xFA, 0xF0, 0x2B, 0xB8, 0x00, 0x00, 0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x2A,
];

const SERVER_LEAF: &[u8] = include_bytes!("demo/server-leaf.der");
const SERVER_INTERMEDIATE: &[u8] = include_bytes!("demo/server-intermediate.der");
const SERVER_ROOT: &[u8] = include_bytes!("demo/server-root.der");
const CLIENT_CERT: &[u8] = include_bytes!("demo/client.der");

const CLIENT_MAC: [u8; 6] = [0x00, 0x1E, 0x68, 0x0F, 0x3E, 0x80];
const SERVER_MAC: [u8; 6] = [0x00, 0x30, 0x48, 0x7E, 0x1B, 0x90];
const CLIENT_IP: [u8; 4] = [10, 51, 2, 231];
const SERVER_IP: [u8; 4] = [10, 244, 64, 15];
const CLIENT_PORT: u16 = 1100;
const SERVER_PORT: u16 = 5443;
/// The server's sequence number and the client's acknowledgement in frame 32.
const SERVER_SEQ_AT_ALERT: u32 = 2_764_379_044;
const CLIENT_NEXT_AT_ALERT: u32 = 3_896_915_131;
/// Frames holding the server's flight, as in the trace.
const SERVER_FLIGHT_FRAMES: [u64; 6] = [9, 12, 13, 18, 22, 27];
const MSS: usize = 1460;
/// 2027-01-15 10:00:00 UTC.
const START_SECS: u32 = 1_800_007_200;

/// Deterministic filler for randoms, keys and ciphertext (xorshift64*).
struct Filler(u64);

impl Filler {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }
}

fn u24(n: usize) -> [u8; 3] {
    [(n >> 16) as u8, (n >> 8) as u8, n as u8]
}

fn handshake(t: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![t];
    m.extend_from_slice(&u24(body.len()));
    m.extend_from_slice(body);
    m
}

fn record(ctype: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![ctype, 3, 1];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    match content.len() {
        n if n < 0x80 => v.push(n as u8),
        n if n < 0x100 => v.extend_from_slice(&[0x81, n as u8]),
        n => v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
    v.extend_from_slice(content);
    v
}

/// A distinguished name `C=US, O=org, CN=cn` in DER.
fn dn(org: &str, cn: &str) -> Vec<u8> {
    let atv = |oid: u8, tag: u8, v: &str| {
        der(
            0x31,
            &der(
                0x30,
                &[der(0x06, &[0x55, 4, oid]), der(tag, v.as_bytes())].concat(),
            ),
        )
    };
    der(
        0x30,
        &[atv(6, 0x13, "US"), atv(10, 0x0c, org), atv(3, 0x0c, cn)].concat(),
    )
}

/// Root CAs a Windows server of the time trusted and listed in its CertificateRequest
/// (illustrative names; the point is that Fabrikam's client CA is not among them).
const TRUSTED_ROOTS: &[(&str, &str)] = &[
    ("Northwind Trust Services", "Northwind Global Root CA"),
    ("Northwind Trust Services", "Northwind Primary Root CA - G2"),
    (
        "Tailspin Certification",
        "Tailspin Root Certification Authority",
    ),
    ("Tailspin Certification", "Tailspin Secure Server CA"),
    ("Litware Inc", "Litware Class 3 Public Primary CA"),
    ("Litware Inc", "Litware Universal Root CA"),
    ("Adventure Works PKI", "Adventure Works Root CA 2008"),
    ("Adventure Works PKI", "Adventure Works Issuing CA 02"),
    (
        "Wide World Importers",
        "Wide World Importers Root Authority",
    ),
    ("Proseware Trust", "Proseware EV Root CA"),
    ("Proseware Trust", "Proseware Global Root G3"),
    ("Woodgrove Bank", "Woodgrove Bank Root CA"),
    ("Woodgrove Bank", "Woodgrove Bank Partner CA"),
    ("Lucerne Publishing", "Lucerne Root Certificate Authority"),
    ("Fourth Coffee", "Fourth Coffee Enterprise Root CA"),
    ("Coho Winery", "Coho Winery Root CA"),
    ("Alpine Ski House", "Alpine Ski House Root CA 2010"),
    ("Blue Yonder Airlines", "Blue Yonder Airlines Root CA"),
    ("City Power and Light", "City Power and Light Root CA"),
    ("Consolidated Messenger", "Consolidated Messenger Root CA"),
    ("Graphic Design Institute", "Graphic Design Institute Root"),
    ("Humongous Insurance", "Humongous Insurance Root CA"),
    ("Margie's Travel", "Margie's Travel Root Authority"),
    ("Trey Research", "Trey Research Root CA"),
    ("School of Fine Art", "School of Fine Art Root CA"),
    ("Southridge Video", "Southridge Video Root CA"),
    ("Relecloud", "Relecloud Global Root CA"),
    ("VanArsdel Ltd", "VanArsdel Root Certification Authority"),
    ("Wingtip Toys", "Wingtip Toys Root CA"),
    ("Bellows College", "Bellows College Root CA"),
    ("Best For You Organics", "Best For You Organics Root CA"),
    ("Datum Corporation", "A. Datum Root Certification Authority"),
    ("Datum Corporation", "A. Datum Issuing CA 03"),
    ("Fabrikam Residences", "Fabrikam Residences Root CA"),
    ("Nod Publishers", "Nod Publishers Root CA"),
    ("Olympia Trust", "Olympia Root CA R1"),
    ("Olympia Trust", "Olympia Root CA R2"),
    ("Olympia Trust", "Olympia Root CA R3"),
];

/// The server's flight: ServerHello | Certificate | CertificateRequest + ServerHelloDone, sized
/// (by the CA list, as a server trusting many roots does) to fill six 1460-byte segments.
fn server_flight(fill: &mut Filler) -> Vec<u8> {
    let mut sh = vec![3, 1];
    sh.extend_from_slice(&fill.bytes(32));
    sh.push(32);
    sh.extend_from_slice(&fill.bytes(32));
    sh.extend_from_slice(&[0x00, 0x2f, 0x00]); // TLS_RSA_WITH_AES_128_CBC_SHA, no compression
    sh.extend_from_slice(&[0x00, 0x05, 0xff, 0x01, 0x00, 0x01, 0x00]); // renegotiation_info
    let mut certs = Vec::new();
    for c in [SERVER_LEAF, SERVER_INTERMEDIATE, SERVER_ROOT] {
        certs.extend_from_slice(&u24(c.len()));
        certs.extend_from_slice(c);
    }
    let mut cert_msg = u24(certs.len()).to_vec();
    cert_msg.extend_from_slice(&certs);
    let mut flight = record(22, &handshake(2, &sh));
    flight.extend_from_slice(&record(22, &handshake(11, &cert_msg)));

    let (root_subject, int_subject) = (subject(SERVER_ROOT), subject(SERVER_INTERMEDIATE));
    let mut names: Vec<Vec<u8>> = vec![root_subject, int_subject];
    let target = (SERVER_FLIGHT_FRAMES.len() - 1) * MSS + 600;
    for (org, cn) in TRUSTED_ROOTS.iter().cycle() {
        let so_far: usize = names.iter().map(|n| n.len() + 2).sum();
        if flight.len() + 5 + 4 + 3 + 2 + so_far + 4 >= target {
            break;
        }
        names.push(dn(org, cn));
    }
    let mut req = vec![2, 1, 2]; // rsa_sign, dss_sign
    let ca: Vec<u8> = names
        .iter()
        .flat_map(|n| [&(n.len() as u16).to_be_bytes()[..], n].concat())
        .collect();
    req.extend_from_slice(&(ca.len() as u16).to_be_bytes());
    req.extend_from_slice(&ca);
    let mut last = handshake(13, &req);
    last.extend_from_slice(&handshake(14, &[]));
    flight.extend_from_slice(&record(22, &last));
    flight
}

fn subject(cert: &[u8]) -> Vec<u8> {
    tlscap_tls::der::issuer_and_subject(cert)
        .map(|(_, s)| s.to_vec())
        .expect("demo certificates parse")
}

/// The client's flight after the server's: Certificate, ClientKeyExchange, CertificateVerify
/// in one record, ChangeCipherSpec, and the encrypted Finished.
fn client_flight(fill: &mut Filler) -> Vec<u8> {
    let mut certs = u24(CLIENT_CERT.len() + 3).to_vec();
    certs.extend_from_slice(&u24(CLIENT_CERT.len()));
    certs.extend_from_slice(CLIENT_CERT);
    let mut cke = vec![0x01, 0x00];
    cke.extend_from_slice(&fill.bytes(256)); // RSA-encrypted premaster secret
    let mut sig = vec![0x30, 0x45, 0x02, 0x21, 0x00];
    sig.extend_from_slice(&fill.bytes(32));
    sig.extend_from_slice(&[0x02, 0x20]);
    sig.extend_from_slice(&fill.bytes(32));
    let mut cv = (sig.len() as u16).to_be_bytes().to_vec();
    cv.extend_from_slice(&sig);
    let mut msgs = handshake(11, &certs);
    msgs.extend_from_slice(&handshake(16, &cke));
    msgs.extend_from_slice(&handshake(15, &cv));
    let mut flight = record(22, &msgs);
    flight.extend_from_slice(&record(20, &[1]));
    flight.extend_from_slice(&record(22, &fill.bytes(48))); // Finished under AES-CBC + SHA-1
    flight
}

/// An SSLv2-format CLIENT-HELLO offering SSL 3.0 / TLS 1.0 suites, as old Windows clients sent.
fn client_hello(fill: &mut Filler) -> Vec<u8> {
    let specs: [[u8; 3]; 9] = [
        [0x00, 0x00, 0x04],
        [0x00, 0x00, 0x05],
        [0x00, 0x00, 0x0a],
        [0x00, 0x00, 0x2f],
        [0x00, 0x00, 0x35],
        [0x01, 0x00, 0x80],
        [0x07, 0x00, 0xc0],
        [0x03, 0x00, 0x80],
        [0x00, 0x00, 0xff],
    ];
    let mut m = vec![1, 3, 1];
    m.extend_from_slice(&((specs.len() * 3) as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 16]);
    m.extend(specs.iter().flatten());
    m.extend_from_slice(&fill.bytes(16));
    let mut r = vec![0x80 | (m.len() >> 8) as u8, m.len() as u8];
    r.extend_from_slice(&m);
    r
}

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for c in chunks {
        for pair in c.chunks(2) {
            sum += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
        }
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[derive(Clone, Copy)]
struct Tcp {
    from_client: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    ip_id: u16,
}

fn ethernet(from_client: bool, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let (src, dst) = if from_client {
        (CLIENT_MAC, SERVER_MAC)
    } else {
        (SERVER_MAC, CLIENT_MAC)
    };
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, ttl: u8, id: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&[0x40, 0, ttl, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = checksum(&[&h]);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn tcp_frame(t: Tcp, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sp, dp, ttl, win) = if t.from_client {
        (
            CLIENT_IP,
            SERVER_IP,
            CLIENT_PORT,
            SERVER_PORT,
            125,
            65_535u16,
        )
    } else {
        (
            SERVER_IP,
            CLIENT_IP,
            SERVER_PORT,
            CLIENT_PORT,
            61,
            64_240u16,
        )
    };
    let syn = t.flags & 0x02 != 0;
    let mut h = sp.to_be_bytes().to_vec();
    h.extend_from_slice(&dp.to_be_bytes());
    h.extend_from_slice(&t.seq.to_be_bytes());
    h.extend_from_slice(&t.ack.to_be_bytes());
    h.extend_from_slice(&[if syn { 0x60 } else { 0x50 }, t.flags]);
    h.extend_from_slice(&win.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0]);
    if syn {
        h.extend_from_slice(&[2, 4, 0x05, 0xb4]); // MSS 1460
    }
    let len = (h.len() + payload.len()) as u16;
    let pseudo = [&src[..], &dst[..], &[0, 6], &len.to_be_bytes()[..]].concat();
    let c = checksum(&[&pseudo, &h, payload]);
    h[16..18].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    ethernet(t.from_client, 0x0800, &ipv4(src, dst, 6, ttl, t.ip_id, &h))
}

/// Unrelated traffic on the same segment: NetBIOS name-service broadcasts.
fn noise(i: u16) -> Vec<u8> {
    let src = [10, 51, 2, 40 + (i % 7) as u8];
    let mut udp = 137u16.to_be_bytes().to_vec();
    udp.extend_from_slice(&137u16.to_be_bytes());
    let payload: Vec<u8> = (0..50).map(|k| (k as u16 * 7 + i) as u8).collect();
    udp.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&payload);
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0x00, 0x0c, 0x29, 0x10, 0x20, src[3]]);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ipv4(src, [10, 51, 2, 255], 17, 128, 0x100 + i, &udp));
    f
}

fn arp(request: bool) -> Vec<u8> {
    let gw_mac = [0x00, 0x0c, 0x29, 0x00, 0x00, 0x01];
    let mut a = vec![0, 1, 8, 0, 6, 4, 0, if request { 1 } else { 2 }];
    if request {
        a.extend_from_slice(&CLIENT_MAC);
        a.extend_from_slice(&CLIENT_IP);
        a.extend_from_slice(&[0; 6]);
        a.extend_from_slice(&[10, 51, 2, 1]);
    } else {
        a.extend_from_slice(&gw_mac);
        a.extend_from_slice(&[10, 51, 2, 1]);
        a.extend_from_slice(&CLIENT_MAC);
        a.extend_from_slice(&CLIENT_IP);
    }
    let dst = if request { [0xff; 6] } else { CLIENT_MAC };
    let src = if request { CLIENT_MAC } else { gw_mac };
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x06]);
    f.extend_from_slice(&a);
    f.resize(60, 0);
    f
}

/// The reconstructed capture as pcap bytes (Ethernet, microsecond stamps).
pub fn seed_capture() -> Vec<u8> {
    let mut fill = Filler(0x5eed_ca5e_2011_0042);
    let hello = client_hello(&mut fill);
    let server = server_flight(&mut fill);
    let client = client_flight(&mut fill);
    let segments: Vec<&[u8]> = server.chunks(MSS).collect();
    assert_eq!(
        segments.len(),
        SERVER_FLIGHT_FRAMES.len(),
        "the server flight must fill six segments"
    );

    let server_isn = SERVER_SEQ_AT_ALERT.wrapping_sub(1 + server.len() as u32);
    let client_isn = CLIENT_NEXT_AT_ALERT.wrapping_sub(1 + (hello.len() + client.len()) as u32);
    let (c0, s0) = (client_isn.wrapping_add(1), server_isn.wrapping_add(1));
    let c_after_hello = c0.wrapping_add(hello.len() as u32);
    let server_end = SERVER_SEQ_AT_ALERT;
    let alert_len = 7u32;
    // The server's IP ids count up to frame 32's 0x139e.
    let sid = |k: u16| 0x139e - 9 + k;
    let mut cid = 0x2200u16;
    let mut c = |from_client: bool, seq: u32, ack: u32, flags: u8, k: u16| {
        let ip_id = if from_client {
            cid += 1;
            cid
        } else {
            sid(k)
        };
        Tcp {
            from_client,
            seq,
            ack,
            flags,
            ip_id,
        }
    };
    const ACK: u8 = 0x10;
    const PSH_ACK: u8 = 0x18;
    let mut frames: Vec<Vec<u8>> = vec![
        arp(true),                                           // 1
        arp(false),                                          // 2
        noise(0),                                            // 3
        tcp_frame(c(true, client_isn, 0, 0x02, 0), &[]),     // 4 SYN
        tcp_frame(c(false, server_isn, c0, 0x12, 0), &[]),   // 5 SYN-ACK
        tcp_frame(c(true, c0, s0, ACK, 0), &[]),             // 6
        tcp_frame(c(true, c0, s0, PSH_ACK, 0), &hello),      // 7 ClientHello
        tcp_frame(c(false, s0, c_after_hello, ACK, 1), &[]), // 8
    ];
    let mut seq = s0;
    let mut k = 2;
    for frame in 9..=31u64 {
        if let Some(i) = SERVER_FLIGHT_FRAMES.iter().position(|f| *f == frame) {
            let flags = if i + 1 == segments.len() {
                PSH_ACK
            } else {
                ACK
            };
            frames.push(tcp_frame(
                c(false, seq, c_after_hello, flags, k),
                segments[i],
            ));
            k += 1;
            seq = seq.wrapping_add(segments[i].len() as u32);
        } else if SERVER_FLIGHT_FRAMES.contains(&(frame - 1)) && frame != 30 {
            frames.push(tcp_frame(c(true, c_after_hello, seq, ACK, 0), &[])); // client ACKs
        } else if frame == 30 {
            frames.push(tcp_frame(c(true, c_after_hello, seq, PSH_ACK, 0), &client));
        // client flight
        } else {
            frames.push(noise(frame as u16));
        }
    }
    debug_assert_eq!(seq, server_end);
    frames.push(SEED_FRAME_32.to_vec()); // 32: the alert, verbatim
    let after_alert = server_end.wrapping_add(alert_len);
    frames.push(tcp_frame(
        c(false, after_alert, CLIENT_NEXT_AT_ALERT, 0x11, 10),
        &[],
    )); // 33 FIN
    frames.push(tcp_frame(
        c(
            true,
            CLIENT_NEXT_AT_ALERT,
            after_alert.wrapping_add(1),
            ACK,
            0,
        ),
        &[],
    )); // 34
    frames.push(tcp_frame(
        c(
            true,
            CLIENT_NEXT_AT_ALERT,
            after_alert.wrapping_add(1),
            0x11,
            0,
        ),
        &[],
    )); // 35 FIN
    frames.push(tcp_frame(
        c(
            false,
            after_alert.wrapping_add(1),
            CLIENT_NEXT_AT_ALERT.wrapping_add(1),
            ACK,
            11,
        ),
        &[],
    )); // 36

    // pcap file header: magic, version 2.4, zone 0, sigfigs 0, snaplen 65535, Ethernet.
    let mut pcap = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
    pcap.extend_from_slice(&2u16.to_le_bytes());
    pcap.extend_from_slice(&4u16.to_le_bytes());
    for x in [0u32, 0, 65_535, 1] {
        pcap.extend_from_slice(&x.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        let us = i as u32 * 12_345 + if i >= 31 { 250_000 } else { 0 };
        for x in [
            START_SECS + us / 1_000_000,
            us % 1_000_000,
            f.len() as u32,
            f.len() as u32,
        ] {
            pcap.extend_from_slice(&x.to_le_bytes());
        }
        pcap.extend_from_slice(f);
    }
    pcap
}

/// What the engineer needed to know about one handshake, in a few lines.
pub fn explain(h: &HandshakeRow, alerts: &[AlertRow]) -> String {
    let mut s = String::new();
    let ep = |ip: Option<std::net::IpAddr>, port: Option<u16>| match (ip, port) {
        (Some(ip), Some(p)) => format!("{ip}:{p}"),
        _ => "?".into(),
    };
    let _ = writeln!(
        s,
        "Handshake {} -> {}",
        ep(h.client_ip, h.client_port),
        ep(h.server_ip, h.server_port)
    );
    if let Some(f) = h.client_hello_frame {
        let fmt = match h.client_hello_format {
            Some("sslv2") => "in SSLv2 format (a valid SSLv2-compatible hello)",
            _ => "in TLS format",
        };
        let _ = writeln!(
            s,
            "  frame {f:>3}  client  ClientHello {fmt}, offering up to {}",
            h.client_max_version.as_deref().unwrap_or("?")
        );
    }
    if let Some(f) = h.server_hello_frame {
        let _ = writeln!(
            s,
            "  frame {f:>3}  server  ServerHello: {} with {}; {} certificate(s){}; last message {}",
            h.version.as_deref().unwrap_or("?"),
            h.cipher_suite.as_deref().unwrap_or("?"),
            h.server_cert_count.unwrap_or(0),
            if h.client_cert_requested {
                ", CertificateRequest (client certificate required)"
            } else {
                ""
            },
            h.server_stage.unwrap_or("?"),
        );
    }
    if let Some(n) = h.client_cert_count {
        let _ = writeln!(
            s,
            "             client  Certificate ({n} certificate(s), issuer {}){}; last message {}",
            h.client_cert_issuer.as_deref().unwrap_or("?"),
            match h.client_cert_issuer_listed {
                Some(false) => " — NOT among the CAs the server asked for",
                Some(true) => ", among the CAs the server asked for",
                None => "",
            },
            h.client_stage.unwrap_or("?"),
        );
    }
    for a in alerts
        .iter()
        .filter(|a| a.handshake_index == Some(h.handshake_index))
    {
        let what = match (a.level, a.name, a.code) {
            (Some(l), name, Some(code)) => format!(
                "{} {} ({code}), plaintext ({}-byte record)",
                if l == 2 { "fatal" } else { "warning" },
                name.unwrap_or("unknown"),
                a.record_length
            ),
            _ => format!(
                "encrypted ({}-byte record): level and code hidden",
                a.record_length
            ),
        };
        let _ = writeln!(
            s,
            "  frame {:>3}  {:<6}  ALERT {what}",
            a.frame,
            a.sender.unwrap_or("?")
        );
    }
    let _ = writeln!(s, "  outcome: {}", h.outcome);
    if let Some(c) = &h.cause {
        let _ = writeln!(s, "  cause:   {c}");
    }
    s
}

/// Writes the capture into `dir`, scans it into `dir/out`, and returns the explanation.
pub fn run_demo(dir: &Path) -> anyhow::Result<String> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let capture = dir.join("seed-case.pcap");
    let bytes = seed_capture();
    std::fs::write(&capture, &bytes)
        .with_context(|| format!("cannot write {}", capture.display()))?;
    let out = dir.join("out");
    let report = run(
        std::slice::from_ref(&capture),
        &out,
        ScanOptions::default(),
        &|_| {},
    )?;
    let rows = scan_to_rows(&bytes, &capture.to_string_lossy(), ScanOptions::default());
    let mut s = String::new();
    let _ = writeln!(
        s,
        "tlscap demo: {} ({} frames) rebuilds the motivating trace: a client posting to IIS over HTTPS\n\
         with a client certificate is refused every time.\n",
        capture.display(),
        rows.file.packets
    );
    for h in &rows.handshakes {
        s.push_str(&explain(h, &rows.alerts));
    }
    let _ = writeln!(
        s,
        "\nWrote {}: handshakes.parquet ({} rows), alerts.parquet ({} rows), files.parquet ({} rows).\n\
         Try: duckdb -c \"SELECT outcome, alert_sender, alert_name, cause FROM '{}'\"",
        out.display(),
        report.written.handshakes,
        report.written.alerts,
        report.written.files,
        out.join("handshakes.parquet").display()
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_32_is_the_seed_frame_and_frames_line_up() {
        let pcap = seed_capture();
        let (_, reader) = tlscap_io::PacketReader::new(&pcap).unwrap();
        let frames: Vec<_> = reader.collect();
        assert_eq!(frames.len(), 36);
        assert_eq!(frames[31].frame, 32);
        assert_eq!(frames[31].data, SEED_FRAME_32);
        // The server's flight segments sit in the frames the trace names, 1460 bytes each but the last.
        for (i, f) in SERVER_FLIGHT_FRAMES.iter().enumerate() {
            let seg = tlscap_decode::decode(1, frames[*f as usize - 1].data).unwrap();
            assert_eq!(seg.src_port, SERVER_PORT, "frame {f}");
            if i < 5 {
                assert_eq!(seg.payload.len(), MSS, "frame {f}");
            }
        }
        let client = tlscap_decode::decode(1, frames[29].data).unwrap();
        assert_eq!(
            (client.src_port, client.seq + client.payload.len() as u32),
            (CLIENT_PORT, CLIENT_NEXT_AT_ALERT)
        );
    }

    #[test]
    fn ip_checksums_verify() {
        let pcap = seed_capture();
        let (_, reader) = tlscap_io::PacketReader::new(&pcap).unwrap();
        for p in reader {
            if p.data[12..14] == [0x08, 0x00] {
                assert_eq!(checksum(&[&p.data[14..34]]), 0, "frame {}", p.frame);
            }
        }
    }
}
