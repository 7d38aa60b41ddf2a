//! Inputs for the benches, built in memory and the same on every run (no files, no randomness).
//!
//! [`Traffic`] makes the TLS connections of a busy server: a TLS 1.3 handshake opened by a real
//! browser's ClientHello, a response in full-size segments acknowledged every second segment,
//! then FIN; many connections interleaved. The packet-size mix is what real captures of TLS
//! servers show: mostly 1514-byte data frames and 54-byte ACKs. [`frames`] builds single frames
//! of each encapsulation the decoder handles. [`ClientHellos`] are real hellos taken from the
//! corpus (see `benches/data/client_hello/README.md`).
//!
//! Each bench file includes this module and uses part of it.

#![allow(dead_code)]

pub const LINKTYPE_ETHERNET: u32 = 1;
/// TCP payload of a full-size Ethernet frame.
pub const MSS: usize = 1460;
/// 2027-01-15 10:00:00 UTC, as the demo capture.
const START_NS: i64 = 1_800_007_200 * 1_000_000_000;
/// Time between two packets of the interleaved traffic.
const PACKET_GAP_NS: i64 = 8_000;

pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}
use tcp_flags::{ACK, FIN, PSH, SYN};

/// Real ClientHello handshake messages (4-byte header included).
pub struct ClientHellos;

impl ClientHellos {
    /// Chrome, TLS 1.3 with GREASE and a post-quantum key share (cisco/mercury's tlsv1_3.pcap).
    pub const CHROME_TLS13: &'static [u8] = include_bytes!("../data/client_hello/chrome_tls13.bin");
    /// curl (OpenSSL), TLS 1.3 (arkime's curl-enabled-tls13.pcap).
    pub const CURL_TLS13: &'static [u8] = include_bytes!("../data/client_hello/curl_tls13.bin");
    /// Chrome 34, TLS 1.2, no supported_versions (zeek's chrome-34-google.pcap).
    pub const CHROME34_TLS12: &'static [u8] =
        include_bytes!("../data/client_hello/chrome34_tls12.bin");

    /// Every hello with a name for the bench id: `(name, handshake message)`.
    pub fn all() -> [(&'static str, &'static [u8]); 3] {
        [
            ("chrome_tls13_1798B", Self::CHROME_TLS13),
            ("curl_tls13_512B", Self::CURL_TLS13),
            ("chrome34_tls12_204B", Self::CHROME34_TLS12),
        ]
    }
}

/// A TLS record of `content_type` holding `body`.
pub fn tls_record(content_type: u8, version: u16, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type];
    r.extend_from_slice(&version.to_be_bytes());
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// Deterministic filler for randoms, keys and ciphertext (xorshift64*).
pub struct Filler(pub u64);

impl Filler {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let x = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&x[..chunk.len()]);
        }
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        self.fill(&mut v);
        v
    }
}

/// One captured packet.
#[derive(Clone, Debug)]
pub struct Packet {
    pub ts_ns: i64,
    pub data: Vec<u8>,
}

/// Frames of every encapsulation the decoder follows, with correct lengths and IPv4 checksums
/// (TCP checksums are left zero: nothing checks them).
pub mod frames {
    pub const CLIENT_MAC: [u8; 6] = [0x00, 0x1e, 0x68, 0x0f, 0x3e, 0x80];
    pub const SERVER_MAC: [u8; 6] = [0x00, 0x30, 0x48, 0x7e, 0x1b, 0x90];
    pub const ETHERTYPE_IPV4: u16 = 0x0800;
    pub const ETHERTYPE_IPV6: u16 = 0x86dd;

    /// The TCP header fields a frame needs.
    #[derive(Clone, Copy, Debug)]
    pub struct Tcp {
        pub sport: u16,
        pub dport: u16,
        pub seq: u32,
        pub ack: u32,
        pub flags: u8,
    }

    impl Tcp {
        /// A client's segment to port 443.
        pub fn to_https(flags: u8) -> Tcp {
            Tcp {
                sport: 51_234,
                dport: 443,
                seq: 0x1000_0000,
                ack: 0x2000_0000,
                flags,
            }
        }
    }

