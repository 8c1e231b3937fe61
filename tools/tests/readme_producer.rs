//! The README's producer example compiles with `slipstream_producer` alone
//! and publishes into a ring that `slipstream-sim` made with its default
//! options; and the README shows exactly that code.

use std::process::Command;
use std::time::Duration;

// The example file itself: it names no crate but `slipstream_producer`.
#[allow(dead_code)] // its `main`
#[path = "../../producer-hook/examples/node.rs"]
mod example;

const SIM: &str = env!("CARGO_BIN_EXE_slipstream-sim");

use slipstream_tests::TempRing;

#[test]
fn the_readme_producer_example_publishes_into_a_ring_the_simulator_made() {
    let ring = TempRing::new("readme-producer");
    let out = Command::new(SIM)
        .arg(&ring.0)
        .args(["--blocks", "2", "--flat-out", "--quiet"])
        .output()
        .expect("run slipstream-sim");
    assert!(
        out.status.success(),
        "slipstream-sim: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = ring.0.to_str().unwrap();
    let commit = example::publish(path).expect("the README example");
    let commit = commit.expect("a commit marker");
    // A consumer sees the example's block whole.
    let mut c = slipstream_consumer::Consumer::builder(&ring.0)
        .start(slipstream_consumer::Start::Height(1_000_000))
        .open()
        .unwrap();
    match c.next_block(Duration::from_secs(5)).unwrap() {
        Some(slipstream_consumer::BlockItem::Block(b)) => {
            assert_eq!(
                (b.height, b.commit_seq, b.events.len()),
                (1_000_000, commit, 3)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_readme_shows_the_example_code() {
    let example = include_str!("../../producer-hook/examples/node.rs");
    let readme = include_str!("../../README.md");
    let body: Vec<&str> = example
        .lines()
        .skip_while(|l| !l.contains("README-BEGIN"))
        .skip(1)
        .take_while(|l| !l.contains("README-END"))
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect();
    assert!(body.len() > 5);
    let block = body.join("\n");
    assert!(
        readme.contains(&block),
        "README.md's producer example differs from producer-hook/examples/node.rs; it should read:\n{block}"
    );
}
