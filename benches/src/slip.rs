//! Slipstream: the ring in a file in /dev/shm; the child is the producer, the
//! parent a consumer.
//!
//! Before saying `ready`, the producer writes one lap of warm-up records
//! (kind 2) so that every page of the ring is allocated and mapped; the
//! consumer reads them before `go`, so that its mapping is warm too. Measured
//! records are kind 1, and message `i` carries ring sequence number `base + i`.

use crate::common::{
    end_of_run, send_loop, LatRecorder, LatRun, LatSpec, Pacing, RecvMode, TputRun, TputSpec,
    Verifier, Watchdog,
};
use crate::payload;
use crate::proc::{ChildArgs, ChildGuard, Control, TempPath};
use anyhow::{bail, Context, Result};
use slipstream_ring::{Access, IfExists, Item, Layout, Reader, Start, Wake, Writer};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::time::Duration;

const KIND_MSG: u16 = 1;
/// Kind of the producer's warm-up records.
pub const KIND_WARMUP: u16 = 2;

fn ring_path() -> PathBuf {
    PathBuf::from("/dev/shm").join(crate::proc::unique("slipstream-bench"))
}

/// A new empty file in /dev/shm for a producer child to make its ring in,
/// removed (with the ring's sidecars) when dropped.
pub fn empty_ring_file() -> Result<TempPath> {
    let path = TempPath::new(ring_path());
    File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path.path())
        .with_context(|| format!("creating {}", path.path().display()))?;
    Ok(path)
}

