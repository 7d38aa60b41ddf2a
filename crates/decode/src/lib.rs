//! Link, network and transport headers of one captured frame, down to a TCP segment.
//!
//! The common frames (Ethernet with any number of VLAN tags, Linux cooked v1/v2, raw IP, BSD
//! loopback; IPv4; IPv6 without extension headers; TCP) take a hand-written path. IPv6 packets
//! with extension headers go through etherparse, which walks those chains correctly and is fast
//! enough for the rare frames that carry them (see `benches/decode.rs`).
//!
//! Encapsulations are followed to the innermost TCP segment: MPLS, PPPoE, IP-in-IP (4in4, 6in4,
//! 4in6, 6in6), GRE, ERSPAN I/II/III, VXLAN, Geneve and GTP-U. The segment keeps the outermost
//! VLAN id and the outermost tunnel (kind, outer addresses, identifier); the inner 5-tuple keys
//! the flow.
//!
//! **Invariant:** nothing is copied: a [`TcpSegment`]'s payload is a slice of the frame, cut to
//! the IP length so that Ethernet padding never reaches the stream.

#![forbid(unsafe_code)]

mod defrag;

pub use defrag::{DefragStats, Ipv4Reassembler};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// LINKTYPE_* values (https://www.tcpdump.org/linktypes.html) that the decoder understands.
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const RAW_OPENBSD: u32 = 12;
    pub const RAW_BSDOS: u32 = 14;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
const ETHERTYPE_TEB: u16 = 0x6558; // transparent Ethernet bridging (Ethernet inside GRE/Geneve)
const ETHERTYPE_ERSPAN_2: u16 = 0x88be; // ERSPAN type I (no GRE sequence) or II
const ETHERTYPE_ERSPAN_3: u16 = 0x22eb;
const PROTO_IPIP: u8 = 4;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_IPV6: u8 = 41;
const PROTO_GRE: u8 = 47;
const UDP_VXLAN: u16 = 4789;
const UDP_GENEVE: u16 = 6081;
const UDP_GTP_U: u16 = 2152;
/// Encapsulations followed before a frame is given up as too deeply nested.
const MAX_DEPTH: u8 = 6;

/// TCP flag bits.
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// The kind of tunnel a segment arrived in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// IPv4 or IPv6 directly inside IPv4 or IPv6 (4in4, 6in4, 4in6, 6in6).
    IpInIp,
    Gre,
    Erspan,
    Vxlan,
    Geneve,
    GtpU,
}

impl TunnelKind {
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::IpInIp => "ip-in-ip",
            TunnelKind::Gre => "gre",
            TunnelKind::Erspan => "erspan",
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::GtpU => "gtp-u",
        }
    }
}

/// The outermost tunnel of a segment: its kind, outer addresses and identifier (VXLAN/Geneve
/// VNI, GRE key, ERSPAN session, GTP TEID).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tunnel {
    pub kind: TunnelKind,
    pub outer_src: IpAddr,
    pub outer_dst: IpAddr,
    pub id: Option<u32>,
}

/// A decoded TCP segment, borrowing its payload from the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// The outermost 802.1Q VLAN id, when the frame carried one.
    pub vlan: Option<u16>,
    /// The outermost tunnel, when the segment was encapsulated.
    pub tunnel: Option<Tunnel>,
    /// The captured payload (cut by the IP length, so never Ethernet padding).
    pub payload: &'a [u8],
    /// The payload's length on the wire, per the IP header: larger than `payload.len()` when
    /// the snap length cut the packet.
    pub wire_len: u32,
}

impl TcpSegment<'_> {
    #[inline]
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Why a frame yielded no TCP segment. Counted by the scanner, never fatal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Skip {
    /// A link type the decoder does not know.
    UnsupportedLink,
    /// Not IP (ARP, LLDP, ...).
    NotIp,
    /// IP, but not TCP (UDP, ICMP, ...).
    NotTcp,
    /// A fragment of a larger IP packet.
    Fragment,
    /// Headers cut short by the snap length or by damage.
    Truncated,
    /// Header values that cannot be right, or encapsulation nested too deep.
    Malformed,
}

impl Skip {
    pub const ALL: [Skip; 6] = [
        Skip::UnsupportedLink,
        Skip::NotIp,
        Skip::NotTcp,
        Skip::Fragment,
        Skip::Truncated,
        Skip::Malformed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Skip::UnsupportedLink => "unsupported_link",
            Skip::NotIp => "not_ip",
            Skip::NotTcp => "not_tcp",
            Skip::Fragment => "ip_fragment",
            Skip::Truncated => "truncated",
            Skip::Malformed => "malformed",
        }
    }
}

/// What the layers outside the TCP segment said.
#[derive(Clone, Copy, Default)]
struct Ctx<'a> {
    vlan: Option<u16>,
    tunnel: Option<Tunnel>,
    depth: u8,
    /// The IPv4 packet, when it turned out to be a fragment.
    fragment: Option<&'a [u8]>,
}

