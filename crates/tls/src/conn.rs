//! One TCP connection's TLS: record framing per direction, handshake-message reassembly, and
//! the state machine that decides each handshake's outcome.
//!
//! The transport pushes in-order stream bytes with [`Connection::on_data`], gaps with
//! [`Connection::on_gap`] and closes with [`Connection::on_close`]; results are pushed to a
//! [`Sink`] as they become final. Memory per direction is bounded: a partial record header, one
//! record body of at most [`MAX_RECORD_LEN`] bytes (never for application data, which is
//! skipped by length), and one partial handshake message of at most [`MAX_MESSAGE_LEN`].

use crate::carrier::{self, Carrier, Plaintext};
use crate::codes::{AlertCode, AlertLevel, CipherSuite, ContentType, HandshakeType, Version};
use crate::messages::{
    self, CertSummary, CertificateRequest, ClientHello, HelloFormat, ParseError, ServerHello,
};

/// Largest record body accepted: 2^14 plus the 2048 bytes of expansion TLS 1.2 allows.
pub const MAX_RECORD_LEN: usize = 16384 + 2048;
/// Largest handshake message reassembled (a certificate chain with many CAs stays far below).
pub const MAX_MESSAGE_LEN: usize = 1 << 20;
/// Segments at the start of a direction that may pass before it is given up as not TLS
/// (STARTTLS conversations and captures that begin mid-stream need a few).
const PROBE_SEGMENTS: u16 = 48;

/// One endpoint of the connection, as the transport names them (A spoke first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    A = 0,
    B = 1,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
    fn i(self) -> usize {
        self as usize
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Client,
    Server,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
        }
    }
}

/// Where in the capture something happened: the frame holding its last byte, and that
/// frame's time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct At {
    pub frame: u64,
    pub ts_ns: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    Fin,
    Rst,
}

impl Close {
    pub fn name(self) -> &'static str {
        match self {
            Close::Fin => "fin",
            Close::Rst => "rst",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Both sides finished the handshake.
    Established,
    /// A fatal alert, or a reset or close before both sides finished.
    Failed,
    /// The capture ends, or cannot tell, before the handshake finished.
    Incomplete,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Established => "established",
            Outcome::Failed => "failed",
            Outcome::Incomplete => "incomplete",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renegotiation {
    /// A ClientHello in the clear after a finished handshake.
    Clear,
    /// An encrypted handshake record after both Finished messages (TLS 1.2 and earlier).
    Encrypted,
}

impl Renegotiation {
    pub fn name(self) -> &'static str {
        match self {
            Renegotiation::Clear => "clear",
            Renegotiation::Encrypted => "encrypted",
        }
    }
}

/// One alert record (or SSLv2 ERROR message, or an alert inferred from a TLS 1.3 record's size).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub at: At,
    pub sender: Side,
    pub sender_role: Option<Role>,
    pub handshake_index: Option<u32>,
    pub record_version: Version,
    pub record_length: u16,
    /// The alert's content is encrypted; level and code are unknown, never guessed.
    pub encrypted: bool,
    /// Not an alert record: a TLS 1.3 application-data record of exactly an encrypted alert's
    /// size, after which its sender closed the connection mid-handshake.
    pub inferred: bool,
    pub level: Option<AlertLevel>,
    pub code: Option<AlertCode>,
}

impl Alert {
    pub fn is_fatal(&self) -> bool {
        self.level == Some(AlertLevel::FATAL)
    }
    pub fn name(&self) -> Option<&'static str> {
        self.code.and_then(AlertCode::name)
    }
}

/// Per-side progress within one handshake.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SideProgress {
    /// Last handshake message (or record kind) this side sent in this handshake.
    pub stage: Option<&'static str>,
    /// Bit n set: this side sent a plaintext handshake message of type n (n < 64).
    pub sent: u64,
    pub ccs: bool,
    pub finished: bool,
    pub app_data: bool,
    /// Plaintext handshake messages after the hellos, in the order sent (at most
    /// [`MAX_LISTED_MESSAGES`]): NewSessionTicket, CertificateStatus, CertificateVerify ...
    pub messages: Vec<HandshakeType>,
}

/// Messages listed per side and handshake; a longer run of plaintext messages is cut.
pub const MAX_LISTED_MESSAGES: usize = 32;

impl SideProgress {
    pub fn sent(&self, t: HandshakeType) -> bool {
        t.0 < 64 && self.sent & (1 << t.0) != 0
    }
}

/// One handshake and everything decided about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// 0 for the first handshake of the connection, 1, 2 ... for renegotiations.
    pub index: u32,
    pub client: Option<Side>,
    /// The first record of this handshake seen.
    pub started: At,
    pub client_hello: Option<(At, ClientHello)>,
    /// The second ClientHello, answering a HelloRetryRequest.
    pub retry_client_hello: Option<At>,
    /// The HelloRetryRequest, when the server sent one.
    pub hello_retry: Option<At>,
    pub server_hello: Option<(At, ServerHello)>,
    pub version: Option<Version>,
    pub cipher_suite: Option<u16>,
    pub alpn: Option<String>,
    pub server_chain: Vec<CertSummary>,
    /// `Some(empty)` when the client answered a CertificateRequest with no certificate.
    pub client_chain: Option<Vec<CertSummary>>,
    pub cert_request: Option<CertificateRequest>,
    /// The key exchange parameters of the server's ServerKeyExchange (TLS 1.2 and earlier).
    pub server_kex: Option<messages::ServerKex>,
    pub renegotiation: Option<Renegotiation>,
    /// The side whose record started a renegotiation.
    pub initiator: Option<Side>,
    pub progress: [SideProgress; 2],
    pub established: Option<At>,
    pub fatal: Option<Alert>,
    pub last_warning: Option<Alert>,
    pub closed: Option<(Side, Close, At)>,
    /// TLS 1.3: the client's first encrypted record after the ServerHello.
    pub client_flight: Option<At>,
    /// TLS 1.3: the client's encrypted records after the ServerHello.
    pub client_records: u32,
    pub outcome: Outcome,
    /// The alert that decided the outcome, when one did.
    pub decided_by: Option<Alert>,
    /// Problems met while parsing (never fatal to the connection).
    pub anomalies: Vec<&'static str>,
}

