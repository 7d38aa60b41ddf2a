//! Classic libpcap files: a 24-byte file header, then records of a 16-byte header (24 in the
//! modified format) and the packet bytes.

use crate::{resync_end, Endian, RawPacket, ReadError, ReadErrorKind, MAX_RECORD};

pub(crate) const MAGIC_US: u32 = 0xa1b2_c3d4;
pub(crate) const MAGIC_NS: u32 = 0xa1b2_3c4d;
pub(crate) const MAGIC_MODIFIED: u32 = 0xa1b2_cd34;
const FILE_HEADER: usize = 24;
/// Records in a row that must look right before a split chunk starts reading at an offset.
const CHAIN: usize = 4;

/// Everything a pcap reader knows besides the bytes in front of it: carried from one chunk of a
/// streamed file to the next.
#[derive(Clone, Debug)]
pub struct PcapState {
    endian: Endian,
    nanos: bool,
    record_header: usize,
    linktype: u32,
    snaplen: u32,
    frame: u64,
    error: Option<ReadError>,
    skipped: u64,
    /// The previous chunk ended while looking for a record after damage.
    resync_pending: bool,
}

impl PcapState {
    pub(crate) fn for_new_chunk(&self) -> Self {
        PcapState {
            resync_pending: false,
            ..self.clone()
        }
    }
}

pub struct PcapReader<'a> {
    data: &'a [u8],
    pos: usize,
    /// File offset of `data[0]`.
    base: u64,
    /// `data` reaches the end of the file (always, for a mapped file).
    last_chunk: bool,
    /// No record starting at or after this offset is read: the end of a split's chunk
    /// (`data.len()` otherwise).
    limit: usize,
    st: PcapState,
}

/// Whether records start at an offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chain {
    Found,
    /// The data ends before the candidate could be judged (streamed input only).
    NeedMore,
    NotFound,
}

impl<'a> PcapReader<'a> {
    pub fn new(data: &'a [u8]) -> Result<Self, ReadError> {
        Self::first_chunk(data, true)
    }

    /// Opens the first chunk of a file; `last_chunk` is false when more bytes will follow.
    pub fn first_chunk(data: &'a [u8], last_chunk: bool) -> Result<Self, ReadError> {
        if data.len() < FILE_HEADER {
            return Err(ReadError {
                offset: 0,
                kind: ReadErrorKind::Truncated {
                    needed: FILE_HEADER as u64,
                    available: data.len() as u64,
                },
            });
        }
        let le = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        let be = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        let (endian, magic) = if matches!(le, MAGIC_US | MAGIC_NS | MAGIC_MODIFIED) {
            (Endian::Little, le)
        } else if matches!(be, MAGIC_US | MAGIC_NS | MAGIC_MODIFIED) {
            (Endian::Big, be)
        } else {
            return Err(ReadError {
                offset: 0,
                kind: ReadErrorKind::NotACapture,
            });
        };
        let snaplen = endian.u32(&data[16..20]);
        // The upper bits of the link-type field carry FCS information (pcap-savefile(5)).
        let linktype = endian.u32(&data[20..24]) & 0x0fff_ffff;
        let st = PcapState {
            endian,
            nanos: magic == MAGIC_NS,
            record_header: if magic == MAGIC_MODIFIED { 24 } else { 16 },
            linktype,
            snaplen,
            frame: 0,
            error: None,
            skipped: 0,
            resync_pending: false,
        };
        Ok(PcapReader {
            data,
            pos: FILE_HEADER,
            base: 0,
            last_chunk,
            limit: data.len(),
            st,
        })
    }

    /// Continues a streamed file on the next chunk, whose first byte is at file offset `base`.
    pub fn resume(state: PcapState, data: &'a [u8], base: u64, last_chunk: bool) -> Self {
        PcapReader {
            data,
            pos: 0,
            base,
            last_chunk,
            limit: data.len(),
            st: state,
        }
    }

    /// The first offset in `from..to` where a chain of [`CHAIN`] plausible records starts (or
    /// fewer that end exactly at the end of the file): where a chunk of a split file can start
    /// reading. Stricter than [`Iterator::next`], so the first record there always reads. The
    /// same rule finds where reading resumes after damage, so a split file and one read from
    /// end to end resume at the same record.
    pub fn record_start_in(&self, from: usize, to: usize) -> Option<usize> {
        (from.max(FILE_HEADER)..to.min(self.data.len()))
            .find(|&at| self.chain_at(at) == Chain::Found)
    }

    /// Whether a chain of plausible records starts at `at`.
    fn chain_at(&self, at: usize) -> Chain {
        let len = self.data.len();
        let more = if self.last_chunk {
            Chain::NotFound
        } else {
            Chain::NeedMore
        };
        let mut pos = at;
        let mut first_secs = None;
        for _ in 0..CHAIN {
            if pos == len {
                // Records that end exactly where the file ends: a chain, unless more follows.
                return if self.last_chunk {
                    Chain::Found
                } else {
                    Chain::NeedMore
                };
            }
            if pos + 16 > len {
                return more;
            }
            let Some(end) = self.plausible_header(pos) else {
                return Chain::NotFound;
            };
            // Records of one capture are close in time; random bytes rarely are.
            let secs = self.st.endian.u32(&self.data[pos..pos + 4]);
            if secs.abs_diff(*first_secs.get_or_insert(secs)) > 86_400 {
                return Chain::NotFound;
            }
            if end > len {
                return more;
            }
            pos = end;
        }
        Chain::Found
    }

