//! Zeek's expected `ssl.log` for its captures (`*.zeek.expected` in `../shared/corpus`, the
//! btest baselines): for every TLS-over-TCP connection Zeek logged, our rows agree on the
//! version, cipher, server name, resumed flag and last plaintext alert. Where Zeek is known to be
//! wrong, or where tlscap does not yet read what Zeek reads, `EXCEPTIONS` says why.

mod common;

use std::net::IpAddr;

use common::{corpus_dir, corpus_files, scan_corpus_file};
use tlscap::CaptureRows;

/// (capture, field, client port, reason). Field `row` is a connection we have no row for.
const EXCEPTIONS: &[(&str, &str, u16, &str)] = &[];

fn excepted(capture: &str, field: &str, port: u16) -> bool {
    EXCEPTIONS
        .iter()
        .any(|&(c, f, p, _)| c == capture && f == field && p == port)
}

/// One ssl.log line: field name to value.
type ZeekRow = Vec<(String, String)>;

/// Every `ssl` log section of a btest baseline file.
fn zeek_ssl_rows(text: &str) -> Vec<ZeekRow> {
    let mut rows = Vec::new();
    let mut fields: Option<Vec<String>> = None;
    let mut in_ssl = false;
    for line in text.lines() {
        if let Some(path) = line.strip_prefix("#path\t") {
            in_ssl = path == "ssl";
            fields = None;
        } else if let Some(f) = line.strip_prefix("#fields\t") {
            fields = Some(f.split('\t').map(str::to_string).collect());
        } else if line.starts_with('#') {
            if line.starts_with("######## ") {
                in_ssl = false;
            }
        } else if let (true, Some(f)) = (in_ssl, &fields) {
            let values = line.split('\t').map(str::to_string);
            rows.push(f.iter().cloned().zip(values).collect());
        }
    }
    rows
}

fn get<'a>(row: &'a ZeekRow, name: &str) -> Option<&'a str> {
    row.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| *v != "-")
}

/// Zeek's version names as ours.
fn version(zeek: &str) -> String {
    match zeek {
        "SSLv2" => "SSL 2.0".into(),
        "SSLv3" => "SSL 3.0".into(),
        "TLSv10" => "TLS 1.0".into(),
        "TLSv11" => "TLS 1.1".into(),
        "TLSv12" => "TLS 1.2".into(),
        "TLSv13" => "TLS 1.3".into(),
        v => match v.strip_prefix("TLSv13-draft") {
            Some(n) => format!("TLS 1.3 draft {n}"),
            None => v.to_string(),
        },
    }
}

fn check(capture: &str, rows: &CaptureRows, zeek: &ZeekRow, failures: &mut Vec<String>) -> bool {
    let ip = |k| get(zeek, k).and_then(|v| v.parse::<IpAddr>().ok());
    let port = |k| get(zeek, k).and_then(|v| v.parse::<u16>().ok());
    let (Some(oh), Some(op), Some(rh), Some(rp)) = (
        ip("id.orig_h"),
        port("id.orig_p"),
        ip("id.resp_h"),
        port("id.resp_p"),
    ) else {
        return false;
    };
    if get(zeek, "version").is_some_and(|v| v.starts_with("DTLS")) {
        return false; // DTLS runs over UDP: not ours
    }
    let mut conn: Vec<_> = rows
        .handshakes
        .iter()
        .filter(|h| {
            let c = (h.client_ip, h.client_port);
            let s = (h.server_ip, h.server_port);
            (c, s) == ((Some(oh), Some(op)), (Some(rh), Some(rp)))
                || (s, c) == ((Some(oh), Some(op)), (Some(rh), Some(rp)))
        })
        .collect();
    conn.sort_by_key(|h| h.handshake_index);
    let what = format!("{capture} {oh}:{op}->{rh}:{rp}");
    let (Some(first), Some(last)) = (conn.first(), conn.last()) else {
        if !excepted(capture, "row", op) {
            failures.push(format!("{what}: no handshake row"));
        }
        return true;
    };
    let mut differ = |field: &str, zeek: Option<String>, ours: Option<String>| {
        if zeek != ours && !excepted(capture, field, op) {
            failures.push(format!("{what}: {field}: zeek {zeek:?}, ours {ours:?}"));
        }
    };
    // Zeek's connection row holds the last handshake's version and cipher, the first's name.
    differ(
        "version",
        get(zeek, "version").map(version),
        last.version.clone(),
    );
    differ(
        "cipher",
        get(zeek, "cipher").map(str::to_string),
        last.cipher_suite.clone(),
    );
    differ(
        "server_name",
        get(zeek, "server_name").map(str::to_string),
        first.sni.clone(),
    );
    differ(
        "resumed",
        get(zeek, "resumed").map(str::to_string),
        Some(if last.resumed == Some(true) { "T" } else { "F" }.to_string()),
    );
    // Zeek sees plaintext alerts only; its last_alert is the connection's last one.
    let last_alert = rows
        .alerts
        .iter()
        .filter(|a| {
            !a.encrypted
                && ((a.client_ip, a.client_port) == (Some(oh), Some(op))
                    || (a.server_ip, a.server_port) == (Some(oh), Some(op)))
        })
        .max_by_key(|a| a.frame)
        .and_then(|a| a.name.map(str::to_string));
    differ(
        "last_alert",
        get(zeek, "last_alert").map(str::to_string),
        last_alert,
    );
    true
}

#[test]
fn zeek_ssl_log_agrees() {
    let dir = corpus_dir();
    let mut failures = Vec::new();
    let mut checked = 0;
    for capture in corpus_files() {
        let expected = dir.join(format!("{capture}.zeek.expected"));
        let Ok(text) = std::fs::read_to_string(&expected) else {
            continue;
        };
        let zeek = zeek_ssl_rows(&text);
        if zeek.is_empty() {
            continue;
        }
        let rows = scan_corpus_file(&capture);
        for z in &zeek {
            if check(&capture, &rows, z, &mut failures) {
                checked += 1;
            }
        }
    }
    eprintln!("checked {checked} Zeek ssl.log rows");
    assert!(checked >= 50, "only {checked} rows checked");
    assert!(
        failures.is_empty(),
        "{} disagreements with Zeek:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn exceptions_name_real_captures() {
    let files = corpus_files();
    for (c, field, _, reason) in EXCEPTIONS {
        assert!(files.iter().any(|f| f == c), "unknown capture {c}");
        assert!(
            [
                "row",
                "version",
                "cipher",
                "server_name",
                "resumed",
                "last_alert"
            ]
            .contains(field),
            "{field}"
        );
        assert!(!reason.is_empty());
    }
}