impl Handshake {
    fn new(index: u32, client: Option<Side>, at: At) -> Handshake {
        Handshake {
            index,
            client,
            started: at,
            client_hello: None,
            retry_client_hello: None,
            hello_retry: None,
            server_hello: None,
            version: None,
            cipher_suite: None,
            alpn: None,
            server_chain: Vec::new(),
            client_chain: None,
            cert_request: None,
            server_kex: None,
            renegotiation: None,
            initiator: None,
            progress: Default::default(),
            established: None,
            fatal: None,
            last_warning: None,
            closed: None,
            client_flight: None,
            client_records: 0,
            outcome: Outcome::Incomplete,
            decided_by: None,
            anomalies: Vec::new(),
        }
    }

    pub fn role_of(&self, side: Side) -> Option<Role> {
        self.client.map(|c| {
            if c == side {
                Role::Client
            } else {
                Role::Server
            }
        })
    }

    pub fn side_of(&self, role: Role) -> Option<Side> {
        self.client
            .map(|c| if role == Role::Client { c } else { c.other() })
    }

    pub fn progress_of(&self, role: Role) -> Option<&SideProgress> {
        self.side_of(role).map(|s| &self.progress[s.i()])
    }

    /// Whether extension `e` was negotiated: offered in the ClientHello and answered in the
    /// ServerHello. `None` until both hellos are seen.
    pub fn extension_negotiated(&self, e: u16) -> Option<bool> {
        let client = self.client_hello.as_ref()?.1.extensions.contains(&e);
        let server = self.server_hello.as_ref()?.1.extensions.contains(&e);
        Some(client && server)
    }

    /// Whether the server resumed an earlier session; `None` until its ServerHello (and for
    /// SSLv2). TLS 1.3: the server accepted a PSK. Earlier versions: the server echoed the
    /// client's non-empty session id, or went from its ServerHello straight to
    /// ChangeCipherSpec (a session-ticket resumption may echo no session id).
    pub fn resumed(&self) -> Option<bool> {
        let (_, sh) = self.server_hello.as_ref()?;
        if self.version == Some(Version::SSL2) {
            return None;
        }
        if sh.version.is_tls13() {
            return Some(sh.selected_psk.is_some());
        }
        let echoed = self
            .client_hello
            .as_ref()
            .is_some_and(|(_, ch)| !ch.session_id.is_empty() && ch.session_id == sh.session_id);
        let abbreviated = self.progress_of(Role::Server).is_some_and(|p| {
            p.ccs
                && !p.sent(HandshakeType::CERTIFICATE)
                && !p.sent(HandshakeType::SERVER_HELLO_DONE)
        });
        Some(echoed || abbreviated)
    }

    /// Heap bytes it holds beyond its own size: hello lists, certificates, CA names (for
    /// memory budgets; an estimate from capacities).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let chain = |c: &[CertSummary]| {
            c.iter().map(CertSummary::heap_bytes).sum::<usize>() + size_of_val(c)
        };
        self.client_hello
            .as_ref()
            .map_or(0, |(_, h)| h.heap_bytes())
            + self.server_hello.as_ref().map_or(0, |(_, h)| {
                h.session_id.capacity()
                    + h.extensions.capacity() * size_of::<u16>()
                    + h.alpn.as_ref().map_or(0, String::capacity)
            })
            + self.alpn.as_ref().map_or(0, String::capacity)
            + chain(&self.server_chain)
            + self.client_chain.as_deref().map_or(0, chain)
            + self.cert_request.as_ref().map_or(0, |r| {
                r.cert_types.capacity()
                    + r.signature_algorithms.capacity() * size_of::<u16>()
                    + r.ca_names.iter().map(Vec::capacity).sum::<usize>()
                    + r.ca_names.capacity() * size_of::<Vec<u8>>()
            })
            + self
                .progress
                .iter()
                .map(|p| p.messages.capacity() * size_of::<HandshakeType>())
                .sum::<usize>()
            + self.anomalies.capacity() * size_of::<&str>()
    }

    fn note(&mut self, what: &'static str) {
        if !self.anomalies.contains(&what) {
            self.anomalies.push(what);
        }
    }
}

/// Receives results as they become final.
pub trait Sink {
    fn alert(&mut self, alert: &Alert);
    fn handshake(&mut self, handshake: Handshake);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// Not yet locked on to record boundaries: each segment start is tested for a record.
    Probe,
    Records,
    /// Given up: this direction does not carry TLS.
    Dead,
}

#[derive(Clone, Copy, Debug)]
struct RecordHead {
    ctype: ContentType,
    version: Version,
    len: usize,
    ssl2: bool,
}