    fn tcp_header(t: &Tcp) -> [u8; 20] {
        let mut h = [0u8; 20];
        h[0..2].copy_from_slice(&t.sport.to_be_bytes());
        h[2..4].copy_from_slice(&t.dport.to_be_bytes());
        h[4..8].copy_from_slice(&t.seq.to_be_bytes());
        h[8..12].copy_from_slice(&t.ack.to_be_bytes());
        h[12] = 5 << 4;
        h[13] = t.flags;
        h[14..16].copy_from_slice(&502u16.to_be_bytes()); // window
        h
    }

    fn ipv4_checksum(h: &[u8]) -> u16 {
        let mut sum: u32 = h
            .chunks_exact(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// An IPv4 packet (20-byte header) carrying `payload` of IP protocol `proto`.
    pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0];
        p.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[0x13, 0x9e, 0x40, 0x00, 64, proto, 0, 0]);
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        let sum = ipv4_checksum(&p);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    /// An IPv4 packet holding a TCP segment.
    pub fn ipv4_tcp(src: [u8; 4], dst: [u8; 4], t: &Tcp, payload: &[u8]) -> Vec<u8> {
        let mut seg = tcp_header(t).to_vec();
        seg.extend_from_slice(payload);
        ipv4(src, dst, 6, &seg)
    }

    /// An IPv6 packet holding a TCP segment; with `hop_by_hop` a Hop-by-Hop Options header
    /// (8 bytes, padding only) comes first, which sends the decoder down its etherparse path.
    pub fn ipv6_tcp(
        src: [u8; 16],
        dst: [u8; 16],
        t: &Tcp,
        payload: &[u8],
        hop_by_hop: bool,
    ) -> Vec<u8> {
        let mut body = Vec::new();
        if hop_by_hop {
            body.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]); // next TCP, PadN
        }
        body.extend_from_slice(&tcp_header(t));
        body.extend_from_slice(payload);
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(body.len() as u16).to_be_bytes());
        p.push(if hop_by_hop { 0 } else { 6 });
        p.push(64);
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&body);
        p
    }

    /// An Ethernet frame, padded to the 60-byte minimum as on the wire.
    pub fn ethernet(src: [u8; 6], dst: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = dst.to_vec();
        f.extend_from_slice(&src);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f.resize(f.len().max(60), 0);
        f
    }

    /// An Ethernet frame with one 802.1Q tag.
    pub fn ethernet_vlan(vid: u16, ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = SERVER_MAC.to_vec();
        f.extend_from_slice(&CLIENT_MAC);
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f.resize(f.len().max(64), 0);
        f
    }

    /// `inner` (an Ethernet frame) in VXLAN (VNI 4242) over UDP over IPv4 over Ethernet.
    pub fn vxlan(inner: &[u8]) -> Vec<u8> {
        let mut udp = 49_152u16.to_be_bytes().to_vec();
        udp.extend_from_slice(&4789u16.to_be_bytes());
        udp.extend_from_slice(&((8 + 8 + inner.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]); // no UDP checksum
        udp.extend_from_slice(&[0x08, 0, 0, 0, 0, 0x10, 0x92, 0]);
        udp.extend_from_slice(inner);
        let ip = ipv4([172, 16, 0, 1], [172, 16, 0, 2], 17, &udp);
        ethernet(CLIENT_MAC, SERVER_MAC, ETHERTYPE_IPV4, &ip)
    }

    /// `inner` (an IPv4 packet) in plain GRE (RFC 2784, no key) over IPv4 over Ethernet.
    pub fn gre(inner: &[u8]) -> Vec<u8> {
        let mut g = vec![0, 0, 0x08, 0x00];
        g.extend_from_slice(inner);
        let ip = ipv4([172, 16, 0, 1], [172, 16, 0, 2], 47, &g);
        ethernet(CLIENT_MAC, SERVER_MAC, ETHERTYPE_IPV4, &ip)
    }
}

use frames::{ethernet, ipv4_tcp, Tcp, CLIENT_MAC, ETHERTYPE_IPV4, SERVER_MAC};

