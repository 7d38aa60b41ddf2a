//! Damaged and degraded input: snap-length cuts, truncated files, absurd record lengths, empty
//! and foreign files. Each yields every packet readable before the damage and a clear error,
//! never a panic.

use tlscap::demo::seed_capture;
use tlscap::{scan_to_rows, ScanOptions};

const OPTS: ScanOptions = ScanOptions {
    shards: 2,
    window: 7,
    split: 300,
    chunk: tlscap::DEFAULT_CHUNK,
};

/// Rewrites a little-endian µs pcap so every record keeps at most `snaplen` bytes.
fn with_snaplen(pcap: &[u8], snaplen: usize) -> Vec<u8> {
    let mut out = pcap[..24].to_vec();
    out[16..20].copy_from_slice(&(snaplen as u32).to_le_bytes());
    let mut pos = 24;
    while pos + 16 <= pcap.len() {
        let incl = u32::from_le_bytes(pcap[pos + 8..pos + 12].try_into().unwrap()) as usize;
        let keep = incl.min(snaplen);
        out.extend_from_slice(&pcap[pos..pos + 8]);
        out.extend_from_slice(&(keep as u32).to_le_bytes());
        out.extend_from_slice(&pcap[pos + 12..pos + 16]);
        out.extend_from_slice(&pcap[pos + 16..pos + 16 + keep]);
        pos += 16 + incl;
    }
    out
}

#[test]
fn snap_length_cuts_lose_bytes_but_not_the_alert() {
    let rows = scan_to_rows(&with_snaplen(&seed_capture(), 200), "cut.pcap", OPTS);
    assert_eq!(rows.file.error, None);
    let a = &rows.alerts[0];
    assert_eq!(
        (a.frame, a.level, a.code, a.encrypted),
        (32, Some(2), Some(42), false)
    );
    let h = &rows.handshakes[0];
    assert_eq!(
        (h.outcome, h.alert_code, h.alert_frame),
        ("failed", Some(42), Some(32))
    );
    assert_eq!(
        (h.client_hello_frame, h.server_hello_frame),
        (Some(7), Some(9))
    );
    assert!(h.truncated_packets >= 6, "{}", h.truncated_packets);
    assert!(h.server_missing_bytes > 6000 && h.client_missing_bytes > 700);
    assert!(
        h.anomalies.contains(&"bytes missing from the capture"),
        "{:?}",
        h.anomalies
    );
}

#[test]
fn truncated_file_keeps_every_packet_before_the_cut() {
    let full = seed_capture();
    // Cut inside frame 33 (after the alert in frame 32).
    let mut cut = full.clone();
    let mut pos = 24;
    for _ in 0..32 {
        pos += 16 + u32::from_le_bytes(full[pos + 8..pos + 12].try_into().unwrap()) as usize;
    }
    cut.truncate(pos + 20);
    let rows = scan_to_rows(&cut, "cut.pcap", OPTS);
    assert_eq!(rows.file.packets, 32);
    assert_eq!(rows.file.error_offset, Some(pos as u64));
    assert!(rows
        .file
        .error
        .as_deref()
        .unwrap()
        .contains(&format!("byte offset {pos}")));
    assert_eq!(rows.alerts.len(), 1);
    assert_eq!(rows.handshakes[0].outcome, "failed");
}

#[test]
fn a_record_claiming_gigabytes_is_skipped_and_reading_resumes() {
    let mut pcap = seed_capture();
    // Frame 10's record header claims 2 GiB.
    let mut pos = 24;
    for _ in 0..9 {
        pos += 16 + u32::from_le_bytes(pcap[pos + 8..pos + 12].try_into().unwrap()) as usize;
    }
    let frame10 = u32::from_le_bytes(pcap[pos + 8..pos + 12].try_into().unwrap()) as u64;
    pcap[pos + 8..pos + 12].copy_from_slice(&0x8000_0000u32.to_le_bytes());
    let rows = scan_to_rows(&pcap, "huge.pcap", OPTS);
    assert_eq!(rows.file.packets, 35);
    assert_eq!(rows.file.error_offset, Some(pos as u64));
    assert_eq!(rows.file.skipped_bytes, 16 + frame10);
    assert!(rows
        .file
        .error
        .as_deref()
        .unwrap()
        .contains("impossible length 2147483648"));
    // Frame 10 was a client ACK: nothing of the TLS story is lost, and frames keep their numbers.
    assert_eq!(rows.alerts[0].frame, 32);
    assert_eq!(rows.handshakes[0].alert_code, Some(42));
}