/// Creates the empty ring file, starts the producer, and attaches a reader
/// after the producer's warm-up lap. Returns the reader and the sequence
/// number of message 0.
fn start(
    mode: &str,
    size: usize,
    count: u64,
    ring_bytes: u64,
    extra: &[(&'static str, String)],
) -> Result<(TempPath, ChildGuard, Reader, u64)> {
    let path = empty_ring_file()?;
    let mut args = BTreeMap::from([
        ("transport", "slipstream".to_string()),
        ("mode", mode.to_string()),
        ("size", size.to_string()),
        ("count", count.to_string()),
        ("ring", ring_bytes.to_string()),
        ("path", path.path().display().to_string()),
    ]);
    args.extend(extra.iter().cloned());
    let mut child = ChildGuard::spawn("slipstream producer", &args)?;
    child.expect("ready")?;
    // Read-only, as every consumer; it announces its sleep in the wake file.
    let file =
        File::open(path.path()).with_context(|| format!("opening {}", path.path().display()))?;
    let mut reader = Reader::attach(&file, Start::Oldest)
        .with_context(|| format!("attaching a reader to {}", path.path().display()))?;
    let wake = OpenOptions::new()
        .write(true)
        .open(slipstream_ring::sidecar::wake_path(path.path()))
        .with_context(|| format!("opening the wake file of {}", path.path().display()))?;
    reader.set_wake_file(wake);
    // `SLIPSTREAM_BENCH_BATCH=BYTES`: the consumer's batch (bytes copied
    // per validation, `Reader::set_batch_bytes`); the reader's default
    // (64 KiB, at most a 16th of the ring) without it.
    if let Some(b) = std::env::var("SLIPSTREAM_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        reader.set_batch_bytes(b);
    }
    // Drain the warm-up lap (the producer is idle until `go`).
    while let Some(item) = reader.try_next().context("reading the warm-up lap")? {
        if let Item::Record(r) = item {
            if r.kind != KIND_WARMUP {
                bail!("warm-up record {} has kind {}", r.seq, r.kind);
            }
        }
    }
    let base = reader.next_seq();
    Ok((path, child, reader, base))
}

/// Parent side of a throughput run.
pub fn throughput(spec: &TputSpec) -> Result<TputRun> {
    let (_path, mut child, mut reader, base) = start(
        "tput",
        spec.size,
        spec.count,
        spec.ring_bytes,
        &[("rate", spec.rate.to_string())],
    )?;
    let mut v = Verifier::new(spec.size);
    let mut dog = Watchdog::new(spec.timeout, "slipstream throughput");
    let t0 = payload::now_ns();
    child.say("go")?;
    // The batch API: one copy out of the ring and one validation per batch,
    // every record checked inside the handler (the first failure is kept).
    let mut failed: Option<anyhow::Error> = None;
    while v.next < spec.count {
        let n = reader
            .receive(usize::MAX, |item| {
                if failed.is_some() {
                    return;
                }
                if let Err(e) = take_item(&mut v, item, base, spec.count) {
                    failed = Some(e);
                }
            })
            .context("slipstream reader")?;
        if let Some(e) = failed.take() {
            return Err(e);
        }
        if n == 0 {
            dog.idle(|| child.check().map(drop))?;
        }
    }
    end_of_run(t0, child, v)
}

/// Checks one item of a throughput run against what the sender sent.
pub fn take_item(v: &mut Verifier, item: Item<'_>, base: u64, count: u64) -> Result<()> {
    match item {
        Item::Record(r) => {
            if r.kind != KIND_MSG || r.seq != base + v.next {
                bail!(
                    "record seq {} kind {}: expected seq {} kind {KIND_MSG}",
                    r.seq,
                    r.kind,
                    base + v.next
                );
            }
            v.take(r.payload)
        }
        Item::Lagged(lag) => {
            if lag.first_missed != base + v.next || lag.last_missed < lag.first_missed {
                bail!(
                    "lap report {}..={} does not start at the next expected seq {}",
                    lag.first_missed,
                    lag.last_missed,
                    base + v.next
                );
            }
            v.skip(lag.count());
            if v.next > count {
                bail!("lap report {lag:?} goes past the last message");
            }
            Ok(())
        }
    }
}

/// Parent side of a latency run.
pub fn latency(spec: &LatSpec) -> Result<LatRun> {
    let wake = match spec.mode {
        RecvMode::Busy => "deferred",
        // `--waker-us 0`: the node's default policy (`Wake::AtBlockEnd`), each
        // message a block of its own: the publishing thread flushes after every
        // commit (a `pread` of the wake file, and a `FUTEX_WAKE` when a reader
        // announced its sleep). Otherwise `Wake::Immediate` with a waker thread.
        RecvMode::Sleep if spec.waker_us == 0 => "block",
        RecvMode::Sleep => "immediate",
    };
    let (_path, mut child, mut reader, base) = start(
        "lat",
        spec.size,
        spec.total(),
        spec.ring_bytes,
        &[
            spec.child_args(),
            vec![
                ("wake", wake.to_string()),
                ("waker_us", spec.waker_us.to_string()),
            ],
        ]
        .concat(),
    )?;
    if spec.mode == RecvMode::Sleep && reader.access() != Access::ReadWrite {
        bail!("the reader cannot use the futex (read-only wake page)");
    }
    let mut rec = LatRecorder::new(spec);
    let mut dog = Watchdog::new(spec.timeout, "slipstream latency");
    child.say("go")?;
    while rec.next < spec.total() {
        match reader.try_next().context("slipstream reader")? {
            Some(Item::Record(r)) => {
                let now = payload::now_ns();
                if r.kind != KIND_MSG || r.seq != base + rec.next {
                    bail!(
                        "record seq {} kind {}: expected seq {}",
                        r.seq,
                        r.kind,
                        base + rec.next
                    );
                }
                rec.take(r.payload, now)?;
            }
            Some(Item::Lagged(lag)) => {
                if lag.first_missed != base + rec.next {
                    bail!(
                        "lap report {lag:?} does not start at seq {}",
                        base + rec.next
                    );
                }
                rec.skip(lag.count());
            }
            None => match spec.mode {
                RecvMode::Busy => dog.idle(|| child.check().map(drop))?,
                RecvMode::Sleep => {
                    if !reader.wait(Duration::from_millis(100)) {
                        dog.check(|| child.check().map(drop))?;
                    }
                }
            },
        }
    }
    child.finish()?;
    Ok(rec.finish())
}

/// Child side: the producer (or, in mode `consume`, a scaling consumer).
pub fn child(args: &ChildArgs, ctl: &mut Control) -> Result<()> {
    if args.str("mode")? == "consume" {
        return crate::scaling::consumer_child(args, ctl);
    }
    let path: String = args.str("path")?.to_string();
    let size: usize = args.num("size")?;
    let count: u64 = args.num("count")?;
    let ring: u64 = args.num("ring")?;
    let latency = args.str("mode")? == "lat";
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {path}"))?;
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(slipstream_ring::sidecar::lock_path(path.as_ref()))
        .with_context(|| format!("opening the lock of {path}"))?;
    let mut w = Writer::open(file, lock, Layout::new(ring), IfExists::Resume)
        .with_context(|| format!("opening the ring in {path} as its producer"))?;
    slipstream_ring::sidecar::prepare(path.as_ref(), 0o600, None)
        .with_context(|| format!("preparing the sidecars of {path}"))?;
    w.set_wake_file(
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(slipstream_ring::sidecar::wake_path(path.as_ref()))
            .with_context(|| format!("opening the wake file of {path}"))?,
    );
    // One lap of warm-up records: every page of the ring is touched once.
    while w.tail() < ring {
        let mut r = w.reserve(KIND_WARMUP, size).context("warm-up reserve")?;
        r.payload_mut().fill(0);
        r.commit();
    }
    if latency && args.str("wake")? == "immediate" {
        w.set_wake_mode(Wake::Immediate);
        // The producer's waker thread reads the consumers' sleep
        // announcements (the publishing thread never does) and flags a
        // sleeper for the next commit to wake.
        let mut waker = w.waker();
        let period = std::time::Duration::from_micros(args.num("waker_us")?);
        std::thread::spawn(move || loop {
            std::thread::sleep(period);
            waker.wake_if_needed();
        });
    }
    let flush_each = latency && args.str("wake")? == "block";
    ctl.ready()?;
    let ns = if latency {
        send_loop(count, Pacing::from_args(args)?, |i| {
            let mut r = w.reserve(KIND_MSG, size)?;
            let p = r.payload_mut();
            payload::fill(p, i);
            payload::stamp(p, payload::now_ns());
            r.commit();
            if flush_each {
                w.flush();
            }
            Ok(())
        })?
    } else {
        send_loop(count, Pacing::from_args(args)?, |i| {
            let mut r = w.reserve(KIND_MSG, size)?;
            payload::fill(r.payload_mut(), i);
            r.commit();
            Ok(())
        })?
    };
    w.flush();
    ctl.done(ns)
}
