//! Parsers for the handshake messages the outcome depends on. Each takes the message body
//! (after the 4-byte handshake header) and returns a validated struct or a [`ParseError`].

use sha2::{Digest, Sha256};

use crate::codes::Version;

/// A message that does not parse. The connection goes on; the handshake row counts an anomaly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError(pub &'static str);

pub type Result<T> = std::result::Result<T, ParseError>;

/// A bounds-checked cursor over a message.
#[derive(Clone, Copy)]
pub(crate) struct Cursor<'a> {
    b: &'a [u8],
    what: &'static str,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(b: &'a [u8], what: &'static str) -> Self {
        Cursor { b, what }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.b.is_empty()
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.b.len() < n {
            return Err(ParseError(self.what));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    pub(crate) fn u24(&mut self) -> Result<usize> {
        let b = self.take(3)?;
        Ok(usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }
    /// A vector with a 1-byte length prefix.
    pub(crate) fn vec8(&mut self) -> Result<Cursor<'a>> {
        let n = usize::from(self.u8()?);
        Ok(Cursor::new(self.take(n)?, self.what))
    }
    pub(crate) fn vec16(&mut self) -> Result<Cursor<'a>> {
        let n = usize::from(self.u16()?);
        Ok(Cursor::new(self.take(n)?, self.what))
    }
    pub(crate) fn vec24(&mut self) -> Result<Cursor<'a>> {
        let n = self.u24()?;
        Ok(Cursor::new(self.take(n)?, self.what))
    }
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.b)
    }
}

/// Extension code points that the parsers read or the rows name.
pub mod ext {
    pub const SERVER_NAME: u16 = 0;
    pub const SUPPORTED_GROUPS: u16 = 10;
    pub const EC_POINT_FORMATS: u16 = 11;
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    pub const ALPN: u16 = 16;
    pub const ENCRYPT_THEN_MAC: u16 = 22;
    pub const EXTENDED_MASTER_SECRET: u16 = 23;
    pub const SESSION_TICKET: u16 = 35;
    pub const PRE_SHARED_KEY: u16 = 41;
    pub const EARLY_DATA: u16 = 42;
    pub const SUPPORTED_VERSIONS: u16 = 43;
    pub const PSK_KEY_EXCHANGE_MODES: u16 = 45;
    pub const KEY_SHARE: u16 = 51;
    pub const ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;
    pub const RENEGOTIATION_INFO: u16 = 0xff01;
    /// The pre-standard encrypted SNI (draft-ietf-tls-esni before ECH).
    pub const ENCRYPTED_SERVER_NAME: u16 = 0xffce;
}

/// The signalling cipher suite value that stands for an empty renegotiation_info (RFC 5746).
pub const SCSV_RENEGOTIATION: u32 = 0x00ff;

/// The format a ClientHello came in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HelloFormat {
    #[default]
    Tls,
    /// An SSLv2-format CLIENT-HELLO (real SSLv2, or SSLv2-compatible for SSLv3/TLS).
    Sslv2,
}

