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
//! the same in each. Each is timed in chunks of 128 events, every chunk
//! after the other two ran 128 events untimed, so that the three share the
//! machine's state and noise; in rounds (`SLIPSTREAM_BENCH_ROUNDS`, default
//! 3), ids `NAME/ROUND`.

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use slipstream_event::EventRef;
use slipstream_producer::{
    BroadcastEvent, Producer, ProducerOptions, RingPlugin, SlipstreamPlugin, INTERFACE_VERSION,
    RUSTC_VERSION,
};
use slipstream_ring::Layout;
use snarkvm_slipstream_plugin_manager::SlipstreamPluginManager;
use std::ffi::{c_char, CStr};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

/// How many rounds: `SLIPSTREAM_BENCH_ROUNDS`, 3 by default.
fn rounds() -> u32 {
    std::env::var("SLIPSTREAM_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// Events per timed chunk; the other two paths run a chunk each, untimed,
/// before every timed one.
const CHUNK: u64 = 128;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Path3 {
    Bare,
    Static,
    Manager,
}

const PATHS: [(Path3, &str); 3] = [
    (Path3::Bare, "bare_producer"),
    (Path3::Static, "static_on_broadcast"),
    (Path3::Manager, "manager_broadcast"),
];

/// The three publishers, each on its own ring, and how many events each
/// published.
struct Publishers {
    value: Vec<u8>,
    bare: Producer,
    plugin: Box<dyn SlipstreamPlugin>,
    manager: SlipstreamPluginManager,
    count: [u64; 3],
}

impl Publishers {
    /// Publishes `n` events on `path`.
    fn run(&mut self, path: Path3, n: u64) {
        match path {
            Path3::Bare => self.run_bare(n),
            Path3::Static => self.run_static(n),
            Path3::Manager => self.run_manager(n),
        }
    }

    // One function per path, never inlined: callgrind counts each apart.
    #[inline(never)]
    fn run_bare(&mut self, n: u64) {
        let value = black_box(&self.value[..]);
        let i = &mut self.count[Path3::Bare as usize];
        for _ in 0..n {
            *i += 1;
            black_box(
                self.bare
                    .mapping_update_at(u64::from(height(*i)), PROGRAM, MAPPING, KEY, value)
                    .unwrap(),
            );
        }
    }

    #[inline(never)]
    fn run_static(&mut self, n: u64) {
        let value = black_box(&self.value[..]);
        let i = &mut self.count[Path3::Static as usize];
        for _ in 0..n {
            *i += 1;
            self.plugin
                .on_broadcast(BroadcastEvent::MappingUpdate {
                    program_id: PROGRAM,
                    mapping_name: MAPPING,
                    key: KEY,
                    value,
                    block_height: height(*i),
                })
                .unwrap();
        }
    }

    #[inline(never)]
    fn run_manager(&mut self, n: u64) {
        let value = black_box(&self.value[..]);
        let i = &mut self.count[Path3::Manager as usize];
        for _ in 0..n {
            *i += 1;
            self.manager.broadcast(BroadcastEvent::MappingUpdate {
                program_id: PROGRAM,
                mapping_name: MAPPING,
                key: KEY,
                value,
                block_height: height(*i),
            });
        }
    }

    /// `iters` events on `path`, timed in chunks, each after the other two
    /// paths ran a chunk: the three share the machine's state and its noise.
    fn timed(&mut self, path: Path3, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(CHUNK);
            for (other, _) in PATHS {
                if other != path {
                    self.run(other, n);
                }
            }
            let t = Instant::now();
            self.run(path, n);
            total += t.elapsed();
            left -= n;
        }
        total
    }
}

/// The three publishers and what to remove afterwards.
struct Setup {
    p: Publishers,
    manager_ring: Ring,
    _rings: [Ring; 2],
    configs: [PathBuf; 2],
}

fn setup() -> Setup {
    let dir = std::env::temp_dir();
    let bare_ring = Ring::new("bare");
    let static_ring = Ring::new("static");
    let manager_ring = Ring::new("manager");
    let static_cfg = config(&dir, "static", &static_ring.0, Path::new("unused.so"));
    let manager_cfg = config(&dir, "manager", &manager_ring.0, &plugin_library());
    let mut plugin: Box<dyn SlipstreamPlugin> = Box::new(RingPlugin::new());
    plugin.on_load(static_cfg.to_str().unwrap(), false).unwrap();
    let p = Publishers {
        value: value(),
        bare: Producer::open(
            &bare_ring.0,
            ProducerOptions {
                layout: Layout::new(RING_BYTES),
                ..Default::default()
            },
        )
        .unwrap(),
        plugin,
        manager: SlipstreamPluginManager::from_config_files(std::slice::from_ref(&manager_cfg))
            .expect("the manager loads the cdylib"),
        count: [0; 3],
    };
    Setup {
        p,
        manager_ring,
        _rings: [bare_ring, static_ring],
        configs: [static_cfg, manager_cfg],
    }
}

impl Setup {
    /// Unloads everything, checking that every event the manager was given
    /// reached the ring (it swallows on_broadcast errors, logging them), so
    /// that the figures are of real publishes.
    fn finish(self) {
        let Setup {
            p,
            manager_ring,
            _rings,
            configs,
        } = self;
        let Publishers {
            bare,
            mut plugin,
            mut manager,
            count,
            ..
        } = p;
        drop(bare);
        plugin.on_unload();
        manager.unload();
        let file = std::fs::File::open(&manager_ring.0).unwrap();
        let r = slipstream_ring::Reader::attach(&file, slipstream_ring::Start::End).unwrap();
        let n = count[Path3::Manager as usize];
        assert_eq!(
            r.next_seq() - 1,
            n + 2 * u64::from(height(n)),
            "events lost on the manager's path"
        );
        for c in configs {
            let _ = std::fs::remove_file(c);
        }
    }
}

fn plugin_publish(c: &mut Criterion) {
    let mut setup = setup();
    let p = &mut setup.p;
    let mut g = c.benchmark_group("plugin_publish");
    g.throughput(Throughput::Elements(1));
    for round in 1..=rounds() {
        for (path, name) in PATHS {
            g.bench_function(BenchmarkId::new(name, round), |b| {
                b.iter_custom(|iters| p.timed(path, iters))
            });
        }
    }
    g.finish();
    setup.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = plugin_publish
}
/// `SLIPSTREAM_BENCH_CALLGRIND=N`: instead of criterion, publish N events
/// on each path once and exit, for `valgrind --tool=callgrind`: the
/// inclusive instruction counts of `run_bare`, `run_static` and
/// `run_manager`, divided by N, are each path's instructions per event,
/// free of this machine's noise.
/// `SLIPSTREAM_BENCH_PAIRED=T`: instead of criterion, T triplets of timed
/// 128-event chunks, one per path back to back (the order rotating), and
/// for each path the median ns per event; then the median of the
/// differences within each triplet (manager minus bare, static minus bare)
/// with their quartiles. A burst of noise on this shared machine lasts far
/// longer than a triplet (about 15 us), so it inflates the three paths of a
/// triplet alike and cancels in the difference, where criterion's separate
/// runs of each path catch different bursts.
fn paired(triplets: usize) {
    let mut setup = setup();
    // Warm up: every ring past its first lap (no page faults while timed).
    for (path, _) in PATHS {
        setup.p.run(path, (RING_BYTES / 128) + CHUNK);
    }
    let mut ns = [
        Vec::with_capacity(triplets),
        Vec::with_capacity(triplets),
        Vec::with_capacity(triplets),
    ];
    for t in 0..triplets {
        for k in 0..3 {
            let (path, _) = PATHS[(t + k) % 3];
            let start = Instant::now();
            setup.p.run(path, CHUNK);
            ns[path as usize].push(start.elapsed().as_nanos() as f64 / CHUNK as f64);
        }
    }
    let quartiles = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
        (at(0.25), at(0.5), at(0.75))
    };
    for (path, name) in PATHS {
        let (q1, m, q3) = quartiles(&ns[path as usize]);
        println!("{name}: median {m:.1} ns/event (quartiles {q1:.1} to {q3:.1}), {triplets} chunks of {CHUNK}");
    }
    for (path, name) in [
        (Path3::Static, "static_on_broadcast"),
        (Path3::Manager, "manager_broadcast"),
    ] {
        let d: Vec<f64> = ns[path as usize]
            .iter()
            .zip(&ns[Path3::Bare as usize])
            .map(|(a, b)| a - b)
            .collect();
        let (q1, m, q3) = quartiles(&d);
        println!("{name} - bare_producer, paired: median {m:+.1} ns/event (quartiles {q1:+.1} to {q3:+.1})");
    }
    setup.finish();
}

fn main() {
    if let Some(t) = std::env::var("SLIPSTREAM_BENCH_PAIRED")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        paired(t);
        return;
    }
    if let Some(n) = std::env::var("SLIPSTREAM_BENCH_CALLGRIND")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        let mut setup = setup();
        for (path, name) in PATHS {
            setup.p.run(path, n);
            println!("{name}: {n} events");
        }
        setup.finish();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
