//! Captures made by real TLS stacks (OpenSSL and GnuTLS, `tests/realstack/gen.sh`) with known
//! outcomes: every scenario's handshake row and alerts must say what the stacks did.
//!
//! The captures are generated on first use into `target/realstack` (or `TLSCAP_REALSTACK`),
//! which needs root (network namespaces, tcpdump); `cargo xtask test` installs the tools.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use tlscap::{scan_to_rows, CaptureRows, ScanOptions};

fn captures() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var_os("TLSCAP_REALSTACK")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/realstack"));
        if !dir.join("MANIFEST.tsv").exists() {
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/realstack/gen.sh");
            let status = Command::new("bash")
                .arg(script)
                .arg("scenarios")
                .arg(&dir)
                .status()
                .expect("bash runs");
            assert!(
                status.success(),
                "tests/realstack/gen.sh failed (it needs root; run `cargo xtask test`)"
            );
        }
        dir
    })
}

struct Scenario {
    name: String,
    tls13: bool,
    outcome: String,
    alert_sender: Option<String>,
    alert_code: Option<u16>,
    alert_encrypted: Option<bool>,
}

fn manifest() -> Vec<Scenario> {
    let text = std::fs::read_to_string(captures().join("MANIFEST.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |n: &str| {
        header
            .iter()
            .position(|h| *h == n)
            .unwrap_or_else(|| panic!("MANIFEST has no {n}"))
    };
    let (name, version, outcome, sender, code, enc) = (
        col("name"),
        col("tls_version"),
        col("expected_outcome"),
        col("expected_alert_sender"),
        col("expected_alert_code"),
        col("expected_alert_encrypted"),
    );
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Scenario {
                name: f[name].into(),
                tls13: f[version] == "TLS1.3",
                outcome: f[outcome].into(),
                alert_sender: opt(f[sender]),
                alert_code: opt(f[code]).map(|c| c.parse().unwrap()),
                alert_encrypted: opt(f[enc]).map(|e| e == "true"),
            }
        })
        .collect()
}

fn scan(name: &str) -> CaptureRows {
    let data = std::fs::read(captures().join(format!("{name}.pcap"))).unwrap();
    scan_to_rows(
        &data,
        name,
        ScanOptions {
            shards: 2,
            window: 64,
            split: 4096,
            chunk: tlscap::DEFAULT_CHUNK,
        },
    )
}

#[test]
fn every_scenario_has_its_known_outcome_and_alert() {
    let scenarios = manifest();
    assert!(scenarios.len() >= 21, "expected the 21 scenarios of gen.sh");
    for s in &scenarios {
        let rows = scan(&s.name);
        let h = rows
            .handshakes
            .first()
            .unwrap_or_else(|| panic!("{}: no handshake row", s.name));
        assert_eq!(h.outcome, s.outcome, "{}: outcome ({:?})", s.name, h.cause);
        assert!(h.client_hello_frame.is_some() && h.syn_seen, "{}", s.name);
        let first_alert = rows.alerts.first();
        match s.outcome.as_str() {
            "failed" => {
                assert_eq!(
                    h.alert_sender.map(str::to_string),
                    s.alert_sender,
                    "{}: alert sender",
                    s.name
                );
                assert_eq!(
                    h.alert_encrypted, s.alert_encrypted,
                    "{}: alert encrypted",
                    s.name
                );
                if s.alert_encrypted == Some(true) {
                    // The code is known to the manifest (from the key log), never to us.
                    assert_eq!(
                        h.alert_code, None,
                        "{}: an encrypted alert's code is never guessed",
                        s.name
                    );
                } else {
                    assert_eq!(h.alert_code, s.alert_code, "{}: alert code", s.name);
                    assert_eq!(h.alert_level, Some(2), "{}: fatal", s.name);
                }
                assert!(h.cause.is_some(), "{}", s.name);
            }
            _ => {
                assert_eq!(h.alert_frame, None, "{}: no deciding alert", s.name);
                assert_eq!(h.cause, None, "{}", s.name);
                // The first alert on the connection is the closing one; in TLS 1.3 it travels
                // inside an application-data record and is not an alert record at all.
                if s.tls13 {
                    assert!(
                        rows.alerts.is_empty(),
                        "{}: no TLS 1.3 alert is visible here",
                        s.name
                    );
                } else if let Some(sender) = &s.alert_sender {
                    let a =
                        first_alert.unwrap_or_else(|| panic!("{}: closing alert missing", s.name));
                    assert_eq!(
                        a.sender,
                        Some(sender.as_str()),
                        "{}: closing alert sender",
                        s.name
                    );
                    assert_eq!(
                        Some(a.encrypted),
                        s.alert_encrypted,
                        "{}: closing alert encrypted",
                        s.name
                    );
                }
            }
        }
    }
}

