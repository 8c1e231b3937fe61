//! Hostile and broken files.
//!
//! Ring files that are corrupt (bytes flipped in the header or the data, of a
//! live ring and of a dead one), truncated, of another format or version, not
//! files at all, unreadable, or too large for their disk; an event over the
//! maximum; wake and cursor files truncated under the readers.
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
use slipstream_consumer::{BlockItem, Consumer, ConsumerError, EventRef, Start};
use slipstream_producer::{Producer, ProducerError};
use slipstream_ring::{Geometry, Item as RingItem, Layout, OpenError, Reader, Start as RingStart};
use slipstream_tests::faults::*;
use slipstream_tests::process::{bounded, run, wait_until, Spawned};
use slipstream_tests::rng::Rng;
use slipstream_tests::tools::{sim, stat, tail};
use slipstream_tests::{workspace_bin, TempDir, TempRing};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A ring written by the simulator and closed: 256 KiB, lapped a few times,
/// so that it holds padding records and a full segment table.
fn dead_ring(tag: &str) -> TempRing {
    let ring = TempRing::new(tag);
    run(
        sim(
            ring.path(),
            &[
                "--blocks",
                "200",
                "--flat-out",
                "--capacity",
                "256KiB",
                "--max-event",
                "16KiB",
                "--block-size",
                "1KiB..8KiB",
                "--events-per-block",
                "10..60",
                "--quiet",
            ],
        ),
        CLI_LIMIT,
    )
    .assert_success();
    ring
}

/// One record of a baseline read: its bytes, and the positions it spans
/// (from the cursor before it, padding included, to the one after).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rec {
    kind: u16,
    payload: Vec<u8>,
    from: u64,
    to: u64,
}

/// Every record the ring holds, by sequence number.
fn baseline(path: &Path) -> BTreeMap<u64, Rec> {
    let file = File::open(path).unwrap();
    let mut r = Reader::attach(&file, RingStart::Oldest).unwrap();
    let mut out = BTreeMap::new();
    loop {
        let from = r.position();
        match r.try_next().unwrap() {
            None => break,
            Some(RingItem::Record(rec)) => {
                let (seq, kind, payload) = (rec.seq, rec.kind, rec.payload.to_vec());
                out.insert(
                    seq,
                    Rec {
                        kind,
                        payload,
                        from,
                        to: r.position(),
                    },
                );
            }
            Some(RingItem::Lagged(l)) => panic!("a closed ring lapped its reader: {l:?}"),
        }
    }
    out
}

/// A byte of the file to flip: its offset and the mask XORed into it.
#[derive(Clone, Copy, Debug)]
struct Flip {
    off: u64,
    mask: u8,
}

fn apply(file: &File, flips: &[Flip]) -> Vec<u8> {
    let old: Vec<u8> = flips.iter().map(|f| read_at(file, f.off, 1)[0]).collect();
    for (f, o) in flips.iter().zip(&old) {
        file.write_all_at(&[o ^ f.mask], f.off).unwrap();
    }
    old
}

fn restore(file: &File, flips: &[Flip], old: &[u8]) {
    for (f, o) in flips.iter().zip(old).rev() {
        file.write_all_at(&[*o], f.off).unwrap();
    }
}

/// Where flips land.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Region {
    /// The header page(s) and the wake page: fixed fields, counters, the segment table.
    Header,
    /// The data region: record headers, sequence numbers, payloads, padding.
    Data,
}

fn pick_flips(rng: &mut Rng, geo: &Geometry, region: Region) -> Vec<Flip> {
    let n = 1 + rng.below(3);
    (0..n)
        .map(|_| {
            let off = match region {
                Region::Header => match rng.below(10) {
                    // The fixed fields and the counters.
                    0..=3 => rng.below(512),
                    // The segment table.
                    4..=7 => 512 + rng.below(16 * geo.layout.segments as u64),
                    // Anywhere before the data: the rest of the header page, the wake page.
                    _ => rng.below(geo.data_offset),
                },
                Region::Data => geo.data_offset + rng.below(geo.capacity),
            };
            Flip {
                off,
                mask: 1 + rng.below(255) as u8,
            }
        })
        .collect()
}

