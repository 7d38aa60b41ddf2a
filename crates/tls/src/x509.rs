//! A certificate's fields, read with `x509-parser` (maintained, tolerant of real-world
//! certificates). Parsing is done once per distinct certificate by the caller, not per handshake.

use crate::fingerprint::hex;
use x509_parser::extensions::GeneralName;
use x509_parser::objects::{oid2sn, oid_registry};
use x509_parser::oid_registry::Oid;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

/// What a certificate says. `error` is set, with whatever was read, when it does not parse.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertificateInfo {
    pub subject: Option<String>,
    pub issuer: Option<String>,
    /// The serial number, lowercase hex without separators.
    pub serial: Option<String>,
    /// Validity, in seconds since the Unix epoch.
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    /// Subject alternative names, `DNS:`, `IP:`, `email:`, `URI:` prefixed.
    pub sans: Vec<String>,
    /// `rsa`, `rsa-pss`, `ec`, `ed25519`, `ed448`, `dsa`, `ml-dsa-44` ..., else the OID.
    pub key_type: Option<String>,
    pub key_bits: Option<u32>,
    /// The named curve of an EC key (`secp256r1` ...).
    pub key_curve: Option<String>,
    /// `sha256WithRSAEncryption`, `ecdsa-with-SHA256` ..., else the OID.
    pub signature_algorithm: Option<String>,
    pub key_usage: Vec<&'static str>,
    /// `serverAuth`, `clientAuth` ..., other purposes as OIDs.
    pub extended_key_usage: Vec<String>,
    /// basicConstraints cA, when the extension is present.
    pub is_ca: Option<bool>,
    pub path_len: Option<u32>,
    /// Subject equals issuer (and the key identifiers agree where both are present).
    pub self_signed: bool,
    pub error: Option<String>,
}

fn oid_name(oid: &Oid<'_>) -> String {
    oid2sn(oid, oid_registry()).map_or_else(|_| oid.to_id_string(), str::to_string)
}

fn key_type(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.1" => "rsa",
        "1.2.840.113549.1.1.10" => "rsa-pss",
        "1.2.840.10045.2.1" => "ec",
        "1.3.101.112" => "ed25519",
        "1.3.101.113" => "ed448",
        "1.2.840.10040.4.1" => "dsa",
        "2.16.840.1.101.3.4.3.17" => "ml-dsa-44",
        "2.16.840.1.101.3.4.3.18" => "ml-dsa-65",
        "2.16.840.1.101.3.4.3.19" => "ml-dsa-87",
        other => return other.to_string(),
    }
    .to_string()
}

/// Bits of a big-endian unsigned integer, leading zeros not counted.
fn int_bits(b: &[u8]) -> u32 {
    let b = &b[b.iter().take_while(|&&x| x == 0).count()..];
    match b.first() {
        None => 0,
        Some(&first) => 8 * b.len() as u32 - first.leading_zeros(),
    }
}

fn ip_text(b: &[u8]) -> String {
    match b.len() {
        4 => std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(),
        16 => {
            let a: [u8; 16] = b.try_into().unwrap_or([0; 16]);
            std::net::Ipv6Addr::from(a).to_string()
        }
        _ => hex(b),
    }
}

/// Reads a DER certificate. Never panics; a malformed one yields `error` and what was read.
pub fn parse_certificate_info(der: &[u8]) -> CertificateInfo {
    let cert = match X509Certificate::from_der(der) {
        Ok((_, cert)) => cert,
        Err(e) => {
            return CertificateInfo {
                error: Some(format!("malformed certificate: {e}")),
                ..CertificateInfo::default()
            }
        }
    };
    let mut info = CertificateInfo {
        subject: Some(cert.subject().to_string()),
        issuer: Some(cert.issuer().to_string()),
        serial: Some(hex(cert.raw_serial())),
        not_before: Some(cert.validity().not_before.timestamp()),
        not_after: Some(cert.validity().not_after.timestamp()),
        signature_algorithm: Some(oid_name(&cert.signature_algorithm.algorithm)),
        ..CertificateInfo::default()
    };
    let spki = cert.public_key();
    info.key_type = Some(key_type(&spki.algorithm.algorithm.to_id_string()));
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => info.key_bits = Some(int_bits(rsa.modulus)),
        Ok(PublicKey::EC(point)) => {
            info.key_bits = Some(point.key_size() as u32);
            info.key_curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid_name(&oid));
        }
        Ok(PublicKey::DSA(y)) => info.key_bits = Some(int_bits(y)),
        _ => match info.key_type.as_deref() {
            Some("ed25519") => info.key_bits = Some(256),
            Some("ed448") => info.key_bits = Some(456),
            _ => {}
        },
    }
    let mut problems = Vec::new();
    match cert.subject_alternative_name() {
        Ok(Some(san)) => {
            for name in &san.value.general_names {
                info.sans.push(match name {
                    GeneralName::DNSName(d) => format!("DNS:{d}"),
                    GeneralName::IPAddress(b) => format!("IP:{}", ip_text(b)),
                    GeneralName::RFC822Name(m) => format!("email:{m}"),
                    GeneralName::URI(u) => format!("URI:{u}"),
                    GeneralName::DirectoryName(n) => format!("DirName:{n}"),
                    other => format!("{other:?}"),
                });
            }
        }
        Ok(None) => {}
        Err(e) => problems.push(format!("subjectAltName: {e}")),
    }
    match cert.key_usage() {
        Ok(Some(ku)) => {
            let k = ku.value;
            let flags = [
                (k.digital_signature(), "digitalSignature"),
                (k.non_repudiation(), "nonRepudiation"),
                (k.key_encipherment(), "keyEncipherment"),
                (k.data_encipherment(), "dataEncipherment"),
                (k.key_agreement(), "keyAgreement"),
                (k.key_cert_sign(), "keyCertSign"),
                (k.crl_sign(), "cRLSign"),
                (k.encipher_only(), "encipherOnly"),
                (k.decipher_only(), "decipherOnly"),
            ];
            info.key_usage = flags.iter().filter(|f| f.0).map(|f| f.1).collect();
        }
        Ok(None) => {}
        Err(e) => problems.push(format!("keyUsage: {e}")),
    }
    match cert.extended_key_usage() {
        Ok(Some(eku)) => {
            let e = eku.value;
            let known = [
                (e.any, "anyExtendedKeyUsage"),
                (e.server_auth, "serverAuth"),
                (e.client_auth, "clientAuth"),
                (e.code_signing, "codeSigning"),
                (e.email_protection, "emailProtection"),
                (e.time_stamping, "timeStamping"),
                (e.ocsp_signing, "OCSPSigning"),
            ];
            info.extended_key_usage = known
                .iter()
                .filter(|k| k.0)
                .map(|k| k.1.to_string())
                .chain(e.other.iter().map(Oid::to_id_string))
                .collect();
        }
        Ok(None) => {}
        Err(e) => problems.push(format!("extendedKeyUsage: {e}")),
    }
    match cert.basic_constraints() {
        Ok(Some(bc)) => {
            info.is_ca = Some(bc.value.ca);
            info.path_len = bc.value.path_len_constraint;
        }
        Ok(None) => {}
        Err(e) => problems.push(format!("basicConstraints: {e}")),
    }
    let ids = (
        key_identifier(&cert, "2.5.29.14"),
        key_identifier(&cert, "2.5.29.35"),
    );
    let ids_agree = match ids {
        (Some(ski), Some(aki)) => aki.windows(ski.len()).any(|w| w == ski),
        _ => true,
    };
    info.self_signed = cert.subject().as_raw() == cert.issuer().as_raw() && ids_agree;
    if !problems.is_empty() {
        info.error = Some(format!("malformed extension: {}", problems.join("; ")));
    }
    info
}

