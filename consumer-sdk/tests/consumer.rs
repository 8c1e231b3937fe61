//! The producer hook and the consumer SDK together, in one process.

use slipstream_consumer::*;
use slipstream_producer::{Producer, ProducerError, ProducerOptions, Wake};
use slipstream_ring::Layout;
use std::path::PathBuf;
use std::time::{Duration, Instant};

struct Ring(PathBuf);

impl Ring {
    fn new(tag: &str) -> Ring {
        let p = PathBuf::from(format!(
            "/dev/shm/slipstream-sdk-test-{tag}-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        let _ = std::fs::remove_file(&p);
        Ring(p)
    }
    fn producer(&self, capacity: u64) -> Producer {
        Producer::open(
            &self.0,
            ProducerOptions {
                layout: Layout::new(capacity),
                wake: Wake::EveryEvent,
                ..Default::default()
            },
        )
        .unwrap()
    }
    fn consumer(&self) -> ConsumerBuilder {
        Consumer::builder(&self.0).spin(Duration::ZERO)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        slipstream_ring::sidecar::remove_all(&self.0);
    }
}

/// Publishes block `h`: `n` mapping updates of credits.aleo/account (even i)
/// or token.aleo/balances (odd i), one staking reward, one block event.
fn block(p: &mut Producer, h: u64, n: u32) {
    p.begin_block(h).unwrap();
    for i in 0..n {
        let (program, mapping): (&[u8], &[u8]) = if i % 2 == 0 {
            (b"credits.aleo", b"account")
        } else {
            (b"token.aleo", b"balances")
        };
        p.mapping_update_at(
            h,
            program,
            mapping,
            &i.to_le_bytes(),
            &(h * 1000 + i as u64).to_le_bytes(),
        )
        .unwrap();
    }
    p.staking_reward_at(h, b"staker", b"validator", h, h * 10)
        .unwrap();
    p.block_at(h, &[h as u8; 100]).unwrap();
    p.commit_block().unwrap();
}

fn collect(c: &mut Consumer, max: usize) -> Vec<OwnedItem> {
    let mut out = vec![];
    while out.len() < max {
        match c.next(Duration::from_millis(200)).unwrap() {
            Some(item) => out.push(OwnedItem::from_item(&item)),
            None => break,
        }
    }
    out
}

fn events(items: &[OwnedItem]) -> Vec<&OwnedEvent> {
    items
        .iter()
        .filter_map(|i| match i {
            OwnedItem::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn every_event_arrives_in_order_with_markers_and_ordinals() {
    let ring = Ring::new("order");
    let mut p = ring.producer(1 << 20);
    let mut c = ring.consumer().start(Start::Oldest).open().unwrap();
    for h in 1..=3 {
        block(&mut p, h, 4);
    }
    let items = collect(&mut c, 1000);
    let evs = events(&items);
    assert_eq!(evs.len(), 3 * (4 + 2 + 2));
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
    }
    // Block 1: begin(ordinal 0), 4 updates, reward, block, commit(count 6, ordinal 7).
    let b1: Vec<_> = evs.iter().take(8).map(|e| e.event()).collect();
    assert!(matches!(
        b1[0],
        EventRef::BlockBegin {
            block_height: 1,
            ..
        }
    ));
    assert_eq!(
        b1.iter().map(|e| e.ordinal()).collect::<Vec<_>>(),
        (0..8).collect::<Vec<u32>>()
    );
    assert_eq!(
        b1[7],
        EventRef::BlockCommit {
            block_height: 1,
            event_count: 6
        }
    );
    match b1[1] {
        EventRef::MappingUpdate {
            program_id,
            mapping_name,
            key,
            value,
            ..
        } => {
            assert_eq!(
                (program_id, mapping_name),
                (&b"credits.aleo"[..], &b"account"[..])
            );
            assert_eq!(key, 0u32.to_le_bytes());
            assert_eq!(value, 1000u64.to_le_bytes());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn filters_by_kind_program_and_mapping() {
    let ring = Ring::new("filter");
    let mut p = ring.producer(1 << 20);
    block(&mut p, 1, 6);
    let mut by_kind = ring
        .consumer()
        .kinds(KindSet::none().with(EventKind::StakingReward))
        .open()
        .unwrap();
    let items = collect(&mut by_kind, 100);
    assert_eq!(events(&items).len(), 1);
    assert_eq!(events(&items)[0].kind(), EventKind::StakingReward);
    let mut by_program = ring
        .consumer()
        .kinds(KindSet::none().with(EventKind::MappingUpdate))
        .program("token.aleo")
        .open()
        .unwrap();
    let items = collect(&mut by_program, 100);
    assert_eq!(events(&items).len(), 3);
    assert!(events(&items)
        .iter()
        .all(|e| e.event().program_id() == Some(&b"token.aleo"[..])));
    let mut by_mapping = ring.consumer().mapping("account").open().unwrap();
    let evs = collect(&mut by_mapping, 100);
    // Three credits.aleo/account updates, plus the kinds the mapping filter does not apply to.
    let updates = events(&evs)
        .iter()
        .filter(|e| e.kind() == EventKind::MappingUpdate)
        .count();
    assert_eq!(updates, 3);
    assert_eq!(events(&evs).len(), 3 + 4);
}

#[test]
fn a_named_consumer_resumes_where_it_left_off() {
    let ring = Ring::new("resume");
    let mut p = ring.producer(1 << 20);
    for h in 1..=2 {
        block(&mut p, h, 2);
    }
    let mut c = ring.consumer().name("indexer").open().unwrap();
    assert_eq!(c.name(), Some("indexer"));
    let first = collect(&mut c, 5);
    assert_eq!(events(&first).last().unwrap().seq, 5);
    assert!(matches!(
        ring.consumer().name("indexer").open(),
        Err(ConsumerError::Slot { .. })
    ));
    drop(c);
    let mut again = ring
        .consumer()
        .name("indexer")
        .start(Start::End)
        .open()
        .unwrap();
    let rest = collect(&mut again, 100);
    assert_eq!(
        events(&rest).first().unwrap().seq,
        5,
        "resumed at the event in flight when it was dropped (at least once)"
    );
    assert_eq!(events(&rest).last().unwrap().seq, 12);
    drop(again);
    // reset ignores the saved cursor.
    let mut fresh = ring
        .consumer()
        .name("indexer")
        .start(Start::End)
        .reset(true)
        .open()
        .unwrap();
    assert!(collect(&mut fresh, 10).is_empty());
    let slots = slipstream_ring::read_slots(&ring.0).unwrap();
    let s = slots.iter().find(|s| s.name == "indexer").unwrap();
    assert!(s.live == Some(true) && s.next_seq == 13);
}

#[test]
fn lag_is_an_item_and_reading_goes_on() {
    let ring = Ring::new("lag");
    let mut p = ring.producer(64 << 10);
    let mut c = ring.consumer().start(Start::Oldest).open().unwrap();
    for h in 1..=400 {
        block(&mut p, h, 4);
    }
    let items = collect(&mut c, 1_000_000);
    let lags: Vec<_> = items
        .iter()
        .filter_map(|i| match i {
            OwnedItem::Lagged(l) => Some(*l),
            _ => None,
        })
        .collect();
    assert_eq!(lags.len(), 1);
    assert_eq!(lags[0].first_missed, 1);
    let evs = events(&items);
    assert_eq!(evs.first().unwrap().seq, lags[0].last_missed + 1);
    assert_eq!(evs.last().unwrap().seq, 400 * 8);
    assert_eq!(evs.len() as u64 + lags[0].count(), 400 * 8);
}

#[test]
fn blocks_arrive_whole_or_not_at_all() {
    let ring = Ring::new("blocks");
    let mut p = ring.producer(1 << 20);
    let mut c = ring.consumer().start(Start::Oldest).open().unwrap();
    block(&mut p, 10, 3);
    // A block that never commits: the next block begins first.
    p.mapping_update_at(11, b"p", b"m", b"k", b"v").unwrap();
    p.mapping_update_at(12, b"p", b"m", b"k", b"v").unwrap(); // commits 11 with 1 event, opens 12
    block(&mut p, 13, 1); // commits 12, then 13
    let mut got = vec![];
    while let Some(item) = c.next_block(Duration::from_millis(200)).unwrap() {
        got.push(item);
    }
    let heights: Vec<_> = got
        .iter()
        .map(|b| match b {
            BlockItem::Block(b) => (b.height, b.events.len()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(heights, vec![(10, 5), (11, 1), (12, 1), (13, 3)]);

    // A raw writer that breaks the rules: begin 20, an event, begin 21.
    drop(p);
    let ring2 = Ring::new("blocks2");
    let mut p = ring2.producer(1 << 20);
    let mut c = ring2.consumer().open().unwrap();
    p.publish_raw(&EventRef::BlockBegin {
        block_height: 20,
        event_count: 1,
    })
    .unwrap();
    p.publish_raw(&EventRef::Block {
        block_height: 20,
        ordinal: 1,
        block: b"x",
    })
    .unwrap();
    p.publish_raw(&EventRef::BlockBegin {
        block_height: 21,
        event_count: 2,
    })
    .unwrap();
    p.publish_raw(&EventRef::Block {
        block_height: 21,
        ordinal: 1,
        block: b"y",
    })
    .unwrap();
    p.publish_raw(&EventRef::BlockCommit {
        block_height: 21,
        event_count: 2,
    })
    .unwrap();
    assert!(matches!(
        c.next_block(Duration::from_millis(200)).unwrap(),
        Some(BlockItem::Incomplete { height: 20, .. })
    ));
    assert!(matches!(
        c.next_block(Duration::from_millis(200)).unwrap(),
        Some(BlockItem::Incomplete { height: 21, reason, .. }) if reason.contains("count")
    ));
}

#[test]
fn start_at_a_block_height() {
    let ring = Ring::new("height");
    let mut p = ring.producer(1 << 20);
    for h in 100..110 {
        block(&mut p, h, 1);
    }
    let mut c = ring.consumer().start(Start::Height(105)).open().unwrap();
    match c.next_block(Duration::from_millis(200)).unwrap() {
        Some(BlockItem::Block(b)) => assert_eq!(b.height, 105),
        other => panic!("{other:?}"),
    }
    let err = ring.consumer().start(Start::Height(50)).open().unwrap_err();
    assert!(matches!(
        err,
        ConsumerError::StartUnavailable {
            requested: Start::Height(50),
            available: Available {
                oldest_seq: 1,
                next_seq: 51,
                oldest_height: Some(100),
                newest_height: Some(109)
            }
        }
    ));
    // A future height: waits for it, skipping the blocks before it.
    let mut future = ring.consumer().start(Start::Height(112)).open().unwrap();
    for h in 110..114 {
        block(&mut p, h, 1);
    }
    match future.next_block(Duration::from_millis(500)).unwrap() {
        Some(BlockItem::Block(b)) => assert_eq!(b.height, 112),
        other => panic!("{other:?}"),
    }
    assert_eq!("height:7".parse::<Start>(), Ok(Start::Height(7)));
    assert_eq!("oldest".parse::<Start>(), Ok(Start::Oldest));
    assert_eq!("42".parse::<Start>(), Ok(Start::Seq(42)));
    assert!("soon"
        .parse::<Start>()
        .unwrap_err()
        .to_string()
        .contains("soon"));
}

#[test]
fn producer_close_and_restart_are_items_not_hangs() {
    let ring = Ring::new("life");
    let p = ring.producer(1 << 20);
    let mut c = ring
        .consumer()
        .liveness_interval(Duration::from_millis(10))
        .open()
        .unwrap();
    assert!(c.producer_alive());
    drop(p);
    let t = Instant::now();
    let item = c
        .next(Duration::from_secs(10))
        .unwrap()
        .map(|i| OwnedItem::from_item(&i));
    assert!(
        matches!(
            item,
            Some(OwnedItem::Producer(ProducerChange::Closed { epoch: 1 }))
        ),
        "{item:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(
        c.next(Duration::from_millis(50)).unwrap().is_none(),
        "reported once"
    );
    let mut p = ring.producer(1 << 20);
    block(&mut p, 1, 1);
    let mut seen = vec![];
    while let Some(i) = c.next(Duration::from_millis(300)).unwrap() {
        seen.push(OwnedItem::from_item(&i));
    }
    assert!(
        seen.iter().any(|i| matches!(
            i,
            OwnedItem::Producer(ProducerChange::Restarted { epoch: 2, .. })
        )),
        "{seen:?}"
    );
    assert_eq!(events(&seen).len(), 5);
}

#[test]
fn next_times_out_on_an_idle_ring() {
    let ring = Ring::new("idle");
    let _p = ring.producer(1 << 20);
    let mut c = ring
        .consumer()
        .spin(Duration::from_micros(100))
        .open()
        .unwrap();
    let t = Instant::now();
    assert!(c.next(Duration::from_millis(50)).unwrap().is_none());
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(50) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[test]
fn the_iterator_yields_owned_items() {
    let ring = Ring::new("iter");
    let mut p = ring.producer(1 << 20);
    block(&mut p, 1, 1);
    let mut c = ring.consumer().open().unwrap();
    let first: Vec<_> = c.iter().take(5).collect::<Result<_, _>>().unwrap();
    assert_eq!(first.len(), 5);
    assert!(matches!(&first[4], OwnedItem::Event(e) if e.kind() == EventKind::BlockCommit));
}

#[test]
fn consumer_errors_name_the_problem() {
    let missing = Consumer::builder("/dev/shm/slipstream-no-such-ring")
        .open()
        .unwrap_err();
    assert!(
        missing.to_string().contains("slipstream-no-such-ring"),
        "{missing}"
    );
    let ring = Ring::new("notaring");
    std::fs::write(&ring.0, vec![7u8; 10_000]).unwrap();
    let err = Consumer::builder(&ring.0).open().unwrap_err();
    assert!(err.to_string().contains("not a Slipstream ring"), "{err}");
    // Waiting for a ring that appears.
    let later = Ring::new("later");
    let path = later.0.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        Producer::open(
            &path,
            ProducerOptions {
                layout: Layout::new(1 << 16),
                ..Default::default()
            },
        )
        .unwrap()
    });
    let c = Consumer::builder(&later.0)
        .wait_for_ring(Duration::from_secs(20))
        .open();
    let _p = t.join().unwrap();
    assert!(c.is_ok(), "{c:?}");
}

#[test]
fn producer_refuses_symlinks_directories_and_other_owners() {
    let ring = Ring::new("policy");
    let p = ring.producer(1 << 16);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&ring.0).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o640,
        "rings are created 0640: group-readable, writable by no consumer"
    );
    let mode_of = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(
        mode_of(&slipstream_ring::sidecar::lock_path(&ring.0)),
        0o600
    );
    assert_eq!(
        mode_of(&slipstream_ring::sidecar::wake_path(&ring.0)),
        0o660
    );
    assert_eq!(
        mode_of(&slipstream_ring::sidecar::readers_dir(&ring.0)),
        0o1770
    );
    drop(p);
    for writable in [0o660, 0o646, 0o1640] {
        let other = Ring::new("writable");
        let err = Producer::open(
            &other.0,
            ProducerOptions {
                mode: writable,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(matches!(err, ProducerError::WritableMode { .. }), "{err}");
        assert!(
            !other.0.exists(),
            "no file is created with mode {writable:o}"
        );
    }
    let link = Ring::new("link");
    std::os::unix::fs::symlink(&ring.0, &link.0).unwrap();
    let err = Producer::open(&link.0, ProducerOptions::default()).unwrap_err();
    assert!(matches!(err, ProducerError::Symlink(_)), "{err}");
    let dir = std::env::temp_dir().join(format!("slipstream-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let err = Producer::open(&dir, ProducerOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains(&dir.display().to_string()),
        "{err}"
    );
    std::fs::remove_dir(&dir).unwrap();
    if rustix_euid_is_root() {
        std::os::unix::fs::chown(&ring.0, Some(12345), None).unwrap();
        let err = Producer::open(
            &ring.0,
            ProducerOptions {
                layout: Layout::new(1 << 16),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, ProducerError::NotOwner { owner: 12345, .. }),
            "{err}"
        );
    }
}

fn rustix_euid_is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid() == 0
        })
        .unwrap_or(false)
}

#[test]
fn another_layout_is_refused_or_replaced_on_request() {
    let ring = Ring::new("relayout");
    drop(ring.producer(1 << 16));
    let other = ProducerOptions {
        layout: Layout::new(1 << 17),
        ..Default::default()
    };
    let err = Producer::open(&ring.0, other.clone()).unwrap_err();
    assert!(err.to_string().contains("layout"), "{err}");
    let p = Producer::open(
        &ring.0,
        ProducerOptions {
            recreate: true,
            ..other
        },
    )
    .unwrap();
    assert_eq!(p.next_seq(), 1);
    let c = Consumer::builder(&ring.0).open().unwrap();
    assert_eq!(c.next_seq(), 1);
}

#[cfg(feature = "tokio")]
#[test]
fn the_async_stream_delivers_events() {
    let ring = Ring::new("stream");
    let mut p = ring.producer(1 << 20);
    let mut stream = ring.consumer().open().unwrap().into_stream(16);
    block(&mut p, 1, 2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let got = rt.block_on(async {
        let mut got = vec![];
        while got.len() < 6 {
            let item = std::future::poll_fn(|cx| {
                futures_core::Stream::poll_next(std::pin::Pin::new(&mut stream), cx)
            })
            .await;
            got.push(item.unwrap().unwrap());
        }
        got
    });
    assert!(matches!(&got[5], OwnedItem::Event(e) if e.kind() == EventKind::BlockCommit));
}

#[test]
fn manual_commit_stores_the_cursor_only_when_asked() {
    let ring = Ring::new("manual");
    let mut p = ring.producer(1 << 20);
    block(&mut p, 1, 4); // 8 events
    let mut c = ring
        .consumer()
        .name("careful")
        .auto_commit(false)
        .open()
        .unwrap();
    assert_eq!(events(&collect(&mut c, 3)).len(), 3);
    c.commit(); // events 1..=3 are durable
    assert_eq!(events(&collect(&mut c, 2)).len(), 2); // 4 and 5 handed out, not committed
    drop(c);
    let mut again = ring
        .consumer()
        .name("careful")
        .auto_commit(false)
        .open()
        .unwrap();
    assert_eq!(
        events(&collect(&mut again, 1))[0].seq,
        4,
        "resumes after the last commit"
    );
}

#[test]
fn recreate_never_replaces_a_file_that_is_not_a_ring() {
    let ring = Ring::new("notmine");
    let precious = b"\x89PNG\r\n\x1a\n a user's picture, not a ring".repeat(100);
    std::fs::write(&ring.0, &precious).unwrap();
    let err = Producer::open(
        &ring.0,
        ProducerOptions {
            recreate: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("not a Slipstream ring"), "{err}");
    assert_eq!(
        std::fs::read(&ring.0).unwrap(),
        precious,
        "the file is untouched"
    );
}

/// The stored cursor of the consumer named `name`.
fn stored(ring: &Ring, name: &str) -> u64 {
    let slots = slipstream_ring::read_slots(&ring.0).unwrap();
    slots.iter().find(|s| s.name == name).unwrap().next_seq
}

#[test]
fn a_panic_while_processing_never_commits_the_event_in_flight() {
    let ring = Ring::new("panic");
    let mut p = ring.producer(1 << 20);
    block(&mut p, 1, 4); // seqs 1..=8
    let path = ring.0.clone();
    let result = std::panic::catch_unwind(move || {
        let mut c = Consumer::builder(&path).name("fragile").open().unwrap();
        for _ in 0..3 {
            c.next(Duration::from_millis(100)).unwrap();
        }
        // Processing event 3 fails: the consumer is dropped while unwinding.
        panic!("processing failed");
    });
    assert!(result.is_err());
    assert_eq!(
        stored(&ring, "fragile"),
        3,
        "events 1 and 2 were moved past; 3 was in flight"
    );
    let mut c = ring.consumer().name("fragile").open().unwrap();
    assert_eq!(
        events(&collect(&mut c, 1))[0].seq,
        3,
        "the event in flight comes again"
    );
    // A clean drop is the same: the item in flight is not committed.
    drop(c);
    assert_eq!(stored(&ring, "fragile"), 3);
    let mut c = ring.consumer().name("fragile").open().unwrap();
    c.next(Duration::from_millis(100)).unwrap(); // 3
    c.next(Duration::from_millis(100)).unwrap(); // 4: 3 is processed
    drop(c);
    assert_eq!(stored(&ring, "fragile"), 4);
}

/// The trial, in one process: `next_block` timed out while a block
/// was open, the consumer was dropped, and on reopening the block was lost.
#[test]
fn a_block_open_when_the_consumer_stopped_comes_whole_after_the_restart() {
    let ring = Ring::new("cut-block");
    let mut p = ring.producer(1 << 20);
    block(&mut p, 11, 2);
    let mut c = ring.consumer().name("blocks").open().unwrap();
    assert!(
        matches!(c.next_block(Duration::from_millis(200)).unwrap(), Some(BlockItem::Block(b)) if b.height == 11)
    );
    // Block 12 begins; the consumer times out inside it and stops.
    p.begin_block(12).unwrap();
    p.mapping_update_at(12, b"p", b"m", b"k", b"v").unwrap();
    p.flush();
    assert!(c.next_block(Duration::from_millis(50)).unwrap().is_none());
    drop(c);
    let cursor = stored(&ring, "blocks");
    assert_eq!(
        cursor, 7,
        "stored at the boundary after block 11, not inside block 12"
    );
    p.staking_reward_at(12, b"s", b"v", 1, 2).unwrap();
    p.commit_block().unwrap();
    block(&mut p, 13, 1);
    let mut c = ring.consumer().name("blocks").open().unwrap();
    let heights: Vec<u64> =
        std::iter::from_fn(|| c.next_block(Duration::from_millis(200)).unwrap())
            .map(|b| match b {
                BlockItem::Block(b) => b.height,
                other => panic!("{other:?}"),
            })
            .collect();
    assert_eq!(heights, [12, 13]);
}

#[test]
fn next_block_from_a_cursor_inside_a_block_goes_back_to_its_begin_marker() {
    let ring = Ring::new("mid-block");
    let mut p = ring.producer(1 << 20);
    block(&mut p, 5, 4); // seqs 1..=8
                         // An event API stored a cursor inside block 5 (after seq 3).
    let mut c = ring.consumer().name("mixed").open().unwrap();
    for _ in 0..4 {
        c.next(Duration::from_millis(100)).unwrap();
    }
    drop(c);
    assert_eq!(stored(&ring, "mixed"), 4);
    let mut c = ring.consumer().name("mixed").open().unwrap();
    match c.next_block(Duration::from_millis(200)).unwrap() {
        Some(BlockItem::Block(b)) => assert_eq!((b.height, b.begin_seq, b.events.len()), (5, 1, 6)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn next_block_reports_the_rest_of_a_block_whose_begin_marker_is_gone() {
    let ring = Ring::new("mid-block-gone");
    let mut p = ring.producer(4096);
    // The oldest record left in the ring is inside a block.
    for h in 1..=30 {
        block(&mut p, h, 1);
    }
    let mut c = ring.consumer().start(Start::Oldest).open().unwrap();
    let oldest = c.next_seq();
    assert!(oldest > 1);
    let first = c.next_block(Duration::from_millis(200)).unwrap();
    let Some(BlockItem::Lagged(m)) = first else {
        // The oldest record happened to be a begin marker: nothing to report.
        assert!(matches!(first, Some(BlockItem::Block(_))), "{first:?}");
        return;
    };
    assert_eq!(m.first_missed, oldest);
    assert!(
        m.first_partial,
        "its earlier events are not in the ring: {m}"
    );
    assert_eq!(m.first_height, m.last_height);
    match c.next_block(Duration::from_millis(200)).unwrap() {
        Some(BlockItem::Block(b)) => {
            assert_eq!(b.begin_seq, m.last_missed + 1);
            assert_eq!(Some(b.height - 1), m.last_height);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_lag_names_its_heights_and_partial_blocks() {
    // Event API: the heights and partial flags follow from the events on
    // either side of the gap.
    let ring = Ring::new("lag-heights");
    let mut p = ring.producer(64 << 10);
    block(&mut p, 1, 4); // 1..=8
    let mut c = ring.consumer().start(Start::Oldest).open().unwrap();
    let mut before = collect(&mut c, 3);
    for h in 2..=400 {
        block(&mut p, h, 4);
    }
    before.extend(collect(&mut c, 1_000_000));
    let at = before
        .iter()
        .position(|i| matches!(i, OwnedItem::Lagged(_)))
        .expect("a lap");
    let OwnedItem::Lagged(m) = before[at] else {
        unreachable!()
    };
    let (OwnedItem::Event(prev), OwnedItem::Event(next)) = (&before[at - 1], &before[at + 1])
    else {
        panic!("{before:?}")
    };
    assert_eq!(
        (prev.seq + 1, next.seq - 1),
        (m.first_missed, m.last_missed)
    );
    let prev_commit = prev.kind() == EventKind::BlockCommit;
    let ph = prev.event().block_height();
    assert_eq!(
        m.first_height,
        Some(if prev_commit { ph + 1 } else { ph }),
        "{m}"
    );
    assert_eq!(m.first_partial, !prev_commit, "{m}");
    let h = next.event().block_height();
    let is_begin = next.kind() == EventKind::BlockBegin;
    assert_eq!(m.last_height, Some(if is_begin { h - 1 } else { h }), "{m}");
    assert_eq!(m.last_partial, !is_begin, "{m}");
    assert!(
        m.to_string()
            .starts_with(&format!("missed seqs {}..=", m.first_missed)),
        "{m}"
    );

    // next_block: the range is widened to whole blocks, from the begin
    // marker of the block it cut into to the next begin marker.
    let ring = Ring::new("lag-blocks");
    let mut p = ring.producer(64 << 10);
    let mut c = ring.consumer().start(Start::Oldest).open().unwrap();
    block(&mut p, 1, 2);
    assert!(matches!(
        c.next_block(Duration::from_millis(200)).unwrap(),
        Some(BlockItem::Block(_))
    ));
    p.begin_block(2).unwrap();
    p.mapping_update_at(2, b"p", b"m", b"k", b"v").unwrap();
    p.flush();
    assert!(c.next_block(Duration::from_millis(20)).unwrap().is_none()); // inside block 2
    p.commit_block().unwrap();
    for h in 3..=400 {
        block(&mut p, h, 4);
    }
    let m = match c.next_block(Duration::from_millis(200)).unwrap() {
        Some(BlockItem::Lagged(m)) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(m.first_missed, 7, "from block 2's begin marker: {m}");
    assert_eq!(
        (m.first_height, m.first_partial, m.last_partial),
        (Some(2), false, false),
        "{m}"
    );
    match c.next_block(Duration::from_millis(200)).unwrap() {
        Some(BlockItem::Block(b)) => {
            assert_eq!(b.begin_seq, m.last_missed + 1);
            assert_eq!(Some(b.height - 1), m.last_height);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_filter_without_the_block_markers_still_gives_whole_blocks() {
    let ring = Ring::new("filter-blocks");
    let mut p = ring.producer(1 << 20);
    let mut c = ring
        .consumer()
        .kinds(KindSet::none().with(EventKind::MappingUpdate))
        .program("token.aleo")
        .open()
        .unwrap();
    block(&mut p, 1, 6);
    block(&mut p, 2, 2);
    let got: Vec<(u64, usize)> =
        std::iter::from_fn(|| c.next_block(Duration::from_millis(200)).unwrap())
            .map(|b| match b {
                BlockItem::Block(b) => {
                    assert!(b
                        .events
                        .iter()
                        .all(|e| e.kind() == EventKind::MappingUpdate));
                    (b.height, b.events.len())
                }
                other => panic!("{other:?}"),
            })
            .collect();
    assert_eq!(
        got,
        [(1, 3), (2, 1)],
        "the markers are kept for assembly, the events filtered"
    );
    // The event API with the same filter: events only, no markers.
    let mut e = ring
        .consumer()
        .kinds(KindSet::none().with(EventKind::MappingUpdate))
        .open()
        .unwrap();
    assert_eq!(events(&collect(&mut e, 100)).len(), 8);
}

#[test]
fn an_event_the_producer_refused_makes_its_block_incomplete() {
    let ring = Ring::new("refused");
    let mut p = Producer::open(
        &ring.0,
        ProducerOptions {
            layout: Layout::new(1 << 16).max_payload(256),
            ..Default::default()
        },
    )
    .unwrap();
    let mut c = ring.consumer().open().unwrap();
    p.begin_block(3).unwrap();
    p.mapping_update(b"p", b"m", b"k", b"v").unwrap();
    assert!(p.block_at(3, &[0; 300]).is_err());
    p.commit_block().unwrap();
    block(&mut p, 4, 1);
    match c.next_block(Duration::from_millis(200)).unwrap() {
        Some(BlockItem::Incomplete {
            height: 3,
            first_seq: 1,
            last_seq: 3,
            reason,
        }) => {
            assert!(reason.contains("refused"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(c.next_block(Duration::from_millis(200)).unwrap(), Some(BlockItem::Block(b)) if b.height == 4)
    );
}

#[test]
fn start_positions_not_available_have_one_error_and_the_future_is_waited_for() {
    let ring = Ring::new("starts");
    let mut p = ring.producer(4096);
    for h in 10..=60 {
        block(&mut p, h, 1);
    }
    // An overwritten sequence number and an overwritten height: one shape.
    let by_seq = ring.consumer().start(Start::Seq(1)).open().unwrap_err();
    let by_height = ring.consumer().start(Start::Height(10)).open().unwrap_err();
    for e in [&by_seq, &by_height] {
        let ConsumerError::StartUnavailable { available, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(available.next_seq, p.next_seq());
        assert!(available.oldest_seq > 1);
        assert!(available.oldest_height.unwrap() > 10);
        assert_eq!(available.newest_height, Some(60));
        assert!(e.to_string().contains("no longer in the ring"), "{e}");
        assert!(
            e.to_string().contains(&format!("next is {}", p.next_seq())),
            "{e}"
        );
    }
    // Height 0: the oldest block retained.
    let mut c = ring.consumer().start(Start::Height(0)).open().unwrap();
    let oldest = match by_height {
        ConsumerError::StartUnavailable { available, .. } => available.oldest_height.unwrap(),
        _ => unreachable!(),
    };
    assert!(
        matches!(c.next_block(Duration::from_millis(200)).unwrap(), Some(BlockItem::Block(b)) if b.height == oldest)
    );
    // A future sequence number and a future height both wait.
    let next = p.next_seq();
    let mut by_seq = ring.consumer().start(Start::Seq(next + 7)).open().unwrap();
    let mut by_height = ring.consumer().start(Start::Height(63)).open().unwrap();
    assert!(by_seq.next(Duration::from_millis(20)).unwrap().is_none());
    assert!(by_height.next(Duration::from_millis(20)).unwrap().is_none());
    for h in 61..=64 {
        block(&mut p, h, 1);
    }
    assert_eq!(events(&collect(&mut by_seq, 1))[0].seq, next + 7);
    let first = events(&collect(&mut by_height, 1))[0].clone();
    assert_eq!(
        (first.kind(), first.event().block_height()),
        (EventKind::BlockBegin, 63)
    );
    assert_eq!("height:0".parse::<Start>(), Ok(Start::Height(0)));
    assert_eq!(Start::Height(5).to_string(), "height:5");
}

#[cfg(feature = "tokio")]
#[test]
fn the_async_streams_commit_only_what_the_application_acknowledged() {
    use futures_core::Stream;
    let ring = Ring::new("stream-commit");
    let mut p = ring.producer(1 << 20);
    for h in 1..=10 {
        block(&mut p, h, 2); // 6 records each: seqs 1..=60
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let poll = |s: &mut slipstream_consumer::EventStream| {
        rt.block_on(std::future::poll_fn(|cx| {
            std::pin::Pin::new(&mut *s).poll_next(cx)
        }))
    };
    // Automatic: five items received; the fifth is in flight when the stream is dropped.
    let mut s = ring
        .consumer()
        .name("async")
        .open()
        .unwrap()
        .into_stream(64);
    for _ in 0..5 {
        poll(&mut s).unwrap().unwrap();
    }
    std::thread::sleep(Duration::from_millis(100)); // the reader thread runs ahead
    drop(s);
    assert_eq!(
        stored(&ring, "async"),
        5,
        "items 1..=4 acknowledged, not the read-ahead"
    );
    // Manual: only commit() stores, and it stores what was received.
    let mut s = ring
        .consumer()
        .name("async-manual")
        .auto_commit(false)
        .open()
        .unwrap()
        .into_stream(64);
    for _ in 0..3 {
        poll(&mut s).unwrap().unwrap();
    }
    s.commit();
    for _ in 0..3 {
        poll(&mut s).unwrap().unwrap();
    }
    drop(s);
    assert_eq!(stored(&ring, "async-manual"), 4);
    // Blocks: the cursor stored is a block boundary.
    let mut b = ring
        .consumer()
        .name("async-blocks")
        .open()
        .unwrap()
        .into_block_stream(4);
    let mut got = vec![];
    for _ in 0..3 {
        let item = rt
            .block_on(std::future::poll_fn(|cx| {
                std::pin::Pin::new(&mut b).poll_next(cx)
            }))
            .unwrap()
            .unwrap();
        match item {
            BlockItem::Block(b) => got.push(b.height),
            other => panic!("{other:?}"),
        }
    }
    b.commit();
    drop(b);
    assert_eq!(got, [1, 2, 3]);
    assert_eq!(
        stored(&ring, "async-blocks"),
        19,
        "after block 3's commit marker"
    );
}
