//! The synthetic flood capture of `cargo xtask bench`: a SYN flood of N concurrent connections
//! (SYNs from distinct addresses and ports to one server, never answered, never closed) and a
//! SYN scan of all 65,535 ports of another host (closed ports answer RST-ACK, three open ports
//! SYN-ACK and the scanner resets, 10,000 filtered ports never answer). It is the memory case
//! of issue 5: peak anonymous memory under 512 MiB for a million concurrent connections.
//!
//! tests/flood.rs builds the same traffic in memory (with a second wave past the flow cap and
//! TLS connections after it) and checks the scan's rows and eviction counts exactly.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{ensure, Context, Result};

/// Ports of the scanned host that answer the scan with a SYN-ACK.
const OPEN_PORTS: [u16; 3] = [22, 80, 443];
/// Ports of the scanned host that never answer.
const FILTERED_PORTS: std::ops::RangeInclusive<u16> = 10_000..=19_999;

const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// 2023-11-14 22:13:20 UTC, in microseconds.
const T0_US: u64 = 1_700_000_000_000_000;
/// The flood's SYNs are spread over this much capture time (all within any idle timeout).
const FLOOD_SPAN_US: u64 = 10_000_000;

const VICTIM: ([u8; 4], u16) = ([192, 0, 2, 1], 443);
const SCANNED: [u8; 4] = [192, 0, 2, 2];
const SCANNER: ([u8; 4], u16) = ([198, 51, 100, 7], 40_000);

/// What was written.
pub struct FloodCapture {
    pub bytes: u64,
    pub packets: u64,
    /// Connections attempted: flood SYNs plus scanned ports.
    pub connections: u64,
}

/// One TCP segment without payload.
#[derive(Clone, Copy)]
struct Segment {
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    seq: u32,
    ack: u32,
    flags: u8,
}

pub(crate) fn ones_complement_sum(words: impl Iterator<Item = u16>) -> u16 {
    let mut sum: u32 = words.map(u32::from).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

pub(crate) fn be_words(b: &[u8]) -> impl Iterator<Item = u16> + '_ {
    b.chunks_exact(2).map(|w| u16::from_be_bytes([w[0], w[1]]))
}

/// The pcap record (header and Ethernet/IPv4/TCP frame, checksums filled in) of `s` at `ts_us`.
fn record(ts_us: u64, s: Segment) -> [u8; 16 + 54] {
    let mut r = [0u8; 16 + 54];
    r[0..4].copy_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
    r[4..8].copy_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
    r[8..12].copy_from_slice(&54u32.to_le_bytes());
    r[12..16].copy_from_slice(&54u32.to_le_bytes());
    let f = &mut r[16..];
    f[0..14].copy_from_slice(&[4, 4, 4, 4, 4, 4, 2, 2, 2, 2, 2, 2, 0x08, 0x00]);
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&40u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&s.src.0);
    ip[16..20].copy_from_slice(&s.dst.0);
    let ip_sum = ones_complement_sum(be_words(ip));
    ip[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    let tcp = &mut f[34..54];
    tcp[0..2].copy_from_slice(&s.src.1.to_be_bytes());
    tcp[2..4].copy_from_slice(&s.dst.1.to_be_bytes());
    tcp[4..8].copy_from_slice(&s.seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&s.ack.to_be_bytes());
    tcp[12] = 0x50;
    tcp[13] = s.flags;
    tcp[14..16].copy_from_slice(&0xffffu16.to_be_bytes());
    let mut pseudo = [0u8; 12];
    pseudo[0..4].copy_from_slice(&s.src.0);
    pseudo[4..8].copy_from_slice(&s.dst.0);
    pseudo[9] = 6;
    pseudo[10..12].copy_from_slice(&20u16.to_be_bytes());
    let tcp_sum = ones_complement_sum(be_words(&pseudo).chain(be_words(tcp)));
    tcp[16..18].copy_from_slice(&tcp_sum.to_be_bytes());
    r
}

/// Flood source `i`: distinct (address, port) pairs, 64 ports per address in 10.0.0.0/8.
fn flood_source(i: u32) -> ([u8; 4], u16) {
    let host = i >> 6;
    (
        [10, (host >> 16) as u8, (host >> 8) as u8, host as u8],
        1024 + (i & 63) as u16,
    )
}

