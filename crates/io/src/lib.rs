//! Capture readers over a memory-mapped file: classic pcap (both byte orders, µs and ns
//! stamps, the modified "Kuznetzov" variant) and pcapng (sections of either byte order,
//! per-interface link types and `if_tsresol`/`if_tsoffset`, enhanced, simple and obsolete
//! packet blocks; other blocks skipped).
//!
//! Readers are zero-copy: a [`RawPacket`] borrows its bytes from the mapping. A damaged file
//! yields every packet before the damage, then a [`ReadError`] naming the byte offset.
//!
//! **Invariant:** frames are numbered from 1 in file order over packet blocks only, exactly as
//! Wireshark numbers them.

mod input;
mod mapped;
mod netmon;
mod pcap;
mod pcapng;

pub use input::{open_input, Compression, Input};
pub use mapped::{prefetch, CaptureData};
pub use netmon::{NetmonReader, LINKTYPE_NETMON_OTHER};
pub use pcap::{PcapReader, PcapState};
pub use pcapng::{PcapNgReader, PcapNgState};

use std::fmt;

/// One packet record as stored in the capture, its bytes borrowed from the file.
#[derive(Clone, Copy, Debug)]
pub struct RawPacket<'a> {
    /// Wireshark's frame number: 1 for the first packet of the file.
    pub frame: u64,
    /// Nanoseconds since the Unix epoch (UTC).
    pub ts_ns: i64,
    /// LINKTYPE_* value of the interface that captured the packet.
    pub linktype: u32,
    /// Length on the wire; larger than `data.len()` when the snap length cut the packet.
    pub orig_len: u32,
    pub data: &'a [u8],
}

impl RawPacket<'_> {
    pub fn truncated(&self) -> bool {
        (self.data.len() as u64) < u64::from(self.orig_len)
    }
}

/// The container format, recognised by its magic number (never by the file name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Pcap,
    PcapNs,
    PcapModified,
    PcapNg,
    /// Microsoft Network Monitor 2.x.
    NetMon,
}

impl Format {
    /// Recognises a capture by its first bytes.
    pub fn detect(head: &[u8]) -> Option<Format> {
        let magic: [u8; 4] = head.get(..4)?.try_into().ok()?;
        let le = u32::from_le_bytes(magic);
        let be = u32::from_be_bytes(magic);
        for m in [le, be] {
            match m {
                pcap::MAGIC_US => return Some(Format::Pcap),
                pcap::MAGIC_NS => return Some(Format::PcapNs),
                pcap::MAGIC_MODIFIED => return Some(Format::PcapModified),
                _ => {}
            }
        }
        if le == pcapng::BLOCK_SHB {
            return Some(Format::PcapNg);
        }
        (&magic == netmon::MAGIC).then_some(Format::NetMon)
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Pcap => "pcap",
            Format::PcapNs => "pcap-ns",
            Format::PcapModified => "pcap-modified",
            Format::PcapNg => "pcapng",
            Format::NetMon => "netmon",
        }
    }
}

