//! pcapng: a sequence of blocks `type, total length, body, total length`, in sections that each
//! declare their own byte order. Interfaces are numbered per section.

use crate::{resync_end, Endian, RawPacket, ReadError, ReadErrorKind, MAX_RECORD};

pub(crate) const BLOCK_SHB: u32 = 0x0a0d_0d0a;
const BLOCK_IDB: u32 = 1;
const BLOCK_OPB: u32 = 2;
const BLOCK_SPB: u32 = 3;
const BLOCK_EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;
/// Blocks larger than this are treated as corrupt rather than read.
const MAX_BLOCK: u32 = 64 << 20;

#[derive(Clone, Copy, Debug)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    /// Timestamp units per second.
    units_per_sec: u64,
    offset_secs: i64,
}

/// What a pcapng reader carries from one chunk of a streamed file to the next.
#[derive(Clone, Debug)]
pub struct PcapNgState {
    endian: Endian,
    interfaces: Vec<Interface>,
    frame: u64,
    error: Option<ReadError>,
    skipped: u64,
    resync_pending: bool,
    /// Section and interface blocks read so far: packets are read in the light of these, so
    /// a chunk of a split file read with an older count must be read again.
    epoch: u64,
}

impl PcapNgState {
    pub(crate) fn for_new_chunk(&self) -> Self {
        PcapNgState {
            resync_pending: false,
            ..self.clone()
        }
    }
}

pub struct PcapNgReader<'a> {
    data: &'a [u8],
    pos: usize,
    /// File offset of `data[0]`.
    base: u64,
    /// `data` reaches the end of the file (always, for a mapped file).
    last_chunk: bool,
    /// The current block continues past this chunk.
    need_more: bool,
    /// No block starting at or after this offset is read: the end of a split's chunk
    /// (`data.len()` otherwise).
    limit: usize,
    st: PcapNgState,
}

/// Blocks in a row that must look right before a split chunk starts reading at an offset.
const CHAIN: usize = 4;

impl<'a> PcapNgReader<'a> {
    pub fn new(data: &'a [u8]) -> Result<Self, ReadError> {
        Self::first_chunk(data, true)
    }

    /// Opens the first chunk of a file; `last_chunk` is false when more bytes will follow.
    pub fn first_chunk(data: &'a [u8], last_chunk: bool) -> Result<Self, ReadError> {
        let state = PcapNgState {
            endian: Endian::Little,
            interfaces: Vec::new(),
            frame: 0,
            error: None,
            skipped: 0,
            resync_pending: false,
            epoch: 0,
        };
        let r = Self::resume(state, data, 0, last_chunk);
        // The first block must be a section header; reading it here gives a clean error early.
        r.section_endian(0)?;
        Ok(r)
    }

    /// Continues a streamed file on the next chunk, whose first byte is at file offset `base`.
    pub fn resume(st: PcapNgState, data: &'a [u8], base: u64, last_chunk: bool) -> Self {
        PcapNgReader {
            data,
            pos: 0,
            base,
            last_chunk,
            need_more: false,
            limit: data.len(),
            st,
        }
    }

    /// Reads the blocks before the first packet block (section header, interface
    /// descriptions, anything else), so that a split file's chunks start with the interfaces
    /// known. Stops at the first packet block, at damage, or at the end.
    pub fn read_prologue(&mut self) {
        while self.pos + 8 <= self.data.len() && !self.st.resync_pending {
            let t = self.st.endian.u32(&self.data[self.pos..]);
            if matches!(t, BLOCK_EPB | BLOCK_SPB | BLOCK_OPB) {
                return;
            }
            let at = self.pos;
            if self.block().is_err() || self.need_more || self.pos == at {
                // Left for the first chunk's reader to judge from here.
                self.pos = at;
                self.need_more = false;
                return;
            }
        }
    }

    /// The first 4-byte-aligned offset in `from..to` where a chain of [`CHAIN`] well-formed
    /// blocks starts (or fewer that end exactly at the end of the file), read in the byte
    /// order of the section read last: where a chunk of a split file can start reading.
    pub fn record_start_in(&self, from: usize, to: usize) -> Option<usize> {
        let first = from.next_multiple_of(4);
        (first..to.min(self.data.len()))
            .step_by(4)
            .find(|&at| self.chain_at(at))
    }

