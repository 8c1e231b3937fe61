//! criterion micro-benchmarks of the ring, in one process.
//!
//! `cargo bench -p slipstream-benches --bench micro` (add `-- publish` etc. to
//! filter). Groups:
//! - `publish/SIZE`: reserve, encode in place (a memcpy of SIZE bytes), commit,
//!   in the default wake mode (deferred: no system call).
//! - `consume/SIZE`: copy out, validate and hand over one record, reading a
//!   batch the benchmark published beforehand (publishing is not timed).
//! - `consume_batch/SIZE`: the same with `Reader::receive` (a handler per record).
//! - `decode_event/SIZE`: consume plus decoding the event payload.
//! - `round_trip/128`: publish one 128-byte record, then read it.
//! - `publish_readers/...`: publish of 128 bytes with readers attached (threads
//!   that drain the ring every 50 µs; `1_spinning`: one that spins on
//!   `try_next` without a pause), an attached reader that never reads
//!   (what a stopped consumer is to the producer), and one asleep on the
//!   futex (deferred wake-ups; and immediate ones, which pay the wake call).
//! - `publish_paced/...`: the same publish in bursts of 100 with a 5 µs pause
//!   after each (only the bursts timed), so that readers keep up, as they do
//!   with a node, which publishes far below the ring's rate.
//!
//! Cross-process figures come from the `slipstream-bench` harness instead.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use slipstream_event::EventRef;
use slipstream_ring::{Item, Layout, Start, Wake, Writer};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SIZES: [usize; 4] = [64, 128, 1024, 64 * 1024];

/// The ring's data capacity: `SLIPSTREAM_BENCH_RING` (bytes, a power of two),
/// 64 MiB by default (larger than this machine's 32 MiB L3: the records go to
/// main memory, as they do in a node whose ring holds many blocks).
fn writer() -> Writer {
    let capacity = std::env::var("SLIPSTREAM_BENCH_RING")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64 << 20);
    Writer::anonymous(Layout::new(capacity)).unwrap()
}

/// The producer hook's path for one event: reserve, encode in place (here a
/// copy of `payload`), commit. Every publish benchmark times this.
#[inline(always)]
fn reserve_copy_commit(w: &mut Writer, payload: &[u8]) -> u64 {
    let mut r = w.reserve(1, payload.len()).unwrap();
    r.payload_mut().copy_from_slice(black_box(payload));
    r.commit()
}

fn publish(c: &mut Criterion) {
    let mut g = c.benchmark_group("publish");
    for size in SIZES {
        let mut w = writer();
        let payload = vec![0xA5u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter(|| black_box(reserve_copy_commit(&mut w, &payload)))
        });
    }
    g.finish();
}

fn consume(c: &mut Criterion) {
    for (name, decode, use_receive) in [
        ("consume", false, false),
        ("consume_batch", false, true),
        ("decode_event", true, false),
    ] {
        let mut g = c.benchmark_group(name);
        for size in SIZES {
            let mut w = writer();
            let mut r = w.reader(Start::End).unwrap();
            // A block event of `size` bytes of payload in all.
            let block = vec![7u8; size - slipstream_event::PREFIX_LEN - 4];
            let ev = EventRef::Block {
                block_height: 1,
                ordinal: 1,
                block: &block,
            };
            assert_eq!(ev.encoded_len(), size);
            let mut payload = vec![0; size];
            ev.encode(&mut payload);
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
                b.iter_custom(|iters| {
                    let mut left = iters;
                    let mut total = Duration::ZERO;
                    // Publish in batches that fit in the ring, read them timed.
                    let batch = ((w.geometry().capacity / 2) / (size as u64 + 16)).max(1);
                    while left > 0 {
                        let n = left.min(batch);
                        for _ in 0..n {
                            w.publish(4, &payload).unwrap();
                        }
                        let t = Instant::now();
                        if use_receive {
                            // Reader::receive: one validation per batch, a handler per record.
                            let mut got = 0u64;
                            while got < n {
                                got += r
                                    .receive(usize::MAX, |item| match item {
                                        Item::Record(rec) => {
                                            black_box(rec.payload);
                                        }
                                        other => panic!("{other:?}"),
                                    })
                                    .unwrap() as u64;
                            }
                            total += t.elapsed();
                            left -= n;
                            continue;
                        }
                        for _ in 0..n {
                            match r.try_next().unwrap() {
                                Some(Item::Record(rec)) => {
                                    if decode {
                                        black_box(EventRef::decode(rec.kind, rec.payload).unwrap());
                                    } else {
                                        black_box(rec.payload);
                                    }
                                }
                                other => panic!("{other:?}"),
                            }
                        }
                        total += t.elapsed();
                        left -= n;
                    }
                    total
                })
            });
        }
        g.finish();
    }
}

