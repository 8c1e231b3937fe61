//! Consumer faults, with a producer writing throughout.
//!
//! Consumers that are killed mid-read, stopped for seconds, scribble on their
//! own cursor slot, or come and go by the hundred while a producer writes.
//!
//! What is asserted is deterministic: exact coverage of sequence numbers (every
//! event delivered, or inside a reported lag, never skipped silently), slot
//! liveness, typed errors that name the problem, exit statuses, and stderr
//! that names the path. Time enters only as deadlines (nothing may hang) and
//! as loose bounds on the producer's own cost per publish.
//!
//! Random inputs come from a seeded generator; every test prints its seed.
//! `SLIPSTREAM_FAULT_SEED=N` replays a run, `SLIPSTREAM_FAULT_ITERS=N` sets the
//! iteration count of the randomised tests (default 200 each). The harness is
//! `slipstream_tests::faults` and `slipstream-testkit`.
//!
//! Needs the tools built in the same profile (`cargo build -p slipstream-tools`,
//! or `cargo test --workspace`).

use nix::sys::signal::Signal;
use serde_json::Value;
use slipstream_consumer::{Consumer, ConsumerError, Item, Start};
use slipstream_producer::Producer;
use slipstream_ring::{Layout, SeekError, SlotError};
use slipstream_tests::faults::*;
use slipstream_tests::process::{is_asleep_on_futex, is_stopped, run, wait_until, Spawned};
use slipstream_tests::rng::Rng;
use slipstream_tests::tools::{sim, stat, tail};
use slipstream_tests::TempRing;
use std::collections::BTreeMap;
use std::fs::File;

use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

// 3. Consumer faults, with a producer writing throughout.
// ---------------------------------------------------------------------------