/// Interleaved TLS 1.3 connections to one HTTPS service.
#[derive(Clone, Copy, Debug)]
pub struct Traffic {
    pub connections: usize,
    /// Connections open at once; their packets alternate.
    pub concurrent: usize,
    /// Application data the server sends after the handshake, in 16 KiB records.
    pub response: usize,
    /// Every `n`th connection's ClientHello is refused with a plaintext fatal alert (0: none).
    pub refuse_every: usize,
    /// Some server data segments arrive out of order (one in 41 swapped with the next) or
    /// twice (one in 61 retransmitted after the next).
    pub disorder: bool,
}

impl Traffic {
    /// A server sending 256 KiB responses to 64 clients at a time, with some disorder.
    pub fn bulk() -> Traffic {
        Traffic {
            connections: 1,
            concurrent: 64,
            response: 256 << 10,
            refuse_every: 0,
            disorder: true,
        }
    }

    /// `connections` short connections, a handshake and a close each, one in four refused
    /// with a fatal alert: a load balancer's capture, where rows outnumber bytes.
    pub fn short(connections: usize) -> Traffic {
        Traffic {
            connections,
            response: 0,
            refuse_every: 4,
            disorder: false,
            ..Traffic::bulk()
        }
    }

    /// As many connections as make about `bytes` of pcap.
    pub fn sized(mut self, bytes: usize) -> Traffic {
        let one = Traffic {
            connections: 1,
            ..self
        };
        let per_connection: usize = one.packets().iter().map(|p| 16 + p.data.len()).sum();
        self.connections = bytes.div_ceil(per_connection).max(1);
        self
    }

    /// The packets in capture order.
    pub fn packets(&self) -> Vec<Packet> {
        let mut out = Vec::new();
        let mut active: std::collections::VecDeque<std::vec::IntoIter<Vec<u8>>> =
            std::collections::VecDeque::new();
        let mut started = 0;
        let mut ts = START_NS;
        loop {
            while active.len() < self.concurrent.max(1) && started < self.connections {
                active.push_back(self.connection(started).into_iter());
                started += 1;
            }
            let Some(mut conn) = active.pop_front() else {
                break;
            };
            if let Some(data) = conn.next() {
                out.push(Packet { ts_ns: ts, data });
                ts += PACKET_GAP_NS;
                active.push_back(conn);
            }
        }
        out
    }

