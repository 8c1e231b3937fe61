//! Records the compiler that builds this crate, so that the cdylib can say
//! which rustc it was built with (`slipstream_plugin_rustc_version`, and the
//! `on_load` log line): a Rust trait object crosses the plugin boundary only
//! when the node and the plugin were built by the same compiler.

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = Command::new(&rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| format!("unknown ({rustc} --version failed)"));
    // A NUL inside would cut the C string short; a compiler never prints one.
    let version = version.replace('\0', " ");
    println!("cargo:rustc-env=SLIPSTREAM_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-env-changed=RUSTC");
    println!("cargo:rerun-if-changed=build.rs");
}
