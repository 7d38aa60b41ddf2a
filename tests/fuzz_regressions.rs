//! Every capture-shaped input a fuzz target ever crashed on (`fuzz/regressions/capture_reader-*`
//! and `scan-*`) is replayed here through the readers and both scan paths (mapped and
//! streamed). Crashes of the `decode` and `tls_stream` targets, whose inputs are in those
//! targets' own encodings, are reproduced as literal-bytes tests beside the code they broke,
//! each naming its file.

use tlscap::{scan_to_rows, stream_to_rows, ScanOptions};

#[test]
fn every_fuzz_crash_input_is_handled() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let capture_shaped = file.starts_with("capture_reader-") || file.starts_with("scan-");
        if !capture_shaped || !file.ends_with(".bin") {
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
            split: 333,
            chunk: 600,
        };
        let mapped = scan_to_rows(&data, &name, opts);
        let streamed = stream_to_rows(Box::new(std::io::Cursor::new(data.clone())), &name, opts);
        assert_eq!(mapped.handshakes, streamed.handshakes, "{name}");
        seen += 1;
    }
    assert!(seen >= 1, "no regression inputs found in {dir}");
}