fn round_trip(c: &mut Criterion) {
    let mut w = writer();
    let mut r = w.reader(Start::End).unwrap();
    let payload = [3u8; 128];
    c.bench_function("round_trip/128", |b| {
        b.iter(|| {
            w.publish(1, black_box(&payload)).unwrap();
            match r.try_next().unwrap() {
                Some(Item::Record(rec)) => black_box(rec.seq),
                other => panic!("{other:?}"),
            }
        })
    });
}

/// Reader threads attached to `w`'s ring, stopped when dropped.
struct Readers {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

#[derive(Clone, Copy)]
enum Behaviour {
    /// Drains the ring every 50 µs.
    Polling,
    /// Spins on `try_next` without ever sleeping: a busy-polling consumer,
    /// caught up most of the time, which polls the ring at every instant the
    /// writer commits (what loads the lines the writer stores to).
    Spinning,
    /// Attached, never reads: to the producer, what a stopped consumer is.
    Idle,
    /// Sleeps on the futex until woken, then drains.
    Sleeping,
}

impl Readers {
    fn attach(w: &Writer, n: usize, behaviour: Behaviour) -> Readers {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let mut r = w.reader(Start::End).unwrap();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match behaviour {
                            Behaviour::Idle => std::thread::sleep(Duration::from_millis(5)),
                            Behaviour::Polling => {
                                while let Ok(Some(_)) = r.try_next() {}
                                std::thread::sleep(Duration::from_micros(50));
                            }
                            Behaviour::Spinning => {
                                for _ in 0..1024 {
                                    let _ = black_box(r.try_next().map(|i| i.is_some()));
                                }
                            }
                            Behaviour::Sleeping => {
                                while let Ok(Some(_)) = r.try_next() {}
                                r.wait(Duration::from_millis(5));
                            }
                        }
                    }
                })
            })
            .collect();
        Readers { stop, threads }
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn publish_readers(c: &mut Criterion) {
    let mut g = c.benchmark_group("publish_readers");
    let payload = [0x5Au8; 128];
    let cases: [(&str, usize, Behaviour, Wake); 7] = [
        ("0_readers", 0, Behaviour::Idle, Wake::Deferred),
        ("1_polling", 1, Behaviour::Polling, Wake::Deferred),
        ("8_polling", 8, Behaviour::Polling, Wake::Deferred),
        ("1_spinning", 1, Behaviour::Spinning, Wake::Deferred),
        ("1_idle", 1, Behaviour::Idle, Wake::Deferred),
        (
            "1_sleeping_deferred",
            1,
            Behaviour::Sleeping,
            Wake::Deferred,
        ),
        (
            "1_sleeping_immediate",
            1,
            Behaviour::Sleeping,
            Wake::Immediate,
        ),
    ];
    for (name, n, behaviour, mode) in cases {
        let mut w = writer();
        w.set_wake_mode(mode);
        let readers = Readers::attach(&w, n, behaviour);
        std::thread::sleep(Duration::from_millis(20));
        g.bench_function(name, |b| {
            b.iter(|| black_box(reserve_copy_commit(&mut w, &payload)))
        });
        drop(readers);
    }
    g.finish();
}

/// Records per burst of `publish_paced`, and the pause after each.
const BURST: u64 = 100;
const PAUSE: Duration = Duration::from_micros(5);

/// Publish as a node publishes: bursts of [`BURST`] records with a
/// [`PAUSE`] after each (spent spinning, as a thread with other work to do,
/// not asleep), so that a reader can keep up; only the bursts are timed. The
/// readers are [`publish_readers`]'s.
fn publish_paced(c: &mut Criterion) {
    let mut g = c.benchmark_group("publish_paced");
    let payload = [0x5Au8; 128];
    let cases: [(&str, usize, Behaviour); 4] = [
        ("0_readers", 0, Behaviour::Idle),
        ("1_polling", 1, Behaviour::Polling),
        ("8_polling", 8, Behaviour::Polling),
        ("1_spinning", 1, Behaviour::Spinning),
    ];
    for (name, n, behaviour) in cases {
        let mut w = writer();
        let readers = Readers::attach(&w, n, behaviour);
        std::thread::sleep(Duration::from_millis(20));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let burst = left.min(BURST);
                    let t = Instant::now();
                    for _ in 0..burst {
                        black_box(reserve_copy_commit(&mut w, &payload));
                    }
                    timed += t.elapsed();
                    left -= burst;
                    let until = Instant::now() + PAUSE;
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                }
                timed
            })
        });
        drop(readers);
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = publish, consume, round_trip, publish_readers, publish_paced
}
criterion_main!(benches);