    fn chain_at(&self, at: usize) -> bool {
        let mut pos = at;
        for _ in 0..CHAIN {
            if pos == self.data.len() {
                return true;
            }
            match self.plausible_block(pos) {
                Some(end) => pos = end,
                None => return false,
            }
        }
        true
    }

    /// A block at `at` of a known type whose lengths agree and that ends within the data:
    /// where it ends.
    fn plausible_block(&self, at: usize) -> Option<usize> {
        let end = at.checked_add(self.plausible_header(at)?)?;
        let ends_right = end <= self.data.len()
            && self.st.endian.u32(&self.data[end - 4..]) as usize == end - at;
        ends_right.then_some(end)
    }

    /// The length of a block at `at` whose header could be real: a known type and a length
    /// that is a multiple of 4 within bounds (where the block ends is not checked).
    fn plausible_header(&self, at: usize) -> Option<usize> {
        let e = self.st.endian;
        let h = self.data.get(at..at + 12)?;
        let (t, len) = (e.u32(&h[0..4]), e.u32(&h[4..8]) as usize);
        let known = matches!(t, BLOCK_IDB | BLOCK_OPB | BLOCK_SPB | BLOCK_EPB | BLOCK_SHB);
        let sane = len >= 12 && len.is_multiple_of(4) && len <= MAX_BLOCK as usize;
        (known && sane).then_some(len)
    }

    /// A reader over the same mapped file for the blocks that start in `start..limit`, frames
    /// numbered from 1 within the chunk. It reads packets in the light of `after` (the state
    /// of the reader of the chunk before, when this chunk starts where that one stopped), or
    /// else of this reader's sections and interfaces.
    pub fn chunk(&self, start: usize, limit: usize, after: Option<&PcapNgState>) -> Self {
        let carried = after.unwrap_or(&self.st);
        PcapNgReader {
            data: self.data,
            pos: start,
            base: self.base,
            last_chunk: self.last_chunk,
            need_more: false,
            limit,
            st: PcapNgState {
                frame: 0,
                error: None,
                skipped: 0,
                resync_pending: after.is_some_and(|st| st.resync_pending),
                ..carried.clone()
            },
        }
    }

    /// Section and interface blocks read (see [`PcapNgState`]).
    pub fn epoch(&self) -> u64 {
        self.st.epoch
    }

    /// The state to resume with on the next chunk, and how many bytes of this one were used.
    pub fn state(&self) -> (PcapNgState, usize) {
        (self.st.clone(), self.pos)
    }

    pub fn error(&self) -> Option<&ReadError> {
        self.st.error.as_ref()
    }

    /// Frames read so far.
    pub fn frames(&self) -> u64 {
        self.st.frame
    }

    /// Bytes being read.
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    /// Bytes skipped to get past damage (0 when the file was read whole).
    pub fn skipped(&self) -> u64 {
        self.st.skipped
    }

    /// After damage, finds the next 4-byte-aligned offset from `from` on holding a packet,
    /// interface or section block whose trailing length matches its leading one. False when
    /// none is in this chunk (for a streamed file, the search goes on in the next chunk).
    fn resync_from(&mut self, from: usize) -> bool {
        let len = self.data.len();
        let end = resync_end(len, from, self.last_chunk);
        let mut at = from;
        while at + 12 <= end {
            if let Some(blen) = self.plausible_header(at) {
                if at + blen > len {
                    if !self.last_chunk {
                        break; // judged when the next chunk brings the rest
                    }
                } else if self.plausible_block(at).is_some() {
                    self.st.skipped += (at - self.pos) as u64;
                    self.pos = at;
                    // The skipped bytes count as one frame, as in the pcap reader.
                    self.st.frame += 1;
                    return true;
                }
            }
            at += 4;
        }
        let stop = at.min(len).max(self.pos);
        self.st.skipped += (stop - self.pos) as u64;
        self.pos = stop;
        // Go on searching later only where candidates remain: in the next chunk of a streamed
        // file, or past the search window of a mapped one. Fewer than a block header's bytes
        // left means there is nothing more to find.
        self.st.resync_pending = !self.last_chunk || at + 12 <= len;
        if !self.st.resync_pending {
            self.pos = len;
        }
        false
    }

    pub fn offset(&self) -> usize {
        self.pos
    }

    fn err(&self, offset: usize, kind: ReadErrorKind) -> ReadError {
        ReadError {
            offset: self.base + offset as u64,
            kind,
        }
    }

