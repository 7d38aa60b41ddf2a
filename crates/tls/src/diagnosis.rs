//! Why a handshake ended as it did, in one line a support engineer can act on.

use crate::codes::{CipherSuite, HandshakeType, Version};
use crate::conn::{Alert, Handshake, Outcome, Role};
use crate::der;
use crate::messages::ext;

/// Whether the issuer of the client's certificate is among the CA names the server's
/// CertificateRequest listed. `None` when there is no client certificate, no request, or the
/// request listed no names (which means "any CA").
pub fn client_issuer_listed(hs: &Handshake) -> Option<bool> {
    let req = hs.cert_request.as_ref()?;
    let leaf = hs.client_chain.as_ref()?.first()?;
    if req.ca_names.is_empty() {
        return None;
    }
    let issuer = leaf.issuer.as_deref()?;
    // The client may send its chain; any certificate of it issued by a listed CA would do.
    let chain = hs.client_chain.as_ref()?;
    Some(
        req.ca_names.iter().any(|n| n == issuer)
            || chain.iter().any(|c| {
                c.issuer
                    .as_deref()
                    .is_some_and(|i| req.ca_names.iter().any(|n| n == i))
            }),
    )
}

fn role_name(r: Option<Role>) -> &'static str {
    r.map_or("one side", Role::name)
}

fn other(r: Option<Role>) -> Option<Role> {
    r.map(|r| {
        if r == Role::Client {
            Role::Server
        } else {
            Role::Client
        }
    })
}

/// The last message `role` sent in this handshake, for "after the client's Certificate".
fn stage(hs: &Handshake, role: Option<Role>) -> Option<&'static str> {
    role.and_then(|r| hs.progress_of(r)).and_then(|p| p.stage)
}

fn after(hs: &Handshake, role: Option<Role>) -> String {
    match stage(hs, role) {
        Some(s) => format!(" after the {}'s {s}", role_name(role)),
        None => String::new(),
    }
}

fn alert_cause(hs: &Handshake, a: &Alert) -> String {
    let sender = a.sender_role.or_else(|| hs.role_of(a.sender));
    let peer = other(sender);
    if a.inferred {
        return format!(
            "the {} sent an encrypted alert (inferred from its record size) and closed the connection{}",
            role_name(sender),
            after(hs, peer)
        );
    }
    let (Some(code), false) = (a.code, a.encrypted) else {
        return format!(
            "the {} sent an encrypted alert during the handshake{}",
            role_name(sender),
            after(hs, peer)
        );
    };
    let name = code.name().unwrap_or("unknown alert");
    let value = code.value();
    let level = if a.is_fatal() { "fatal" } else { "warning" };
    let peer_sent_cert = peer
        .and_then(|r| hs.progress_of(r))
        .is_some_and(|p| p.sent(HandshakeType::CERTIFICATE));
    let client_sent_no_cert = hs.client_chain.as_ref().is_some_and(Vec::is_empty);
    let headline = match (sender, value) {
        (Some(Role::Server), 42..=46 | 48 | 49) if peer_sent_cert => {
            let mut s = String::from("the server rejected the client's certificate");
            if client_issuer_listed(hs) == Some(false) {
                let issuer = hs
                    .client_chain
                    .as_ref()
                    .and_then(|c| c.first())
                    .and_then(|c| c.issuer.as_deref())
                    .map(der::name_to_string)
                    .unwrap_or_default();
                s.push_str(&format!(
                    " (its issuer {issuer} is not among the CAs the server asked for)"
                ));
            }
            s
        }
        (Some(Role::Client), 42..=46 | 48 | 49) if peer_sent_cert => {
            "the client rejected the server's certificate".to_string()
        }
        (Some(Role::Server), 40 | 116) if hs.cert_request.is_some() && client_sent_no_cert => {
            "the server requires a client certificate and the client sent none".to_string()
        }
        (_, 116) => "the server requires a client certificate".to_string(),
        (Some(Role::Server), 40) if stage(hs, sender).is_none() => {
            "the server found no cipher suite or parameters in common with the client".to_string()
        }
        (_, 70) => "no protocol version in common".to_string(),
        (_, 71) => "the server requires stronger cipher suites than the client offered".to_string(),
        (_, 86) => "the server detected a version downgrade (inappropriate_fallback)".to_string(),
        (_, 112) => "the server does not serve the requested name (SNI)".to_string(),
        (_, 120) => "no application protocol (ALPN) in common".to_string(),
        (_, 20 | 51) => "a key exchange or integrity check failed".to_string(),
        (_, 0) => format!(
            "the {} closed the connection before the handshake finished",
            role_name(sender)
        ),
        _ => format!("the {} aborted the handshake", role_name(sender)),
    };
    format!(
        "{headline}: {level} {name} ({value}) from the {}{}",
        role_name(sender),
        after(hs, peer)
    )
}

