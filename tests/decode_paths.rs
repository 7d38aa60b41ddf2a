//! The inline decoder of the common frame (`decode_common`: Ethernet, IPv4, TCP) against the
//! general decoder (`decode`) on every frame of every corpus capture: wherever the inline one
//! decodes a frame it gives the very segment the general one gives, and it does decode most
//! TCP frames (it is the path most packets take, so a version that gave up on everything would
//! be correct and slow).

mod common;

use common::{corpus_dir, corpus_files};
use tlscap_decode::{decode, decode_common};
use tlscap_io::PacketReader;

#[test]
fn the_inline_decoder_gives_what_the_general_one_gives_on_every_corpus_frame() {
    let (mut inline, mut tcp, mut frames) = (0u64, 0u64, 0u64);
    for rel in corpus_files() {
        let data = std::fs::read(corpus_dir().join(&rel)).unwrap();
        let Ok((_, reader)) = PacketReader::new(&data) else {
            continue; // compressed or not a capture: the other corpus tests cover those
        };
        for p in reader {
            frames += 1;
            let general = decode(p.linktype, p.data);
            tcp += u64::from(general.is_ok());
            if let Some(s) = decode_common(p.linktype, p.data) {
                inline += 1;
                assert_eq!(Ok(s), general, "{rel}, frame {}", p.frame);
            }
        }
    }
    eprintln!("{frames} frames, {tcp} TCP segments, {inline} decoded inline");
    assert!(frames > 5_000, "only {frames} frames read from the corpus");
    assert!(
        inline * 10 > tcp * 7,
        "only {inline} of {tcp} TCP segments took the inline path"
    );
}
