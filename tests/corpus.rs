//! Every capture of `../shared/corpus` is scanned and compared with tshark's decode of it
//! (`truth/*.tsv`, see the corpus README):
//! - every plaintext alert tshark decodes is an alert row at the same frame, level and code;
//! - every TCP ClientHello is a handshake row at that `client_hello_frame` (or the retry
//!   ClientHello after a HelloRetryRequest), with the same SNI;
//! - every ServerHello is a handshake row at that `server_hello_frame` (or its
//!   `hello_retry_frame`) with the same negotiated version.
//!
//! Exceptions are listed in `EXCEPTIONS` with their reason; the list only ever shrinks.

mod common;

use std::collections::BTreeMap;

use common::{corpus_files, field, scan_corpus_file, Truth};
use tlscap_tls::Version;

/// (capture path inside the corpus, check, reason). A check is "alerts", "client_hello" or
/// "server_hello".
const EXCEPTIONS: &[(&str, &str, &str)] = &[];

struct TruthRow {
    frame: u64,
    stream: String,
    record_versions: Vec<String>,
    handshake_types: Vec<String>,
    handshake_version: Vec<String>,
    supported_version: Vec<String>,
    sni: String,
    alert_levels: Vec<String>,
    alert_descs: Vec<String>,
}

fn split(s: &str) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(',').map(str::to_string).collect()
    }
}

fn read_truth(capture: &str) -> Vec<TruthRow> {
    let truth = Truth::read(capture);
    let (frame, stream, rv, ht, hv, sv, sni, al, ad) = (
        truth.col("frame.number"),
        truth.col("tcp.stream"),
        truth.col("tls.record.version"),
        truth.col("tls.handshake.type"),
        truth.col("tls.handshake.version"),
        truth.col("tls.handshake.extensions.supported_version"),
        truth.col("tls.handshake.extensions_server_name"),
        truth.col("tls.alert_message.level"),
        truth.col("tls.alert_message.desc"),
    );
    truth
        .rows
        .iter()
        .map(|r| {
            let g = |i: usize| field(r, i);
            TruthRow {
                frame: g(frame).parse().unwrap(),
                stream: g(stream).to_string(),
                record_versions: split(g(rv)),
                handshake_types: split(g(ht)),
                handshake_version: split(g(hv)),
                supported_version: split(g(sv)),
                sni: g(sni).to_string(),
                alert_levels: split(g(al)),
                alert_descs: split(g(ad)),
            }
        })
        .collect()
}

