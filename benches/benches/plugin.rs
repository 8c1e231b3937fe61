//! What the node's finalize thread pays per event through snarkVM's real
//! plugin manager, against a bare publish, in one run.
//!
//! `cargo bench -p slipstream-benches --bench plugin` (add `-- FILTER`).
//! Group `plugin_publish`, each a 128-byte mapping update (the ring payload:
//! `EventRef::MappingUpdate` encoded, 128 bytes) into a 64 MiB ring under
//! /dev/shm, wake mode "block", no reader:
//! - `bare_producer`: `Producer::mapping_update_at` (the node-independent API).
//! - `static_on_broadcast`: `on_broadcast` of a `Box<dyn SlipstreamPlugin>`
//!   holding `RingPlugin` in this binary (the static model).
//! - `manager_broadcast`: `SlipstreamPluginManager::broadcast` of the
//!   interface's `BroadcastEvent`, the manager built by `from_config_files`
//!   on a JSON5 file naming the cdylib cargo built for this profile
//!   (`target/release/deps/libslipstream_producer.so`, checked to be this
//!   build's by its exported versions): exactly the node's path, across the
//!   library boundary.
//!
//! All three change height every 2^20 events (a commit and a begin marker),
//! the same in each. They run in rounds (`SLIPSTREAM_BENCH_ROUNDS`, default
//! 3), the three back to back in each, ids `NAME/ROUND`: on a noisy machine,
//! compare the figures of one round.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use slipstream_producer::{
    BroadcastEvent, Producer, ProducerOptions, RingPlugin, SlipstreamPlugin, INTERFACE_VERSION,
    RUSTC_VERSION,
};
use slipstream_ring::event::EventRef;
use slipstream_ring::Layout;
use snarkvm_slipstream_plugin_manager::SlipstreamPluginManager;
use std::ffi::{c_char, CStr};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PROGRAM: &[u8] = b"credits.aleo";
const MAPPING: &[u8] = b"account";
const KEY: &[u8] = b"aleo1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq";
const RING_BYTES: u64 = 64 << 20;

/// The value that makes the encoded mapping update exactly 128 bytes.
fn value() -> Vec<u8> {
    let encoded = |v: &[u8]| {
        EventRef::MappingUpdate {
            block_height: 1,
            ordinal: 1,
            program_id: PROGRAM,
            mapping_name: MAPPING,
            key: KEY,
            value: v,
        }
        .encoded_len()
    };
    let v = vec![0x5A; 128 - encoded(&[])];
    assert_eq!(encoded(&v), 128);
    v
}

/// A ring path under /dev/shm, removed on drop.
struct Ring(PathBuf);