/// Header bytes a reader does not read: a flip there must change nothing.
fn ignored_by_readers(off: u64, geo: &Geometry) -> bool {
    let seg_end = 768 + 16 * geo.layout.segments as u64;
    (56..72).contains(&off)      // ring_id, created
        || (80..256).contains(&off) // reserved, producer fields
        || (264..384).contains(&off) // reserved after tail_intent
        || (400..768).contains(&off) // commit slots (recovery only), reserved, notify, statistics
        || (seg_end..geo.data_offset).contains(&off)
}

/// Whether a flip lies inside the positions `from..to` of the data region.
fn touches(flips: &[Flip], geo: &Geometry, from: u64, to: u64) -> bool {
    flips.iter().any(|f| {
        f.off >= geo.data_offset && f.off < geo.file_len && {
            let d = f.off - geo.data_offset;
            (d.wrapping_sub(from & geo.mask) & geo.mask) < to - from
        }
    })
}

/// Reads the flipped dead ring with the ring's reader and checks what it
/// delivers against the baseline: in order, and every record whose bytes no
/// flip touched exactly as written. Returns the outcome for the summary, and
/// how many delivered records a flip had altered (undetectable: no checksum).
fn check_flipped_reader(
    path: &Path,
    base: &BTreeMap<u64, Rec>,
    flips: &[Flip],
    geo: &Geometry,
) -> (String, u64) {
    let file = File::open(path).unwrap();
    let mut r = match Reader::attach(&file, RingStart::Oldest) {
        Ok(r) => r,
        Err(e) => return (format!("attach refused: {}", category(&e.to_string())), 0),
    };
    let mut prev: Option<u64> = None;
    let mut delivered = 0u64;
    let mut altered = 0u64;
    for _ in 0..base.len() + 64 {
        match r.try_next() {
            Ok(None) => {
                let all = prev == base.keys().next_back().copied();
                return (
                    if all {
                        "read to the end".to_string()
                    } else {
                        "read a part, then nothing more".to_string()
                    },
                    altered,
                );
            }
            Ok(Some(RingItem::Record(rec))) => {
                if let Some(p) = prev {
                    assert_eq!(rec.seq, p + 1, "records come in order, no gap");
                }
                prev = Some(rec.seq);
                delivered += 1;
                match base.get(&rec.seq) {
                    Some(b) if !touches(flips, geo, b.from, b.to) => {
                        assert_eq!(
                            (rec.kind, rec.payload),
                            (b.kind, &b.payload[..]),
                            "record {} was delivered altered, though no flip touched it ({flips:?})",
                            rec.seq
                        );
                    }
                    Some(b) => {
                        altered += ((rec.kind, rec.payload) != (b.kind, &b.payload[..])) as u64
                    }
                    None => panic!(
                        "record {} was not in the ring ({flips:?}), yet was delivered",
                        rec.seq
                    ),
                }
            }
            Ok(Some(RingItem::Lagged(l))) => {
                // Only a flipped counter can make a closed ring look lapped;
                // the lag must still be a range.
                assert!(l.last_missed >= l.first_missed);
                prev = Some(l.last_missed);
            }
            Err(e) => {
                return (
                    format!(
                        "typed error after {delivered}: {}",
                        category(&e.to_string())
                    ),
                    altered,
                )
            }
        }
    }
    panic!("the reader delivered more records than the ring holds ({flips:?})");
}

/// Reads the ring with the SDK as a consumer would; every outcome must be an
/// item or a typed error, within a bound.
fn check_flipped_sdk(path: &Path, bound: usize) -> String {
    let mut c = match Consumer::builder(path).start(Start::Oldest).open() {
        Ok(c) => c,
        Err(e) => {
            let text = e.to_string();
            assert!(!text.is_empty());
            return format!("refused: {}", category(&text));
        }
    };
    let mut decode_errors = 0;
    for _ in 0..bound {
        match c.try_next() {
            Ok(None) => return format!("read ({decode_errors} undecodable)"),
            Ok(Some(_)) => {}
            Err(ConsumerError::Decode { .. }) => decode_errors += 1,
            Err(e) => return format!("error: {}", category(&e.to_string())),
        }
    }
    format!("still reading after {bound} items")
}

