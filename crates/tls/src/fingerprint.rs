//! Client and server fingerprints from the hellos: JA3 and JA3S (Salesforce; the raw strings and
//! their MD5) and JA4 (FoxIO, BSD-3-Clause; the fingerprint and its raw form `JA4_r`).
//!
//! JA4S and the rest of JA4+ are under the FoxIO License, not BSD, so they are left out.
//! Only TLS-format hellos are fingerprinted: an SSLv2-format CLIENT-HELLO has no extensions,
//! and neither JA3 nor JA4 defines a value for it.

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::codes::is_grease;
use crate::messages::{ext, ClientHello, HelloFormat, ServerHello};

/// A fingerprint's string and its hash, as lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ja3 {
    pub raw: String,
    pub md5: String,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex. Hand-rolled: `format!` costs hundreds of instructions a byte, and rows hex
/// several fingerprints for every handshake.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0x0f)] as char);
    }
    s
}

/// Appends `v` in decimal. JA3 strings are built as bytes, and made a `String` once: pushed
/// as `char`s, each digit paid for its UTF-8 encoding (JA3 was 4.5% of all instructions on
/// short connections).
fn push_decimal(out: &mut Vec<u8>, v: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    let mut v = v;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(d);
    }
}

/// Appends values in decimal, joined by `-` (JA3's lists).
fn push_dashed<T: Copy + Into<u32>>(out: &mut Vec<u8>, values: impl IntoIterator<Item = T>) {
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push(b'-');
        }
        push_decimal(out, v.into());
    }
}

/// The JA3 (or JA3S) of a raw string built by [`push_decimal`] and [`push_dashed`]: ASCII
/// digits, dashes and commas, so valid UTF-8.
fn ja3_of(raw: Vec<u8>) -> Ja3 {
    let md5 = hex(&Md5::digest(&raw));
    let raw = String::from_utf8(raw)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Ja3 { raw, md5 }
}

/// JA3: `version,ciphers,extensions,groups,point_formats`, decimal, lists joined by `-`,
/// GREASE values removed.
pub fn ja3(hello: &ClientHello) -> Option<Ja3> {
    if hello.format != HelloFormat::Tls {
        return None;
    }
    let not_grease = |v: &u16| !is_grease(*v);
    // Written into one string sized for it (up to 5 digits and a dash a value). Built with
    // `format!` from a string per list, each grown from empty, JA3 took 11,000 instructions a
    // handshake; this takes two thirds of that.
    let values = hello.cipher_suites.len()
        + hello.extensions.len()
        + hello.supported_groups.len()
        + hello.ec_point_formats.len();
    let mut raw = Vec::with_capacity(10 + 6 * values);
    push_decimal(&mut raw, u32::from(hello.version.0));
    raw.push(b',');
    push_dashed(
        &mut raw,
        hello
            .cipher_suites
            .iter()
            .copied()
            .filter(|&c| !is_grease(c as u16)),
    );
    raw.push(b',');
    push_dashed(
        &mut raw,
        hello.extensions.iter().copied().filter(not_grease),
    );
    raw.push(b',');
    push_dashed(
        &mut raw,
        hello.supported_groups.iter().copied().filter(not_grease),
    );
    raw.push(b',');
    push_dashed(&mut raw, hello.ec_point_formats.iter().copied());
    Some(ja3_of(raw))
}

/// JA3S: `version,cipher,extensions`, decimal, extensions joined by `-`.
pub fn ja3s(hello: &ServerHello) -> Ja3 {
    let mut raw = Vec::with_capacity(16 + 6 * hello.extensions.len());
    push_decimal(&mut raw, u32::from(hello.legacy_version.0));
    raw.push(b',');
    push_decimal(&mut raw, u32::from(hello.cipher_suite));
    raw.push(b',');
    push_dashed(
        &mut raw,
        hello.extensions.iter().copied().filter(|&e| !is_grease(e)),
    );
    ja3_of(raw)
}

/// JA4 and its raw form, for a TLS-format ClientHello over TCP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ja4 {
    /// `t13d1516h2_8daaf6152771_e5627efa2ab1`.
    pub ja4: String,
    /// `JA4_r`: the same prefix, then the sorted cipher list and the sorted extension list with
    /// the signature algorithms, unhashed.
    pub raw: String,
}

