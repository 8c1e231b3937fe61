//! The README's producer example ("The node's side"), runnable:
//! `cargo run -p slipstream-producer --example node -- RING`.
//!
//! It uses `slipstream_producer` alone, and its layout is the one
//! `slipstream-sim` creates by default, so it publishes into a ring the
//! simulator made. `tools/tests/readme_producer.rs` runs it against one and
//! checks that the README shows this code.

/// Publishes block 1,000,000 into the ring `ring`; returns its commit marker's sequence number.
pub fn publish(ring: &str) -> Result<Option<u64>, Box<dyn std::error::Error>> {
    let (balance, reward, new_stake) = (10_000u64, 1_000u64, 2_000_000u64);
    let block_bytes = vec![0u8; 1024];
    // README-BEGIN
    use slipstream_producer::{Layout, Producer, ProducerOptions};

    // 64 MiB of events, each up to 4 MiB: the layout slipstream-sim creates
    // by default. A bare ring name ("node-events") is a file under /dev/shm.
    let layout = Layout::new(64 << 20).max_payload(4 << 20);
    let options = ProducerOptions {
        layout,
        ..Default::default() // mode 0640, wake at block end, all kinds
    };
    let mut producer = Producer::open(ring, options)?;
    producer.begin_block(1_000_000)?;
    let (key, value) = (b"aleo1...", balance.to_le_bytes());
    producer.mapping_update(b"credits.aleo", b"account", key, &value)?;
    producer.staking_reward(b"aleo1staker", b"aleo1validator", reward, new_stake)?;
    producer.block_at(1_000_000, &block_bytes)?;
    // The commit marker, then sleeping consumers are woken.
    let commit = producer.commit_block()?;
    // README-END
    Ok(commit)
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ring = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "node-events".into());
    let commit = publish(&ring)?;
    println!("block 1000000 committed at seq {commit:?}");
    Ok(())
}
