//! TLS and SSL as seen on the wire by a passive observer: record framing over reassembled
//! streams, handshake messages, alerts, and the decision of each handshake's outcome.
//!
//! This crate knows nothing of captures or TCP: the transport pushes ordered bytes into a
//! [`Connection`], which pushes [`Handshake`]s and [`Alert`]s into a [`Sink`].
//!
//! **Invariants:** parsing never panics on any input; an unknown code is data, not an error;
//! an encrypted alert's level and code are `None`, never guessed.

#![forbid(unsafe_code)]

pub mod carrier;
mod cipher_names;
pub mod codes;
mod conn;
pub mod der;
pub mod diagnosis;
pub mod fingerprint;
pub mod messages;
pub mod x509;

pub use codes::{AlertCode, AlertLevel, CipherSuite, ContentType, HandshakeType, Version};
pub use conn::{
    Alert, At, Close, Connection, Handshake, Outcome, Renegotiation, Role, Side, SideProgress,
    Sink, MAX_MESSAGE_LEN, MAX_RECORD_LEN,
};
pub use messages::{CertSummary, ClientHello, HelloFormat, ServerHello};