    fn section_endian(&self, at: usize) -> Result<Endian, ReadError> {
        let h = self.data.get(at..at + 12).ok_or_else(|| {
            self.err(
                at,
                ReadErrorKind::Truncated {
                    needed: 12,
                    available: (self.data.len() - at) as u64,
                },
            )
        })?;
        match u32::from_le_bytes([h[8], h[9], h[10], h[11]]) {
            BYTE_ORDER_MAGIC => Ok(Endian::Little),
            m if m.swap_bytes() == BYTE_ORDER_MAGIC => Ok(Endian::Big),
            _ => Err(self.err(
                at,
                ReadErrorKind::BadBlock("section header without byte-order magic"),
            )),
        }
    }

    /// Reads one block; returns a packet if the block held one.
    fn block(&mut self) -> Result<Option<RawPacket<'a>>, ReadError> {
        let at = self.pos;
        let rest = self.data.len() - at;
        if rest < 12 && !self.last_chunk {
            self.need_more = true; // the block continues in the next chunk
            return Ok(None);
        }
        if rest < 12 {
            return Err(self.err(
                at,
                ReadErrorKind::Truncated {
                    needed: 12,
                    available: rest as u64,
                },
            ));
        }
        let raw_type = u32::from_le_bytes(self.data[at..at + 4].try_into().unwrap());
        if raw_type == BLOCK_SHB {
            self.st.endian = self.section_endian(at)?;
            self.st.interfaces.clear();
            self.st.epoch += 1;
        }
        let e = self.st.endian;
        let btype = e.u32(&self.data[at..]);
        let len = e.u32(&self.data[at + 4..]);
        if len < 12 || !len.is_multiple_of(4) || len > MAX_BLOCK {
            return Err(self.err(
                at,
                ReadErrorKind::BadLength {
                    length: u64::from(len),
                },
            ));
        }
        let len = len as usize;
        if len > rest && !self.last_chunk {
            self.need_more = true;
            return Ok(None);
        }
        if len > rest {
            return Err(self.err(
                at,
                ReadErrorKind::Truncated {
                    needed: len as u64,
                    available: rest as u64,
                },
            ));
        }
        if e.u32(&self.data[at + len - 4..]) as usize != len {
            return Err(self.err(
                at,
                ReadErrorKind::BadBlock("trailing block length differs from the leading one"),
            ));
        }
        let body = &self.data[at + 8..at + len - 4];
        self.pos = at + len;
        match btype {
            BLOCK_IDB => {
                if body.len() < 8 {
                    return Err(self.err(
                        at,
                        ReadErrorKind::BadBlock("interface description block too short"),
                    ));
                }
                let mut iface = Interface {
                    linktype: u32::from(e.u16(&body[0..2])),
                    snaplen: e.u32(&body[4..8]),
                    units_per_sec: 1_000_000,
                    offset_secs: 0,
                };
                for (code, value) in Options::new(&body[8..], e) {
                    match code {
                        OPT_IF_TSRESOL if !value.is_empty() => {
                            let v = value[0];
                            let exp = u32::from(v & 0x7f);
                            iface.units_per_sec = if v & 0x80 != 0 {
                                1u64.checked_shl(exp).unwrap_or(0)
                            } else {
                                10u64.checked_pow(exp).unwrap_or(0)
                            };
                        }
                        OPT_IF_TSOFFSET if value.len() >= 8 => {
                            let hi = u64::from(e.u32(&value[0..4]));
                            let lo = u64::from(e.u32(&value[4..8]));
                            iface.offset_secs = match e {
                                Endian::Little => (lo << 32 | hi) as i64,
                                Endian::Big => (hi << 32 | lo) as i64,
                            };
                        }
                        _ => {}
                    }
                }
                if iface.units_per_sec == 0 {
                    return Err(self.err(at, ReadErrorKind::BadBlock("if_tsresol out of range")));
                }
                self.st.interfaces.push(iface);
                self.st.epoch += 1;
                Ok(None)
            }
            BLOCK_EPB | BLOCK_OPB => {
                if body.len() < 20 {
                    return Err(self.err(at, ReadErrorKind::BadBlock("packet block too short")));
                }
                let iface_id = if btype == BLOCK_EPB {
                    e.u32(&body[0..4])
                } else {
                    u32::from(e.u16(&body[0..2]))
                };
                let hi = u64::from(e.u32(&body[4..8]));
                let lo = u64::from(e.u32(&body[8..12]));
                let caplen = e.u32(&body[12..16]);
                let orig = e.u32(&body[16..20]);
                let iface = *self.st.interfaces.get(iface_id as usize).ok_or_else(|| {
                    self.err(
                        at,
                        ReadErrorKind::BadBlock("packet names an undeclared interface"),
                    )
                })?;
                if caplen > MAX_RECORD.max(iface.snaplen) || 20 + caplen as usize > body.len() {
                    return Err(self.err(
                        at,
                        ReadErrorKind::BadLength {
                            length: u64::from(caplen),
                        },
                    ));
                }
                self.st.frame += 1;
                Ok(Some(RawPacket {
                    frame: self.st.frame,
                    ts_ns: stamp_ns(hi << 32 | lo, iface),
                    linktype: iface.linktype,
                    orig_len: orig.max(caplen),
                    data: &body[20..20 + caplen as usize],
                }))
            }
            BLOCK_SPB => {
                if body.len() < 4 {
                    return Err(
                        self.err(at, ReadErrorKind::BadBlock("simple packet block too short"))
                    );
                }
                let iface = *self.st.interfaces.first().ok_or_else(|| {
                    self.err(
                        at,
                        ReadErrorKind::BadBlock("simple packet block before any interface"),
                    )
                })?;
                let orig = e.u32(&body[0..4]);
                let mut caplen = (orig as usize).min(body.len() - 4);
                if iface.snaplen != 0 {
                    caplen = caplen.min(iface.snaplen as usize);
                }
                self.st.frame += 1;
                // A simple packet block has no timestamp.
                Ok(Some(RawPacket {
                    frame: self.st.frame,
                    ts_ns: 0,
                    linktype: iface.linktype,
                    orig_len: orig.max(caplen as u32),
                    data: &body[4..4 + caplen],
                }))
            }
            _ => Ok(None),
        }
    }
}

