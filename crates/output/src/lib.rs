//! Output rows and their Parquet tables. This crate knows row types, not parsers: the binary
//! turns parser results into rows, and rows into Arrow record batches here.
//!
//! **Invariants:** timestamps are microseconds UTC; ports, counts and frames are signed
//! integers (portable to DuckDB, Spark, Trino); every column is documented in docs/schema.md.

#![forbid(unsafe_code)]

mod groups;

pub use groups::{EncodedGroup, GroupEncoder, GroupEncoders, SharedEncoders, ROW_GROUP_ROWS};

use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{Int32Builder, ListBuilder, StringBuilder};
pub use arrow_array::RecordBatch;
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;

/// One TLS handshake (a renegotiation is a second row on the same connection).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HandshakeRow {
    pub capture: Arc<str>,
    pub client_ip: Option<IpAddr>,
    pub client_port: Option<u16>,
    pub server_ip: Option<IpAddr>,
    pub server_port: Option<u16>,
    pub vlan: Option<u16>,
    pub tunnel: Option<&'static str>,
    pub tunnel_src: Option<IpAddr>,
    pub tunnel_dst: Option<IpAddr>,
    pub tunnel_id: Option<u32>,
    pub handshake_index: u32,
    pub ts_us: i64,
    pub client_hello_frame: Option<u64>,
    pub server_hello_frame: Option<u64>,
    pub retry_client_hello_frame: Option<u64>,
    pub client_hello_format: Option<&'static str>,
    pub client_version: Option<String>,
    pub client_max_version: Option<String>,
    pub version: Option<String>,
    pub cipher_suite_id: Option<u16>,
    pub cipher_suite: Option<String>,
    pub sni: Option<String>,
    pub alpn_offered: Vec<String>,
    pub alpn: Option<String>,
    pub client_session_id: Option<String>,
    pub client_cipher_suites: Vec<u32>,
    pub client_compression_methods: Vec<u8>,
    pub client_extensions: Vec<u16>,
    pub supported_versions: Vec<u16>,
    pub supported_groups: Vec<u16>,
    pub key_share_groups: Vec<u16>,
    pub signature_algorithms: Vec<u16>,
    pub ec_point_formats: Vec<u8>,
    pub psk_key_exchange_modes: Vec<u8>,
    pub session_ticket_offered: Option<bool>,
    pub psk_offered: Option<bool>,
    pub early_data_offered: Option<bool>,
    pub ech_offered: Option<bool>,
    pub server_session_id: Option<String>,
    pub server_extensions: Vec<u16>,
    pub server_key_share_group: Option<u16>,
    pub server_kex_group: Option<u16>,
    pub server_dh_bits: Option<u32>,
    pub client_messages: Vec<&'static str>,
    pub server_messages: Vec<&'static str>,
    pub extended_master_secret: Option<bool>,
    pub encrypt_then_mac: Option<bool>,
    pub secure_renegotiation: Option<bool>,
    pub resumed: Option<bool>,
    pub ja3: Option<String>,
    pub ja3_hash: Option<String>,
    pub ja3s: Option<String>,
    pub ja3s_hash: Option<String>,
    pub ja4: Option<String>,
    pub ja4_r: Option<String>,
    pub starttls: Option<&'static str>,
    pub hello_retry_frame: Option<u64>,
    pub renegotiation: Option<&'static str>,
    pub initiator: Option<&'static str>,
    pub client_cert_requested: bool,
    pub client_cert_count: Option<u32>,
    pub client_cert_sha256: Option<String>,
    pub client_cert_issuer: Option<String>,
    pub client_cert_issuer_listed: Option<bool>,
    pub server_cert_count: Option<u32>,
    pub server_cert_sha256: Option<String>,
    pub server_cert_chain: Vec<String>,
    pub client_cert_chain: Vec<String>,
    pub cert_request_ca_names: Vec<String>,
    pub cert_request_signature_algorithms: Vec<u16>,
    pub outcome: &'static str,
    pub cause: Option<String>,
    pub client_stage: Option<&'static str>,
    pub server_stage: Option<&'static str>,
    pub established_frame: Option<u64>,
    pub duration_us: Option<i64>,
    pub closed_by: Option<&'static str>,
    pub close_type: Option<&'static str>,
    pub alert_frame: Option<u64>,
    pub alert_sender: Option<&'static str>,
    pub alert_level: Option<u8>,
    pub alert_code: Option<u16>,
    pub alert_name: Option<&'static str>,
    pub alert_encrypted: Option<bool>,
    pub syn_seen: bool,
    pub client_missing_bytes: u64,
    pub server_missing_bytes: u64,
    pub retransmissions: u64,
    pub out_of_order: u64,
    pub truncated_packets: u64,
    pub anomalies: Vec<&'static str>,
    /// The memory limits that cut what the connection could tell (`idle timeout`,
    /// `flow table full`, `held segments` ...; docs/schema.md lists them).
    pub limits: Vec<&'static str>,
}

/// One alert record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertRow {
    pub capture: Arc<str>,
    pub frame: u64,
    pub ts_us: i64,
    pub sender: Option<&'static str>,
    pub client_ip: Option<IpAddr>,
    pub client_port: Option<u16>,
    pub server_ip: Option<IpAddr>,
    pub server_port: Option<u16>,
    pub handshake_index: Option<u32>,
    pub record_version: String,
    pub record_length: u16,
    pub encrypted: bool,
    pub inferred: bool,
    pub size_matches: Option<bool>,
    pub likely: Option<&'static str>,
    pub level: Option<u8>,
    pub code: Option<u16>,
    pub name: Option<&'static str>,
}

/// One distinct certificate (by SHA-256), the first time a run sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CertificateRow {
    pub sha256: String,
    /// The capture it was first seen in, and as whose certificate.
    pub capture: Arc<str>,
    pub seen_as: &'static str,
    pub length: u32,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub serial: Option<String>,
    pub not_before_s: Option<i64>,
    pub not_after_s: Option<i64>,
    pub sans: Vec<String>,
    pub key_type: Option<String>,
    pub key_bits: Option<u32>,
    pub key_curve: Option<String>,
    pub signature_algorithm: Option<String>,
    pub key_usage: Vec<&'static str>,
    pub extended_key_usage: Vec<String>,
    pub is_ca: Option<bool>,
    pub path_len: Option<u32>,
    pub self_signed: Option<bool>,
    pub error: Option<String>,
}