/// Writes the flood capture of `connections` SYNs (plus the port scan) to `path`.
pub fn write_flood(path: &Path, connections: u32) -> Result<FloodCapture> {
    ensure!(
        connections <= 1 << 30,
        "at most 2^30 flood connections (distinct sources in 10.0.0.0/8, 64 ports each)"
    );
    let tmp = path.with_extension("pcap.tmp");
    let file = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut out = BufWriter::with_capacity(8 << 20, file);
    let write_err = || format!("cannot write {}", tmp.display());
    let mut header = [0u8; 24];
    header[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes()); // microseconds
    header[4..6].copy_from_slice(&2u16.to_le_bytes());
    header[6..8].copy_from_slice(&4u16.to_le_bytes());
    header[16..20].copy_from_slice(&65535u32.to_le_bytes());
    header[20..24].copy_from_slice(&1u32.to_le_bytes()); // Ethernet
    out.write_all(&header).with_context(write_err)?;
    let mut written = FloodCapture {
        bytes: header.len() as u64,
        packets: 0,
        connections: 0,
    };
    let mut put = |ts_us: u64, s: Segment| -> Result<()> {
        let r = record(ts_us, s);
        out.write_all(&r).with_context(write_err)?;
        written.bytes += r.len() as u64;
        written.packets += 1;
        Ok(())
    };
    let syn = |src, dst| Segment {
        src,
        dst,
        seq: 7,
        ack: 0,
        flags: SYN,
    };
    for i in 0..connections {
        let ts = T0_US + u64::from(i) * FLOOD_SPAN_US / u64::from(connections.max(1));
        put(ts, syn(flood_source(i), VICTIM))?;
    }
    let mut ts = T0_US + FLOOD_SPAN_US;
    for port in 1..=u16::MAX {
        let target = (SCANNED, port);
        put(ts, syn(SCANNER, target))?;
        let answer = Segment {
            src: target,
            dst: SCANNER,
            seq: 0,
            ack: 8,
            flags: RST | ACK,
        };
        if OPEN_PORTS.contains(&port) {
            put(
                ts + 1,
                Segment {
                    flags: SYN | ACK,
                    ..answer
                },
            )?;
            let reset = Segment {
                src: SCANNER,
                dst: target,
                seq: 8,
                ack: 1,
                flags: RST,
            };
            put(ts + 2, reset)?;
        } else if !FILTERED_PORTS.contains(&port) {
            put(ts + 1, answer)?;
        }
        ts += 15;
    }
    written.connections = u64::from(connections) + u64::from(u16::MAX);
    let file = out
        .into_inner()
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", tmp.display(), e.error()))?;
    file.sync_all().with_context(write_err)?;
    fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_valid_checksums() {
        let r = record(
            T0_US,
            Segment {
                src: flood_source(12345),
                dst: VICTIM,
                seq: 7,
                ack: 0,
                flags: SYN,
            },
        );
        let frame = &r[16..];
        assert_eq!(ones_complement_sum(be_words(&frame[14..34])), 0);
        let mut pseudo = [0u8; 12];
        pseudo[0..4].copy_from_slice(&frame[26..30]);
        pseudo[4..8].copy_from_slice(&frame[30..34]);
        pseudo[9] = 6;
        pseudo[10..12].copy_from_slice(&20u16.to_be_bytes());
        let tcp = &frame[34..54];
        assert_eq!(
            ones_complement_sum(be_words(&pseudo).chain(be_words(tcp))),
            0
        );
    }

    #[test]
    fn flood_sources_are_distinct() {
        let mut seen: Vec<_> = (0..200_000).map(flood_source).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 200_000);
    }

    #[test]
    fn writes_every_packet() {
        let path = std::env::temp_dir().join(format!("xtask-flood-{}.pcap", std::process::id()));
        let f = write_flood(&path, 1000).unwrap();
        let scan = 2 * 65_535 + OPEN_PORTS.len() as u64 - FILTERED_PORTS.len() as u64;
        assert_eq!(f.packets, 1000 + scan);
        assert_eq!(f.bytes, 24 + f.packets * 70);
        assert_eq!(fs::metadata(&path).unwrap().len(), f.bytes);
        fs::remove_file(path).unwrap();
    }
}
