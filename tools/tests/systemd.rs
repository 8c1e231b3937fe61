//! The systemd unit templates in tools/systemd, checked by `systemd-analyze
//! verify` with the install paths of their `ExecStart` pointed at the
//! binaries this build made (verify refuses a command that is not there).

use std::path::{Path, PathBuf};
use std::process::Command;

const UNITS: &[(&str, &str)] = &[
    (
        "slipstream-tail@.service",
        "slipstream-tail@node-events.service",
    ),
    (
        "slipstream-exporter@.service",
        "slipstream-exporter@node-events.service",
    ),
    (
        "slipstream-check@.service",
        "slipstream-check@node-events.service",
    ),
    (
        "slipstream-check@.timer",
        "slipstream-check@node-events.timer",
    ),
    (
        "slipstream-journal@.service",
        "slipstream-journal@node-events.service",
    ),
];

/// The recorder, `slipstream-journal` (another package of the workspace, so
/// not among this one's `CARGO_BIN_EXE_*`): beside this build's binaries,
/// built there first if it is not.
fn recorder_binary() -> PathBuf {
    let beside = Path::new(env!("CARGO_BIN_EXE_slipstream")).with_file_name("slipstream-journal");
    if !beside.is_file() {
        let st = Command::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "slipstream-journal-tool",
                "--bin",
                "slipstream-journal",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build for slipstream-journal");
        assert!(
            st.success(),
            "cargo build -p slipstream-journal-tool failed"
        );
    }
    assert!(
        beside.is_file(),
        "no {} after building it",
        beside.display()
    );
    beside
}

fn systemd_analyze() -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join("systemd-analyze");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "systemd-analyze is not installed: the unit templates cannot be verified. \
         Install it with `bash tests/install-deps.sh` (Debian package `systemd`)"
    );
}

/// The units copied into a fresh directory, with the documented install
/// paths replaced by this build's binaries; removed on drop.
struct Units(PathBuf);

impl Units {
    fn new(tag: &str) -> Units {
        let dir =
            std::env::temp_dir().join(format!("slipstream-units-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
        for (file, _) in UNITS {
            let text = std::fs::read_to_string(src.join(file)).unwrap();
            let text = text
                .replace(
                    "/usr/local/bin/slipstream-journal ",
                    &format!("{} ", recorder_binary().display()),
                )
                .replace(
                    "/usr/local/bin/slipstream-tail ",
                    &format!("{} ", env!("CARGO_BIN_EXE_slipstream-tail")),
                )
                .replace(
                    "/usr/local/bin/slipstream ",
                    &format!("{} ", env!("CARGO_BIN_EXE_slipstream")),
                );
            std::fs::write(dir.join(file), text).unwrap();
        }
        Units(dir)
    }

    fn verify(&self, instance: &str) -> (bool, String) {
        let out = Command::new(systemd_analyze())
            .args(["verify", "--man=no"])
            .arg(self.0.join(instance))
            .current_dir(&self.0)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout),
        )
    }
}

impl Drop for Units {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_unit_templates_pass_systemd_analyze_verify() {
    let units = Units::new("ok");
    for (_, instance) in UNITS {
        let (ok, out) = units.verify(instance);
        assert!(ok, "{instance}: systemd-analyze verify failed:\n{out}");
        // Warnings (unknown keys, bad values) are printed even when it succeeds.
        let ours: Vec<&str> = out.lines().filter(|l| l.contains("slipstream")).collect();
        assert!(ours.is_empty(), "{instance}:\n{out}");
    }
}

#[test]
fn verify_catches_a_broken_unit() {
    // The check above can fail: a misspelt key and a missing binary are caught.
    let units = Units::new("broken");
    let path = units.0.join("slipstream-tail@.service");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("ProtectSystem=strict", "ProtectSystm=strict"),
    )
    .unwrap();
    let (_, out) = units.verify("slipstream-tail@node-events.service");
    assert!(out.contains("Unknown key 'ProtectSystm'"), "{out}");
    let path = units.0.join("slipstream-exporter@.service");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace(env!("CARGO_BIN_EXE_slipstream"), "/nonexistent/slipstream"),
    )
    .unwrap();
    let (ok, out) = units.verify("slipstream-exporter@node-events.service");
    assert!(!ok, "{out}");
    assert!(out.contains("is not executable"), "{out}");
}

#[test]
fn the_services_are_hardened_and_supervised() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    for file in [
        "slipstream-tail@.service",
        "slipstream-exporter@.service",
        "slipstream-check@.service",
        "slipstream-journal@.service",
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for key in [
            "ProtectSystem=strict",
            "ReadOnlyPaths=/dev/shm",
            "NoNewPrivileges=yes",
            "PrivateTmp=yes",
            "ProtectHome=yes",
            "SupplementaryGroups=slipstream",
        ] {
            assert!(lines.contains(&key), "{file} lacks {key}");
        }
        if file != "slipstream-check@.service" {
            assert!(
                lines.contains(&"Restart=always"),
                "{file} lacks a restart policy"
            );
        }
    }
    let tail = std::fs::read_to_string(dir.join("slipstream-tail@.service")).unwrap();
    assert!(tail
        .lines()
        .any(|l| l == "ReadWritePaths=-/dev/shm/%i.readers -/dev/shm/%i.wake"));
    assert!(tail.lines().any(|l| l == "CapabilityBoundingSet="));
    // The recorder writes its journal directory, its cursor and the wake file; nothing else.
    let rec = std::fs::read_to_string(dir.join("slipstream-journal@.service")).unwrap();
    assert!(rec.lines().any(|l| l
        == "ReadWritePaths=/var/lib/slipstream/journal/%i -/dev/shm/%i.readers -/dev/shm/%i.wake"));
    assert!(rec.lines().any(|l| l == "CapabilityBoundingSet="));
    assert!(rec
        .lines()
        .any(|l| l.starts_with("ExecStart=/usr/local/bin/slipstream-journal record /dev/shm/%i --dir /var/lib/slipstream/journal/%i ")));
}