/// One input file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileRow {
    pub capture: Arc<str>,
    pub format: Option<&'static str>,
    pub compression: Option<&'static str>,
    pub bytes: u64,
    pub packets: u64,
    pub tcp_packets: u64,
    pub ip_fragments: u64,
    pub first_ts_us: Option<i64>,
    pub last_ts_us: Option<i64>,
    pub handshakes: u64,
    pub alerts: u64,
    /// Flows finished early because they had no packet for their idle timeout.
    pub evicted_idle: u64,
    /// Flows evicted to make room in a full flow table.
    pub evicted_table_full: u64,
    /// Flows evicted because the memory budget for connection state was spent.
    pub evicted_memory_budget: u64,
    pub error: Option<String>,
    pub error_offset: Option<u64>,
    pub skipped_bytes: u64,
    pub seconds: f64,
}

/// A column: its field and its values, built together so the two cannot disagree.
struct Col(Field, ArrayRef);

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// A string column. The values are walked twice, to size the array's buffer first rather than
/// grow it, copying it again, at every doubling as values come.
fn utf8<I, S>(name: &str, nullable: bool, it: I) -> Col
where
    I: IntoIterator<Item = Option<S>>,
    I::IntoIter: Clone,
    S: AsRef<str>,
{
    let it = it.into_iter();
    let (rows, bytes) = it.clone().fold((0, 0), |(rows, bytes), v| {
        (rows + 1, bytes + v.as_ref().map_or(0, |s| s.as_ref().len()))
    });
    let mut b = StringBuilder::with_capacity(rows, bytes);
    for v in it {
        b.append_option(v);
    }
    Col(
        Field::new(name, DataType::Utf8, nullable),
        Arc::new(b.finish()),
    )
}

/// A nullable column of addresses as text, written straight into the array (no `String` per
/// value).
fn ip_utf8<I: IntoIterator<Item = Option<IpAddr>>>(name: &str, it: I) -> Col {
    use std::fmt::Write;
    let it = it.into_iter();
    // "255.255.255.255" is 15 bytes; IPv6 addresses grow the buffer.
    let mut b = StringBuilder::with_capacity(it.size_hint().0, it.size_hint().0 * 15);
    for v in it {
        match v {
            Some(a) => {
                let _ = write!(b, "{a}");
                b.append_value("");
            }
            None => b.append_null(),
        }
    }
    Col(Field::new(name, DataType::Utf8, true), Arc::new(b.finish()))
}

fn i64c<I: IntoIterator<Item = Option<i64>>>(name: &str, nullable: bool, it: I) -> Col {
    Col(
        Field::new(name, DataType::Int64, nullable),
        Arc::new(Int64Array::from_iter(it)),
    )
}

fn i32c<I: IntoIterator<Item = Option<i32>>>(name: &str, nullable: bool, it: I) -> Col {
    Col(
        Field::new(name, DataType::Int32, nullable),
        Arc::new(Int32Array::from_iter(it)),
    )
}

fn boolc<I: IntoIterator<Item = Option<bool>>>(name: &str, nullable: bool, it: I) -> Col {
    Col(
        Field::new(name, DataType::Boolean, nullable),
        Arc::new(BooleanArray::from_iter(it)),
    )
}

fn tsc<I: IntoIterator<Item = Option<i64>>>(name: &str, nullable: bool, it: I) -> Col {
    Col(
        Field::new(name, ts_type(), nullable),
        Arc::new(TimestampMicrosecondArray::from_iter(it).with_timezone("UTC")),
    )
}

fn list_utf8<'a, I, S>(name: &str, it: I) -> Col
where
    I: IntoIterator<Item = &'a [S]>,
    I::IntoIter: Clone,
    S: AsRef<str> + 'a,
{
    // Sized first, as `utf8` is.
    let it = it.into_iter();
    let (rows, values, bytes) = it.clone().fold((0, 0, 0), |(rows, values, bytes), v| {
        let len: usize = v.iter().map(|s| s.as_ref().len()).sum();
        (rows + 1, values + v.len(), bytes + len)
    });
    let mut b = ListBuilder::with_capacity(StringBuilder::with_capacity(values, bytes), rows);
    for values in it {
        for v in values {
            b.values().append_value(v.as_ref());
        }
        b.append(true);
    }
    let array = b.finish();
    let field = Field::new(name, array.data_type().clone(), false);
    Col(field, Arc::new(array))
}

/// A list of small unsigned codes (cipher suites, extension types, groups ...) as INTEGER[].
fn list_i32<'a, T, I>(name: &str, it: I) -> Col
where
    T: Copy + Into<u32> + 'a,
    I: IntoIterator<Item = &'a [T]>,
{
    let mut b = ListBuilder::new(Int32Builder::new());
    for values in it {
        for &v in values {
            b.values().append_value(v.into() as i32);
        }
        b.append(true);
    }
    let array = b.finish();
    let field = Field::new(name, array.data_type().clone(), false);
    Col(field, Arc::new(array))
}

fn n<T: TryInto<i64>>(v: T) -> Option<i64> {
    v.try_into().ok()
}

fn batch(cols: Vec<Col>) -> RecordBatch {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) =
        cols.into_iter().map(|Col(f, a)| (f, a)).unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .expect("columns are built with their fields")
}

