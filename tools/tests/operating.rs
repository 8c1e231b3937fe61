//! Operating a ring: consumer health from real rings and cursors, `stat
//! --check`, `stat --watch`'s sparkline, and `slipstream exporter` scraped
//! over HTTP and parsed with a Prometheus text parser.
//!
//! Rings live under the temp dir with unique names and are removed by a
//! guard; the exporter child is killed by a guard; every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use slipstream_producer::{Layout, Producer, ProducerOptions};
use slipstream_ring::stats::{RingStats, StatsReader};
use slipstream_ring::Slot;
use slipstream_tools::health::{judge, HealthArgs, History, State};

const SLIPSTREAM: &str = env!("CARGO_BIN_EXE_slipstream");

/// A ring path that is removed, with its sidecars, when the test ends.
type Ring = slipstream_tests::TempRing;

/// A child process killed (and reaped) when the test ends, however it ends.
use slipstream_tests::ChildGuard as Kill;

fn producer(path: &Path) -> Producer {
    Producer::open(
        path,
        ProducerOptions {
            layout: Layout::new(1 << 16).max_payload(4096),
            ..Default::default()
        },
    )
    .unwrap()
}

/// Publishes `blocks` blocks of `per_block` 100-byte mapping updates.
fn publish(p: &mut Producer, blocks: u64, per_block: u32) {
    static HEIGHT: AtomicU32 = AtomicU32::new(1);
    for _ in 0..blocks {
        let h = HEIGHT.fetch_add(1, Ordering::Relaxed) as u64;
        p.begin_block(h).unwrap();
        for _ in 0..per_block {
            p.mapping_update(b"credits.aleo", b"account", &[1; 32], &[2; 40])
                .unwrap();
        }
        p.commit_block().unwrap();
    }
}

fn claim(path: &Path, name: &str) -> Slot {
    Slot::claim(path, name).unwrap().0
}

/// Sets `slot` at `next_seq` and counts `delivered` records (stamping its progress).
fn at(slot: &Slot, next_seq: u64, delivered: u64) {
    slot.store_cursor(next_seq, 0);
    slot.count(delivered, 0);
}

fn verdicts(earlier: &RingStats, now: &RingStats, t: &HealthArgs) -> Vec<(String, State, String)> {
    now.cursors
        .iter()
        .map(|c| {
            let v = judge(Some(earlier), now, c, t);
            (c.name.clone(), v.state, v.reason)
        })
        .collect()
}

/// Every state, from a real ring and real cursor files: each consumer is
/// driven into its state, and two snapshots a window apart judge it.
#[test]
fn each_health_state_from_a_real_ring_and_cursors() {
    let ring = Ring::new("health");
    let mut p = producer(&ring.0);
    let mut stats = StatsReader::open(&ring.0).unwrap();
    publish(&mut p, 5, 3);
    let head = || stats_head(&ring.0);

    let healthy = claim(&ring.0, "healthy");
    let slow = claim(&ring.0, "slow");
    let stalled = claim(&ring.0, "stalled");
    let lapped = claim(&ring.0, "lapped");
    let overrun = claim(&ring.0, "overrun");
    {
        let dead = claim(&ring.0, "dead");
        at(&dead, head(), 5);
    } // dropped: its lock is released, as when its process dies
    stalled.count(1, 0); // progress now, then none
    at(&lapped, 1, 1); // then the ring wraps past it
    publish(&mut p, 80, 10); // 80 blocks of 12 records of ~100 B: > 64 KiB
    let t = HealthArgs {
        stall_after: Duration::from_millis(300),
        slow_lag: 10,
    };
    std::thread::sleep(Duration::from_millis(400));
    let h = head();
    stalled.store_cursor(h - 3, 0); // events wait; no progress stamped
    at(&healthy, h, 10);
    at(&slow, h - 20, 10);
    at(&overrun, h, 10);
    // A file in the readers directory that is not a cursor (as one this
    // user may not read would be): its state cannot be told.
    std::fs::write(
        slipstream_ring::sidecar::readers_dir(&ring.0).join("junk"),
        [0xAB; 300],
    )
    .unwrap();
    let earlier = stats.read().unwrap();

    publish(&mut p, 3, 10); // 36 more records
    let h = head();
    at(&healthy, h, 36);
    at(&slow, h - 45, 11); // reads, but falls further behind
    overrun.count(0, 7); // lapped during the window
    overrun.store_cursor(h, 0);
    let now = stats.read().unwrap();

    let got = verdicts(&earlier, &now, &t);
    let state = |name: &str| {
        got.iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("no {name} in {got:?}"))
            .clone()
    };
    assert_eq!(state("healthy").1, State::Healthy, "{got:?}");
    assert_eq!(state("healthy").2, "caught up");
    let (_, s, why) = state("slow");
    assert_eq!(s, State::Slow, "{why}");
    assert!(
        why.starts_with("lag 45 events, up 25 over the last"),
        "{why}"
    );
    let (_, s, why) = state("stalled");
    assert_eq!(s, State::Stalled, "{why}");
    assert!(why.contains("while 39 events wait"), "{why}");
    let (_, s, why) = state("lapped");
    assert_eq!(s, State::Lapped, "{why}");
    assert!(why.starts_with("its next event 1 was overwritten"), "{why}");
    let (_, s, why) = state("overrun");
    assert_eq!(s, State::Lapped, "{why}");
    assert!(why.contains("missing 7 events"), "{why}");
    let (_, s, why) = state("junk");
    assert_eq!(s, State::Unknown, "{why}");
    assert!(why.starts_with("cursor unreadable: not a cursor"), "{why}");
    let (_, s, why) = state("dead");
    assert_eq!(s, State::Dead, "{why}");
    assert!(why.starts_with("no live process holds the name"), "{why}");

    // Without the window's first sample, growth cannot be seen: the slow
    // consumer is merely behind, the overrun one caught up.
    let v = judge(
        None,
        &now,
        now.cursors.iter().find(|c| c.name == "slow").unwrap(),
        &t,
    );
    assert_eq!(v.state, State::Healthy, "{v:?}");

    // A higher threshold makes the slow consumer healthy.
    let lenient = HealthArgs {
        slow_lag: 1000,
        ..t.clone()
    };
    assert_eq!(
        verdicts(&earlier, &now, &lenient)
            .iter()
            .find(|(n, _, _)| n == "slow")
            .unwrap()
            .1,
        State::Healthy
    );
    drop((healthy, slow, stalled, lapped, overrun, p));
}

