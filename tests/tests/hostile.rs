//! Hostile consumers (issue 9, point 5): a member of the ring's group, run as
//! an unprivileged user, attacks everything it can reach while the node
//! publishes, an honest consumer reads, and a second producer starts.
//!
//! The threat model (FORMAT.md section 7, README "Guarantees"): a consumer is
//! any process that can read the ring, typically another user in the ring's
//! group. These tests run that consumer as uid [`HOSTILE_UID`], gid
//! [`GROUP`] (numeric ids need no `/etc/passwd` entry), in a child process
//! started by `Command::uid`/`gid` (which also clears the supplementary
//! groups). Dropping privileges needs root: CI runs the tests as root, and a
//! run as another user fails with a message saying so.
//!
//! The hostile child is this test binary re-executed (`--exact
//! child_entry_hostile`, with `SLIPSTREAM_HOSTILE` naming the ring); in a
//! normal run `child_entry_hostile` returns at once. It reports each attack as
//! a line `@hostile@ <attack> <outcome>` and ends by stopping itself
//! (SIGSTOP) while it holds every lock it could take and its announcement is
//! set; the parent then restarts the producer, and kills the child.
#![cfg(target_os = "linux")]

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use slipstream_consumer::{Consumer, Item, Start};
use slipstream_producer::{Producer, ProducerOptions, Wake};
use slipstream_ring::{sidecar, Layout, Slot};
use slipstream_tests::faults::{is_root, Cover};
use slipstream_tests::process::die_with_parent;
use slipstream_tests::{ChildGuard, TempRing};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

/// The hostile user: not root, not the producer, a member of the ring's group.
const HOSTILE_UID: u32 = 64_123;
/// The ring's group.
const GROUP: u32 = 64_124;
/// Marks the hostile child's report lines.
const MARK: &str = "@hostile@ ";
/// How long the hostile child attacks before it stops itself
/// (`SLIPSTREAM_ATTACK_SECS` overrides it, for `benches/hostile.sh`).
fn attack_for() -> Duration {
    Duration::from_secs(
        std::env::var("SLIPSTREAM_ATTACK_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3),
    )
}
/// Upper bound of any wait (reached only when something is broken).
const DEADLINE: Duration = Duration::from_secs(60);

fn report(line: std::fmt::Arguments<'_>) {
    println!("{MARK}{line}");
}

/// The outcome of a system call, as a word: `ok`, or the errno's name.
fn outcome<T>(r: std::io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => match e.raw_os_error() {
            Some(n) => format!("{:?}", nix::errno::Errno::from_raw(n)),
            None => e.to_string(),
        },
    }
}

fn errno<T>(r: nix::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("{e:?}"),
    }
}

/// Takes an OFD lock of `kind` on the whole of `file`, non-blocking.
fn ofd_lock(file: &File, kind: i32) -> String {
    // SAFETY: flock is a plain C struct for which all-zero bytes are valid.
    let mut l: nix::libc::flock = unsafe { std::mem::zeroed() };
    l.l_type = kind as _;
    l.l_whence = nix::libc::SEEK_SET as _;
    l.l_len = 0;
    // SAFETY: a valid descriptor and a valid flock struct.
    let r = unsafe { nix::libc::fcntl(file.as_raw_fd(), nix::libc::F_OFD_SETLK, &l) };
    outcome(if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    })
}

/// Takes a `flock` of `op` (LOCK_SH or LOCK_EX) on `file`, non-blocking.
fn flock(file: &File, op: i32) -> String {
    // SAFETY: a valid descriptor; flock has no memory arguments.
    let r = unsafe { nix::libc::flock(file.as_raw_fd(), op | nix::libc::LOCK_NB) };
    outcome(if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    })
}

