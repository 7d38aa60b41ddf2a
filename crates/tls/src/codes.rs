//! Protocol code points as newtypes over integers, with names from one table each.
//! An unknown value is data (`name()` returns `None`), never a parse error.

use crate::cipher_names::CIPHER_SUITES;

/// Record content types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ContentType(pub u8);

impl ContentType {
    pub const CHANGE_CIPHER_SPEC: ContentType = ContentType(20);
    pub const ALERT: ContentType = ContentType(21);
    pub const HANDSHAKE: ContentType = ContentType(22);
    pub const APPLICATION_DATA: ContentType = ContentType(23);
    pub const HEARTBEAT: ContentType = ContentType(24);

    pub fn is_known(self) -> bool {
        (20..=24).contains(&self.0)
    }
}

/// A protocol version as it appears on the wire (`0x0301` is TLS 1.0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(pub u16);

impl Version {
    pub const SSL2: Version = Version(0x0002);
    pub const SSL3: Version = Version(0x0300);
    pub const TLS10: Version = Version(0x0301);
    pub const TLS11: Version = Version(0x0302);
    pub const TLS12: Version = Version(0x0303);
    pub const TLS13: Version = Version(0x0304);

    /// `SSL 2.0`, `SSL 3.0`, `TLS 1.0` ... `TLS 1.3`; drafts and experiments are named as such.
    pub fn name(self) -> String {
        match self.0 {
            0x0002 => "SSL 2.0".into(),
            0x0300 => "SSL 3.0".into(),
            0x0301 => "TLS 1.0".into(),
            0x0302 => "TLS 1.1".into(),
            0x0303 => "TLS 1.2".into(),
            0x0304 => "TLS 1.3".into(),
            v if v >> 8 == 0x7f => format!("TLS 1.3 draft {}", v & 0xff),
            v if v & 0x0f0f == 0x0a0a => format!("GREASE 0x{v:04x}"),
            0x7e01..=0x7eff | 0xfb00..=0xfbff => format!("TLS 1.3 experimental 0x{:04x}", self.0),
            0xfeff => "DTLS 1.0".into(),
            0xfefd => "DTLS 1.2".into(),
            0xfefc => "DTLS 1.3".into(),
            v => format!("0x{v:04x}"),
        }
    }

    /// TLS 1.3 and its drafts and experimental variants, which share the 1.3 record rules.
    pub fn is_tls13(self) -> bool {
        self.0 == 0x0304
            || self.0 >> 8 == 0x7f
            || (0x7e01..=0x7eff).contains(&self.0)
            || self.0 >> 8 == 0xfb
    }

    pub fn is_grease(self) -> bool {
        is_grease(self.0)
    }
}

/// GREASE values (RFC 8701): 0x?A?A with both bytes equal, in cipher suites, extensions,
/// groups, versions and signature algorithms.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// Handshake message types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HandshakeType(pub u8);

impl HandshakeType {
    pub const HELLO_REQUEST: HandshakeType = HandshakeType(0);
    pub const CLIENT_HELLO: HandshakeType = HandshakeType(1);
    pub const SERVER_HELLO: HandshakeType = HandshakeType(2);
    pub const NEW_SESSION_TICKET: HandshakeType = HandshakeType(4);
    pub const CERTIFICATE: HandshakeType = HandshakeType(11);
    pub const SERVER_KEY_EXCHANGE: HandshakeType = HandshakeType(12);
    pub const CERTIFICATE_REQUEST: HandshakeType = HandshakeType(13);
    pub const SERVER_HELLO_DONE: HandshakeType = HandshakeType(14);
    pub const CERTIFICATE_VERIFY: HandshakeType = HandshakeType(15);
    pub const CLIENT_KEY_EXCHANGE: HandshakeType = HandshakeType(16);
    pub const FINISHED: HandshakeType = HandshakeType(20);

    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "HelloRequest",
            1 => "ClientHello",
            2 => "ServerHello",
            3 => "HelloVerifyRequest",
            4 => "NewSessionTicket",
            5 => "EndOfEarlyData",
            6 => "HelloRetryRequest",
            8 => "EncryptedExtensions",
            11 => "Certificate",
            12 => "ServerKeyExchange",
            13 => "CertificateRequest",
            14 => "ServerHelloDone",
            15 => "CertificateVerify",
            16 => "ClientKeyExchange",
            20 => "Finished",
            21 => "CertificateURL",
            22 => "CertificateStatus",
            23 => "SupplementalData",
            24 => "KeyUpdate",
            25 => "CompressedCertificate",
            67 => "NextProtocol",
            _ => return None,
        })
    }
}

/// Alert levels: 1 warning, 2 fatal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AlertLevel(pub u8);

impl AlertLevel {
    pub const WARNING: AlertLevel = AlertLevel(1);
    pub const FATAL: AlertLevel = AlertLevel(2);

