//! Connections where one side does not speak TLS: plain HTTP sent to a TLS port (a row with
//! outcome `not_tls`), and a ClientHello sent to a plaintext HTTP server (a failed handshake
//! whose cause says so).

mod common;

use common::{client_hello_record, tcp_pcap};
use tlscap::{scan_to_rows, ScanOptions};

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n";
const NGINX_400: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\n\r\nThe plain HTTP request was sent to HTTPS port";

fn rows(pcap: &[u8]) -> tlscap::CaptureRows {
    scan_to_rows(pcap, "t.pcap", ScanOptions::default())
}

fn conversation<'a>(client: &'a [u8], server: &'a [u8]) -> Vec<(bool, &'static str, &'a [u8])> {
    vec![
        (true, "S", &[][..]),
        (false, "SA", &[][..]),
        (true, "A", &[][..]),
        (true, "PA", client),
        (false, "PA", server),
        (false, "FA", &[][..]),
        (true, "FA", &[][..]),
    ]
}

#[test]
fn plain_http_to_a_tls_port_is_reported_as_not_tls() {
    let r = rows(&tcp_pcap(443, &conversation(GET, NGINX_400)));
    assert_eq!(r.handshakes.len(), 1);
    let h = &r.handshakes[0];
    assert_eq!(h.outcome, "not_tls");
    assert_eq!((h.client_port, h.server_port), (Some(50000), Some(443)));
    assert_eq!(
        (h.client_stage, h.server_stage),
        (
            Some("plaintext HTTP request"),
            Some("plaintext HTTP response")
        )
    );
    assert_eq!(
        h.cause.as_deref(),
        Some(
            "plain HTTP sent to a TLS port (443): the client never started a TLS handshake; \
             the server answered with plaintext HTTP response"
        )
    );
    assert!(h.syn_seen && h.client_hello_frame.is_none());
    assert_eq!(r.file.handshakes, 1);
}

#[test]
fn plain_http_elsewhere_is_no_row() {
    // Port 8080 is no TLS port; and a connection with no HTTP request is not reported either.
    assert!(rows(&tcp_pcap(8080, &conversation(GET, NGINX_400)))
        .handshakes
        .is_empty());
    assert!(rows(&tcp_pcap(443, &conversation(b"SSH-2.0-x\r\n", b"")))
        .handshakes
        .is_empty());
}

#[test]
fn client_hello_to_an_http_server() {
    let hello = client_hello_record();
    let r = rows(&tcp_pcap(80, &conversation(&hello, NGINX_400)));
    assert_eq!(r.handshakes.len(), 1);
    let h = &r.handshakes[0];
    assert_eq!(h.outcome, "failed");
    assert_eq!(h.sni.as_deref(), Some("example.test"));
    assert_eq!(h.server_stage, Some("plaintext HTTP response"));
    assert_eq!(
        h.cause.as_deref(),
        Some(
            "the server does not speak TLS on this port: it answered the ClientHello with a \
             plaintext HTTP response"
        )
    );
}