/// A consumer killed (SIGKILL) while it reads flat-out traffic: the producer
/// and another consumer do not notice, its slot shows dead, and a new name
/// takes the slot when the table is full.
#[test]
fn a_killed_consumer_harms_no_one_and_its_slot_is_reclaimed() {
    let ring = TempRing::new("fault-kill");
    let path = ring.path();
    // Two reader slots: one for the witness, one for the victim.
    create_ring(path, Layout::new(4 << 20).max_payload(64 << 10));
    let mut witness = named(path, "witness");
    let mut cover = Cover::from(1);
    let mut node = Spawned::spawn(sim(
        path,
        &[
            "--flat-out",
            "--duration",
            "4s",
            "--events-per-block",
            "20..200",
            "--stakers",
            "1..5",
            "--block-size",
            "1KiB..8KiB",
            "--quiet",
        ],
    ));
    let mut victim = Some(Spawned::spawn(tail(
        path,
        &["--json", "--from", "oldest", "--name", "victim"],
    )));
    let mut victim_lines = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the test did not finish in time");
        for _ in 0..20_000 {
            match witness.next(Duration::from_millis(2)) {
                Ok(Some(item)) => cover.item("witness", &item),
                Ok(None) => break,
                Err(e) => panic!("witness: {e}"),
            }
        }
        if let Some(v) = victim.as_mut() {
            while v.lines.try_recv().is_ok() {
                victim_lines += 1;
            }
            // `slipstream-tail --name` commits after every 4096 events it
            // printed (or when idle, which it never is here): kill it only
            // once lines past its first commit have reached us, so that its
            // cursor has moved (a line after the 4096th is written after it).
            if victim_lines >= 8192 {
                assert!(
                    node.running(),
                    "the producer stopped before the consumer was killed mid-read"
                );
                v.signal(Signal::SIGKILL);
                let out = victim.take().unwrap().finish(Duration::from_secs(20));
                assert_eq!(out.status.signal(), Some(Signal::SIGKILL as i32));
            }
        }
        if victim.is_none() && !node.running() {
            break;
        }
    }
    node.finish(Duration::from_secs(60)).assert_success();
    let end = head(path).next_seq;
    drain_to(&mut witness, &mut cover, "witness", end);
    eprintln!(
        "witness: {} events and {} lags (first {:?}), exact; the victim printed {victim_lines} lines before SIGKILL; {} events in all",
        cover.events,
        cover.lags.len(),
        &cover.lags[..cover.lags.len().min(3)],
        end - 1
    );

    // The victim's cursor is there and dead; the witness's is live.
    let victim_slot = slot_named(path, "victim").expect("the victim's cursor");
    assert_eq!(victim_slot.live, Some(false), "{victim_slot:?}");
    assert!(victim_slot.next_seq > 1, "{victim_slot:?}");
    let witness_slot = slot_named(path, "witness").expect("the witness's cursor");
    assert_eq!(witness_slot.live, Some(true), "{witness_slot:?}");
    // `slipstream stat` says the same.
    let out = run(stat(path, &["--json", "--interval", "0s"]), CLI_LIMIT);
    out.assert_success();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let live_of = |name: &str| {
        v["readers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("stat lists {name}: {v}"))["live"]
            .as_bool()
            .unwrap()
    };
    assert!(!live_of("victim") && live_of("witness"), "{v}");

    // Nothing was evicted; the next claimant of the dead name takes its
    // cursor over and resumes from it.
    let mut again = Consumer::builder(path)
        .name("victim")
        .start(Start::End)
        .open()
        .unwrap();
    match again.try_next().unwrap() {
        Some(Item::Event(e)) => assert_eq!(e.seq, victim_slot.next_seq),
        Some(Item::Lagged(l)) => assert_eq!(l.first_missed, victim_slot.next_seq),
        other => panic!("the reclaimed name's first item: {other:?}"),
    }
    assert_eq!(slot_named(path, "victim").unwrap().live, Some(true));
    // While it lives, the name is refused to another, from the SDK and the CLI.
    let err = Consumer::builder(path).name("victim").open().unwrap_err();
    assert!(
        matches!(
            err,
            ConsumerError::Slot {
                source: SlotError::NameInUse { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    run(tail(path, &["--name", "victim"]), CLI_LIMIT)
        .assert_refused(path, &["is in use by live process"]);
    drop(again);
}

/// A consumer stopped (SIGSTOP) while the producer writes many laps: the
/// producer's head keeps rising, the stopped consumer keeps its slot, and once
/// continued it reports exactly one lag, with the exact range.
#[test]
fn a_stopped_consumer_costs_the_producer_nothing_and_learns_its_exact_gap() {
    let ring = TempRing::new("fault-stop");
    let path = ring.path();
    let capacity = 1u64 << 20;
    create_ring(path, Layout::new(capacity).max_payload(64 << 10));
    let sleeper = Spawned::spawn(tail(
        path,
        &[
            "--json",
            "--name",
            "sleeper",
            "--from",
            "end",
            "--timeout",
            "2s",
        ],
    ));
    // Attached and idle: its slot claimed, its start stored, and asleep waiting
    // for events. A SIGSTOP earlier (the slot live, its cursor still 0, or its
    // start not yet resolved) leaves a consumer that, resumed, attaches at the
    // end it then finds and has no gap to learn.
    wait_until("the consumer attaches", Duration::from_secs(30), || {
        slot_named(path, "sleeper")
            .is_some_and(|s| s.live == Some(true) && s.next_seq == head(path).next_seq)
            && is_asleep_on_futex(sleeper.pid())
    });
    sleeper.signal(Signal::SIGSTOP);
    wait_until("the consumer stops", Duration::from_secs(10), || {
        is_stopped(sleeper.pid())
    });
    let start = head(path).next_seq;
    let mut node = Spawned::spawn(sim(
        path,
        &[
            "--flat-out",
            "--duration",
            "4s",
            "--events-per-block",
            "50..200",
            "--block-size",
            "8KiB..60KiB",
            "--quiet",
        ],
    ));
    wait_until("the producer publishes", Duration::from_secs(30), || {
        assert!(node.running(), "the producer exited early");
        head(path).next_seq > start
    });
    let a = head(path);
    thread::sleep(Duration::from_secs(1));
    let b = head(path);
    assert!(node.running(), "the producer ran through the measurement");
    assert!(
        is_stopped(sleeper.pid()),
        "the consumer was stopped throughout"
    );
    assert!(
        b.next_seq > a.next_seq && b.tail - a.tail >= 3 * capacity,
        "the producer kept publishing, laps over the stopped consumer: {a:?} then {b:?}"
    );
    eprintln!(
        "while the consumer was stopped, the producer published {} events ({:.1} laps) in 1 s",
        b.next_seq - a.next_seq,
        (b.tail - a.tail) as f64 / capacity as f64
    );
    // The stopped consumer still holds its slot, with its cursor where it stopped.
    let s = slot_named(path, "sleeper").unwrap();
    assert_eq!(s.live, Some(true), "{s:?}");
    assert_eq!(s.next_seq, start, "{s:?}");
    node.finish(Duration::from_secs(60)).assert_success();
    let last = head(path).next_seq - 1;

    sleeper.signal(Signal::SIGCONT);
    let out = sleeper.finish(Duration::from_secs(60));
    out.assert_success();
    let mut cover = Cover::from(start);
    for line in out.stdout.lines() {
        cover.json("sleeper", line);
    }
    assert_eq!(cover.lags.len(), 1, "one lag report: {:?}", cover.lags);
    assert_eq!(cover.lags[0].0, start, "the gap starts where it stopped");
    assert_eq!(cover.next, Some(last + 1), "and it read to the end");
    eprintln!(
        "after SIGCONT: lag {:?}, then {} events to {last}",
        cover.lags[0], cover.events
    );
}

/// Writes 56 random bytes over a cursor's fields (offsets 80 to 136 of its
/// file: ring_id, next_seq, position, attached time, delivered, missed, laps).
fn scribble(file: &File, rng: &mut Rng) {
    let mut garbage = [0u8; 56];
    rng.fill(&mut garbage);
    file.write_all_at(&garbage, 80).expect("pwrite the cursor");
}

/// What a consumer resuming from a cursor must do, given the ring it finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// No usable cursor (another ring's id, or none): start afresh, at the oldest.
    Fresh,
    /// The cursor is past the end: a clear error.
    Future { requested: u64, next: u64 },
    /// The cursor is the end: nothing to read yet.
    AtEnd,
    /// The cursor is retained: resume exactly there.
    Exact(u64),
    /// The cursor was overwritten: a lag from it, exactly, then events.
    Lag(u64),
}

impl Expect {
    fn of(ring_id_matches: bool, next_seq: u64, oldest: u64, end: u64) -> Expect {
        if !ring_id_matches || next_seq == 0 {
            Expect::Fresh
        } else if next_seq > end {
            Expect::Future {
                requested: next_seq,
                next: end,
            }
        } else if next_seq == end {
            Expect::AtEnd
        } else if next_seq >= oldest {
            Expect::Exact(next_seq)
        } else {
            Expect::Lag(next_seq)
        }
    }
}

/// A sequence number for a garbage cursor: mostly the interesting ones.
fn pick_seq(rng: &mut Rng, oldest: u64, end: u64) -> u64 {
    match rng.below(12) {
        0 => 0,
        1 => 1,
        2 => oldest.saturating_sub(1).max(1),
        3 => oldest,
        4 => oldest + rng.below(end - oldest),
        5 => end - 1,
        6 => end,
        7 => end + 1 + rng.below(1000),
        8 => u64::MAX - rng.below(2),
        9 => 1 + rng.below(end),
        _ => rng.next_u64(),
    }
}

/// Checks an SDK consumer resuming under `name` against `expect`, then reads
/// to the end with exact coverage. Returns a word for the summary.
fn check_resume(path: &Path, name: &str, expect: Expect, oldest: u64, end: u64) -> &'static str {
    let who = format!("{name} resuming ({expect:?}, oldest {oldest}, end {end})");
    let opened = Consumer::builder(path)
        .name(name)
        .start(Start::Oldest)
        .open();
    let mut c = match (expect, opened) {
        (Expect::Future { requested, next }, Err(e)) => {
            assert!(
                matches!(
                    e,
                    ConsumerError::Seek(SeekError::InFuture { requested: r, next: n })
                        if r == requested && n == next
                ),
                "{who}: {e:?}"
            );
            assert!(e.to_string().contains("has not been written yet"), "{e}");
            return "clear error: cursor in the future";
        }
        (_, Err(e)) => panic!("{who}: {e:?}"),
        (Expect::Future { .. }, Ok(c)) => panic!("{who}: attached at {}", c.next_seq()),
        (_, Ok(c)) => c,
    };
    let mut cover = Cover::default();
    let at = c.next_seq();
    let first = c.try_next().unwrap_or_else(|e| panic!("{who}: {e}"));
    let outcome = match (expect, first) {
        (Expect::Fresh, Some(Item::Event(e))) if e.seq == oldest => "fresh start at the oldest",
        (Expect::AtEnd, None) if at == end => "resumed at the end",
        (Expect::Exact(n), Some(Item::Event(e))) if e.seq == n => "exact resume",
        (Expect::Lag(n), Some(Item::Lagged(l)))
            if l.first_missed == n && l.last_missed + 1 >= oldest && l.last_missed < end =>
        {
            "exact lag, then the oldest retained"
        }
        (_, other) => panic!("{who}: first item {other:?}"),
    };
    // The first item was checked above; go on from after it.
    cover.next = Some(c.next_seq());
    drain_to(&mut c, &mut cover, &who, end);
    outcome
}

/// A consumer that scribbles on its own cursor slot, live or dead: the
/// producer and the other consumers do not notice; a consumer resuming under
/// a scribbled name resumes exactly, fails with a clear error, or starts
/// afresh, and reports every gap exactly; nothing panics.
#[test]
fn garbage_in_cursor_slots_never_panics_and_never_skips_silently() {
    let mut rng = rng_for("garbage_in_cursor_slots");
    let ring = TempRing::new("fault-garbage");
    let path = ring.path().to_path_buf();
    let layout = Layout::new(256 << 10).max_payload(8 << 10);
    let geo = layout.geometry().unwrap();
    let mut producer = Producer::open(&path, options(layout)).unwrap();
    let mut height = 1;
    publish_blocks(&mut producer, &mut height, 5);
    let ring_id = u64::from_le_bytes(
        read_at(&File::open(&path).unwrap(), 56, 8)
            .try_into()
            .unwrap(),
    );

    // A consumer that read a little and left: a dead slot with a cursor.
    {
        let mut c = named(&path, "scribbled-dead");
        for _ in 0..10 {
            c.try_next().unwrap();
        }
    }
    let mut live = named(&path, "scribbled-live");
    let mut witness = named(&path, "witness");
    let live_slot = slot_named(&path, "scribbled-live").unwrap();
    let dead_slot = slot_named(&path, "scribbled-dead").unwrap();
    assert!(live_slot.live == Some(true) && dead_slot.live == Some(false));
    let live_file = cursor_file(&path, "scribbled-live");
    let dead_file = cursor_file(&path, "scribbled-dead");
    let (mut live_cover, mut witness_cover) = (Cover::from(1), Cover::from(1));

    // 1. The producer publishes from a thread while both slots get garbage.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut published = 0;
            while !stop.load(Ordering::Relaxed) {
                published += publish_blocks(&mut producer, &mut height, 1);
            }
            (producer, height, published)
        })
    };
    let scribbles = (iters() / 2).max(10);
    for i in 0..scribbles {
        scribble(&live_file, &mut rng);
        if i % 10 == 0 {
            // All ones, the garbage of a memset(-1): counters at their maximum.
            live_file.write_all_at(&[0xff; 56], 80).unwrap();
        }
        scribble(&dead_file, &mut rng);
        read_burst(&mut live, &mut live_cover, "scribbled-live", 300);
        read_burst(&mut witness, &mut witness_cover, "witness", 300);
        thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::Relaxed);
    let (mut producer, mut height, published) = writer
        .join()
        .expect("every publish returned Ok while slots were scribbled on");
    let end = producer.next_seq();
    drain_to(&mut live, &mut live_cover, "scribbled-live", end);
    drain_to(&mut witness, &mut witness_cover, "witness", end);
    eprintln!(
        "{scribbles} scribbles on a live and a dead slot while {published} events were published; \
         the scribbled live consumer saw {} events and {} lags, the witness {} and {}, all exact",
        live_cover.events,
        live_cover.lags.len(),
        witness_cover.events,
        witness_cover.lags.len()
    );

    // The live consumer's cursor is written again as it moves on, and a
    // restart under its name resumes exactly there.
    scribble(&live_file, &mut rng);
    publish_blocks(&mut producer, &mut height, 1);
    drain_to(
        &mut live,
        &mut live_cover,
        "scribbled-live",
        producer.next_seq(),
    );
    // Asking for more (nothing comes) moves past the last event drained:
    // a drop then stores everything (it never stores the item in flight).
    assert!(live.try_next().unwrap().is_none());
    let saved = live.next_seq();
    drop(live);
    let s = slot_named(&path, "scribbled-live").unwrap();
    assert_eq!(
        (s.ring_id, s.next_seq),
        (ring_id, saved),
        "the cursor was rewritten"
    );
    publish_blocks(&mut producer, &mut height, 1);
    let mut again = named(&path, "scribbled-live");
    match again.try_next().unwrap() {
        Some(Item::Event(e)) => assert_eq!(e.seq, saved, "resumed exactly"),
        other => panic!("after a restart: {other:?}"),
    }
    drop(again);
    drop(witness);

    // 2. Resuming from garbage, against what the ring holds (quiescent while checked).
    let mut tally = BTreeMap::<String, u64>::new();
    for i in 0..iters() {
        if i % 8 == 0 {
            publish_blocks(&mut producer, &mut height, 1 + rng.below(6));
        }
        let slot = slot_named(&path, "scribbled-dead").unwrap();
        assert_eq!(
            slot.live,
            Some(false),
            "iteration {i}: {slot:?} {:?}",
            slots(&path)
        );
        let (oldest, end) = (oldest(&path), producer.next_seq());
        let mut garbage = [0u8; 56];
        rng.fill(&mut garbage);
        let id_matches = rng.chance(3, 4);
        if id_matches {
            garbage[0..8].copy_from_slice(&ring_id.to_le_bytes());
        }
        let next_seq = pick_seq(&mut rng, oldest, end);
        garbage[8..16].copy_from_slice(&next_seq.to_le_bytes());
        let position = match rng.below(4) {
            0 => head(&path).tail,
            1 => head(&path).tail.saturating_sub(rng.below(geo.capacity)) & !7,
            _ => rng.next_u64(),
        };
        garbage[16..24].copy_from_slice(&position.to_le_bytes());
        let expect = Expect::of(id_matches && ring_id != 0, next_seq, oldest, end);
        let off = 80;
        dead_file.write_all_at(&garbage, off).unwrap();
        if i % 25 == 0 {
            // The command-line tools on the same garbage.
            run(stat(&path, &["--json", "--interval", "0s"]), CLI_LIMIT).assert_success();
            let out = run(
                tail(
                    &path,
                    &[
                        "--json",
                        "--name",
                        "scribbled-dead",
                        "--from",
                        "oldest",
                        "--no-follow",
                    ],
                ),
                CLI_LIMIT,
            );
            match expect {
                Expect::Future { .. } => {
                    out.assert_refused(&path, &["has not been written yet"]);
                }
                _ => {
                    out.assert_success();
                    let mut cover = match expect {
                        Expect::Fresh => Cover::from(oldest),
                        Expect::Exact(n) | Expect::Lag(n) => Cover::from(n),
                        _ => Cover::from(end),
                    };
                    for line in out.stdout.lines() {
                        cover.json("slipstream-tail --name scribbled-dead", line);
                    }
                    assert_eq!(cover.next, Some(end), "{expect:?}: tail read to the end");
                    assert_eq!(
                        cover.lags.len(),
                        matches!(expect, Expect::Lag(_)) as usize,
                        "{expect:?}: {:?}",
                        cover.lags
                    );
                }
            }
            dead_file.write_all_at(&garbage, off).unwrap();
        }
        let outcome = check_resume(&path, "scribbled-dead", expect, oldest, end);
        *tally.entry(outcome.to_string()).or_default() += 1;
    }
    print_tally(
        &format!("{} resumes from a garbage cursor", iters()),
        &tally,
    );

    // A cursor garbled whole (magic, name, pid too): the list still reads
    // (naming the problem), the tools still work, and the name starts afresh.
    let mut garbage = [0u8; 136];
    rng.fill(&mut garbage);
    dead_file.write_all_at(&garbage, 0).unwrap();
    assert_eq!(slots(&path).len(), 3);
    assert!(slot_named(&path, "scribbled-dead")
        .unwrap()
        .problem
        .is_some());
    run(stat(&path, &["--interval", "0s"]), CLI_LIMIT).assert_success();
    let end = producer.next_seq();
    let oldest = oldest(&path);
    assert_eq!(
        check_resume(&path, "scribbled-dead", Expect::Fresh, oldest, end),
        "fresh start at the oldest"
    );
}