fn stamp_ns(ticks: u64, iface: Interface) -> i64 {
    let per = iface.units_per_sec;
    let secs = ticks / per;
    let frac = ticks % per;
    let nanos = (u128::from(frac) * 1_000_000_000 / u128::from(per)) as i64;
    (secs as i64)
        .saturating_add(iface.offset_secs)
        .saturating_mul(1_000_000_000)
        .saturating_add(nanos)
}

impl<'a> Iterator for PcapNgReader<'a> {
    type Item = RawPacket<'a>;

    fn next(&mut self) -> Option<RawPacket<'a>> {
        if self.st.resync_pending {
            self.st.resync_pending = false;
            if !self.resync_from(self.pos) {
                return None;
            }
        }
        while self.pos < self.data.len() && self.pos < self.limit && !self.need_more {
            let at = self.pos;
            match self.block() {
                Ok(Some(p)) => return Some(p),
                Ok(None) => {}
                Err(e) => {
                    self.st.error.get_or_insert(e);
                    // Blocks are 4-byte aligned: the next candidate is 4 bytes on.
                    let next = (at + 4).min(self.data.len());
                    self.st.skipped += (next - at) as u64;
                    self.pos = next;
                    if !self.resync_from(next) {
                        return None;
                    }
                }
            }
        }
        None
    }
}

/// pcapng options: `code u16, length u16, value, padding to 4`.
struct Options<'a> {
    b: &'a [u8],
    e: Endian,
}

