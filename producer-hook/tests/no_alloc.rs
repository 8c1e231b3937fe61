//! Publishing allocates nothing: a counting global allocator sees no
//! allocation between the first and the last publish.

use slipstream_producer::{Producer, ProducerOptions, Wake};
use slipstream_ring::Layout;
use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Counting is per thread: the test harness's own threads allocate too.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    COUNTING.with(|c| c.get())
}

fn set_counting(on: bool) {
    COUNTING.with(|c| c.set(on));
}

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        if counting() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        if counting() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn publishing_every_kind_allocates_nothing() {
    // The counter counts: an allocation made while counting is seen.
    ALLOCATIONS.store(0, Ordering::Relaxed);
    set_counting(true);
    let probe = std::hint::black_box(vec![1u8; 10]);
    set_counting(false);
    drop(probe);
    assert!(
        ALLOCATIONS.load(Ordering::Relaxed) >= 1,
        "the counting allocator is not in use"
    );

    let path = std::path::PathBuf::from(format!(
        "/dev/shm/slipstream-noalloc-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    for wake in [Wake::AtBlockEnd, Wake::EveryEvent] {
        let mut p = Producer::open(
            &path,
            ProducerOptions {
                layout: Layout::new(1 << 20),
                wake,
                recreate: true,
                ..Default::default()
            },
        )
        .unwrap();
        let block = vec![9u8; 64 * 1024];
        // Warm up once (first-touch page faults are not allocations, but be fair).
        p.begin_block(0).unwrap();
        p.commit_block().unwrap();
        ALLOCATIONS.store(0, Ordering::Relaxed);
        set_counting(true);
        for h in 1..=2_000u64 {
            p.begin_block(h).unwrap();
            p.mapping_update_at(h, b"credits.aleo", b"account", b"key", &h.to_le_bytes())
                .unwrap();
            p.mapping_removal_at(h, b"credits.aleo", b"bonded", None)
                .unwrap();
            p.mapping_removal_at(h, b"credits.aleo", b"bonded", Some(b"key"))
                .unwrap();
            p.staking_reward_at(h, b"staker", b"validator", 1, 2)
                .unwrap();
            p.block_at(h, &block[..(h as usize * 31) % block.len()])
                .unwrap();
            p.commit_block().unwrap();
        }
        set_counting(false);
        let n = ALLOCATIONS.load(Ordering::Relaxed);
        assert_eq!(
            n, 0,
            "{n} allocations while publishing 14000 events ({wake:?})"
        );
        drop(p);
    }
    std::fs::remove_file(&path).unwrap();
    slipstream_ring::sidecar::remove_all(&path);
}