/// One line saying why the handshake ended as it did; `None` for established handshakes.
pub fn cause(hs: &Handshake) -> Option<String> {
    if let Some(a) = &hs.decided_by {
        return Some(alert_cause(hs, a));
    }
    // The server never spoke TLS: the client's ClientHello went to a plaintext service.
    let server_plaintext = stage(hs, Some(Role::Server)).filter(|s| s.starts_with("plaintext"));
    if let (Some(what), true, false) = (
        server_plaintext,
        hs.server_hello.is_none(),
        hs.outcome == Outcome::Established,
    ) {
        let what = what.trim_start_matches("plaintext").trim();
        let answer = if what.is_empty() {
            "in plaintext".to_string()
        } else {
            format!("with a plaintext {what}")
        };
        return Some(format!(
            "the server does not speak TLS on this port: it answered the ClientHello {answer}"
        ));
    }
    match hs.outcome {
        Outcome::Established => None,
        Outcome::Failed => {
            let (closer, kind, _) = hs.closed?;
            let who = hs.role_of(closer);
            let verb = match kind {
                crate::Close::Fin => "closed",
                crate::Close::Rst => "reset",
            };
            Some(format!(
                "the {} {verb} the connection before the handshake finished{}",
                role_name(who),
                after(hs, other(who))
            ))
        }
        Outcome::Incomplete => {
            let c = stage(hs, Some(Role::Client)).unwrap_or("nothing");
            let s = stage(hs, Some(Role::Server)).unwrap_or("nothing");
            Some(if hs.closed.is_some() {
                format!("the capture cannot tell whether the server accepted the client's Finished (client: {c}, server: {s})")
            } else {
                format!("the capture ends before the handshake finished (client sent {c}, server sent {s})")
            })
        }
    }
}

/// What the bytes allow saying about an encrypted alert (its level and code stay unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncryptedAlertReading {
    /// The record is exactly one encrypted 2-byte alert under the negotiated suite (TLS 1.2 and
    /// earlier; always true for an inferred TLS 1.3 alert, which is found by that size).
    pub size_matches: Option<bool>,
    /// `close_notify` when sent after the handshake was established (how sessions end),
    /// `fatal` when sent before it (an alert in mid-handshake ends it). `None` when the size
    /// says it is not a single alert.
    pub likely: Option<&'static str>,
}

/// Reads an encrypted alert from its size and its place in handshake `hs`.
pub fn read_encrypted_alert(alert: &Alert, hs: Option<&Handshake>) -> EncryptedAlertReading {
    if !alert.encrypted {
        return EncryptedAlertReading::default();
    }
    let size_matches = if alert.inferred {
        Some(true)
    } else {
        hs.and_then(|hs| {
            let protection = CipherSuite(hs.cipher_suite?).protection()?;
            let version = hs.version?;
            let etm = hs
                .extension_negotiated(ext::ENCRYPT_THEN_MAC)
                .unwrap_or(false);
            let expected = protection.record_len(2, version >= Version::TLS11, etm);
            Some(usize::from(alert.record_length) == expected)
        })
    };
    let established_before = hs
        .and_then(|hs| hs.established)
        .is_some_and(|e| e.frame <= alert.at.frame);
    let likely = match (size_matches, established_before) {
        (Some(false), _) => None,
        (_, true) => Some("close_notify"),
        (_, false) => Some("fatal"),
    };
    EncryptedAlertReading {
        size_matches,
        likely,
    }
}
