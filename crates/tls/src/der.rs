//! Just enough DER to find a certificate's issuer and subject Names and to print a Name's
//! common name. Full certificate parsing belongs to a maintained X.509 crate; these two values
//! are what the outcome diagnosis compares with a CertificateRequest's CA list.

/// One DER element: (tag, the whole TLV, its contents, the bytes after it).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

/// Reads one TLV.
fn tlv(b: &[u8]) -> Option<Tlv<'_>> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = len << 8 | usize::from(*b.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    if end > b.len() {
        return None;
    }
    Some((tag, &b[..end], &b[hdr..end], &b[end..]))
}

/// The DER of a certificate's issuer and subject Names.
pub fn issuer_and_subject(cert: &[u8]) -> Option<(&[u8], &[u8])> {
    let (_, _, certificate, _) = tlv(cert)?;
    let (_, _, tbs, _) = tlv(certificate)?;
    let mut rest = tbs;
    let (tag, _, _, r) = tlv(rest)?;
    if tag == 0xa0 {
        rest = r; // explicit version
    }
    let (_, _, _, r) = tlv(rest)?; // serial
    let (_, _, _, r) = tlv(r)?; // signature algorithm
    let (_, issuer, _, r) = tlv(r)?;
    let (_, _, _, r) = tlv(r)?; // validity
    let (_, subject, _, _) = tlv(r)?;
    Some((issuer, subject))
}

/// A Name as `CN=..., O=...` (common attributes only), for messages to people.
pub fn name_to_string(name: &[u8]) -> String {
    let mut parts = Vec::new();
    let Some((_, _, mut rdns, _)) = tlv(name) else {
        return String::from("(unparsable name)");
    };
    while let Some((_, _, set, rest)) = tlv(rdns) {
        rdns = rest;
        let mut atvs = set;
        while let Some((_, _, atv, r)) = tlv(atvs) {
            atvs = r;
            let Some((_, _, oid, after)) = tlv(atv) else {
                continue;
            };
            let Some((_, _, value, _)) = tlv(after) else {
                continue;
            };
            let key = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x0a] => "O",
                [0x55, 0x04, 0x0b] => "OU",
                [0x55, 0x04, 0x06] => "C",
                [0x55, 0x04, 0x07] => "L",
                [0x55, 0x04, 0x08] => "ST",
                _ => continue,
            };
            parts.push(format!("{key}={}", String::from_utf8_lossy(value)));
        }
    }
    parts.reverse(); // most specific first, as OpenSSL's RFC 2253 output does
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_none_not_panic() {
        assert!(issuer_and_subject(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        for n in 0..8 {
            assert!(issuer_and_subject(&[0x30; 8][..n]).is_none());
        }
        // Name: SEQ { SET { SEQ { OID 2.5.4.3, UTF8 "ca" } } }
        let name = [
            0x30, 0x0d, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x02, b'c',
            b'a',
        ];
        assert_eq!(name_to_string(&name), "CN=ca");
    }
}
