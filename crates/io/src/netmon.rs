//! Microsoft Network Monitor 2.x capture files (`.cap`, magic `GMBU`): a file header with the
//! capture's start time, a frame table of offsets, and frame records (time offset in µs from
//! the start, wire length, captured length, bytes, then a per-version trailer that, from 2.1
//! on, carries each frame's media type).

use crate::{Endian, RawPacket, ReadError, ReadErrorKind, MAX_RECORD};

pub(crate) const MAGIC: &[u8; 4] = b"GMBU";
const HEADER: usize = 32;
/// NDIS medium Ethernet (802.3).
const MEDIA_ETHERNET: u16 = 1;
/// From 0xE000, Network Monitor stores a pcap link type plus this base.
const MEDIA_PCAP_BASE: u16 = 0xe000;
/// Link type reported for media tlscap cannot decode (Token Ring, FDDI, NetMon events ...):
/// outside the LINKTYPE registry, so the decoder counts such frames as unsupported.
pub const LINKTYPE_NETMON_OTHER: u32 = 0xffff_0000;

pub struct NetmonReader<'a> {
    data: &'a [u8],
    table: &'a [u8],
    index: usize,
    start_ns: i64,
    file_media: u16,
    trailer: usize,
    error: Option<ReadError>,
    skipped: u64,
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian), after Howard Hinnant.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn linktype(media: u16) -> u32 {
    match media {
        MEDIA_ETHERNET => 1,
        m if (MEDIA_PCAP_BASE..0xf000).contains(&m) => u32::from(m - MEDIA_PCAP_BASE),
        m => LINKTYPE_NETMON_OTHER | u32::from(m),
    }
}

impl<'a> NetmonReader<'a> {
    pub fn new(data: &'a [u8]) -> Result<Self, ReadError> {
        let bad = |offset: usize, kind| ReadError {
            offset: offset as u64,
            kind,
        };
        if data.len() < HEADER {
            return Err(bad(
                0,
                ReadErrorKind::Truncated {
                    needed: HEADER as u64,
                    available: data.len() as u64,
                },
            ));
        }
        if &data[..4] != MAGIC {
            return Err(bad(0, ReadErrorKind::NotACapture));
        }
        let e = Endian::Little;
        let (minor, major) = (data[4], data[5]);
        if major != 2 {
            return Err(bad(
                5,
                ReadErrorKind::BadBlock("Network Monitor file of an unsupported major version"),
            ));
        }
        let w = |i: usize| i64::from(e.u16(&data[i..]));
        let days = days_from_civil(w(8), w(10), w(14));
        // SYSTEMTIME allows years up to 30827, past what i64 nanoseconds hold (2262): computed
        // wide and saturated, so a far-future header gives an extreme time, not an overflow.
        let secs = i128::from(((days * 24 + w(16)) * 60 + w(18)) * 60 + w(20));
        let ns = secs * 1_000_000_000 + i128::from(w(22)) * 1_000_000;
        let start_ns = i64::try_from(ns).unwrap_or(if ns < 0 { i64::MIN } else { i64::MAX });
        let table_at = e.u32(&data[24..]) as usize;
        let table_len = e.u32(&data[28..]) as usize;
        let table = data
            .get(table_at..table_at.saturating_add(table_len))
            .ok_or_else(|| {
                bad(
                    24,
                    ReadErrorKind::BadBlock("frame table lies outside the file"),
                )
            })?;
        Ok(NetmonReader {
            data,
            table,
            index: 0,
            start_ns,
            file_media: e.u16(&data[6..]),
            trailer: match minor {
                0 => 0,
                1 => 2,
                2 => 6,
                _ => 15,
            },
            error: None,
            skipped: 0,
        })
    }

    pub fn error(&self) -> Option<&ReadError> {
        self.error.as_ref()
    }

    /// Frames read so far.
    pub fn frames(&self) -> u64 {
        self.index as u64
    }

    /// Bytes being read.
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Offset of the next frame record, for progress reports.
    pub fn offset(&self) -> usize {
        match self.table.get(self.index * 4..self.index * 4 + 4) {
            Some(o) => Endian::Little.u32(o) as usize,
            None => self.data.len(),
        }
    }

    fn frame_at(&self, at: usize) -> Result<RawPacket<'a>, ReadErrorKind> {
        let e = Endian::Little;
        let h = self.data.get(at..at + 16).ok_or(ReadErrorKind::Truncated {
            needed: 16,
            available: self.data.len().saturating_sub(at) as u64,
        })?;
        let delta_us = u64::from(e.u32(&h[0..])) | u64::from(e.u32(&h[4..])) << 32;
        let orig = e.u32(&h[8..]);
        let incl = e.u32(&h[12..]);
        if incl > MAX_RECORD {
            return Err(ReadErrorKind::BadLength {
                length: u64::from(incl),
            });
        }
        let body = at + 16;
        let end = body + incl as usize;
        let bytes = self.data.get(body..end).ok_or(ReadErrorKind::Truncated {
            needed: 16 + u64::from(incl),
            available: (self.data.len() - at) as u64,
        })?;
        let media = if self.trailer >= 2 {
            self.data
                .get(end..end + 2)
                .map_or(self.file_media, |m| e.u16(m))
        } else {
            self.file_media
        };
        Ok(RawPacket {
            frame: self.index as u64 + 1,
            ts_ns: self
                .start_ns
                .saturating_add((delta_us as i64).saturating_mul(1000)),
            linktype: linktype(media),
            orig_len: orig.max(incl),
            data: bytes,
        })
    }
}