impl Ctx<'_> {
    fn enter(
        &mut self,
        kind: TunnelKind,
        src: IpAddr,
        dst: IpAddr,
        id: Option<u32>,
    ) -> Result<(), Skip> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Skip::Malformed);
        }
        self.tunnel.get_or_insert(Tunnel {
            kind,
            outer_src: src,
            outer_dst: dst,
            id,
        });
        Ok(())
    }
}

/// Decodes one frame of the given link type down to TCP.
#[inline]
pub fn decode(linktype: u32, frame: &[u8]) -> Result<TcpSegment<'_>, Skip> {
    decode_in(linktype, frame, &mut Ctx::default())
}

/// The common frame, Ethernet without VLAN tags carrying a whole IPv4 packet carrying TCP,
/// decoded in one inline pass: exactly the segment [`decode`] gives for it, or `None` for any
/// other frame (or anything unusual about this one), which [`decode`] then decodes or explains.
///
/// Inline so that the segment is built where the caller puts it: returned from an out-of-line
/// decoder, a segment is written piece by piece and read back whole at once to be moved, and
/// the CPU cannot forward the pieces to that read; it waits for them to reach the cache.
#[inline(always)]
pub fn decode_common(linktype: u32, frame: &[u8]) -> Option<TcpSegment<'_>> {
    if linktype != linktype::ETHERNET {
        return None;
    }
    let h = frame.get(..14 + 20)?;
    if u16::from_be_bytes([h[12], h[13]]) != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = &frame[14..];
    if ip[0] >> 4 != 4 || ip[9] != PROTO_TCP {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = match usize::from(u16::from_be_bytes([ip[2], ip[3]])) {
        0 => ip.len(), // as `ipv4`: a capture made before TCP segmentation offload filled it in
        n => n,
    };
    // A fragment (more-fragments flag or an offset), or header lengths that cannot be right.
    if ihl < 20 || total < ihl || u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
        return None;
    }
    let t = ip.get(ihl..total.min(ip.len()))?;
    let src = IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]));
    tcp(src, dst, t, total - ihl, &Ctx::default()).ok()
}

/// An IPv4 fragment, and the encapsulation it arrived in, for [`Ipv4Reassembler`].
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Fragment<'a> {
    /// The IPv4 packet, from its header to its end.
    pub packet: &'a [u8],
    pub context: FragmentContext,
}

/// The layers around a fragmented packet, to decode the reassembled datagram within.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragmentContext {
    vlan: Option<u16>,
    tunnel: Option<Tunnel>,
    depth: u8,
}

/// Like [`decode`], but an IPv4 fragment is kept for reassembly: the result is
/// `Err(Skip::Fragment)` and `fragment` holds it. An out-parameter rather than an enum of the two
/// outcomes because every packet takes this path: the segment is returned as decoded, not copied
/// into a wrapper.
#[inline]
pub fn decode_or_fragment<'a>(
    linktype: u32,
    frame: &'a [u8],
    fragment: &mut Option<Ipv4Fragment<'a>>,
) -> Result<TcpSegment<'a>, Skip> {
    let mut ctx = Ctx::default();
    let result = decode_in(linktype, frame, &mut ctx);
    if let (Err(Skip::Fragment), Some(packet)) = (&result, ctx.fragment) {
        *fragment = Some(Ipv4Fragment {
            packet,
            context: FragmentContext {
                vlan: ctx.vlan,
                tunnel: ctx.tunnel,
                depth: ctx.depth,
            },
        });
    }
    result
}

/// Decodes a reassembled IPv4 datagram within the layers its fragments arrived in.
pub fn decode_reassembled(
    datagram: &[u8],
    context: FragmentContext,
) -> Result<TcpSegment<'_>, Skip> {
    let mut ctx = Ctx {
        vlan: context.vlan,
        tunnel: context.tunnel,
        depth: context.depth,
        fragment: None,
    };
    ipv4(datagram, &mut ctx)
}

#[inline]
fn decode_in<'a>(
    linktype: u32,
    frame: &'a [u8],
    ctx: &mut Ctx<'a>,
) -> Result<TcpSegment<'a>, Skip> {
    match linktype {
        linktype::ETHERNET => ethernet(frame, ctx),
        linktype::LINUX_SLL => {
            let h = frame.get(..16).ok_or(Skip::Truncated)?;
            ethertype(u16::from_be_bytes([h[14], h[15]]), &frame[16..], ctx)
        }
        linktype::LINUX_SLL2 => {
            let h = frame.get(..20).ok_or(Skip::Truncated)?;
            ethertype(u16::from_be_bytes([h[0], h[1]]), &frame[20..], ctx)
        }
        linktype::RAW
        | linktype::RAW_OPENBSD
        | linktype::RAW_BSDOS
        | linktype::IPV4
        | linktype::IPV6 => ip_by_version(frame, ctx),
        linktype::NULL | linktype::LOOP => {
            let h = frame.get(..4).ok_or(Skip::Truncated)?;
            // NULL stores the address family in the writer's byte order, LOOP in network order;
            // either way one of the two readings is a small number.
            let le = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
            let be = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
            match le.min(be) {
                2 => ipv4(&frame[4..], ctx),
                // AF_INET6 differs by OS: 10 Linux, 24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS.
                10 | 24 | 28 | 30 => ipv6(&frame[4..], ctx),
                _ => Err(Skip::NotIp),
            }
        }
        _ => Err(Skip::UnsupportedLink),
    }
}

