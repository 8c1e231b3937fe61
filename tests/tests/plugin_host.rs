//! The producer's cdylib loaded exactly as the node loads it: snarkVM's own
//! plugin manager (`snarkvm-slipstream-plugin-manager` 4.11.0, the code the
//! node runs), `from_config_files` on a JSON5 file, `has_subscribers`,
//! `broadcast` of the interface's real `BroadcastEvent`s, `unload`; then a
//! consumer in this process checks every event that reached the ring.

use slipstream_consumer::{BlockItem, Consumer, EventRef, ProducerChange, Start};
use slipstream_producer::{BroadcastEvent, BroadcastEventKind, INTERFACE_VERSION, RUSTC_VERSION};
use slipstream_tests::{target_dir, TempRing};
use snarkvm_slipstream_plugin_manager::slipstream_manager::SlipstreamPluginManagerError;
use snarkvm_slipstream_plugin_manager::SlipstreamPluginManager;
use std::ffi::{c_char, CStr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The shared library cargo built for slipstream-producer (a dependency of
/// this crate, so `cargo test` builds its cdylib in the same profile, at the
/// top of the target directory or in `deps/`), checked before use: it must
/// export the version functions and report this build's compiler and
/// interface version, so that a stale library of another build is never
/// handed to the manager (a trait object of another build is undefined
/// behaviour).
fn plugin_library() -> PathBuf {
    let dir = target_dir();
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
    let lib = found.pop().unwrap_or_else(|| {
        panic!(
            "no libslipstream_producer*.so under {}: run `cargo test -p slipstream-tests`, which builds it",
            dir.display()
        )
    });
    let (rustc, interface) = library_versions(&lib);
    assert_eq!(
        rustc,
        RUSTC_VERSION,
        "{} was built by another compiler",
        lib.display()
    );
    assert_eq!(interface, INTERFACE_VERSION, "{}", lib.display());
    lib
}

/// What the library says it was built with (its exported C functions).
fn library_versions(lib: &Path) -> (String, String) {
    type Version = extern "C" fn() -> *const c_char;
    // SAFETY: our own cdylib; its initialisers are Rust statics with no side
    // effects. Opening it again (the manager opens it too) shares one copy.
    let lib = unsafe { libloading::Library::new(lib) }.expect("open the plugin library");
    let read = |name: &[u8]| {
        // SAFETY: both functions are exported with this C signature and
        // return a static NUL-terminated string.
        unsafe {
            let f: libloading::Symbol<Version> = lib.get(name).unwrap_or_else(|e| {
                panic!(
                    "the library does not export {}: {e}",
                    String::from_utf8_lossy(name)
                )
            });
            CStr::from_ptr(f()).to_str().unwrap().to_owned()
        }
    };
    (
        read(b"slipstream_plugin_rustc_version"),
        read(b"slipstream_plugin_interface_version"),
    )
}

/// A folder with config files naming the library, removed on drop.
struct ConfigDir(PathBuf);

impl ConfigDir {
    fn new(tag: &str) -> ConfigDir {
        let dir =
            std::env::temp_dir().join(format!("slipstream-plugin-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        ConfigDir(dir)
    }

    /// Writes `file` holding `{ libpath, name, ring, <extra> }`.
    fn write(&self, file: &str, name: &str, ring: &Path, extra: &str) -> PathBuf {
        let path = self.0.join(file);
        std::fs::write(
            &path,
            format!(
                r#"{{
  // as a node operator would write it
  libpath: "{}",
  name: "{name}",
  ring: "{}",
  capacity: "4MiB",
  {extra}
}}"#,
                plugin_library().display(),
                ring.display()
            ),
        )
        .unwrap();
        path
    }
}

impl Drop for ConfigDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The node's events of block `h`: mapping updates and staking rewards, a
/// different number per height.
fn node_events(h: u32) -> Vec<Expected> {
    (0..(5 + h % 17))
        .map(|i| {
            if i % 4 == 3 {
                Expected::Reward {
                    staker: format!("aleo1staker{h}-{i}").into_bytes(),
                    reward: u64::from(h) * 1000 + u64::from(i),
                    new_stake: 1 << 40 | u64::from(h),
                }
            } else {
                Expected::Update {
                    mapping: if i % 2 == 0 { "account" } else { "bonded" },
                    key: format!("aleo1key{h}-{i}").into_bytes(),
                    value: [h.to_le_bytes(), i.to_le_bytes()].concat(),
                }
            }
        })
        .collect()
}

#[derive(Debug)]
enum Expected {
    Update {
        mapping: &'static str,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Reward {
        staker: Vec<u8>,
        reward: u64,
        new_stake: u64,
    },
}

impl Expected {
    fn broadcast(&self, manager: &SlipstreamPluginManager, block_height: u32) {
        manager.broadcast(match self {
            Expected::Update {
                mapping,
                key,
                value,
            } => BroadcastEvent::MappingUpdate {
                program_id: b"credits.aleo",
                mapping_name: mapping.as_bytes(),
                key,
                value,
                block_height,
            },
            Expected::Reward {
                staker,
                reward,
                new_stake,
            } => BroadcastEvent::StakingReward {
                staker,
                validator: b"aleo1validator",
                reward: *reward,
                new_stake: *new_stake,
                block_height,
            },
        });
    }

    fn check(&self, got: &EventRef<'_>, h: u32, ordinal: u32) {
        let height = u64::from(h);
        match (self, *got) {
            (
                Expected::Update {
                    mapping,
                    key,
                    value,
                },
                EventRef::MappingUpdate {
                    block_height,
                    ordinal: o,
                    program_id,
                    mapping_name,
                    key: k,
                    value: v,
                },
            ) => {
                assert_eq!(
                    (block_height, o, program_id, mapping_name, k, v),
                    (
                        height,
                        ordinal,
                        &b"credits.aleo"[..],
                        mapping.as_bytes(),
                        &key[..],
                        &value[..]
                    )
                );
            }
            (
                Expected::Reward {
                    staker,
                    reward,
                    new_stake,
                },
                EventRef::StakingReward {
                    block_height,
                    ordinal: o,
                    staker: s,
                    validator,
                    reward: r,
                    new_stake: n,
                },
            ) => {
                assert_eq!(
                    (block_height, o, s, validator, r, n),
                    (
                        height,
                        ordinal,
                        &staker[..],
                        &b"aleo1validator"[..],
                        *reward,
                        *new_stake
                    )
                );
            }
            (want, got) => panic!("block {h} event {ordinal}: want {want:?}, got {got:?}"),
        }
    }
}

/// Reads the next block and checks it is block `h`, whole, with sequence
/// numbers contiguous from `*next_seq` (begin marker, events, commit marker).
fn expect_block(consumer: &mut Consumer, h: u32, next_seq: &mut u64) {
    match consumer.next_block(Duration::from_secs(10)).unwrap() {
        Some(BlockItem::Block(b)) => {
            assert_eq!(b.height, u64::from(h));
            assert_eq!(b.begin_seq, *next_seq, "block {h}: begin marker");
            let want = node_events(h);
            assert_eq!(b.events.len(), want.len(), "block {h}");
            for (i, (e, w)) in b.events.iter().zip(&want).enumerate() {
                assert_eq!(e.seq, b.begin_seq + 1 + i as u64, "block {h} event {i}");
                w.check(&e.event(), h, i as u32 + 1);
            }
            assert_eq!(
                b.commit_seq,
                b.begin_seq + 1 + want.len() as u64,
                "block {h}: commit marker"
            );
            *next_seq = b.commit_seq + 1;
        }
        other => panic!("block {h}: {other:?}"),
    }
}

fn consumer(ring: &TempRing) -> Consumer {
    Consumer::builder(ring.path())
        .start(Start::Oldest)
        .open()
        .unwrap()
}

/// The node's path, end to end: 300 heights, 3,885 events through the real
/// manager; every one arrives in order, with contiguous sequence numbers, in
/// blocks of one begin and one commit marker each; block H is complete when
/// H+1's first event arrives, the last one when the node unloads the plugin.
#[test]
fn the_real_plugin_manager_loads_the_adapter_and_a_consumer_receives_every_event() {
    let ring = TempRing::new("plugin");
    let dir = ConfigDir::new("e2e");
    let config = dir.write(
        "slipstream.json5",
        "slipstream-test",
        ring.path(),
        r#"kinds: ["mapping_update", "staking_reward"], wake: "block","#,
    );
    let mut manager = SlipstreamPluginManager::from_config_files(&[config]).unwrap();
    assert_eq!(manager.list_plugins().unwrap(), ["slipstream-test"]);
    assert!(manager.has_subscribers(BroadcastEventKind::MappingUpdate));
    assert!(manager.has_subscribers(BroadcastEventKind::StakingReward));
    let mut c = consumer(&ring);
    let mut next_seq = 1;
    let heights = 1_000..1_300u32;
    let mut events = 0;
    for h in heights.clone() {
        for e in node_events(h) {
            e.broadcast(&manager, h);
            events += 1;
        }
        if h > heights.start {
            // Block h-1 was committed by h's first event; h is still open.
            expect_block(&mut c, h - 1, &mut next_seq);
        }
    }
    assert_eq!(events, 3_885);
    // The last block is open until the node stops: no consumer sees it yet.
    assert_eq!(c.next_block(Duration::from_millis(200)).unwrap(), None);
    manager.unload();
    assert!(!manager.has_subscribers(BroadcastEventKind::MappingUpdate));
    expect_block(&mut c, heights.end - 1, &mut next_seq);
    assert!(matches!(
        c.next_block(Duration::from_secs(5)).unwrap(),
        Some(BlockItem::Producer(ProducerChange::Closed { .. }))
    ));
    assert_eq!(
        next_seq - 1,
        3_885 + 2 * 300,
        "every event and two markers per block"
    );
}

/// Kinds: only the configured ones are subscribed, so the manager never even
/// builds the others' events.
#[test]
fn the_manager_sees_only_the_configured_kinds() {
    let ring = TempRing::new("plugin-kinds");
    let dir = ConfigDir::new("kinds");
    let config = dir.write(
        "s.json5",
        "slipstream-kinds",
        ring.path(),
        r#"kinds: ["staking_reward"],"#,
    );
    let manager = SlipstreamPluginManager::from_config_files(&[config]).unwrap();
    assert!(!manager.has_subscribers(BroadcastEventKind::MappingUpdate));
    assert!(manager.has_subscribers(BroadcastEventKind::StakingReward));
}

/// A config with an error stops the node's start with the manager's
/// `PluginStartError`, carrying our message (file and key named).
#[test]
fn a_config_error_is_the_managers_plugin_start_error_with_our_message() {
    let ring = TempRing::new("plugin-bad");
    let dir = ConfigDir::new("bad");
    for (extra, says) in [
        ("capacty: 1,", "unknown field `capacty`"),
        (
            r#"kinds: ["block"],"#,
            r#""block" is not a kind snarkVM's plugin interface 4.11.0 broadcasts; valid kinds are "mapping_update", "staking_reward""#,
        ),
        (r#"wake: "sometimes","#, r#"wake "sometimes""#),
    ] {
        let config = dir.write("bad.json5", "slipstream-bad", ring.path(), extra);
        match SlipstreamPluginManager::from_config_files(std::slice::from_ref(&config)) {
            Err(SlipstreamPluginManagerError::PluginStartError(msg)) => {
                assert!(msg.contains(says), "{msg}");
                assert!(msg.contains(&config.display().to_string()), "{msg}");
            }
            other => panic!("{extra}: {other:?}"),
        }
        assert!(!ring.path().exists(), "{extra}: a ring was created");
    }
}

/// A second load of the same library is refused by the manager (before
/// `on_load`: the second config's ring is never created), and the first
/// plugin goes on publishing; after `unload`, loading again works and the
/// ring resumes after its last event.
#[test]
fn a_second_load_is_refused_and_unload_then_load_again_works() {
    let ring = TempRing::new("plugin-twice");
    let other_ring = TempRing::new("plugin-twice-other");
    let dir = ConfigDir::new("twice");
    let config = dir.write("a.json5", "slipstream-a", ring.path(), "");
    let second = dir.write("b.json5", "slipstream-b", other_ring.path(), "");
    let mut manager = SlipstreamPluginManager::new();
    assert_eq!(manager.load_plugin(&config).unwrap(), "slipstream-a");
    let mut c = consumer(&ring);
    let mut next_seq = 1;
    for e in node_events(1) {
        e.broadcast(&manager, 1);
    }
    match manager.load_plugin(&second) {
        Err(SlipstreamPluginManagerError::PluginAlreadyLoaded(name)) => {
            assert_eq!(name, "slipstream-a")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !other_ring.path().exists(),
        "the refused plugin was started"
    );
    assert_eq!(manager.list_plugins().unwrap(), ["slipstream-a"]);
    // The first is intact: block 2's events commit block 1 and publish.
    for e in node_events(2) {
        e.broadcast(&manager, 2);
    }
    expect_block(&mut c, 1, &mut next_seq);
    manager.unload();
    expect_block(&mut c, 2, &mut next_seq);
    assert!(matches!(
        c.next_block(Duration::from_secs(5)).unwrap(),
        Some(BlockItem::Producer(ProducerChange::Closed { .. }))
    ));
    // Load again: the ring resumes, sequence numbers go on with no gap.
    assert_eq!(manager.load_plugin(&config).unwrap(), "slipstream-a");
    for h in 3..=4 {
        for e in node_events(h) {
            e.broadcast(&manager, h);
        }
    }
    manager.unload();
    expect_block(&mut c, 3, &mut next_seq);
    expect_block(&mut c, 4, &mut next_seq);
}

/// Heights that go back, and an event the ring refuses, through the real
/// manager (which logs our errors and goes on): nothing is merged into
/// another block, and the block that lost an event is never committed.
#[test]
fn a_height_going_back_is_refused_and_a_block_losing_an_event_is_never_committed() {
    let ring = TempRing::new("plugin-heights");
    let dir = ConfigDir::new("heights");
    let config = dir.write(
        "h.json5",
        "slipstream-heights",
        ring.path(),
        "max_event: 4096,",
    );
    let mut manager = SlipstreamPluginManager::from_config_files(&[config]).unwrap();
    let mut c = consumer(&ring);
    let mut next_seq = 1;
    let update = |h: u32, value: &[u8]| {
        manager.broadcast(BroadcastEvent::MappingUpdate {
            program_id: b"credits.aleo",
            mapping_name: b"account",
            key: b"k",
            value,
            block_height: h,
        })
    };
    let events = |h: u32| {
        for e in node_events(h) {
            e.broadcast(&manager, h);
        }
    };
    events(10);
    events(11);
    update(10, b"a repeat of 10 after 11"); // refused
    update(9, b"backwards"); // refused
    events(12);
    update(12, &[0; 5000]); // too large: block 12 is abandoned
    update(12, b"more of 12"); // refused: its block is abandoned
    events(13);
    manager.unload();
    expect_block(&mut c, 10, &mut next_seq);
    expect_block(&mut c, 11, &mut next_seq);
    match c.next_block(Duration::from_secs(5)).unwrap() {
        Some(BlockItem::Incomplete { height: 12, .. }) => {}
        other => panic!("block 12: {other:?}"),
    }
    next_seq += 1 + node_events(12).len() as u64; // its begin marker and events
    expect_block(&mut c, 13, &mut next_seq);
    assert!(matches!(
        c.next_block(Duration::from_secs(5)).unwrap(),
        Some(BlockItem::Producer(ProducerChange::Closed { .. }))
    ));
}