/// Why a capture could not be read whole. Packets before `offset` were delivered, and so were
/// those after it where the reader could resynchronise (see [`PacketReader::skipped`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// Byte offset in the file where the damage starts.
    pub offset: u64,
    pub kind: ReadErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadErrorKind {
    /// The file has no bytes at all.
    Empty,
    /// The file does not start with a pcap or pcapng magic number.
    NotACapture,
    /// The file ends inside a header or record.
    Truncated { needed: u64, available: u64 },
    /// A record or block length that cannot be right.
    BadLength { length: u64 },
    /// A pcapng block that is malformed in another way.
    BadBlock(&'static str),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ReadErrorKind::Empty => write!(f, "empty file (0 bytes)"),
            ReadErrorKind::NotACapture => {
                write!(
                    f,
                    "not a pcap or pcapng capture (no magic number at offset 0)"
                )
            }
            ReadErrorKind::Truncated { needed, available } => write!(
                f,
                "file ends inside a record at byte offset {}: {} bytes needed, {} available",
                self.offset, needed, available
            ),
            ReadErrorKind::BadLength { length } => write!(
                f,
                "corrupt record at byte offset {}: impossible length {}",
                self.offset, length
            ),
            ReadErrorKind::BadBlock(what) => {
                write!(f, "corrupt block at byte offset {}: {}", self.offset, what)
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// Largest packet record accepted: Wireshark's own ceiling for most link types.
pub const MAX_RECORD: u32 = 262_144;

/// How far past damage a reader looks for the next plausible record in a mapped file.
const RESYNC_WINDOW: usize = 64 << 20;

/// Where a search for the next record after damage at `from` stops in `len` bytes: the window
/// in a whole file; the chunk's end in a streamed one, where the search goes on in the next.
pub(crate) fn resync_end(len: usize, from: usize, last_chunk: bool) -> usize {
    if last_chunk {
        len.min(from.saturating_add(RESYNC_WINDOW))
    } else {
        len
    }
}

/// What a streamed reader carries from one chunk to the next.
#[derive(Clone, Debug)]
pub enum ReaderState {
    Pcap(PcapState),
    PcapNg(PcapNgState),
}

impl ReaderState {
    /// The same knowledge of the file (byte order, interfaces) for a reader that starts afresh
    /// at a record start, without what only reading on from where this reader stopped needs
    /// (a pending search for the next record after damage).
    pub fn for_new_chunk(&self) -> ReaderState {
        match self {
            ReaderState::Pcap(st) => ReaderState::Pcap(st.for_new_chunk()),
            ReaderState::PcapNg(st) => ReaderState::PcapNg(st.for_new_chunk()),
        }
    }
}

/// A packet source over bytes of any supported format.
pub enum PacketReader<'a> {
    Pcap(PcapReader<'a>),
    PcapNg(PcapNgReader<'a>),
    NetMon(NetmonReader<'a>),
}

impl<'a> PacketReader<'a> {
    /// Opens `data` as pcap or pcapng. Fails only when the file is not a capture at all or its
    /// file header is damaged; later damage is reported by [`PacketReader::error`].
    pub fn new(data: &'a [u8]) -> Result<(Format, Self), ReadError> {
        if data.is_empty() {
            return Err(ReadError {
                offset: 0,
                kind: ReadErrorKind::Empty,
            });
        }
        match Format::detect(data) {
            Some(Format::PcapNg) => Ok((
                Format::PcapNg,
                PacketReader::PcapNg(PcapNgReader::new(data)?),
            )),
            Some(Format::NetMon) => Ok((
                Format::NetMon,
                PacketReader::NetMon(NetmonReader::new(data)?),
            )),
            Some(f) => Ok((f, PacketReader::Pcap(PcapReader::new(data)?))),
            None => Err(ReadError {
                offset: 0,
                kind: ReadErrorKind::NotACapture,
            }),
        }
    }

    /// Opens the first chunk of a streamed file (`last_chunk` false when more bytes follow).
    /// Network Monitor files cannot be streamed (their frame table is at the end): for them
    /// this returns `Ok(None)` and the caller reads the whole file instead.
    pub fn first_chunk(
        data: &'a [u8],
        last_chunk: bool,
    ) -> Result<Option<(Format, Self)>, ReadError> {
        if data.is_empty() {
            return Err(ReadError {
                offset: 0,
                kind: ReadErrorKind::Empty,
            });
        }
        match Format::detect(data) {
            Some(Format::NetMon) => Ok(None),
            Some(Format::PcapNg) => Ok(Some((
                Format::PcapNg,
                PacketReader::PcapNg(PcapNgReader::first_chunk(data, last_chunk)?),
            ))),
            Some(f) => Ok(Some((
                f,
                PacketReader::Pcap(PcapReader::first_chunk(data, last_chunk)?),
            ))),
            None => Err(ReadError {
                offset: 0,
                kind: ReadErrorKind::NotACapture,
            }),
        }
    }

    /// Continues a streamed file on its next chunk, which starts at file offset `base`.
    pub fn resume(state: ReaderState, data: &'a [u8], base: u64, last_chunk: bool) -> Self {
        match state {
            ReaderState::Pcap(st) => {
                PacketReader::Pcap(PcapReader::resume(st, data, base, last_chunk))
            }
            ReaderState::PcapNg(st) => {
                PacketReader::PcapNg(PcapNgReader::resume(st, data, base, last_chunk))
            }
        }
    }

    /// The state to resume with and the bytes of this chunk used (the rest starts the next).
    pub fn state(&self) -> Option<(ReaderState, usize)> {
        match self {
            PacketReader::Pcap(r) => {
                let (st, used) = r.state();
                Some((ReaderState::Pcap(st), used))
            }
            PacketReader::PcapNg(r) => {
                let (st, used) = r.state();
                Some((ReaderState::PcapNg(st), used))
            }
            PacketReader::NetMon(_) => None,
        }
    }

    /// Whether the file can be split into chunks read independently (see
    /// [`PacketReader::record_start_in`] and [`PacketReader::chunk`]).
    pub fn splittable(&self) -> bool {
        matches!(self, PacketReader::Pcap(_) | PacketReader::PcapNg(_))
    }

    /// Before a file is split: reads what precedes the first packet (pcapng's section header
    /// and interface descriptions), so that chunks start knowing it.
    pub fn read_prologue(&mut self) {
        if let PacketReader::PcapNg(r) = self {
            r.read_prologue();
        }
    }

    /// Blocks read that change how later packets are read (pcapng's section headers and
    /// interface descriptions); always 0 for pcap. A split file's chunk read with a smaller
    /// count than its predecessor ended with must be read again.
    pub fn epoch(&self) -> u64 {
        match self {
            PacketReader::PcapNg(r) => r.epoch(),
            _ => 0,
        }
    }

    /// For a splittable file: the first offset in `from..to` where reading can start.
    pub fn record_start_in(&self, from: usize, to: usize) -> Option<usize> {
        match self {
            PacketReader::Pcap(r) => r.record_start_in(from, to),
            PacketReader::PcapNg(r) => r.record_start_in(from, to),
            PacketReader::NetMon(_) => None,
        }
    }

    /// For a splittable file: a reader of the records that start in `start..limit`, with frames
    /// numbered from 1 within the chunk and its own error. `start` comes from
    /// [`PacketReader::record_start_in`], or is where the reader of the chunk before stopped,
    /// and then `after` is that reader's [`PacketReader::state`].
    pub fn chunk(
        &self,
        start: usize,
        limit: usize,
        after: Option<&ReaderState>,
    ) -> Option<PacketReader<'a>> {
        match (self, after) {
            (PacketReader::Pcap(r), None) => Some(PacketReader::Pcap(r.chunk(start, limit, None))),
            (PacketReader::Pcap(r), Some(ReaderState::Pcap(st))) => {
                Some(PacketReader::Pcap(r.chunk(start, limit, Some(st))))
            }
            (PacketReader::PcapNg(r), None) => {
                Some(PacketReader::PcapNg(r.chunk(start, limit, None)))
            }
            (PacketReader::PcapNg(r), Some(ReaderState::PcapNg(st))) => {
                Some(PacketReader::PcapNg(r.chunk(start, limit, Some(st))))
            }
            _ => None,
        }
    }

    /// Starts loading the next record's header and its packet's first bytes, without waiting
    /// for them. Finding a record's successor is a chain of dependent loads, each a cache miss;
    /// a caller that reads several readers in turn, asking each for this after each record,
    /// has as many of those loads in flight as it has readers, and finds each record in cache
    /// when it comes back to it. Only pcap: pcapng is read by one reader, and its blocks are
    /// found by the same chain.
    #[inline(always)]
    pub fn prefetch_next(&self) {
        if let PacketReader::Pcap(p) = self {
            p.prefetch_next();
        }
    }

    /// Bytes of the file (or of the streamed chunk) being read.
    pub fn data_len(&self) -> usize {
        match self {
            PacketReader::Pcap(r) => r.data_len(),
            PacketReader::PcapNg(r) => r.data_len(),
            PacketReader::NetMon(r) => r.data_len(),
        }
    }

    /// Frames read so far, a skipped damaged record counting as one.
    pub fn frames(&self) -> u64 {
        match self {
            PacketReader::Pcap(r) => r.frames(),
            PacketReader::PcapNg(r) => r.frames(),
            PacketReader::NetMon(r) => r.frames(),
        }
    }

    /// The damage that stopped the reader, once `next` has returned `None`.
    pub fn error(&self) -> Option<&ReadError> {
        match self {
            PacketReader::Pcap(r) => r.error(),
            PacketReader::PcapNg(r) => r.error(),
            PacketReader::NetMon(r) => r.error(),
        }
    }

    /// Bytes skipped to get past damage (0 when the file was read whole).
    pub fn skipped(&self) -> u64 {
        match self {
            PacketReader::Pcap(r) => r.skipped(),
            PacketReader::PcapNg(r) => r.skipped(),
            PacketReader::NetMon(r) => r.skipped(),
        }
    }

    /// Byte offset of the next record to read.
    pub fn offset(&self) -> usize {
        match self {
            PacketReader::Pcap(r) => r.offset(),
            PacketReader::PcapNg(r) => r.offset(),
            PacketReader::NetMon(r) => r.offset(),
        }
    }
}

impl<'a> Iterator for PacketReader<'a> {
    type Item = RawPacket<'a>;
    #[inline(always)]
    fn next(&mut self) -> Option<RawPacket<'a>> {
        match self {
            PacketReader::Pcap(r) => r.next(),
            PacketReader::PcapNg(r) => r.next(),
            PacketReader::NetMon(r) => r.next(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endian {
    Little,
    Big,
}

impl Endian {
    #[inline]
    pub(crate) fn u16(self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        match self {
            Endian::Little => u16::from_le_bytes(a),
            Endian::Big => u16::from_be_bytes(a),
        }
    }
    #[inline]
    pub(crate) fn u32(self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        match self {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    }
}