/// The CLIs on a damaged ring: they read it or refuse it, naming the ring;
/// they never panic, crash or hang.
fn check_flipped_clis(path: &Path, tally: &mut BTreeMap<String, u64>) {
    let out = run(
        tail(path, &["--json", "--from", "oldest", "--no-follow"]),
        CLI_LIMIT,
    );
    out.assert_ok_or_refused(path);
    let key = match out.status.code() {
        Some(0) => "slipstream-tail: read to the end".to_string(),
        _ => format!(
            "slipstream-tail: {}",
            category(out.stderr.lines().last().unwrap_or(""))
        ),
    };
    *tally.entry(key).or_default() += 1;
    let out = run(stat(path, &["--json", "--interval", "0s"]), CLI_LIMIT);
    out.assert_ok_or_refused(path);
    let key = match out.status.code() {
        Some(0) => "slipstream stat: ok".to_string(),
        _ => format!(
            "slipstream stat: {}",
            category(out.stderr.lines().last().unwrap_or(""))
        ),
    };
    *tally.entry(key).or_default() += 1;
}

/// Random bytes flipped in the header and in the data of a closed ring: the
/// reader and the SDK return records or typed errors, never panic or hang;
/// no record whose bytes were left alone is ever delivered altered; flips in
/// bytes readers ignore change nothing; the CLIs exit 0 or 1 naming the ring.
#[test]
fn flipped_bytes_in_a_dead_ring_give_typed_errors_never_altered_records() {
    let mut rng = rng_for("flipped_bytes_dead");
    let ring = dead_ring("fault-flip-dead");
    let path = ring.path().to_path_buf();
    let geo = geometry(&path);
    let base = Arc::new(baseline(&path));
    assert!(
        base.len() > 500,
        "the ring holds enough records: {}",
        base.len()
    );
    let last = *base.keys().next_back().unwrap();
    assert!(head(&path).tail > 2 * geo.capacity, "the ring has wrapped");
    let file = open_rw(&path);
    let n = iters();
    let cli_every = (n / 10).max(1);
    let mut tally = BTreeMap::<String, u64>::new();
    let mut altered_total = 0;
    for region in [Region::Header, Region::Data] {
        for i in 0..n {
            let flips = pick_flips(&mut rng, &geo, region);
            let old = apply(&file, &flips);
            let what = format!("{region:?} flip {i}: {flips:?}");
            let (outcome, altered) = {
                let (p, b, f) = (path.clone(), base.clone(), flips.clone());
                bounded(&what, Duration::from_secs(30), move || {
                    check_flipped_reader(&p, &b, &f, &geo)
                })
            };
            altered_total += altered;
            if region == Region::Header && flips.iter().all(|f| ignored_by_readers(f.off, &geo)) {
                assert_eq!(
                    outcome, "read to the end",
                    "{what}: bytes readers ignore changed what they read"
                );
                assert_eq!(oldest(&path), *base.keys().next().unwrap());
                assert_eq!(head(&path).next_seq, last + 1);
            }
            *tally
                .entry(format!("{region:?}: reader: {outcome}"))
                .or_default() += 1;
            let sdk = {
                let p = path.clone();
                let bound = base.len() + 64;
                bounded(&what, Duration::from_secs(30), move || {
                    check_flipped_sdk(&p, bound)
                })
            };
            *tally.entry(format!("{region:?}: SDK: {sdk}")).or_default() += 1;
            if i % cli_every == 0 {
                check_flipped_clis(&path, &mut tally);
            }
            restore(&file, &flips, &old);
        }
    }
    print_tally(
        &format!("{n} header and {n} data flip sets on a closed ring"),
        &tally,
    );
    eprintln!(
        "records delivered with a flipped byte inside them (the format has no checksum): {altered_total}"
    );
    // Restored, the ring reads exactly as before.
    assert_eq!(*base, baseline(&path));
}