#[derive(Debug)]
struct Direction {
    framing: Framing,
    probes_left: u16,
    ever_locked: bool,
    header: [u8; 5],
    header_len: usize,
    /// The record being read, and how many of its bytes are still to come.
    record: Option<RecordHead>,
    remaining: usize,
    /// Whether the body of `record` is being kept (handshake and alert records in the clear).
    keep_body: bool,
    body: Vec<u8>,
    /// A handshake message split across records.
    partial_message: Vec<u8>,
    messages_broken: bool,
    /// This side may use SSLv2 record headers.
    ssl2: bool,
    /// Records from this side are encrypted from now on.
    encrypted: bool,
    /// This side sent ChangeCipherSpec before any ServerHello was seen (a one-sided capture),
    /// so whether its later handshake records are encrypted is decided record by record.
    ccs_unknown_version: bool,
    last_record: Option<(ContentType, usize, At)>,
    desyncs: u32,
}

impl Direction {
    fn new() -> Direction {
        Direction {
            framing: Framing::Probe,
            probes_left: PROBE_SEGMENTS,
            ever_locked: false,
            header: [0; 5],
            header_len: 0,
            record: None,
            remaining: 0,
            keep_body: false,
            body: Vec::new(),
            partial_message: Vec::new(),
            messages_broken: false,
            ssl2: false,
            encrypted: false,
            ccs_unknown_version: false,
            last_record: None,
            desyncs: 0,
        }
    }

    /// Loses record framing: the next segment start is probed for a record header.
    fn lose_sync(&mut self) {
        self.framing = Framing::Probe;
        self.header_len = 0;
        self.record = None;
        self.remaining = 0;
        // Freed, not cleared: a connection keeps no buffer it is not using.
        self.body = Vec::new();
        self.partial_message = Vec::new();
        self.desyncs += 1;
    }
}

/// A TLS record header that could be real: a known content type, version 3.x with x <= 4,
/// and a length within the protocol's limit.
fn plausible_tls_header(b: &[u8]) -> bool {
    match b {
        [t, 3, minor, rest @ ..] if ContentType(*t).is_known() && *minor <= 4 => match rest {
            [hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])) <= MAX_RECORD_LEN,
            _ => true,
        },
        _ => false,
    }
}

/// An SSLv2 record with a 2-byte header holding a CLIENT-HELLO of SSL 2.0 or SSL 3.0 to TLS 1.3.
fn plausible_sslv2_client_hello(b: &[u8]) -> bool {
    matches!(b, [h, _, 1, 0, 2, ..] | [h, _, 1, 3, 0..=4, ..] if h & 0x80 != 0)
}

/// An SSLv2 SERVER-HELLO or ERROR answering an SSLv2 CLIENT-HELLO.
fn plausible_sslv2_reply(b: &[u8]) -> bool {
    matches!(b, [h, _, 0 | 4, ..] if h & 0x80 != 0)
}

fn is_whole_client_hello(body: &[u8]) -> bool {
    match body {
        [1, a, b, c, rest @ ..] => {
            usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c) == rest.len()
                && messages::parse_client_hello(rest).is_ok()
        }
        _ => false,
    }
}

/// The TLS state of one TCP connection.
#[derive(Debug)]
pub struct Connection {
    dirs: [Direction; 2],
    client: Option<Side>,
    /// Boxed: a connection that carries no TLS, or is past its handshake, stays small.
    current: Option<Box<Handshake>>,
    /// `current.heap_bytes()`, updated after each handshake record (not per packet).
    current_heap: usize,
    next_index: u32,
    version: Option<Version>,
    cipher: Option<u16>,
    carrier: Carrier,
    /// FTP/GSSAPI only: each side's line in progress.
    gss_lines: [Vec<u8>; 2],
}

/// The longest FTP/GSSAPI line kept: a base64 ADAT of a whole certificate flight.
const MAX_GSS_LINE: usize = 256 * 1024;

impl Connection {
    /// `client_hint` is the side the transport knows to be the client (the SYN's sender).
    pub fn new(client_hint: Option<Side>) -> Connection {
        Connection {
            dirs: [Direction::new(), Direction::new()],
            client: client_hint,
            current: None,
            current_heap: 0,
            next_index: 0,
            version: None,
            cipher: None,
            carrier: Carrier::default(),
            gss_lines: [Vec::new(), Vec::new()],
        }
    }

    /// False once neither direction can carry TLS: the transport may stop delivering bytes.
    pub fn wants_data(&self) -> bool {
        self.dirs.iter().any(|d| d.framing != Framing::Dead)
    }

    /// Whether this connection has shown any TLS at all.
    pub fn is_tls(&self) -> bool {
        self.dirs.iter().any(|d| d.ever_locked)
    }

    pub fn client(&self) -> Option<Side> {
        self.client
    }

    /// What `side` sent first in plaintext, before any TLS (HTTP request or response, other).
    pub fn first_plaintext(&self, side: Side) -> Option<Plaintext> {
        self.carrier.first[side.i()]
    }