    /// A reader over the same mapped file for the records that start in `start..limit`, frames
    /// numbered from 1 within the chunk. `start` comes from [`PcapReader::record_start_in`], or
    /// is where the reader of the chunk before stopped, whose `state` then carries what that
    /// reader knew (so damage there is judged as one reader would judge it).
    pub fn chunk(&self, start: usize, limit: usize, after: Option<&PcapState>) -> PcapReader<'a> {
        let carried = after.unwrap_or(&self.st);
        PcapReader {
            data: self.data,
            pos: start,
            base: self.base,
            last_chunk: self.last_chunk,
            limit,
            st: PcapState {
                frame: 0,
                error: None,
                skipped: 0,
                resync_pending: after.is_some_and(|st| st.resync_pending),
                ..carried.clone()
            },
        }
    }

    /// Starts loading the two cache lines from the next record's start, which hold its header
    /// and its packet's Ethernet, IP and TCP headers (see
    /// [`crate::PacketReader::prefetch_next`]).
    #[inline(always)]
    pub fn prefetch_next(&self) {
        if let Some(b) = self.data.get(self.pos..) {
            crate::mapped::prefetch(b);
            if let Some(b) = b.get(64..) {
                crate::mapped::prefetch(b);
            }
        }
    }

    /// Frames read so far (a damaged record that was skipped counts as one).
    pub fn frames(&self) -> u64 {
        self.st.frame
    }

    /// The state to resume with on the next chunk, and how many bytes of this one were used
    /// (the rest, an incomplete record, starts the next chunk).
    pub fn state(&self) -> (PcapState, usize) {
        (self.st.clone(), self.pos)
    }

    pub fn linktype(&self) -> u32 {
        self.st.linktype
    }

    pub fn error(&self) -> Option<&ReadError> {
        self.st.error.as_ref()
    }

    /// Bytes being read.
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    /// Bytes skipped to get past damage (0 when the file was read whole).
    pub fn skipped(&self) -> u64 {
        self.st.skipped
    }

    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Whether a record header at `at` could be real: a length within the snap length, a
    /// wire length no shorter than it and a sub-second field in range. Returns where the record
    /// would end.
    fn plausible_header(&self, at: usize) -> Option<usize> {
        let h = self.data.get(at..at + 16)?;
        let e = self.st.endian;
        let (frac, incl, orig) = (e.u32(&h[4..8]), e.u32(&h[8..12]), e.u32(&h[12..16]));
        let frac_limit = if self.st.nanos {
            1_000_000_000
        } else {
            1_000_000
        };
        let ok = incl > 0
            && incl <= MAX_RECORD.max(self.st.snaplen)
            && orig >= incl
            && frac < frac_limit;
        ok.then_some(at + self.st.record_header + incl as usize)
    }

    /// After damage, finds the next offset from `from` on where a chain of records starts.
    fn resync_from(&mut self, from: usize) -> Chain {
        let len = self.data.len();
        let end = resync_end(len, from, self.last_chunk);
        let mut at = from;
        while at < end {
            match self.chain_at(at) {
                Chain::Found => {
                    self.st.skipped += (at - self.pos) as u64;
                    self.pos = at;
                    // The skipped bytes count as one frame (the damaged record), so numbering
                    // stays the file's own when one record header was damaged, the common case.
                    self.st.frame += 1;
                    return Chain::Found;
                }
                Chain::NeedMore => break,
                Chain::NotFound => at += 1,
            }
        }
        // Everything before `at` is known not to start a record.
        self.st.skipped += (at.min(len) - self.pos) as u64;
        self.pos = at.min(len);
        if at < len || !self.last_chunk {
            self.st.resync_pending = true;
            Chain::NeedMore
        } else {
            Chain::NotFound
        }
    }

    /// Records the first damage; resumes at the next plausible record when there is one.
    fn fail(&mut self, kind: ReadErrorKind) -> Option<RawPacket<'a>> {
        let at = self.pos;
        self.st.error.get_or_insert(ReadError {
            offset: self.base + at as u64,
            kind,
        });
        self.pos = at + 1;
        self.st.skipped += 1;
        match self.resync_from(at + 1) {
            Chain::Found => self.next(),
            Chain::NeedMore | Chain::NotFound => None,
        }
    }
}

impl<'a> Iterator for PcapReader<'a> {
    type Item = RawPacket<'a>;

