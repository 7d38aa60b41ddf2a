//! The glue between transport and TLS: a [`StreamHandler`] that feeds each connection's streams
//! to a `tls::Connection` and turns its results into output rows.

use std::mem::take;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use crossbeam_channel::Sender;
use std::collections::HashMap;
use tlscap_flows::{CloseKind, Endpoint, FlowInfo, PacketMeta, Side as FlowSide, StreamHandler};
use tlscap_output::{
    handshake_batch, AlertRow, CertificateRow, GroupEncoders, HandshakeRow, RecordBatch,
    SharedEncoders,
};
use tlscap_tls::carrier::Plaintext;
use tlscap_tls::fingerprint::hex;
use tlscap_tls::messages::ServerKex;
use tlscap_tls::messages::{ext, SCSV_RENEGOTIATION};
use tlscap_tls::x509::{parse_certificate_info, CertificateInfo};
use tlscap_tls::{
    der, diagnosis, fingerprint, Alert, At, CertSummary, Close, Connection, Handshake, Role, Side,
    Sink, Version,
};

use crate::scan::{Rows, Sink as RowSink};
use crate::summary::Summary;

/// Handshakes kept per connection for their rows: a renegotiation storm keeps the first ones.
pub const MAX_HANDSHAKES_KEPT: usize = 32;
/// Alerts kept per connection for their rows: a flood of warning alerts keeps the first ones.
pub const MAX_ALERTS_KEPT: usize = 256;

/// Per-connection state: the TLS analysis and its results, held until the connection ends so
/// that rows carry the final client/server orientation and capture-quality figures. Bounded:
/// at most [`MAX_HANDSHAKES_KEPT`] handshakes and [`MAX_ALERTS_KEPT`] alerts are kept.
pub struct ConnState {
    tls: Connection,
    results: Results,
}

/// The results kept for a connection's rows, and what the caps dropped.
#[derive(Default)]
struct Results {
    alerts: Vec<Alert>,
    handshakes: Vec<Handshake>,
    /// Heap bytes of the kept handshakes' lists and certificates.
    handshake_heap: usize,
    dropped_handshakes: bool,
    dropped_alerts: bool,
}

impl Results {
    fn heap_bytes(&self) -> usize {
        self.alerts.capacity() * std::mem::size_of::<Alert>()
            + self.handshakes.capacity() * std::mem::size_of::<Handshake>()
            + self.handshake_heap
    }

    /// The row caps this connection hit (the `limits` column's names).
    fn limits(&self) -> impl Iterator<Item = &'static str> {
        let handshakes = self
            .dropped_handshakes
            .then_some("handshakes per connection");
        let alerts = self.dropped_alerts.then_some("alerts per connection");
        handshakes.into_iter().chain(alerts)
    }
}

impl Sink for Results {
    fn alert(&mut self, alert: &Alert) {
        if self.alerts.len() < MAX_ALERTS_KEPT {
            self.alerts.push(alert.clone());
        } else {
            self.dropped_alerts = true;
        }
    }
    fn handshake(&mut self, handshake: Handshake) {
        if self.handshakes.len() < MAX_HANDSHAKES_KEPT {
            self.handshake_heap += handshake.heap_bytes();
            self.handshakes.push(handshake);
        } else {
            self.dropped_handshakes = true;
        }
    }
}

fn side(s: FlowSide) -> Side {
    match s {
        FlowSide::A => Side::A,
        FlowSide::B => Side::B,
    }
}

fn at(m: PacketMeta) -> At {
    At {
        frame: m.frame,
        ts_ns: m.ts_ns,
    }
}

fn us(ns: i64) -> i64 {
    ns.div_euclid(1000)
}

/// Rows per message to the writer. Rows are gathered in vectors of this capacity, never
/// grown: a shard's vector of a window's rows used to grow by doubling, and each doubling
/// copied every handshake row gathered so far (1.4 KB each) into fresh memory, taken from the
/// kernel page by page. On a capture of 200,000 short connections that was a quarter of the
/// time spent making rows.
const ROWS_PER_MESSAGE: usize = 64;

/// Rows waiting to be sent, in messages of at most [`ROWS_PER_MESSAGE`].
struct Outbox<R> {
    messages: Vec<Vec<R>>,
    /// Rows put in so far.
    rows: u64,
}

impl<R> Default for Outbox<R> {
    fn default() -> Self {
        Outbox {
            messages: Vec::new(),
            rows: 0,
        }
    }
}