fn ip_by_version<'a>(p: &'a [u8], ctx: &mut Ctx<'a>) -> Result<TcpSegment<'a>, Skip> {
    match p.first().ok_or(Skip::Truncated)? >> 4 {
        4 => ipv4(p, ctx),
        6 => ipv6(p, ctx),
        _ => Err(Skip::NotIp),
    }
}

#[inline]
fn ethernet<'a>(frame: &'a [u8], ctx: &mut Ctx<'a>) -> Result<TcpSegment<'a>, Skip> {
    let h = frame.get(..14).ok_or(Skip::Truncated)?;
    let mut et = u16::from_be_bytes([h[12], h[13]]);
    let mut rest = &frame[14..];
    while matches!(et, ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD) {
        let t = rest.get(..4).ok_or(Skip::Truncated)?;
        ctx.vlan
            .get_or_insert(u16::from_be_bytes([t[0], t[1]]) & 0x0fff);
        et = u16::from_be_bytes([t[2], t[3]]);
        rest = &rest[4..];
    }
    ethertype(et, rest, ctx)
}

#[inline]
fn ethertype<'a>(et: u16, p: &'a [u8], ctx: &mut Ctx<'a>) -> Result<TcpSegment<'a>, Skip> {
    match et {
        ETHERTYPE_IPV4 => ipv4(p, ctx),
        ETHERTYPE_IPV6 => ipv6(p, ctx),
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => {
            // A VLAN tag right after a cooked-capture header.
            let t = p.get(..4).ok_or(Skip::Truncated)?;
            ctx.vlan
                .get_or_insert(u16::from_be_bytes([t[0], t[1]]) & 0x0fff);
            ethertype(u16::from_be_bytes([t[2], t[3]]), &p[4..], ctx)
        }
        ETHERTYPE_MPLS | ETHERTYPE_MPLS_MULTICAST => mpls(p, ctx),
        ETHERTYPE_PPPOE_SESSION => pppoe(p, ctx),
        _ => Err(Skip::NotIp),
    }
}

/// An MPLS label stack; after the bottom label comes IPv4 or IPv6 (told by its version nibble).
fn mpls<'a>(mut p: &'a [u8], ctx: &mut Ctx<'a>) -> Result<TcpSegment<'a>, Skip> {
    for _ in 0..16 {
        let l = p.get(..4).ok_or(Skip::Truncated)?;
        p = &p[4..];
        if l[2] & 0x01 != 0 {
            return ip_by_version(p, ctx);
        }
    }
    Err(Skip::Malformed)
}

/// A PPPoE session frame: 6-byte PPPoE header, 2-byte PPP protocol.
fn pppoe<'a>(p: &'a [u8], ctx: &mut Ctx<'a>) -> Result<TcpSegment<'a>, Skip> {
    let h = p.get(..8).ok_or(Skip::Truncated)?;
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let end = (6 + len).min(p.len()).max(8);
    match u16::from_be_bytes([h[6], h[7]]) {
        0x0021 => ipv4(&p[8..end], ctx),
        0x0057 => ipv6(&p[8..end], ctx),
        _ => Err(Skip::NotIp),
    }
}

#[inline]
fn ipv4<'a>(p: &'a [u8], ctx: &mut Ctx<'a>) -> Result<TcpSegment<'a>, Skip> {
    let h = p.get(..20).ok_or(Skip::Truncated)?;
    if h[0] >> 4 != 4 {
        return Err(Skip::Malformed);
    }
    let ihl = usize::from(h[0] & 0x0f) * 4;
    let mut total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if total == 0 {
        // Captured on the sending host with TCP segmentation offload: the NIC fills the length
        // in later, so the frame's own length is the truth.
        total = p.len();
    }
    if ihl < 20 || total < ihl {
        return Err(Skip::Malformed);
    }
    let frag = u16::from_be_bytes([h[6], h[7]]);
    if frag & 0x2000 != 0 || frag & 0x1fff != 0 {
        ctx.fragment = Some(&p[..total.min(p.len())]);
        return Err(Skip::Fragment);
    }
    if p.len() < ihl {
        return Err(Skip::Truncated);
    }
    // Cut Ethernet padding; a snap-length cut leaves fewer bytes than `total`, which is fine.
    let end = total.min(p.len());
    let src = IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19]));
    ip_payload(h[9], src, dst, &p[ihl..end], total - ihl, ctx)
}