pub fn handshake_batch(rows: &[HandshakeRow]) -> RecordBatch {
    let r = rows;
    batch(vec![
        utf8("capture", false, r.iter().map(|x| Some(&*x.capture))),
        ip_utf8("client_ip", r.iter().map(|x| x.client_ip)),
        i32c(
            "client_port",
            true,
            r.iter().map(|x| x.client_port.map(i32::from)),
        ),
        ip_utf8("server_ip", r.iter().map(|x| x.server_ip)),
        i32c(
            "server_port",
            true,
            r.iter().map(|x| x.server_port.map(i32::from)),
        ),
        i32c("vlan", true, r.iter().map(|x| x.vlan.map(i32::from))),
        utf8("tunnel", true, r.iter().map(|x| x.tunnel)),
        ip_utf8("tunnel_src", r.iter().map(|x| x.tunnel_src)),
        ip_utf8("tunnel_dst", r.iter().map(|x| x.tunnel_dst)),
        i64c(
            "tunnel_id",
            true,
            r.iter().map(|x| x.tunnel_id.map(i64::from)),
        ),
        i32c(
            "handshake_index",
            false,
            r.iter().map(|x| Some(x.handshake_index as i32)),
        ),
        tsc("ts", false, r.iter().map(|x| Some(x.ts_us))),
        i64c(
            "client_hello_frame",
            true,
            r.iter().map(|x| x.client_hello_frame.and_then(n)),
        ),
        i64c(
            "server_hello_frame",
            true,
            r.iter().map(|x| x.server_hello_frame.and_then(n)),
        ),
        i64c(
            "retry_client_hello_frame",
            true,
            r.iter().map(|x| x.retry_client_hello_frame.and_then(n)),
        ),
        i64c(
            "hello_retry_frame",
            true,
            r.iter().map(|x| x.hello_retry_frame.and_then(n)),
        ),
        utf8(
            "client_hello_format",
            true,
            r.iter().map(|x| x.client_hello_format),
        ),
        utf8(
            "client_version",
            true,
            r.iter().map(|x| x.client_version.as_deref()),
        ),
        utf8(
            "client_max_version",
            true,
            r.iter().map(|x| x.client_max_version.as_deref()),
        ),
        utf8("version", true, r.iter().map(|x| x.version.as_deref())),
        i32c(
            "cipher_suite_id",
            true,
            r.iter().map(|x| x.cipher_suite_id.map(i32::from)),
        ),
        utf8(
            "cipher_suite",
            true,
            r.iter().map(|x| x.cipher_suite.as_deref()),
        ),
        utf8("sni", true, r.iter().map(|x| x.sni.as_deref())),
        list_utf8("alpn_offered", r.iter().map(|x| x.alpn_offered.as_slice())),
        utf8("alpn", true, r.iter().map(|x| x.alpn.as_deref())),
        utf8(
            "client_session_id",
            true,
            r.iter().map(|x| x.client_session_id.as_deref()),
        ),
        list_i32(
            "client_cipher_suites",
            r.iter().map(|x| x.client_cipher_suites.as_slice()),
        ),
        list_i32(
            "client_compression_methods",
            r.iter().map(|x| x.client_compression_methods.as_slice()),
        ),
        list_i32(
            "client_extensions",
            r.iter().map(|x| x.client_extensions.as_slice()),
        ),
        list_i32(
            "supported_versions",
            r.iter().map(|x| x.supported_versions.as_slice()),
        ),
        list_i32(
            "supported_groups",
            r.iter().map(|x| x.supported_groups.as_slice()),
        ),
        list_i32(
            "key_share_groups",
            r.iter().map(|x| x.key_share_groups.as_slice()),
        ),
        list_i32(
            "signature_algorithms",
            r.iter().map(|x| x.signature_algorithms.as_slice()),
        ),
        list_i32(
            "ec_point_formats",
            r.iter().map(|x| x.ec_point_formats.as_slice()),
        ),
        list_i32(
            "psk_key_exchange_modes",
            r.iter().map(|x| x.psk_key_exchange_modes.as_slice()),
        ),
        boolc(
            "session_ticket_offered",
            true,
            r.iter().map(|x| x.session_ticket_offered),
        ),
        boolc("psk_offered", true, r.iter().map(|x| x.psk_offered)),
        boolc(
            "early_data_offered",
            true,
            r.iter().map(|x| x.early_data_offered),
        ),
        boolc("ech_offered", true, r.iter().map(|x| x.ech_offered)),
        utf8(
            "server_session_id",
            true,
            r.iter().map(|x| x.server_session_id.as_deref()),
        ),
        list_i32(
            "server_extensions",
            r.iter().map(|x| x.server_extensions.as_slice()),
        ),
        i32c(
            "server_key_share_group",
            true,
            r.iter().map(|x| x.server_key_share_group.map(i32::from)),
        ),
        i32c(
            "server_kex_group",
            true,
            r.iter().map(|x| x.server_kex_group.map(i32::from)),
        ),
        i32c(
            "server_dh_bits",
            true,
            r.iter().map(|x| x.server_dh_bits.map(|b| b as i32)),
        ),
        list_utf8(
            "client_messages",
            r.iter().map(|x| x.client_messages.as_slice()),
        ),
        list_utf8(
            "server_messages",
            r.iter().map(|x| x.server_messages.as_slice()),
        ),
        boolc(
            "extended_master_secret",
            true,
            r.iter().map(|x| x.extended_master_secret),
        ),
        boolc(
            "encrypt_then_mac",
            true,
            r.iter().map(|x| x.encrypt_then_mac),
        ),
        boolc(
            "secure_renegotiation",
            true,
            r.iter().map(|x| x.secure_renegotiation),
        ),
        boolc("resumed", true, r.iter().map(|x| x.resumed)),
        utf8("ja3", true, r.iter().map(|x| x.ja3.as_deref())),
        utf8("ja3_hash", true, r.iter().map(|x| x.ja3_hash.as_deref())),
        utf8("ja3s", true, r.iter().map(|x| x.ja3s.as_deref())),
        utf8("ja3s_hash", true, r.iter().map(|x| x.ja3s_hash.as_deref())),
        utf8("ja4", true, r.iter().map(|x| x.ja4.as_deref())),
        utf8("ja4_r", true, r.iter().map(|x| x.ja4_r.as_deref())),
        utf8("starttls", true, r.iter().map(|x| x.starttls)),
        utf8("renegotiation", true, r.iter().map(|x| x.renegotiation)),
        utf8("initiator", true, r.iter().map(|x| x.initiator)),
        boolc(
            "client_cert_requested",
            false,
            r.iter().map(|x| Some(x.client_cert_requested)),
        ),
        i32c(
            "client_cert_count",
            true,
            r.iter().map(|x| x.client_cert_count.map(|c| c as i32)),
        ),
        utf8(
            "client_cert_sha256",
            true,
            r.iter().map(|x| x.client_cert_sha256.as_deref()),
        ),
        utf8(
            "client_cert_issuer",
            true,
            r.iter().map(|x| x.client_cert_issuer.as_deref()),
        ),
        boolc(
            "client_cert_issuer_listed",
            true,
            r.iter().map(|x| x.client_cert_issuer_listed),
        ),
        i32c(
            "server_cert_count",
            true,
            r.iter().map(|x| x.server_cert_count.map(|c| c as i32)),
        ),
        utf8(
            "server_cert_sha256",
            true,
            r.iter().map(|x| x.server_cert_sha256.as_deref()),
        ),
        list_utf8(
            "server_cert_chain",
            r.iter().map(|x| x.server_cert_chain.as_slice()),
        ),
        list_utf8(
            "client_cert_chain",
            r.iter().map(|x| x.client_cert_chain.as_slice()),
        ),
        list_utf8(
            "cert_request_ca_names",
            r.iter().map(|x| x.cert_request_ca_names.as_slice()),
        ),
        list_i32(
            "cert_request_signature_algorithms",
            r.iter()
                .map(|x| x.cert_request_signature_algorithms.as_slice()),
        ),
        utf8("outcome", false, r.iter().map(|x| Some(x.outcome))),
        utf8("cause", true, r.iter().map(|x| x.cause.as_deref())),
        utf8("client_stage", true, r.iter().map(|x| x.client_stage)),
        utf8("server_stage", true, r.iter().map(|x| x.server_stage)),
        i64c(
            "established_frame",
            true,
            r.iter().map(|x| x.established_frame.and_then(n)),
        ),
        i64c("duration_us", true, r.iter().map(|x| x.duration_us)),
        utf8("closed_by", true, r.iter().map(|x| x.closed_by)),
        utf8("close_type", true, r.iter().map(|x| x.close_type)),
        i64c(
            "alert_frame",
            true,
            r.iter().map(|x| x.alert_frame.and_then(n)),
        ),
        utf8("alert_sender", true, r.iter().map(|x| x.alert_sender)),
        i32c(
            "alert_level",
            true,
            r.iter().map(|x| x.alert_level.map(i32::from)),
        ),
        i32c(
            "alert_code",
            true,
            r.iter().map(|x| x.alert_code.map(i32::from)),
        ),
        utf8("alert_name", true, r.iter().map(|x| x.alert_name)),
        boolc("alert_encrypted", true, r.iter().map(|x| x.alert_encrypted)),
        boolc("syn_seen", false, r.iter().map(|x| Some(x.syn_seen))),
        i64c(
            "client_missing_bytes",
            false,
            r.iter().map(|x| n(x.client_missing_bytes)),
        ),
        i64c(
            "server_missing_bytes",
            false,
            r.iter().map(|x| n(x.server_missing_bytes)),
        ),
        i64c(
            "retransmissions",
            false,
            r.iter().map(|x| n(x.retransmissions)),
        ),
        i64c("out_of_order", false, r.iter().map(|x| n(x.out_of_order))),
        i64c(
            "truncated_packets",
            false,
            r.iter().map(|x| n(x.truncated_packets)),
        ),
        list_utf8("anomalies", r.iter().map(|x| x.anomalies.as_slice())),
        list_utf8("limits", r.iter().map(|x| x.limits.as_slice())),
    ])
}