/// The two characters JA4 gives a version.
fn ja4_version(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0200 => "s2",
        0x0100 => "s1",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// The first 12 hex digits of SHA-256, or twelve zeros for an empty list (FoxIO's rule).
fn ja4_hash(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".to_owned();
    }
    // The first 12 hex digits: the first 6 bytes.
    hex(&Sha256::digest(s.as_bytes())[..6])
}

/// Values as 4-digit lowercase hex, joined by `,` (JA4's lists).
fn hex4_list(values: &[u16]) -> String {
    let mut s = String::with_capacity(values.len() * 5);
    for (i, &v) in values.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        for shift in [12, 8, 4, 0] {
            s.push(HEX[usize::from(v >> shift & 0x0f)] as char);
        }
    }
    s
}

/// JA4 per FoxIO's specification (github.com/FoxIO-LLC/ja4, technical_details/JA4.md).
pub fn ja4(hello: &ClientHello) -> Option<Ja4> {
    if hello.format != HelloFormat::Tls {
        return None;
    }
    let version = hello
        .supported_versions
        .iter()
        .map(|v| v.0)
        .filter(|&v| !is_grease(v))
        .max()
        .unwrap_or(hello.version.0);
    let sni = if hello.extensions.contains(&ext::SERVER_NAME) {
        'd'
    } else {
        'i'
    };
    let mut ciphers: Vec<u16> = hello
        .cipher_suites
        .iter()
        .map(|&c| c as u16)
        .filter(|&c| !is_grease(c))
        .collect();
    let exts: Vec<u16> = hello
        .extensions
        .iter()
        .copied()
        .filter(|&e| !is_grease(e))
        .collect();
    // `t13d1516h2`: protocol, version, SNI or not, counts, ALPN's first and last characters.
    let mut prefix = String::with_capacity(10);
    prefix.push('t');
    prefix.push_str(ja4_version(version));
    prefix.push(sni);
    for count in [ciphers.len().min(99), exts.len().min(99)] {
        prefix.push(char::from(b'0' + (count / 10) as u8));
        prefix.push(char::from(b'0' + (count % 10) as u8));
    }
    match hello.alpn_first_ends {
        None => prefix.push_str("00"),
        Some((first, last)) if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() => {
            prefix.push(char::from(first));
            prefix.push(char::from(last));
        }
        // Not alphanumeric: the first and last characters of the value's hex form.
        Some((first, last)) => {
            prefix.push(char::from(HEX[usize::from(first >> 4)]));
            prefix.push(char::from(HEX[usize::from(last & 0x0f)]));
        }
    }
    ciphers.sort_unstable();
    let cipher_list = hex4_list(&ciphers);
    let mut hashed_exts: Vec<u16> = exts
        .into_iter()
        .filter(|&e| e != ext::SERVER_NAME && e != ext::ALPN)
        .collect();
    hashed_exts.sort_unstable();
    let mut ext_list = hex4_list(&hashed_exts);
    // Only the signature_algorithms extension's list, in wire order, GREASE removed (FoxIO
    // ja4 issue #41 and pull request #318); never signature_algorithms_cert's.
    let sig_algs: Vec<u16> = hello
        .signature_algorithms
        .iter()
        .copied()
        .filter(|&a| !is_grease(a))
        .collect();
    if !sig_algs.is_empty() {
        ext_list.push('_');
        ext_list.push_str(&hex4_list(&sig_algs));
    }
    let joined = |parts: [&str; 3]| {
        let mut s = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
        for (i, p) in parts.into_iter().enumerate() {
            if i > 0 {
                s.push('_');
            }
            s.push_str(p);
        }
        s
    };
    let ext_hash = ja4_hash(if hashed_exts.is_empty() {
        ""
    } else {
        &ext_list
    });
    Some(Ja4 {
        ja4: joined([&prefix, &ja4_hash(&cipher_list), &ext_hash]),
        raw: joined([&prefix, &cipher_list, &ext_list]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{parse_client_hello, parse_server_hello};

    /// A ClientHello body built field by field: GREASE in ciphers, extensions, groups and
    /// signature algorithms; an ALPN whose first protocol starts with a non-alphanumeric byte.
    fn client_hello_body() -> Vec<u8> {
        let mut b = vec![0x03, 0x03];
        b.extend_from_slice(&[7; 32]); // random
        b.extend_from_slice(&[2, 0xab, 0xcd]); // session id
        b.extend_from_slice(&[0, 8, 0x1a, 0x1a, 0x13, 0x01, 0xc0, 0x2b, 0x00, 0x2f]);
        b.extend_from_slice(&[1, 0]); // compression: null
        let mut exts = Vec::new();
        let mut ext = |ty: u16, data: &[u8]| {
            exts.extend_from_slice(&ty.to_be_bytes());
            exts.extend_from_slice(&(data.len() as u16).to_be_bytes());
            exts.extend_from_slice(data);
        };
        ext(0x2a2a, &[]); // GREASE
        ext(0, &[0, 8, 0, 0, 5, b'a', b'.', b'b', b'c', b'd']); // SNI a.bcd
        ext(10, &[0, 6, 0x3a, 0x3a, 0, 0x1d, 0, 0x17]); // groups: GREASE, x25519, P-256
        ext(11, &[1, 0]); // point formats: uncompressed
        ext(13, &[0, 6, 0x04, 0x03, 0x0a, 0x0a, 0x08, 0x04]); // sig algs, GREASE inside
        ext(16, &[0, 5, 4, 0x01, b'x', b'y', b'z']); // ALPN "\x01xyz"
        ext(43, &[4, 0x03, 0x04, 0x03, 0x03]); // supported versions 1.3, 1.2
        ext(51, &[0, 6, 0, 0x1d, 0, 2, 0xee, 0xee]); // key share x25519
        let mut body = b;
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        body
    }

    #[test]
    fn client_hello_lists_and_fingerprints() {
        let h = parse_client_hello(&client_hello_body()).unwrap();
        assert_eq!(h.session_id, [0xab, 0xcd]);
        assert_eq!(h.cipher_suites, [0x1a1a, 0x1301, 0xc02b, 0x002f]);
        assert_eq!(h.extensions, [0x2a2a, 0, 10, 11, 13, 16, 43, 51]);
        assert_eq!(h.supported_groups, [0x3a3a, 0x1d, 0x17]);
        assert_eq!(h.ec_point_formats, [0]);
        assert_eq!(h.signature_algorithms, [0x0403, 0x0a0a, 0x0804]);
        assert_eq!(h.key_share_groups, [0x1d]);
        assert_eq!(h.alpn_first_ends, Some((0x01, b'z')));
        assert_eq!(h.sni.as_deref(), Some("a.bcd"));

        let j = ja3(&h).unwrap();
        assert_eq!(j.raw, "771,4865-49195-47,0-10-11-13-16-43-51,29-23,0");
        assert_eq!(j.md5, hex(&Md5::digest(j.raw.as_bytes())));

        let j = ja4(&h).unwrap();
        // 1.3 from supported_versions, SNI present, 3 ciphers and 7 extensions without GREASE,
        // ALPN "\x01xyz" is not alphanumeric at its start: hex "01...7a" gives "0a".
        assert_eq!(
            j.raw,
            "t13d03070a_002f,1301,c02b_000a,000b,000d,002b,0033_0403,0804"
        );
        let b = &Sha256::digest(b"002f,1301,c02b");
        let c = &Sha256::digest(b"000a,000b,000d,002b,0033_0403,0804");
        assert_eq!(
            j.ja4,
            format!("t13d03070a_{}_{}", &hex(b)[..12], &hex(c)[..12])
        );
    }

    #[test]
    fn ja4_without_extensions_or_alpn() {
        let mut body = vec![0x03, 0x01];
        body.extend_from_slice(&[0; 32]);
        body.extend_from_slice(&[0, 0, 2, 0x00, 0x35, 1, 0]);
        let h = parse_client_hello(&body).unwrap();
        let j = ja4(&h).unwrap();
        assert_eq!(j.raw, "t10i010000_0035_");
        assert!(j.ja4.ends_with("_000000000000"), "{}", j.ja4);
        assert_eq!(ja3(&h).unwrap().raw, "769,53,,,");
    }

    #[test]
    fn ja3s_of_a_server_hello() {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[1; 32]);
        body.extend_from_slice(&[0, 0x13, 0x01, 0]);
        body.extend_from_slice(&[0, 14, 0, 43, 0, 2, 3, 4, 0, 51, 0, 4, 0, 0x1d, 0, 0]);
        let sh = parse_server_hello(&body).unwrap();
        assert_eq!(sh.key_share_group, Some(0x1d));
        assert_eq!(ja3s(&sh).raw, "771,4865,43-51");
    }
}