    /// The frames of connection `i`, in order.
    fn connection(&self, i: usize) -> Vec<Vec<u8>> {
        let mut fill = Filler(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1).wrapping_mul(0xff51_afd7));
        let client_ip = [10, 1 + (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let server_ip = [192, 0, 2, 1 + (i % 4) as u8];
        let mut c = Conn {
            client: End {
                ip: client_ip,
                port: 32_768 + (i % 28_000) as u16,
                seq: fill.next_u64() as u32,
            },
            server: End {
                ip: server_ip,
                port: 443,
                seq: fill.next_u64() as u32,
            },
            frames: Vec::new(),
        };
        c.send(true, SYN, &[]);
        c.send(false, SYN | ACK, &[]);
        c.send(true, ACK, &[]);

        // The ClientHello, with this connection's own random and session id.
        let mut hello = ClientHellos::CHROME_TLS13.to_vec();
        fill.fill(&mut hello[6..38]);
        if hello[38] == 32 {
            fill.fill(&mut hello[39..71]);
        }
        c.send_all(true, &tls_record(22, 0x0301, &hello));
        c.send(false, ACK, &[]);

        if self.refuse_every > 0 && i % self.refuse_every == self.refuse_every - 1 {
            // handshake_failure (40), plaintext and fatal, then both sides close.
            c.send(false, PSH | ACK, &tls_record(21, 0x0303, &[2, 40]));
            c.send(false, FIN | ACK, &[]);
            c.send(true, FIN | ACK, &[]);
            c.send(false, ACK, &[]);
            return c.frames;
        }

        // ServerHello (TLS 1.3, X25519), ChangeCipherSpec, then the encrypted rest of the
        // server's flight (EncryptedExtensions, Certificate, CertificateVerify, Finished).
        let mut sh = vec![3, 3];
        sh.extend_from_slice(&fill.bytes(32));
        sh.push(32);
        sh.extend_from_slice(&hello[39..71]);
        sh.extend_from_slice(&[0x13, 0x01, 0]);
        let mut ext = vec![0, 43, 0, 2, 3, 4, 0, 51, 0, 36, 0, 0x1d, 0, 32];
        ext.extend_from_slice(&fill.bytes(32));
        sh.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        sh.extend_from_slice(&ext);
        let mut msg = vec![2, 0, (sh.len() >> 8) as u8, sh.len() as u8];
        msg.extend_from_slice(&sh);
        let mut flight = tls_record(22, 0x0303, &msg);
        flight.extend_from_slice(&tls_record(20, 0x0303, &[1]));
        flight.extend_from_slice(&tls_record(23, 0x0303, &fill.bytes(3_900)));
        c.send_all_acked(false, &flight, false);

        // The client's ChangeCipherSpec, Finished and request.
        let mut reply = tls_record(20, 0x0303, &[1]);
        reply.extend_from_slice(&tls_record(23, 0x0303, &fill.bytes(53)));
        reply.extend_from_slice(&tls_record(23, 0x0303, &fill.bytes(420)));
        c.send_all(true, &reply);

        // The response, in 16 KiB records.
        let mut response = Vec::with_capacity(self.response + self.response / 16_000 * 22 + 22);
        let mut left = self.response;
        while left > 0 {
            let n = left.min(16_384);
            response.extend_from_slice(&tls_record(23, 0x0303, &fill.bytes(n + 17)));
            left -= n;
        }
        c.send_all_acked(false, &response, self.disorder);

        c.send(false, FIN | ACK, &[]);
        c.send(true, FIN | ACK, &[]);
        c.send(false, ACK, &[]);
        c.frames
    }
}

struct End {
    ip: [u8; 4],
    port: u16,
    /// Next sequence number to send.
    seq: u32,
}

struct Conn {
    client: End,
    server: End,
    frames: Vec<Vec<u8>>,
}

impl Conn {
    fn frame(&self, from_client: bool, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let (from, to) = if from_client {
            (&self.client, &self.server)
        } else {
            (&self.server, &self.client)
        };
        let (src_mac, dst_mac) = if from_client {
            (CLIENT_MAC, SERVER_MAC)
        } else {
            (SERVER_MAC, CLIENT_MAC)
        };
        let t = Tcp {
            sport: from.port,
            dport: to.port,
            seq,
            ack,
            flags,
        };
        ethernet(
            src_mac,
            dst_mac,
            ETHERTYPE_IPV4,
            &ipv4_tcp(from.ip, to.ip, &t, payload),
        )
    }

    /// One segment acknowledging everything the other side sent.
    fn send(&mut self, from_client: bool, flags: u8, payload: &[u8]) {
        let (seq, ack) = if from_client {
            (self.client.seq, self.server.seq)
        } else {
            (self.server.seq, self.client.seq)
        };
        let f = self.frame(from_client, seq, ack, flags, payload);
        self.frames.push(f);
        let used = payload.len() as u32 + u32::from(flags & (SYN | FIN) != 0);
        let end = if from_client {
            &mut self.client
        } else {
            &mut self.server
        };
        end.seq = end.seq.wrapping_add(used);
    }

    /// `data` in full-size segments, the last one pushed.
    fn send_all(&mut self, from_client: bool, data: &[u8]) {
        let n = data.len().div_ceil(MSS);
        for (k, chunk) in data.chunks(MSS).enumerate() {
            let flags = if k + 1 == n { PSH | ACK } else { ACK };
            self.send(from_client, flags, chunk);
        }
    }

