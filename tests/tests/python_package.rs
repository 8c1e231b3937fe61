//! The Python package `slipstream` (consumer-sdk/python), built and tested as
//! a user would get it: maturin builds the wheel (dev profile, its own target
//! directory `target/python`), pip installs it into a fresh venv, and pytest
//! runs `consumer-sdk/python/tests` against rings written by `slipstream-sim`
//! (one test compares a whole stream with `slipstream-tail --json`).
//!
//! Needs maturin, pytest and the venv module (`bash tests/install-deps.sh`);
//! their absence fails the test with that advice, never skips it.

use slipstream_tests::process::Spawned;
use slipstream_tests::workspace_bin;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `cmd` to completion within `limit`; returns stdout and stderr.
fn run(cmd: Command, what: &str, limit: Duration) -> (String, String) {
    let program = cmd.get_program().to_owned();
    let out = Spawned::try_spawn(cmd)
        .unwrap_or_else(|e| {
            panic!(
                "{what}: cannot run {program:?} ({e}). Install the test dependencies with \
                 `bash tests/install-deps.sh` (it pip-installs maturin and pytest)"
            )
        })
        .finish(limit);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    (out.stdout, out.stderr)
}

#[test]
fn the_python_package_builds_installs_and_passes_its_tests() {
    let sim = workspace_bin("slipstream-sim");
    let tail = workspace_bin("slipstream-tail");
    let journal = workspace_bin("slipstream-journal");
    let dir =
        TempDir(std::env::temp_dir().join(format!("slipstream-python-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0).unwrap();
    let wheels = dir.0.join("wheels");

    let mut build = Command::new("maturin");
    build
        .args(["build", "--quiet", "-m"])
        .arg(root().join("consumer-sdk/python/Cargo.toml"))
        .arg("--out")
        .arg(&wheels)
        .env("CARGO_TARGET_DIR", root().join("target/python"));
    run(build, "maturin build", Duration::from_secs(600));
    let wheel = std::fs::read_dir(&wheels)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .expect("maturin built a wheel");
    assert!(
        wheel
            .file_name()
            .unwrap()
            .to_string_lossy()
            .contains("abi3"),
        "an abi3 wheel: {}",
        wheel.display()
    );

    // A fresh venv that sees the system's pytest, with the wheel installed.
    let venv = dir.0.join("venv");
    let mut mk = Command::new("python3");
    mk.args(["-m", "venv", "--system-site-packages"]).arg(&venv);
    run(
        mk,
        "python3 -m venv (Debian: apt-get install python3-venv)",
        Duration::from_secs(120),
    );
    let python = venv.join("bin/python");
    let mut pip = Command::new(&python);
    pip.args(["-m", "pip", "install", "--quiet", "--no-index", "--no-deps"])
        .arg(&wheel);
    run(pip, "pip install the wheel", Duration::from_secs(120));

    let mut pytest = Command::new(&python);
    pytest
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root().join("consumer-sdk/python/tests"))
        .current_dir(&dir.0)
        .env("SLIPSTREAM_SIM", &sim)
        .env("SLIPSTREAM_TAIL", &tail)
        .env("SLIPSTREAM_JOURNAL", &journal);
    let (stdout, _) = run(
        pytest,
        "pytest consumer-sdk/python/tests",
        Duration::from_secs(300),
    );
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(
        summary.contains(" passed") && !summary.contains("failed") && !summary.contains("skipped"),
        "pytest summary: {summary}"
    );
    println!("pytest: {summary}");
}