impl Ring {
    fn new(tag: &str) -> Ring {
        let p = PathBuf::from(format!(
            "/dev/shm/slipstream-bench-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&p);
        Ring(p)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The cdylib cargo built beside this bench (target/<profile>/), checked to
/// be this build's: its exported versions must match the rlib's.
fn plugin_library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let mut found: Vec<PathBuf> = [dir.clone(), dir.join("deps")]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("libslipstream_producer") && n.ends_with(".so")
        })
        .collect();
    found.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    let lib = found
        .pop()
        .unwrap_or_else(|| panic!("no libslipstream_producer*.so under {}", dir.display()));
    type Version = extern "C" fn() -> *const c_char;
    // SAFETY: our own cdylib, whose initialisers are Rust statics with no
    // side effects; the manager opening it again shares this copy.
    let l = unsafe { libloading::Library::new(&lib) }.unwrap();
    for (name, want) in [
        (&b"slipstream_plugin_rustc_version"[..], RUSTC_VERSION),
        (b"slipstream_plugin_interface_version", INTERFACE_VERSION),
    ] {
        // SAFETY: exported with this C signature; returns a static C string.
        let got = unsafe {
            let f: libloading::Symbol<Version> = l.get(name).unwrap();
            CStr::from_ptr(f()).to_str().unwrap().to_owned()
        };
        assert_eq!(got, want, "{} is not this build's", lib.display());
    }
    lib
}

fn config(dir: &Path, tag: &str, ring: &Path, lib: &Path) -> PathBuf {
    let path = dir.join(format!(
        "slipstream-bench-{tag}-{}.json5",
        std::process::id()
    ));
    std::fs::write(
        &path,
        format!(
            r#"{{ libpath: "{}", name: "slipstream-bench", ring: "{}", capacity: {RING_BYTES}, kinds: ["mapping_update"], wake: "block" }}"#,
            lib.display(),
            ring.display()
        ),
    )
    .unwrap();
    path
}

fn height(i: u64) -> u32 {
    (i >> 20) as u32 + 1
}

/// How many rounds of the three: `SLIPSTREAM_BENCH_ROUNDS`, 3 by default.
/// This machine is noisy; each round measures the three back to back, so a
/// round's figures are the ones to compare with each other.
fn rounds() -> u32 {
    std::env::var("SLIPSTREAM_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

fn plugin_publish(c: &mut Criterion) {
    let value = value();
    let dir = std::env::temp_dir();

    let bare_ring = Ring::new("bare");
    let mut bare = Producer::open(
        &bare_ring.0,
        ProducerOptions {
            layout: Layout::new(RING_BYTES),
            ..Default::default()
        },
    )
    .unwrap();

    let static_ring = Ring::new("static");
    let static_cfg = config(&dir, "static", &static_ring.0, Path::new("unused.so"));
    let mut plugin: Box<dyn SlipstreamPlugin> = Box::new(RingPlugin::new());
    plugin.on_load(static_cfg.to_str().unwrap(), false).unwrap();

    let manager_ring = Ring::new("manager");
    let manager_cfg = config(&dir, "manager", &manager_ring.0, &plugin_library());
    let mut manager =
        SlipstreamPluginManager::from_config_files(std::slice::from_ref(&manager_cfg))
            .expect("the manager loads the cdylib");

    let (mut i_bare, mut i_static, mut i_manager) = (0u64, 0u64, 0u64);
    let mut g = c.benchmark_group("plugin_publish");
    g.throughput(Throughput::Elements(1));
    for round in 1..=rounds() {
        g.bench_function(BenchmarkId::new("bare_producer", round), |b| {
            b.iter(|| {
                i_bare += 1;
                black_box(
                    bare.mapping_update_at(
                        u64::from(height(i_bare)),
                        PROGRAM,
                        MAPPING,
                        KEY,
                        black_box(&value),
                    )
                    .unwrap(),
                )
            })
        });
        g.bench_function(BenchmarkId::new("static_on_broadcast", round), |b| {
            b.iter(|| {
                i_static += 1;
                plugin
                    .on_broadcast(BroadcastEvent::MappingUpdate {
                        program_id: PROGRAM,
                        mapping_name: MAPPING,
                        key: KEY,
                        value: black_box(&value),
                        block_height: height(i_static),
                    })
                    .unwrap()
            })
        });
        g.bench_function(BenchmarkId::new("manager_broadcast", round), |b| {
            b.iter(|| {
                i_manager += 1;
                manager.broadcast(BroadcastEvent::MappingUpdate {
                    program_id: PROGRAM,
                    mapping_name: MAPPING,
                    key: KEY,
                    value: black_box(&value),
                    block_height: height(i_manager),
                })
            })
        });
    }
    g.finish();
    drop(bare);
    plugin.on_unload();
    manager.unload();
    // The manager swallows on_broadcast errors (it logs them): check that
    // every event reached the ring, so that the figure is of real publishes.
    let file = std::fs::File::open(&manager_ring.0).unwrap();
    let r = slipstream_ring::Reader::attach(&file, slipstream_ring::StartAt::End).unwrap();
    let markers = 2 * u64::from(height(i_manager));
    assert_eq!(
        r.next_seq() - 1,
        i_manager + markers,
        "events lost on the manager's path"
    );
    let _ = std::fs::remove_file(static_cfg);
    let _ = std::fs::remove_file(manager_cfg);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = plugin_publish
}
criterion_main!(benches);