impl<'a> Options<'a> {
    fn new(b: &'a [u8], e: Endian) -> Self {
        Options { b, e }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = (u16, &'a [u8]);
    fn next(&mut self) -> Option<(u16, &'a [u8])> {
        if self.b.len() < 4 {
            return None;
        }
        let code = self.e.u16(&self.b[0..2]);
        let len = self.e.u16(&self.b[2..4]) as usize;
        if code == OPT_END || 4 + len > self.b.len() {
            return None;
        }
        let value = &self.b[4..4 + len];
        let padded = (4 + len).div_ceil(4) * 4;
        self.b = &self.b[padded.min(self.b.len())..];
        Some((code, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct W {
        v: Vec<u8>,
        big: bool,
    }
    impl W {
        fn u32(&mut self, x: u32) {
            self.v.extend_from_slice(&if self.big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            });
        }
        fn u16(&mut self, x: u16) {
            self.v.extend_from_slice(&if self.big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            });
        }
        fn block(&mut self, t: u32, body: impl FnOnce(&mut W)) {
            let mut b = W {
                v: Vec::new(),
                big: self.big,
            };
            body(&mut b);
            while !b.v.len().is_multiple_of(4) {
                b.v.push(0);
            }
            let len = b.v.len() as u32 + 12;
            self.u32(t);
            self.u32(len);
            self.v.extend_from_slice(&b.v);
            self.u32(len);
        }
        fn shb(&mut self) {
            self.block(BLOCK_SHB, |b| {
                b.u32(BYTE_ORDER_MAGIC);
                b.u16(1);
                b.u16(0);
                b.u32(u32::MAX);
                b.u32(u32::MAX);
            });
        }
        fn idb(&mut self, linktype: u16, tsresol: Option<u8>) {
            self.block(BLOCK_IDB, |b| {
                b.u16(linktype);
                b.u16(0);
                b.u32(0);
                if let Some(r) = tsresol {
                    b.u16(OPT_IF_TSRESOL);
                    b.u16(1);
                    b.v.extend_from_slice(&[r, 0, 0, 0]);
                    b.u16(0);
                    b.u16(0);
                }
            });
        }
        fn epb(&mut self, iface: u32, ticks: u64, data: &[u8]) {
            self.block(BLOCK_EPB, |b| {
                b.u32(iface);
                b.u32((ticks >> 32) as u32);
                b.u32(ticks as u32);
                b.u32(data.len() as u32);
                b.u32(data.len() as u32);
                b.v.extend_from_slice(data);
            });
        }
    }

    #[test]
    fn sections_of_both_byte_orders_and_interfaces() {
        let mut w = W {
            v: Vec::new(),
            big: false,
        };
        w.shb();
        w.idb(1, None);
        w.idb(101, Some(9));
        w.epb(0, 1_500_000, &[1, 2, 3]);
        w.epb(1, 2_000_000_123, &[4, 5]);
        w.block(0x0bad, |b| b.u32(7)); // unknown block, skipped
        let mut big = W {
            v: Vec::new(),
            big: true,
        };
        big.shb();
        big.idb(113, Some(0x80 | 20));
        big.epb(0, 3 << 20, &[6]);
        w.v.extend_from_slice(&big.v);
        let mut r = PcapNgReader::new(&w.v).unwrap();
        let p: Vec<_> = r.by_ref().collect();
        assert!(r.error().is_none());
        assert_eq!(p.len(), 3);
        assert_eq!(
            (p[0].frame, p[0].linktype, p[0].ts_ns),
            (1, 1, 1_500_000_000)
        );
        assert_eq!(
            (p[1].frame, p[1].linktype, p[1].ts_ns),
            (2, 101, 2_000_000_123)
        );
        assert_eq!(
            (p[2].frame, p[2].linktype, p[2].ts_ns),
            (3, 113, 3_000_000_000)
        );
        assert_eq!(p[2].data, &[6]);
    }

    /// Found by the mutation test: damage in a file's last 4 bytes.
    #[test]
    fn damage_in_the_last_bytes_does_not_underflow() {
        let mut w = W {
            v: Vec::new(),
            big: false,
        };
        w.shb();
        w.v.extend_from_slice(&[0xff, 0xff]);
        let mut r = PcapNgReader::new(&w.v).unwrap();
        assert_eq!(r.by_ref().count(), 0);
        assert!(r.error().is_some());
        assert_eq!(r.skipped(), 2);
    }

    #[test]
    fn corrupt_block_length_reports_offset() {
        let mut w = W {
            v: Vec::new(),
            big: false,
        };
        w.shb();
        w.idb(1, None);
        w.epb(0, 1, &[1; 8]);
        let bad = w.v.len();
        w.epb(0, 2, &[1; 8]);
        w.v[bad + 4] = 0x13; // not a multiple of 4
        w.epb(0, 3, &[3; 8]);
        let mut r = PcapNgReader::new(&w.v).unwrap();
        let frames: Vec<u64> = r.by_ref().map(|p| p.frame).collect();
        // The damaged block is skipped (counted as frame 2), reading resumes with frame 3.
        assert_eq!(frames, [1, 3]);
        let e = r.error().unwrap();
        assert_eq!(e.offset, bad as u64);
        assert!(matches!(e.kind, ReadErrorKind::BadLength { .. }));
        assert_eq!(r.skipped(), 40);
    }
}
