//! IPv4 fragment reassembly, bounded: fragments are joined into datagrams (copied: joining is a
//! copy by nature), with limits on datagrams in progress, datagram size and age, so that a
//! capture full of stray fragments cannot grow memory.

use std::collections::VecDeque;

use hashbrown::HashMap;

use crate::{FragmentContext, Ipv4Fragment};

/// Datagrams in progress at once; the oldest is dropped beyond this.
const MAX_PENDING: usize = 1024;
/// A datagram's fragments are dropped when its first fragment is older than this (capture time).
const MAX_AGE_NS: i64 = 30_000_000_000;
/// The largest datagram IPv4 can carry.
const MAX_DATAGRAM: usize = 65_535;

/// (source, destination, protocol, identification): the datagram a fragment belongs to.
type Key = ([u8; 4], [u8; 4], u8, u16);

struct Pending {
    /// The first fragment's IP header (offset 0), once seen.
    header: Option<Vec<u8>>,
    /// (byte offset, payload), in arrival order; on overlap the first arrival wins.
    parts: Vec<(usize, Vec<u8>)>,
    /// The payload length, once the last fragment (no more-fragments flag) is seen.
    total: Option<usize>,
    context: FragmentContext,
}

/// Counters of what reassembly could not finish.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefragStats {
    pub fragments: u64,
    pub reassembled: u64,
    /// Datagrams given up: too old, too many in progress, or malformed.
    pub dropped: u64,
}

#[derive(Default)]
pub struct Ipv4Reassembler {
    pending: HashMap<Key, Pending>,
    /// Keys by arrival of their first fragment, for eviction by age and count.
    order: VecDeque<(i64, Key)>,
    pub stats: DefragStats,
}

