//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod heap;

use std::path::{Path, PathBuf};
use std::process::Command;

use tlscap::{scan_to_rows, CaptureRows, ScanOptions};

/// `../shared/corpus` beside the repository (or `TLSCAP_CORPUS`). Tests fail, never skip, when
/// it is missing: CI has it there.
pub fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("TLSCAP_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    assert!(
        dir.join("FILES.txt").exists(),
        "corpus not found at {} (set TLSCAP_CORPUS)",
        dir.display()
    );
    dir
}

/// The corpus captures, as paths relative to the corpus folder.
pub fn corpus_files() -> Vec<String> {
    let list = std::fs::read_to_string(corpus_dir().join("FILES.txt")).unwrap();
    list.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Scans one corpus capture with small windows (so window boundaries are exercised) and two
/// shards.
pub fn scan_corpus_file(rel: &str) -> CaptureRows {
    let data = std::fs::read(corpus_dir().join(rel)).unwrap();
    scan_to_rows(
        &data,
        rel,
        ScanOptions {
            shards: 2,
            window: 97,
            split: 2000,
            chunk: tlscap::DEFAULT_CHUNK,
        },
    )
}

/// One TCP connection as a pcap (Ethernet/IPv4, microsecond stamps 1 ms apart), from a list of
/// (from_client, TCP flags as "S", "SA", "A", "PA", "FA", "R", payload). Sequence and
/// acknowledgement numbers follow the payloads. Client 10.0.0.1:50000, server 10.0.0.2:`port`.
pub fn tcp_pcap(port: u16, packets: &[(bool, &str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&[2, 0, 4, 0]);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
    let (mut cseq, mut sseq) = (1000u32, 5000u32);
    for (i, (from_client, flags, payload)) in packets.iter().enumerate() {
        let (src, dst, sport, dport) = if *from_client {
            ([10, 0, 0, 1], [10, 0, 0, 2], 50000, port)
        } else {
            ([10, 0, 0, 2], [10, 0, 0, 1], port, 50000)
        };
        let (seq, ack) = if *from_client {
            (cseq, sseq)
        } else {
            (sseq, cseq)
        };
        let mut b = etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4(src, dst, 64)
            .tcp(sport, dport, seq, 65535);
        for f in flags.chars() {
            b = match f {
                'S' => b.syn(),
                'A' => b.ack(ack),
                'P' => b.psh(),
                'F' => b.fin(),
                'R' => b.rst(),
                _ => panic!("flag {f}"),
            };
        }
        let mut frame = Vec::new();
        b.write(&mut frame, payload).unwrap();
        let advance = payload.len() as u32 + u32::from(flags.contains('S') || flags.contains('F'));
        if *from_client {
            cseq = cseq.wrapping_add(advance);
        } else {
            sseq = sseq.wrapping_add(advance);
        }
        out.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        out.extend_from_slice(&(i as u32 * 1000).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

/// A pcap (Ethernet, microsecond stamps) written packet by packet, for captures too large to
/// build with etherparse in a debug test: each frame is written in place, no allocation.
pub struct PcapBuilder {
    pub bytes: Vec<u8>,
    pub packets: u64,
}

/// One TCP segment for [`PcapBuilder::tcp`]: addresses, ports, numbers, flags (`flags::SYN` ...).
#[derive(Clone, Copy)]
pub struct Tcp {
    pub src: ([u8; 4], u16),
    pub dst: ([u8; 4], u16),
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
}

impl PcapBuilder {
    pub fn with_capacity(bytes: usize) -> PcapBuilder {
        let mut b = Vec::with_capacity(bytes);
        b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        b.extend_from_slice(&[2, 0, 4, 0]);
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&65535u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
        PcapBuilder {
            bytes: b,
            packets: 0,
        }
    }

    /// Appends an Ethernet/IPv4/TCP frame at `ts_us` (microseconds since the epoch).
    pub fn tcp(&mut self, ts_us: u64, t: Tcp, payload: &[u8]) {
        let ip_len = 20 + 20 + payload.len();
        let frame_len = (14 + ip_len) as u32;
        let b = &mut self.bytes;
        b.extend_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&frame_len.to_le_bytes());
        b.extend_from_slice(&frame_len.to_le_bytes());
        b.extend_from_slice(&[4, 4, 4, 4, 4, 4, 2, 2, 2, 2, 2, 2, 0x08, 0x00]);
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip[8] = 64;
        ip[9] = 6;
        ip[12..16].copy_from_slice(&t.src.0);
        ip[16..20].copy_from_slice(&t.dst.0);
        let sum = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum::<u32>();
        let folded = (sum & 0xffff) + (sum >> 16);
        let checksum = !((folded & 0xffff) + (folded >> 16)) as u16;
        ip[10..12].copy_from_slice(&checksum.to_be_bytes());
        b.extend_from_slice(&ip);
        b.extend_from_slice(&t.src.1.to_be_bytes());
        b.extend_from_slice(&t.dst.1.to_be_bytes());
        b.extend_from_slice(&t.seq.to_be_bytes());
        b.extend_from_slice(&t.ack.to_be_bytes());
        b.extend_from_slice(&[0x50, t.flags, 0xff, 0xff, 0, 0, 0, 0]);
        b.extend_from_slice(payload);
        self.packets += 1;
    }
}

/// A TLS 1.2 ServerHello record choosing TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256.
pub fn server_hello_record() -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x22; 32]);
    body.extend_from_slice(&[0, 0xc0, 0x2f, 0]);
    let mut hs = vec![2, 0, 0, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![22, 3, 3, 0, hs.len() as u8];
    rec.extend_from_slice(&hs);
    rec
}

/// A TLS 1.2 ClientHello record with SNI `example.test` and no other extension.
pub fn client_hello_record() -> Vec<u8> {
    let sni = b"example.test";
    let mut ext = vec![0, 0];
    let list_len = 3 + sni.len();
    ext.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
    ext.extend_from_slice(&(list_len as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    ext.extend_from_slice(sni);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x11; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 4, 0xc0, 0x2f, 0x00, 0x2f, 1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![22, 3, 1, (hs.len() >> 8) as u8, hs.len() as u8];
    rec.extend_from_slice(&hs);
    rec
}

/// tshark's decode of a corpus capture (`truth/<path with / as __>.tsv`): one row per frame
/// that holds TLS, several values in a field joined by commas.
pub struct Truth {
    header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Truth {
    pub fn read(capture: &str) -> Truth {
        let name = capture.replace('/', "__");
        let path = corpus_dir().join("truth").join(format!("{name}.tsv"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut lines = text.lines();
        let header = lines
            .next()
            .expect("header")
            .split('\t')
            .map(str::to_string)
            .collect();
        let rows = lines
            .filter(|l| !l.is_empty())
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect();
        Truth { header, rows }
    }

    /// The index of column `name`.
    pub fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }
}

/// Field `i` of a truth row ("" when the row is short).
pub fn field(row: &[String], i: usize) -> &str {
    row.get(i).map_or("", String::as_str)
}

/// Two scans of the same capture agree: packets, the error and where it starts, and every row.
pub fn assert_same_rows(what: &str, a: &CaptureRows, b: &CaptureRows) {
    assert_eq!(a.file.packets, b.file.packets, "{what}: packets");
    assert_eq!(
        a.file.tcp_packets, b.file.tcp_packets,
        "{what}: TCP packets"
    );
    assert_eq!(a.file.error, b.file.error, "{what}: error");
    assert_eq!(
        a.file.error_offset, b.file.error_offset,
        "{what}: error offset"
    );
    assert_eq!(a.handshakes, b.handshakes, "{what}: handshakes");
    assert_eq!(a.alerts, b.alerts, "{what}: alerts");
    assert_eq!(a.certificates, b.certificates, "{what}: certificates");
}

/// Runs `sql` in real DuckDB (Python's `duckdb`, installed by the test command) and returns its
/// rows, one line each, columns joined by `|`.
pub fn duckdb(sql: &str) -> String {
    let script = format!("import duckdb\nfor row in duckdb.sql({sql:?}).fetchall():\n    print('|'.join(map(str, row)))\n");
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "DuckDB failed (the README's test command installs Python's duckdb): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A test's own directory in the system's temp directory (`tlscap-NAME-PID`), made empty, and
/// removed with everything in it when dropped, so when the test ends, failed or not: tests
/// write captures and Parquet files there, and nothing else would delete them.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tlscap-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
