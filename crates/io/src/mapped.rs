//! The one place that maps files. Everything else reads `&[u8]`.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::{Deref, Range};
use std::path::Path;

use memmap2::{Advice, Mmap, UncheckedAdvice};

/// The bytes of one capture: a read-only mapping of the file, or owned bytes (tests, the demo,
/// and later decompressed input).
pub enum CaptureData {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl CaptureData {
    /// Maps `path` read-only.
    ///
    /// A file that another process truncates while it is mapped makes reads past its new end
    /// raise SIGBUS; captures being written are a known risk of every mmap-based reader, and the
    /// size is checked before mapping so that an empty file is never mapped.
    pub fn open(path: &Path) -> io::Result<CaptureData> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if len == 0 {
            return Ok(CaptureData::Owned(Vec::new()));
        }
        // SAFETY: the mapping is read-only and private to this process; we never create a
        // mutable view. The remaining hazard, another process truncating the file while we read
        // it, is documented above and in docs/architecture.md.
        let map = unsafe { Mmap::map(&file)? };
        // Captures are read front to back once; tell the kernel so it reads ahead.
        let _ = map.advise(Advice::Sequential);
        Ok(CaptureData::Mapped(map))
    }
}

/// Granularity of [`CaptureData::release`]: 2 MiB, the size of a PMD mapping on x86_64 (and
/// arm64 with 4 KiB pages), and a multiple of every base page size Linux uses (4, 16, 64 KiB).
/// The page cache holds a file read sequentially in folios of up to 2 MiB (ext4 and xfs on
/// Linux 6.x), and the kernel maps a whole 2 MiB folio with one page-table entry. Releasing
/// part of such a mapping splits it into 512 small entries first, and the rest of it is then
/// read and released page by page. With 64 KiB granularity a two-thread scan of the 2 GiB
/// bench tile split 60 of them (`thp_split_pmd` in /proc/vmstat); with 2 MiB, none.
const RELEASE_ALIGN: usize = 2 << 20;

impl CaptureData {
    /// Tells the kernel that the bytes before `range.end` will not be read again soon, so a
    /// scan's resident memory does not grow with the file: the mapped pages of `range` leave
    /// this process (they stay in the page cache, and a later read maps them again). Rounded
    /// to [`RELEASE_ALIGN`] blocks of the file (the kernel places a large file's mapping so that
    /// its blocks are the 2 MiB mappings): the block holding `range.end` stays, the one holding
    /// `range.start` goes (the bytes before it are done with too). So releasing a range in
    /// adjacent pieces splits no block. A no-op for owned bytes.
    pub fn release(&self, range: Range<usize>) {
        let CaptureData::Mapped(map) = self else {
            return;
        };
        let start = range.start / RELEASE_ALIGN * RELEASE_ALIGN;
        let end = range.end.min(map.len()) / RELEASE_ALIGN * RELEASE_ALIGN;
        if start < end {
            // SAFETY: `start..end` lies within the mapping. MADV_DONTNEED on a read-only file
            // mapping discards nothing: the pages were never written, so a later read of any
            // slice borrowed from the mapping faults the file's page in again and sees the same
            // bytes. (The advice is "unchecked" in memmap2 because on a private writable mapping
            // it would drop the process's changes; this mapping is never writable.)
            let _ = unsafe {
                map.unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start)
            };
        }
    }
}

impl Deref for CaptureData {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            CaptureData::Mapped(m) => m,
            CaptureData::Owned(v) => v,
        }
    }
}

/// Asks the CPU to start loading the cache line that holds `bytes[0]`, without waiting for it:
/// for bytes of a capture that will be read shortly (a packet's payload, which the TLS layer
/// reads when it holds a record header, and which has left the cache since the packet was
/// routed). A hint only: it changes nothing the program can see. Does nothing off x86_64.
///
/// It lives here because it is the one other place the crate needs `unsafe`, and what it
/// hints at is the mapping.
#[inline(always)]
pub fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch neither faults nor reads into the program nor writes memory, whatever
    // the address; this one is the first byte of a live slice (or its dangling start when
    // empty, which is harmless). The intrinsic is `unsafe` only because it is declared with
    // `target_feature(enable = "sse")`, which every x86_64 target has.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}