#[test]
fn empty_and_foreign_files() {
    let rows = scan_to_rows(&[], "empty.pcap", OPTS);
    assert_eq!(rows.file.packets, 0);
    assert_eq!(rows.file.error.as_deref(), Some("empty file (0 bytes)"));
    let rows = scan_to_rows(b"GIF89a........................", "x.gif", OPTS);
    assert_eq!(
        rows.file.error.as_deref(),
        Some("not a pcap or pcapng capture (no magic number at offset 0)")
    );
    assert_eq!(rows.file.error_offset, Some(0));
}

/// Microsoft Network Monitor 2.x: the demo capture written by editcap gives the same rows as
/// the pcap it came from.
#[test]
fn netmon_capture_gives_the_same_rows_as_pcap() {
    let netmon = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/seed-case.netmon2.cap"
    ))
    .unwrap();
    let from_netmon = scan_to_rows(&netmon, "seed", OPTS);
    let from_pcap = scan_to_rows(&seed_capture(), "seed", OPTS);
    assert_eq!(from_netmon.file.format, Some("netmon"));
    assert_eq!(from_netmon.file.error, None);
    assert_eq!(from_netmon.file.packets, 36);
    assert_eq!(from_netmon.handshakes, from_pcap.handshakes);
    assert_eq!(from_netmon.alerts, from_pcap.alerts);
    assert_eq!(from_netmon.alerts[0].frame, 32);
}

/// Splits an Ethernet/IPv4 frame into IPv4 fragments carrying `cuts`-byte pieces of its IP
/// payload (offsets multiple of 8).
fn fragment(frame: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let total = u16::from_be_bytes([frame[16], frame[17]]) as usize;
    let payload = &frame[34..14 + total];
    let mut bounds = cuts.to_vec();
    bounds.push(payload.len());
    let mut start = 0;
    bounds
        .iter()
        .map(|&end| {
            let mut f = frame[..34].to_vec();
            f[16..18].copy_from_slice(&((20 + end - start) as u16).to_be_bytes());
            let more = if end < payload.len() { 0x2000 } else { 0 };
            f[20..22].copy_from_slice(&(more | (start / 8) as u16).to_be_bytes());
            f.extend_from_slice(&payload[start..end]);
            start = end;
            f
        })
        .collect()
}

/// Rewrites a pcap, replacing frame `n` (1-based) by the given frames.
fn replace_frames(pcap: &[u8], replace: &[(usize, Vec<Vec<u8>>)]) -> Vec<u8> {
    let mut out = pcap[..24].to_vec();
    let mut pos = 24;
    let mut n = 0;
    while pos + 16 <= pcap.len() {
        n += 1;
        let incl = u32::from_le_bytes(pcap[pos + 8..pos + 12].try_into().unwrap()) as usize;
        let frames = match replace.iter().find(|(k, _)| *k == n) {
            Some((_, frames)) => frames.clone(),
            None => vec![pcap[pos + 16..pos + 16 + incl].to_vec()],
        };
        for f in frames {
            out.extend_from_slice(&pcap[pos..pos + 8]);
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(&f);
        }
        pos += 16 + incl;
    }
    out
}

#[test]
fn ipv4_fragments_are_reassembled() {
    let pcap = seed_capture();
    let (_, reader) = tlscap_io::PacketReader::new(&pcap).unwrap();
    let frames: Vec<Vec<u8>> = reader.map(|p| p.data.to_vec()).collect();
    // The ClientHello (frame 7) in two fragments, last one first; the client's flight
    // (frame 30) in three.
    let mut hello = fragment(&frames[6], &[48]);
    hello.reverse();
    let flight = fragment(&frames[29], &[400, 800]);
    let rows = scan_to_rows(
        &replace_frames(&pcap, &[(7, hello), (30, flight)]),
        "frag.pcap",
        OPTS,
    );
    assert_eq!(rows.file.packets, 36 + 1 + 2);
    assert_eq!(rows.file.ip_fragments, 5);
    let h = &rows.handshakes[0];
    // Frames shift by one after the split hello; the hello completes with its second fragment.
    assert_eq!(h.client_hello_frame, Some(8));
    assert_eq!(h.client_hello_format, Some("sslv2"));
    assert_eq!(h.client_cert_count, Some(1));
    assert_eq!(h.client_stage, Some("Finished"));
    assert_eq!(
        (h.outcome, h.alert_frame, h.alert_code),
        ("failed", Some(35), Some(42))
    );
    assert_eq!(h.client_missing_bytes, 0);
}