impl Ipv4Reassembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one fragment; returns the whole datagram (an IPv4 packet without fragmentation) and
    /// its context once every byte of it has arrived.
    pub fn push(
        &mut self,
        frag: &Ipv4Fragment<'_>,
        ts_ns: i64,
    ) -> Option<(Vec<u8>, FragmentContext)> {
        self.stats.fragments += 1;
        self.evict(ts_ns);
        let p = frag.packet;
        let ihl = usize::from(*p.first()? & 0x0f) * 4;
        if ihl < 20 || p.len() < ihl {
            self.stats.dropped += 1;
            return None;
        }
        let key: Key = (
            p[12..16].try_into().ok()?,
            p[16..20].try_into().ok()?,
            p[9],
            u16::from_be_bytes([p[4], p[5]]),
        );
        let flags = u16::from_be_bytes([p[6], p[7]]);
        let offset = usize::from(flags & 0x1fff) * 8;
        let more = flags & 0x2000 != 0;
        let payload = &p[ihl..];
        if offset + payload.len() > MAX_DATAGRAM {
            self.stats.dropped += 1;
            return None;
        }
        if !self.pending.contains_key(&key) {
            if self.pending.len() >= MAX_PENDING {
                self.drop_oldest();
            }
            self.order.push_back((ts_ns, key));
        }
        let entry = self.pending.entry(key).or_insert_with(|| Pending {
            header: None,
            parts: Vec::new(),
            total: None,
            context: frag.context,
        });
        if offset == 0 {
            entry.header.get_or_insert_with(|| p[..ihl].to_vec());
        }
        if !more {
            entry.total.get_or_insert(offset + payload.len());
        }
        entry.parts.push((offset, payload.to_vec()));
        let total = entry.total?;
        entry.header.as_ref()?;
        // Complete when the parts cover 0..total without a hole.
        let mut spans: Vec<(usize, usize)> =
            entry.parts.iter().map(|(o, d)| (*o, o + d.len())).collect();
        spans.sort_unstable();
        let mut covered = 0;
        for (start, end) in spans {
            if start > covered {
                return None;
            }
            covered = covered.max(end);
        }
        if covered < total {
            return None;
        }
        let done = self.pending.remove(&key)?;
        self.order.retain(|(_, k)| *k != key);
        let mut datagram = done.header.unwrap_or_default();
        let hl = datagram.len();
        datagram.resize(hl + total, 0);
        // Later arrivals first, so that the first arrival's bytes are written last and win.
        for (o, d) in done.parts.iter().rev() {
            let end = (o + d.len()).min(total);
            if *o < end {
                datagram[hl + o..hl + end].copy_from_slice(&d[..end - o]);
            }
        }
        let len = (hl + total) as u16;
        datagram[2..4].copy_from_slice(&len.to_be_bytes());
        datagram[6] = 0; // no more fragments, offset 0 (the don't-fragment bit is irrelevant here)
        datagram[7] = 0;
        self.stats.reassembled += 1;
        Some((datagram, done.context))
    }

    fn drop_oldest(&mut self) {
        while let Some((_, key)) = self.order.pop_front() {
            if self.pending.remove(&key).is_some() {
                self.stats.dropped += 1;
                return;
            }
        }
    }

    fn evict(&mut self, now_ns: i64) {
        while let Some(&(ts, key)) = self.order.front() {
            if now_ns.saturating_sub(ts) <= MAX_AGE_NS {
                break;
            }
            self.order.pop_front();
            if self.pending.remove(&key).is_some() {
                self.stats.dropped += 1;
            }
        }
    }

    /// Datagrams still waiting for fragments.
    pub fn in_progress(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_or_fragment, decode_reassembled, linktype, Skip};

    /// An IPv4/TCP packet carrying a 7-byte TLS alert, split into fragments of the TCP bytes at
    /// the given 8-byte-aligned offsets.
    fn fragments(id: u16, cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut tcp = vec![
            0x15, 0x43, 0x04, 0x4c, 0, 0, 0, 1, 0, 0, 0, 2, 0x50, 0x18, 0xfa, 0xf0, 0, 0, 0, 0,
        ];
        tcp.extend_from_slice(&[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x2a]);
        tcp.extend_from_slice(&[0xee; 20]); // more payload so there is something to cut
        let mut bounds = cuts.to_vec();
        bounds.push(tcp.len());
        let mut start = 0;
        bounds
            .iter()
            .map(|&end| {
                let part = &tcp[start..end];
                let more = end < tcp.len();
                let flags = (if more { 0x2000 } else { 0 }) | (start / 8) as u16;
                let mut ip = vec![0x45, 0];
                ip.extend_from_slice(&((20 + part.len()) as u16).to_be_bytes());
                ip.extend_from_slice(&id.to_be_bytes());
                ip.extend_from_slice(&flags.to_be_bytes());
                ip.extend_from_slice(&[64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
                ip.extend_from_slice(part);
                start = end;
                ip
            })
            .collect()
    }

    fn push(r: &mut Ipv4Reassembler, packet: &[u8], ts: i64) -> Option<(Vec<u8>, FragmentContext)> {
        let mut fragment = None;
        let result = decode_or_fragment(linktype::RAW, packet, &mut fragment);
        assert_eq!(result.err(), Some(Skip::Fragment));
        r.push(&fragment.expect("a fragment"), ts)
    }

    #[test]
    fn out_of_order_fragments_make_the_datagram() {
        let f = fragments(7, &[8, 24]);
        let mut r = Ipv4Reassembler::new();
        assert!(push(&mut r, &f[2], 0).is_none());
        assert!(push(&mut r, &f[0], 1).is_none());
        let (datagram, ctx) = push(&mut r, &f[1], 2).unwrap();
        let seg = decode_reassembled(&datagram, ctx).unwrap();
        assert_eq!((seg.src_port, seg.dst_port), (5443, 1100));
        assert_eq!(
            &seg.payload[..7],
            &[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x2a]
        );
        assert_eq!(
            r.stats,
            DefragStats {
                fragments: 3,
                reassembled: 1,
                dropped: 0
            }
        );
        assert_eq!(r.in_progress(), 0);
    }

    #[test]
    fn overlapping_fragments_first_arrival_wins() {
        let f = fragments(9, &[16]);
        let mut bad = f[0].clone();
        for b in &mut bad[20 + 8..] {
            *b = 0x99; // same offset range as the first, different bytes
        }
        let mut r = Ipv4Reassembler::new();
        assert!(push(&mut r, &f[0], 0).is_none());
        assert!(push(&mut r, &bad, 1).is_none());
        let (datagram, ctx) = push(&mut r, &f[1], 2).unwrap();
        let seg = decode_reassembled(&datagram, ctx).unwrap();
        assert_eq!(seg.src_port, 5443);
        assert!(datagram[20 + 8..20 + 16].iter().all(|b| *b != 0x99));
    }

    #[test]
    fn stray_fragments_are_bounded_by_count_and_age() {
        let mut r = Ipv4Reassembler::new();
        for id in 0..3000u16 {
            push(&mut r, &fragments(id, &[8])[0], 0);
        }
        assert_eq!(r.in_progress(), MAX_PENDING);
        assert_eq!(r.stats.dropped, 3000 - MAX_PENDING as u64);
        push(&mut r, &fragments(9999, &[8])[0], MAX_AGE_NS + 1);
        assert_eq!(r.in_progress(), 1);
    }
}
