//! The harness of the fault suites (`tests/tests/consumer_faults.rs` and
//! `tests/tests/broken_files.rs`): iteration counts, summaries of error
//! messages, rings made and inspected from outside, and exact coverage of
//! sequence numbers. Processes, deadlines and the generator are
//! `slipstream-testkit`'s.

use serde_json::Value;
use slipstream_consumer::{Consumer, Item, Start};
use slipstream_producer::{Producer, ProducerOptions};
use slipstream_ring::{read_slots, Geometry, Layout, Reader, SlotInfo, Start as RingStart};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long one run of a tool may take before the test fails (a hang).
pub const CLI_LIMIT: Duration = Duration::from_secs(60);

/// The seed variable of the fault suites (`SLIPSTREAM_FAULT_SEED=N` replays a run).
pub const SEED_ENV: &str = "SLIPSTREAM_FAULT_SEED";

/// The fault suites' default base seed.
pub const DEFAULT_SEED: u64 = 20_261_122;

/// The generator of test `test`: from [`SEED_ENV`] or [`DEFAULT_SEED`], the
/// seed printed.
pub fn rng_for(test: &str) -> slipstream_testkit::rng::Rng {
    slipstream_testkit::rng::Rng::for_test(test, SEED_ENV, DEFAULT_SEED)
}

/// Iterations of each randomised loop (`SLIPSTREAM_FAULT_ITERS`, default 200).
pub fn iters() -> u64 {
    std::env::var("SLIPSTREAM_FAULT_ITERS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(200)
}

/// Replaces runs of digits with `N`, so that errors that differ only in their
/// numbers are counted together in the summaries.
pub fn category(text: &str) -> String {
    let mut out = String::new();
    let mut in_digits = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('N');
            }
            in_digits = true;
        } else {
            in_digits = false;
            out.push(c);
        }
    }
    out.chars().take(110).collect()
}

/// Prints a summary: each category of outcome and how often it was seen.
pub fn print_tally(title: &str, tally: &BTreeMap<String, u64>) {
    eprintln!("{title}:");
    for (what, n) in tally {
        eprintln!("  {n:>5}  {what}");
    }
}