pub fn alert_batch(rows: &[AlertRow]) -> RecordBatch {
    let r = rows;
    batch(vec![
        utf8("capture", false, r.iter().map(|x| Some(&*x.capture))),
        i64c("frame", false, r.iter().map(|x| n(x.frame))),
        tsc("ts", false, r.iter().map(|x| Some(x.ts_us))),
        utf8("sender", true, r.iter().map(|x| x.sender)),
        ip_utf8("client_ip", r.iter().map(|x| x.client_ip)),
        i32c(
            "client_port",
            true,
            r.iter().map(|x| x.client_port.map(i32::from)),
        ),
        ip_utf8("server_ip", r.iter().map(|x| x.server_ip)),
        i32c(
            "server_port",
            true,
            r.iter().map(|x| x.server_port.map(i32::from)),
        ),
        i32c(
            "handshake_index",
            true,
            r.iter().map(|x| x.handshake_index.map(|i| i as i32)),
        ),
        utf8(
            "record_version",
            false,
            r.iter().map(|x| Some(x.record_version.as_str())),
        ),
        i32c(
            "record_length",
            false,
            r.iter().map(|x| Some(i32::from(x.record_length))),
        ),
        boolc("encrypted", false, r.iter().map(|x| Some(x.encrypted))),
        boolc("inferred", false, r.iter().map(|x| Some(x.inferred))),
        boolc("size_matches", true, r.iter().map(|x| x.size_matches)),
        utf8("likely", true, r.iter().map(|x| x.likely)),
        i32c("level", true, r.iter().map(|x| x.level.map(i32::from))),
        i32c("code", true, r.iter().map(|x| x.code.map(i32::from))),
        utf8("name", true, r.iter().map(|x| x.name)),
    ])
}

