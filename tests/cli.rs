//! The command line: exit statuses, damaged and foreign inputs, directories.

mod common;

use std::process::Command;

use common::TempDir;

fn tlscap() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tlscap"))
}

/// `tlscap scan DIR/in -o DIR/out`: the exit status and the summary printed.
fn scan_in_dir(d: &std::path::Path) -> (Option<i32>, String) {
    let o = tlscap()
        .arg("scan")
        .arg(d.join("in"))
        .arg("-o")
        .arg(d.join("out"))
        .output()
        .unwrap();
    (o.status.code(), String::from_utf8(o.stdout).unwrap())
}

fn tmp(name: &str) -> TempDir {
    TempDir::new(&format!("cli-{name}"))
}

#[test]
fn usage_error_is_status_2() {
    assert_eq!(tlscap().arg("scan").status().unwrap().code(), Some(2));
    assert_eq!(tlscap().arg("frobnicate").status().unwrap().code(), Some(2));
}

#[test]
fn a_bad_input_is_status_1_and_the_good_ones_are_still_written() {
    let d = tmp("bad");
    let good = d.join("good.pcap");
    std::fs::write(&good, tlscap::demo::seed_capture()).unwrap();
    let text = d.join("notes.txt");
    std::fs::write(&text, "not a capture").unwrap();
    let mut cut = tlscap::demo::seed_capture();
    cut.truncate(cut.len() - 30);
    let truncated = d.join("cut.pcap");
    std::fs::write(&truncated, &cut).unwrap();
    let out = d.join("out");
    let o = tlscap()
        .arg("scan")
        .args([&good, &text, &truncated])
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let summary = String::from_utf8(o.stdout).unwrap();
    assert!(summary.contains("Files not read whole (2)"), "{summary}");
    assert!(
        summary.contains("not a pcap or pcapng capture"),
        "{summary}"
    );
    assert!(
        summary.contains("file ends inside a record at byte offset"),
        "{summary}"
    );
    // The truncated copy lost only its last frame: its handshake row and alert are there too.
    assert!(summary.contains("Handshakes: 2"), "{summary}");
    for t in ["handshakes", "alerts", "files"] {
        assert!(out.join(format!("{t}.parquet")).exists());
    }
}

#[test]
fn directories_are_searched_by_content() {
    let d = tmp("dir");
    std::fs::create_dir_all(d.join("in/nested")).unwrap();
    std::fs::write(
        d.join("in/nested/capture.bin"),
        tlscap::demo::seed_capture(),
    )
    .unwrap();
    std::fs::write(d.join("in/readme.md"), "hello").unwrap();
    // A link to a capture is followed; a dangling link is an input that cannot be read.
    std::os::unix::fs::symlink(d.join("in/nested/capture.bin"), d.join("in/link.pcap")).unwrap();
    std::os::unix::fs::symlink(d.join("in/gone.pcap"), d.join("in/dangling.pcap")).unwrap();
    let (status, summary) = scan_in_dir(&d);
    // The dangling link makes the run's status 1; the capture and its link are scanned.
    assert_eq!(status, Some(1));
    assert!(summary.contains("Scanned 3 file(s)"), "{summary}");
    assert!(summary.contains("Handshakes: 2"), "{summary}");
    assert!(summary.contains("dangling.pcap: cannot read"), "{summary}");
    assert!(
        summary.contains("Skipped 1 file(s) that are not captures"),
        "{summary}"
    );
    assert!(summary.contains("fatal bad_certificate (42)"), "{summary}");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn standard_input_plain_and_compressed() {
    use std::io::Write;
    use std::process::Stdio;
    for (name, bytes) in [
        ("plain", tlscap::demo::seed_capture()),
        ("gzip", gzip(&tlscap::demo::seed_capture())),
    ] {
        let d = tmp(&format!("stdin-{name}"));
        let mut child = tlscap()
            .args(["scan", "-", "-o"])
            .arg(d.join("out"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{name}");
        let summary = String::from_utf8(o.stdout).unwrap();
        assert!(summary.contains("36 packets"), "{name}: {summary}");
        assert!(
            summary.contains("fatal bad_certificate (42)"),
            "{name}: {summary}"
        );
    }
}

#[test]
fn compressed_captures_in_directories_are_found_by_their_content() {
    let d = tmp("compressed");
    std::fs::create_dir_all(d.join("in")).unwrap();
    std::fs::write(d.join("in/a.bin"), gzip(&tlscap::demo::seed_capture())).unwrap();
    std::fs::write(
        d.join("in/b"),
        zstd::encode_all(&tlscap::demo::seed_capture()[..], 3).unwrap(),
    )
    .unwrap();
    std::fs::write(d.join("in/log.gz"), gzip(b"just a compressed log line\n")).unwrap();
    let (status, summary) = scan_in_dir(&d);
    assert_eq!(status, Some(0));
    assert!(summary.contains("Scanned 2 file(s)"), "{summary}");
    assert!(summary.contains("Handshakes: 2"), "{summary}");
    assert!(
        summary.contains("Skipped 1 file(s) that are not captures"),
        "{summary}"
    );
}
