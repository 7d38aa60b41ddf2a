//! The plaintext protocol a connection spoke before it upgraded to TLS (STARTTLS and its kin),
//! recognised from the segments that came before the first TLS record.
//!
//! Only the upgrade request itself names the protocol, with the server's greeting to tell apart
//! the protocols that share a command (a bare `STARTTLS` line is SMTP, NNTP or IRC).

/// What a side said in plaintext first, when it is recognisable: it tells a port that does not
/// speak TLS (a server answering HTTP) or a client that does not (plain HTTP to a TLS port).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plaintext {
    HttpRequest,
    HttpResponse,
    Other,
}

impl Plaintext {
    fn of(data: &[u8]) -> Plaintext {
        const METHODS: [&[u8]; 9] = [
            b"GET ",
            b"POST ",
            b"HEAD ",
            b"PUT ",
            b"DELETE ",
            b"OPTIONS ",
            b"CONNECT ",
            b"PATCH ",
            b"TRACE ",
        ];
        if METHODS.iter().any(|m| data.starts_with(m)) {
            Plaintext::HttpRequest
        } else if data.starts_with(b"HTTP/1.")
            || data.starts_with(b"HTTP/2")
            // HTTP/0.9-style: an error page with no status line (Python's http.server answers a
            // request line it cannot parse this way).
            || starts_with_ci(data, b"<!DOCTYPE HTML")
            || starts_with_ci(data, b"<html")
        {
            Plaintext::HttpResponse
        } else {
            Plaintext::Other
        }
    }

    /// The stage a side reached, as the handshake row names it.
    pub fn stage(self) -> &'static str {
        match self {
            Plaintext::HttpRequest => "plaintext HTTP request",
            Plaintext::HttpResponse => "plaintext HTTP response",
            Plaintext::Other => "plaintext",
        }
    }
}

/// What has been seen in plaintext so far, either direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Carrier {
    /// The first plaintext each side (A, B) sent before any TLS.
    pub(crate) first: [Option<Plaintext>; 2],
    greeting: Option<Greeting>,
    /// The protocol whose upgrade request was seen.
    pub(crate) upgrade: Option<&'static str>,
    /// A MySQL server greeting was seen: the client's SSL request comes next.
    mysql_greeting: bool,
    /// FTP `AUTH GSSAPI` (RFC 2228; GridFTP's GSI): the handshake follows base64-encoded in
    /// FTP lines, see [`gss_ftp_payload`].
    pub(crate) gss_ftp: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Greeting {
    /// `220`: SMTP or FTP (told apart by the upgrade command).
    Code220,
    /// `200`/`201`: NNTP.
    Nntp,
    /// `:server NOTICE ...`: IRC.
    Irc,
}

/// The OID of LDAP's StartTLS extended operation (RFC 4511 §4.14), as it appears in the request.
const LDAP_STARTTLS_OID: &[u8] = b"1.3.6.1.4.1.1466.20037";
/// PostgreSQL's SSLRequest: length 8, code 80877103.
const POSTGRES_SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

