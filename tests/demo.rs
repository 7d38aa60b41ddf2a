//! The motivating case, rebuilt by `tlscap demo`, decodes to exactly what the engineer needed.

use tlscap::demo::{seed_capture, SEED_FRAME_32};
use tlscap::{scan_to_rows, ScanOptions};

#[test]
fn seed_case_failed_by_the_servers_plaintext_bad_certificate() {
    let pcap = seed_capture();
    let rows = scan_to_rows(
        &pcap,
        "seed-case.pcap",
        ScanOptions {
            shards: 2,
            window: 5,
            split: 500,
            chunk: tlscap::DEFAULT_CHUNK,
        },
    );
    assert_eq!(rows.file.packets, 36);
    assert_eq!(rows.file.error, None);
    assert_eq!(rows.handshakes.len(), 1);
    assert_eq!(rows.alerts.len(), 1);

    let a = &rows.alerts[0];
    assert_eq!(a.frame, 32);
    assert_eq!(a.sender, Some("server"));
    assert_eq!(
        (a.level, a.code, a.name),
        (Some(2), Some(42), Some("bad_certificate"))
    );
    assert!(!a.encrypted && !a.inferred);
    assert_eq!((a.record_version.as_str(), a.record_length), ("TLS 1.0", 2));
    assert_eq!(a.server_port, Some(5443));
    assert_eq!(a.client_port, Some(1100));

    let h = &rows.handshakes[0];
    assert_eq!(h.client_ip.unwrap().to_string(), "10.51.2.231");
    assert_eq!(h.server_ip.unwrap().to_string(), "10.244.64.15");
    assert_eq!(h.client_hello_frame, Some(7));
    assert_eq!(h.client_hello_format, Some("sslv2"));
    assert_eq!(h.server_hello_frame, Some(9));
    assert_eq!(h.version.as_deref(), Some("TLS 1.0"));
    assert_eq!(
        h.cipher_suite.as_deref(),
        Some("TLS_RSA_WITH_AES_128_CBC_SHA")
    );
    assert!(h.client_cert_requested);
    assert_eq!(h.server_cert_count, Some(3));
    assert_eq!(h.client_cert_count, Some(1));
    assert_eq!(
        h.client_cert_issuer.as_deref(),
        Some("CN=Fabrikam Client CA, O=Fabrikam Inc, C=US")
    );
    assert_eq!(h.client_cert_issuer_listed, Some(false));
    assert_eq!(h.server_stage, Some("ServerHelloDone"));
    assert_eq!(h.client_stage, Some("Finished"));
    assert_eq!(h.outcome, "failed");
    assert_eq!(
        (h.alert_frame, h.alert_sender, h.alert_level),
        (Some(32), Some("server"), Some(2))
    );
    assert_eq!(
        (h.alert_code, h.alert_name, h.alert_encrypted),
        (Some(42), Some("bad_certificate"), Some(false))
    );
    // Decided by the alert; the server then closed the connection.
    assert_eq!((h.closed_by, h.close_type), (Some("server"), Some("fin")));
    let cause = h.cause.as_deref().unwrap();
    assert!(
        cause.starts_with("the server rejected the client's certificate"),
        "{cause}"
    );
    assert!(cause.contains("Fabrikam Client CA"), "{cause}");
    assert!(h.syn_seen);
    assert_eq!(
        (
            h.client_missing_bytes,
            h.server_missing_bytes,
            h.retransmissions
        ),
        (0, 0, 0)
    );
}

#[test]
fn seed_frame_32_alone_is_a_plaintext_alert_record() {
    let seg = tlscap_decode::decode(1, &SEED_FRAME_32).unwrap();
    assert_eq!(seg.payload, [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x2A]);
}

#[test]
fn demo_command_explains_the_failure() {
    let dir = std::env::temp_dir().join(format!("tlscap-demo-test-{}", std::process::id()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tlscap"))
        .args(["demo", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            "frame  32  server  ALERT fatal bad_certificate (42), plaintext (2-byte record)"
        ),
        "{text}"
    );
    assert!(text.contains("ClientHello in SSLv2 format"), "{text}");
    assert!(
        text.contains("NOT among the CAs the server asked for"),
        "{text}"
    );
    for t in ["handshakes", "alerts", "files"] {
        assert!(dir.join("out").join(format!("{t}.parquet")).exists());
    }
    std::fs::remove_dir_all(dir).unwrap();
}