#[test]
fn server_rejects_client_certificate_tls12() {
    let rows = scan("server_rejects_client_cert");
    let h = &rows.handshakes[0];
    assert_eq!(h.version.as_deref(), Some("TLS 1.2"));
    assert!(h.client_cert_requested);
    assert_eq!(h.client_cert_count, Some(1));
    assert_eq!(h.client_cert_issuer_listed, Some(false));
    assert_eq!(
        (h.alert_sender, h.alert_code, h.alert_name),
        (Some("server"), Some(48), Some("unknown_ca"))
    );
    assert!(h
        .cause
        .as_deref()
        .unwrap()
        .starts_with("the server rejected the client's certificate"));
    let a = &rows.alerts[0];
    assert_eq!(
        (a.frame as i64, a.record_length, a.encrypted),
        (h.alert_frame.unwrap() as i64, 2, false)
    );
}

#[test]
fn client_rejects_server_certificate() {
    let h = &scan("client_rejects_server_cert").handshakes[0];
    assert_eq!(
        (h.alert_sender, h.alert_encrypted),
        (Some("client"), Some(false))
    );
    assert!(
        h.cause
            .as_deref()
            .unwrap()
            .starts_with("the client rejected the server's certificate"),
        "{:?}",
        h.cause
    );
    assert_eq!(h.server_cert_count, Some(1));
}

#[test]
fn version_mismatch_and_no_shared_cipher() {
    let h = &scan("version_mismatch").handshakes[0];
    assert_eq!((h.alert_code, h.version.as_deref()), (Some(70), None));
    assert_eq!(h.client_max_version.as_deref(), Some("TLS 1.3"));
    assert!(h
        .cause
        .as_deref()
        .unwrap()
        .starts_with("no protocol version in common"));
    let h = &scan("no_shared_cipher").handshakes[0];
    assert_eq!(
        (h.alert_code, h.alert_name),
        (Some(40), Some("handshake_failure"))
    );
    assert!(
        h.cause.as_deref().unwrap().contains("no cipher suite"),
        "{:?}",
        h.cause
    );
}

#[test]
fn success_with_close_notify() {
    let rows = scan("success_close_notify");
    let h = &rows.handshakes[0];
    assert_eq!(h.outcome, "established");
    assert!(h.established_frame.is_some());
    assert!(rows
        .alerts
        .iter()
        .all(|a| a.encrypted && a.code.is_none() && a.level.is_none()));
    assert!(!rows.alerts.is_empty());
    // Both close_notify records are one encrypted alert's size under the negotiated suite, and
    // come after the handshake: read as close_notify, never given a code.
    for name in [
        "success_close_notify",
        "client_cert_accepted",
        "gnutls_server_success",
    ] {
        let rows = scan(name);
        let suite = rows.handshakes[0].cipher_suite.clone();
        assert!(!rows.alerts.is_empty(), "{name}");
        for a in &rows.alerts {
            assert_eq!(
                (a.size_matches, a.likely, a.code),
                (Some(true), Some("close_notify"), None),
                "{name}: {} bytes under {suite:?}",
                a.record_length
            );
        }
    }
}

#[test]
fn tls12_renegotiation_is_a_second_row() {
    let rows = scan("renegotiation");
    assert_eq!(rows.handshakes.len(), 2);
    let (first, reneg) = (&rows.handshakes[0], &rows.handshakes[1]);
    assert_eq!((first.handshake_index, reneg.handshake_index), (0, 1));
    assert_eq!(first.outcome, "established");
    assert_eq!(reneg.outcome, "established");
    assert_eq!(
        (reneg.renegotiation, reneg.initiator),
        (Some("encrypted"), Some("client"))
    );
    assert_eq!(reneg.client_port, first.client_port);
    assert!(reneg.ts_us > first.ts_us);
}