impl<R> Outbox<R> {
    fn push(&mut self, row: R) {
        self.rows += 1;
        match self.messages.last_mut() {
            Some(m) if m.len() < ROWS_PER_MESSAGE => m.push(row),
            _ => {
                let mut m = Vec::with_capacity(ROWS_PER_MESSAGE);
                m.push(row);
                self.messages.push(m);
            }
        }
    }

    fn send(&mut self, tx: &Sender<Rows>, message: fn(Vec<R>) -> Rows) {
        for m in self.messages.drain(..) {
            let _ = tx.send(message(m));
        }
    }
}

/// Handshake rows a shard makes into one batch for encoding (see
/// [`Sink::encoders`](crate::scan::Sink)): large enough that a batch's fixed cost per column is
/// small against its rows, small enough that a shard holds little (~700 KB) waiting for it.
const ROWS_PER_BATCH: usize = 512;

/// Fewest handshake rows a shard has encoded at its capture's end: fewer go to the writer as
/// rows, to be gathered with other captures'. Encoded, a capture of a few handshakes made a
/// batch of its own, and a batch costs a fixed amount per column (a directory of 1,000 small
/// captures took 0.28 s instead of 0.06); all sent as rows, the last rows of a large capture
/// were encoded by one writer at the end, while the other workers waited (~8 ms of the bench
/// tile's 0.24 s at two threads).
const MIN_ROWS_ENCODED_AT_END: usize = ROWS_PER_BATCH / 4;

/// A shard's handshake rows on their way to Parquet row groups. Every [`ROWS_PER_BATCH`] rows
/// become an Arrow record batch in the shard's own task, where the rows are dropped; each batch
/// is then encoded and compressed by a pool task of its own ([`encode_batch`]; at once when
/// others wait, see `tlscap::run`), into a row group open in the table's
/// [`GroupEncoders`](tlscap_output::GroupEncoders), which keeps it open for the next batch.
/// So the Parquet encoding runs in parallel, and the writer only appends finished row groups;
/// and it is not part of the shard's task, which its window waits for: encoded there (~5 ms a
/// batch of the bench tile's rows), it held the window while the other worker, done, had
/// nothing to do.
struct Encoding {
    encoders: SharedEncoders,
    /// Rows waiting for a full batch.
    waiting: Vec<HandshakeRow>,
    /// Batches made, to be encoded.
    batches: Vec<RecordBatch>,
    /// What the terminal summary needs of the rows in those batches, not yet reported.
    summary: Option<Summary>,
}

impl Encoding {
    /// Makes the rows waiting into a batch.
    fn batch_waiting(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        self.summary
            .get_or_insert_with(Summary::default)
            .handshakes(&self.waiting);
        self.batches.push(handshake_batch(&self.waiting));
        self.waiting.clear();
    }

    /// Has the batches made encoded, each by a pool task of its own, and reports their rows to
    /// the summary.
    fn send(&mut self, out: RowSink<'_>) {
        for batch in self.batches.drain(..) {
            let encoders = self.encoders.clone();
            let tx = out.tx.clone();
            (out.spawn)(Box::new(move || encode_batch(&encoders, batch, &tx)));
        }
        if let Some(s) = self.summary.take() {
            let _ = out.tx.send(Rows::HandshakeSummary(s));
        }
    }
}

/// Encodes `batch` into a row group open in `encoders` (or leaves it to a job encoding there,
/// see [`GroupEncoders::encode`]), and sends each group that fills to the writer, finished.
/// An error, or a panic, fails the run: the batch's rows, and those of the group, are lost.
///
/// Run as a job of its own, or in the shard's task when jobs wait already. There the shard's
/// table is locked, and its window's segment groups are locked for reading. While the encoding
/// waits for a column another worker took, this thread may run another pool task; none needs
/// what is locked: the shard's next run is spawned once this one ends, other shards' runs only
/// read the groups, and no group of a window is written (read into) before every shard is done
/// with it (see `Pipeline`). The shard's next window waits for that task, which is what the
/// columns shared with an idle worker cost there.
fn encode_batch(encoders: &GroupEncoders, batch: RecordBatch, tx: &Sender<Rows>) {
    let encoded = std::panic::catch_unwind(AssertUnwindSafe(|| {
        encoders.encode(batch, &mut |group| {
            let _ = tx.send(Rows::HandshakeGroup(group));
        })
    }));
    let failed = match encoded {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e,
        Err(_) => encoders.panicked(),
    };
    let _ = tx.send(Rows::Failed(failed));
}