/// The raw value of the subject (2.5.29.14) or authority (2.5.29.35) key identifier extension:
/// the authority's holds the subject's bytes inside it when the certificate signed itself.
fn key_identifier<'a>(cert: &'a X509Certificate<'_>, oid: &str) -> Option<&'a [u8]> {
    let ext = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == oid)?;
    // The subject key identifier is an OCTET STRING: skip its 2-byte header.
    match oid {
        "2.5.29.14" => ext.value.get(2..),
        _ => Some(ext.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let info = parse_certificate_info(&[0x30, 0x03, 0x02, 0x01]);
        assert!(info.error.is_some());
        assert_eq!(info.subject, None);
        assert!(parse_certificate_info(&[]).error.is_some());
    }

    /// The demo's certificates (src/demo), whose fields `openssl x509 -text` shows.
    const LEAF: &[u8] = include_bytes!("../../../src/demo/server-leaf.der");
    const ROOT: &[u8] = include_bytes!("../../../src/demo/server-root.der");
    const CLIENT: &[u8] = include_bytes!("../../../src/demo/client.der");

    #[test]
    fn server_leaf_fields() {
        let c = parse_certificate_info(LEAF);
        assert_eq!(c.error, None);
        assert_eq!(
            c.subject.as_deref(),
            Some("C=US, O=Contoso Ltd, CN=www.contoso.example")
        );
        assert_eq!(
            c.issuer.as_deref(),
            Some("C=US, O=Contoso Ltd, CN=Contoso Issuing CA 01")
        );
        assert_eq!(c.serial.as_deref(), Some("2002"));
        assert_eq!(
            (c.not_before, c.not_after),
            (Some(1795847389), Some(1867127389))
        );
        assert_eq!(c.sans, ["DNS:www.contoso.example", "DNS:contoso.example"]);
        assert_eq!(
            (c.key_type.as_deref(), c.key_bits),
            (Some("rsa"), Some(2048))
        );
        assert_eq!(
            c.signature_algorithm.as_deref(),
            Some("sha256WithRSAEncryption")
        );
        assert_eq!(c.key_usage, ["digitalSignature", "keyEncipherment"]);
        assert_eq!(c.extended_key_usage, ["serverAuth"]);
        assert_eq!(
            (c.is_ca, c.path_len, c.self_signed),
            (Some(false), None, false)
        );
    }

    #[test]
    fn root_and_client_fields() {
        let c = parse_certificate_info(ROOT);
        assert_eq!(
            c.serial.as_deref(),
            Some("76558c613ce7c7b5ca516edee5a1f6b756f66f85")
        );
        assert_eq!(
            (c.key_type.as_deref(), c.key_bits),
            (Some("rsa"), Some(4096))
        );
        assert_eq!(c.key_usage, ["keyCertSign", "cRLSign"]);
        assert_eq!((c.is_ca, c.self_signed), (Some(true), true));
        let c = parse_certificate_info(CLIENT);
        assert_eq!(
            (c.key_type.as_deref(), c.key_bits, c.key_curve.as_deref()),
            (Some("ec"), Some(256), Some("prime256v1"))
        );
        assert_eq!(c.signature_algorithm.as_deref(), Some("ecdsa-with-SHA256"));
        assert_eq!(c.extended_key_usage, ["clientAuth"]);
    }

    #[test]
    fn bits_of_integers() {
        assert_eq!(int_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(int_bits(&[0x01, 0xff]), 9);
        assert_eq!(int_bits(&[]), 0);
    }
}
