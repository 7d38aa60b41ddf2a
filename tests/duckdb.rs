//! Real DuckDB (Python's `duckdb`, installed by the test command) reads the Parquet output of a
//! scan of the whole corpus directory: row counts agree with the in-process scan, and columns
//! have the documented types.

mod common;

use std::process::Command;

use common::{corpus_dir, corpus_files, duckdb, scan_corpus_file, TempDir};

#[test]
fn duckdb_reads_the_corpus_scan() {
    let out = TempDir::new("duckdb");
    let status = Command::new(env!("CARGO_BIN_EXE_tlscap"))
        .arg("scan")
        .arg(corpus_dir())
        .arg("-o")
        .arg(&*out)
        .arg("--quiet")
        .status()
        .unwrap();
    // Every corpus capture reads whole (damaged inputs are tested in tests/cli.rs).
    assert_eq!(status.code(), Some(0));

    let (mut handshakes, mut alerts) = (0usize, 0usize);
    let files = corpus_files();
    for f in &files {
        let rows = scan_corpus_file(f);
        handshakes += rows.handshakes.len();
        alerts += rows.alerts.len();
    }
    let h = out.join("handshakes.parquet").display().to_string();
    let a = out.join("alerts.parquet").display().to_string();
    let fl = out.join("files.parquet").display().to_string();
    assert_eq!(
        duckdb(&format!("SELECT count(*) FROM '{h}'")),
        handshakes.to_string()
    );
    assert_eq!(
        duckdb(&format!("SELECT count(*) FROM '{a}'")),
        alerts.to_string()
    );
    assert_eq!(
        duckdb(&format!("SELECT count(*) FROM '{fl}'")),
        files.len().to_string()
    );
    assert_eq!(
        duckdb(&format!("SELECT sum(handshakes) FROM '{fl}'")),
        handshakes.to_string()
    );
    assert_eq!(
        duckdb(&format!(
            "SELECT count(*) FROM '{fl}' WHERE error IS NOT NULL"
        )),
        "0"
    );
    // Certificates: one row per fingerprint, and every chain entry of a handshake has one.
    let c = out.join("certificates.parquet").display().to_string();
    let distinct: std::collections::BTreeSet<String> = files
        .iter()
        .flat_map(|f| scan_corpus_file(f).certificates)
        .map(|c| c.sha256)
        .collect();
    assert_eq!(
        duckdb(&format!(
            "SELECT count(*), count(DISTINCT sha256) FROM '{c}'"
        )),
        format!("{}|{}", distinct.len(), distinct.len())
    );
    assert_eq!(
        duckdb(&format!(
            "SELECT count(*) FROM (SELECT unnest(server_cert_chain || client_cert_chain) AS sha \
             FROM '{h}') WHERE sha NOT IN (SELECT sha256 FROM '{c}')"
        )),
        "0"
    );
    // The query a support engineer runs: failed handshakes with their server's leaf certificate.
    duckdb(&format!(
        "SELECT h.server_ip, h.cause, c.subject, c.not_after FROM '{h}' h \
         JOIN '{c}' c ON c.sha256 = h.server_cert_sha256 WHERE h.outcome = 'failed'"
    ));
    let cert_types = duckdb(&format!(
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{c}') WHERE column_name IN \
         ('not_after', 'sans', 'key_bits') ORDER BY 1"
    ));
    assert_eq!(
        cert_types,
        "key_bits|INTEGER\nnot_after|TIMESTAMP WITH TIME ZONE\nsans|VARCHAR[]"
    );
    // Every handshake belongs to a file row, and outcomes are the documented values.
    assert_eq!(
        duckdb(&format!(
            "SELECT count(*) FROM '{h}' WHERE capture NOT IN (SELECT capture FROM '{fl}')"
        )),
        "0"
    );
    assert_eq!(
        duckdb(&format!(
            "SELECT count(*) FROM '{h}' WHERE outcome NOT IN ('established', 'failed', 'incomplete', 'not_tls')"
        )),
        "0"
    );

    let types = duckdb(&format!(
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{h}') WHERE column_name IN \
         ('ts', 'client_port', 'handshake_index', 'client_hello_frame', 'alert_code', 'alpn_offered', 'client_cert_requested') \
         ORDER BY column_name"
    ));
    assert_eq!(
        types,
        "alert_code|INTEGER\nalpn_offered|VARCHAR[]\nclient_cert_requested|BOOLEAN\nclient_hello_frame|BIGINT\n\
         client_port|INTEGER\nhandshake_index|INTEGER\nts|TIMESTAMP WITH TIME ZONE"
    );
    let alert_types = duckdb(&format!(
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{a}') WHERE column_name IN ('frame', 'level', 'encrypted') ORDER BY 1"
    ));
    assert_eq!(
        alert_types,
        "encrypted|BOOLEAN\nframe|BIGINT\nlevel|INTEGER"
    );
    // The README's example queries run.
    duckdb(&format!(
        "SELECT alert_name, server_ip, count(*) FROM '{h}' WHERE outcome = 'failed' GROUP BY ALL ORDER BY 3 DESC"
    ));
    duckdb(&format!(
        "SELECT version, count(*) FROM '{h}' GROUP BY ALL ORDER BY 2 DESC"
    ));
    duckdb(&format!(
        "SELECT capture, sni, duration_us FROM '{h}' ORDER BY duration_us DESC NULLS LAST LIMIT 10"
    ));
}