#[test]
fn tls13_rejected_client_certificate_is_an_inferred_encrypted_alert() {
    let rows = scan("tls13_client_cert_rejected");
    let h = &rows.handshakes[0];
    assert_eq!(
        (h.version.as_deref(), h.outcome),
        (Some("TLS 1.3"), "failed")
    );
    assert_eq!(
        (h.alert_sender, h.alert_encrypted, h.alert_code),
        (Some("server"), Some(true), None)
    );
    let a = rows
        .alerts
        .iter()
        .find(|a| Some(a.frame) == h.alert_frame)
        .unwrap();
    assert!(a.inferred && a.encrypted);
    assert_eq!(a.record_length, 19);
    let h = &scan("tls13_success").handshakes[0];
    assert_eq!(
        (h.version.as_deref(), h.outcome),
        (Some("TLS 1.3"), "established")
    );
}

#[test]
fn gnutls_stacks() {
    let h = &scan("gnutls_client_server_rejects").handshakes[0];
    assert_eq!(
        (h.outcome, h.alert_sender, h.alert_code),
        ("failed", Some("server"), Some(48))
    );
    let h = &scan("gnutls_server_success").handshakes[0];
    assert_eq!(h.outcome, "established");
}

#[test]
fn client_certificate_missing_when_required() {
    // TLS 1.2: the client's empty Certificate is visible, and the server's alert is plain.
    let h = &scan("no_client_cert_tls12").handshakes[0];
    assert_eq!(
        (h.outcome, h.alert_sender, h.alert_code, h.alert_encrypted),
        ("failed", Some("server"), Some(40), Some(false))
    );
    assert!(h.client_cert_requested);
    assert_eq!(h.client_cert_count, Some(0));
    assert!(h.client_cert_chain.is_empty());
    // TLS 1.3: certificate_required travels encrypted: inferred from its size, code unknown.
    let rows = scan("tls13_no_client_cert");
    let h = &rows.handshakes[0];
    assert_eq!(
        (h.outcome, h.alert_sender, h.alert_code, h.alert_encrypted),
        ("failed", Some("server"), None, Some(true))
    );
    let a = rows.alerts.iter().find(|a| Some(a.frame) == h.alert_frame);
    assert!(a.is_some_and(|a| a.inferred && a.record_length == 19));
}

#[test]
fn tls13_client_rejects_server_certificate_in_the_clear() {
    let h = &scan("tls13_client_rejects_server_cert").handshakes[0];
    assert_eq!(
        (h.version.as_deref(), h.outcome),
        (Some("TLS 1.3"), "failed")
    );
    assert_eq!(
        (h.alert_sender, h.alert_code, h.alert_encrypted),
        (Some("client"), Some(48), Some(false))
    );
}

#[test]
fn hello_retry_request_is_one_handshake() {
    let rows = scan("tls13_hello_retry");
    assert_eq!(rows.handshakes.len(), 1);
    let h = &rows.handshakes[0];
    assert_eq!(h.outcome, "established");
    let (ch, hrr, retry, sh) = (
        h.client_hello_frame.unwrap(),
        h.hello_retry_frame.unwrap(),
        h.retry_client_hello_frame.unwrap(),
        h.server_hello_frame.unwrap(),
    );
    assert!(
        ch < hrr && hrr < retry && retry < sh,
        "{ch} {hrr} {retry} {sh}"
    );
    // X25519 offered first; the server's key share is P-256 (23).
    assert_eq!(h.key_share_groups, [0x1d]);
    assert_eq!(h.server_key_share_group, Some(23));
    assert_eq!(h.resumed, Some(false));
}

#[test]
fn resumption_is_true_only_when_the_server_accepts() {
    for (name, version) in [
        ("tls12_resumption_ticket", "TLS 1.2"),
        ("tls13_resumption_psk", "TLS 1.3"),
    ] {
        let rows = scan(name);
        assert_eq!(rows.handshakes.len(), 2, "{name}");
        let (full, resumed) = (&rows.handshakes[0], &rows.handshakes[1]);
        assert_ne!(full.client_port, resumed.client_port, "{name}");
        assert_eq!(
            (full.outcome, resumed.outcome),
            ("established", "established"),
            "{name}"
        );
        assert_eq!(full.version.as_deref(), Some(version), "{name}");
        assert_eq!(
            (full.resumed, resumed.resumed),
            (Some(false), Some(true)),
            "{name}"
        );
        // The resumed handshake offers what it resumes with.
        if version == "TLS 1.2" {
            assert_eq!(resumed.session_ticket_offered, Some(true), "{name}");
            // Abbreviated: no certificate is sent again.
            assert_eq!(resumed.server_cert_count, None, "{name}");
            assert!(full.server_cert_count.is_some(), "{name}");
            assert_eq!(resumed.server_messages, ["ServerHello"], "{name}");
        } else {
            assert_eq!(resumed.psk_offered, Some(true), "{name}");
            assert_eq!(full.psk_offered, Some(false), "{name}");
        }
    }
}