    /// The plaintext protocol that upgraded to TLS (`smtp`, `imap`, `pop3`, `ftp`, `ftp-gssapi`, `xmpp`,
    /// `ldap`, `postgresql`, `mysql`, `nntp`, `irc`), when its upgrade request was seen.
    pub fn starttls(&self) -> Option<&'static str> {
        self.carrier.upgrade
    }

    /// Heap bytes this connection holds: the current handshake (boxed, with its lists and
    /// certificates) and the partial record and message buffers. Cheap: the handshake's part
    /// is measured after each handshake record, not per packet.
    pub fn heap_bytes(&self) -> usize {
        let buffers: usize = self
            .dirs
            .iter()
            .map(|d| d.body.capacity() + d.partial_message.capacity())
            .sum::<usize>()
            + self.gss_lines.iter().map(Vec::capacity).sum::<usize>();
        let current = self
            .current
            .as_ref()
            .map_or(0, |_| std::mem::size_of::<Handshake>());
        buffers + current + self.current_heap
    }

    fn measure_current(&mut self) {
        self.current_heap = self.current.as_ref().map_or(0, |hs| hs.heap_bytes());
    }

    /// Times either direction lost record framing (after a gap or on garbage) and re-probed.
    pub fn desyncs(&self) -> u32 {
        self.dirs[0].desyncs + self.dirs[1].desyncs
    }

    /// Bytes of a TLS 1.3 record holding one encrypted alert under the negotiated suite: the
    /// 2-byte alert, the inner content type, and the AEAD tag (docs/tls-outcome.md).
    fn tls13_alert_size(&self) -> usize {
        2 + 1 + CipherSuite(self.cipher.unwrap_or(0x1301)).tls13_tag_len()
    }

    fn tls13(&self) -> bool {
        self.version.is_some_and(Version::is_tls13)
    }

    /// In-order stream bytes from `side`, all from the frame `at`.
    pub fn on_data(&mut self, side: Side, data: &[u8], at: At, sink: &mut impl Sink) {
        if self.carrier.gss_ftp {
            self.on_gss_ftp(side, data, at, sink);
        } else {
            self.on_records(side, data, at, sink);
        }
    }

    /// FTP with GSSAPI security (RFC 2228, GridFTP's GSI): the TLS handshake travels
    /// base64-encoded in `ADAT` commands and `335`/`235 ADAT=` replies, protected data in `ENC`
    /// commands and `631`-`633` replies. Lines are gathered (bounded) and their decoded bytes go
    /// through the record layer, until the handshake is established.
    fn on_gss_ftp(&mut self, side: Side, data: &[u8], at: At, sink: &mut impl Sink) {
        let established = self
            .current
            .as_ref()
            .is_some_and(|h| h.established.is_some());
        if established {
            return;
        }
        let d = side.i();
        let mut rest = data;
        while !rest.is_empty() {
            let (part, line_end) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..=i], true),
                None => (rest, false),
            };
            rest = &rest[part.len()..];
            let line = &mut self.gss_lines[d];
            if line.len() + part.len() > MAX_GSS_LINE {
                line.clear();
                self.handshake(at)
                    .note("GSSAPI FTP line over the size limit");
                continue;
            }
            line.extend_from_slice(part);
            if !line_end {
                continue;
            }
            let line = std::mem::take(&mut self.gss_lines[d]);
            if let Some(decoded) = carrier::gss_ftp_payload(&line) {
                self.on_records(side, &decoded, at, sink);
            }
        }
    }

    fn on_records(&mut self, side: Side, mut data: &[u8], at: At, sink: &mut impl Sink) {
        let d = side.i();
        match self.dirs[d].framing {
            Framing::Dead => return,
            Framing::Probe => {
                // A record header may arrive over several short segments: keep up to 5 bytes
                // that could begin one, and decide once there are enough.
                let dir = &mut self.dirs[d];
                let stash = dir.header_len;
                let mut head = dir.header;
                let take = (5 - stash).min(data.len());
                head[stash..stash + take].copy_from_slice(&data[..take]);
                let have = stash + take;
                let could_start = ContentType(head[0]).is_known() || head[0] & 0x80 != 0;
                if have < 5 && could_start {
                    dir.header = head;
                    dir.header_len = have;
                    return;
                }
                if !self.probe(side, &head[..have]) {
                    if !self.dirs[d].ever_locked {
                        self.carrier.plaintext_from(d, data);
                    }
                    if !self.is_tls() {
                        self.carrier.observe(data);
                    }
                    let dir = &mut self.dirs[d];
                    dir.header_len = 0;
                    dir.probes_left = dir.probes_left.saturating_sub(1);
                    if dir.probes_left == 0 {
                        dir.framing = Framing::Dead;
                    }
                    return;
                }
                // Locked on. The stashed bytes from earlier segments start the first record;
                // they go through the record loop like any bytes, which alone decides where an
                // (SSLv2 2- or 3-byte, or TLS 5-byte) header ends and the body begins.
                let dir = &mut self.dirs[d];
                dir.framing = Framing::Records;
                dir.ever_locked = true;
                let (stashed, n) = (dir.header, dir.header_len);
                dir.header_len = 0;
                if n > 0 {
                    self.on_records(side, &stashed[..n], at, sink);
                }
            }
            Framing::Records => {}
        }
        while !data.is_empty() {
            let dir = &mut self.dirs[d];
            if let Some(head) = dir.record {
                let n = dir.remaining.min(data.len());
                if dir.keep_body {
                    dir.body.extend_from_slice(&data[..n]);
                }
                dir.remaining -= n;
                data = &data[n..];
                if dir.remaining == 0 {
                    dir.record = None;
                    // Taken for good: a buffer is kept only while a record spans segments.
                    let body = std::mem::take(&mut dir.body);
                    self.record(side, head, &body, at, sink);
                }
                continue;
            }
            // Record header: 5 bytes for TLS, 2 or 3 for SSLv2.
            let first = if dir.header_len > 0 {
                dir.header[0]
            } else {
                data[0]
            };
            let need = if ContentType(first).is_known() || !dir.ssl2 {
                5
            } else if first & 0x80 != 0 {
                2
            } else {
                3
            };
            let take = (need - dir.header_len).min(data.len());
            let (hl, end) = (dir.header_len, dir.header_len + take);
            dir.header[hl..end].copy_from_slice(&data[..take]);
            dir.header_len = end;
            data = &data[take..];
            if dir.header_len < need {
                break;
            }
            dir.header_len = 0;
            let h = dir.header;
            let head = match need {
                5 => {
                    if !plausible_tls_header(&h) {
                        dir.lose_sync();
                        dir.probes_left = u16::MAX;
                        if let Some(hs) = self.current.as_mut() {
                            hs.note("record framing lost");
                        }
                        return;
                    }
                    RecordHead {
                        ctype: ContentType(h[0]),
                        version: Version(u16::from_be_bytes([h[1], h[2]])),
                        len: usize::from(u16::from_be_bytes([h[3], h[4]])),
                        ssl2: false,
                    }
                }
                2 => RecordHead {
                    ctype: ContentType::HANDSHAKE,
                    version: Version::SSL2,
                    len: usize::from(u16::from_be_bytes([h[0] & 0x7f, h[1]])),
                    ssl2: true,
                },
                _ => RecordHead {
                    ctype: ContentType::HANDSHAKE,
                    version: Version::SSL2,
                    len: usize::from(u16::from_be_bytes([h[0] & 0x3f, h[1]])),
                    ssl2: true,
                },
            };
            let keep = self.needs_body(side, head);
            let dir = &mut self.dirs[d];
            if head.len <= data.len() {
                // The whole body is in this segment: parse it in place, no copy.
                let (body, rest) = data.split_at(head.len);
                data = rest;
                self.record(side, head, if keep { body } else { &[] }, at, sink);
            } else {
                dir.record = Some(head);
                dir.remaining = head.len;
                dir.keep_body = keep;
                dir.body.clear();
            }
        }
    }

    /// Tests a segment start for a record this direction could begin with.
    fn probe(&mut self, side: Side, data: &[u8]) -> bool {
        if plausible_tls_header(data) && data.len() >= 3 {
            return true;
        }
        let other_ssl2 = self.dirs[side.other().i()].ssl2;
        if plausible_sslv2_client_hello(data) || (other_ssl2 && plausible_sslv2_reply(data)) {
            self.dirs[side.i()].ssl2 = true;
            return true;
        }
        false
    }

    fn needs_body(&self, side: Side, head: RecordHead) -> bool {
        let dir = &self.dirs[side.i()];
        if head.ssl2 {
            return !dir.encrypted;
        }
        match head.ctype {
            ContentType::ALERT => head.len == 2,
            ContentType::HANDSHAKE => !dir.encrypted && !dir.messages_broken,
            _ => false,
        }
    }

    /// How many of `side`'s next bytes would only be counted past, unread: all but the last
    /// byte of a record body that is not kept (application data, encrypted handshake records).
    /// The record's last byte, which completes it, is left to [`Connection::on_data`].
    pub fn blind_bytes(&self, side: Side) -> u64 {
        let dir = &self.dirs[side.i()];
        let counting = !self.carrier.gss_ftp
            && dir.framing == Framing::Records
            && dir.record.is_some()
            && !dir.keep_body;
        if counting {
            dir.remaining.saturating_sub(1) as u64
        } else {
            0
        }
    }

    /// `n` bytes of `side` within [`Connection::blind_bytes`] went by unread.
    pub fn skip_blind(&mut self, side: Side, n: u64) {
        let dir = &mut self.dirs[side.i()];
        debug_assert!((n as usize) < dir.remaining || dir.record.is_none());
        dir.remaining = dir.remaining.saturating_sub(n as usize);
    }

    /// A gap of `missing` bytes in `side`'s stream (bytes never captured).
    pub fn on_gap(&mut self, side: Side, missing: u64) {
        let dir = &mut self.dirs[side.i()];
        if dir.framing != Framing::Records {
            return;
        }
        // Inside a record whose body is skipped anyway, a gap that ends within it loses nothing.
        if dir.record.is_some() && !dir.keep_body && (missing as usize) < dir.remaining {
            dir.remaining -= missing as usize;
            return;
        }
        dir.lose_sync();
        dir.probes_left = u16::MAX;
        if let Some(hs) = self.current.as_mut() {
            hs.note("bytes missing from the capture");
        }
    }

    /// `side` closed (FIN) or reset (RST) the connection.
    pub fn on_close(&mut self, side: Side, kind: Close, at: At, sink: &mut impl Sink) {
        let tls13 = self.tls13();
        let alert_size = self.tls13_alert_size();
        let last = self.dirs[side.i()].last_record;
        let client = self.client;
        let Some(hs) = self.current.as_mut() else {
            return;
        };
        if hs.established.is_some() {
            return;
        }
        // The first close is the row's; each side's close is judged below, in whatever order
        // the two arrive (a client may close on the server's alert before the server does).
        hs.closed.get_or_insert((side, kind, at));
        // A client aborts a TLS 1.3 handshake with an alert in place of its Finished, as its
        // first encrypted record; an alert-sized record after its Finished is a close_notify.
        // The server's alert-sized record counts only before it accepted the Finished, which
        // `established` already rules out.
        let aborted_flight = Some(side) != client || hs.client_records == 1;
        if tls13 && hs.fatal.is_none() && hs.server_hello.is_some() && aborted_flight {
            if let Some((ContentType::APPLICATION_DATA, len, rat)) = last {
                if len == alert_size {
                    let alert = Alert {
                        at: rat,
                        sender: side,
                        sender_role: client.map(|c| {
                            if c == side {
                                Role::Client
                            } else {
                                Role::Server
                            }
                        }),
                        handshake_index: Some(hs.index),
                        record_version: Version::TLS12,
                        record_length: len as u16,
                        encrypted: true,
                        inferred: true,
                        level: None,
                        code: None,
                    };
                    sink.alert(&alert);
                    hs.fatal = Some(alert);
                }
            }
        }
    }

    /// The connection is over (both sides closed, or the capture ended): final handshake rows.
    pub fn finish(&mut self, sink: &mut impl Sink) {
        if let Some(hs) = self.current.take() {
            self.current_heap = 0;
            self.finalize(*hs, sink);
        }
    }

    fn finalize(&mut self, mut hs: Handshake, sink: &mut impl Sink) {
        hs.client = hs.client.or(self.client);
        // A side that never sent TLS but answered in plaintext (a server speaking HTTP on the
        // port the client expected TLS on) reached that stage.
        for (i, dir) in self.dirs.iter().enumerate() {
            if let (false, Some(p), None) =
                (dir.ever_locked, self.carrier.first[i], hs.progress[i].stage)
            {
                hs.progress[i].stage = Some(p.stage());
            }
        }
        let tls13 = hs.version.is_some_and(Version::is_tls13);
        if let Some(a) = hs.fatal.clone() {
            hs.outcome = Outcome::Failed;
            hs.decided_by = Some(a);
        } else if hs.established.is_some() {
            hs.outcome = Outcome::Established;
        } else if let Some((closer, _, _)) = hs.closed {
            // TLS 1.3: a client that closes right after its encrypted Finished flight, with no
            // word from the server, leaves the capture unable to tell whether it was accepted.
            if tls13 && hs.client_flight.is_some() && Some(closer) == hs.client {
                hs.outcome = Outcome::Incomplete;
            } else {
                hs.outcome = Outcome::Failed;
                hs.decided_by = hs.last_warning.clone();
            }
        } else {
            hs.outcome = Outcome::Incomplete;
        }
        sink.handshake(hs);
    }

    fn role(&self, side: Side) -> Option<Role> {
        self.client.map(|c| {
            if c == side {
                Role::Client
            } else {
                Role::Server
            }
        })
    }

    /// The current handshake, started implicitly when a capture begins after its ClientHello.
    fn handshake(&mut self, at: At) -> &mut Handshake {
        if self.current.is_none() {
            let idx = self.next_index;
            self.next_index += 1;
            self.current = Some(Box::new(Handshake::new(idx, self.client, at)));
        }
        self.current.as_mut().unwrap()
    }

    fn start_handshake(&mut self, at: At, sink: &mut impl Sink) -> &mut Handshake {
        if let Some(prev) = self.current.take() {
            self.finalize(*prev, sink);
        }
        self.handshake(at)
    }

    fn stage(&mut self, side: Side, stage: &'static str, at: At) {
        let hs = self.handshake(at);
        hs.progress[side.i()].stage = Some(stage);
    }

    fn record(&mut self, side: Side, head: RecordHead, body: &[u8], at: At, sink: &mut impl Sink) {
        self.dirs[side.i()].last_record = Some((head.ctype, head.len, at));
        if head.ssl2 {
            self.sslv2_record(side, head, body, at, sink);
            self.measure_current();
            return;
        }
        match head.ctype {
            ContentType::CHANGE_CIPHER_SPEC => {
                self.stage(side, "ChangeCipherSpec", at);
                if self.version.is_none() {
                    self.dirs[side.i()].ccs_unknown_version = true;
                } else if !self.tls13() {
                    self.dirs[side.i()].encrypted = true;
                    if let Some(hs) = self.current.as_mut() {
                        hs.progress[side.i()].ccs = true;
                    }
                }
            }
            ContentType::ALERT => self.alert_record(side, head, body, at, sink),
            ContentType::HANDSHAKE => {
                let dir = &self.dirs[side.i()];
                // After a CCS of unknown version, a record holding exactly one well-formed
                // ClientHello is the retry after a HelloRetryRequest we did not capture (TLS 1.3
                // middlebox compatibility); anything else is encrypted.
                let unclear = dir.ccs_unknown_version && self.version.is_none();
                if dir.encrypted || (unclear && !is_whole_client_hello(body)) {
                    self.encrypted_handshake(side, at, sink);
                } else if !self.dirs[side.i()].messages_broken {
                    self.handshake_bytes(side, body, at, sink);
                }
                self.measure_current();
            }
            ContentType::APPLICATION_DATA => self.application_data(side, head.len, at),
            _ => {} // heartbeat: not part of the handshake's outcome
        }
    }

    fn sslv2_record(
        &mut self,
        side: Side,
        head: RecordHead,
        body: &[u8],
        at: At,
        sink: &mut impl Sink,
    ) {
        if self.dirs[side.i()].encrypted || body.is_empty() {
            let hs = self.handshake(at);
            let p = &mut hs.progress[side.i()];
            p.stage = Some("SSLv2 encrypted");
            // After CLIENT-MASTER-KEY, the server's SERVER-VERIFY and the client's
            // CLIENT-FINISHED travel encrypted: both present means both sides finished.
            p.finished = true;
            if hs.progress[0].finished && hs.progress[1].finished && hs.established.is_none() {
                hs.established = Some(at);
            }
            return;
        }
        match body[0] {
            0 => {
                let code = body.get(1..3).map(|c| u16::from_be_bytes([c[0], c[1]]));
                let alert = Alert {
                    at,
                    sender: side,
                    sender_role: self.role(side),
                    handshake_index: self.current.as_ref().map(|h| h.index),
                    record_version: Version::SSL2,
                    record_length: head.len as u16,
                    encrypted: false,
                    inferred: false,
                    level: Some(AlertLevel::FATAL),
                    code: code.map(AlertCode::Ssl2),
                };
                sink.alert(&alert);
                let hs = self.handshake(at);
                hs.progress[side.i()].stage = Some("SSLv2 ERROR");
                if hs.established.is_none() && hs.fatal.is_none() {
                    hs.fatal = Some(alert);
                }
            }
            1 => {
                let hello = messages::parse_sslv2_client_hello(body);
                self.client_hello(side, hello, at, sink);
            }
            2 => {
                self.stage(side, "SSLv2 CLIENT-MASTER-KEY", at);
                self.dirs[0].encrypted = true;
                self.dirs[1].encrypted = true;
            }
            4 => match messages::parse_sslv2_server_hello(body) {
                Ok(sh) => {
                    self.client.get_or_insert(side.other());
                    self.version = Some(Version::SSL2);
                    let session_hit = body.get(1).is_some_and(|b| *b != 0);
                    let hs = self.handshake(at);
                    hs.version = Some(Version::SSL2);
                    hs.cipher_suite = None;
                    hs.server_chain = sh
                        .certificate
                        .as_deref()
                        .map(CertSummary::of)
                        .into_iter()
                        .collect();
                    hs.server_hello = Some((
                        at,
                        ServerHello {
                            legacy_version: sh.version,
                            version: Version::SSL2,
                            ..ServerHello::default()
                        },
                    ));
                    hs.progress[side.i()].stage = Some("SSLv2 SERVER-HELLO");
                    if session_hit {
                        self.dirs[0].encrypted = true;
                        self.dirs[1].encrypted = true;
                    }
                }
                Err(e) => self.handshake(at).note(e.0),
            },
            _ => self.stage(side, "SSLv2 message", at),
        }
    }

    fn alert_record(
        &mut self,
        side: Side,
        head: RecordHead,
        body: &[u8],
        at: At,
        sink: &mut impl Sink,
    ) {
        // A TLS 1.3 alert under encryption travels as application data, so a 2-byte alert
        // record is plaintext there; before 1.3 it is plaintext until the sender's CCS.
        let encrypted = head.len != 2 || (!self.tls13() && self.dirs[side.i()].encrypted);
        let (level, code) = match body {
            [l, c] if !encrypted => (Some(AlertLevel(*l)), Some(AlertCode::Tls(*c))),
            _ => (None, None),
        };
        let alert = Alert {
            at,
            sender: side,
            sender_role: self.role(side),
            handshake_index: self.current.as_ref().map(|h| h.index),
            record_version: head.version,
            record_length: head.len as u16,
            encrypted,
            inferred: false,
            level,
            code,
        };
        sink.alert(&alert);
        if let Some(hs) = self.current.as_mut() {
            if hs.established.is_none() && hs.fatal.is_none() {
                if encrypted || alert.is_fatal() {
                    hs.fatal = Some(alert);
                } else {
                    hs.last_warning = Some(alert);
                }
            }
        }
    }

    fn encrypted_handshake(&mut self, side: Side, at: At, sink: &mut impl Sink) {
        let tls13 = self.tls13();
        let Some(hs) = self.current.as_ref() else {
            return;
        };
        if hs.established.is_some() && !tls13 {
            // A handshake record under encryption after both Finished: a renegotiation.
            let hs = self.start_handshake(at, sink);
            hs.renegotiation = Some(Renegotiation::Encrypted);
            hs.initiator = Some(side);
            hs.progress[side.i()].stage = Some("encrypted handshake");
            return;
        }
        let hs = self.handshake(at);
        let p = &mut hs.progress[side.i()];
        if p.ccs {
            p.finished = true;
            p.stage = Some("Finished");
            if hs.progress[side.other().i()].finished && hs.established.is_none() {
                hs.established = Some(at);
            }
        } else {
            p.stage = Some("encrypted handshake");
        }
    }

    fn application_data(&mut self, side: Side, len: usize, at: At) {
        let tls13 = self.tls13();
        let alert_size = self.tls13_alert_size();
        let client = self.client;
        let Some(hs) = self.current.as_mut() else {
            return;
        };
        if hs.established.is_some() {
            return;
        }
        if tls13 {
            if hs.server_hello.is_none() {
                return; // 0-RTT early data, before the ServerHello
            }
            if Some(side) == client {
                hs.client_records += 1;
                if hs.client_flight.is_none() {
                    hs.client_flight = Some(at);
                    hs.progress[side.i()].stage = Some("encrypted flight");
                }
            } else if hs.client_flight.is_some() {
                // The server speaks after the client's Finished flight: with anything but an
                // alert-sized record, it accepted the Finished.
                if len != alert_size {
                    hs.established = Some(at);
                    hs.progress[side.i()].stage = Some("application data");
                }
            } else {
                hs.progress[side.i()].stage = Some("encrypted flight");
            }
            return;
        }
        // Before 1.3, application data is sent only after the sender's Finished.
        let p = &mut hs.progress[side.i()];
        p.app_data = true;
        p.finished = true;
        if hs.progress[side.other().i()].finished {
            hs.established = Some(at);
        }
    }

    fn handshake_bytes(&mut self, side: Side, body: &[u8], at: At, sink: &mut impl Sink) {
        let d = side.i();
        if self.dirs[d].partial_message.is_empty() {
            let used = self.messages(side, body, at, sink);
            let rest = &body[used..];
            if !rest.is_empty() && !self.dirs[d].messages_broken {
                self.dirs[d].partial_message.extend_from_slice(rest);
            }
        } else {
            let mut buf = std::mem::take(&mut self.dirs[d].partial_message);
            buf.extend_from_slice(body);
            let used = self.messages(side, &buf, at, sink);
            buf.drain(..used);
            // Kept only while a message is incomplete.
            if !self.dirs[d].messages_broken && !buf.is_empty() {
                self.dirs[d].partial_message = buf;
            }
        }
    }

    /// Parses the complete messages at the start of `b`; returns the bytes consumed.
    fn messages(&mut self, side: Side, b: &[u8], at: At, sink: &mut impl Sink) -> usize {
        let mut used = 0;
        while b.len() - used >= 4 {
            let h = &b[used..used + 4];
            let len = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
            if len > MAX_MESSAGE_LEN {
                self.dirs[side.i()].messages_broken = true;
                self.handshake(at)
                    .note("handshake message over the size limit");
                return b.len();
            }
            if b.len() - used - 4 < len {
                break;
            }
            let body = &b[used + 4..used + 4 + len];
            self.message(side, HandshakeType(h[0]), body, at, sink);
            used += 4 + len;
            if self.dirs[side.i()].encrypted {
                // A TLS 1.3 ServerHello switches the rest of the record's direction to keys.
                return b.len();
            }
        }
        used
    }

    fn message(&mut self, side: Side, t: HandshakeType, body: &[u8], at: At, sink: &mut impl Sink) {
        match t {
            HandshakeType::CLIENT_HELLO => {
                let (hello, err) = messages::parse_client_hello_lenient(body);
                if let Some(e) = err {
                    self.handshake(at).note(e.0);
                }
                if hello.version.0 != 0 {
                    self.client_hello(side, Ok(hello), at, sink);
                }
                return;
            }
            HandshakeType::SERVER_HELLO => {
                self.server_hello(side, messages::parse_server_hello(body), at);
                return;
            }
            _ => {}
        }
        let role = self.role(side);
        let version = self.version.unwrap_or(Version::TLS12);
        let cipher = self.cipher;
        let hs = self.handshake(at);
        let p = &mut hs.progress[side.i()];
        if t.0 < 64 {
            p.sent |= 1 << t.0;
        }
        if p.messages.len() < MAX_LISTED_MESSAGES {
            p.messages.push(t);
        }
        p.stage = Some(t.name().unwrap_or("unknown handshake message"));
        match t {
            HandshakeType::SERVER_KEY_EXCHANGE => {
                hs.server_kex = messages::server_key_exchange(body, cipher);
            }
            HandshakeType::CERTIFICATE => match messages::parse_certificate(body) {
                Ok(chain) if role == Some(Role::Client) => hs.client_chain = Some(chain),
                Ok(chain) => hs.server_chain = chain,
                Err(e) => hs.note(e.0),
            },
            HandshakeType::CERTIFICATE_REQUEST => {
                match messages::parse_certificate_request(body, version) {
                    Ok(req) => hs.cert_request = Some(req),
                    Err(e) => {
                        hs.note(e.0);
                        hs.cert_request = Some(CertificateRequest::default());
                    }
                }
            }
            _ => {}
        }
    }

    fn client_hello(
        &mut self,
        side: Side,
        hello: Result<ClientHello, ParseError>,
        at: At,
        sink: &mut impl Sink,
    ) {
        self.client.get_or_insert(side);
        let hello = match hello {
            Ok(h) => h,
            Err(e) => {
                self.handshake(at).note(e.0);
                return;
            }
        };
        enum Place {
            Retry,
            Attach,
            New { renegotiation: bool },
        }
        let place = match self.current.as_ref() {
            Some(hs) if hs.hello_retry.is_some() && hs.retry_client_hello.is_none() => Place::Retry,
            Some(hs) if hs.client_hello.is_none() && hs.server_hello.is_none() => Place::Attach,
            Some(prev) => Place::New {
                renegotiation: prev.established.is_some(),
            },
            None => Place::Attach,
        };
        let hs = match place {
            Place::Retry => {
                let hs = self.handshake(at);
                hs.retry_client_hello = Some(at);
                hs.progress[side.i()].stage = Some("ClientHello");
                return;
            }
            Place::Attach => self.handshake(at),
            Place::New { renegotiation } => {
                let hs = self.start_handshake(at, sink);
                if renegotiation {
                    hs.renegotiation = Some(Renegotiation::Clear);
                    hs.initiator = Some(side);
                }
                hs
            }
        };
        hs.client = Some(side);
        hs.started = at;
        hs.progress[side.i()].stage = Some(if hello.format == HelloFormat::Sslv2 {
            "SSLv2 CLIENT-HELLO"
        } else {
            "ClientHello"
        });
        hs.progress[side.i()].sent |= 1 << HandshakeType::CLIENT_HELLO.0;
        hs.client_hello = Some((at, hello));
    }

    fn server_hello(&mut self, side: Side, hello: Result<ServerHello, ParseError>, at: At) {
        self.client.get_or_insert(side.other());
        let client = self.client;
        let sh = match hello {
            Ok(sh) => sh,
            Err(e) => {
                self.handshake(at).note(e.0);
                return;
            }
        };
        self.version = Some(sh.version);
        self.cipher = Some(sh.cipher_suite);
        let hs = self.handshake(at);
        hs.client = client;
        let p = &mut hs.progress[side.i()];
        p.sent |= 1 << HandshakeType::SERVER_HELLO.0;
        p.stage = Some(if sh.hello_retry {
            "HelloRetryRequest"
        } else {
            "ServerHello"
        });
        hs.version = Some(sh.version);
        hs.cipher_suite = Some(sh.cipher_suite);
        if sh.hello_retry {
            hs.hello_retry = Some(at);
            return;
        }
        hs.alpn.clone_from(&sh.alpn);
        let tls13 = sh.version.is_tls13();
        hs.server_hello = Some((at, sh));
        if tls13 {
            // Everything after a TLS 1.3 ServerHello is protected, both ways.
            self.dirs[0].encrypted = true;
            self.dirs[1].encrypted = true;
        }
    }
}