/// Rows of one shard, sent to the writer after each window.
pub struct TlsHandler {
    capture: Arc<str>,
    /// Handshake rows on their way to Parquet row groups, when the sink has encoders.
    encoding: Option<Encoding>,
    handshakes: Outbox<HandshakeRow>,
    alerts: Outbox<AlertRow>,
    certificates: Outbox<CertificateRow>,
    /// Certificates this shard has read, by fingerprint and role, and whether each parsed: each
    /// is read once per role, however many handshakes carry it. The writer keeps one row per
    /// fingerprint, the least (capture, role): every role must reach it for that choice to be
    /// the same however connections are spread over shards.
    certs_read: HashMap<([u8; 32], &'static str), bool>,
    /// Handshake rows made so far, sent or not, encoded or not.
    handshakes_made: u64,
}

impl TlsHandler {
    /// `encoders`: handshake rows are encoded into row groups with these (see
    /// [`crate::scan::Sink::encoders`]); without, they leave as rows.
    pub fn new(capture: Arc<str>, encoders: Option<SharedEncoders>) -> Self {
        TlsHandler {
            capture,
            encoding: encoders.map(|encoders| Encoding {
                encoders,
                waiting: Vec::with_capacity(ROWS_PER_BATCH),
                batches: Vec::new(),
                summary: None,
            }),
            handshakes: Outbox::default(),
            alerts: Outbox::default(),
            certificates: Outbox::default(),
            certs_read: HashMap::new(),
            handshakes_made: 0,
        }
    }

    /// Handshake rows made so far, sent or not.
    pub fn handshakes_emitted(&self) -> u64 {
        self.handshakes_made
    }

    /// Alert rows made so far, sent or not.
    pub fn alerts_emitted(&self) -> u64 {
        self.alerts.rows
    }

    /// Reads each certificate of `chain` not read before into a certificates row; false when
    /// one of them is malformed.
    fn read_chain(&mut self, chain: &[CertSummary], seen_as: &'static str) -> bool {
        let mut all_ok = true;
        for cert in chain {
            let ok = *self
                .certs_read
                .entry((cert.sha256, seen_as))
                .or_insert_with(|| {
                    let info = parse_certificate_info(&cert.der);
                    let ok = info.error.is_none();
                    self.certificates
                        .push(certificate_row(&self.capture, cert, seen_as, info));
                    ok
                });
            all_ok &= ok;
        }
        all_ok
    }

    /// Sends the rows gathered so far to the writer, and has the handshake batches made
    /// encoded.
    pub fn send(&mut self, out: RowSink<'_>) {
        if let Some(e) = &mut self.encoding {
            e.send(out);
        }
        self.handshakes.send(out.tx, Rows::Handshakes);
        self.alerts.send(out.tx, Rows::Alerts);
        self.certificates.send(out.tx, Rows::Certificates);
    }

    /// Sends every row: the capture's end. Handshake rows short of a batch are encoded when
    /// there are enough of them (`MIN_ROWS_ENCODED_AT_END`); otherwise they go as rows, for
    /// the writer to gather with other captures'.
    pub fn send_last(&mut self, out: RowSink<'_>) {
        if let Some(e) = &mut self.encoding {
            if e.waiting.len() >= MIN_ROWS_ENCODED_AT_END {
                e.batch_waiting();
            }
            for row in e.waiting.drain(..) {
                self.handshakes.push(row);
            }
        }
        self.send(out);
    }