impl HelloFormat {
    pub fn name(self) -> &'static str {
        match self {
            HelloFormat::Tls => "tls",
            HelloFormat::Sslv2 => "sslv2",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    pub format: HelloFormat,
    /// `legacy_version` (for SSLv2 format: the version in the CLIENT-HELLO).
    pub version: Version,
    /// Versions from `supported_versions`, in wire order.
    pub supported_versions: Vec<Version>,
    /// Cipher suites in wire order, GREASE included; SSLv2 3-byte cipher kinds appear as their
    /// 24-bit value.
    pub cipher_suites: Vec<u32>,
    pub compression_methods: Vec<u8>,
    /// Extension types in wire order, GREASE included.
    pub extensions: Vec<u16>,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    /// The first ALPN protocol's first and last byte, as sent (JA4 reads bytes, not text).
    pub alpn_first_ends: Option<(u8, u8)>,
    pub supported_groups: Vec<u16>,
    pub ec_point_formats: Vec<u8>,
    pub signature_algorithms: Vec<u16>,
    /// The groups of the key shares offered (TLS 1.3), in wire order.
    pub key_share_groups: Vec<u16>,
    pub psk_key_exchange_modes: Vec<u8>,
    pub session_id: Vec<u8>,
    /// The session_ticket extension's length when present: 0 asks for a ticket, more offers one.
    pub session_ticket_len: Option<usize>,
    /// The number of PSK identities offered in pre_shared_key (TLS 1.3 resumption).
    pub psk_identities: usize,
}

impl ClientHello {
    /// Heap bytes of its lists and strings (for memory budgets).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.supported_versions.capacity() * size_of::<Version>()
            + self.cipher_suites.capacity() * size_of::<u32>()
            + self.compression_methods.capacity()
            + self.extensions.capacity() * size_of::<u16>()
            + self.sni.as_ref().map_or(0, String::capacity)
            + self.alpn.capacity() * size_of::<String>()
            + self.alpn.iter().map(String::capacity).sum::<usize>()
            + self.supported_groups.capacity() * size_of::<u16>()
            + self.ec_point_formats.capacity()
            + self.signature_algorithms.capacity() * size_of::<u16>()
            + self.key_share_groups.capacity() * size_of::<u16>()
            + self.psk_key_exchange_modes.capacity()
            + self.session_id.capacity()
    }

    /// The highest version the client offers.
    pub fn max_version(&self) -> Version {
        self.supported_versions
            .iter()
            .copied()
            .filter(|v| !v.is_grease())
            .max()
            .unwrap_or(self.version)
    }
}

/// Parses a ClientHello; on malformed input returns what was read before the damage with the
/// error, so that a row still says a ClientHello was sent (tshark does the same).
pub fn parse_client_hello_lenient(body: &[u8]) -> (ClientHello, Option<ParseError>) {
    let mut hello = ClientHello::default();
    let err = client_hello_into(body, &mut hello).err();
    (hello, err)
}

pub fn parse_client_hello(body: &[u8]) -> Result<ClientHello> {
    match parse_client_hello_lenient(body) {
        (h, None) => Ok(h),
        (_, Some(e)) => Err(e),
    }
}

