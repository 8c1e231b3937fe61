//! Publishing allocates nothing: a counting global allocator sees no
//! allocation between the first and the last publish, neither through
//! [`Producer`] nor through the plugin callback the node calls
//! (`SlipstreamPlugin::on_broadcast`, via snarkVM's `LoadedSlipstreamPlugin`).

use slipstream_producer::{BroadcastEvent, Producer, ProducerOptions, RingPlugin, Wake};
use slipstream_ring::Layout;
use snarkvm_slipstream_plugin_manager::LoadedSlipstreamPlugin;
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

/// The counter counts: an allocation made while counting is seen.
fn check_the_counter() {
    ALLOCATIONS.store(0, Ordering::Relaxed);
    set_counting(true);
    let probe = std::hint::black_box(vec![1u8; 10]);
    set_counting(false);
    drop(probe);
    assert!(
        ALLOCATIONS.load(Ordering::Relaxed) >= 1,
        "the counting allocator is not in use"
    );
}

/// The node's callback, every block boundary included (the first event of a
/// height commits the last block and begins the next), in both wake modes.
#[test]
fn the_plugin_callback_allocates_nothing() {
    check_the_counter();
    let dir =
        std::env::temp_dir().join(format!("slipstream-noalloc-plugin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for wake in ["block", "event"] {
        let config = dir.join(format!("{wake}.json5"));
        std::fs::write(
            &config,
            format!(
                r#"{{ libpath: "", ring: "./ring-{wake}", capacity: "1MiB", wake: "{wake}" }}"#
            ),
        )
        .unwrap();
        let mut plugin = LoadedSlipstreamPlugin::new(Box::new(RingPlugin::new()), None);
        plugin.on_load(config.to_str().unwrap(), false).unwrap();
        let value = [7u8; 64];
        let mut calls = 0;
        ALLOCATIONS.store(0, Ordering::Relaxed);
        set_counting(true);
        for h in 1..=2_000u32 {
            for i in 0..(h % 5) {
                plugin
                    .on_broadcast(BroadcastEvent::MappingUpdate {
                        program_id: b"credits.aleo",
                        mapping_name: b"account",
                        key: &i.to_le_bytes(),
                        value: &value[..(h as usize % 64)],
                        block_height: h,
                    })
                    .unwrap();
                calls += 1;
            }
            plugin
                .on_broadcast(BroadcastEvent::StakingReward {
                    staker: b"aleo1staker",
                    validator: b"aleo1validator",
                    reward: u64::from(h),
                    new_stake: 1 << 30,
                    block_height: h,
                })
                .unwrap();
            calls += 1;
        }
        set_counting(false);
        let n = ALLOCATIONS.load(Ordering::Relaxed);
        assert_eq!(
            n, 0,
            "{n} allocations in {calls} on_broadcast calls (wake {wake})"
        );
        plugin.on_unload();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn publishing_every_kind_allocates_nothing() {
    check_the_counter();

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
