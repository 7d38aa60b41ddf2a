//! The short-connection capture of `cargo xtask bench`: 100,000 TLS 1.3 connections of a
//! handshake and a close each, one in four refused with a fatal alert, as a load balancer's
//! capture is. There each handshake's row, not the bytes, decides tlscap's time, which the
//! bulk tile (2,875 handshakes in 2 GiB) hardly shows. Made by the benches' own generator
//! (`benches/common`, `Traffic::short`), so both measure the same traffic.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

#[path = "../../benches/common/mod.rs"]
mod traffic;

/// What was written.
pub struct ShortCapture {
    pub bytes: u64,
    pub packets: u64,
    pub connections: u64,
}

/// Writes the capture of `connections` short connections to `path`.
pub fn write_short(path: &Path, connections: usize) -> Result<ShortCapture> {
    let packets = traffic::Traffic::short(connections).packets();
    let capture = traffic::pcap(&packets, traffic::Endian::Little, false);
    fs::write(path, &capture).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(ShortCapture {
        bytes: capture.len() as u64,
        packets: packets.len() as u64,
        connections: connections as u64,
    })
}