fn client_hello_into(body: &[u8], hello: &mut ClientHello) -> Result<()> {
    let mut c = Cursor::new(body, "truncated ClientHello");
    hello.version = Version(c.u16()?);
    c.take(32)?; // random
    hello.session_id = c.vec8()?.rest().to_vec();
    let mut suites = match c.vec16() {
        Ok(s) => s,
        Err(_) => {
            // A cipher-suite length past the message: keep the suites that are there.
            let mut rest = Cursor::new(c.rest(), "");
            while let Ok(s) = rest.u16() {
                hello.cipher_suites.push(u32::from(s));
            }
            return Err(ParseError(
                "ClientHello cipher suite list runs past the message",
            ));
        }
    };
    // An odd-length list is malformed, but its whole suites are still what the client offered
    // (tshark reads them the same way).
    while let Ok(s) = suites.u16() {
        hello.cipher_suites.push(u32::from(s));
    }
    hello.compression_methods = c.vec8()?.rest().to_vec();
    if c.is_empty() {
        return Ok(());
    }
    let mut exts = c.vec16()?;
    while !exts.is_empty() {
        let ty = exts.u16()?;
        let mut data = exts.vec16()?;
        hello.extensions.push(ty);
        match ty {
            ext::SERVER_NAME => hello.sni = parse_sni(&mut data)?,
            ext::ALPN => {
                let mut list = data.vec16()?;
                while !list.is_empty() {
                    let proto = list.vec8()?.rest();
                    if let (None, Some(&first), Some(&last)) =
                        (hello.alpn_first_ends, proto.first(), proto.last())
                    {
                        hello.alpn_first_ends = Some((first, last));
                    }
                    hello.alpn.push(String::from_utf8_lossy(proto).into_owned());
                }
            }
            ext::SUPPORTED_VERSIONS => {
                let mut list = data.vec8()?;
                while !list.is_empty() {
                    hello.supported_versions.push(Version(list.u16()?));
                }
            }
            ext::SUPPORTED_GROUPS => hello.supported_groups = u16_list(data.vec16()?),
            ext::EC_POINT_FORMATS => hello.ec_point_formats = data.vec8()?.rest().to_vec(),
            ext::SIGNATURE_ALGORITHMS => hello.signature_algorithms = u16_list(data.vec16()?),
            ext::KEY_SHARE => {
                let mut shares = data.vec16()?;
                while !shares.is_empty() {
                    hello.key_share_groups.push(shares.u16()?);
                    shares.vec16()?;
                }
            }
            ext::PSK_KEY_EXCHANGE_MODES => {
                hello.psk_key_exchange_modes = data.vec8()?.rest().to_vec();
            }
            ext::SESSION_TICKET => hello.session_ticket_len = Some(data.rest().len()),
            ext::PRE_SHARED_KEY => {
                let mut identities = data.vec16()?;
                while !identities.is_empty() {
                    identities.vec16()?;
                    identities.take(4)?; // obfuscated_ticket_age
                    hello.psk_identities += 1;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A list of 16-bit values; a trailing odd byte is ignored.
fn u16_list(mut c: Cursor<'_>) -> Vec<u16> {
    let mut v = Vec::with_capacity(c.b.len() / 2);
    while let Ok(x) = c.u16() {
        v.push(x);
    }
    v
}

fn parse_sni(data: &mut Cursor<'_>) -> Result<Option<String>> {
    if data.is_empty() {
        return Ok(None); // a server's empty acknowledgement
    }
    let mut list = data.vec16()?;
    while !list.is_empty() {
        let kind = list.u8()?;
        let name = list.vec16()?.rest();
        if kind == 0 {
            return Ok(Some(String::from_utf8_lossy(name).into_owned()));
        }
    }
    Ok(None)
}

/// An SSLv2-format CLIENT-HELLO message (type byte included in `msg`).
pub fn parse_sslv2_client_hello(msg: &[u8]) -> Result<ClientHello> {
    let mut c = Cursor::new(msg, "truncated SSLv2 CLIENT-HELLO");
    if c.u8()? != 1 {
        return Err(ParseError("not an SSLv2 CLIENT-HELLO"));
    }
    let version = Version(c.u16()?);
    let spec_len = usize::from(c.u16()?);
    let sid_len = c.u16()?;
    let challenge_len = usize::from(c.u16()?);
    if spec_len % 3 != 0 || sid_len > 32 || !(16..=32).contains(&challenge_len) {
        return Err(ParseError("malformed SSLv2 CLIENT-HELLO lengths"));
    }
    let mut specs = Cursor::new(c.take(spec_len)?, "");
    c.take(usize::from(sid_len) + challenge_len)?;
    let mut cipher_suites = Vec::with_capacity(spec_len / 3);
    while !specs.is_empty() {
        let b = specs.take(3)?;
        cipher_suites.push(u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]));
    }
    Ok(ClientHello {
        format: HelloFormat::Sslv2,
        version,
        cipher_suites,
        ..ClientHello::default()
    })
}

/// SHA-256 of `"HelloRetryRequest"`: a ServerHello with this random is a HelloRetryRequest.
pub const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerHello {
    pub legacy_version: Version,
    /// The negotiated version: `supported_versions` when present, else `legacy_version`.
    pub version: Version,
    pub cipher_suite: u16,
    pub alpn: Option<String>,
    pub hello_retry: bool,
    pub session_id: Vec<u8>,
    pub compression_method: u8,
    /// Extension types in wire order.
    pub extensions: Vec<u16>,
    /// The key share's group (TLS 1.3; in a HelloRetryRequest, the group the server asks for).
    pub key_share_group: Option<u16>,
    /// The PSK identity the server accepted (TLS 1.3 resumption).
    pub selected_psk: Option<u16>,
}

pub fn parse_server_hello(body: &[u8]) -> Result<ServerHello> {
    let mut c = Cursor::new(body, "truncated ServerHello");
    let legacy_version = Version(c.u16()?);
    let random = c.take(32)?;
    // TLS 1.3 drafts before 22 had no session id and no compression method in the ServerHello,
    // and carried the real version in this field (0x7fNN, or 0x0304 in some implementations;
    // from draft 22 on this field is always 0x0303).
    let early_draft = (legacy_version.0 >> 8 == 0x7f && legacy_version.0 & 0xff < 22)
        || legacy_version == Version::TLS13;
    let session_id = if early_draft {
        Vec::new()
    } else {
        c.vec8()?.rest().to_vec()
    };
    let cipher_suite = c.u16()?;
    let compression_method = if early_draft { 0 } else { c.u8()? };
    let mut hello = ServerHello {
        legacy_version,
        version: legacy_version,
        cipher_suite,
        alpn: None,
        hello_retry: random == HRR_RANDOM,
        session_id,
        compression_method,
        extensions: Vec::new(),
        key_share_group: None,
        selected_psk: None,
    };
    if c.is_empty() {
        return Ok(hello);
    }
    let mut exts = c.vec16()?;
    while !exts.is_empty() {
        let ty = exts.u16()?;
        let mut data = exts.vec16()?;
        hello.extensions.push(ty);
        match ty {
            ext::SUPPORTED_VERSIONS => hello.version = Version(data.u16()?),
            ext::ALPN => {
                let mut list = data.vec16()?;
                if !list.is_empty() {
                    hello.alpn = Some(String::from_utf8_lossy(list.vec8()?.rest()).into_owned());
                }
            }
            // A ServerHello's KeyShareEntry, or a HelloRetryRequest's bare group.
            ext::KEY_SHARE => hello.key_share_group = Some(data.u16()?),
            ext::PRE_SHARED_KEY => hello.selected_psk = Some(data.u16()?),
            _ => {}
        }
    }
    Ok(hello)
}

/// An SSLv2 SERVER-HELLO (type byte included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sslv2ServerHello {
    pub version: Version,
    pub certificate: Option<Vec<u8>>,
    pub cipher_kinds: Vec<u32>,
}

pub fn parse_sslv2_server_hello(msg: &[u8]) -> Result<Sslv2ServerHello> {
    let mut c = Cursor::new(msg, "truncated SSLv2 SERVER-HELLO");
    if c.u8()? != 4 {
        return Err(ParseError("not an SSLv2 SERVER-HELLO"));
    }
    c.u8()?; // session id hit
    c.u8()?; // certificate type
    let version = Version(c.u16()?);
    let cert_len = usize::from(c.u16()?);
    let specs_len = usize::from(c.u16()?);
    c.u16()?; // connection id length
    let cert = c.take(cert_len)?;
    let mut specs = Cursor::new(c.take(specs_len)?, "");
    let mut cipher_kinds = Vec::new();
    while let Ok(b) = specs.take(3) {
        cipher_kinds.push(u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]));
    }
    Ok(Sslv2ServerHello {
        version,
        certificate: (!cert.is_empty()).then(|| cert.to_vec()),
        cipher_kinds,
    })
}

