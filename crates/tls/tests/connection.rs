//! The connection state machine over literal record bytes: one test per outcome rule.

use tlscap_tls::{
    Alert, AlertCode, AlertLevel, At, Close, Connection, Handshake, Outcome, Role, Side, Sink,
};

#[derive(Default)]
struct Collected {
    alerts: Vec<Alert>,
    handshakes: Vec<Handshake>,
}

impl Sink for Collected {
    fn alert(&mut self, alert: &Alert) {
        self.alerts.push(alert.clone());
    }
    fn handshake(&mut self, handshake: Handshake) {
        self.handshakes.push(handshake);
    }
}

fn record(ctype: u8, version: u16, body: &[u8]) -> Vec<u8> {
    let mut r = vec![ctype];
    r.extend_from_slice(&version.to_be_bytes());
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

fn msg(t: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len();
    let mut m = vec![t, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    m.extend_from_slice(body);
    m
}

fn client_hello(sni: &str) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&[1; 32]);
    b.push(0);
    b.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f, 1, 0]);
    let name = sni.as_bytes();
    let mut ext = vec![0, 0];
    ext.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
    ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    ext.extend_from_slice(name);
    b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    b.extend_from_slice(&ext);
    record(22, 0x0301, &msg(1, &b))
}

fn server_hello(version: u16, suite: u16) -> Vec<u8> {
    let mut b = version.min(0x0303).to_be_bytes().to_vec();
    b.extend_from_slice(&[2; 32]);
    b.push(0);
    b.extend_from_slice(&suite.to_be_bytes());
    b.push(0);
    if version == 0x0304 {
        b.extend_from_slice(&[0, 6, 0, 43, 0, 2, 3, 4]);
    }
    record(22, 0x0303, &msg(2, &b))
}

fn ccs() -> Vec<u8> {
    record(20, 0x0303, &[1])
}

fn encrypted_handshake() -> Vec<u8> {
    record(22, 0x0303, &[0xab; 40])
}

fn app(len: usize) -> Vec<u8> {
    record(23, 0x0303, &vec![0xcd; len])
}

struct Wire {
    conn: Connection,
    out: Collected,
    frame: u64,
}

impl Wire {
    fn new() -> Wire {
        Wire {
            conn: Connection::new(Some(Side::A)),
            out: Collected::default(),
            frame: 0,
        }
    }
    fn send(&mut self, side: Side, bytes: &[u8]) -> u64 {
        self.frame += 1;
        let at = At {
            frame: self.frame,
            ts_ns: self.frame as i64 * 1000,
        };
        self.conn.on_data(side, bytes, at, &mut self.out);
        self.frame
    }
    fn close(&mut self, side: Side, kind: Close) {
        self.frame += 1;
        let at = At {
            frame: self.frame,
            ts_ns: 0,
        };
        self.conn.on_close(side, kind, at, &mut self.out);
    }
    fn finish(mut self) -> Collected {
        self.conn.finish(&mut self.out);
        self.out
    }
}

/// The seed case: the server's plaintext fatal bad_certificate after the client's flight.
#[test]
fn seed_alert_is_plaintext_fatal_bad_certificate_from_the_server() {
    let mut w = Wire::new();
    w.send(Side::A, &client_hello("iis.example"));
    let sh = w.send(Side::B, &server_hello(0x0301, 0x002f));
    let mut flight = record(22, 0x0301, &msg(11, &[0, 0, 0]));
    flight.extend_from_slice(&record(20, 0x0301, &[1]));
    flight.extend_from_slice(&record(22, 0x0301, &[0x55; 48]));
    w.send(Side::A, &flight);
    let alert = w.send(Side::B, &[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x2A]);
    let out = w.finish();
    assert_eq!(out.alerts.len(), 1);
    let a = &out.alerts[0];
    assert_eq!(a.at.frame, alert);
    assert_eq!(a.sender_role, Some(Role::Server));
    assert!(!a.encrypted);
    assert_eq!(a.level, Some(AlertLevel::FATAL));
    assert_eq!(a.code, Some(AlertCode::Tls(42)));
    assert_eq!(a.name(), Some("bad_certificate"));
    let h = &out.handshakes[0];
    assert_eq!(h.outcome, Outcome::Failed);
    assert_eq!(h.server_hello.as_ref().unwrap().0.frame, sh);
    assert_eq!(
        h.decided_by.as_ref().unwrap().code,
        Some(AlertCode::Tls(42))
    );
    assert_eq!(h.version.unwrap().name(), "TLS 1.0");
}

