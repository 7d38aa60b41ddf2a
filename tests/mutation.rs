//! Mutation testing in the manner of Wireshark's `editcap -E` fuzzing: every corpus capture is
//! scanned again with bytes flipped, runs overwritten and tails cut. No mutation may panic, and
//! the scan's peak heap (measured by a counting allocator) stays bounded.

mod common;

use common::{assert_same_rows, corpus_dir, corpus_files};
use tlscap::{scan_to_rows, stream_to_rows, ScanOptions};

#[global_allocator]
static ALLOC: common::heap::Counting = common::heap::Counting;

/// xorshift64*: deterministic, so a failure names a reproducible (file, seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(data: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut d = data.to_vec();
    match rng.below(4) {
        0 => {
            // Flip a few random bytes anywhere (headers included).
            for _ in 0..1 + rng.below(16) {
                let i = rng.below(d.len());
                d[i] ^= 1 << rng.below(8);
            }
        }
        1 => {
            // Overwrite a run with random bytes.
            let start = rng.below(d.len());
            let len = 1 + rng.below(64);
            for b in d.iter_mut().skip(start).take(len) {
                *b = rng.next() as u8;
            }
        }
        2 => d.truncate(rng.below(d.len())),
        _ => {
            // Past the file header, set bytes to extremes (lengths of 0 or 0xffff...).
            for _ in 0..1 + rng.below(8) {
                let i = 24.min(d.len()) + rng.below(d.len().saturating_sub(24));
                if i < d.len() {
                    d[i] = if rng.below(2) == 0 { 0 } else { 0xff };
                }
            }
        }
    }
    d
}

#[test]
fn mutated_corpus_never_panics_and_memory_stays_bounded() {
    const MUTATIONS: u64 = 40;
    let mut worst = (0usize, String::new());
    for (k, rel) in corpus_files().iter().enumerate() {
        let data = std::fs::read(corpus_dir().join(rel)).unwrap();
        for m in 0..MUTATIONS {
            let seed = (k as u64 + 1) * 1000 + m;
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let mutated = mutate(&data, &mut rng);
            let base = common::heap::Counting::start();
            let result = std::panic::catch_unwind(|| {
                scan_to_rows(
                    &mutated,
                    rel,
                    ScanOptions {
                        shards: 2,
                        window: 1 + (seed as usize % 300),
                        // Mapped and split into chunks, compared below with the file streamed
                        // through one reader: damage must not change what either path reads.
                        split: 50 + (seed as usize * 13) % 5000,
                        chunk: tlscap::DEFAULT_CHUNK,
                    },
                )
            });
            assert!(result.is_ok(), "{rel}: mutation seed {seed} panicked");
            let used = common::heap::Counting::peak_since(base);
            if used > worst.0 {
                worst = (used, format!("{rel} seed {seed}"));
            }
            // Rows, flow state and TLS buffers for captures of at most 400 KB: far below this,
            // unless a damaged length turned into an allocation.
            assert!(
                used < 16 << 20,
                "{rel}: mutation seed {seed} used {used} bytes of heap"
            );
            // The same bytes streamed in small chunks (as a compressed file is read) give the
            // same rows as the mapping, damage and resynchronisation included.
            let chunk = 600 + (seed as usize * 37) % 4000;
            let streamed = std::panic::catch_unwind(|| {
                stream_to_rows(
                    Box::new(std::io::Cursor::new(mutated.clone())),
                    rel,
                    ScanOptions {
                        shards: 2,
                        window: 1 + (seed as usize % 300),
                        split: 0,
                        chunk,
                    },
                )
            });
            let (Ok(mapped), Ok(streamed)) = (result, streamed) else {
                panic!("{rel}: mutation seed {seed} panicked when streamed");
            };
            let what = format!("{rel}: mutation seed {seed}, {chunk}-byte chunks");
            assert_same_rows(&what, &mapped, &streamed);
        }
    }
    eprintln!(
        "largest peak heap over a mutated scan: {} bytes ({})",
        worst.0, worst.1
    );
}
