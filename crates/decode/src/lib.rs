//! Link, network and transport headers of one captured frame, down to a TCP segment.
//!
//! The common frames (Ethernet with any number of VLAN tags, Linux cooked v1/v2, raw IP, BSD
//! loopback; IPv4; IPv6 without extension headers; TCP) take a hand-written path. IPv6 packets
//! with extension headers go through etherparse, which walks those chains correctly and is fast
//! enough for the rare frames that carry them (see `benches/pipeline.rs`, `decode/*`).
//!
//! **Invariant:** nothing is copied: a [`TcpSegment`]'s payload is a slice of the frame, cut to
//! the IP length so that Ethernet padding never reaches the stream.

#![forbid(unsafe_code)]

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
const PROTO_TCP: u8 = 6;

/// TCP flag bits.
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
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
    pub payload: &'a [u8],
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
    /// Header values that cannot be right.
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

/// Decodes one frame of the given link type down to TCP.
#[inline]
pub fn decode(linktype: u32, frame: &[u8]) -> Result<TcpSegment<'_>, Skip> {
    let (ethertype, l3, vlan) = match linktype {
        linktype::ETHERNET => ethernet(frame)?,
        linktype::LINUX_SLL => {
            let h = frame.get(..16).ok_or(Skip::Truncated)?;
            (u16::from_be_bytes([h[14], h[15]]), &frame[16..], None)
        }
        linktype::LINUX_SLL2 => {
            let h = frame.get(..20).ok_or(Skip::Truncated)?;
            (u16::from_be_bytes([h[0], h[1]]), &frame[20..], None)
        }
        linktype::RAW
        | linktype::RAW_OPENBSD
        | linktype::RAW_BSDOS
        | linktype::IPV4
        | linktype::IPV6 => (raw_version(frame)?, frame, None),
        linktype::NULL | linktype::LOOP => {
            let h = frame.get(..4).ok_or(Skip::Truncated)?;
            // NULL stores the address family in the writer's byte order, LOOP in network order;
            // either way one of the two readings is a small number.
            let le = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
            let be = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
            let af = le.min(be);
            let et = match af {
                2 => ETHERTYPE_IPV4,
                // AF_INET6 differs by OS: 10 Linux, 24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS.
                10 | 24 | 28 | 30 => ETHERTYPE_IPV6,
                _ => return Err(Skip::NotIp),
            };
            (et, &frame[4..], None)
        }
        _ => return Err(Skip::UnsupportedLink),
    };
    let mut seg = match ethertype {
        ETHERTYPE_IPV4 => ipv4(l3)?,
        ETHERTYPE_IPV6 => ipv6(l3)?,
        _ => return Err(Skip::NotIp),
    };
    seg.vlan = vlan;
    Ok(seg)
}

fn raw_version(frame: &[u8]) -> Result<u16, Skip> {
    match frame.first().ok_or(Skip::Truncated)? >> 4 {
        4 => Ok(ETHERTYPE_IPV4),
        6 => Ok(ETHERTYPE_IPV6),
        _ => Err(Skip::NotIp),
    }
}

#[inline]
fn ethernet(frame: &[u8]) -> Result<(u16, &[u8], Option<u16>), Skip> {
    let h = frame.get(..14).ok_or(Skip::Truncated)?;
    let mut et = u16::from_be_bytes([h[12], h[13]]);
    let mut rest = &frame[14..];
    let mut vlan = None;
    while matches!(et, ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD) {
        let t = rest.get(..4).ok_or(Skip::Truncated)?;
        vlan.get_or_insert(u16::from_be_bytes([t[0], t[1]]) & 0x0fff);
        et = u16::from_be_bytes([t[2], t[3]]);
        rest = &rest[4..];
    }
    Ok((et, rest, vlan))
}

#[inline]
fn ipv4(p: &[u8]) -> Result<TcpSegment<'_>, Skip> {
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
    let more_fragments = frag & 0x2000 != 0;
    if more_fragments || frag & 0x1fff != 0 {
        return Err(Skip::Fragment);
    }
    if h[9] != PROTO_TCP {
        return Err(Skip::NotTcp);
    }
    if p.len() < ihl {
        return Err(Skip::Truncated);
    }
    // Cut Ethernet padding; a snap-length cut leaves fewer bytes than `total`, which is fine.
    let end = total.min(p.len());
    let src = IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19]));
    tcp(src, dst, &p[ihl..end])
}

#[inline]
fn ipv6(p: &[u8]) -> Result<TcpSegment<'_>, Skip> {
    let h = p.get(..40).ok_or(Skip::Truncated)?;
    if h[0] >> 4 != 6 {
        return Err(Skip::Malformed);
    }
    let next = h[6];
    if next != PROTO_TCP {
        return ipv6_extensions(p);
    }
    let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    // A payload length of 0 means a jumbogram (hop-by-hop option) or TSO capture: take the frame.
    let end = if payload_len == 0 {
        p.len()
    } else {
        (40 + payload_len).min(p.len())
    };
    let src = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&h[8..24]).unwrap()));
    let dst = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&h[24..40]).unwrap()));
    tcp(src, dst, &p[40..end])
}

/// The slow path: IPv6 with extension headers, walked by etherparse.
#[cold]
fn ipv6_extensions(p: &[u8]) -> Result<TcpSegment<'_>, Skip> {
    use etherparse::{IpSlice, LaxIpSlice};
    let ip = match IpSlice::from_slice(p) {
        Ok(ip) => ip,
        Err(_) => {
            // Lax parsing accepts a payload length beyond the captured bytes (snap length).
            match LaxIpSlice::from_slice(p) {
                Ok((LaxIpSlice::Ipv6(v6), _)) => {
                    if v6.payload().fragmented {
                        return Err(Skip::Fragment);
                    }
                    if v6.payload().ip_number != etherparse::IpNumber::TCP {
                        return Err(Skip::NotTcp);
                    }
                    let src = IpAddr::V6(v6.header().source_addr());
                    let dst = IpAddr::V6(v6.header().destination_addr());
                    return tcp(src, dst, v6.payload().payload);
                }
                _ => return Err(Skip::Truncated),
            }
        }
    };
    let IpSlice::Ipv6(v6) = ip else {
        return Err(Skip::Malformed);
    };
    if v6.is_payload_fragmented() {
        return Err(Skip::Fragment);
    }
    if v6.payload().ip_number != etherparse::IpNumber::TCP {
        return Err(Skip::NotTcp);
    }
    let src = IpAddr::V6(v6.header().source_addr());
    let dst = IpAddr::V6(v6.header().destination_addr());
    tcp(src, dst, v6.payload().payload)
}

#[inline]
fn tcp(src: IpAddr, dst: IpAddr, t: &[u8]) -> Result<TcpSegment<'_>, Skip> {
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
        vlan: None,
        payload,
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

    #[test]
    fn tso_zero_total_length_takes_the_frame() {
        let mut f = SEED_FRAME_32.to_vec();
        f[16] = 0;
        f[17] = 0;
        assert_eq!(decode(linktype::ETHERNET, &f).unwrap().payload.len(), 7);
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