#[test]
fn server_initiated_renegotiation_requests_a_client_certificate() {
    let rows = scan("renegotiation_client_cert");
    assert_eq!(rows.handshakes.len(), 2);
    let (first, reneg) = (&rows.handshakes[0], &rows.handshakes[1]);
    assert_eq!(
        (first.outcome, reneg.outcome),
        ("established", "established")
    );
    assert_eq!(
        (reneg.renegotiation, reneg.initiator),
        (Some("encrypted"), Some("server"))
    );
    // The first handshake asked for no certificate; the renegotiation's request and the
    // client's answer travel encrypted inside the first session, so they are not on its row.
    assert!(!first.client_cert_requested);
    assert_eq!(first.client_cert_count, None);
    assert!(!reneg.client_cert_requested);
}

#[test]
fn smtp_starttls_is_named() {
    let rows = scan("smtp_starttls");
    assert_eq!(rows.handshakes.len(), 1);
    let h = &rows.handshakes[0];
    assert_eq!(
        (h.starttls, h.version.as_deref(), h.outcome),
        (Some("smtp"), Some("TLS 1.3"), "established")
    );
}

#[test]
fn certificates_of_the_test_pki() {
    let rows = scan("client_cert_accepted");
    let h = &rows.handshakes[0];
    // s_server and s_client send the CA after the leaf.
    assert_eq!(
        (h.server_cert_chain.len(), h.client_cert_chain.len()),
        (2, 2)
    );
    let cert = |sha: &str| rows.certificates.iter().find(|c| c.sha256 == sha).unwrap();
    let server = cert(&h.server_cert_chain[0]);
    assert_eq!(server.seen_as, "server");
    assert_eq!(
        server.subject.as_deref(),
        Some("O=tlscap test, CN=server.test")
    );
    assert_eq!(
        server.issuer.as_deref(),
        Some("O=tlscap test, CN=tlscap test caA")
    );
    assert_eq!(server.sans, ["DNS:server.test", "IP:10.99.0.2"]);
    assert_eq!(
        (server.key_type.as_deref(), server.key_bits),
        (Some("rsa"), Some(2048))
    );
    assert_eq!(server.extended_key_usage, ["serverAuth"]);
    assert_eq!(
        (server.is_ca, server.self_signed),
        (Some(false), Some(false))
    );
    let client = cert(&h.client_cert_chain[0]);
    assert_eq!(client.seen_as, "client");
    assert_eq!(
        client.subject.as_deref(),
        Some("O=tlscap test, CN=client-a.test")
    );
    assert_eq!(client.extended_key_usage, ["clientAuth"]);
    let ca = cert(&h.server_cert_chain[1]);
    assert_eq!(
        ca.subject.as_deref(),
        Some("O=tlscap test, CN=tlscap test caA")
    );
    assert_eq!((ca.is_ca, ca.self_signed), (Some(true), Some(true)));
    assert_eq!(ca.key_usage, ["keyCertSign", "cRLSign"]);
    assert_eq!(h.client_cert_chain[1], h.server_cert_chain[1]);
    assert_eq!(
        h.cert_request_ca_names,
        ["CN=tlscap test caA, O=tlscap test"]
    );
    assert_eq!(
        h.client_messages,
        [
            "ClientHello",
            "Certificate",
            "ClientKeyExchange",
            "CertificateVerify"
        ]
    );
    assert_eq!(
        h.server_messages,
        [
            "ServerHello",
            "Certificate",
            "ServerKeyExchange",
            "CertificateRequest",
            "ServerHelloDone",
            "NewSessionTicket"
        ]
    );
    assert_eq!(h.server_kex_group, Some(29)); // x25519
}