fn stats_head(path: &Path) -> u64 {
    slipstream_ring::stats::read(path).unwrap().next_seq
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(SLIPSTREAM)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `stat --check` exits 0 when the consumers checked are healthy, 2 and
/// says why when one is not.
#[test]
fn stat_check_exits_non_zero_and_says_why() {
    let ring = Ring::new("check");
    let mut p = producer(&ring.0);
    publish(&mut p, 2, 2);
    let good = claim(&ring.0, "good");
    at(&good, stats_head(&ring.0), 8);
    drop({
        let gone = claim(&ring.0, "gone");
        at(&gone, 3, 2);
        gone
    });
    let r = ring.0.to_str().unwrap();
    let (code, out, err) = run(&[
        "stat",
        r,
        "--check",
        "--interval",
        "50ms",
        "--consumer",
        "good",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("OK: 1 consumer(s) healthy"), "{out}");
    let (code, out, err) = run(&["stat", r, "--check", "--interval", "50ms"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains("gone: dead: no live process holds the name"),
        "{out}"
    );
    assert!(!out.contains("good"), "{out}");
    let (code, out, _) = run(&["stat", r, "--check", "--consumer", "nobody"]);
    assert_eq!(code, 2);
    assert!(out.contains("nobody: no cursor by that name"), "{out}");
    // The plain view shows the state and the reason.
    let (code, out, err) = run(&["stat", r, "--interval", "0s"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dead"), "{out}");
    drop((good, p));
}

/// What `--watch` draws: each consumer's lag over the last minute.
#[test]
fn watch_draws_each_consumers_lag_as_a_sparkline() {
    let ring = Ring::new("watch");
    let mut p = producer(&ring.0);
    let behind = claim(&ring.0, "behind");
    let mut stats = StatsReader::open(&ring.0).unwrap();
    behind.store_cursor(1, 0);
    let mut history = History::default();
    let mut last = None;
    for _ in 0..8 {
        publish(&mut p, 1, 2); // the consumer falls 4 events further behind
        let now = stats.read().unwrap();
        history.record(&now);
        last = Some(now);
    }
    let now = last.unwrap();
    assert_eq!(history.lags("behind"), [4, 8, 12, 16, 20, 24, 28, 32]);
    let stat = slipstream_tools::stat::Stat::new(&now, None, &HealthArgs::default());
    let mut out = Vec::new();
    slipstream_tools::stat::write_human_with(&mut out, &stat, Some(&history)).unwrap();
    let out = String::from_utf8(out).unwrap();
    let line = out
        .lines()
        .find(|l| l.contains("lag, last minute:"))
        .unwrap_or_else(|| panic!("no sparkline in\n{out}"));
    // Scaled from zero to the largest lag: 4 of 32 is already one step up.
    assert!(line.contains("lag, last minute: ▂▃▄▅▅▆▇█ "), "{line}");
    assert!(line.trim_end().ends_with("max 32"), "{line}");
    drop((behind, p));
}

/// A minimal HTTP/1.0 GET: status code and body.
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, body.to_string())
}

/// Starts the exporter on a free port; returns it and its address.
fn exporter(args: &[&str]) -> (Kill, String) {
    let mut child = Kill::spawn(
        Command::new(SLIPSTREAM)
            .arg("exporter")
            .args(args)
            .args(["--listen", "127.0.0.1:0", "--window", "50ms"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    );
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stdout = BufReader::new(child.child().stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    assert!(Instant::now() < deadline);
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, addr)
}

fn value(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no {metric} {labels:?} in the scrape"));
    match s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        ref other => panic!("{metric}: {other:?}"),
    }
}

/// The exporter, scraped as Prometheus would, its exposition parsed by a
/// Prometheus text parser; /healthz by its rules.
#[test]
fn exporter_serves_metrics_a_prometheus_parser_reads_and_healthz() {
    let ring = Ring::new("exporter");
    let other = Ring::new("exporter-b");
    let mut p = producer(&ring.0);
    let _q = producer(&other.0);
    publish(&mut p, 4, 3); // 20 records
    let reader = claim(&ring.0, "reader");
    at(&reader, 16, 15); // lag 5
    reader.count(0, 9); // once lapped, 9 missed
    drop({
        let old = claim(&ring.0, "old");
        at(&old, 21, 20);
        old
    });
    let r = ring.0.to_str().unwrap();
    let missing = ring.0.with_extension("missing");
    let (_child, addr) = exporter(&[r, other.0.to_str().unwrap(), missing.to_str().unwrap()]);

    let (code, body) = get(&addr, "/metrics");
    assert_eq!(code, 200, "{body}");
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();
    let ring_l = [("ring", r)];
    assert_eq!(value(&scrape, "slipstream_up", &ring_l), 1.0);
    assert_eq!(
        value(
            &scrape,
            "slipstream_up",
            &[("ring", missing.to_str().unwrap())]
        ),
        0.0
    );
    assert_eq!(value(&scrape, "slipstream_producer_up", &ring_l), 1.0);
    assert_eq!(
        value(&scrape, "slipstream_producer_events_total", &ring_l),
        20.0
    );
    // 12 updates of 135 B and 8 markers of 32 B, whole records.
    assert!(value(&scrape, "slipstream_producer_bytes_total", &ring_l) >= 12.0 * 135.0);
    assert_eq!(
        value(&scrape, "slipstream_producer_blocks_total", &ring_l),
        4.0
    );
    assert_eq!(
        value(&scrape, "slipstream_producer_starts_total", &ring_l),
        1.0
    );
    assert_eq!(
        value(
            &scrape,
            "slipstream_producer_refused_events_total",
            &[("ring", r), ("reason", "too_large")]
        ),
        0.0
    );
    assert_eq!(value(&scrape, "slipstream_head_sequence", &ring_l), 20.0);
    assert_eq!(
        value(
            &scrape,
            "slipstream_head_sequence",
            &[("ring", other.0.to_str().unwrap())]
        ),
        0.0
    );
    let c = |name| [("ring", r), ("consumer", name)];
    assert_eq!(
        value(&scrape, "slipstream_consumer_lag_events", &c("reader")),
        5.0
    );
    assert_eq!(
        value(&scrape, "slipstream_consumer_lag_events", &c("old")),
        0.0
    );
    assert_eq!(value(&scrape, "slipstream_consumer_up", &c("reader")), 1.0);
    assert_eq!(value(&scrape, "slipstream_consumer_up", &c("old")), 0.0);
    assert_eq!(
        value(&scrape, "slipstream_consumer_lapped_total", &c("reader")),
        1.0
    );
    assert_eq!(
        value(
            &scrape,
            "slipstream_consumer_missed_events_total",
            &c("reader")
        ),
        9.0
    );
    assert_eq!(
        value(
            &scrape,
            "slipstream_consumer_delivered_events_total",
            &c("reader")
        ),
        15.0
    );
    let progress = value(
        &scrape,
        "slipstream_consumer_last_progress_seconds",
        &c("reader"),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - 60.0..=now + 1.0).contains(&progress),
        "{progress} vs {now}"
    );
    let state = |name, st| {
        value(
            &scrape,
            "slipstream_consumer_state",
            &[("ring", r), ("consumer", name), ("state", st)],
        )
    };
    assert_eq!(state("reader", "healthy"), 1.0);
    assert_eq!(state("reader", "dead"), 0.0);
    assert_eq!(state("old", "dead"), 1.0);
    assert!(scrape.docs.contains_key("slipstream_consumer_lag_events"));

    // /healthz: the missing ring and the dead consumer make it 503, with reasons.
    let (code, body) = get(&addr, "/healthz");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("cannot be read"), "{body}");
    assert!(
        body.contains("old: dead: no live process holds the name"),
        "{body}"
    );
    assert_eq!(get(&addr, "/nope").0, 404);
    drop(_child);

    // Only the healthy consumer checked, on the readable rings: 200.
    let (_child, addr) = exporter(&[r, "--consumer", "reader"]);
    let (code, body) = get(&addr, "/healthz");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("OK: 1 consumer(s) healthy"), "{body}");
    drop(p);
    let (code, body) = get(&addr, "/healthz");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("producer: not alive"), "{body}");
    drop(reader);
}

