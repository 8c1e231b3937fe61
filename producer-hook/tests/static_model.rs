//! The static model: the adapter linked into the node's build and registered
//! as a `Box<dyn SlipstreamPlugin>` in snarkVM's own `LoadedSlipstreamPlugin`
//! (no `libloading`, no cdylib), as the README's "Loading it into snarkVM"
//! section shows; and the interface version this crate says it implements is
//! the one cargo resolved.

use slipstream_consumer::{BlockItem, Consumer, EventRef, ProducerChange, Start};
use slipstream_producer::{
    BroadcastEvent, BroadcastEventKind, PluginError, RingPlugin, INTERFACE_VERSION, RUSTC_VERSION,
};
use snarkvm_slipstream_plugin_manager::LoadedSlipstreamPlugin;
use std::time::Duration;

fn update(h: u32, value: &[u8]) -> BroadcastEvent<'_> {
    BroadcastEvent::MappingUpdate {
        program_id: b"credits.aleo",
        mapping_name: b"account",
        key: b"aleo1key",
        value,
        block_height: h,
    }
}

#[test]
fn a_node_build_registers_the_adapter_statically() {
    let dir = std::env::temp_dir().join(format!("slipstream-static-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("slipstream.json5");
    // `libpath` is the manager's key; a static build has no library to name.
    std::fs::write(
        &config,
        r#"{ libpath: "", name: "slipstream", ring: "./events", capacity: "1MiB", max_event: 1024 }"#,
    )
    .unwrap();

    // What the node's build does: box the plugin and register it by name.
    let mut plugins: Vec<LoadedSlipstreamPlugin> = vec![LoadedSlipstreamPlugin::new(
        Box::new(RingPlugin::new()),
        Some("slipstream".to_owned()),
    )];
    for p in &mut plugins {
        p.on_load(config.to_str().unwrap(), false).unwrap();
    }
    let p = &plugins[0];
    assert_eq!(p.name(), "slipstream");
    assert_eq!(
        p.subscribed_events(),
        [
            BroadcastEventKind::MappingUpdate,
            BroadcastEventKind::StakingReward
        ]
    );
    let mut c = Consumer::builder(dir.join("events"))
        .start(Start::Oldest)
        .open()
        .unwrap();

    for h in 1..=3u32 {
        p.on_broadcast(update(h, &h.to_le_bytes())).unwrap();
        p.on_broadcast(BroadcastEvent::StakingReward {
            staker: b"aleo1staker",
            validator: b"aleo1validator",
            reward: u64::from(h),
            new_stake: 100 + u64::from(h),
            block_height: h,
        })
        .unwrap();
    }
    // Block 3 is open until the node stops.
    for h in 1..=2u64 {
        match c.next_block(Duration::from_secs(5)).unwrap() {
            Some(BlockItem::Block(b)) => {
                assert_eq!(b.height, h);
                let evs: Vec<_> = b.events.iter().map(|e| e.event()).collect();
                assert!(
                    matches!(evs[..], [EventRef::MappingUpdate { value, ordinal: 1, .. }, EventRef::StakingReward { reward, ordinal: 2, .. }]
                        if value == (h as u32).to_le_bytes() && reward == h),
                    "{evs:?}"
                );
            }
            other => panic!("block {h}: {other:?}"),
        }
    }
    assert_eq!(c.next_block(Duration::from_millis(100)).unwrap(), None);

    // The typed errors the manager would log.
    let err = p.on_broadcast(update(2, b"late")).unwrap_err();
    assert!(
        matches!(
            err.downcast_ref(),
            Some(PluginError::HeightWentBack { open: 3, got: 2 })
        ),
        "{err}"
    );
    let err = p.on_broadcast(update(3, &[0; 2000])).unwrap_err();
    assert!(
        matches!(
            err.downcast_ref(),
            Some(PluginError::Publish { height: 3, .. })
        ),
        "{err}"
    );
    let err = p.on_broadcast(update(3, b"after")).unwrap_err();
    assert!(
        matches!(
            err.downcast_ref(),
            Some(PluginError::BlockAbandoned { height: 3 })
        ),
        "{err}"
    );
    p.on_broadcast(update(4, b"four")).unwrap();
    for p in &mut plugins {
        p.on_unload();
    }
    let err = plugins[0].on_broadcast(update(5, b"five")).unwrap_err();
    assert!(
        matches!(err.downcast_ref(), Some(PluginError::NotLoaded)),
        "{err}"
    );
    assert!(plugins[0].subscribed_events().is_empty());
    drop(plugins);

    match c.next_block(Duration::from_secs(5)).unwrap() {
        Some(BlockItem::Incomplete { height: 3, .. }) => {}
        other => panic!("block 3: {other:?}"),
    }
    match c.next_block(Duration::from_secs(5)).unwrap() {
        Some(BlockItem::Block(b)) => assert_eq!((b.height, b.events.len()), (4, 1)),
        other => panic!("block 4: {other:?}"),
    }
    assert!(matches!(
        c.next_block(Duration::from_secs(5)).unwrap(),
        Some(BlockItem::Producer(ProducerChange::Closed { .. }))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `INTERFACE_VERSION` is what cargo resolved for the interface crate (the
/// workspace pins it with `=`), and the compiler's version was captured.
#[test]
fn the_reported_versions_are_the_ones_built_with() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap();
    let entry = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"snarkvm-slipstream-plugin-interface\""))
        .expect("the interface crate in Cargo.lock");
    assert!(
        entry.contains(&format!("version = \"{INTERFACE_VERSION}\"")),
        "{entry}"
    );
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(manifest.contains(&format!(
        "snarkvm-slipstream-plugin-interface = \"={INTERFACE_VERSION}\""
    )));
    assert!(RUSTC_VERSION.starts_with("rustc 1."), "{RUSTC_VERSION}");
    // SAFETY: both return static NUL-terminated strings.
    let (rustc, interface) = unsafe {
        (
            std::ffi::CStr::from_ptr(slipstream_producer::slipstream_plugin_rustc_version()),
            std::ffi::CStr::from_ptr(slipstream_producer::slipstream_plugin_interface_version()),
        )
    };
    assert_eq!(rustc.to_str().unwrap(), RUSTC_VERSION);
    assert_eq!(interface.to_str().unwrap(), INTERFACE_VERSION);
}
