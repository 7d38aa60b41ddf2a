//! A connection's rows say which limit cut what it could tell (`limits`), and the caps on what
//! one connection keeps for its rows hold: a renegotiation storm, an alert flood.

mod common;

use common::{client_hello_record, server_hello_record, tcp_pcap};
use tlscap::rows::{MAX_ALERTS_KEPT, MAX_HANDSHAKES_KEPT};
use tlscap::{scan_to_rows, ScanOptions};

fn scan(pcap: &[u8]) -> tlscap::CaptureRows {
    scan_to_rows(
        pcap,
        "limits.pcap",
        ScanOptions {
            shards: 2,
            ..ScanOptions::default()
        },
    )
}

#[test]
fn an_alert_flood_keeps_the_first_alerts_and_says_so() {
    // CVE-2016-8610 ("SSL Death Alert") style: plaintext warning alerts, many per segment.
    let warning = [21u8, 3, 3, 0, 2, 1, 100]; // warning no_renegotiation
    let flood: Vec<u8> = warning.repeat(300);
    let hello = client_hello_record();
    let server_hello = server_hello_record();
    let pcap = tcp_pcap(
        443,
        &[
            (true, "S", &[]),
            (false, "SA", &[]),
            (true, "A", &[]),
            (true, "PA", &hello),
            (false, "PA", &server_hello),
            (false, "PA", &flood),
        ],
    );
    let rows = scan(&pcap);
    assert_eq!(rows.alerts.len(), MAX_ALERTS_KEPT);
    assert_eq!(rows.handshakes.len(), 1);
    assert_eq!(rows.handshakes[0].limits, ["alerts per connection"]);
}

#[test]
fn a_client_hello_storm_keeps_the_first_handshakes_and_says_so() {
    let storm: Vec<u8> = client_hello_record().repeat(40);
    let pcap = tcp_pcap(
        443,
        &[
            (true, "S", &[]),
            (false, "SA", &[]),
            (true, "A", &[]),
            (true, "PA", &storm),
        ],
    );
    let rows = scan(&pcap);
    assert_eq!(rows.handshakes.len(), MAX_HANDSHAKES_KEPT);
    assert!(rows
        .handshakes
        .iter()
        .all(|h| h.limits == ["handshakes per connection"]));
    let indexes: Vec<u32> = rows.handshakes.iter().map(|h| h.handshake_index).collect();
    assert_eq!(indexes, (0..MAX_HANDSHAKES_KEPT as u32).collect::<Vec<_>>());
}

#[test]
fn a_connection_within_every_limit_lists_none() {
    let hello = client_hello_record();
    let server_hello = server_hello_record();
    let pcap = tcp_pcap(
        443,
        &[
            (true, "S", &[]),
            (false, "SA", &[]),
            (true, "A", &[]),
            (true, "PA", &hello),
            (false, "PA", &server_hello),
            (true, "FA", &[]),
            (false, "FA", &[]),
        ],
    );
    let rows = scan(&pcap);
    assert_eq!(rows.handshakes.len(), 1);
    assert!(rows.handshakes[0].limits.is_empty());
    assert_eq!(
        (
            rows.file.evicted_idle,
            rows.file.evicted_table_full,
            rows.file.evicted_memory_budget
        ),
        (0, 0, 0)
    );
}