pub fn certificate_batch(rows: &[CertificateRow]) -> RecordBatch {
    let r = rows;
    let secs = |s: Option<i64>| s.and_then(|s| s.checked_mul(1_000_000));
    batch(vec![
        utf8("sha256", false, r.iter().map(|x| Some(&x.sha256))),
        utf8("capture", false, r.iter().map(|x| Some(&*x.capture))),
        utf8("seen_as", false, r.iter().map(|x| Some(x.seen_as))),
        i32c("length", false, r.iter().map(|x| Some(x.length as i32))),
        utf8("subject", true, r.iter().map(|x| x.subject.as_deref())),
        utf8("issuer", true, r.iter().map(|x| x.issuer.as_deref())),
        utf8("serial", true, r.iter().map(|x| x.serial.as_deref())),
        tsc("not_before", true, r.iter().map(|x| secs(x.not_before_s))),
        tsc("not_after", true, r.iter().map(|x| secs(x.not_after_s))),
        list_utf8("sans", r.iter().map(|x| x.sans.as_slice())),
        utf8("key_type", true, r.iter().map(|x| x.key_type.as_deref())),
        i32c(
            "key_bits",
            true,
            r.iter().map(|x| x.key_bits.map(|b| b as i32)),
        ),
        utf8("key_curve", true, r.iter().map(|x| x.key_curve.as_deref())),
        utf8(
            "signature_algorithm",
            true,
            r.iter().map(|x| x.signature_algorithm.as_deref()),
        ),
        list_utf8("key_usage", r.iter().map(|x| x.key_usage.as_slice())),
        list_utf8(
            "extended_key_usage",
            r.iter().map(|x| x.extended_key_usage.as_slice()),
        ),
        boolc("is_ca", true, r.iter().map(|x| x.is_ca)),
        i32c(
            "path_len",
            true,
            r.iter().map(|x| x.path_len.map(|p| p as i32)),
        ),
        boolc("self_signed", true, r.iter().map(|x| x.self_signed)),
        utf8("error", true, r.iter().map(|x| x.error.as_deref())),
    ])
}

pub fn file_batch(rows: &[FileRow]) -> RecordBatch {
    let r = rows;
    batch(vec![
        utf8("capture", false, r.iter().map(|x| Some(&*x.capture))),
        utf8("format", true, r.iter().map(|x| x.format)),
        utf8("compression", true, r.iter().map(|x| x.compression)),
        i64c("bytes", false, r.iter().map(|x| n(x.bytes))),
        i64c("packets", false, r.iter().map(|x| n(x.packets))),
        i64c("tcp_packets", false, r.iter().map(|x| n(x.tcp_packets))),
        i64c("ip_fragments", false, r.iter().map(|x| n(x.ip_fragments))),
        tsc("first_ts", true, r.iter().map(|x| x.first_ts_us)),
        tsc("last_ts", true, r.iter().map(|x| x.last_ts_us)),
        i64c("handshakes", false, r.iter().map(|x| n(x.handshakes))),
        i64c("alerts", false, r.iter().map(|x| n(x.alerts))),
        i64c("evicted_idle", false, r.iter().map(|x| n(x.evicted_idle))),
        i64c(
            "evicted_table_full",
            false,
            r.iter().map(|x| n(x.evicted_table_full)),
        ),
        i64c(
            "evicted_memory_budget",
            false,
            r.iter().map(|x| n(x.evicted_memory_budget)),
        ),
        utf8("error", true, r.iter().map(|x| x.error.as_deref())),
        i64c(
            "error_offset",
            true,
            r.iter().map(|x| x.error_offset.and_then(n)),
        ),
        i64c("skipped_bytes", false, r.iter().map(|x| n(x.skipped_bytes))),
        Col(
            Field::new("seconds", DataType::Float64, false),
            Arc::new(Float64Array::from_iter_values(r.iter().map(|x| x.seconds))),
        ),
    ])
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error("writing {path}: encoding rows panicked")]
    Panicked { path: PathBuf },
}

/// Rows buffered per table before they become one record batch.
pub const BATCH_ROWS: usize = 1024;

/// Fewest pending rows [`ParquetOutput::flush_idle`] turns into a batch: a batch has a fixed
/// cost per column, so much smaller batches would cost more than they save at the end.
pub const IDLE_FLUSH_ROWS: usize = 256;

/// How every table is written: zstd level 1, row groups of at most [`ROW_GROUP_ROWS`] rows.
/// Public so that the benches write with the same settings.
///
/// Level 1 rather than 3: the tables' pages are compressed when they are finished, at the end
/// of the run, which waits for it; on the 2 GiB bench tile level 1 took that from ~11.8 to
/// ~9.9 ms, and the files grew by 0.7% (210.8 to 212.3 KB; the corpus's, 174.6 to 174.2 KB).
pub fn writer_properties() -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("1 is a valid zstd level"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    for name in UNIQUE_INTEGER_COLUMNS {
        props = props
            .set_column_dictionary_enabled(ColumnPath::from(*name), false)
            .set_column_encoding(ColumnPath::from(*name), Encoding::DELTA_BINARY_PACKED);
    }
    for name in UNIQUE_STRING_COLUMNS {
        props = props.set_column_dictionary_enabled(ColumnPath::from(*name), false);
    }
    for name in CODE_LIST_COLUMNS {
        let item = ColumnPath::new(vec![(*name).into(), "list".into(), "item".into()]);
        props = props.set_column_dictionary_enabled(item, false);
    }
    props.build()
}

/// Integer columns (of any table) whose values hardly repeat: times, frames, client ports.
/// Parquet's default dictionary encoding would look every value up in a dictionary that only
/// grows (it gives up at 1 MB, more than a row group of 64-bit values fills), and store each
/// twice; DELTA_BINARY_PACKED stores the small differences of increasing values in few bits.
const UNIQUE_INTEGER_COLUMNS: &[&str] = &[
    "ts",
    "frame",
    "client_port",
    "client_hello_frame",
    "server_hello_frame",
    "retry_client_hello_frame",
    "hello_retry_frame",
    "established_frame",
    "alert_frame",
    "duration_us",
];