    fn push_handshake(&mut self, row: HandshakeRow) {
        self.handshakes_made += 1;
        match &mut self.encoding {
            Some(e) => {
                e.waiting.push(row);
                if e.waiting.len() >= ROWS_PER_BATCH {
                    e.batch_waiting();
                }
            }
            None => self.handshakes.push(row),
        }
    }
}

/// The fields every row of a connection shares: where it ran and how well it was captured.
fn connection_row(
    capture: &Arc<str>,
    client: Side,
    (cep, sep): (Endpoint, Endpoint),
    info: &FlowInfo,
    results: &Results,
) -> HandshakeRow {
    let (ci, si) = (client as usize, client.other() as usize);
    HandshakeRow {
        capture: capture.clone(),
        client_ip: Some(cep.ip),
        client_port: Some(cep.port),
        server_ip: Some(sep.ip),
        server_port: Some(sep.port),
        vlan: info.vlan,
        tunnel: info.tunnel.map(|t| t.kind.name()),
        tunnel_src: info.tunnel.map(|t| t.outer_src),
        tunnel_dst: info.tunnel.map(|t| t.outer_dst),
        tunnel_id: info.tunnel.and_then(|t| t.id),
        syn_seen: info.syn_from.is_some(),
        client_missing_bytes: info.stats[ci].missing_bytes,
        server_missing_bytes: info.stats[si].missing_bytes,
        retransmissions: info.stats[0].retransmitted + info.stats[1].retransmitted,
        out_of_order: info.stats[0].out_of_order + info.stats[1].out_of_order,
        truncated_packets: info.stats[0].truncated + info.stats[1].truncated,
        limits: info.limits.names().chain(results.limits()).collect(),
        ..HandshakeRow::default()
    }
}

/// A side's plaintext handshake messages in order, the hellos (which the connection keeps
/// apart) first.
fn message_names(hs: &Handshake, role: Role) -> Vec<&'static str> {
    let mut names = Vec::new();
    match role {
        Role::Client => {
            names.extend(hs.client_hello.as_ref().map(|_| "ClientHello"));
            names.extend(hs.retry_client_hello.map(|_| "ClientHello"));
        }
        Role::Server => {
            names.extend(hs.hello_retry.map(|_| "HelloRetryRequest"));
            names.extend(hs.server_hello.as_ref().map(|_| "ServerHello"));
        }
    }
    let listed = hs.progress_of(role).map_or(&[][..], |p| &p.messages[..]);
    names.extend(
        listed
            .iter()
            .map(|t| t.name().unwrap_or("unknown handshake message")),
    );
    names
}

/// Ports where a client expects TLS from the first byte (IANA's "over TLS" services and the
/// usual alternates).
const TLS_PORTS: [u16; 20] = [
    443, 465, 563, 636, 853, 989, 990, 992, 993, 994, 995, 3269, 4433, 5061, 5223, 5986, 6697,
    8443, 8883, 9443,
];

/// A connection to a TLS port that carried no TLS at all, because its client spoke plain HTTP:
/// a row of its own (`outcome` = `not_tls`), since no handshake ever started.
fn not_tls_row(capture: &Arc<str>, c: &ConnState, info: &FlowInfo) -> Option<HandshakeRow> {
    let tls = &c.tls;
    if tls.is_tls() {
        return None;
    }
    let http_client = [Side::A, Side::B]
        .into_iter()
        .find(|&s| tls.first_plaintext(s) == Some(Plaintext::HttpRequest));
    let client = info.syn_from.map(side).or(http_client)?;
    let (client, cep, sep) = orient(Some(client), info);
    let client_spoke = tls.first_plaintext(client)?;
    if client_spoke != Plaintext::HttpRequest || !TLS_PORTS.contains(&sep.port) {
        return None;
    }
    let server_spoke = tls.first_plaintext(client.other());
    Some(HandshakeRow {
        ts_us: us(info.first.ts_ns),
        outcome: "not_tls",
        cause: Some(format!(
            "plain HTTP sent to a TLS port ({}): the client never started a TLS handshake{}",
            sep.port,
            match server_spoke {
                Some(p) => format!("; the server answered with {}", p.stage()),
                None => String::new(),
            }
        )),
        client_stage: Some(client_spoke.stage()),
        server_stage: server_spoke.map(Plaintext::stage),
        ..connection_row(capture, client, (cep, sep), info, &c.results)
    })
}

fn certificate_row(
    capture: &Arc<str>,
    cert: &CertSummary,
    seen_as: &'static str,
    info: CertificateInfo,
) -> CertificateRow {
    let parsed = info.subject.is_some();
    CertificateRow {
        sha256: hex(&cert.sha256),
        capture: capture.clone(),
        seen_as,
        length: cert.der.len() as u32,
        subject: info.subject,
        issuer: info.issuer,
        serial: info.serial,
        not_before_s: info.not_before,
        not_after_s: info.not_after,
        sans: info.sans,
        key_type: info.key_type,
        key_bits: info.key_bits,
        key_curve: info.key_curve,
        signature_algorithm: info.signature_algorithm,
        key_usage: info.key_usage,
        extended_key_usage: info.extended_key_usage,
        is_ca: info.is_ca,
        path_len: info.path_len,
        self_signed: parsed.then_some(info.self_signed),
        error: info.error,
    }
}