#[inline]
fn ipv6<'a>(p: &'a [u8], ctx: &mut Ctx<'a>) -> Result<TcpSegment<'a>, Skip> {
    let h = p.get(..40).ok_or(Skip::Truncated)?;
    if h[0] >> 4 != 6 {
        return Err(Skip::Malformed);
    }
    let next = h[6];
    let src = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&h[8..24]).unwrap()));
    let dst = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&h[24..40]).unwrap()));
    if !matches!(
        next,
        PROTO_TCP | PROTO_UDP | PROTO_GRE | PROTO_IPIP | PROTO_IPV6
    ) {
        return ipv6_extensions(p, src, dst, ctx);
    }
    let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    // A payload length of 0 means a jumbogram (hop-by-hop option) or TSO capture: take the frame.
    let (end, declared) = if payload_len == 0 {
        (p.len(), p.len() - 40)
    } else {
        ((40 + payload_len).min(p.len()), payload_len)
    };
    ip_payload(next, src, dst, &p[40..end], declared, ctx)
}

/// The slow path: IPv6 with extension headers, walked by etherparse.
#[cold]
fn ipv6_extensions<'a>(
    p: &'a [u8],
    src: IpAddr,
    dst: IpAddr,
    ctx: &mut Ctx<'a>,
) -> Result<TcpSegment<'a>, Skip> {
    use etherparse::LaxIpSlice;
    // Lax parsing also accepts a payload length beyond the captured bytes (snap length).
    match LaxIpSlice::from_slice(p) {
        Ok((LaxIpSlice::Ipv6(v6), _)) => {
            let payload = v6.payload();
            if payload.fragmented {
                return Err(Skip::Fragment);
            }
            ip_payload(
                payload.ip_number.0,
                src,
                dst,
                payload.payload,
                payload.payload.len(),
                ctx,
            )
        }
        _ => Err(Skip::Truncated),
    }
}

/// What follows an IP header: TCP, or a tunnel to look into. `declared` is the payload length
/// the IP header announces (more than `p.len()` when the capture cut the packet).
/// The protocol an IP header names. TCP, the common case, is decided here, inline; tunnels
/// recurse into the IP decoders, so they stay out of line in [`ip_tunnel`] (a recursive call
/// would keep the whole chain from inlining).
#[inline(always)]
fn ip_payload<'a>(
    proto: u8,
    src: IpAddr,
    dst: IpAddr,
    p: &'a [u8],
    declared: usize,
    ctx: &mut Ctx<'a>,
) -> Result<TcpSegment<'a>, Skip> {
    if proto == PROTO_TCP {
        tcp(src, dst, p, declared, ctx)
    } else {
        ip_tunnel(proto, src, dst, p, ctx)
    }
}

#[inline(never)]
fn ip_tunnel<'a>(
    proto: u8,
    src: IpAddr,
    dst: IpAddr,
    p: &'a [u8],
    ctx: &mut Ctx<'a>,
) -> Result<TcpSegment<'a>, Skip> {
    match proto {
        PROTO_UDP => udp(src, dst, p, ctx),
        PROTO_GRE => gre(src, dst, p, ctx),
        PROTO_IPIP => {
            ctx.enter(TunnelKind::IpInIp, src, dst, None)?;
            ipv4(p, ctx)
        }
        PROTO_IPV6 => {
            ctx.enter(TunnelKind::IpInIp, src, dst, None)?;
            ipv6(p, ctx)
        }
        _ => Err(Skip::NotTcp),
    }
}

/// UDP carrying a tunnel by its well-known port: VXLAN, Geneve, GTP-U.
fn udp<'a>(
    src: IpAddr,
    dst: IpAddr,
    u: &'a [u8],
    ctx: &mut Ctx<'a>,
) -> Result<TcpSegment<'a>, Skip> {
    let h = u.get(..8).ok_or(Skip::Truncated)?;
    let dport = u16::from_be_bytes([h[2], h[3]]);
    let p = &u[8..];
    match dport {
        UDP_VXLAN => {
            let v = p.get(..8).ok_or(Skip::Truncated)?;
            if v[0] & 0x08 == 0 {
                return Err(Skip::NotTcp); // no valid VNI: not VXLAN
            }
            let vni = u32::from_be_bytes([0, v[4], v[5], v[6]]);
            ctx.enter(TunnelKind::Vxlan, src, dst, Some(vni))?;
            ethernet(&p[8..], ctx)
        }
        UDP_GENEVE => {
            let g = p.get(..8).ok_or(Skip::Truncated)?;
            if g[0] >> 6 != 0 {
                return Err(Skip::NotTcp);
            }
            let opts = usize::from(g[0] & 0x3f) * 4;
            let inner = p.get(8 + opts..).ok_or(Skip::Truncated)?;
            let vni = u32::from_be_bytes([0, g[4], g[5], g[6]]);
            ctx.enter(TunnelKind::Geneve, src, dst, Some(vni))?;
            match u16::from_be_bytes([g[2], g[3]]) {
                ETHERTYPE_TEB => ethernet(inner, ctx),
                et => ethertype(et, inner, ctx),
            }
        }
        UDP_GTP_U => {
            let g = p.get(..8).ok_or(Skip::Truncated)?;
            // GTPv1 (version 1, protocol type GTP), message G-PDU (255) carries user IP packets.
            if g[0] >> 5 != 1 || g[0] & 0x10 == 0 || g[1] != 0xff {
                return Err(Skip::NotTcp);
            }
            let teid = u32::from_be_bytes([g[4], g[5], g[6], g[7]]);
            let mut off = 8;
            if g[0] & 0x07 != 0 {
                // Sequence number, N-PDU number, next extension header type.
                let opt = p.get(8..12).ok_or(Skip::Truncated)?;
                off = 12;
                let mut next = opt[3];
                while next != 0 {
                    let len = usize::from(*p.get(off).ok_or(Skip::Truncated)?) * 4;
                    if len == 0 {
                        return Err(Skip::Malformed);
                    }
                    next = *p.get(off + len - 1).ok_or(Skip::Truncated)?;
                    off += len;
                }
            }
            ctx.enter(TunnelKind::GtpU, src, dst, Some(teid))?;
            ip_by_version(p.get(off..).ok_or(Skip::Truncated)?, ctx)
        }
        _ => Err(Skip::NotTcp),
    }
}

