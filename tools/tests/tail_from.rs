//! `slipstream-tail --from`: `height:0` is the oldest block; a start no longer
//! in the ring is one error saying what the ring holds.

use std::process::Command;

const SIM: &str = env!("CARGO_BIN_EXE_slipstream-sim");
const TAIL: &str = env!("CARGO_BIN_EXE_slipstream-tail");

use slipstream_tests::TempRing;

fn run(bin: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin).args(args).output().expect("run");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn from_height_zero_is_the_oldest_block_and_a_lost_start_says_what_is_there() {
    let ring = TempRing::new("tail-from");
    let path = ring.0.to_str().unwrap();
    // A small ring the simulator laps many times: heights 1..=300.
    let (ok, _, err) = run(
        SIM,
        &[
            path,
            "--flat-out",
            "--blocks",
            "300",
            "--events-per-block",
            "10",
            "--stakers",
            "1",
            "--block-size",
            "1KiB",
            "--capacity",
            "64KiB",
            "--max-event",
            "8KiB",
            "--quiet",
        ],
    );
    assert!(ok, "{err}");
    let (ok, out, err) = run(
        TAIL,
        &[
            path,
            "--from",
            "height:0",
            "--no-follow",
            "--json",
            "--count",
            "1",
        ],
    );
    assert!(ok, "{err}");
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["kind"], "block_begin", "{first}");
    let oldest = first["block_height"].as_u64().unwrap();
    assert!(oldest > 1 && oldest <= 300, "{first}");
    // Height 1 and sequence 1 were overwritten: the same error, naming what is left.
    for from in ["height:1", "1"] {
        let (ok, _, err) = run(TAIL, &[path, "--from", from, "--no-follow"]);
        assert!(!ok);
        assert!(err.contains("no longer in the ring"), "{from}: {err}");
        assert!(
            err.contains(&format!("blocks from height {oldest}")),
            "{from}: {err}"
        );
    }
}