    pub fn name(self) -> Option<&'static str> {
        match self.0 {
            1 => Some("warning"),
            2 => Some("fatal"),
            _ => None,
        }
    }
}

/// Alert descriptions: the whole IANA TLS Alerts registry (0 to 121), which also holds the
/// SSLv3 codes (41 no_certificate), plus SSLv2 ERROR codes, kept apart by [`AlertCode::Ssl2`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertCode {
    Tls(u8),
    /// An SSLv2 ERROR message's error code.
    Ssl2(u16),
}

/// (code, IANA name). Names marked `_RESERVED` by IANA keep their historical name, which is
/// what users search for (`decryption_failed` is what TLS 1.0 stacks send).
pub const ALERT_NAMES: &[(u8, &str)] = &[
    (0, "close_notify"),
    (1, "end_of_early_data"),
    (10, "unexpected_message"),
    (20, "bad_record_mac"),
    (21, "decryption_failed"),
    (22, "record_overflow"),
    (30, "decompression_failure"),
    (40, "handshake_failure"),
    (41, "no_certificate"),
    (42, "bad_certificate"),
    (43, "unsupported_certificate"),
    (44, "certificate_revoked"),
    (45, "certificate_expired"),
    (46, "certificate_unknown"),
    (47, "illegal_parameter"),
    (48, "unknown_ca"),
    (49, "access_denied"),
    (50, "decode_error"),
    (51, "decrypt_error"),
    (52, "too_many_cids_requested"),
    (60, "export_restriction"),
    (70, "protocol_version"),
    (71, "insufficient_security"),
    (80, "internal_error"),
    (86, "inappropriate_fallback"),
    (90, "user_canceled"),
    (100, "no_renegotiation"),
    (109, "missing_extension"),
    (110, "unsupported_extension"),
    (111, "certificate_unobtainable"),
    (112, "unrecognized_name"),
    (113, "bad_certificate_status_response"),
    (114, "bad_certificate_hash_value"),
    (115, "unknown_psk_identity"),
    (116, "certificate_required"),
    (117, "general_error"),
    (120, "no_application_protocol"),
    (121, "ech_required"),
];

/// SSLv2 ERROR message codes (SSL 2.0 draft, appendix).
pub const SSL2_ERROR_NAMES: &[(u16, &str)] = &[
    (0x0001, "ssl2_no_cipher_error"),
    (0x0002, "ssl2_no_certificate_error"),
    (0x0004, "ssl2_bad_certificate_error"),
    (0x0006, "ssl2_unsupported_certificate_type_error"),
];

impl AlertCode {
    pub fn name(self) -> Option<&'static str> {
        match self {
            AlertCode::Tls(c) => ALERT_NAMES.iter().find(|(k, _)| *k == c).map(|(_, n)| *n),
            AlertCode::Ssl2(c) => SSL2_ERROR_NAMES
                .iter()
                .find(|(k, _)| *k == c)
                .map(|(_, n)| *n),
        }
    }

    pub fn value(self) -> u16 {
        match self {
            AlertCode::Tls(c) => u16::from(c),
            AlertCode::Ssl2(c) => c,
        }
    }
}

/// A cipher suite code point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CipherSuite(pub u16);

impl CipherSuite {
    pub fn name(self) -> Option<&'static str> {
        CIPHER_SUITES
            .binary_search_by_key(&self.0, |(k, _)| *k)
            .ok()
            .map(|i| CIPHER_SUITES[i].1)
    }

    /// Bytes of authentication tag in a TLS 1.3 record protected by this suite.
    pub fn tls13_tag_len(self) -> usize {
        match self.0 {
            0x1305 => 8, // TLS_AES_128_CCM_8_SHA256
            _ => 16,
        }
    }

    /// How a TLS 1.2-or-earlier record is protected under this suite, read from its IANA name;
    /// `None` for unknown suites and TLS 1.3 ones.
    pub fn protection(self) -> Option<Protection> {
        let name = self.name()?;
        if !name.contains("_WITH_") {
            return None; // TLS 1.3 suites name no key exchange
        }
        let cipher = name.split("_WITH_").nth(1)?;
        if cipher.contains("CHACHA20_POLY1305") {
            return Some(Protection::Aead {
                explicit_nonce: 0,
                tag: 16,
            });
        }
        if cipher.contains("_GCM") || cipher.contains("_CCM") {
            let tag = if cipher.contains("_CCM_8") { 8 } else { 16 };
            return Some(Protection::Aead {
                explicit_nonce: 8,
                tag,
            });
        }
        let mac = if cipher.ends_with("_SHA384") {
            48
        } else if cipher.ends_with("_SHA256") {
            32
        } else if cipher.ends_with("_SHA") {
            20
        } else if cipher.ends_with("_MD5") {
            16
        } else {
            return None;
        };
        if cipher.contains("_CBC") {
            let block = if cipher.starts_with("AES")
                || cipher.starts_with("CAMELLIA")
                || cipher.starts_with("ARIA")
                || cipher.starts_with("SEED")
            {
                16
            } else {
                8 // 3DES, DES, IDEA, RC2
            };
            return Some(Protection::Cbc { block, mac });
        }
        // RC4 and NULL: a stream cipher (or none) and a MAC.
        Some(Protection::Stream { mac })
    }
}