/// GRE (RFC 2784/2890), including ERSPAN types I, II and III inside it.
fn gre<'a>(
    src: IpAddr,
    dst: IpAddr,
    g: &'a [u8],
    ctx: &mut Ctx<'a>,
) -> Result<TcpSegment<'a>, Skip> {
    let h = g.get(..4).ok_or(Skip::Truncated)?;
    if h[1] & 0x07 != 0 {
        return Err(Skip::NotTcp); // version 1 is PPTP's enhanced GRE (PPP inside)
    }
    let (checksum, key, seq) = (h[0] & 0x80 != 0, h[0] & 0x20 != 0, h[0] & 0x10 != 0);
    let proto = u16::from_be_bytes([h[2], h[3]]);
    let mut off = 4;
    if checksum {
        off += 4;
    }
    let mut id = None;
    if key {
        let k = g.get(off..off + 4).ok_or(Skip::Truncated)?;
        id = Some(u32::from_be_bytes([k[0], k[1], k[2], k[3]]));
        off += 4;
    }
    if seq {
        off += 4;
    }
    let p = g.get(off..).ok_or(Skip::Truncated)?;
    match proto {
        ETHERTYPE_ERSPAN_2 if !seq => {
            // ERSPAN type I: Ethernet right after a GRE header without a sequence number.
            ctx.enter(TunnelKind::Erspan, src, dst, id)?;
            ethernet(p, ctx)
        }
        ETHERTYPE_ERSPAN_2 => {
            let e = p.get(..8).ok_or(Skip::Truncated)?;
            let session = u32::from(u16::from_be_bytes([e[2], e[3]]) & 0x03ff);
            ctx.enter(TunnelKind::Erspan, src, dst, Some(session))?;
            ethernet(&p[8..], ctx)
        }
        ETHERTYPE_ERSPAN_3 => {
            let e = p.get(..12).ok_or(Skip::Truncated)?;
            let session = u32::from(u16::from_be_bytes([e[2], e[3]]) & 0x03ff);
            // The O flag announces an 8-byte platform-specific subheader.
            let len = if e[11] & 0x01 != 0 { 20 } else { 12 };
            ctx.enter(TunnelKind::Erspan, src, dst, Some(session))?;
            ethernet(p.get(len..).ok_or(Skip::Truncated)?, ctx)
        }
        ETHERTYPE_TEB => {
            ctx.enter(TunnelKind::Gre, src, dst, id)?;
            ethernet(p, ctx)
        }
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 | ETHERTYPE_MPLS => {
            ctx.enter(TunnelKind::Gre, src, dst, id)?;
            ethertype(proto, p, ctx)
        }
        _ => Err(Skip::NotTcp),
    }
}