/// `client` or `server`, for the side `s` of a connection whose client is `client`.
fn role_name(client: Side, s: Side) -> &'static str {
    if s == client {
        "client"
    } else {
        "server"
    }
}

/// Client and server endpoints: from the TLS hellos, else the SYN, else the higher port is
/// taken as the client's (ephemeral ports are high).
fn orient(client: Option<Side>, info: &FlowInfo) -> (Side, Endpoint, Endpoint) {
    let by_port = if info.a.port >= info.b.port {
        Side::A
    } else {
        Side::B
    };
    let client = client.unwrap_or(by_port);
    match client {
        Side::A => (client, info.a, info.b),
        Side::B => (client, info.b, info.a),
    }
}

fn endpoint(e: Endpoint) -> (Option<IpAddr>, Option<u16>) {
    (Some(e.ip), Some(e.port))
}

impl StreamHandler for TlsHandler {
    type Conn = ConnState;

    fn open(&mut self, info: &FlowInfo) -> ConnState {
        ConnState {
            tls: Connection::new(info.syn_from.map(side)),
            results: Results::default(),
        }
    }

    fn data(&mut self, c: &mut ConnState, s: FlowSide, data: &[u8], m: PacketMeta) {
        c.tls.on_data(side(s), data, at(m), &mut c.results);
    }

    fn blind_bytes(&self, c: &ConnState, s: FlowSide) -> u64 {
        c.tls.blind_bytes(side(s))
    }

    fn skipped(&mut self, c: &mut ConnState, s: FlowSide, n: u64) {
        c.tls.skip_blind(side(s), n);
    }

    fn gap(&mut self, c: &mut ConnState, s: FlowSide, missing: u64) {
        c.tls.on_gap(side(s), missing);
    }

    fn close(&mut self, c: &mut ConnState, s: FlowSide, kind: CloseKind, m: PacketMeta) {
        let kind = match kind {
            CloseKind::Fin => Close::Fin,
            CloseKind::Rst => Close::Rst,
        };
        c.tls.on_close(side(s), kind, at(m), &mut c.results);
    }

    fn finish(&mut self, mut c: ConnState, info: &FlowInfo) {
        c.tls.finish(&mut c.results);
        if c.results.handshakes.is_empty() && c.results.alerts.is_empty() {
            if let Some(row) = not_tls_row(&self.capture, &c, info) {
                self.push_handshake(row);
            }
            return;
        }
        let (client, cep, sep) = orient(c.tls.client(), info);
        let role = |s: Side| role_name(client, s);
        let (client_ip, client_port) = endpoint(cep);
        let (server_ip, server_port) = endpoint(sep);
        for a in &c.results.alerts {
            let hs = c
                .results
                .handshakes
                .iter()
                .find(|h| Some(h.index) == a.handshake_index);
            let reading = diagnosis::read_encrypted_alert(a, hs);
            self.alerts.push(AlertRow {
                capture: self.capture.clone(),
                frame: a.at.frame,
                ts_us: us(a.at.ts_ns),
                sender: Some(role(a.sender)),
                client_ip,
                client_port,
                server_ip,
                server_port,
                handshake_index: a.handshake_index,
                record_version: a.record_version.name(),
                record_length: a.record_length,
                encrypted: a.encrypted,
                inferred: a.inferred,
                size_matches: reading.size_matches,
                likely: reading.likely,
                level: a.level.map(|l| l.0),
                code: a.code.map(|c| c.value()),
                name: a.name(),
            });
        }
        let handshakes = std::mem::take(&mut c.results.handshakes);
        for mut hs in handshakes {
            hs.client = Some(client);
            let server_ok = self.read_chain(&hs.server_chain, "server");
            let client_ok = self.read_chain(hs.client_chain.as_deref().unwrap_or(&[]), "client");
            let malformed = !(server_ok && client_ok);
            if malformed && !hs.anomalies.contains(&"malformed certificate") {
                hs.anomalies.push("malformed certificate");
            }
            let row = handshake_row(&self.capture, hs, client, (cep, sep), info, &c.results);
            self.push_handshake(HandshakeRow {
                starttls: c.tls.starttls(),
                ..row
            });
        }
    }

