//! A host that loads the producer's cdylib the way the node's plugin manager
//! does: `libloading`, `_create_plugin`, `on_load` with the config path, then
//! events through `on_broadcast`; a consumer in this process checks what
//! arrived in the ring.

use slipstream_consumer::{BlockItem, Consumer, EventRef, Start};
use slipstream_producer::{BroadcastEvent, BroadcastEventKind, SlipstreamPlugin};
use slipstream_tests::{target_dir, TempRing};
use std::time::Duration;

/// The shared library cargo built for slipstream-producer (as a dependency of
/// this crate, its cdylib lands in `deps/` with a hash; as a workspace member,
/// at the top of the target directory).
fn plugin_library() -> std::path::PathBuf {
    let dir = target_dir();
    let top = dir.join("libslipstream_producer.so");
    if top.exists() {
        return top;
    }
    let deps = dir.join("deps");
    let mut found: Vec<_> = std::fs::read_dir(&deps)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("libslipstream_producer") && n.ends_with(".so")
        })
        .collect();
    found.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    found
        .pop()
        .unwrap_or_else(|| panic!("no libslipstream_producer*.so under {}", dir.display()))
}

struct Loaded {
    plugin: Option<Box<dyn SlipstreamPlugin>>,
    _lib: libloading::Library,
}

impl Drop for Loaded {
    fn drop(&mut self) {
        // The plugin's code lives in the library: drop it first.
        if let Some(mut p) = self.plugin.take() {
            p.on_unload();
        }
    }
}

fn load(lib: &std::path::Path) -> Loaded {
    // The node's plugin ABI returns a Rust trait object: host and plugin must
    // be built by the same compiler, as they are here.
    #[allow(improper_ctypes_definitions)]
    type Create = extern "C" fn() -> *mut dyn SlipstreamPlugin;
    // SAFETY: loading our own cdylib, built by the same compiler from the same
    // source as this test; its initialisers are Rust statics with no side effects.
    let lib = unsafe { libloading::Library::new(lib) }.expect("load the plugin library");
    // SAFETY: `_create_plugin` is exported by slipstream-producer with exactly
    // this signature.
    let create: libloading::Symbol<Create> =
        unsafe { lib.get(b"_create_plugin") }.expect("_create_plugin");
    let raw = create();
    assert!(!raw.is_null());
    // SAFETY: `_create_plugin` returns `Box::into_raw` of a boxed plugin, whose
    // ownership passes to the host.
    let plugin = unsafe { Box::from_raw(raw) };
    Loaded {
        plugin: Some(plugin),
        _lib: lib,
    }
}

#[test]
fn the_node_plugin_manager_loads_the_adapter_and_a_consumer_receives_its_events() {
    let ring = TempRing::new("plugin");
    let dir = std::env::temp_dir().join(format!("slipstream-plugin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lib = plugin_library();
    let config = dir.join("slipstream.json5");
    std::fs::write(
        &config,
        format!(
            r#"{{
  // as a node operator would write it
  libpath: "{}",
  name: "slipstream-test",
  ring: "{}",
  capacity: "1MiB",
  kinds: ["mapping_update", "mapping_removal", "staking_reward", "block"],
  wake: "block",
}}"#,
            lib.display(),
            ring.path().display()
        ),
    )
    .unwrap();
    let mut loaded = load(&lib);
    let plugin = loaded.plugin.as_mut().unwrap();
    plugin.on_load(config.to_str().unwrap(), false).unwrap();
    assert_eq!(plugin.name(), "slipstream-test");
    assert_eq!(
        plugin.subscribed_events(),
        &[
            BroadcastEventKind::MappingUpdate,
            BroadcastEventKind::MappingRemoval,
            BroadcastEventKind::StakingReward,
            BroadcastEventKind::Block
        ]
    );
    let mut consumer = Consumer::builder(ring.path())
        .start(Start::Oldest)
        .open()
        .unwrap();
    for h in 1..=3u64 {
        plugin
            .on_broadcast(BroadcastEvent::MappingUpdate {
                program_id: b"credits.aleo",
                mapping_name: b"account",
                key: b"aleo1key",
                value: &h.to_le_bytes(),
                block_height: h,
            })
            .unwrap();
        plugin
            .on_broadcast(BroadcastEvent::MappingRemoval {
                program_id: b"credits.aleo",
                mapping_name: b"bonded",
                key: None,
                block_height: h,
            })
            .unwrap();
        plugin
            .on_broadcast(BroadcastEvent::StakingReward {
                staker: b"aleo1staker",
                validator: b"aleo1validator",
                reward: 10 * h,
                new_stake: 1000 + h,
                block_height: h,
            })
            .unwrap();
        plugin
            .on_broadcast(BroadcastEvent::Block {
                block: &[h as u8; 4096],
                block_height: h,
            })
            .unwrap();
    }
    for h in 1..=3u64 {
        match consumer.next_block(Duration::from_secs(5)).unwrap() {
            Some(BlockItem::Block(b)) => {
                assert_eq!(b.height, h);
                let evs: Vec<_> = b.events.iter().map(|e| e.event()).collect();
                assert_eq!(evs.len(), 4);
                assert!(
                    matches!(evs[0], EventRef::MappingUpdate { value, .. } if value == h.to_le_bytes())
                );
                assert!(matches!(evs[1], EventRef::MappingRemoval { key: None, .. }));
                assert!(
                    matches!(evs[2], EventRef::StakingReward { reward, .. } if reward == 10 * h)
                );
                assert!(matches!(evs[3], EventRef::Block { block, .. } if block.len() == 4096));
            }
            other => panic!("block {h}: {other:?}"),
        }
    }
    // A reload with a broken config is refused by name and keeps nothing half-done.
    std::fs::write(&config, r#"{ libpath: "x", ring: "r", capacty: 1 }"#).unwrap();
    let err = plugin.on_load(config.to_str().unwrap(), true).unwrap_err();
    assert!(err.to_string().contains("capacty"), "{err}");
    drop(loaded);
    std::fs::remove_dir_all(&dir).unwrap();
}