fn full_tls12(w: &mut Wire) {
    w.send(Side::A, &client_hello("a.example"));
    w.send(Side::B, &server_hello(0x0303, 0xc02f));
    w.send(Side::A, &[ccs(), encrypted_handshake()].concat());
    w.send(Side::B, &[ccs(), encrypted_handshake()].concat());
}

#[test]
fn tls12_both_finished_is_established_and_close_notify_does_not_change_it() {
    let mut w = Wire::new();
    full_tls12(&mut w);
    w.send(Side::A, &app(100));
    w.send(Side::A, &record(21, 0x0303, &[0x77; 26])); // encrypted close_notify
    w.close(Side::A, Close::Fin);
    let out = w.finish();
    assert_eq!(out.handshakes[0].outcome, Outcome::Established);
    assert!(out.alerts[0].encrypted);
    assert_eq!((out.alerts[0].level, out.alerts[0].code), (None, None));
    assert!(out.handshakes[0].decided_by.is_none());
}

#[test]
fn records_split_byte_by_byte_give_the_same_result() {
    let mut w = Wire::new();
    let stream = [client_hello("split.example"), ccs()].concat();
    for b in &stream {
        w.send(Side::A, std::slice::from_ref(b));
    }
    let out = w.finish();
    let (at, hello) = out.handshakes[0].client_hello.as_ref().unwrap();
    assert_eq!(hello.sni.as_deref(), Some("split.example"));
    // The frame that held the ClientHello's last byte.
    assert_eq!(at.frame, client_hello("split.example").len() as u64);
}

#[test]
fn encrypted_alert_in_mid_handshake_fails_it() {
    let mut w = Wire::new();
    w.send(Side::A, &client_hello("a.example"));
    w.send(Side::B, &server_hello(0x0303, 0xc02f));
    w.send(Side::A, &[ccs(), encrypted_handshake()].concat());
    w.send(Side::B, &[ccs(), record(21, 0x0303, &[0x11; 26])].concat());
    let out = w.finish();
    let h = &out.handshakes[0];
    assert_eq!(h.outcome, Outcome::Failed);
    let a = h.decided_by.as_ref().unwrap();
    assert!(a.encrypted && a.code.is_none() && a.sender == Side::B);
}

#[test]
fn warning_alert_then_completion_is_established() {
    let mut w = Wire::new();
    w.send(Side::A, &client_hello("unknown.example"));
    w.send(
        Side::B,
        &[server_hello(0x0303, 0xc02f), record(21, 0x0303, &[1, 112])].concat(),
    );
    w.send(Side::A, &[ccs(), encrypted_handshake()].concat());
    w.send(Side::B, &[ccs(), encrypted_handshake()].concat());
    let out = w.finish();
    assert_eq!(out.alerts[0].code, Some(AlertCode::Tls(112)));
    assert_eq!(out.alerts[0].level, Some(AlertLevel::WARNING));
    assert_eq!(out.handshakes[0].outcome, Outcome::Established);
}

#[test]
fn reset_before_finished_fails_and_capture_end_is_incomplete() {
    let mut w = Wire::new();
    w.send(Side::A, &client_hello("a.example"));
    w.close(Side::B, Close::Rst);
    let out = w.finish();
    let h = &out.handshakes[0];
    assert_eq!(h.outcome, Outcome::Failed);
    assert_eq!(h.closed.map(|c| (c.0, c.1)), Some((Side::B, Close::Rst)));
    assert!(tlscap_tls::diagnosis::cause(h)
        .unwrap()
        .contains("server reset the connection"));

    let mut w = Wire::new();
    w.send(Side::A, &client_hello("a.example"));
    w.send(Side::B, &server_hello(0x0303, 0xc02f));
    assert_eq!(w.finish().handshakes[0].outcome, Outcome::Incomplete);
}

#[test]
fn tls13_needs_the_server_to_speak_after_the_client_finished() {
    // Encrypted records both ways, but nothing from the server after the client's flight.
    let mut w = Wire::new();
    w.send(Side::A, &client_hello("a.example"));
    w.send(
        Side::B,
        &[server_hello(0x0304, 0x1301), ccs(), app(2000)].concat(),
    );
    w.send(Side::A, &[ccs(), app(53)].concat());
    assert_eq!(w.finish().handshakes[0].outcome, Outcome::Incomplete);

    // A session ticket (any record but an alert-sized one) after the client's Finished.
    let mut w = Wire::new();
    w.send(Side::A, &client_hello("a.example"));
    w.send(Side::B, &[server_hello(0x0304, 0x1301), app(2000)].concat());
    w.send(Side::A, &app(53));
    w.send(Side::B, &app(250));
    assert_eq!(w.finish().handshakes[0].outcome, Outcome::Established);
}