/// List columns of protocol codes (a hello's cipher suites, extensions, groups...): a row holds
/// dozens of small integers, and the same lists come back hello after hello, which zstd
/// compresses as well as a dictionary does, without a dictionary lookup for every value. On
/// 10,000 short connections, 4% of all instructions (1,111.9 M -> 1,067.6 M); handshakes.parquet
/// +1.6% on the bench tile, -1.7% on the corpus, the same on the short connections.
const CODE_LIST_COLUMNS: &[&str] = &[
    "client_cipher_suites",
    "client_compression_methods",
    "client_extensions",
    "supported_versions",
    "supported_groups",
    "key_share_groups",
    "signature_algorithms",
    "ec_point_formats",
    "psk_key_exchange_modes",
    "server_extensions",
    "cert_request_signature_algorithms",
];

/// String columns whose values hardly repeat: random session ids, 64 hex digits each.
const UNIQUE_STRING_COLUMNS: &[&str] = &["client_session_id", "server_session_id"];

/// One Parquet file being written: row groups encoded elsewhere are appended as they come,
/// and rows given to the table itself are encoded into a row group of its own.
struct Table<R> {
    path: PathBuf,
    file: SerializedFileWriter<File>,
    encoders: SharedEncoders,
    /// The row group of the rows given to the table, while it fills.
    own: Option<GroupEncoder>,
    pending: Vec<R>,
    to_batch: fn(&[R]) -> RecordBatch,
    /// Rows in the row groups appended to the file.
    rows: u64,
}

impl<R> Table<R> {
    fn create(
        dir: &Path,
        name: &str,
        to_batch: fn(&[R]) -> RecordBatch,
    ) -> Result<Self, OutputError> {
        let path = dir.join(name);
        let file = File::create(&path).map_err(|source| OutputError::Create {
            path: path.clone(),
            source,
        })?;
        let schema: SchemaRef = to_batch(&[]).schema();
        let parquet_error = |source| OutputError::Parquet {
            path: path.clone(),
            source,
        };
        // The Arrow writer is made only to be taken apart: it puts the Arrow schema in the
        // file's metadata, as readers expect, and hands over the file writer and the factory
        // of column encoders.
        let (file, factory) = ArrowWriter::try_new(file, schema.clone(), Some(writer_properties()))
            .and_then(ArrowWriter::into_serialized_writer)
            .map_err(parquet_error)?;
        Ok(Table {
            encoders: Arc::new(GroupEncoders::new(path.clone(), schema, factory)),
            path,
            file,
            own: None,
            pending: Vec::new(),
            to_batch,
            rows: 0,
        })
    }