    fn wants_data(&self, c: &ConnState) -> bool {
        c.tls.wants_data()
    }

    fn heap_bytes(&self, c: &ConnState) -> usize {
        c.tls.heap_bytes() + c.results.heap_bytes()
    }
}

/// The row of handshake `hs`, which it consumes: the hello's lists and strings move into the
/// row rather than being copied (on captures of short connections each copy was a heap
/// allocation, and allocating and freeing took a sixth of the time).
fn handshake_row(
    capture: &Arc<str>,
    mut hs: Handshake,
    client: Side,
    (cep, sep): (Endpoint, Endpoint),
    info: &FlowInfo,
    results: &Results,
) -> HandshakeRow {
    let role = |s: Side| role_name(client, s);
    let ch = hs.client_hello.as_ref();
    let start = ch.map_or(hs.started, |(a, _)| *a);
    let end = hs
        .established
        .or(hs.decided_by.as_ref().map(|a| a.at))
        .or(hs.closed.map(|(_, _, a)| a));
    let progress = |r: Role| hs.progress_of(r).and_then(|p| p.stage);
    let client_leaf = hs.client_chain.as_ref().and_then(|c| c.first());
    let hello = ch.map(|(_, h)| h);
    let sh = hs
        .server_hello
        .as_ref()
        .map(|(_, h)| h)
        .filter(|_| hs.version != Some(Version::SSL2));
    // TLS 1.2 and earlier: the server answers these extensions; TLS 1.3 has no use for them.
    let sh12 = sh.filter(|h| !h.version.is_tls13());
    let both = |e: u16| sh12.and_then(|_| hs.extension_negotiated(e));
    let (ja3, ja3_hash) = hello
        .and_then(fingerprint::ja3)
        .map(|j| (j.raw, j.md5))
        .unzip();
    let (ja3s, ja3s_hash) = sh.map(fingerprint::ja3s).map(|j| (j.raw, j.md5)).unzip();
    let (ja4, ja4_r) = hello
        .and_then(fingerprint::ja4)
        .map(|j| (j.ja4, j.raw))
        .unzip();
    let mut row = HandshakeRow {
        handshake_index: hs.index,
        ts_us: us(start.ts_ns),
        client_hello_frame: ch.map(|(a, _)| a.frame),
        server_hello_frame: hs.server_hello.as_ref().map(|(a, _)| a.frame),
        retry_client_hello_frame: hs.retry_client_hello.map(|a| a.frame),
        client_hello_format: ch.map(|(_, h)| h.format.name()),
        client_version: ch.map(|(_, h)| h.version.name()),
        client_max_version: ch.map(|(_, h)| h.max_version().name()),
        version: hs
            .version
            .filter(|_| hs.server_hello.is_some())
            .map(|v| v.name()),
        cipher_suite_id: hs.cipher_suite.filter(|_| hs.server_hello.is_some()),
        cipher_suite: hs
            .cipher_suite
            .filter(|_| hs.server_hello.is_some())
            .map(|c| {
                tlscap_tls::CipherSuite(c)
                    .name()
                    .map_or_else(|| format!("0x{c:04x}"), str::to_string)
            }),
        client_session_id: hello
            .filter(|h| !h.session_id.is_empty())
            .map(|h| hex(&h.session_id)),
        supported_versions: hello
            .map(|h| h.supported_versions.iter().map(|v| v.0).collect())
            .unwrap_or_default(),
        session_ticket_offered: hello.map(|h| h.session_ticket_len.is_some_and(|n| n > 0)),
        psk_offered: hello.map(|h| h.psk_identities > 0),
        early_data_offered: hello.map(|h| h.extensions.contains(&ext::EARLY_DATA)),
        ech_offered: hello.map(|h| {
            h.extensions.contains(&ext::ENCRYPTED_CLIENT_HELLO)
                || h.extensions.contains(&ext::ENCRYPTED_SERVER_NAME)
        }),
        server_session_id: sh
            .filter(|h| !h.session_id.is_empty())
            .map(|h| hex(&h.session_id)),
        server_key_share_group: sh.and_then(|h| h.key_share_group),
        server_kex_group: match hs.server_kex {
            Some(ServerKex::Ecdhe { group }) => Some(group),
            _ => None,
        },
        server_dh_bits: match hs.server_kex {
            Some(ServerKex::Dhe { prime_bits }) => Some(prime_bits),
            _ => None,
        },
        client_messages: message_names(&hs, Role::Client),
        server_messages: message_names(&hs, Role::Server),
        extended_master_secret: both(ext::EXTENDED_MASTER_SECRET),
        encrypt_then_mac: both(ext::ENCRYPT_THEN_MAC),
        secure_renegotiation: sh12.zip(hello).map(|(s, c)| {
            let offered = c.extensions.contains(&ext::RENEGOTIATION_INFO)
                || c.cipher_suites.contains(&SCSV_RENEGOTIATION);
            offered && s.extensions.contains(&ext::RENEGOTIATION_INFO)
        }),
        resumed: hs.resumed(),
        ja3,
        ja3_hash,
        ja3s,
        ja3s_hash,
        ja4,
        ja4_r,
        starttls: None, // the connection's, not the handshake's: see `finish`
        hello_retry_frame: hs.hello_retry.map(|a| a.frame),
        renegotiation: hs.renegotiation.map(|r| r.name()),
        initiator: hs.initiator.map(role),
        client_cert_requested: hs.cert_request.is_some(),
        client_cert_count: hs.client_chain.as_ref().map(|c| c.len() as u32),
        client_cert_sha256: client_leaf.map(|c| hex(&c.sha256)),
        client_cert_issuer: client_leaf
            .and_then(|c| c.issuer.as_deref())
            .map(der::name_to_string),
        client_cert_issuer_listed: diagnosis::client_issuer_listed(&hs),
        server_cert_count: (!hs.server_chain.is_empty()).then_some(hs.server_chain.len() as u32),
        server_cert_sha256: hs.server_chain.first().map(|c| hex(&c.sha256)),
        server_cert_chain: hs.server_chain.iter().map(|c| hex(&c.sha256)).collect(),
        client_cert_chain: hs
            .client_chain
            .iter()
            .flatten()
            .map(|c| hex(&c.sha256))
            .collect(),
        cert_request_ca_names: hs
            .cert_request
            .iter()
            .flat_map(|r| &r.ca_names)
            .map(|n| der::name_to_string(n))
            .collect(),
        outcome: hs.outcome.name(),
        cause: diagnosis::cause(&hs),
        client_stage: progress(Role::Client),
        server_stage: progress(Role::Server),
        established_frame: hs.established.map(|a| a.frame),
        duration_us: end.map(|e| us(e.ts_ns) - us(start.ts_ns)),
        closed_by: hs.closed.map(|(s, _, _)| role(s)),
        close_type: hs.closed.map(|(_, k, _)| k.name()),
        alert_frame: hs.decided_by.as_ref().map(|a| a.at.frame),
        alert_sender: hs.decided_by.as_ref().map(|a| role(a.sender)),
        alert_level: hs.decided_by.as_ref().and_then(|a| a.level.map(|l| l.0)),
        alert_code: hs
            .decided_by
            .as_ref()
            .and_then(|a| a.code.map(|c| c.value())),
        alert_name: hs.decided_by.as_ref().and_then(Alert::name),
        alert_encrypted: hs.decided_by.as_ref().map(|a| a.encrypted),
        ..connection_row(capture, client, (cep, sep), info, results)
    };
    // What the row keeps as it is moves into it, now that everything made from it is made.
    let ssl2 = hs.version == Some(Version::SSL2);
    if let Some((_, h)) = hs.client_hello.as_mut() {
        row.sni = h.sni.take();
        row.alpn_offered = take(&mut h.alpn);
        row.client_cipher_suites = take(&mut h.cipher_suites);
        row.client_compression_methods = take(&mut h.compression_methods);
        row.client_extensions = take(&mut h.extensions);
        row.supported_groups = take(&mut h.supported_groups);
        row.key_share_groups = take(&mut h.key_share_groups);
        row.signature_algorithms = take(&mut h.signature_algorithms);
        row.ec_point_formats = take(&mut h.ec_point_formats);
        row.psk_key_exchange_modes = take(&mut h.psk_key_exchange_modes);
    }
    if let Some((_, h)) = hs.server_hello.as_mut().filter(|_| !ssl2) {
        row.server_extensions = take(&mut h.extensions);
    }
    row.alpn = hs.alpn.take();
    if let Some(r) = hs.cert_request.as_mut() {
        row.cert_request_signature_algorithms = take(&mut r.signature_algorithms);
    }
    row.anomalies = take(&mut hs.anomalies);
    row
}