/// CPU time consumed by the calling thread, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = nix::libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is, and keeps no pointer.
    let rc = unsafe { nix::libc::clock_gettime(nix::libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Whether the tests run as root (who may read any file, and mount).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Producer options with `layout`, the rest default.
pub fn options(layout: Layout) -> ProducerOptions {
    ProducerOptions {
        layout,
        ..Default::default()
    }
}

/// Creates a ring with `layout` and closes it (a later producer resumes it,
/// keeping its layout).
pub fn create_ring(path: &Path, layout: Layout) {
    drop(Producer::open(path, options(layout)).expect("create the ring"));
}

/// Opens `path` for reading and writing (as the ring's owner would).
pub fn open_rw(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// `len` bytes of `file` at `off`.
pub fn read_at(file: &File, off: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0; len];
    file.read_exact_at(&mut b, off).expect("pread");
    b
}

/// The head of the ring: the sequence number and position the next record gets.
#[derive(Clone, Copy, Debug)]
pub struct Head {
    /// The sequence number of the next record.
    pub next_seq: u64,
    /// The position of the next record.
    pub tail: u64,
}

/// The head of the ring at `path`.
pub fn head(path: &Path) -> Head {
    let file = File::open(path).expect("open ring");
    let r = Reader::attach(&file, RingStart::End).expect("attach at the end");
    Head {
        next_seq: r.next_seq(),
        tail: r.position(),
    }
}

/// The oldest sequence number the ring holds (a quiescent ring).
pub fn oldest(path: &Path) -> u64 {
    let file = File::open(path).expect("open ring");
    Reader::attach(&file, RingStart::Oldest)
        .expect("attach at the oldest")
        .next_seq()
}

/// The geometry of the ring at `path`.
pub fn geometry(path: &Path) -> Geometry {
    let file = File::open(path).expect("open ring");
    *Reader::attach(&file, RingStart::End)
        .expect("attach")
        .geometry()
}

/// The named cursors of the ring at `path`.
pub fn slots(path: &Path) -> Vec<SlotInfo> {
    read_slots(path).expect("read the named cursors")
}

/// The cursor file of consumer `name`, opened for writing (as its owner).
pub fn cursor_file(path: &Path, name: &str) -> File {
    open_rw(&slipstream_ring::sidecar::cursor_path(path, name))
}

/// The cursor slot of consumer `name`, if it has one.
pub fn slot_named(path: &Path, name: &str) -> Option<SlotInfo> {
    slots(path).into_iter().find(|s| s.name == name)
}

/// Consumer `name` of the ring at `path`, starting at the oldest event.
pub fn named(path: &Path, name: &str) -> Consumer {
    Consumer::builder(path)
        .name(name)
        .start(Start::Oldest)
        .open()
        .unwrap_or_else(|e| panic!("attach {name}: {e}"))
}

/// Publishes `blocks` small blocks (a begin marker, 5 to 36 mapping updates,
/// a staking reward, a block event, the commit marker); every publish must
/// succeed. Returns the number of events published.
pub fn publish_blocks(p: &mut Producer, height: &mut u64, blocks: u64) -> u64 {
    let mut n = 0;
    for _ in 0..blocks {
        let h = *height;
        *height += 1;
        p.begin_block(h).expect("begin_block");
        let events = 5 + h % 32;
        for i in 0..events {
            let key = (h * 1000 + i).to_le_bytes();
            let value = vec![(h % 251) as u8; 8 + (i as usize * 7) % 64];
            p.mapping_update_at(h, b"credits.aleo", b"account", &key, &value)
                .expect("mapping_update");
        }
        p.staking_reward_at(h, b"aleo1staker", b"aleo1validator", h, h * 10)
            .expect("staking_reward");
        p.block_at(h, &vec![0xb1; 300 + (h as usize % 700)])
            .expect("block");
        p.commit_block().expect("commit_block");
        n += events + 4;
    }
    n
}

/// Exact coverage of sequence numbers: each event is the one after the
/// previous item, and each lag starts there; anything else is a silent skip
/// or a repeat.
#[derive(Debug, Default)]
pub struct Cover {
    /// The sequence number due next, once known.
    pub next: Option<u64>,
    /// Events seen.
    pub events: u64,
    /// Lags reported, first and last missed.
    pub lags: Vec<(u64, u64)>,
}

impl Cover {
    /// Coverage from `seq` on.
    pub fn from(seq: u64) -> Cover {
        Cover {
            next: Some(seq),
            ..Default::default()
        }
    }

    /// Event `seq`: the one due, or a panic naming `who`.
    pub fn event(&mut self, who: &str, seq: u64) {
        if let Some(n) = self.next {
            assert_eq!(
                seq, n,
                "{who}: event {seq} where {n} was due: a silent skip or a repeat (lags {:?})",
                self.lags
            );
        }
        self.next = Some(seq + 1);
        self.events += 1;
    }

    /// A lag of `first..=last`: starting where an event was due.
    pub fn lag(&mut self, who: &str, first: u64, last: u64) {
        if let Some(n) = self.next {
            assert_eq!(
                first, n,
                "{who}: lag {first}..={last} where {n} was due (lags {:?})",
                self.lags
            );
        }
        assert!(last >= first, "{who}: empty lag {first}..={last}");
        self.lags.push((first, last));
        self.next = Some(last + 1);
    }

    /// An item from the consumer SDK.
    pub fn item(&mut self, who: &str, item: &Item<'_>) {
        match item {
            Item::Event(e) => self.event(who, e.seq),
            Item::Lagged(l) => self.lag(who, l.first_missed, l.last_missed),
            Item::Producer(_) => {}
        }
    }

    /// One line of `slipstream-tail --json`.
    pub fn json(&mut self, who: &str, line: &str) {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{who}: not JSON ({e}): {line}"));
        if let Some(l) = v.get("lagged") {
            self.lag(
                who,
                l["first_missed"].as_u64().unwrap(),
                l["last_missed"].as_u64().unwrap(),
            );
        } else if v.get("producer").is_some() {
        } else if let Some(u) = v.get("undecodable") {
            self.event(who, u["seq"].as_u64().unwrap());
        } else {
            let seq = v["seq"]
                .as_u64()
                .unwrap_or_else(|| panic!("{who}: no seq: {line}"));
            self.event(who, seq);
        }
    }
}

/// Reads whatever is ready (at most `max` items), checking coverage.
pub fn read_burst(c: &mut Consumer, cover: &mut Cover, who: &str, max: usize) {
    for _ in 0..max {
        match c.try_next() {
            Ok(Some(item)) => cover.item(who, &item),
            Ok(None) => return,
            Err(e) => panic!("{who}: {e}"),
        }
    }
}

/// Reads until the consumer's next sequence number is `end`, checking coverage.
pub fn drain_to(c: &mut Consumer, cover: &mut Cover, who: &str, end: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.next_seq() < end {
        assert!(
            Instant::now() < deadline,
            "{who} did not reach {end} (at {})",
            c.next_seq()
        );
        match c.next(Duration::from_millis(100)) {
            Ok(Some(item)) => cover.item(who, &item),
            Ok(None) => {}
            Err(e) => panic!("{who}: {e}"),
        }
    }
    assert_eq!(
        cover.next.unwrap_or(end),
        end,
        "{who} covered up to the end"
    );
}