/// The same flips in a ring whose producer (`slipstream-sim`) keeps writing:
/// readers get items or typed errors, never a panic or a hang; the producer
/// goes on to the end and exits cleanly; once it has written over the damage,
/// the ring reads cleanly again.
#[test]
fn flipped_bytes_in_a_live_ring_give_typed_errors_and_the_producer_goes_on() {
    let mut rng = rng_for("flipped_bytes_live");
    let ring = TempRing::new("fault-flip-live");
    let path = ring.path().to_path_buf();
    let node = Spawned::spawn(sim(
        &path,
        &[
            "--rate",
            "200",
            "--capacity",
            "256KiB",
            "--max-event",
            "16KiB",
            "--block-size",
            "1KiB..4KiB",
            "--events-per-block",
            "10..50",
            "--quiet",
        ],
    ));
    let capacity = 256u64 << 10;
    wait_until("the producer laps", Duration::from_secs(60), || {
        path.exists() && Consumer::builder(&path).open().is_ok() && head(&path).tail > capacity
    });
    let geo = geometry(&path);
    let file = open_rw(&path);
    let seg_end = 768 + 16 * geo.layout.segments as u64;
    // Bytes that stay as they are while the producer runs: restored after each
    // flip. The others (counters, commit slots, statistics, segment table,
    // data) the producer rewrites.
    let fixed = |off: u64| {
        off < 256
            || (264..384).contains(&off)
            || (432..512).contains(&off)
            || (516..640).contains(&off)
            || (680..768).contains(&off)
            || (seg_end..geo.data_offset).contains(&off)
    };
    let n = iters();
    let cli_every = (n / 10).max(1);
    let mut tally = BTreeMap::<String, u64>::new();
    let start = head(&path);
    for region in [Region::Header, Region::Data] {
        for i in 0..n {
            let flips = pick_flips(&mut rng, &geo, region);
            let old = apply(&file, &flips);
            let what = format!("live {region:?} flip {i}: {flips:?}");
            let sdk = {
                let p = path.clone();
                bounded(&what, Duration::from_secs(30), move || {
                    check_flipped_sdk(&p, 2000)
                })
            };
            *tally.entry(format!("{region:?}: SDK: {sdk}")).or_default() += 1;
            if i % cli_every == 0 {
                check_flipped_clis(&path, &mut tally);
            }
            let (keep, back): (Vec<_>, Vec<_>) = flips
                .iter()
                .zip(&old)
                .filter(|(f, _)| fixed(f.off))
                .map(|(f, o)| (*f, *o))
                .unzip();
            restore(&file, &keep, &back);
        }
    }
    print_tally(
        &format!("{n} header and {n} data flip sets on a live ring"),
        &tally,
    );
    // The producer went on throughout, and once it has written the ring over
    // (two laps), a reader finds it clean from the oldest record to the end.
    let after = head(&path);
    assert!(after.next_seq > start.next_seq, "{start:?} then {after:?}");
    wait_until(
        "the producer writes two laps",
        Duration::from_secs(60),
        || head(&path).tail > after.tail + 2 * capacity,
    );
    let mut c = Consumer::builder(&path)
        .start(Start::Oldest)
        .open()
        .unwrap();
    let mut cover = Cover::default();
    let end = head(&path).next_seq;
    drain_to(&mut c, &mut cover, "a reader after the damage", end);
    assert!(cover.lags.len() <= 1, "{:?}", cover.lags);
    node.signal(Signal::SIGTERM);
    node.finish(CLI_LIMIT).assert_success();
}

