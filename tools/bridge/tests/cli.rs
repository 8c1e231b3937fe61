//! The command line of `slipstream-bridge`, run as a user would. Also the
//! reason cargo builds the binary before `tests/tests/bridge.rs` runs it.

use std::process::Command;

fn bridge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_slipstream-bridge"))
}

#[test]
fn help_names_the_ring_the_server_and_the_stream() {
    let out = bridge()
        .arg("--help")
        .output()
        .expect("run slipstream-bridge");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["--nats", "--stream", "RING"] {
        assert!(text.contains(word), "--help lacks {word}: {text}");
    }
}

#[test]
fn a_missing_stream_name_is_a_usage_error_that_names_it() {
    let out = bridge()
        .args(["some-ring", "--nats", "nats://127.0.0.1:1"])
        .output()
        .expect("run slipstream-bridge");
    assert!(!out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("--stream"), "stderr: {text}");
}