/// Tries a shared writable mapping of `file`'s first page.
fn map_writable(file: &File) -> String {
    // SAFETY: a fresh mapping at an address the kernel chooses; unmapped at once if made.
    let p = unsafe {
        nix::libc::mmap(
            std::ptr::null_mut(),
            4096,
            nix::libc::PROT_READ | nix::libc::PROT_WRITE,
            nix::libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if p == nix::libc::MAP_FAILED {
        return outcome::<()>(Err(std::io::Error::last_os_error()));
    }
    // SAFETY: the mapping just made, of that length.
    unsafe { nix::libc::munmap(p, 4096) };
    "ok".into()
}

/// The hostile consumer's `main`.
#[test]
fn child_entry_hostile() {
    let Ok(ring) = std::env::var("SLIPSTREAM_HOSTILE") else {
        return;
    };
    let ring = Path::new(&ring);
    report(format_args!(
        "whoami uid={} gid={}",
        nix::unistd::getuid(),
        nix::unistd::getgid()
    ));
    let rw = |p: &Path| OpenOptions::new().read(true).write(true).open(p);

    // The ring itself: write, truncate, map writable, lock.
    report(format_args!("ring-open-rw {}", outcome(rw(ring))));
    report(format_args!(
        "ring-truncate {}",
        outcome(nix::unistd::truncate(ring, 0).map_err(std::io::Error::from))
    ));
    let ro = File::open(ring).expect("the hostile user can read the ring");
    report(format_args!("ring-ftruncate {}", outcome(ro.set_len(0))));
    report(format_args!(
        "ring-pwrite {}",
        outcome(ro.write_at(b"x", 0))
    ));
    report(format_args!("ring-mmap-write {}", map_writable(&ro)));
    let ro2 = File::open(ring).unwrap();
    let ro3 = File::open(ring).unwrap();
    report(format_args!(
        "ring-ofd-read-lock {}",
        ofd_lock(&ro, nix::libc::F_RDLCK)
    ));
    report(format_args!(
        "ring-flock-ex {}",
        flock(&ro2, nix::libc::LOCK_EX)
    ));
    report(format_args!(
        "ring-flock-sh {}",
        flock(&ro3, nix::libc::LOCK_SH)
    ));

    // The producer's lock file and process.
    let lock = sidecar::lock_path(ring);
    report(format_args!("lock-open-rw {}", outcome(rw(&lock))));
    report(format_args!("lock-open-ro {}", outcome(File::open(&lock))));
    report(format_args!(
        "lock-unlink {}",
        outcome(std::fs::remove_file(&lock))
    ));
    let producer_pid = std::env::var("SLIPSTREAM_PRODUCER_PID")
        .unwrap()
        .parse::<i32>()
        .unwrap();
    report(format_args!(
        "producer-kill {}",
        errno(kill(Pid::from_raw(producer_pid), Signal::SIGKILL))
    ));

    // The honest consumer's cursor: open, unlink, rename, lock, squat.
    let honest = sidecar::cursor_path(ring, "honest");
    report(format_args!("cursor-open-rw {}", outcome(rw(&honest))));
    report(format_args!(
        "cursor-open-ro {}",
        outcome(File::open(&honest))
    ));
    report(format_args!(
        "cursor-unlink {}",
        outcome(std::fs::remove_file(&honest))
    ));
    report(format_args!(
        "cursor-rename {}",
        outcome(std::fs::rename(
            &honest,
            sidecar::readers_dir(ring).join("stolen")
        ))
    ));
    report(format_args!(
        "cursor-claim {}",
        match Slot::claim(ring, "honest") {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("refused ({e})"),
        }
    ));
    report(format_args!(
        "readers-dir-unlink {}",
        outcome(std::fs::remove_dir_all(sidecar::readers_dir(ring)))
    ));
    // Junk of its own in the readers directory: a symlink, a garbage file,
    // a huge sparse file, a directory.
    let dir = sidecar::readers_dir(ring);
    let _ = std::os::unix::fs::symlink("/etc/shadow", dir.join("evil-link"));
    let _ = std::fs::write(dir.join("garbage"), [0xa5u8; 300]);
    let _ = File::create(dir.join("huge")).and_then(|f| f.set_len(1 << 40));
    let _ = std::fs::create_dir(dir.join("a-dir"));
    let dir_fd = File::open(&dir).unwrap();
    report(format_args!(
        "readers-dir-flock-ex {}",
        flock(&dir_fd, nix::libc::LOCK_EX)
    ));

    // The wake file: it may write it, so it does everything to it.
    let wake = rw(&sidecar::wake_path(ring)).expect("the group may write the wake file");
    let wake2 = rw(&sidecar::wake_path(ring)).unwrap();
    report(format_args!(
        "wake-ofd-write-lock {}",
        ofd_lock(&wake, nix::libc::F_WRLCK)
    ));
    report(format_args!(
        "wake-flock-ex {}",
        flock(&wake2, nix::libc::LOCK_EX)
    ));

    // Sleepers of its own on the futex word, to make every wake cost more.
    for _ in 0..16 {
        let ring = ring.to_path_buf();
        thread::spawn(move || {
            let f = File::open(&ring).unwrap();
            let mut r = slipstream_ring::Reader::attach(&f, slipstream_ring::Start::End).unwrap();
            r.set_wake_file(
                OpenOptions::new()
                    .write(true)
                    .open(sidecar::wake_path(&ring))
                    .unwrap(),
            );
            loop {
                // Asleep until the producer wakes it, then asleep again.
                let _ = r.seek(slipstream_ring::Start::End);
                r.wait(Duration::from_secs(10));
            }
        });
    }

    // The loop: truncate, extend and garble the wake file, hold the
    // announcement, claim names, own cursor files truncated under claims.
    let started = Instant::now();
    let mut counts = BTreeMap::<&str, u64>::new();
    let mut i = 0u64;
    let attack_for = attack_for();
    while started.elapsed() < attack_for {
        i += 1;
        match i % 5 {
            0 => drop(wake.set_len(0)),
            1 => drop(wake.set_len(1 << 30)),
            2 => drop(wake.write_all_at(&[0xff; 4096], 0)),
            3 => drop(wake.set_len(2)),
            _ => drop(wake.write_all_at(&u32::MAX.to_le_bytes(), 0)),
        }
        *counts.entry("wake-file-abuse").or_default() += 1;
        let name = format!("hostile-{}", i % 7);
        if let Ok((slot, _)) = Slot::claim(ring, &name) {
            slot.store_cursor(u64::MAX, u64::MAX);
            slot.count(u64::MAX, u64::MAX);
            *counts.entry("claims").or_default() += 1;
            drop(slot);
        }
        if i % 3 == 0 {
            // Its own cursor file, truncated and garbled while nobody holds it.
            if let Ok(f) = rw(&dir.join(format!("hostile-{}", i % 7))) {
                let _ = f.set_len(i % 100);
                *counts.entry("own-cursor-truncations").or_default() += 1;
            }
        }
        if i % 50 == 0 {
            let _ = nix::unistd::truncate(ring, 0);
            *counts.entry("ring-truncate-retries").or_default() += 1;
        }
    }
    for (k, v) in &counts {
        report(format_args!("count {k} {v}"));
    }
    // Hold everything, announcement set, and stop.
    let _ = wake.write_all_at(&1u32.to_le_bytes(), 0);
    let held = Slot::claim(ring, "hostile-held").ok();
    report(format_args!("stopping held_claim={}", held.is_some()));
    let _ = kill(nix::unistd::getpid(), Signal::SIGSTOP);
    // Continued (the parent kills it instead, normally): keep holding.
    thread::sleep(DEADLINE);
    drop((ro, ro2, ro3, dir_fd, wake, wake2, held));
}

/// Spawns the hostile child against `ring` as [`HOSTILE_UID`]:[`GROUP`].
fn spawn_hostile(ring: &Path, producer_pid: u32) -> (ChildGuard, mpsc::Receiver<String>) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_entry_hostile",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("SLIPSTREAM_HOSTILE", ring)
    .env("SLIPSTREAM_PRODUCER_PID", producer_pid.to_string())
    .uid(HOSTILE_UID)
    .gid(GROUP)
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    die_with_parent(&mut cmd);
    let mut child = cmd.spawn().expect("spawn the hostile child");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            // libtest may print "test NAME ... " before the first line.
            if let Some(at) = line.find(MARK) {
                let _ = tx.send(line[at + MARK.len()..].to_owned());
            }
        }
    });
    (ChildGuard::new(child), rx)
}