/// What every reader and the simulator must say about a file that is not a
/// usable ring: SDK errors that name the path and the problem, exit status 1
/// and the same on stderr from each CLI, and a simulator that leaves the file
/// as it was.
fn assert_every_tool_refuses(path: &Path, reasons: &[&str], with_sim: bool) {
    let shown = path.display().to_string();
    for name in [None, Some("a-consumer")] {
        let mut b = Consumer::builder(path);
        if let Some(name) = name {
            b = b.name(name);
        }
        let err = b
            .open()
            .err()
            .unwrap_or_else(|| panic!("the SDK attached to {shown}"));
        let text = err.to_string();
        assert!(
            text.contains(&shown),
            "SDK error does not name {shown}: {text}"
        );
        assert!(
            reasons.iter().any(|r| text.contains(r)),
            "SDK error names none of {reasons:?}: {text}"
        );
    }
    run(tail(path, &[]), CLI_LIMIT).assert_refused(path, reasons);
    run(
        tail(path, &["--json", "--name", "x", "--from", "oldest"]),
        CLI_LIMIT,
    )
    .assert_refused(path, reasons);
    run(stat(path, &[]), CLI_LIMIT).assert_refused(path, reasons);
    if with_sim {
        let before = std::fs::symlink_metadata(path).ok().map(|m| {
            (
                m.len(),
                m.is_file().then(|| std::fs::read(path).unwrap_or_default()),
            )
        });
        run(
            sim(path, &["--blocks", "1", "--block-size", "1KiB", "--quiet"]),
            CLI_LIMIT,
        )
        .assert_refused(path, reasons);
        let after = std::fs::symlink_metadata(path).ok().map(|m| {
            (
                m.len(),
                m.is_file().then(|| std::fs::read(path).unwrap_or_default()),
            )
        });
        assert!(before == after, "the simulator changed {shown}");
    }
}

/// A ring cut short in its header, its data or its reader slots.
#[test]
fn truncated_rings_are_refused_by_every_reader_and_the_simulator() {
    let ring = dead_ring("fault-trunc");
    let geo = geometry(ring.path());
    let original = std::fs::read(ring.path()).unwrap();
    assert_eq!(original.len() as u64, geo.file_len);
    for cut in [
        4,
        100,
        767,
        768 + 100,
        geo.header_len - 1,
        geo.data_offset + 1000,
        geo.data_offset + geo.capacity / 2,
        geo.file_len - 8,
        geo.file_len - 1,
    ] {
        let copy = TempRing::new("fault-trunc-copy");
        std::fs::write(copy.path(), &original[..cut as usize]).unwrap();
        eprintln!("cut at {cut} of {}", geo.file_len);
        assert_every_tool_refuses(copy.path(), &["truncated", "too short"], true);
    }
    // Cut to nothing: indistinguishable from a ring being created.
    let empty = TempRing::new("fault-trunc-empty");
    std::fs::write(empty.path(), b"").unwrap();
    assert_every_tool_refuses(empty.path(), &["not initialised", "empty"], false);
}

