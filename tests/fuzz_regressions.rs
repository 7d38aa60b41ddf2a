//! Every input a fuzz target ever crashed on (`fuzz/regressions/`) is replayed here through the
//! readers and both scan paths (mapped and streamed): each must now be read without a panic.

use tlscap::{scan_to_rows, stream_to_rows, ScanOptions};

#[test]
fn every_fuzz_crash_input_is_handled() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("bin") {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        let name = path.display().to_string();
        if let Ok((_, reader)) = tlscap_io::PacketReader::new(&data) {
            for p in reader {
                let _ = tlscap_decode::decode(p.linktype, p.data);
            }
        }
        let opts = ScanOptions {
            shards: 2,
            window: 7,
            chunk: 600,
        };
        let mapped = scan_to_rows(&data, &name, opts);
        let streamed = stream_to_rows(Box::new(std::io::Cursor::new(data.clone())), &name, opts);
        assert_eq!(mapped.handshakes, streamed.handshakes, "{name}");
        seen += 1;
    }
    assert!(seen >= 1, "no regression inputs found in {dir}");
}