/// A hundred named consumers attach and leave (threads, sequentially and
/// concurrently, and processes, some killed) while a producer publishes flat
/// out: the producer's cost per publish does not change and it never stalls;
/// afterwards no slot is live and every slot can be claimed again.
#[test]
fn a_hundred_consumers_coming_and_going_cost_the_producer_nothing() {
    let ring = TempRing::new("fault-churn");
    let path = ring.path().to_path_buf();
    let slots_n = 16usize;
    let layout = Layout::new(4 << 20).max_payload(64 << 10);
    let mut producer = Producer::open(&path, options(layout)).unwrap();

    /// What the producer measured in one phase.
    #[derive(Clone, Copy, Debug, Default)]
    struct Phase {
        published: u64,
        cpu_ns: u64,
        wall_ns: u64,
        /// Longest wall time between two consecutive blocks.
        max_gap_ns: u64,
    }
    // 0 quiet, 1 churn, 2 quiet again, 3 stop.
    let phase = Arc::new(AtomicU8::new(0));
    let writer = {
        let phase = phase.clone();
        thread::spawn(move || {
            let mut phases = [Phase::default(); 3];
            let mut height = 1;
            let mut current = 0u8;
            let (mut cpu0, mut wall0, mut last) = (thread_cpu_ns(), Instant::now(), Instant::now());
            loop {
                let n = publish_blocks(&mut producer, &mut height, 1);
                let now = Instant::now();
                let p = &mut phases[current as usize];
                p.published += n;
                p.max_gap_ns = p.max_gap_ns.max((now - last).as_nanos() as u64);
                last = now;
                let seen = phase.load(Ordering::Relaxed);
                if seen != current {
                    let cpu = thread_cpu_ns();
                    p.cpu_ns = cpu - cpu0;
                    p.wall_ns = (now - wall0).as_nanos() as u64;
                    (cpu0, wall0, current) = (cpu, now, seen);
                    if seen == 3 {
                        return phases;
                    }
                }
            }
        })
    };
    thread::sleep(Duration::from_millis(800));
    phase.store(1, Ordering::Relaxed);

    // The churn: 3 threads of 30 consumers each, one after the other in each
    // thread; and 10 processes, two at a time, half of them killed mid-read.
    let churn_started = Instant::now();
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let path = path.clone();
            thread::spawn(move || {
                for i in 0..30 {
                    let name = format!("churn-t{t}-{i}");
                    let mut c = Consumer::builder(&path)
                        .name(&name)
                        .start(if i % 2 == 0 {
                            Start::End
                        } else {
                            Start::Oldest
                        })
                        .open()
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                    let mut cover = Cover::default();
                    for _ in 0..(i * 37 % 300) {
                        match c.next(Duration::from_millis(5)) {
                            Ok(Some(item)) => cover.item(&name, &item),
                            Ok(None) => {}
                            Err(e) => panic!("{name}: {e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for pair in 0..5 {
        let kids: Vec<Spawned> = (0..2)
            .map(|k| {
                let name = format!("churn-p{}", pair * 2 + k);
                let mut args = vec!["--json", "--name", &name, "--from", "end"];
                if k == 0 {
                    args.extend(["--count", "200"]);
                }
                Spawned::spawn(tail(&path, &args))
            })
            .collect();
        for (k, kid) in kids.into_iter().enumerate() {
            if k == 1 {
                // Killed after its first line.
                kid.lines
                    .recv_timeout(Duration::from_secs(30))
                    .expect("a line from the consumer");
                kid.signal(Signal::SIGKILL);
                let out = kid.finish(CLI_LIMIT);
                assert_eq!(out.status.signal(), Some(Signal::SIGKILL as i32));
            } else {
                let out = kid.finish(CLI_LIMIT);
                out.assert_success();
                let mut cover = Cover::default();
                for line in out.stdout.lines() {
                    cover.json("churn process", line);
                }
            }
        }
    }
    for t in threads {
        t.join()
            .expect("every churn consumer attached and read exactly");
    }
    let churn_time = churn_started.elapsed();
    // Let the churn phase last long enough to measure.
    if churn_time < Duration::from_millis(800) {
        thread::sleep(Duration::from_millis(800) - churn_time);
    }
    phase.store(2, Ordering::Relaxed);
    thread::sleep(Duration::from_millis(800));
    phase.store(3, Ordering::Relaxed);
    let phases = writer.join().expect("every publish returned Ok");

    let per_cpu = |p: &Phase| p.published as f64 / (p.cpu_ns.max(1) as f64 / 1e9);
    let per_wall = |p: &Phase| p.published as f64 / (p.wall_ns.max(1) as f64 / 1e9);
    let quiet_cpu = (per_cpu(&phases[0]) + per_cpu(&phases[2])) / 2.0;
    let quiet_wall = (per_wall(&phases[0]) + per_wall(&phases[2])) / 2.0;
    let churn = &phases[1];
    eprintln!(
        "100 consumers in {:.2} s. Producer, events per CPU-second: quiet {:.0} / {:.0}, churn {:.0} \
         ({:.2}x); per wall-second: quiet {:.0} / {:.0}, churn {:.0} ({:.2}x); longest gap between \
         blocks: quiet {:.1} ms / {:.1} ms, churn {:.1} ms",
        churn_time.as_secs_f64(),
        per_cpu(&phases[0]),
        per_cpu(&phases[2]),
        per_cpu(churn),
        per_cpu(churn) / quiet_cpu,
        per_wall(&phases[0]),
        per_wall(&phases[2]),
        per_wall(churn),
        per_wall(churn) / quiet_wall,
        phases[0].max_gap_ns as f64 / 1e6,
        phases[2].max_gap_ns as f64 / 1e6,
        churn.max_gap_ns as f64 / 1e6,
    );
    // The producer's own cost per publish (CPU time, immune to the scheduler
    // giving the churn the cores) stays within a loose bound...
    assert!(
        per_cpu(churn) >= 0.3 * quiet_cpu,
        "the producer's cost per publish grew under churn"
    );
    // ...and it was never held up: a stall of seconds would mean it waited.
    assert!(
        churn.max_gap_ns < 2_000_000_000,
        "the producer stalled for {} ms during the churn",
        churn.max_gap_ns / 1_000_000
    );

    // Afterwards: no live cursor, one file per name, every name claimable again.
    let table = slots(&path);
    assert!(table.iter().all(|s| s.live == Some(false)), "{table:?}");
    assert_eq!(table.len(), 100, "one cursor per name, none evicted");
    let held: Vec<Consumer> = (0..slots_n)
        .map(|i| named(&path, &format!("churn-t0-{i}")))
        .collect();
    assert_eq!(
        slots(&path).iter().filter(|s| s.live == Some(true)).count(),
        slots_n
    );
    drop(held);
}
