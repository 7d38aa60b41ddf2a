//! The one place that maps files. Everything else reads `&[u8]`.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::Deref;
use std::path::Path;

use memmap2::{Advice, Mmap};

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

impl Deref for CaptureData {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            CaptureData::Mapped(m) => m,
            CaptureData::Owned(v) => v,
        }
    }
}