fn starts_with_ci(data: &[u8], prefix: &[u8]) -> bool {
    data.len() >= prefix.len() && data[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// The first line, without its line ending, trimmed of trailing spaces.
fn first_line(data: &[u8]) -> &[u8] {
    let end = data
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(data.len());
    data[..end].trim_ascii_end()
}

impl Carrier {
    /// A plaintext segment from side `side` (0 = A, 1 = B) before that side sent any TLS.
    pub(crate) fn plaintext_from(&mut self, side: usize, data: &[u8]) {
        if !data.is_empty() {
            self.first[side].get_or_insert_with(|| Plaintext::of(data));
        }
    }

    /// One plaintext segment (not a TLS record) from either side, before any TLS was seen.
    pub(crate) fn observe(&mut self, data: &[u8]) {
        if self.upgrade.is_some() || data.is_empty() {
            return;
        }
        if let Some(p) = self.upgrade_request(data) {
            self.upgrade = Some(p);
            self.gss_ftp = p == "ftp-gssapi";
            return;
        }
        if self.greeting.is_none() {
            self.greeting = if starts_with_ci(data, b"220") {
                Some(Greeting::Code220)
            } else if starts_with_ci(data, b"200 ") || starts_with_ci(data, b"201 ") {
                Some(Greeting::Nntp)
            } else if data[0] == b':' || starts_with_ci(data, b"NOTICE ") {
                Some(Greeting::Irc)
            } else {
                None
            };
        }
        // MySQL's handshake packet: 3-byte length, sequence 0, protocol version 10.
        if matches!(data, [_, _, 0, 0, 10, ..]) {
            self.mysql_greeting = true;
        }
    }

    fn upgrade_request(&self, data: &[u8]) -> Option<&'static str> {
        if data == POSTGRES_SSL_REQUEST {
            return Some("postgresql");
        }
        // LDAP: an LDAPMessage (SEQUENCE) holding an ExtendedRequest ([APPLICATION 23]) for
        // the StartTLS OID.
        if data.first() == Some(&0x30)
            && data.len() < 128
            && data.contains(&0x77)
            && data
                .windows(LDAP_STARTTLS_OID.len())
                .any(|w| w == LDAP_STARTTLS_OID)
        {
            return Some("ldap");
        }
        // MySQL: after the server's greeting, a 32-byte SSLRequest packet (sequence 1) whose
        // capability flags have CLIENT_SSL (0x0800).
        if self.mysql_greeting {
            if let [32, 0, 0, 1, lo, hi, ..] = data {
                if u16::from_le_bytes([*lo, *hi]) & 0x0800 != 0 {
                    return Some("mysql");
                }
            }
        }
        if starts_with_ci(data, b"<starttls") || contains_ci(data, b"<starttls xmlns") {
            return Some("xmpp");
        }
        let line = first_line(data);
        if line.eq_ignore_ascii_case(b"STLS") {
            return Some("pop3");
        }
        if starts_with_ci(line, b"AUTH TLS") || starts_with_ci(line, b"AUTH SSL") {
            return Some("ftp");
        }
        if line.eq_ignore_ascii_case(b"AUTH GSSAPI") {
            return Some("ftp-gssapi");
        }
        if line.eq_ignore_ascii_case(b"STARTTLS") {
            return Some(match self.greeting {
                Some(Greeting::Nntp) => "nntp",
                Some(Greeting::Irc) => "irc",
                _ => "smtp",
            });
        }
        // IMAP: `<tag> STARTTLS`. Not after a numeric-reply greeting: there `250 STARTTLS` is an
        // SMTP server advertising the extension, in a segment of its own.
        if let Some(sp) = line.iter().position(|&b| b == b' ') {
            let numeric_reply = sp == 3 && line[..3].iter().all(u8::is_ascii_digit);
            if sp > 0
                && !numeric_reply
                && self.greeting.is_none()
                && line[sp + 1..].eq_ignore_ascii_case(b"STARTTLS")
            {
                return Some("imap");
            }
        }
        // IRC: `CAP REQ :tls` is not an upgrade; `STARTTLS` alone is (handled above).
        None
    }
}

/// The protected bytes of one FTP/GSSAPI line: `ADAT`, `ENC`, `MIC`, `CONF` commands and the
/// `ADAT=` (235, 335) and protected (631-633) replies carry base64; other lines carry none.
pub(crate) fn gss_ftp_payload(line: &[u8]) -> Option<Vec<u8>> {
    let line = line.trim_ascii();
    let b64 = [
        &b"ADAT "[..],
        b"ENC ",
        b"MIC ",
        b"CONF ",
        b"335 ADAT=",
        b"235 ADAT=",
        b"631 ",
        b"632 ",
        b"633 ",
    ]
    .iter()
    .find(|p| starts_with_ci(line, p))
    .map(|p| &line[p.len()..])?;
    base64_decode(b64)
}

/// Standard base64 (RFC 4648), padding optional; `None` on any other byte.
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn contains_ci(data: &[u8], needle: &[u8]) -> bool {
    data.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade(segments: &[&[u8]]) -> Option<&'static str> {
        let mut c = Carrier::default();
        for s in segments {
            c.observe(s);
        }
        c.upgrade
    }

    #[test]
    fn each_protocol_by_its_upgrade_request() {
        let smtp: &[&[u8]] = &[
            b"220 mx ESMTP\r\n",
            b"EHLO me\r\n",
            b"250-x\r\n",
            b"STARTTLS\r\n",
        ];
        assert_eq!(upgrade(smtp), Some("smtp"));
        assert_eq!(
            upgrade(&[b"* OK IMAP4rev1\r\n", b"a001 STARTTLS\r\n"]),
            Some("imap")
        );
        assert_eq!(upgrade(&[b"+OK POP3\r\n", b"STLS\r\n"]), Some("pop3"));
        assert_eq!(upgrade(&[b"220 FTP\r\n", b"AUTH TLS\r\n"]), Some("ftp"));
        assert_eq!(upgrade(&[b"200 news\r\n", b"STARTTLS\r\n"]), Some("nntp"));
        assert_eq!(
            upgrade(&[b":irc.example NOTICE * :hi\r\n", b"STARTTLS\r\n"]),
            Some("irc")
        );
        assert_eq!(
            upgrade(&[
                b"<?xml version='1.0'?><stream:stream>",
                b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
            ]),
            Some("xmpp")
        );
        assert_eq!(upgrade(&[&POSTGRES_SSL_REQUEST]), Some("postgresql"));
        let mut ldap = vec![0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16];
        ldap.extend_from_slice(LDAP_STARTTLS_OID);
        assert_eq!(upgrade(&[&ldap]), Some("ldap"));
        let greeting: &[u8] = &[0x4a, 0, 0, 0, 10, b'8', b'.', b'0', 0];
        let mut ssl_request = vec![32, 0, 0, 1, 0x05, 0xae, 0xff, 0x01];
        ssl_request.resize(36, 0);
        assert_eq!(upgrade(&[greeting, &ssl_request]), Some("mysql"));
    }

    #[test]
    fn first_plaintext_per_side() {
        let mut c = Carrier::default();
        c.plaintext_from(0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        c.plaintext_from(1, b"HTTP/1.1 400 Bad Request\r\n");
        c.plaintext_from(0, b"SSH-2.0-x\r\n");
        assert_eq!(
            c.first,
            [Some(Plaintext::HttpRequest), Some(Plaintext::HttpResponse)]
        );
    }

    #[test]
    fn gss_ftp_lines() {
        assert_eq!(
            upgrade(&[b"220 ftp\r\n", b"AUTH GSSAPI\r\n"]),
            Some("ftp-gssapi")
        );
        assert_eq!(
            gss_ftp_payload(b"ADAT FgMBAA==\r\n"),
            Some(vec![0x16, 3, 1, 0])
        );
        assert_eq!(
            gss_ftp_payload(b"335 ADAT=FgMB\r\n"),
            Some(vec![0x16, 3, 1])
        );
        assert_eq!(gss_ftp_payload(b"334 Using authentication type\r\n"), None);
        assert_eq!(gss_ftp_payload(b"ADAT F*MB\r\n"), None);
        assert_eq!(base64_decode(b"aGVsbG8"), Some(b"hello".to_vec()));
    }

    #[test]
    fn plain_traffic_is_no_upgrade() {
        assert_eq!(upgrade(&[b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]), None);
        assert_eq!(upgrade(&[b"220 mx\r\n", b"EHLO me\r\n", b"QUIT\r\n"]), None);
        assert_eq!(upgrade(&[b"STARTTLSX\r\n"]), None);
        // An SMTP server's EHLO reply, one line a segment: the extension, not an upgrade.
        let smtp: &[&[u8]] = &[
            b"220 mx\r\n",
            b"EHLO me\r\n",
            b"250-mx\r\n",
            b"250 STARTTLS\r\n",
        ];
        assert_eq!(upgrade(smtp), None);
    }
}