/// `--journal RING=DIR` over HTTP: the journal's metrics in the scrape, and
/// /healthz by the journal's rule (the recorder's cursor, `slipstream-journal`,
/// must be there and alive). A journal for a ring not among the RINGs is refused.
#[test]
fn exporter_serves_a_rings_journal() {
    let ring = Ring::new("exporter-journal");
    let dir = ring.0.with_extension("journal");
    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _dir = Dir(dir.clone());
    let mut p = producer(&ring.0);
    publish(&mut p, 2, 1); // seq 1..=6
    let (mut w, _) =
        slipstream_journal::JournalWriter::open(&dir, slipstream_journal::WriterOptions::default())
            .unwrap();
    // The first 4 records, as a recorder would have appended them.
    let file = std::fs::File::open(&ring.0).unwrap();
    let mut r = slipstream_ring::Reader::attach(&file, slipstream_ring::Start::Oldest).unwrap();
    while let Some(slipstream_ring::Item::Record(x)) = r.try_next().unwrap() {
        if x.seq <= 4 {
            w.append(x.seq, x.kind, x.payload).unwrap();
        }
    }
    w.flush().unwrap();
    let rs = ring.0.to_str().unwrap();
    let ds = dir.to_str().unwrap();
    let journal = format!("{rs}={ds}");

    let (code, _, err) = run(&[
        "exporter",
        rs,
        "--journal",
        &format!("{rs}.other={ds}"),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("is not one of the RING arguments"), "{err}");

    // No recorder cursor yet: the metrics are there, /healthz is 503.
    let (child, addr) = exporter(&[rs, "--journal", &journal]);
    let (code, body) = get(&addr, "/metrics");
    assert_eq!(code, 200, "{body}");
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();
    let jl = [("ring", rs), ("journal", ds)];
    assert_eq!(value(&scrape, "slipstream_journal_up", &jl), 1.0);
    assert_eq!(
        value(&scrape, "slipstream_journal_first_sequence", &jl),
        1.0
    );
    assert_eq!(value(&scrape, "slipstream_journal_next_sequence", &jl), 5.0);
    assert_eq!(value(&scrape, "slipstream_journal_lag_events", &jl), 2.0);
    assert_eq!(value(&scrape, "slipstream_journal_segments", &jl), 1.0);
    let (code, body) = get(&addr, "/healthz");
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("its recorder has no cursor (no consumer named slipstream-journal)"),
        "{body}"
    );
    drop(child);
    // `stat --check --journal` by the same rule, with the journal's line.
    let stat_check = || run(&["stat", rs, "--check", "--interval", "50ms", "--journal", ds]);
    let (code, out, err) = stat_check();
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("its recorder has no cursor"), "{out}");
    assert!(!out.contains("OK:"), "{out}");
    assert!(out.contains("seq 1..=4"), "{out}");
    assert!(out.contains("behind the ring by 2 events"), "{out}");

    // A live recorder cursor, caught up: 200.
    let rec = claim(&ring.0, "slipstream-journal");
    at(&rec, 7, 6);
    let (_child, addr) = exporter(&[rs, "--journal", &journal]);
    let (code, body) = get(&addr, "/healthz");
    assert_eq!(code, 200, "{body}");
    let (code, out, err) = stat_check();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("OK: 1 consumer(s) healthy"), "{out}");
    assert!(out.contains("behind the ring by 2 events"), "{out}");
    drop((rec, w, p));
}
