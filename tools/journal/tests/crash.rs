//! The recorder under SIGKILL and on a full disk, while a producer writes.
//!
//! `SLIPSTREAM_JOURNAL_KILLS=N` sets the number of kills of
//! `recorder_survives_sigkill_loops` (default 200; e.g. 3000 for a long run).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slipstream_event::EventRef;
use slipstream_journal::{verify, JournalItem, JournalReader, JournalStart};
use slipstream_producer::{Layout, Producer, ProducerOptions};

const RECORDER: &str = env!("CARGO_BIN_EXE_slipstream-journal");

/// A ring path and a journal directory, removed on drop (even on failure).
struct Scratch {
    ring: PathBuf,
    dir: PathBuf,
    mounted: bool,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let id = format!("slipstream-jtest-{tag}-{}", std::process::id());
        let s = Scratch {
            ring: PathBuf::from(format!("/dev/shm/{id}")),
            dir: std::env::temp_dir().join(id),
            mounted: false,
        };
        let _ = std::fs::remove_file(&s.ring);
        let _ = std::fs::remove_dir_all(&s.dir);
        s
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.dir).status();
        }
        let _ = std::fs::remove_file(&self.ring);
        slipstream_ring::sidecar::remove_all(&self.ring);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A child killed and reaped on drop.