/// One certificate of a chain: its fingerprint, the DER names the diagnosis compares, and the
/// certificate itself, for the caller to read in full once per distinct fingerprint
/// ([`crate::x509::parse_certificate_info`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertSummary {
    pub sha256: [u8; 32],
    /// DER of the issuer Name, when the certificate's outer structure parses.
    pub issuer: Option<Vec<u8>>,
    pub subject: Option<Vec<u8>>,
    pub der: Vec<u8>,
}

impl CertSummary {
    /// Heap bytes of the certificate and its names (for memory budgets).
    pub fn heap_bytes(&self) -> usize {
        self.der.capacity()
            + self.issuer.as_ref().map_or(0, Vec::capacity)
            + self.subject.as_ref().map_or(0, Vec::capacity)
    }

    pub fn of(der: &[u8]) -> CertSummary {
        let names = crate::der::issuer_and_subject(der);
        CertSummary {
            sha256: Sha256::digest(der).into(),
            issuer: names.map(|(i, _)| i.to_vec()),
            subject: names.map(|(_, s)| s.to_vec()),
            der: der.to_vec(),
        }
    }
}

/// A TLS 1.0-1.2 Certificate message: the chain, leaf first.
pub fn parse_certificate(body: &[u8]) -> Result<Vec<CertSummary>> {
    let mut c = Cursor::new(body, "truncated Certificate");
    let mut list = c.vec24()?;
    let mut chain = Vec::new();
    while !list.is_empty() {
        chain.push(CertSummary::of(list.vec24()?.rest()));
    }
    Ok(chain)
}