/// Record protection of a TLS 1.2-or-earlier cipher suite: what an encrypted record adds to
/// its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// AES-GCM/CCM (8-byte explicit nonce) or ChaCha20-Poly1305 (none), then the tag.
    Aead { explicit_nonce: usize, tag: usize },
    /// Block cipher: IV (TLS 1.1 and later), content, MAC, padding to the block.
    Cbc { block: usize, mac: usize },
    /// RC4 or NULL: content and MAC.
    Stream { mac: usize },
}

impl Protection {
    /// The length of a record carrying `content` bytes, with the least padding (what OpenSSL,
    /// GnuTLS and the others send). `explicit_iv`: TLS 1.1 and later; `encrypt_then_mac`: RFC 7366
    /// negotiated.
    pub fn record_len(self, content: usize, explicit_iv: bool, encrypt_then_mac: bool) -> usize {
        match self {
            Protection::Aead {
                explicit_nonce,
                tag,
            } => explicit_nonce + content + tag,
            Protection::Stream { mac } => content + mac,
            Protection::Cbc { block, mac } => {
                let iv = if explicit_iv { block } else { 0 };
                let padded = |n: usize| (n + 1).div_ceil(block) * block; // + padding-length byte
                if encrypt_then_mac {
                    iv + padded(content) + mac
                } else {
                    iv + padded(content + mac)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_alert_sizes_per_suite() {
        let len = |suite: u16, v12: bool| {
            CipherSuite(suite)
                .protection()
                .unwrap()
                .record_len(2, v12, false)
        };
        assert_eq!(len(0xc02f, true), 26); // ECDHE_RSA_WITH_AES_128_GCM_SHA256: 8 + 2 + 16
        assert_eq!(len(0xcca8, true), 18); // ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        assert_eq!(len(0xc0a0, true), 18); // RSA_WITH_AES_128_CCM_8: 8 + 2 + 8
        assert_eq!(len(0x002f, true), 48); // RSA_WITH_AES_128_CBC_SHA: 16 + pad(2 + 20 + 1)
        assert_eq!(len(0x002f, false), 32); // the same in TLS 1.0: no explicit IV
        assert_eq!(len(0x003c, true), 64); // RSA_WITH_AES_128_CBC_SHA256: 16 + pad(2 + 32 + 1)
        assert_eq!(len(0xc030, true), 26); // AES_256_GCM_SHA384
        assert_eq!(len(0x000a, false), 24); // RSA_WITH_3DES_EDE_CBC_SHA, TLS 1.0: pad8(23)
        assert_eq!(len(0x0005, false), 22); // RSA_WITH_RC4_128_SHA: 2 + 20
        assert_eq!(len(0x0004, false), 18); // RSA_WITH_RC4_128_MD5
        let etm = CipherSuite(0x002f)
            .protection()
            .unwrap()
            .record_len(2, true, true);
        assert_eq!(etm, 16 + 16 + 20); // IV, padded content, then the MAC
        assert_eq!(CipherSuite(0x1301).protection(), None);
        assert_eq!(CipherSuite(0x9999).protection(), None);
    }

    #[test]
    fn alert_table_is_the_whole_registry() {
        for code in [
            0u8, 10, 20, 21, 22, 30, 40, 41, 42, 48, 70, 86, 109, 112, 115, 116, 117, 120, 121,
        ] {
            assert!(AlertCode::Tls(code).name().is_some(), "{code}");
        }
        assert_eq!(AlertCode::Tls(42).name(), Some("bad_certificate"));
        assert_eq!(AlertCode::Tls(99).name(), None);
        assert_eq!(
            AlertCode::Ssl2(4).name(),
            Some("ssl2_bad_certificate_error")
        );
        let mut sorted = ALERT_NAMES.to_vec();
        sorted.sort();
        sorted.dedup_by_key(|e| e.0);
        assert_eq!(sorted.len(), ALERT_NAMES.len());
    }

    #[test]
    fn cipher_table_is_sorted_and_named() {
        assert!(CIPHER_SUITES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(
            CipherSuite(0x002f).name(),
            Some("TLS_RSA_WITH_AES_128_CBC_SHA")
        );
        assert_eq!(CipherSuite(0x1301).name(), Some("TLS_AES_128_GCM_SHA256"));
    }

    #[test]
    fn version_names() {
        assert_eq!(Version(0x0301).name(), "TLS 1.0");
        assert_eq!(Version(0x7f17).name(), "TLS 1.3 draft 23");
        assert!(Version(0x7f17).is_tls13());
        assert!(Version(0x1a1a).is_grease());
    }
}