struct Guard(Option<Child>);
impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A producer on its own thread: blocks of `per_block` mapping updates whose
/// key is (height, ordinal), paced at one block per `pace`, until stopped.
struct Node {
    stop: Arc<AtomicBool>,
    last_seq: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Node {
    fn start(ring: &Path, capacity: u64, per_block: u32, value_len: usize, pace: Duration) -> Node {
        let mut p = Producer::open(
            ring,
            ProducerOptions {
                layout: Layout::new(capacity),
                ..Default::default()
            },
        )
        .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let last_seq = Arc::new(AtomicU64::new(0));
        let (s, l) = (stop.clone(), last_seq.clone());
        let thread = std::thread::spawn(move || {
            // Heights rise across rings that continue the sequence.
            let mut h = p.next_seq();
            let value = vec![0x5a; value_len];
            while !s.load(Ordering::Relaxed) {
                p.begin_block(h).unwrap();
                for o in 1..=per_block {
                    let mut key = h.to_le_bytes().to_vec();
                    key.extend_from_slice(&o.to_le_bytes());
                    p.mapping_update(b"credits.aleo", b"account", &key, &value)
                        .unwrap();
                }
                let seq = p.commit_block().unwrap().unwrap();
                l.store(seq, Ordering::Relaxed);
                h += 1;
                std::thread::sleep(pace);
            }
        });
        Node {
            stop,
            last_seq,
            thread: Some(thread),
        }
    }

    /// Stops it; returns the last sequence number it published.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        self.last_seq.load(Ordering::Relaxed)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn recorder(s: &Scratch, extra: &[&str], stderr: Stdio) -> Child {
    Command::new(RECORDER)
        .arg("record")
        .arg(&s.ring)
        .arg("--dir")
        .arg(&s.dir)
        .args(["--slot-name", "", "-q"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn slipstream-journal")
}

/// Reads the whole journal: checks that sequence numbers run from 1 to `last`
/// with each in exactly one record or gap, and that each record is the event
/// the producer published under it. Returns (records, gaps, missed).
fn check_journal(dir: &Path, last: u64) -> (u64, u64, u64) {
    let report = verify(dir).unwrap_or_else(|e| panic!("journal does not verify: {e}"));
    assert!(
        report.torn_tail.is_none(),
        "torn tail left: {:?}",
        report.torn_tail
    );
    let mut r = JournalReader::open(dir, JournalStart::Oldest).unwrap();
    let (mut next, mut records, mut gaps, mut missed) = (1u64, 0u64, 0u64, 0u64);
    let mut height = 0u64;
    while let Some(item) = r.try_next().unwrap() {
        match item {
            JournalItem::Record(rec) => {
                assert_eq!(rec.seq, next, "record out of place");
                let ev = EventRef::decode(rec.kind, rec.payload).unwrap();
                if let EventRef::MappingUpdate { key, .. } = ev {
                    assert_eq!(&key[..8], &ev.block_height().to_le_bytes());
                    assert_eq!(&key[8..], &ev.ordinal().to_le_bytes(), "#{}", rec.seq);
                }
                assert!(ev.block_height() >= height);
                height = ev.block_height();
                records += 1;
                next += 1;
            }
            JournalItem::Gap(g) => {
                assert_eq!(g.first_missed, next, "gap out of place");
                gaps += 1;
                missed += g.last_missed - g.first_missed + 1;
                next = g.last_missed + 1;
            }
        }
    }
    assert_eq!(
        next,
        last + 1,
        "the journal ends at the producer's last event"
    );
    assert_eq!(records + missed, last);
    (records, gaps, missed)
}

#[test]
fn recorder_survives_sigkill_loops() {
    let kills: u32 = std::env::var("SLIPSTREAM_JOURNAL_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let s = Scratch::new("kill");
    // 64 MiB holds about a minute of this producer (~5,000 events/s), and
    // even a debug-build recorder on a loaded machine records several times
    // faster: down for milliseconds per kill, it is never lapped, so the
    // journal must hold everything. (At ~25,000 events/s, a 3,000-kill run of
    // a debug recorder under `nice` fell behind and was lapped: the journal
    // then held 4 exact gaps, which `check_journal` accounted for.)
    let node = Node::start(&s.ring, 64 << 20, 50, 64, Duration::from_millis(10));
    let log = s.dir.with_extension("log");
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    std::fs::create_dir_all(&s.dir).unwrap();
    for i in 0..kills {
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = Guard(Some(recorder(
            &s,
            &["--fsync", "never", "--segment-size", "256KiB"],
            err.into(),
        )));
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_micros(1_000 + rng % 40_000));
        let mut c = child.0.take().unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let status = c.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert!(
            status.signal() == Some(9) || status.success(),
            "kill {i}: recorder exited with {status:?}"
        );
    }
    let last = node.stop();
    // A last run records the rest and exits once idle.
    let mut fin = Guard(Some(recorder(
        &s,
        &["--exit-when-idle", "300ms", "--segment-size", "256KiB"],
        Stdio::null(),
    )));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = fin.0.as_mut().unwrap().try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "the last recorder run did not finish"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    fin.0 = None;
    assert!(status.success(), "{status:?}");
    let (records, gaps, missed) = check_journal(&s.dir, last);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let torn = text.matches("cut a torn tail").count();
    let _ = std::fs::remove_file(&log);
    eprintln!(
        "{kills} SIGKILLs: {records} records, {gaps} gaps ({missed} missed), {torn} torn tails cut on restart, last #{last}"
    );
    assert_eq!(
        (gaps, missed),
        (0, 0),
        "the ring was never lapped, so nothing may be missing"
    );
}

/// A recorder started after the ring lapped its oldest events records an exact gap.
#[test]
fn a_late_recorder_records_an_exact_gap() {
    let s = Scratch::new("gap");
    let node = Node::start(&s.ring, 1 << 16, 50, 64, Duration::from_micros(10));
    std::thread::sleep(Duration::from_millis(300));
    let last = node.stop();
    // An empty journal starts at the ring's oldest: nothing before it is
    // claimed. (This run keeps the default named cursor, checked below.)
    let st = Command::new(RECORDER)
        .arg("record")
        .arg(&s.ring)
        .arg("--dir")
        .arg(&s.dir)
        .args(["-q", "--exit-when-idle", "200ms"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let first = slipstream_journal::summary(&s.dir)
        .unwrap()
        .first_seq()
        .unwrap();
    assert!(first > 1, "the ring was lapped before the recorder started");
    let journal_next = slipstream_journal::summary(&s.dir)
        .unwrap()
        .next_seq()
        .unwrap();
    assert_eq!(journal_next, last + 1);
    // The recorder's named cursor (for `slipstream stat`): in format 2 a
    // cursor file of its own beside the ring, which it opened read-only.
    let slots = slipstream_ring::read_slots(&s.ring).unwrap();
    let mine = slots
        .iter()
        .find(|x| x.name == "slipstream-journal")
        .unwrap_or_else(|| panic!("no cursor file for the recorder: {slots:?}"));
    assert_eq!(mine.next_seq, last + 1, "{mine:?}");
    // Now lap the ring past the journal's end, and record again: a gap.
    let node = Node::start(&s.ring, 1 << 16, 50, 64, Duration::from_micros(10));
    std::thread::sleep(Duration::from_millis(300));
    let last2 = node.stop();
    assert!(last2 > last);
    let st = recorder(&s, &["--exit-when-idle", "200ms"], Stdio::null())
        .wait()
        .unwrap();
    assert!(st.success());
    verify(&s.dir).unwrap();
    let mut r = JournalReader::open(&s.dir, JournalStart::Seq(journal_next)).unwrap();
    match r.try_next().unwrap() {
        Some(JournalItem::Gap(g)) => {
            assert_eq!(g.first_missed, journal_next);
            // The gap ends just before the oldest record the ring still held.
            match r.try_next().unwrap() {
                Some(JournalItem::Record(rec)) => assert_eq!(rec.seq, g.last_missed + 1),
                other => panic!("{other:?}"),
            }
        }
        other => panic!("expected a gap, got {other:?}"),
    }
    let mut r = JournalReader::open(&s.dir, JournalStart::Oldest).unwrap();
    let mut next = first;
    while let Some(item) = r.try_next().unwrap() {
        match item {
            JournalItem::Record(rec) => {
                assert_eq!(rec.seq, next);
                next += 1;
            }
            JournalItem::Gap(g) => {
                assert_eq!(g.first_missed, next);
                next = g.last_missed + 1;
            }
        }
    }
    assert_eq!(next, last2 + 1);
}

/// A full disk stops the recorder with a clear error; the journal verifies;
/// the producer is not affected.
#[test]
fn a_full_disk_stops_the_recorder_and_leaves_the_journal_whole() {
    let mut s = Scratch::new("full");
    std::fs::create_dir_all(&s.dir).unwrap();
    // A 3 MiB tmpfs if this is root (CI is); else a 3 MiB file size limit.
    let tmpfs = nix::unistd::geteuid().is_root()
        && Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
            .arg(&s.dir)
            .status()
            .is_ok_and(|st| st.success());
    s.mounted = tmpfs;
    let node = Node::start(&s.ring, 16 << 20, 50, 200, Duration::from_micros(200));
    let mut child = Guard(Some(recorder(
        &s,
        &["--segment-size", "8MiB", "--fsync", "segment"],
        Stdio::piped(),
    )));
    if !tmpfs {
        let pid = rustix::process::Pid::from_raw(child.0.as_ref().unwrap().id() as i32);
        rustix::process::prlimit(
            pid,
            rustix::process::Resource::Fsize,
            rustix::process::Rlimit {
                current: Some(3 << 20),
                maximum: None,
            },
        )
        .expect("prlimit RLIMIT_FSIZE");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.0.as_mut().unwrap().try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "the recorder did not stop on a full disk"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    use std::io::Read;
    child
        .0
        .take()
        .unwrap()
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    let expected = if tmpfs {
        "No space left on device"
    } else {
        "File too large"
    };
    assert!(
        err.contains(expected) && err.contains("recording stopped"),
        "{err}"
    );
    // The producer went on publishing throughout.
    let before = node.last_seq.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        node.last_seq.load(Ordering::Relaxed) > before,
        "the producer kept publishing"
    );
    drop(node);
    let r =
        verify(&s.dir).unwrap_or_else(|e| panic!("journal does not verify after a full disk: {e}"));
    assert!(r.torn_tail.is_none());
    assert!(
        r.entries > 1000,
        "it recorded until the disk was full ({} entries)",
        r.entries
    );
    eprintln!(
        "full disk ({}): {err}",
        if tmpfs { "tmpfs" } else { "RLIMIT_FSIZE" }
    );
}

/// The ring replaced under a running recorder (a node restarted after a
/// reboot): with its sequence continued, the recorder follows the new ring
/// with no gap; with the sequence restarted at 1, it stops with a clear error.
#[test]
fn a_replaced_ring_is_followed_when_it_continues_the_sequence() {
    let s = Scratch::new("replace");
    let node = Node::start(&s.ring, 1 << 20, 20, 32, Duration::from_millis(1));
    let mut child = Guard(Some(recorder(&s, &[], Stdio::piped())));
    std::thread::sleep(Duration::from_millis(300));
    let last = node.stop();
    let deadline = Instant::now() + Duration::from_secs(30);
    while slipstream_journal::summary(&s.dir)
        .ok()
        .and_then(|j| j.next_seq())
        != Some(last + 1)
    {
        assert!(Instant::now() < deadline, "the recorder did not catch up");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The reboot: the ring is gone; the node creates a new one continuing the journal.
    std::fs::remove_file(&s.ring).unwrap();
    let p = Producer::open(
        &s.ring,
        ProducerOptions {
            layout: Layout::new(1 << 20),
            first_seq: last + 1,
            ..Default::default()
        },
    )
    .unwrap();
    drop(p);
    let node = Node::start(&s.ring, 1 << 20, 20, 32, Duration::from_millis(1));
    std::thread::sleep(Duration::from_millis(600));
    let last2 = node.stop();
    assert!(last2 > last);
    while slipstream_journal::summary(&s.dir)
        .ok()
        .and_then(|j| j.next_seq())
        != Some(last2 + 1)
    {
        assert!(
            Instant::now() < deadline,
            "the recorder did not follow the new ring"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // A ring that starts the sequence over cannot be journaled after this one.
    std::fs::remove_file(&s.ring).unwrap();
    let mut p = Producer::open(
        &s.ring,
        ProducerOptions {
            layout: Layout::new(1 << 20),
            ..Default::default()
        },
    )
    .unwrap();
    p.begin_block(1).unwrap();
    p.commit_block().unwrap();
    let mut c = child.0.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = c.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "the recorder did not notice the restarted sequence"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    use std::io::Read;
    c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("was replaced") && err.contains("without continuing the journal's sequence"),
        "{err}"
    );
    drop(p);
    let (records, gaps, _) = check_journal(&s.dir, last2);
    assert_eq!((records, gaps), (last2, 0));
}