/// A TLS 1.0-1.2 CertificateRequest: the DER names of the CAs the server accepts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertificateRequest {
    pub cert_types: Vec<u8>,
    /// TLS 1.2: the signature algorithms a client certificate may use.
    pub signature_algorithms: Vec<u16>,
    /// DER Names of the acceptable CAs; empty means any.
    pub ca_names: Vec<Vec<u8>>,
}

pub fn parse_certificate_request(body: &[u8], version: Version) -> Result<CertificateRequest> {
    let mut c = Cursor::new(body, "truncated CertificateRequest");
    let cert_types = c.vec8()?.rest().to_vec();
    let signature_algorithms = if version >= Version::TLS12 {
        u16_list(c.vec16()?)
    } else {
        Vec::new()
    };
    let mut names = c.vec16()?;
    let mut ca_names = Vec::new();
    while !names.is_empty() {
        ca_names.push(names.vec16()?.rest().to_vec());
    }
    Ok(CertificateRequest {
        cert_types,
        signature_algorithms,
        ca_names,
    })
}

/// The key exchange a ServerKeyExchange carries, as far as the row needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKex {
    /// ECDHE with a named group (RFC 8422 `named_curve`).
    Ecdhe { group: u16 },
    /// Finite-field DHE: the prime's size.
    Dhe { prime_bits: u32 },
}