#[inline(always)]
fn tcp<'a>(
    src: IpAddr,
    dst: IpAddr,
    t: &'a [u8],
    declared: usize,
    ctx: &Ctx<'_>,
) -> Result<TcpSegment<'a>, Skip> {
    let h = t.get(..20).ok_or(Skip::Truncated)?;
    let off = usize::from(h[12] >> 4) * 4;
    if off < 20 {
        return Err(Skip::Malformed);
    }
    let payload = t.get(off..).ok_or(Skip::Truncated)?;
    Ok(TcpSegment {
        src,
        dst,
        src_port: u16::from_be_bytes([h[0], h[1]]),
        dst_port: u16::from_be_bytes([h[2], h[3]]),
        seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
        flags: h[13],
        window: u16::from_be_bytes([h[14], h[15]]),
        vlan: ctx.vlan,
        tunnel: ctx.tunnel,
        payload,
        wire_len: declared.saturating_sub(off).max(payload.len()) as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frame 32 of the motivating capture (`shared/seed-case.md`), byte for byte.
    pub const SEED_FRAME_32: [u8; 61] = [
        0x00, 0x1E, 0x68, 0x0F, 0x3E, 0x80, 0x00, 0x30, 0x48, 0x7E, 0x1B, 0x90, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x2F, 0x13, 0x9E, 0x40, 0x00, 0x3D, 0x06, 0xD2, 0x0E, 0x0A, 0xF4, 0x40, 0x0F,
        0x0A, 0x33, 0x02, 0xE7, 0x15, 0x43, 0x04, 0x4C, 0xA4, 0xC5, 0x13, 0xA4, 0xE8, 0x46, 0x34,
        0xBB, 0x50, 0x18, 0xFA, 0xF0, 0x2B, 0xB8, 0x00, 0x00, 0x15, 0x03, 0x01, 0x00, 0x02, 0x02,
        0x2A,
    ];

    #[test]
    fn seed_frame_32() {
        let s = decode(linktype::ETHERNET, &SEED_FRAME_32).unwrap();
        assert_eq!(s.src, "10.244.64.15".parse::<IpAddr>().unwrap());
        assert_eq!(s.dst, "10.51.2.231".parse::<IpAddr>().unwrap());
        assert_eq!((s.src_port, s.dst_port), (5443, 1100));
        assert_eq!(
            (s.seq, s.ack, s.window),
            (2_764_379_044, 3_896_915_131, 64240)
        );
        assert_eq!(s.flags, flags::ACK | flags::PSH);
        assert_eq!(s.payload, &[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x2A]);
    }

    /// `decode_common` decodes the plain frame and its harmless variants as `decode` does, and
    /// leaves every other frame to `decode`.
    #[test]
    fn the_inline_path_takes_plain_frames_and_leaves_the_rest() {
        let same = |f: &[u8]| {
            let s = decode_common(linktype::ETHERNET, f).expect("decoded inline");
            assert_eq!(Ok(s), decode(linktype::ETHERNET, f));
        };
        let left = |f: &[u8], why: &str| {
            assert_eq!(decode_common(linktype::ETHERNET, f), None, "{why}");
        };
        let seed = SEED_FRAME_32.to_vec();
        same(&seed);
        let mut tso = seed.clone();
        tso[16..18].fill(0);
        same(&tso);
        same(&seed[..58]); // cut by the snap length
        let mut padded = seed.clone();
        padded.extend_from_slice(&[0; 6]);
        same(&padded);
        // A 4-byte IPv4 option (a no-op and end-of-options), the lengths grown to match.
        let mut options = seed[..34].to_vec();
        options.extend_from_slice(&[1, 1, 1, 0]);
        options.extend_from_slice(&seed[34..]);
        options[14] = 0x46;
        options[17] += 4;
        same(&options);
        assert_eq!(decode_common(linktype::LINUX_SLL, &seed), None);
        let mut fragment = seed.clone();
        fragment[20] |= 0x20; // more fragments
        left(&fragment, "a fragment");
        let mut offset = seed.clone();
        offset[21] = 1;
        left(&offset, "a fragment's offset");
        let mut udp = seed.clone();
        udp[23] = PROTO_UDP;
        left(&udp, "UDP");
        let mut short_tcp = seed.clone();
        short_tcp[46] = 0x40; // data offset 16
        left(&short_tcp, "a TCP header shorter than 20 bytes");
        left(&seed[..40], "a TCP header cut short");
        let mut vlan = seed[..12].to_vec();
        vlan.extend_from_slice(&[0x81, 0x00, 0x00, 0x14]);
        vlan.extend_from_slice(&seed[12..]);
        left(&vlan, "a VLAN tag");
        let mut ihl = seed.clone();
        ihl[14] = 0x44;
        left(&ihl, "an IPv4 header length under 20");
    }

    #[test]
    fn tso_zero_total_length_takes_the_frame() {
        let mut f = SEED_FRAME_32.to_vec();
        f[16] = 0;
        f[17] = 0;
        assert_eq!(decode(linktype::ETHERNET, &f).unwrap().payload.len(), 7);
    }

    #[test]
    fn snap_length_cut_keeps_the_wire_length() {
        let s = decode(linktype::ETHERNET, &SEED_FRAME_32[..58]).unwrap();
        assert_eq!((s.payload.len(), s.wire_len), (4, 7));
    }

    #[test]
    fn ethernet_padding_is_cut() {
        let mut f = SEED_FRAME_32.to_vec();
        f.extend_from_slice(&[0; 6]);
        assert_eq!(decode(linktype::ETHERNET, &f).unwrap().payload.len(), 7);
    }

    #[test]
    fn vlan_tags_and_cooked_and_raw() {
        let mut q = SEED_FRAME_32[..12].to_vec();
        q.extend_from_slice(&[0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00]);
        q.extend_from_slice(&SEED_FRAME_32[14..]);
        let s = decode(linktype::ETHERNET, &q).unwrap();
        assert_eq!((s.vlan, s.src_port), (Some(10), 5443));

        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&SEED_FRAME_32[14..]);
        assert_eq!(decode(linktype::LINUX_SLL, &sll).unwrap().dst_port, 1100);

        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0; 18]);
        sll2.extend_from_slice(&SEED_FRAME_32[14..]);
        assert_eq!(decode(linktype::LINUX_SLL2, &sll2).unwrap().dst_port, 1100);

        assert_eq!(
            decode(linktype::RAW, &SEED_FRAME_32[14..]).unwrap().seq,
            2_764_379_044
        );

        let mut null = vec![2, 0, 0, 0];
        null.extend_from_slice(&SEED_FRAME_32[14..]);
        assert_eq!(decode(linktype::NULL, &null).unwrap().src_port, 5443);
        null[..4].copy_from_slice(&[0, 0, 0, 2]);
        assert_eq!(decode(linktype::LOOP, &null).unwrap().src_port, 5443);
    }

    fn ipv6_frame(ext: &[u8], first_next: u8) -> Vec<u8> {
        let tcp = &SEED_FRAME_32[34..];
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&((ext.len() + tcp.len()) as u16).to_be_bytes());
        p.push(first_next);
        p.push(64);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8].repeat(4));
        p.extend_from_slice(&[0xfe, 0x80, 0, 0].repeat(4));
        p.extend_from_slice(ext);
        p.extend_from_slice(tcp);
        p
    }

    #[test]
    fn ipv6_plain_and_with_extension_headers() {
        let plain = ipv6_frame(&[], PROTO_TCP);
        let s = decode(linktype::RAW, &plain).unwrap();
        assert_eq!(s.payload, &[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x2A]);
        // Hop-by-hop options (8 bytes, PadN) then destination options, then TCP.
        let ext = [60, 0, 1, 4, 0, 0, 0, 0, PROTO_TCP, 0, 1, 4, 0, 0, 0, 0];
        let with_ext = ipv6_frame(&ext, 0);
        let s = decode(linktype::RAW, &with_ext).unwrap();
        assert_eq!(s.payload, &[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x2A]);
        assert_eq!((s.src_port, s.dst_port), (5443, 1100));
    }

    const ALERT: [u8; 7] = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x2A];

    fn inner_ipv4() -> Vec<u8> {
        SEED_FRAME_32[14..].to_vec()
    }

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = SEED_FRAME_32[..12].to_vec();
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn outer_ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut h = vec![0x45, 0];
        h.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        h.extend_from_slice(&[0, 1, 0, 0, 64, proto, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
        h.extend_from_slice(payload);
        h
    }

    fn udp(dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut u = 50_000u16.to_be_bytes().to_vec();
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(payload);
        u
    }

    fn check(frame: &[u8], kind: Option<TunnelKind>, id: Option<u32>) {
        let s = decode(linktype::ETHERNET, frame).unwrap();
        assert_eq!(s.payload, &ALERT);
        assert_eq!((s.src_port, s.dst_port), (5443, 1100));
        assert_eq!(s.tunnel.map(|t| t.kind), kind);
        if let Some(t) = s.tunnel {
            assert_eq!(t.outer_src, "192.0.2.1".parse::<IpAddr>().unwrap());
            assert_eq!(t.id, id);
        }
    }

    #[test]
    fn mpls_and_pppoe() {
        let mut m = vec![0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40]; // two labels, S on the second
        m.extend_from_slice(&inner_ipv4());
        check(&eth(ETHERTYPE_MPLS, &m), None, None);
        let ip = inner_ipv4();
        let mut p = vec![0x11, 0x00, 0x12, 0x34];
        p.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
        p.extend_from_slice(&[0x00, 0x21]);
        p.extend_from_slice(&ip);
        p.extend_from_slice(&[0; 4]); // padding after the PPPoE payload
        check(&eth(ETHERTYPE_PPPOE_SESSION, &p), None, None);
    }

    #[test]
    fn ip_in_ip_all_four_ways() {
        check(
            &eth(ETHERTYPE_IPV4, &outer_ipv4(PROTO_IPIP, &inner_ipv4())),
            Some(TunnelKind::IpInIp),
            None,
        );
        let six = ipv6_frame(&[], PROTO_TCP);
        let six_in_four = eth(ETHERTYPE_IPV4, &outer_ipv4(PROTO_IPV6, &six));
        let s = decode(linktype::ETHERNET, &six_in_four).unwrap();
        assert_eq!(
            (s.payload, s.tunnel.unwrap().kind),
            (&ALERT[..], TunnelKind::IpInIp)
        );
        // 4in6 and 6in6: an outer IPv6 header whose next header is 4 or 41.
        for (next, inner) in [(PROTO_IPIP, inner_ipv4()), (PROTO_IPV6, six.clone())] {
            let mut outer = vec![0x60, 0, 0, 0];
            outer.extend_from_slice(&(inner.len() as u16).to_be_bytes());
            outer.extend_from_slice(&[next, 64]);
            outer.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8].repeat(8));
            outer.extend_from_slice(&inner);
            let frame = eth(ETHERTYPE_IPV6, &outer);
            let s = decode(linktype::ETHERNET, &frame).unwrap();
            assert_eq!(
                (s.payload, s.tunnel.unwrap().kind),
                (&ALERT[..], TunnelKind::IpInIp)
            );
        }
    }

    #[test]
    fn gre_and_erspan() {
        let mut g = vec![0x20, 0x00, 0x08, 0x00, 0, 0, 0, 42]; // key 42, then IPv4
        g.extend_from_slice(&inner_ipv4());
        check(
            &eth(ETHERTYPE_IPV4, &outer_ipv4(PROTO_GRE, &g)),
            Some(TunnelKind::Gre),
            Some(42),
        );

        let inner_eth = SEED_FRAME_32.to_vec();
        let mut e1 = vec![0x00, 0x00, 0x88, 0xbe];
        e1.extend_from_slice(&inner_eth);
        check(
            &eth(ETHERTYPE_IPV4, &outer_ipv4(PROTO_GRE, &e1)),
            Some(TunnelKind::Erspan),
            None,
        );

        let mut e2 = vec![0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1]; // sequence number
        e2.extend_from_slice(&[0x10, 0x00, 0x00, 0x07, 0, 0, 0, 0]); // version 1, session 7
        e2.extend_from_slice(&inner_eth);
        check(
            &eth(ETHERTYPE_IPV4, &outer_ipv4(PROTO_GRE, &e2)),
            Some(TunnelKind::Erspan),
            Some(7),
        );

        let mut e3 = vec![0x10, 0x00, 0x22, 0xeb, 0, 0, 0, 1];
        e3.extend_from_slice(&[0x20, 0x00, 0x00, 0x09, 0, 0, 0, 0, 0, 0, 0, 0x01]); // O flag set
        e3.extend_from_slice(&[0; 8]); // platform-specific subheader
        e3.extend_from_slice(&inner_eth);
        check(
            &eth(ETHERTYPE_IPV4, &outer_ipv4(PROTO_GRE, &e3)),
            Some(TunnelKind::Erspan),
            Some(9),
        );
    }

    #[test]
    fn vxlan_geneve_gtp() {
        let inner_eth = SEED_FRAME_32.to_vec();
        let mut v = vec![0x08, 0, 0, 0, 0x00, 0x01, 0x02, 0];
        v.extend_from_slice(&inner_eth);
        check(
            &eth(ETHERTYPE_IPV4, &outer_ipv4(PROTO_UDP, &udp(UDP_VXLAN, &v))),
            Some(TunnelKind::Vxlan),
            Some(0x102),
        );

        let mut g = vec![
            0x02, 0x00, 0x65, 0x58, 0, 0, 5, 0, 0x01, 0x02, 0x03, 0x01, 0, 0, 0, 0,
        ]; // one 8-byte option
        g.extend_from_slice(&inner_eth);
        check(
            &eth(ETHERTYPE_IPV4, &outer_ipv4(PROTO_UDP, &udp(UDP_GENEVE, &g))),
            Some(TunnelKind::Geneve),
            Some(5),
        );

        let ip = inner_ipv4();
        let mut t = vec![0x30, 0xff];
        t.extend_from_slice(&(ip.len() as u16).to_be_bytes());
        t.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        t.extend_from_slice(&ip);
        check(
            &eth(ETHERTYPE_IPV4, &outer_ipv4(PROTO_UDP, &udp(UDP_GTP_U, &t))),
            Some(TunnelKind::GtpU),
            Some(0xdead_beef),
        );
        // With the E flag: sequence/N-PDU/next-type word, then one PDU-session extension header.
        let mut te = vec![
            0x34, 0xff, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0x85, 1, 0x10, 0x05, 0x00,
        ];
        te.extend_from_slice(&ip);
        check(
            &eth(ETHERTYPE_IPV4, &outer_ipv4(PROTO_UDP, &udp(UDP_GTP_U, &te))),
            Some(TunnelKind::GtpU),
            Some(9),
        );
        // Plain UDP on another port is not TCP.
        let other = eth(ETHERTYPE_IPV4, &outer_ipv4(PROTO_UDP, &udp(53, &[0; 20])));
        assert_eq!(decode(linktype::ETHERNET, &other), Err(Skip::NotTcp));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut p = inner_ipv4();
        for _ in 0..10 {
            p = outer_ipv4(PROTO_IPIP, &p);
        }
        assert_eq!(decode(linktype::RAW, &p), Err(Skip::Malformed));
    }

    #[test]
    fn skips_are_reasons_not_panics() {
        assert_eq!(
            decode(linktype::ETHERNET, &SEED_FRAME_32[..20]),
            Err(Skip::Truncated)
        );
        let mut udp = SEED_FRAME_32.to_vec();
        udp[23] = 17;
        assert_eq!(decode(linktype::ETHERNET, &udp), Err(Skip::NotTcp));
        let mut frag = SEED_FRAME_32.to_vec();
        frag[20] = 0x20;
        assert_eq!(decode(linktype::ETHERNET, &frag), Err(Skip::Fragment));
        assert_eq!(decode(9999, &SEED_FRAME_32), Err(Skip::UnsupportedLink));
        for n in 0..SEED_FRAME_32.len() {
            let _ = decode(linktype::ETHERNET, &SEED_FRAME_32[..n]);
        }
    }
}