fn read_until(c: &mut Consumer, cover: &mut Cover, end: u64) {
    let deadline = Instant::now() + DEADLINE;
    while cover.next.unwrap_or(0) < end {
        assert!(
            Instant::now() < deadline,
            "honest consumer stuck at {:?}, end {end}",
            cover.next
        );
        match c.next(Duration::from_millis(20)) {
            Ok(Some(item)) => cover.item("honest consumer", &item),
            Ok(None) => {}
            Err(e) => panic!("honest consumer: {e}"),
        }
    }
}

/// Issue 9.5: an unprivileged member of the ring's group truncates or extends
/// every file it can open, writes garbage into everything it can write, takes
/// every lock it can (OFD read and write, flock shared and exclusive, on the
/// ring, the wake file and the readers directory), holds the sleep
/// announcement, puts 16 sleepers of its own on the futex, claims names in a
/// loop, tries to kill the producer, and stops itself (SIGSTOP) holding all
/// that. Meanwhile the producer publishes without an error and never dies; a
/// second producer starts after the first exits (the hostile child still
/// stopped with its locks); the honest named consumer reads every event or an
/// exact lag, and resumes under its name; and the kernel refused each write,
/// truncation, lock and removal aimed at what is not the attacker's.
#[test]
fn a_hostile_group_member_cannot_crash_block_or_corrupt_the_node() {
    assert!(
        is_root(),
        "this test drops privileges to uid {HOSTILE_UID} for the hostile consumer, which needs \
         root: run the tests as root (as CI does)"
    );
    let ring = TempRing::new("hostile");
    let path = ring.path().to_path_buf();
    let options = || ProducerOptions {
        layout: Layout::new(1 << 20).max_payload(64 << 10),
        mode: 0o640,
        group: Some(GROUP),
        wake: Wake::EveryEvent,
        ..Default::default()
    };
    let mut producer = Producer::open(&path, options()).unwrap();
    let mut honest = Consumer::builder(&path)
        .name("honest")
        .start(Start::Oldest)
        .open()
        .unwrap();
    let mut cover = Cover::default();

    // The node: blocks of 50 events, flat out, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let node = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut height = 1u64;
            let mut published = 0u64;
            while !stop.load(Ordering::Relaxed) {
                producer.begin_block(height).unwrap();
                for i in 0..50u32 {
                    producer
                        .mapping_update(
                            b"credits.aleo",
                            b"account",
                            &i.to_le_bytes(),
                            &height.to_le_bytes(),
                        )
                        .unwrap();
                }
                producer.commit_block().unwrap();
                published += 52;
                height += 1;
            }
            (producer, height, published)
        })
    };
    let (hostile, lines) = spawn_hostile(&path, std::process::id());
    let mut seen = BTreeMap::<String, String>::new();
    let deadline = Instant::now() + DEADLINE;
    loop {
        assert!(
            Instant::now() < deadline,
            "the hostile child never stopped: {seen:?}"
        );
        for _ in 0..10_000 {
            match honest.next(Duration::from_millis(1)) {
                Ok(Some(item)) => cover.item("honest consumer", &item),
                Ok(None) => break,
                Err(e) => panic!("honest consumer: {e}"),
            }
        }
        let mut stopping = false;
        while let Ok(l) = lines.try_recv() {
            stopping |= l.starts_with("stopping");
            let (k, v) = l.split_once(' ').unwrap_or((&l, ""));
            seen.insert(
                k.to_owned()
                    + if k == "count" {
                        v.split(' ').next().unwrap()
                    } else {
                        ""
                    },
                v.to_owned(),
            );
        }
        if stopping {
            break;
        }
    }
    // The node went on throughout: stop it and check it never failed.
    stop.store(true, Ordering::Relaxed);
    let (producer, mut height, published) =
        node.join().expect("every publish returned Ok under attack");
    let end = producer.next_seq();
    drop(producer);
    // A second producer starts while the hostile child is stopped, holding its locks.
    let mut second =
        Producer::open(&path, options()).expect("a second producer starts under attack");
    assert_eq!(second.next_seq(), end);
    for _ in 0..20 {
        second.begin_block(height).unwrap();
        second.mapping_update(b"p", b"m", b"k", b"v").unwrap();
        second.commit_block().unwrap();
        height += 1;
    }
    let end = second.next_seq();
    read_until(&mut honest, &mut cover, end);
    honest.commit();
    drop(honest);
    // Its cursor is intact, and it resumes exactly under its name.
    let mut again = Consumer::builder(&path).name("honest").open().unwrap();
    assert_eq!(again.next_seq(), end);
    second.begin_block(height).unwrap();
    second.commit_block().unwrap();
    match again.next(Duration::from_secs(10)).unwrap() {
        Some(Item::Event(e)) => assert_eq!(e.seq, end),
        other => panic!("after resuming: {other:?}"),
    }
    hostile.signal(Signal::SIGKILL);
    drop(hostile);

    eprintln!("hostile child reported: {seen:#?}");
    eprintln!(
        "node published {published} events under attack without an error; honest consumer: {} events, {} lags {:?}",
        cover.events,
        cover.lags.len(),
        &cover.lags[..cover.lags.len().min(5)]
    );
    let expect = |k: &str, want: &[&str]| {
        let got = seen
            .get(k)
            .unwrap_or_else(|| panic!("no report of {k}: {seen:?}"));
        assert!(
            want.iter().any(|w| got.starts_with(w)),
            "{k}: {got} (expected one of {want:?})"
        );
    };
    assert_eq!(seen["whoami"], format!("uid={HOSTILE_UID} gid={GROUP}"));
    // The kernel refused every write, truncation and removal of what is not its own.
    expect("ring-open-rw", &["EACCES"]);
    expect("ring-truncate", &["EACCES"]);
    expect("ring-ftruncate", &["EINVAL", "EBADF"]);
    expect("ring-pwrite", &["EBADF"]);
    expect("ring-mmap-write", &["EACCES"]);
    expect("lock-open-rw", &["EACCES"]);
    expect("lock-open-ro", &["EACCES"]);
    expect("lock-unlink", &["EACCES", "EPERM"]);
    expect("producer-kill", &["EPERM"]);
    expect("cursor-open-rw", &["EACCES"]);
    expect("cursor-open-ro", &["EACCES"]);
    expect("cursor-unlink", &["EPERM", "EACCES"]);
    expect("cursor-rename", &["EPERM", "EACCES"]);
    expect("cursor-claim", &["refused"]);
    expect("readers-dir-unlink", &["EPERM", "EACCES"]);
    // The locks it could take (on what it can read), taken: they blocked nothing.
    expect("ring-ofd-read-lock", &["ok"]);
    expect("ring-flock-ex", &["ok"]);
    expect("wake-ofd-write-lock", &["ok"]);
    assert!(published > 0 && cover.events > 0);
    let claims: u64 = seen
        .get("countclaims")
        .and_then(|v| v.split(' ').nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        claims > 0,
        "the hostile child claimed names in a loop: {seen:?}"
    );
    // What it left behind does not stop a listing.
    let listed = slipstream_ring::read_slots(&path).unwrap();
    assert!(
        listed
            .iter()
            .any(|s| s.name == "honest" && s.problem.is_none()),
        "{listed:?}"
    );
}