#[test]
fn tls13_alert_sized_record_then_close_is_an_inferred_alert() {
    let mut w = Wire::new();
    w.send(Side::A, &client_hello("a.example"));
    w.send(Side::B, &[server_hello(0x0304, 0x1301), app(2000)].concat());
    w.send(Side::A, &app(600)); // Certificate, CertificateVerify, Finished
    let f = w.send(Side::B, &app(19)); // 2-byte alert + content type + 16-byte tag
    w.close(Side::B, Close::Fin);
    let out = w.finish();
    let h = &out.handshakes[0];
    assert_eq!(h.outcome, Outcome::Failed);
    let a = h.decided_by.as_ref().unwrap();
    assert!(a.inferred && a.encrypted && a.code.is_none());
    assert_eq!((a.at.frame, a.sender), (f, Side::B));
    assert_eq!(out.alerts.len(), 1);
}

#[test]
fn tls13_plaintext_alert_after_compat_ccs_is_plaintext() {
    let mut w = Wire::new();
    w.send(Side::A, &client_hello("a.example"));
    w.send(Side::B, &[server_hello(0x0304, 0x1301), ccs()].concat());
    w.send(Side::A, &[ccs(), record(21, 0x0303, &[2, 47])].concat());
    let out = w.finish();
    assert!(!out.alerts[0].encrypted);
    assert_eq!(out.alerts[0].code, Some(AlertCode::Tls(47)));
}

#[test]
fn encrypted_renegotiation_is_a_second_handshake() {
    let mut w = Wire::new();
    full_tls12(&mut w);
    w.send(Side::A, &app(80));
    let start = w.send(Side::A, &encrypted_handshake()); // encrypted ClientHello
    w.send(Side::B, &encrypted_handshake());
    w.send(Side::A, &[ccs(), encrypted_handshake()].concat());
    w.send(Side::B, &[ccs(), encrypted_handshake()].concat());
    let out = w.finish();
    assert_eq!(out.handshakes.len(), 2);
    let r = &out.handshakes[1];
    assert_eq!(r.index, 1);
    assert_eq!(r.renegotiation.map(|x| x.name()), Some("encrypted"));
    assert_eq!(r.initiator, Some(Side::A));
    assert_eq!(r.started.frame, start);
    assert_eq!(r.outcome, Outcome::Established);
    assert_eq!(out.handshakes[0].outcome, Outcome::Established);
}

#[test]
fn sslv2_error_is_a_fatal_alert() {
    let mut w = Wire::new();
    // SSLv2 CLIENT-HELLO (SSL 2.0), then the server's SSLv2 ERROR no-cipher.
    let mut ch = vec![1, 0, 2, 0, 3, 0, 0, 0, 16, 0x01, 0x00, 0x80];
    ch.extend_from_slice(&[9; 16]);
    let mut rec = vec![0x80, ch.len() as u8];
    rec.extend_from_slice(&ch);
    w.send(Side::A, &rec);
    w.send(Side::B, &[0x80, 3, 0, 0, 1]);
    let out = w.finish();
    assert_eq!(out.alerts[0].code, Some(AlertCode::Ssl2(1)));
    assert_eq!(out.alerts[0].name(), Some("ssl2_no_cipher_error"));
    assert_eq!(out.handshakes[0].outcome, Outcome::Failed);
    assert_eq!(
        out.handshakes[0]
            .client_hello
            .as_ref()
            .unwrap()
            .1
            .format
            .name(),
        "sslv2"
    );
}

#[test]
fn not_tls_is_given_up_and_garbage_never_panics() {
    let mut w = Wire::new();
    for _ in 0..100 {
        w.send(Side::A, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        w.send(Side::B, b"HTTP/1.1 200 OK\r\n\r\n");
    }
    assert!(!w.conn.wants_data());
    let out = w.finish();
    assert!(out.handshakes.is_empty() && out.alerts.is_empty());

    let mut x: u32 = 12345;
    for _ in 0..2000 {
        let mut w = Wire::new();
        let mut bytes = client_hello("fuzz.example");
        for _ in 0..8 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let i = (x >> 8) as usize % bytes.len();
            bytes[i] = (x >> 16) as u8;
        }
        w.send(Side::A, &bytes);
        w.send(Side::B, &bytes);
        w.finish();
    }
}