    #[inline(always)]
    fn next(&mut self) -> Option<RawPacket<'a>> {
        if self.st.resync_pending {
            self.st.resync_pending = false;
            match self.resync_from(self.pos) {
                Chain::Found => {}
                Chain::NeedMore | Chain::NotFound => return None,
            }
        }
        if self.pos >= self.limit {
            return None;
        }
        let rest = self.data.len() - self.pos;
        let rh = self.st.record_header;
        if rest < rh {
            if !self.last_chunk {
                return None; // the record continues in the next chunk
            }
            return self.fail(ReadErrorKind::Truncated {
                needed: rh as u64,
                available: rest as u64,
            });
        }
        let h = &self.data[self.pos..self.pos + 16];
        let e = self.st.endian;
        let secs = i64::from(e.u32(&h[0..4]));
        let frac = i64::from(e.u32(&h[4..8]));
        let incl = e.u32(&h[8..12]);
        let orig = e.u32(&h[12..16]);
        if incl > MAX_RECORD.max(self.st.snaplen) {
            return self.fail(ReadErrorKind::BadLength {
                length: u64::from(incl),
            });
        }
        let body = self.pos + rh;
        let end = body + incl as usize;
        if end > self.data.len() {
            if !self.last_chunk {
                return None;
            }
            return self.fail(ReadErrorKind::Truncated {
                needed: (rh + incl as usize) as u64,
                available: rest as u64,
            });
        }
        self.pos = end;
        self.st.frame += 1;
        let ts_ns = secs * 1_000_000_000 + if self.st.nanos { frac } else { frac * 1000 };
        Some(RawPacket {
            frame: self.st.frame,
            ts_ns,
            linktype: self.st.linktype,
            orig_len: orig.max(incl),
            data: &self.data[body..end],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(magic: u32, big: bool, linktype: u32) -> Vec<u8> {
        let mut v = Vec::new();
        let put = |v: &mut Vec<u8>, x: u32| {
            v.extend_from_slice(&if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        put(&mut v, magic);
        v.extend_from_slice(&if big { [0, 2, 0, 4] } else { [2, 0, 4, 0] });
        put(&mut v, 0);
        put(&mut v, 0);
        put(&mut v, 65535);
        put(&mut v, linktype);
        v
    }

    fn record(v: &mut Vec<u8>, big: bool, secs: u32, frac: u32, data: &[u8], orig: u32) {
        for x in [secs, frac, data.len() as u32, orig] {
            v.extend_from_slice(&if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            });
        }
        v.extend_from_slice(data);
    }

    #[test]
    fn reads_both_byte_orders_and_resolutions() {
        for big in [false, true] {
            for (magic, scale) in [(MAGIC_US, 1000), (MAGIC_NS, 1)] {
                let mut f = header(magic, big, 1);
                record(&mut f, big, 10, 5, &[1, 2, 3], 3);
                record(&mut f, big, 11, 6, &[4; 10], 60);
                let r = PcapReader::new(&f).unwrap();
                let p: Vec<_> = r.collect();
                assert_eq!(p.len(), 2);
                assert_eq!(p[0].frame, 1);
                assert_eq!(p[1].frame, 2);
                assert_eq!(p[0].ts_ns, 10_000_000_000 + 5 * scale);
                assert_eq!(p[0].data, &[1, 2, 3]);
                assert!(p[1].truncated());
                assert_eq!(p[1].linktype, 1);
            }
        }
    }

    #[test]
    fn truncated_record_keeps_packets_before_it() {
        let mut f = header(MAGIC_US, false, 1);
        record(&mut f, false, 1, 0, &[9; 20], 20);
        let cut = f.len();
        record(&mut f, false, 2, 0, &[9; 20], 20);
        f.truncate(cut + 16 + 5);
        let mut r = PcapReader::new(&f).unwrap();
        assert!(r.next().is_some());
        assert!(r.next().is_none());
        let e = r.error().unwrap();
        assert_eq!(e.offset, cut as u64);
        assert_eq!(
            e.kind,
            ReadErrorKind::Truncated {
                needed: 36,
                available: 21
            }
        );
        assert!(e.to_string().contains(&format!("offset {cut}")));
    }

    #[test]
    fn resumes_after_a_corrupt_record() {
        let mut f = header(MAGIC_US, false, 1);
        record(&mut f, false, 100, 0, &[1; 30], 30);
        let bad = f.len();
        record(&mut f, false, 101, 0, &[2; 30], 30);
        record(&mut f, false, 102, 0, &[3; 30], 30);
        record(&mut f, false, 103, 0, &[4; 30], 30);
        // Record 2 claims 16 MiB: it is skipped whole, and reading resumes at record 3.
        f[bad + 8..bad + 12].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
        let mut r = PcapReader::new(&f).unwrap();
        let p: Vec<_> = r.by_ref().collect();
        assert_eq!(p.iter().map(|p| p.data[0]).collect::<Vec<_>>(), [1, 3, 4]);
        assert_eq!(r.error().unwrap().offset, bad as u64);
        assert_eq!(r.skipped(), 46);
    }

    #[test]
    fn absurd_length_is_an_error_not_an_allocation() {
        let mut f = header(MAGIC_US, false, 1);
        f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]);
        let mut r = PcapReader::new(&f).unwrap();
        assert!(r.next().is_none());
        assert_eq!(
            r.error().unwrap().kind,
            ReadErrorKind::BadLength {
                length: 0x7fff_ffff
            }
        );
    }
}