    fn push(&mut self, rows: impl IntoIterator<Item = R>) -> Result<(), OutputError> {
        for r in rows {
            self.pending.push(r);
            if self.pending.len() >= BATCH_ROWS {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Encodes the pending rows as a batch when there are at least `min_rows` of them.
    fn flush_at_least(&mut self, min_rows: usize) -> Result<(), OutputError> {
        if self.pending.len() >= min_rows.max(1) {
            self.flush()?;
        }
        Ok(())
    }

    /// Encodes the pending rows into the table's own row group, and appends the group when it
    /// is full.
    fn flush(&mut self) -> Result<(), OutputError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = (self.to_batch)(&self.pending);
        self.pending.clear();
        let own = match &mut self.own {
            Some(own) => own,
            None => self.own.insert(self.encoders.take()?),
        };
        own.write(&batch)?;
        if own.full() {
            if let Some(own) = self.own.take() {
                self.append(own.finish()?)?;
            }
        }
        Ok(())
    }

    /// Appends a finished row group to the file.
    fn append(&mut self, group: EncodedGroup) -> Result<(), OutputError> {
        self.rows += group.rows() as u64;
        group
            .append_to(&mut self.file)
            .map_err(|source| OutputError::Parquet {
                path: self.path.clone(),
                source,
            })
    }

    /// Encodes the rows still pending, finishes every open row group (those the encoders kept,
    /// and the table's own), appends them and closes the file. The row groups' columns are
    /// finished in parallel: the whole run waits for this.
    fn close(mut self) -> Result<u64, OutputError> {
        self.flush()?;
        let mut open = self.encoders.take_all()?;
        open.extend(self.own.take());
        let finished: Vec<Result<EncodedGroup, OutputError>> = open
            .into_par_iter()
            .map(GroupEncoder::finish_in_parallel)
            .collect();
        for group in finished {
            self.append(group?)?;
        }
        self.file.close().map_err(|source| OutputError::Parquet {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.rows)
    }
}

/// The three output tables of a run: `handshakes.parquet`, `alerts.parquet`, `files.parquet`.
pub struct ParquetOutput {
    handshakes: Table<HandshakeRow>,
    alerts: Table<AlertRow>,
    certificates: Table<CertificateRow>,
    files: Table<FileRow>,
}

/// Row counts written, per table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub handshakes: u64,
    pub alerts: u64,
    pub certificates: u64,
    pub files: u64,
}

impl ParquetOutput {
    pub fn create(dir: &Path) -> Result<Self, OutputError> {
        std::fs::create_dir_all(dir).map_err(|source| OutputError::Create {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(ParquetOutput {
            handshakes: Table::create(dir, "handshakes.parquet", handshake_batch)?,
            alerts: Table::create(dir, "alerts.parquet", alert_batch)?,
            certificates: Table::create(dir, "certificates.parquet", certificate_batch)?,
            files: Table::create(dir, "files.parquet", file_batch)?,
        })
    }

    pub fn handshakes(
        &mut self,
        rows: impl IntoIterator<Item = HandshakeRow>,
    ) -> Result<(), OutputError> {
        self.handshakes.push(rows)
    }

    /// A row group of handshake rows encoded by whoever made them, in parallel, with an
    /// encoder from [`ParquetOutput::handshake_encoders`].
    pub fn handshake_group(&mut self, group: EncodedGroup) -> Result<(), OutputError> {
        self.handshakes.append(group)
    }

    /// Encoders of row groups of the handshakes table, for the scan's encoding jobs. Encoders given
    /// back open are finished and appended when the table closes.
    pub fn handshake_encoders(&self) -> SharedEncoders {
        self.handshakes.encoders.clone()
    }

    pub fn alerts(&mut self, rows: impl IntoIterator<Item = AlertRow>) -> Result<(), OutputError> {
        self.alerts.push(rows)
    }

    pub fn certificates(
        &mut self,
        rows: impl IntoIterator<Item = CertificateRow>,
    ) -> Result<(), OutputError> {
        self.certificates.push(rows)
    }

    pub fn files(&mut self, rows: impl IntoIterator<Item = FileRow>) -> Result<(), OutputError> {
        self.files.push(rows)
    }

    /// Encodes the rows waiting for a full batch in tables with at least [`IDLE_FLUSH_ROWS`]
    /// of them: for a writer with nothing else to do, so that less is left to encode at
    /// [`ParquetOutput::close`], which the whole run waits for.
    pub fn flush_idle(&mut self) -> Result<(), OutputError> {
        self.handshakes.flush_at_least(IDLE_FLUSH_ROWS)?;
        self.alerts.flush_at_least(IDLE_FLUSH_ROWS)?;
        self.files.flush_at_least(IDLE_FLUSH_ROWS)
    }

    /// Encodes the rows still pending and finishes every file. The handshakes table, the
    /// widest by far, is finished by one task of the pool while another finishes the others:
    /// the whole run waits for this, with every worker idle. Pool tasks rather than a thread
    /// of its own, so that `-j 1` finishes them on one thread, as it does everything else.
    pub fn close(self) -> Result<Written, OutputError> {
        let ParquetOutput {
            handshakes,
            alerts,
            certificates,
            files,
        } = self;
        let (handshakes, (alerts, certificates, files)) = rayon::join(
            || handshakes.close(),
            || (alerts.close(), certificates.close(), files.close()),
        );
        Ok(Written {
            handshakes: handshakes?,
            alerts: alerts?,
            certificates: certificates?,
            files: files?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/schema.md documents every column of every table, in the table's section, and no
    /// column that is not there.
    #[test]
    fn schema_doc_lists_every_column() {
        let doc = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema.md"),
        )
        .unwrap();
        let tables = [
            ("## handshakes.parquet", handshake_batch(&[])),
            ("## alerts.parquet", alert_batch(&[])),
            ("## certificates.parquet", certificate_batch(&[])),
            ("## files.parquet", file_batch(&[])),
        ];
        for (heading, batch) in tables {
            let start = doc.find(heading).unwrap_or_else(|| panic!("no {heading}"));
            let section = &doc[start + heading.len()..];
            let section = &section[..section.find("\n## ").unwrap_or(section.len())];
            let documented: Vec<&str> = section
                .lines()
                .filter_map(|l| l.strip_prefix("| "))
                .filter_map(|l| l.split(" |").next())
                .filter(|c| *c != "column" && !c.starts_with('-'))
                // One doc row may name several columns alike: `client_ip, client_port`.
                .flat_map(|c| c.split(", "))
                .collect();
            let columns: Vec<&str> = batch
                .schema_ref()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            assert_eq!(
                documented, columns,
                "{heading}: docs/schema.md vs the batch"
            );
        }
    }

    #[test]
    fn empty_and_full_rows_make_batches_with_the_same_schema() {
        let empty = handshake_batch(&[]);
        let row = HandshakeRow {
            capture: "x.pcap".into(),
            client_ip: Some("10.0.0.1".parse().unwrap()),
            alpn_offered: vec!["h2".into()],
            anomalies: vec!["bytes missing from the capture"],
            limits: vec!["idle timeout"],
            outcome: "failed",
            ..Default::default()
        };
        let full = handshake_batch(&[row.clone(), row]);
        assert_eq!(empty.schema(), full.schema());
        assert_eq!(full.num_rows(), 2);
        assert_eq!(
            alert_batch(&[]).schema(),
            alert_batch(&[AlertRow::default()]).schema()
        );
        assert_eq!(file_batch(&[]).num_columns(), 18);
        let cert = CertificateRow {
            sha256: "ab".into(),
            capture: "c".into(),
            seen_as: "server",
            sans: vec!["DNS:x".into()],
            key_usage: vec!["digitalSignature"],
            not_before_s: Some(1_795_847_389),
            ..Default::default()
        };
        assert_eq!(
            certificate_batch(&[]).schema(),
            certificate_batch(&[cert]).schema()
        );
    }

    #[test]
    fn writes_readable_parquet() {
        let dir = std::env::temp_dir().join(format!("tlscap-output-{}", std::process::id()));
        let mut out = ParquetOutput::create(&dir).unwrap();
        out.alerts((0..3).map(|i| AlertRow {
            frame: i,
            capture: "c".into(),
            ..Default::default()
        }))
        .unwrap();
        let w = out.close().unwrap();
        assert_eq!(
            w,
            Written {
                handshakes: 0,
                alerts: 3,
                certificates: 0,
                files: 0
            }
        );
        let f = File::open(dir.join("alerts.parquet")).unwrap();
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 3);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn handshake(port: u16, ts_us: i64) -> HandshakeRow {
        HandshakeRow {
            capture: "c.pcap".into(),
            client_port: Some(port),
            ts_us,
            client_hello_frame: Some(port as u64),
            client_session_id: Some(format!("{port:064x}")),
            client_cipher_suites: vec![0x1301, 0x1302, u32::from(port)],
            outcome: "failed",
            ..Default::default()
        }
    }

    /// Encoders given back open are finished when the table closes, with the table's own rows
    /// and the row groups appended on the way: every row reaches the file, each group whole.
    #[test]
    fn row_groups_encoded_apart_and_left_open_all_reach_the_file() {
        let dir = std::env::temp_dir().join(format!("tlscap-groups-{}", std::process::id()));
        let mut out = ParquetOutput::create(&dir).unwrap();
        let encoders = out.handshake_encoders();
        let rows = |from: u16, n: u16| -> Vec<HandshakeRow> {
            (from..from + n)
                .map(|p| handshake(p, i64::from(p)))
                .collect()
        };
        // A group finished by its encoder and appended.
        let mut finished = encoders.take().unwrap();
        finished.write(&handshake_batch(&rows(0, 100))).unwrap();
        assert_eq!(finished.rows(), 100);
        let group = finished.finish().unwrap();
        assert_eq!(group.rows(), 100);
        out.handshake_group(group).unwrap();
        // An encoder given back open, taken again (the same one: it holds its rows) and given
        // back again.
        let mut open = encoders.take().unwrap();
        open.write(&handshake_batch(&rows(100, 30))).unwrap();
        encoders.give_back(open);
        let mut again = encoders.take().unwrap();
        assert_eq!(again.rows(), 30);
        again.write(&handshake_batch(&rows(130, 20))).unwrap();
        encoders.give_back(again);
        // An empty encoder given back is dropped.
        encoders.give_back(encoders.take().unwrap());
        // Rows given to the table itself: they fill the open encoder, the one kept.
        out.handshakes(rows(150, 7)).unwrap();
        let written = out.close().unwrap();
        assert_eq!(written.handshakes, 157);

        let f = File::open(dir.join("handshakes.parquet")).unwrap();
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
        let meta = reader.metadata().clone();
        let groups: Vec<i64> = meta.row_groups().iter().map(|g| g.num_rows()).collect();
        assert_eq!(groups, [100, 57]);
        // The file's Arrow schema is the batches' (the writer put it in the metadata).
        assert_eq!(
            reader.schema().fields(),
            handshake_batch(&[]).schema().fields()
        );
        let mut ports: Vec<i32> = reader
            .build()
            .unwrap()
            .flat_map(|b| {
                let b = b.unwrap();
                let ports = b
                    .column_by_name("client_port")
                    .unwrap()
                    .as_any()
                    .downcast_ref::<Int32Array>()
                    .unwrap()
                    .clone();
                ports.values().to_vec()
            })
            .collect();
        ports.sort_unstable();
        assert_eq!(ports, (0..157).collect::<Vec<i32>>());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A batch that finds every encoder busy is left to the busy one, up to one batch; the
    /// next opens an encoder, which encodes the batch left too. Batches left to an encoder
    /// whose call failed are encoded when the table closes: every row reaches the file.
    #[test]
    fn batches_left_to_a_busy_encoder_all_reach_the_file() {
        let dir = std::env::temp_dir().join(format!("tlscap-left-{}", std::process::id()));
        let out = ParquetOutput::create(&dir).unwrap();
        let encoders = out.handshake_encoders();
        let batch = |from: u16, n: u16| {
            let rows: Vec<HandshakeRow> = (from..from + n)
                .map(|p| handshake(p, i64::from(p)))
                .collect();
            handshake_batch(&rows)
        };
        let mut full = |_: EncodedGroup| panic!("no group fills");
        // Another call holds an encoder: the first batch waits for it, the second opens one,
        // which encodes both.
        encoders.hold_one();
        encoders.encode(batch(0, 10), &mut full).unwrap();
        let none_open = encoders.take().unwrap();
        assert_eq!(none_open.rows(), 0, "the batch waits, encoded nowhere");
        encoders.give_back(none_open);
        encoders.encode(batch(10, 20), &mut full).unwrap();
        let open = encoders.take().unwrap();
        assert_eq!(open.rows(), 30);
        // A batch left to the busy encoder, whose call never comes back for it (as after an
        // error): the table encodes it when it closes.
        encoders.encode(batch(30, 5), &mut full).unwrap();
        let none_open = encoders.take().unwrap();
        assert_eq!(none_open.rows(), 0, "the batch waits, encoded nowhere");
        encoders.give_back(none_open);
        encoders.give_back(open);
        let written = out.close().unwrap();
        assert_eq!(written.handshakes, 35);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// The columns written without a dictionary exist, with the type their encoding is for,
    /// and the file says so.
    #[test]
    fn unique_columns_are_written_without_a_dictionary() {
        let schemas = [
            handshake_batch(&[]).schema(),
            alert_batch(&[]).schema(),
            certificate_batch(&[]).schema(),
            file_batch(&[]).schema(),
        ];
        let types = |name: &str| -> Vec<DataType> {
            schemas
                .iter()
                .filter_map(|s| s.field_with_name(name).ok())
                .map(|f| f.data_type().clone())
                .collect()
        };
        for name in UNIQUE_INTEGER_COLUMNS {
            let t = types(name);
            assert!(!t.is_empty(), "no column {name}");
            assert!(
                t.iter()
                    .all(|t| t.is_integer() || matches!(t, DataType::Timestamp(..))),
                "{name}: {t:?}"
            );
        }
        for name in UNIQUE_STRING_COLUMNS {
            assert_eq!(types(name), [DataType::Utf8], "{name}");
        }
        for name in CODE_LIST_COLUMNS {
            let t = types(name);
            assert!(
                matches!(&t[..], [DataType::List(item)] if item.name() == "item"
                    && item.data_type() == &DataType::Int32),
                "{name}: {t:?}"
            );
        }

        let dir = std::env::temp_dir().join(format!("tlscap-unique-{}", std::process::id()));
        let mut out = ParquetOutput::create(&dir).unwrap();
        out.handshakes((0..50).map(|p| handshake(p, 1_800_000_000_000_000 + i64::from(p) * 7)))
            .unwrap();
        out.close().unwrap();
        let f = File::open(dir.join("handshakes.parquet")).unwrap();
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
        let group = &reader.metadata().row_groups()[0];
        let encodings = |name: &str| {
            let c = group
                .columns()
                .iter()
                .find(|c| c.column_path().string() == name)
                .unwrap();
            c.encodings().collect::<Vec<_>>()
        };
        assert!(encodings("ts").contains(&Encoding::DELTA_BINARY_PACKED));
        assert!(!encodings("ts").contains(&Encoding::RLE_DICTIONARY));
        assert!(!encodings("client_session_id").contains(&Encoding::RLE_DICTIONARY));
        assert!(!encodings("client_cipher_suites.list.item").contains(&Encoding::RLE_DICTIONARY));
        // Others keep their dictionary.
        assert!(encodings("outcome").contains(&Encoding::RLE_DICTIONARY));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