/// CESNET FlowTest tls13.pcap: the client sends Finished, its request and a close_notify, and
/// half-closes; the server then answers with session tickets. Not an abort.
#[test]
fn tls13_client_close_notify_after_its_finished_is_not_an_alert() {
    let mut w = Wire::new();
    w.send(Side::A, &client_hello("a.example"));
    w.send(
        Side::B,
        &[server_hello(0x0304, 0x1301), ccs(), app(1000)].concat(),
    );
    w.send(Side::A, &[ccs(), app(69)].concat());
    w.send(Side::A, &[app(29), app(19)].concat());
    w.close(Side::A, Close::Fin);
    w.send(Side::B, &app(250));
    let out = w.finish();
    assert!(out.alerts.is_empty());
    assert_eq!(out.handshakes[0].outcome, Outcome::Established);
}

#[test]
fn tls13_client_alert_in_place_of_its_finished_is_inferred() {
    let mut w = Wire::new();
    w.send(Side::A, &client_hello("a.example"));
    w.send(
        Side::B,
        &[server_hello(0x0304, 0x1301), ccs(), app(3000)].concat(),
    );
    let f = w.send(Side::A, &[ccs(), app(19)].concat());
    w.close(Side::A, Close::Fin);
    let out = w.finish();
    let h = &out.handshakes[0];
    assert_eq!(h.outcome, Outcome::Failed);
    let a = h.decided_by.as_ref().unwrap();
    assert!(a.inferred);
    assert_eq!((a.sender, a.at.frame), (Side::A, f));
}

/// Found by the tls_stream fuzz target (fuzz/regressions/tls_stream-sslv2-stash-header-underflow.bin):
/// an SSLv2 hello whose first segment is shorter than a TLS record header. The bytes held while
/// probing were taken for a 5-byte header, longer than SSLv2's 2-byte one.
#[test]
fn sslv2_hello_in_tiny_segments() {
    let mut ch = vec![1, 3, 1, 0, 3, 0, 0, 0, 16, 0x00, 0x00, 0x2f];
    ch.extend_from_slice(&[9; 16]);
    let mut rec = vec![0x80, ch.len() as u8];
    rec.extend_from_slice(&ch);
    for split in 1..5 {
        let mut w = Wire::new();
        w.send(Side::A, &rec[..split]);
        w.send(Side::A, &rec[split..]);
        let out = w.finish();
        let hello = &out.handshakes[0].client_hello.as_ref().unwrap().1;
        assert_eq!(hello.format.name(), "sslv2", "split at {split}");
        assert_eq!(hello.cipher_suites, [0x2f], "split at {split}");
    }
}

/// Real stacks (tests/realstack, tls13_client_cert_rejected): the server's encrypted alert, then
/// the client's FIN before the server's. Each side's close is judged, in either order.
#[test]
fn tls13_server_alert_then_client_closes_first() {
    let mut w = Wire::new();
    w.send(Side::A, &client_hello("a.example"));
    w.send(Side::B, &[server_hello(0x0304, 0x1301), app(2000)].concat());
    w.send(Side::A, &app(600));
    let f = w.send(Side::B, &app(19));
    w.close(Side::A, Close::Fin);
    w.close(Side::B, Close::Fin);
    let out = w.finish();
    let h = &out.handshakes[0];
    assert_eq!(h.outcome, Outcome::Failed);
    let a = h.decided_by.as_ref().unwrap();
    assert!(a.inferred);
    assert_eq!((a.sender, a.at.frame), (Side::B, f));
    // The row's close is still the first one: the client's.
    assert_eq!(h.closed.map(|c| c.0), Some(Side::A));
}

/// Memory: a record split across segments is buffered only until it completes; the handshake's
/// lists are counted once parsed; application data costs nothing.
#[test]
fn heap_bytes_count_buffers_while_they_are_used_and_the_handshake() {
    let mut w = Wire::new();
    assert_eq!(w.conn.heap_bytes(), 0);
    let hello = client_hello("buffers.example");
    let (head, tail) = hello.split_at(20);
    w.send(Side::A, head);
    let partial = w.conn.heap_bytes();
    // The record's first 15 body bytes, behind its 5-byte header.
    assert!(partial >= head.len() - 5, "{partial} bytes while split");
    w.send(Side::A, tail);
    let parsed = w.conn.heap_bytes();
    // The record buffer is gone; the handshake (boxed) and its hello lists remain.
    assert!(parsed >= std::mem::size_of::<Handshake>() + "buffers.example".len());
    w.send(Side::B, &server_hello(0x0303, 0xc02f));
    w.send(Side::A, &ccs());
    w.send(Side::B, &ccs());
    let established = w.conn.heap_bytes();
    for _ in 0..10 {
        w.send(Side::A, &app(1000));
    }
    assert_eq!(w.conn.heap_bytes(), established);
    let out = w.finish();
    assert_eq!(out.handshakes.len(), 1);
}