fn hex16(s: &str) -> u16 {
    u16::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

fn excepted(capture: &str, check: &str) -> bool {
    EXCEPTIONS
        .iter()
        .any(|(c, k, _)| *c == capture && *k == check)
}

#[test]
fn corpus_matches_tshark() {
    let mut failures: Vec<String> = Vec::new();
    let mut checked = BTreeMap::<&str, usize>::new();
    for capture in corpus_files() {
        let rows = scan_corpus_file(&capture);
        let truth = read_truth(&capture);
        let mut fail = |check: &str, msg: String| {
            if !excepted(&capture, check) {
                failures.push(format!("{capture}: {check}: {msg}"));
            }
        };
        for t in &truth {
            if t.stream.is_empty() {
                continue; // QUIC CRYPTO frames: not TCP
            }
            // Plaintext alerts, as (level, code) pairs.
            for (l, d) in t.alert_levels.iter().zip(&t.alert_descs) {
                *checked.entry("alerts").or_default() += 1;
                let (l, d): (u8, u16) = (l.parse().unwrap(), d.parse().unwrap());
                let found = rows.alerts.iter().any(|a| {
                    a.frame == t.frame && !a.encrypted && a.level == Some(l) && a.code == Some(d)
                });
                if !found {
                    let ours: Vec<_> = rows.alerts.iter().filter(|a| a.frame == t.frame).collect();
                    fail(
                        "alerts",
                        format!("frame {}: tshark {l}/{d}, ours {ours:?}", t.frame),
                    );
                }
            }
            let sslv2 = t.record_versions.first().is_some_and(|v| v == "0x0002");
            for (i, ty) in t.handshake_types.iter().enumerate() {
                match (ty.as_str(), sslv2) {
                    ("1", _) => {
                        *checked.entry("client_hello").or_default() += 1;
                        let sni = (!t.sni.is_empty())
                            .then(|| t.sni.split(',').next().unwrap().to_string());
                        let row = rows.handshakes.iter().find(|h| {
                            h.client_hello_frame == Some(t.frame)
                                || h.retry_client_hello_frame == Some(t.frame)
                        });
                        match row {
                            None => fail(
                                "client_hello",
                                format!("frame {}: no handshake row", t.frame),
                            ),
                            Some(h) if h.client_hello_frame == Some(t.frame) && h.sni != sni => {
                                fail(
                                    "client_hello",
                                    format!(
                                        "frame {}: sni tshark {sni:?} ours {:?}",
                                        t.frame, h.sni
                                    ),
                                )
                            }
                            Some(_) => {}
                        }
                    }
                    ("2", false) => {
                        *checked.entry("server_hello").or_default() += 1;
                        // The supported_versions value of a ServerHello is the negotiated one.
                        let v = t
                            .supported_version
                            .last()
                            .or(t.handshake_version.get(i))
                            .or(t.handshake_version.last())
                            .map(|v| Version(hex16(v)).name());
                        let row = rows.handshakes.iter().find(|h| {
                            h.server_hello_frame == Some(t.frame)
                                || h.hello_retry_frame == Some(t.frame)
                        });
                        match row {
                            None => fail(
                                "server_hello",
                                format!("frame {}: no handshake row", t.frame),
                            ),
                            Some(h) if h.server_hello_frame == Some(t.frame) && h.version != v => {
                                fail(
                                    "server_hello",
                                    format!(
                                        "frame {}: version tshark {v:?} ours {:?}",
                                        t.frame, h.version
                                    ),
                                )
                            }
                            Some(_) => {}
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    eprintln!("checked: {checked:?}");
    assert!(
        checked.get("client_hello").copied().unwrap_or(0) > 200,
        "too few ClientHellos checked: {checked:?}"
    );
    assert!(
        failures.is_empty(),
        "{} mismatches with tshark:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn exceptions_name_real_captures() {
    let files = corpus_files();
    for (c, check, reason) in EXCEPTIONS {
        assert!(
            files.iter().any(|f| f == c),
            "exception for unknown capture {c}"
        );
        assert!(
            ["alerts", "client_hello", "server_hello"].contains(check),
            "{check}"
        );
        assert!(!reason.is_empty());
    }
}

/// Encapsulated corpus captures: TCP is found inside them (counts from tshark `-Y tcp`), and a
/// tunnelled handshake carries its tunnel on the row.
#[test]
fn encapsulations_in_the_corpus() {
    let rows = scan_corpus_file("cisco__mercury/unit_tests/pcaps/pppoe_double_vlan_tagging.pcap");
    assert_eq!((rows.file.packets, rows.file.tcp_packets), (432, 30));
    let rows = scan_corpus_file("the-tcpdump-group__tcpdump/tests/802.1ad_QinQ.pcap");
    assert_eq!((rows.file.packets, rows.file.tcp_packets), (2, 0));
    let rows = scan_corpus_file(
        "ntop__nDPI/tests/cfgs/default/pcap/ja3_lots_of_cipher_suites_2_anon.pcap",
    );
    assert_eq!(rows.file.tcp_packets, 27);
    let h = &rows.handshakes[0];
    assert_eq!(h.tunnel, Some("gtp-u"));
    assert!(h.tunnel_src.is_some() && h.tunnel_id.is_some());
    assert_eq!(h.client_ip.unwrap().to_string(), "192.168.147.177");
}

/// Every corpus capture whose TLS follows a plaintext upgrade names its protocol in `starttls`
/// (one handshake each), and no other handshake in the corpus has one.
#[test]
fn starttls_carriers_in_the_corpus() {
    let expected: &[(&str, &str, u16)] = &[
        (
            "zeek__zeek/testing/btest/Traces/tls/smtp-starttls.pcap",
            "smtp",
            25,
        ),
        (
            "zeek__zeek/testing/btest/Traces/tls/imap-starttls.pcap",
            "imap",
            143,
        ),
        (
            "zeek__zeek/testing/btest/Traces/tls/pop3-starttls.pcap",
            "pop3",
            110,
        ),
        (
            "zeek__zeek/testing/btest/Traces/tls/xmpp-starttls.pcap",
            "xmpp",
            5222,
        ),
        (
            "zeek__zeek/testing/btest/Traces/ftp/ftp-auth-tls.pcap",
            "ftp",
            21,
        ),
        (
            "zeek__zeek/testing/btest/Traces/ldap/ldap-starttls.pcap",
            "ldap",
            389,
        ),
        (
            "zeek__zeek/testing/btest/Traces/mysql/encrypted.pcap",
            "mysql",
            3306,
        ),
        (
            "OISF__suricata-verify/tests/smtp-startssl/input.pcap",
            "smtp",
            25,
        ),
        (
            "ntop__nDPI/tests/cfgs/default/pcap/ftp-start-tls.pcap",
            "ftp",
            21,
        ),
        ("arkime__arkime/tests/pcap/smtp-starttls.pcap", "smtp", 25),
        ("arkime__arkime/tests/pcap/mysql-tls.pcap", "mysql", 3306),
        ("arkime__arkime/tests/pcap/ldap-ssl.pcap", "ldap", 389),
        // GridFTP control connection: TLS base64-encoded in FTP ADAT lines.
        (
            "zeek__zeek/testing/btest/Traces/globus-url-copy.pcap",
            "ftp-gssapi",
            2811,
        ),
    ];
    for capture in corpus_files() {
        let rows = scan_corpus_file(&capture);
        let found: Vec<(&str, u16)> = rows
            .handshakes
            .iter()
            .filter_map(|h| Some((h.starttls?, h.server_port?)))
            .collect();
        let want: Vec<(&str, u16)> = expected
            .iter()
            .filter(|(c, _, _)| *c == capture)
            .map(|&(_, p, port)| (p, port))
            .collect();
        assert_eq!(found, want, "{capture}");
    }
}

/// Every Certificate message tshark decodes (`tls.handshake.certificate_length` of a frame)
/// is a chain on one of our handshake rows with the same number of certificates of the same
/// lengths (through certificates.parquet's `length`), and every certificate of ours parses.
#[test]
fn certificate_chains_match_tshark() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for capture in corpus_files() {
        let rows = scan_corpus_file(&capture);
        let length: BTreeMap<&str, u32> = rows
            .certificates
            .iter()
            .map(|c| (c.sha256.as_str(), c.length))
            .collect();
        let chains: Vec<Vec<u32>> = rows
            .handshakes
            .iter()
            .flat_map(|h| [&h.server_cert_chain, &h.client_cert_chain])
            .filter(|c| !c.is_empty())
            .map(|c| c.iter().map(|sha| length[sha.as_str()]).collect())
            .collect();
        let truth = Truth::read(&capture);
        let (frame, stream, lens) = (
            truth.col("frame.number"),
            truth.col("tcp.stream"),
            truth.col("tls.handshake.certificate_length"),
        );
        for row in &truth.rows {
            let g = |i| field(row, i);
            if g(stream).is_empty() || g(lens).is_empty() {
                continue;
            }
            checked += 1;
            let want: Vec<u32> = g(lens).split(',').map(|l| l.parse().unwrap()).collect();
            if !chains.contains(&want) {
                failures.push(format!(
                    "{capture} frame {}: tshark chain lengths {want:?}, ours {chains:?}",
                    g(frame)
                ));
            }
        }
        for c in &rows.certificates {
            if let Some(e) = &c.error {
                failures.push(format!("{capture}: certificate {}: {e}", c.sha256));
            }
        }
    }
    eprintln!("checked {checked} Certificate messages");
    assert!(checked > 100, "only {checked}");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Encrypted alerts of TLS 1.2 and earlier in the corpus: where the negotiated suite's record
/// protection is known, the record is one encrypted alert's size (docs/tls-outcome.md) in all
/// but the listed records, which are not single alerts.
#[test]
fn encrypted_alert_sizes_in_the_corpus() {
    // (capture, record length): records of content type alert that hold more than one alert.
    let not_single: &[(&str, u16)] = &[
        ("zeek__zeek/testing/btest/Traces/tls/pop3-starttls.pcap", 32),
        ("arkime__arkime/tests/pcap/ldap-ssl.pcap", 224),
        ("arkime__arkime/tests/pcap/ldap-ssl.pcap", 192),
    ];
    let (mut matched, mut listed) = (0, 0);
    for capture in corpus_files() {
        let rows = scan_corpus_file(&capture);
        for a in rows.alerts.iter().filter(|a| a.encrypted && !a.inferred) {
            match a.size_matches {
                Some(true) => matched += 1,
                Some(false) => {
                    assert!(
                        not_single.contains(&(capture.as_str(), a.record_length)),
                        "{capture} frame {}: {} bytes is not one encrypted alert",
                        a.frame,
                        a.record_length
                    );
                    assert_eq!(a.likely, None);
                    listed += 1;
                }
                None => {}
            }
        }
    }
    assert_eq!(listed, not_single.len());
    assert_eq!(matched, 71, "encrypted alerts of the expected size");
}

/// The plaintext handshake messages each side sent, in order, and the ServerKeyExchange's
/// parameters (the values tshark shows for these captures).
#[test]
fn handshake_messages_and_key_exchange_in_the_corpus() {
    let rows = scan_corpus_file("zeek__zeek/testing/btest/Traces/tls/ocsp-stapling.pcap");
    let h = &rows.handshakes[0];
    assert_eq!(h.client_messages, ["ClientHello", "ClientKeyExchange"]);
    assert_eq!(
        h.server_messages,
        [
            "ServerHello",
            "Certificate",
            "CertificateStatus",
            "ServerKeyExchange",
            "ServerHelloDone"
        ]
    );
    assert_eq!((h.server_kex_group, h.server_dh_bits), (Some(24), None)); // secp384r1
    let rows = scan_corpus_file("zeek__zeek/testing/btest/Traces/tls/dhe.pcap");
    let h = &rows.handshakes[0];
    assert_eq!((h.server_kex_group, h.server_dh_bits), (None, Some(1024)));
    assert_eq!(h.server_messages.last(), Some(&"NewSessionTicket"));
}