/// Files of another format, and a ring of another version.
#[test]
fn files_of_another_format_or_version_are_refused() {
    // A 1x1 PNG, whole (67 bytes).
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\nIDATx\x9cc\0\x01\0\0\x05\0\x01\r\n-\xb4\0\0\0\0IEND\xaeB`\x82";
    let png = TempRing::new("fault-png");
    std::fs::write(png.path(), PNG).unwrap();
    assert_every_tool_refuses(png.path(), &["not a Slipstream ring"], true);
    // The same PNG padded past a ring header's size.
    let mut big = PNG.to_vec();
    big.resize(64 << 10, 0);
    std::fs::write(png.path(), &big).unwrap();
    assert_every_tool_refuses(png.path(), &["not a Slipstream ring"], true);
    // An ELF executable.
    let elf = TempRing::new("fault-elf");
    std::fs::copy("/bin/true", elf.path()).unwrap();
    assert_every_tool_refuses(elf.path(), &["not a Slipstream ring"], true);

    // A ring of another format version (byte 8).
    let ring = dead_ring("fault-version");
    for version in [1u32, 3, 0, 0xffff_ffff] {
        let f = open_rw(ring.path());
        f.write_all_at(&version.to_le_bytes(), 8).unwrap();
        assert_every_tool_refuses(
            ring.path(),
            &[&format!("ring format version {version} is not supported")],
            true,
        );
    }
    // The message says how to replace it.
    let out = run(stat(ring.path(), &["--interval", "0s"]), CLI_LIMIT);
    assert!(out.stderr.contains("--recreate"), "{}", out.stderr);
}

/// A path that is a directory, a dangling symbolic link, or a file this user
/// cannot read.
#[test]
fn a_directory_a_dangling_symlink_and_an_unreadable_file_are_refused() {
    let dir = TempDir::new("fault-dir");
    assert_every_tool_refuses(&dir.0, &["directory"], true);

    let link = TempRing::new("fault-dangling");
    let target = PathBuf::from(format!("{}-target", link.path().display()));
    std::os::unix::fs::symlink(&target, link.path()).unwrap();
    assert_every_tool_refuses(
        link.path(),
        &["does not exist", "No such file", "symbolic link"],
        true,
    );
    assert!(
        !target.exists(),
        "nothing was created through the dangling link"
    );

    let ring = dead_ring("fault-unreadable");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(ring.path(), std::fs::Permissions::from_mode(0o000)).unwrap();
    if !is_root() {
        assert_every_tool_refuses(ring.path(), &["Permission denied", "permission"], true);
        return;
    }
    // Root reads a mode-000 file anyway: the SDK attaches, as it should.
    eprintln!(
        "running as root: mode 000 does not stop root, so the SDK is checked to attach, \
         and the CLIs are run as uid 65534 (nobody)"
    );
    Consumer::builder(ring.path())
        .open()
        .expect("root reads a mode-000 ring");
    let as_nobody = |mut cmd: Command| {
        use std::os::unix::process::CommandExt;
        cmd.uid(65534).gid(65534);
        cmd
    };
    let probe = as_nobody(Command::new(workspace_bin("slipstream")))
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match probe {
        Ok(s) if s.success() => {}
        other => {
            eprintln!("SKIPPED: cannot run the CLIs as uid 65534 here ({other:?}); the unreadable-file case is not checked for them");
            return;
        }
    }
    let reasons = ["Permission denied"];
    run(as_nobody(tail(ring.path(), &[])), CLI_LIMIT).assert_refused(ring.path(), &reasons);
    run(as_nobody(stat(ring.path(), &[])), CLI_LIMIT).assert_refused(ring.path(), &reasons);
    let before = std::fs::read(ring.path()).unwrap();
    run(
        as_nobody(sim(ring.path(), &["--blocks", "1", "--block-size", "1KiB"])),
        CLI_LIMIT,
    )
    .assert_refused(ring.path(), &reasons);
    assert_eq!(before, std::fs::read(ring.path()).unwrap());
}

/// A small tmpfs mounted on a fresh directory, unmounted on drop.
struct SmallDisk(TempDir);

impl SmallDisk {
    fn mount(size: &str) -> Result<SmallDisk, String> {
        let dir = TempDir::new("fault-tmpfs");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir.0)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0 .0).status();
    }
}

/// A disk too small for the ring: the producer fails at creation with
/// ENOSPC (the file is allocated in full first), names the path, and leaves
/// nothing that a reader would take for a ring; a ring that fits then works.
#[test]
fn a_disk_too_small_for_the_ring_fails_cleanly_with_enospc() {
    let disk = match SmallDisk::mount("1m") {
        Ok(d) => d,
        Err(e) => {
            // Fallback: a file size limit injects the same kind of failure.
            eprintln!("cannot mount a tmpfs ({e}): injecting EFBIG with RLIMIT_FSIZE instead");
            return disk_full_by_rlimit();
        }
    };
    let path = disk.0 .0.join("ring");
    let out = run(
        sim(
            &path,
            &[
                "--capacity",
                "4MiB",
                "--max-event",
                "64KiB",
                "--block-size",
                "1KiB",
                "--blocks",
                "1",
            ],
        ),
        CLI_LIMIT,
    );
    out.assert_refused(&path, &["No space left on device"]);
    assert!(out.stderr.contains("fallocate"), "{}", out.stderr);
    assert_no_ring_left(&path);

    // The API says the same, with the OS error in the chain.
    let err =
        Producer::open(&path, options(Layout::new(4 << 20).max_payload(64 << 10))).unwrap_err();
    match &err {
        ProducerError::Open {
            source: OpenError::Io { op, source },
            ..
        } => {
            assert_eq!(*op, "fallocate ring file");
            assert_eq!(source.raw_os_error(), Some(nix::libc::ENOSPC), "{err}");
        }
        other => panic!("{other:?}"),
    }
    assert_no_ring_left(&path);

    // A ring that fits is created at the same path and works.
    run(
        sim(
            &path,
            &[
                "--capacity",
                "256KiB",
                "--max-event",
                "16KiB",
                "--block-size",
                "1KiB",
                "--events-per-block",
                "10..20",
                "--blocks",
                "3",
                "--quiet",
            ],
        ),
        CLI_LIMIT,
    )
    .assert_success();
    let mut c = Consumer::builder(&path)
        .start(Start::Oldest)
        .open()
        .unwrap();
    let mut cover = Cover::from(1);
    let end = head(&path).next_seq;
    drain_to(&mut c, &mut cover, "a reader of the ring that fits", end);
    assert!(cover.lags.is_empty() && cover.events > 3);
}

/// After a failed creation, the path holds no file: nothing a reader would
/// wait on as a ring being created, or the next producer would refuse.
fn assert_no_ring_left(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
        Ok(m) => panic!(
            "a failed creation left {} behind ({} bytes)",
            path.display(),
            m.len()
        ),
    }
}

/// The fallback of the disk-full test where a tmpfs cannot be mounted: the
/// simulator runs with a file size limit below the ring's size, so that its
/// allocation fails (EFBIG), and must fail as cleanly as with ENOSPC.
fn disk_full_by_rlimit() {
    let ring = TempRing::new("fault-rlimit");
    let mut cmd = sim(
        ring.path(),
        &[
            "--capacity",
            "4MiB",
            "--max-event",
            "64KiB",
            "--block-size",
            "1KiB",
            "--blocks",
            "1",
        ],
    );
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the closure only calls setrlimit and
    // signal, which are async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            let limit = nix::libc::rlimit {
                rlim_cur: 1 << 20,
                rlim_max: 1 << 20,
            };
            nix::libc::setrlimit(nix::libc::RLIMIT_FSIZE, &limit);
            nix::libc::signal(nix::libc::SIGXFSZ, nix::libc::SIG_IGN);
            Ok(())
        });
    }
    let out = run(cmd, CLI_LIMIT);
    out.assert_refused(ring.path(), &["File too large"]);
    assert!(out.stderr.contains("fallocate"), "{}", out.stderr);
    assert_no_ring_left(ring.path());
}

/// An event one byte over the maximum is refused with both sizes and costs no
/// sequence number; the block it was in is marked incomplete (its commit
/// marker counts the refused event), so consumers are told, and the ring goes on.
#[test]
fn an_event_over_the_maximum_is_refused_and_the_ring_goes_on() {
    let ring = TempRing::new("fault-too-large");
    let path = ring.path();
    let max = 4096u32;
    let mut p = Producer::open(path, options(Layout::new(1 << 20).max_payload(max))).unwrap();
    assert_eq!(p.max_event_len(), max as usize);
    let mut c = Consumer::builder(path).start(Start::Oldest).open().unwrap();
    let overhead = EventRef::Block {
        block_height: 0,
        ordinal: 0,
        block: &[],
    }
    .encoded_len();
    let too_big = vec![7u8; max as usize - overhead + 1];
    let just_fits = vec![8u8; max as usize - overhead];

    p.begin_block(10).unwrap();
    p.mapping_update_at(10, b"credits.aleo", b"account", b"k", b"v")
        .unwrap();
    let before = p.next_seq();
    let err = p.block_at(10, &too_big).unwrap_err();
    assert_eq!(
        err,
        slipstream_producer::PublishError::TooLarge {
            len: max as usize + 1,
            max,
            block: Some(10)
        }
    );
    let text = err.to_string();
    assert!(
        text.contains(&(max + 1).to_string()) && text.contains(&max.to_string()),
        "{text}"
    );
    assert_eq!(
        p.next_seq(),
        before,
        "a refused event takes no sequence number"
    );
    // Through the generic publish too.
    let err = p
        .publish(&EventRef::Block {
            block_height: 10,
            ordinal: 2,
            block: &too_big,
        })
        .unwrap_err();
    assert!(
        matches!(err, slipstream_producer::PublishError::TooLarge { .. }),
        "{err}"
    );
    assert_eq!(p.next_seq(), before);
    // The next events publish, the largest one included.
    p.block_at(10, &just_fits).unwrap();
    p.staking_reward_at(10, b"staker", b"validator", 1, 2)
        .unwrap();
    p.commit_block().unwrap();
    p.begin_block(11).unwrap();
    p.block_at(11, b"next").unwrap();
    p.commit_block().unwrap();

    // The consumer is told block 10 is incomplete (with its exact range),
    // then gets block 11 whole: every sequence number accounted for.
    let end = p.next_seq();
    let mut cover = Cover::from(1);
    let mut blocks = vec![];
    let mut incomplete = vec![];
    let deadline = Instant::now() + Duration::from_secs(30);
    while blocks.is_empty() {
        assert!(Instant::now() < deadline);
        match c.next_block(Duration::from_millis(100)).unwrap() {
            Some(BlockItem::Block(b)) => {
                cover.event("consumer", b.begin_seq);
                for e in &b.events {
                    cover.event("consumer", e.seq);
                }
                cover.event("consumer", b.commit_seq);
                blocks.push(b);
            }
            Some(BlockItem::Incomplete {
                height,
                first_seq,
                last_seq,
                reason,
            }) => {
                assert!(reason.contains("count"), "{reason}");
                for seq in first_seq..=last_seq {
                    cover.event("consumer", seq);
                }
                incomplete.push(height);
            }
            Some(other) => panic!("{other:?}"),
            None => {}
        }
    }
    assert_eq!(cover.next, Some(end));
    assert_eq!(incomplete, [10]);
    assert_eq!(blocks[0].height, 11);
    assert_eq!(blocks[0].events.len(), 1);
}

/// What consumers can write (the wake file, their cursor files) truncated,
/// extended and garbled under a running producer and attached consumers:
/// nobody maps another's file, so nobody notices but the owner of a garbled
/// cursor, whose name starts afresh. (The ring itself cannot be truncated by
/// a consumer: it is not theirs to write; see tests/tests/hostile.rs.)
#[test]
fn truncating_the_wake_file_and_cursor_files_disturbs_no_one() {
    let ring = TempRing::new("fault-cut-sidecars");
    let path = ring.path();
    let layout = Layout::new(256 << 10).max_payload(8 << 10);
    let mut p = Producer::open(path, options(layout)).unwrap();
    let mut height = 1;
    publish_blocks(&mut p, &mut height, 3);
    {
        let mut gone = named(path, "gone");
        gone.try_next().unwrap();
    }
    let mut plain = Consumer::builder(path).start(Start::Oldest).open().unwrap();
    let mut named_c = named(path, "survivor");
    let (mut c1, mut c2) = (Cover::from(1), Cover::from(1));
    drain_to(&mut plain, &mut c1, "unnamed", p.next_seq());
    drain_to(&mut named_c, &mut c2, "survivor", p.next_seq());

    let wake = open_rw(&slipstream_ring::sidecar::wake_path(path));
    let gone = cursor_file(path, "gone");
    for round in 0..20u64 {
        match round % 4 {
            0 => wake.set_len(0).unwrap(),
            1 => wake.set_len(1 << 30).unwrap(),
            2 => wake.write_all_at(&[0xff; 64], 0).unwrap(),
            _ => wake.set_len(2).unwrap(),
        }
        gone.set_len(round % 3).unwrap();
        publish_blocks(&mut p, &mut height, 5);
        p.flush();
        drain_to(&mut plain, &mut c1, "unnamed", p.next_seq());
        drain_to(&mut named_c, &mut c2, "survivor", p.next_seq());
    }
    eprintln!(
        "while the sidecars were cut: {} and {} events read, lags {:?} {:?}",
        c1.events, c2.events, c1.lags, c2.lags
    );
    // The named consumer's cursor is stored in its own file.
    named_c.commit();
    assert_eq!(
        slot_named(path, "survivor").unwrap().next_seq,
        named_c.next_seq()
    );
    // The garbled name is listed with its problem and starts afresh.
    assert!(slot_named(path, "gone").unwrap().problem.is_some());
    run(stat(path, &["--interval", "0s"]), CLI_LIMIT).assert_success();
    let again = Consumer::builder(path)
        .name("gone")
        .start(Start::End)
        .open()
        .unwrap();
    assert_eq!(again.next_seq(), p.next_seq());
}
