//! No per-packet allocation: scanning ten times more application-data packets of an open TLS
//! connection costs (almost) no more allocations. Counted with a counting global allocator, so
//! this file holds one test only (the count is process-wide).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{client_hello_record, server_hello_record, tcp_pcap};
use tlscap::{scan_to_rows, ScanOptions};

struct Counting;

static CALLS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers to the system allocator; only counts calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        CALLS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        CALLS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `System::realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// A TLS 1.2 connection: hellos, then `n` application-data records each way, then closes.
fn capture(n: usize) -> Vec<u8> {
    let hello = client_hello_record();
    let server_hello = server_hello_record();
    let mut app = vec![23, 3, 3, 4, 0];
    app.resize(5 + 1024, 0xab);
    let mut packets: Vec<(bool, &str, &[u8])> = vec![
        (true, "S", &[]),
        (false, "SA", &[]),
        (true, "A", &[]),
        (true, "PA", &hello),
        (false, "PA", &server_hello),
    ];
    for _ in 0..n {
        packets.push((true, "PA", &app));
        packets.push((false, "PA", &app));
    }
    packets.push((true, "FA", &[]));
    packets.push((false, "FA", &[]));
    tcp_pcap(443, &packets)
}

fn allocations(pcap: &[u8]) -> usize {
    let opts = ScanOptions {
        shards: 2,
        window: 1 << 16,
        split: tlscap::DEFAULT_SPLIT,
        chunk: 1 << 24,
    };
    let before = CALLS.load(Ordering::Relaxed);
    let rows = scan_to_rows(pcap, "a.pcap", opts);
    let after = CALLS.load(Ordering::Relaxed);
    assert_eq!(rows.handshakes.len(), 1);
    after - before
}

#[test]
fn application_data_packets_allocate_nothing() {
    let (small, large) = (capture(200), capture(2000));
    allocations(&small); // the thread pool and other one-time state
    let a = allocations(&small);
    let b = allocations(&large);
    // 3600 more packets; the window's and routes' vectors grow by doubling (a few reallocations).
    assert!(
        b < a + 40,
        "{a} allocations for 405 packets, {b} for 4005: about {:.2} per extra packet",
        (b - a) as f64 / 3600.0
    );
}
