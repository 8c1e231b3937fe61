//! `on_load` logs what the plugin was built with, through the node's own
//! `tracing` subscriber. A test binary of its own: tracing caches each
//! callsite's interest process-wide, so another test thread that hit the same
//! callsite with no subscriber could make this one see nothing.

use slipstream_producer::{RingPlugin, INTERFACE_VERSION, RUSTC_VERSION};
use snarkvm_slipstream_plugin_manager::LoadedSlipstreamPlugin;

/// Every tracing event, as `field=value` text.
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                self.0.push_str(&format!("{}={value} ", field.name()));
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        let mut f = Fields(String::new());
        event.record(&mut f);
        self.0.lock().unwrap().push(f.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// `on_load` logs, through the node's own `tracing` subscriber (the static
/// model shares it), the compiler and interface version the plugin was
/// built with.
#[test]
fn on_load_logs_the_rustc_and_interface_versions() {
    let dir = std::env::temp_dir().join(format!("slipstream-static-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("slipstream.json5");
    std::fs::write(
        &config,
        r#"{ libpath: "", ring: "./events", capacity: "1MiB" }"#,
    )
    .unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut plugin = LoadedSlipstreamPlugin::new(Box::new(RingPlugin::new()), None);
    tracing::subscriber::with_default(Capture(lines.clone()), || {
        plugin.on_load(config.to_str().unwrap(), false).unwrap();
    });
    plugin.on_unload();
    let lines = lines.lock().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("rustc={RUSTC_VERSION} "))
                && l.contains(&format!("interface={INTERFACE_VERSION} "))),
        "{lines:#?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