    /// `data` in full-size segments, the receiver acknowledging every second one (and the
    /// last), each ACK for the bytes it holds in order. With `disorder`, one segment in 41 is
    /// swapped with the next and one in 61 is sent again after the next.
    fn send_all_acked(&mut self, from_client: bool, data: &[u8], disorder: bool) {
        let start = if from_client {
            self.client.seq
        } else {
            self.server.seq
        };
        let ack = if from_client {
            self.server.seq
        } else {
            self.client.seq
        };
        let n = data.len().div_ceil(MSS);
        // (offset, frame) in the order they go out.
        let mut order: Vec<(usize, Vec<u8>)> = data
            .chunks(MSS)
            .enumerate()
            .map(|(k, chunk)| {
                let off = k * MSS;
                let flags = if k + 1 == n { PSH | ACK } else { ACK };
                let seq = start.wrapping_add(off as u32);
                (off, self.frame(from_client, seq, ack, flags, chunk))
            })
            .collect();
        if disorder {
            let mut k = 0;
            while k + 1 < order.len() {
                if k % 41 == 20 {
                    order.swap(k, k + 1);
                } else if k % 61 == 30 {
                    let again = order[k].clone();
                    order.insert(k + 2, again);
                    k += 1;
                }
                k += 1;
            }
        }
        // What the receiver holds in order, to acknowledge.
        let mut received = vec![false; n];
        let mut in_order = 0;
        for (sent, (off, frame)) in order.into_iter().enumerate() {
            self.frames.push(frame);
            received[off / MSS] = true;
            while in_order < n && received[in_order] {
                in_order += 1;
            }
            if sent % 2 == 1 || in_order == n {
                let acked = (in_order * MSS).min(data.len());
                let (seq, ack) = if from_client {
                    (self.server.seq, start.wrapping_add(acked as u32))
                } else {
                    (self.client.seq, start.wrapping_add(acked as u32))
                };
                let f = self.frame(!from_client, seq, ack, ACK, &[]);
                self.frames.push(f);
                if in_order == n {
                    break;
                }
            }
        }
        let end = if from_client {
            &mut self.client
        } else {
            &mut self.server
        };
        end.seq = start.wrapping_add(data.len() as u32);
    }
}

/// Byte order of a capture file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u16(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
    fn u32(self, v: u32) -> [u8; 4] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
}

/// A classic pcap file of Ethernet `packets`, microsecond or nanosecond stamps.
pub fn pcap(packets: &[Packet], endian: Endian, nanos: bool) -> Vec<u8> {
    let size: usize = 24 + packets.iter().map(|p| 16 + p.data.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&endian.u32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    out.extend_from_slice(&endian.u16(2));
    out.extend_from_slice(&endian.u16(4));
    for x in [0, 0, 262_144, LINKTYPE_ETHERNET] {
        out.extend_from_slice(&endian.u32(x));
    }
    let unit = if nanos { 1 } else { 1000 };
    for p in packets {
        let secs = p.ts_ns / 1_000_000_000;
        let frac = (p.ts_ns % 1_000_000_000) / unit;
        for x in [
            secs as u32,
            frac as u32,
            p.data.len() as u32,
            p.data.len() as u32,
        ] {
            out.extend_from_slice(&endian.u32(x));
        }
        out.extend_from_slice(&p.data);
    }
    out
}

/// A pcapng file of Ethernet `packets`: one section, one interface (microsecond stamps), an
/// Enhanced Packet Block per packet.
pub fn pcapng(packets: &[Packet], endian: Endian) -> Vec<u8> {
    let mut out = Vec::new();
    // Section Header Block: byte-order magic, version 1.0, section length unknown.
    for x in [0x0a0d_0d0a, 28, 0x1a2b_3c4d] {
        out.extend_from_slice(&endian.u32(x));
    }
    out.extend_from_slice(&endian.u16(1));
    out.extend_from_slice(&endian.u16(0));
    out.extend_from_slice(&[0xff; 8]);
    out.extend_from_slice(&endian.u32(28));
    // Interface Description Block: Ethernet, no options (so microseconds).
    out.extend_from_slice(&endian.u32(1));
    out.extend_from_slice(&endian.u32(20));
    out.extend_from_slice(&endian.u16(LINKTYPE_ETHERNET as u16));
    out.extend_from_slice(&endian.u16(0));
    out.extend_from_slice(&endian.u32(262_144));
    out.extend_from_slice(&endian.u32(20));
    for p in packets {
        let padded = p.data.len().div_ceil(4) * 4;
        let len = (32 + padded) as u32;
        let us = (p.ts_ns / 1000) as u64;
        for x in [
            6,
            len,
            0,
            (us >> 32) as u32,
            us as u32,
            p.data.len() as u32,
            p.data.len() as u32,
        ] {
            out.extend_from_slice(&endian.u32(x));
        }
        out.extend_from_slice(&p.data);
        out.resize(out.len() + padded - p.data.len(), 0);
        out.extend_from_slice(&endian.u32(len));
    }
    out
}