/// Reads the parameters' head of a ServerKeyExchange under cipher suite `suite`: the named group
/// of ECDHE, the prime size of DHE. `None` for other key exchanges or bodies that do not parse.
pub fn server_key_exchange(body: &[u8], suite: Option<u16>) -> Option<ServerKex> {
    let name = crate::codes::CipherSuite(suite?).name()?;
    let mut c = Cursor::new(body, "truncated ServerKeyExchange");
    if name.contains("_ECDHE_") {
        if c.u8().ok()? != 3 {
            return None; // explicit curves: deprecated, not named
        }
        return Some(ServerKex::Ecdhe {
            group: c.u16().ok()?,
        });
    }
    if name.contains("_DHE_") || name.contains("_DH_anon_") {
        let p = c.vec16().ok()?.rest();
        let p = &p[p.iter().take_while(|&&b| b == 0).count()..];
        let bits = p
            .first()
            .map_or(0, |f| 8 * p.len() as u32 - f.leading_zeros());
        return Some(ServerKex::Dhe { prime_bits: bits });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_key_exchange_parameters() {
        // ECDHE_RSA with secp256r1 (23), then the point and signature (not read).
        let ecdhe = [3, 0, 23, 65, 4, 1, 2];
        assert_eq!(
            server_key_exchange(&ecdhe, Some(0xc02f)),
            Some(ServerKex::Ecdhe { group: 23 })
        );
        // DHE_RSA with a 2048-bit prime (256 bytes, top bit set).
        let mut dhe = vec![1, 0, 0x80];
        dhe.extend_from_slice(&[0xff; 255]);
        assert_eq!(
            server_key_exchange(&dhe, Some(0x009e)),
            Some(ServerKex::Dhe { prime_bits: 2048 })
        );
        assert_eq!(server_key_exchange(&ecdhe, Some(0x002f)), None); // plain RSA
        assert_eq!(server_key_exchange(&[3, 0], Some(0xc02f)), None);
        assert_eq!(server_key_exchange(&ecdhe, None), None);
    }

    pub(crate) fn client_hello_body(sni: &str, alpn: &[&str], versions: &[u16]) -> Vec<u8> {
        let mut b = vec![0x03, 0x03];
        b.extend_from_slice(&[7; 32]);
        b.push(0);
        b.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f]);
        b.extend_from_slice(&[1, 0]);
        let mut exts = Vec::new();
        let name = sni.as_bytes();
        exts.extend_from_slice(&[0, 0]);
        exts.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
        exts.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
        exts.push(0);
        exts.extend_from_slice(&(name.len() as u16).to_be_bytes());
        exts.extend_from_slice(name);
        let mut protos = Vec::new();
        for p in alpn {
            protos.push(p.len() as u8);
            protos.extend_from_slice(p.as_bytes());
        }
        exts.extend_from_slice(&[0, 16]);
        exts.extend_from_slice(&((protos.len() + 2) as u16).to_be_bytes());
        exts.extend_from_slice(&(protos.len() as u16).to_be_bytes());
        exts.extend_from_slice(&protos);
        exts.extend_from_slice(&[0, 43]);
        exts.extend_from_slice(&((versions.len() * 2 + 1) as u16).to_be_bytes());
        exts.push((versions.len() * 2) as u8);
        for v in versions {
            exts.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        b.extend_from_slice(&exts);
        b
    }

    #[test]
    fn client_hello_fields() {
        let b = client_hello_body("example.com", &["h2", "http/1.1"], &[0x0304, 0x0303]);
        let h = parse_client_hello(&b).unwrap();
        assert_eq!(h.sni.as_deref(), Some("example.com"));
        assert_eq!(h.alpn, ["h2", "http/1.1"]);
        assert_eq!(h.cipher_suites, [0x1301, 0xc02f]);
        assert_eq!(h.extensions, [0, 16, 43]);
        assert_eq!(h.max_version(), Version::TLS13);
        for n in 0..b.len() {
            let _ = parse_client_hello(&b[..n]);
        }
    }

    #[test]
    fn sslv2_client_hello() {
        // Zeek's ssl.v3.pcap frame 4, message part: CLIENT-HELLO offering TLS 1.0, 3 kinds.
        let mut m = vec![1, 0x03, 0x01, 0, 9, 0, 0, 0, 16];
        m.extend_from_slice(&[0x00, 0x00, 0x39, 0x00, 0x00, 0x38, 0x01, 0x00, 0x80]);
        m.extend_from_slice(&[0xaa; 16]);
        let h = parse_sslv2_client_hello(&m).unwrap();
        assert_eq!(h.version, Version::TLS10);
        assert_eq!(h.cipher_suites, [0x39, 0x38, 0x010080]);
        assert_eq!(h.format, HelloFormat::Sslv2);
        assert!(parse_sslv2_client_hello(&m[..20]).is_err());
    }

    #[test]
    fn server_hello_with_supported_versions_and_hrr() {
        let mut b = vec![0x03, 0x03];
        b.extend_from_slice(&HRR_RANDOM);
        b.extend_from_slice(&[0, 0x13, 0x01, 0]);
        b.extend_from_slice(&[0, 6, 0, 43, 0, 2, 0x03, 0x04]);
        let h = parse_server_hello(&b).unwrap();
        assert_eq!(h.version, Version::TLS13);
        assert_eq!(h.legacy_version, Version::TLS12);
        assert!(h.hello_retry);
        assert_eq!(h.cipher_suite, 0x1301);
    }

    #[test]
    fn certificate_request_ca_names() {
        let body = [1, 1, 0, 2, 4, 1, 0, 8, 0, 2, 0x30, 0x00, 0, 2, 0x30, 0x00];
        let r = parse_certificate_request(&body, Version::TLS12).unwrap();
        assert_eq!(r.ca_names.len(), 2);
        let body10 = [1, 1, 0, 4, 0, 2, 0x30, 0x00];
        assert_eq!(
            parse_certificate_request(&body10, Version::TLS10)
                .unwrap()
                .ca_names,
            [vec![0x30, 0]]
        );
    }
}