impl<'a> Iterator for NetmonReader<'a> {
    type Item = RawPacket<'a>;

    fn next(&mut self) -> Option<RawPacket<'a>> {
        // Each frame is found through the table, so a damaged frame costs only itself.
        while let Some(o) = self.table.get(self.index * 4..self.index * 4 + 4) {
            let at = Endian::Little.u32(o) as usize;
            let result = self.frame_at(at);
            self.index += 1;
            match result {
                Ok(p) => return Some(p),
                Err(kind) => {
                    self.skipped += 1;
                    self.error.get_or_insert(ReadError {
                        offset: at as u64,
                        kind,
                    });
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2027, 1, 15), 20_833);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    fn file(minor: u8, frames: &[(&[u8], u16)]) -> Vec<u8> {
        let mut f = b"GMBU".to_vec();
        f.extend_from_slice(&[minor, 2, 1, 0]);
        for x in [2011u16, 3, 2, 15, 9, 30, 5, 250] {
            f.extend_from_slice(&x.to_le_bytes());
        }
        f.extend_from_slice(&[0; 8]); // frame table offset and length, set below
        f.resize(128, 0);
        let mut offsets = Vec::new();
        for (i, (data, media)) in frames.iter().enumerate() {
            offsets.push(f.len() as u32);
            f.extend_from_slice(&(i as u64 * 1500).to_le_bytes());
            f.extend_from_slice(&(data.len() as u32).to_le_bytes());
            f.extend_from_slice(&(data.len() as u32).to_le_bytes());
            f.extend_from_slice(data);
            if minor >= 1 {
                f.extend_from_slice(&media.to_le_bytes());
                f.resize(f.len() + [0, 0, 4, 13][usize::from(minor.min(3))], 0);
            }
        }
        let table = f.len() as u32;
        for o in &offsets {
            f.extend_from_slice(&o.to_le_bytes());
        }
        f[24..28].copy_from_slice(&table.to_le_bytes());
        f[28..32].copy_from_slice(&((offsets.len() * 4) as u32).to_le_bytes());
        f
    }

    #[test]
    fn reads_frames_with_per_frame_media() {
        let f = file(3, &[(&[1, 2, 3], 1), (&[4, 5], 0xe000 + 101), (&[6], 6)]);
        let mut r = NetmonReader::new(&f).unwrap();
        let p: Vec<_> = r.by_ref().collect();
        assert!(r.error().is_none());
        assert_eq!(p.len(), 3);
        let start = days_from_civil(2011, 3, 15) * 86_400_000_000_000
            + (9 * 3600 + 30 * 60 + 5) * 1_000_000_000;
        assert_eq!(p[0].ts_ns, start + 250_000_000);
        assert_eq!(p[1].ts_ns, start + 250_000_000 + 1_500_000);
        assert_eq!(
            (p[0].linktype, p[1].linktype, p[2].linktype),
            (1, 101, LINKTYPE_NETMON_OTHER | 6)
        );
        assert_eq!(p[1].data, &[4, 5]);
        assert_eq!(p[2].frame, 3);
    }

    /// Found by the capture_reader fuzz target: a start year of 59,232 overflowed.
    #[test]
    fn far_future_start_time_saturates() {
        let mut f = b"GMBU\x00\x02\x1a\x00\x60\xe7\x00\x01".to_vec();
        f.extend_from_slice(&[0xe7; 15]);
        f.extend_from_slice(&[0x00, 0x00, 0x00, 0x3a, 0x01]);
        assert_eq!(f.len(), 32);
        // The frame table lies outside the file: a clean error, no panic.
        assert!(NetmonReader::new(&f).is_err());
        let mut ok = file(0, &[(&[1], 1)]);
        ok[8..10].copy_from_slice(&30_000u16.to_le_bytes());
        let p: Vec<_> = NetmonReader::new(&ok).unwrap().collect();
        assert_eq!(p[0].ts_ns, i64::MAX);
    }

    #[test]
    fn a_bad_frame_costs_only_itself() {
        let mut f = file(0, &[(&[1; 10], 1), (&[2; 10], 1), (&[3; 10], 1)]);
        let table = u32::from_le_bytes(f[24..28].try_into().unwrap()) as usize;
        f[table + 4..table + 8].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        let mut r = NetmonReader::new(&f).unwrap();
        let frames: Vec<u64> = r.by_ref().map(|p| p.frame).collect();
        assert_eq!(frames, [1, 3]);
        assert_eq!(r.error().unwrap().offset, 0x7fff_ffff);
        assert!(NetmonReader::new(&f[..20]).is_err());
    }
}
