//! Opening an input: a capture file is mapped; a compressed file (recognised by its magic
//! bytes, never its name) or standard input is streamed through a decoder, since neither can
//! be mapped.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use crate::CaptureData;

/// A compression format, by its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    Xz,
    Lz4,
}

impl Compression {
    pub fn detect(head: &[u8]) -> Option<Compression> {
        match head {
            [0x1f, 0x8b, ..] => Some(Compression::Gzip),
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Compression::Zstd),
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Some(Compression::Xz),
            [0x04, 0x22, 0x4d, 0x18, ..] => Some(Compression::Lz4),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Lz4 => "lz4",
        }
    }

    /// The decompressed stream of `inner`.
    pub fn decoder<'r>(
        self,
        inner: impl Read + Send + 'r,
    ) -> io::Result<Box<dyn Read + Send + 'r>> {
        Ok(match self {
            // Concatenated gzip members (as `cat a.gz b.gz` makes) are one stream.
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(inner))),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(inner)?),
            Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(
                BufReader::new(inner),
            )),
            Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(BufReader::new(inner))),
        })
    }
}

/// An opened input.
pub enum Input {
    /// A file mapped whole.
    Mapped(CaptureData),
    /// Bytes read in order: a compressed file (through its decoder) or standard input.
    Stream {
        reader: Box<dyn Read + Send>,
        compression: Option<Compression>,
    },
}

/// Opens `path` (`-` is standard input): a compressed file is streamed through its decoder, any
/// other file is mapped.
pub fn open_input(path: &Path) -> io::Result<Input> {
    if path.as_os_str() == "-" {
        let mut stdin = BufReader::with_capacity(1 << 20, io::stdin());
        let head = peek(&mut stdin)?;
        return Ok(match Compression::detect(&head) {
            Some(c) => Input::Stream {
                reader: c.decoder(io::Cursor::new(head).chain(stdin))?,
                compression: Some(c),
            },
            None => Input::Stream {
                reader: Box::new(io::Cursor::new(head).chain(stdin)),
                compression: None,
            },
        });
    }
    let mut file = File::open(path)?;
    let mut head = [0u8; 6];
    let n = read_up_to(&mut file, &mut head)?;
    match Compression::detect(&head[..n]) {
        Some(c) => Ok(Input::Stream {
            reader: c.decoder(File::open(path)?)?,
            compression: Some(c),
        }),
        None => Ok(Input::Mapped(CaptureData::open(path)?)),
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The first bytes of a stream that cannot seek, to recognise its compression.
fn peek(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = vec![0u8; 6];
    let n = read_up_to(r, &mut head)?;
    head.truncate(n);
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&data).unwrap();
        let xz = xz.finish().unwrap();
        let mut lz = lz4_flex::frame::FrameEncoder::new(Vec::new());
        lz.write_all(&data).unwrap();
        let lz = lz.finish().unwrap();
        for (bytes, c) in [
            (gz, Compression::Gzip),
            (zst, Compression::Zstd),
            (xz, Compression::Xz),
            (lz, Compression::Lz4),
        ] {
            assert_eq!(Compression::detect(&bytes), Some(c));
            let mut out = Vec::new();
            c.decoder(&bytes[..])
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "{}", c.name());
        }
        assert_eq!(Compression::detect(&[0xd4, 0xc3, 0xb2, 0xa1]), None);
    }
}
