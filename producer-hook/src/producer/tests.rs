//! Unit tests of the [`Producer`](super::Producer): its counters, opening a
//! ring that does not fit, and the block rules.

use super::*;
use crate::{ProducerError, ProducerOptions, PublishError};
use slipstream_event::{EventRef, UNKNOWN_COUNT};
use slipstream_ring::{Item, Layout, OpenError, Reader, Start};

/// Every counter FORMAT.md section 2 defines is maintained by the
/// producer and readable from the ring alone (`slipstream_ring::stats`).
#[test]
fn the_header_counts_what_the_producer_did() {
    let path = std::env::temp_dir().join(format!("producer-counters-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let opts = || ProducerOptions {
        layout: Layout::new(4096).max_payload(200),
        ..Default::default()
    };
    {
        let mut p = Producer::open(&path, opts()).unwrap();
        let mut kinds = KindSet::all();
        kinds.remove(EventKind::StakingReward);
        p.set_kinds(kinds);
        for h in 1..=40u64 {
            p.mapping_update_at(h, b"p", b"m", b"k", &[7; 60]).unwrap();
            // Switched off: counted, not published.
            assert_eq!(p.staking_reward(b"s", b"v", 1, 2).unwrap(), None);
            p.commit_block().unwrap();
        }
        // Too large: counted, refused.
        p.begin_block(41).unwrap();
        assert!(p.mapping_update(b"p", b"m", b"k", &[0; 300]).is_err());
        p.commit_block().unwrap();
    }
    drop(Producer::open(&path, opts()).unwrap());
    let s = slipstream_ring::stats::read(&path).unwrap();
    let c = s.counters;
    // 40 blocks of begin, update, commit; then begin and commit of 41.
    assert_eq!(c.events, 122);
    assert_eq!(c.blocks, 41);
    assert_eq!(c.refused_switched_off, 40);
    assert_eq!(c.refused_too_large, 1);
    assert_eq!(c.producer_starts, 2);
    assert!(c.bytes > 4096, "wrapped: {c:?}");
    assert!(c.padding_bytes > 0 && c.padding_bytes < c.bytes, "{c:?}");
    // Each clean close wakes sleepers, whoever announced.
    assert!(c.wake_calls >= 2, "{c:?}");
    assert!(!s.producer_alive);
    std::fs::remove_file(&path).unwrap();
    slipstream_ring::sidecar::remove_all(&path);
}

/// Regression: a ring that did not fit on its disk left an empty (or,
/// on some file systems, partly allocated) file behind, which readers
/// took for a ring being created and the next producer refused.
#[test]
fn a_ring_too_large_for_its_disk_leaves_no_file() {
    let Ok(fs) = rustix::fs::statvfs(crate::SHM_DIR) else {
        return; // no /dev/shm here
    };
    let capacity = 1u64 << 40;
    // Only where the tmpfs is smaller than the ring: it refuses such an
    // allocation at once, without filling memory first.
    if fs.f_blocks.saturating_mul(fs.f_frsize) >= capacity {
        return;
    }
    let path = Path::new(crate::SHM_DIR).join(format!("producer-enospc-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let err = Producer::open(
        &path,
        ProducerOptions {
            layout: Layout::new(capacity),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(&err, ProducerError::Open { source: OpenError::Io { op: "fallocate ring file", source }, .. }
            if source.raw_os_error() == Some(28)),
        "{err}"
    );
    assert!(!path.exists(), "{} was left behind", path.display());
}

/// An event refused as too large inside a block counts in it: its
/// ordinal is left out and the commit marker announces one event more
/// than the ring holds, so that no consumer takes the block for whole
/// (it used to commit looking complete, with the event silently gone).
#[test]
fn a_refused_event_marks_its_block_incomplete() {
    let path = std::env::temp_dir().join(format!("producer-too-large-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let layout = Layout::new(1 << 16).max_payload(256);
    let mut p = Producer::open(
        &path,
        ProducerOptions {
            layout,
            ..Default::default()
        },
    )
    .unwrap();
    p.begin_block(5).unwrap();
    p.mapping_update(b"p", b"m", b"k", b"v").unwrap();
    let err = p.block_at(5, &[0; 256]).unwrap_err();
    assert_eq!(
        err,
        PublishError::TooLarge {
            len: 272,
            max: 256,
            block: Some(5)
        }
    );
    assert!(
        err.to_string().contains("block 5 is marked incomplete"),
        "{err}"
    );
    p.block_at(5, &[0; 16]).unwrap();
    p.commit_block().unwrap();
    // Outside a block the refusal names no block.
    let err = p
        .publish_raw(&EventRef::Block {
            block_height: 6,
            ordinal: 1,
            block: &[0; 300],
        })
        .unwrap_err();
    assert!(
        matches!(err, PublishError::TooLarge { block: None, .. }),
        "{err}"
    );
    let file = std::fs::File::open(&path).unwrap();
    let mut r = Reader::attach(&file, Start::Oldest).unwrap();
    let mut seen = vec![];
    while let Some(Item::Record(rec)) = r.try_next().unwrap() {
        let ev = EventRef::decode(rec.kind, rec.payload).unwrap();
        let count = match ev {
            EventRef::BlockBegin { event_count, .. }
            | EventRef::BlockCommit { event_count, .. } => Some(event_count),
            _ => None,
        };
        seen.push((rec.seq, ev.ordinal(), count));
    }
    drop(p);
    std::fs::remove_file(&path).unwrap();
    // Ordinal 2 (the refused event) is missing; the commit counts 3 events.
    assert_eq!(
        seen,
        [
            (1, 0, Some(UNKNOWN_COUNT)),
            (2, 1, None),
            (3, 3, None),
            (4, 4, Some(3))
        ]
    );
}

fn temp_producer(tag: &str) -> (Producer, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("producer-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let p = Producer::open(
        &path,
        ProducerOptions {
            layout: Layout::new(1 << 16),
            ..Default::default()
        },
    )
    .unwrap();
    (p, path)
}

/// Events without a height belong to the open block; with none open they
/// are refused (they used to land in a "block 0").
#[test]
fn an_event_without_a_height_needs_an_open_block() {
    let (mut p, path) = temp_producer("no-block");
    let err = p.mapping_update(b"p", b"m", b"k", b"v").unwrap_err();
    assert_eq!(
        err,
        PublishError::NoOpenBlock {
            kind: EventKind::MappingUpdate
        }
    );
    assert!(err.to_string().contains("no block is open"), "{err}");
    assert_eq!(
        p.staking_reward(b"s", b"v", 1, 2).unwrap_err(),
        PublishError::NoOpenBlock {
            kind: EventKind::StakingReward
        }
    );
    assert_eq!(p.next_seq(), 1, "nothing was published");
    // The documented implicit block: an event with a height opens its block.
    p.mapping_update_at(9, b"p", b"m", b"k", b"v").unwrap();
    assert_eq!(p.open_block(), Some(9));
    p.mapping_update(b"p", b"m", b"k2", b"v").unwrap();
    p.commit_block().unwrap();
    assert_eq!(p.next_seq(), 5, "begin, two updates, commit");
    assert!(p.mapping_update(b"p", b"m", b"k", b"v").is_err());
    drop(p);
    std::fs::remove_file(&path).unwrap();
}

/// Heights only increase: a block at or below the last one begun is
/// refused, explicitly or implicitly opened, and nothing is published.
#[test]
fn heights_that_do_not_increase_are_refused() {
    let (mut p, path) = temp_producer("heights");
    p.begin_block(10).unwrap();
    p.mapping_update_at(10, b"p", b"m", b"k", b"v").unwrap();
    let before = p.next_seq();
    let refused = PublishError::HeightNotIncreasing {
        height: 9,
        last: 10,
    };
    assert_eq!(p.begin_block(9).unwrap_err(), refused);
    assert_eq!(
        p.mapping_update_at(9, b"p", b"m", b"k", b"v").unwrap_err(),
        refused
    );
    assert_eq!(p.block_at(9, b"b").unwrap_err(), refused);
    assert_eq!(
        p.begin_block_with_count(10, 1).unwrap_err(),
        PublishError::HeightNotIncreasing {
            height: 10,
            last: 10
        }
    );
    assert_eq!(p.next_seq(), before, "nothing was published");
    assert_eq!(p.open_block(), Some(10), "the open block stays open");
    p.commit_block().unwrap();
    // A committed height cannot be reopened either.
    assert!(matches!(
        p.staking_reward_at(10, b"s", b"v", 1, 2),
        Err(PublishError::HeightNotIncreasing {
            height: 10,
            last: 10
        })
    ));
    p.staking_reward_at(12, b"s", b"v", 1, 2).unwrap();
    assert_eq!(p.open_block(), Some(12));
    assert!(
        refused.to_string().contains("does not increase"),
        "{refused}"
    );
    drop(p);
    std::fs::remove_file(&path).unwrap();
}
