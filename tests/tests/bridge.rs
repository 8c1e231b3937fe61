//! `slipstream-bridge` against a real `nats-server` (JetStream) of each
//! test's own: SIGKILL loops of the bridge and of the server while the
//! simulated node writes, a stream deleted under the bridge, bad URLs,
//! refused credentials and bad names; and remote consumers (the SDK's
//! `RemoteConsumer`, `slipstream-tail --nats`) against the ring's own items.
//!
//! What the stream holds is checked by a plain JetStream subscriber that
//! reads every message of the stream: the ring sequences it covers must run
//! 1, 2, 3... with no repeat and no hole, each event byte for byte what the
//! ring holds. Kill counts: `SLIPSTREAM_BRIDGE_KILLS` (default 30) bridge
//! kills, `SLIPSTREAM_SERVER_KILLS` (default 4) server kills.

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy};
use futures_util::StreamExt;
use nix::sys::signal::Signal;
use slipstream_consumer::remote::{parse_headers, Header, RemoteConsumer};
use slipstream_consumer::{
    BlockItem, Consumer, EventKind, Item, OwnedEvent, OwnedItem, ProducerChange, Start,
};
use slipstream_tests::process::wait_until;
use slipstream_tests::rng::Rng;
use slipstream_tests::{wait_for_ring, workspace_bin, ChildGuard, NatsServer, TempRing};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The simulated node, paced, small blocks (so that a 64 MiB ring holds the whole run).
fn sim(ring: &Path, extra: &[&str]) -> ChildGuard {
    let child = Command::new(workspace_bin("slipstream-sim"))
        .arg(ring)
        .args([
            "--events-per-block",
            "20..200",
            "--stakers",
            "1..5",
            "--block-size",
            "512B..4KiB",
            "--capacity",
            "64MiB",
            "--quiet",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start slipstream-sim");
    ChildGuard::new(child)
}

fn bridge_cmd(ring: &Path, url: &str, stream: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(workspace_bin("slipstream-bridge"));
    c.arg(ring)
        .args(["--nats", url, "--stream", stream, "--report-every", "0"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// Runs a command to its end (at most `limit`): status and stderr.
fn run(mut cmd: Command, limit: Duration) -> (std::process::ExitStatus, String) {
    let mut g = ChildGuard::new(cmd.stderr(Stdio::piped()).spawn().expect("spawn"));
    let status = g.wait_timeout(limit, "the command");
    let mut err = String::new();
    use std::io::Read;
    g.take()
        .stderr
        .take()
        .map(|mut e| e.read_to_string(&mut err));
    (status, err)
}

/// Every event in the ring, from the oldest: (seq, kind, payload).
fn ring_events(ring: &Path) -> Vec<OwnedEvent> {
    let mut c = Consumer::builder(ring)
        .start(Start::Oldest)
        .open()
        .expect("attach");
    let mut out = Vec::new();
    while let Some(item) = c.try_next().expect("read the ring") {
        match item {
            Item::Event(e) => out.push(OwnedEvent::from(&e)),
            Item::Lagged(l) => panic!("the ring lapped the checker: {l:?}"),
            Item::Producer(_) => {}
        }
    }
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// One message of the stream, as a plain subscriber sees it.
struct Msg {
    subject: String,
    headers: async_nats::HeaderMap,
    payload: Vec<u8>,
}

/// Reads every message of the stream, in stream order.
fn read_stream(url: &str, stream: &str) -> Vec<Msg> {
    let rt = runtime();
    rt.block_on(async {
        let client = slipstream_consumer::remote::connect(url, Duration::from_secs(5))
            .await
            .expect("connect");
        let js = jetstream::new(client);
        let s = js.get_stream(stream).await.expect("the stream exists");
        let total = s.cached_info().state.messages;
        let consumer = s
            .create_consumer(pull::Config {
                ack_policy: AckPolicy::None,
                ..Default::default()
            })
            .await
            .expect("consumer");
        let mut messages = consumer.messages().await.expect("messages");
        let mut out = Vec::new();
        while (out.len() as u64) < total {
            let m = tokio::time::timeout(Duration::from_secs(20), messages.next())
                .await
                .expect("the stream's messages came in time")
                .expect("more messages")
                .expect("a message");
            out.push(Msg {
                subject: m.subject.to_string(),
                headers: m.headers.clone().expect("headers"),
                payload: m.payload.to_vec(),
            });
        }
        out
    })
}

/// How long the lapped-bridge test waits for each step it waits on.
const WAIT: Duration = Duration::from_secs(60);

/// How many messages the stream holds (0 if it does not exist yet).
fn stream_len(url: &str, stream: &str) -> u64 {
    runtime().block_on(async {
        let client = slipstream_consumer::remote::connect(url, Duration::from_secs(5))
            .await
            .expect("connect");
        match jetstream::new(client).get_stream(stream).await {
            Ok(s) => s.cached_info().state.messages,
            Err(_) => 0,
        }
    })
}

/// Checks that the stream holds every event of the ring exactly once, in
/// order, byte for byte; returns (events, gap messages, producer messages).
fn check_exactly_once(msgs: &[Msg], ring: &[OwnedEvent]) -> (u64, u64, u64) {
    let by_seq: std::collections::HashMap<u64, &OwnedEvent> =
        ring.iter().map(|e| (e.seq, e)).collect();
    let mut expected = 1u64;
    let (mut events, mut gaps, mut producers) = (0, 0, 0);
    for (i, m) in msgs.iter().enumerate() {
        let p = parse_headers(Some(&m.headers))
            .unwrap_or_else(|e| panic!("stream message {} is not a bridge's: {e}", i + 1));
        assert_eq!(
            p.first_seq(),
            expected,
            "stream message {} (subject {}) starts at ring sequence {} where {expected} was due: {}",
            i + 1,
            m.subject,
            p.first_seq(),
            if p.first_seq() < expected {
                "a duplicate"
            } else {
                "a hole"
            }
        );
        match p.header {
            Header::Event { seq, kind, .. } => {
                let ev = by_seq
                    .get(&seq)
                    .unwrap_or_else(|| panic!("event #{seq} is not in the ring"));
                assert_eq!(ev.kind().as_u16(), kind, "event #{seq}: kind");
                assert_eq!(ev.payload(), &m.payload[..], "event #{seq}: bytes differ");
                assert!(
                    m.subject
                        .starts_with(&format!("slipstream.{}", ev.kind().name())),
                    "{}",
                    m.subject
                );
                assert_eq!(
                    m.headers.get("Nats-Msg-Id").unwrap().as_str(),
                    format!("{:016x}:{seq}", p.ring_id)
                );
                events += 1;
            }
            Header::Gap(_) => gaps += 1,
            Header::Producer(_) => producers += 1,
        }
        expected = p.next_seq;
    }
    let last_ring = ring.last().map_or(0, |e| e.seq);
    assert_eq!(
        expected,
        last_ring + 1,
        "the stream ends before the ring's last event"
    );
    (events, gaps, producers)
}

/// Stops the simulator (it commits its block and exits 0).
fn stop_sim(mut sim: ChildGuard) {
    sim.signal(Signal::SIGTERM);
    let status = sim.wait_timeout(Duration::from_secs(30), "slipstream-sim");
    assert!(status.success(), "slipstream-sim: {status}");
}

/// Lets a bridge run until everything in the ring is in the stream.
fn drain(ring: &Path, url: &str, stream: &str) {
    let (status, err) = run(
        bridge_cmd(ring, url, stream, &["--exit-when-idle", "1s"]),
        Duration::from_secs(120),
    );
    assert!(status.success(), "the draining bridge failed: {err}");
}

#[test]
fn bridge_killed_at_random_moments_publishes_every_event_exactly_once() {
    let server = NatsServer::start();
    let ring = TempRing::new("bridge-kill");
    let node = sim(ring.path(), &["--rate", "40"]);
    wait_for_ring(ring.path());
    let kills = env_count("SLIPSTREAM_BRIDGE_KILLS", 30);
    let mut rng = Rng::new(0x5117_57ea);
    let started = Instant::now();
    for _ in 0..kills {
        let mut b = ChildGuard::new(
            bridge_cmd(ring.path(), &server.url(), "EVENTS", &[])
                .stderr(Stdio::null())
                .spawn()
                .expect("start the bridge"),
        );
        // From the first milliseconds (connecting, resynchronising) to well into publishing.
        std::thread::sleep(Duration::from_millis(5 + rng.below(400)));
        b.signal(Signal::SIGKILL);
        let status = b.wait_timeout(Duration::from_secs(10), "the killed bridge");
        assert!(
            status.code().is_none(),
            "the bridge exited by itself ({status}) instead of being killed"
        );
    }
    stop_sim(node);
    drain(ring.path(), &server.url(), "EVENTS");
    let msgs = read_stream(&server.url(), "EVENTS");
    let ring_events = ring_events(ring.path());
    let (events, gaps, producers) = check_exactly_once(&msgs, &ring_events);
    eprintln!(
        "{kills} SIGKILLs of the bridge in {:?}: the stream holds {} messages: {events} events (every one of the ring's {}, once, in order), {gaps} gaps, {producers} producer changes",
        started.elapsed(),
        msgs.len(),
        ring_events.len()
    );
    assert_eq!(gaps, 0, "the ring never lapped the bridge: no gap is due");
    assert_eq!(events, ring_events.len() as u64);
}

#[test]
fn server_killed_and_restarted_under_the_bridge_loses_and_repeats_nothing() {
    let mut server = NatsServer::start();
    let ring = TempRing::new("bridge-server-kill");
    let node = sim(ring.path(), &["--rate", "40"]);
    wait_for_ring(ring.path());
    let url = server.url();
    let mut bridge = ChildGuard::new(
        bridge_cmd(ring.path(), &url, "EVENTS", &["--ack-timeout", "1s"])
            .stderr(Stdio::null())
            .spawn()
            .expect("bridge"),
    );
    let kills = env_count("SLIPSTREAM_SERVER_KILLS", 4);
    let mut rng = Rng::new(0x5e7e_7001);
    for _ in 0..kills {
        std::thread::sleep(Duration::from_millis(300 + rng.below(700)));
        server.kill();
        std::thread::sleep(Duration::from_millis(100 + rng.below(500)));
        server.restart();
        assert_eq!(server.url(), url, "restarted on the same port");
    }
    std::thread::sleep(Duration::from_millis(500));
    stop_sim(node);
    // The bridge that lived through the restarts catches up; then it is stopped.
    let last = Consumer::builder(ring.path())
        .start(Start::End)
        .open()
        .unwrap()
        .next_seq();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let msgs = read_stream(&url, "EVENTS");
        let end = msgs
            .last()
            .map(|m| parse_headers(Some(&m.headers)).unwrap().next_seq);
        if end == Some(last) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the bridge did not catch up after the server restarts (stream ends at {end:?}, ring at {last})"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    bridge.signal(Signal::SIGTERM);
    let status = bridge.wait_timeout(Duration::from_secs(20), "the bridge after SIGTERM");
    assert_eq!(status.code(), Some(143), "{status}");
    let msgs = read_stream(&url, "EVENTS");
    let (events, gaps, _) = check_exactly_once(&msgs, &ring_events(ring.path()));
    eprintln!(
        "{kills} SIGKILLs of nats-server under the bridge: {events} events once each, in order, {gaps} gaps"
    );
    assert_eq!(gaps, 0);
}

#[test]
fn a_stream_deleted_under_the_bridge_is_a_clear_error() {
    let server = NatsServer::start();
    let ring = TempRing::new("bridge-delete");
    let node = sim(ring.path(), &["--rate", "40"]);
    wait_for_ring(ring.path());
    let mut b = ChildGuard::new(
        bridge_cmd(
            ring.path(),
            &server.url(),
            "DOOMED",
            &["--ack-timeout", "1s"],
        )
        .spawn()
        .expect("bridge"),
    );
    let rt = runtime();
    rt.block_on(async {
        let js = jetstream::new(async_nats::connect(server.url()).await.unwrap());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(s) = js.get_stream("DOOMED").await {
                if s.cached_info().state.messages > 100 {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the bridge never filled the stream"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        js.delete_stream("DOOMED").await.expect("delete");
    });
    let status = b.wait_timeout(
        Duration::from_secs(30),
        "the bridge after the stream's deletion",
    );
    let mut err = String::new();
    use std::io::Read;
    b.take()
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{status}: {err}");
    assert!(err.contains("\"DOOMED\" was deleted"), "{err}");
    drop(node);
}

#[test]
fn bad_urls_refused_credentials_and_bad_names_are_clear_errors() {
    let ring = TempRing::new("bridge-errors");
    let node = sim(ring.path(), &["--blocks", "3", "--rate", "100"]);
    wait_for_ring(ring.path());
    let limit = Duration::from_secs(30);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--nats".into(), "nats://127.0.0.1:notaport".into()],
            "invalid NATS URL",
        ),
        (
            vec![
                "--nats".into(),
                "nats://127.0.0.1:1".into(),
                "--give-up-after".into(),
                "1s".into(),
            ],
            "cannot connect to NATS at nats://127.0.0.1:1",
        ),
    ];
    for (args, want) in cases {
        let mut c = Command::new(workspace_bin("slipstream-bridge"));
        c.arg(ring.path())
            .args(&args)
            .args(["--stream", "S"])
            .stdout(Stdio::null());
        let (status, err) = run(c, limit);
        assert_eq!(status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: wanted {want:?} in: {err}");
    }

    let server = NatsServer::start_with(&["--user", "bridge", "--pass", "s3cret"]);
    let good = format!("nats://bridge:s3cret@127.0.0.1:{}", server.port);
    for (url, want) in [
        (server.url(), "authorization violation"),
        (
            format!("nats://bridge:wrong@127.0.0.1:{}", server.port),
            "authorization violation",
        ),
    ] {
        let (status, err) = run(bridge_cmd(ring.path(), &url, "S", &[]), limit);
        assert_eq!(status.code(), Some(1), "{url}: {err}");
        assert!(err.contains(want), "{url}: {err}");
        assert!(!err.contains("wrong@"), "the password is not shown: {err}");
    }
    for (extra, want) in [
        (
            vec!["--subject-prefix", "two words"],
            "subject prefix \"two words\" is not valid",
        ),
        (vec!["--subject-prefix", "a..b"], "empty token"),
        (vec!["--subject-prefix", "events.>"], "wildcards"),
    ] {
        let (status, err) = run(bridge_cmd(ring.path(), &good, "S", &extra), limit);
        assert_eq!(status.code(), Some(1), "{extra:?}: {err}");
        assert!(err.contains(want), "{extra:?}: {err}");
    }
    let (status, err) = run(bridge_cmd(ring.path(), &good, "a.b", &[]), limit);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("stream name \"a.b\" is not valid"), "{err}");
    stop_sim(node);
    // The right credentials work.
    drain(ring.path(), &good, "S");
    let msgs = read_stream(&good, "S");
    check_exactly_once(&msgs, &ring_events(ring.path()));
}

/// A ring with a finished run of blocks, bridged into a stream.
fn bridged(tag: &str, blocks: &str) -> (NatsServer, TempRing) {
    let server = NatsServer::start();
    let ring = TempRing::new(tag);
    let mut node = sim(ring.path(), &["--blocks", blocks, "--flat-out"]);
    let status = node.wait_timeout(Duration::from_secs(60), "slipstream-sim");
    assert!(status.success());
    drain(ring.path(), &server.url(), "EVENTS");
    (server, ring)
}

fn remote_items(c: &mut RemoteConsumer, n: usize) -> Vec<OwnedItem> {
    let mut out = Vec::new();
    while out.len() < n {
        match c.next(Duration::from_secs(10)).expect("remote read") {
            Some(item) => out.push(OwnedItem::from_item(&item)),
            None => panic!("only {} of {n} items came", out.len()),
        }
    }
    out
}

#[test]
fn remote_consumer_yields_the_ring_consumers_items_blocks_and_starts() {
    let (server, ring) = bridged("remote-same", "30");
    let mut local = Consumer::builder(ring.path())
        .start(Start::Oldest)
        .open()
        .unwrap();
    let mut want = Vec::new();
    while let Some(item) = local.try_next().unwrap() {
        want.push(OwnedItem::from_item(&item));
    }
    let mut remote = RemoteConsumer::builder(server.url(), "EVENTS")
        .start(Start::Oldest)
        .open()
        .expect("open remote");
    // The bridge also saw the simulator close the ring: one more item.
    let mut got = remote_items(&mut remote, want.len() + 1);
    assert!(remote.next(Duration::from_millis(300)).unwrap().is_none());
    assert!(
        matches!(
            got.pop(),
            Some(OwnedItem::Producer(ProducerChange::Closed { .. }))
        ),
        "the producer's close travels last"
    );
    assert_eq!(
        got, want,
        "the remote consumer yields the ring consumer's items"
    );

    // Blocks: the same as next_block on the ring.
    let mut local = Consumer::builder(ring.path())
        .start(Start::Oldest)
        .open()
        .unwrap();
    let mut remote = RemoteConsumer::builder(server.url(), "EVENTS")
        .open()
        .unwrap();
    for _ in 0..30 {
        let a = local.next_block(Duration::from_secs(5)).unwrap().unwrap();
        let b = remote.next_block(Duration::from_secs(5)).unwrap().unwrap();
        assert!(matches!(a, BlockItem::Block(_)), "{a:?}");
        assert_eq!(a, b);
    }

    // Starts: a sequence, a height, and out-of-range errors.
    let mid = want.len() as u64 / 2;
    let mut at = RemoteConsumer::builder(server.url(), "EVENTS")
        .start(Start::Seq(mid))
        .open()
        .unwrap();
    match at.next(Duration::from_secs(5)).unwrap() {
        Some(Item::Event(e)) => assert_eq!(e.seq, mid),
        other => panic!("{other:?}"),
    }
    let mut h = RemoteConsumer::builder(server.url(), "EVENTS")
        .start(Start::Height(17))
        .open()
        .unwrap();
    match h.next(Duration::from_secs(5)).unwrap() {
        Some(Item::Event(e)) => assert!(
            matches!(
                e.event,
                slipstream_consumer::EventRef::BlockBegin {
                    block_height: 17,
                    ..
                }
            ),
            "{:?}",
            e.event
        ),
        other => panic!("{other:?}"),
    }
    // Messages the stream no longer holds when a running consumer gets to
    // them (deleted here, as retention would): reported with their heights
    // as the ring consumer's rules give them.
    let mut c = RemoteConsumer::builder(server.url(), "EVENTS")
        .open()
        .unwrap();
    remote_items(&mut c, 10);
    let (gone, around) = (2000u64..=2009, [1999u64, 2010]);
    let rt = runtime();
    let heights: Vec<(u16, u64)> = rt.block_on(async {
        let client = slipstream_consumer::remote::connect(&server.url(), Duration::from_secs(5))
            .await
            .unwrap();
        let s = jetstream::new(client).get_stream("EVENTS").await.unwrap();
        let mut out = Vec::new();
        for seq in around {
            let m = s.get_raw_message(seq).await.unwrap();
            match parse_headers(Some(&m.headers)).unwrap().header {
                Header::Event { kind, height, .. } => out.push((kind, height)),
                other => panic!("{other:?}"),
            }
        }
        for seq in gone.clone() {
            assert!(s.delete_message(seq).await.unwrap());
        }
        out
    });
    let lag = loop {
        match c.next(Duration::from_secs(5)).unwrap() {
            Some(Item::Lagged(m)) => break m,
            Some(_) => {}
            None => panic!("no lag reported for the deleted messages"),
        }
    };
    // Stream and ring sequences are one to one in this stream (no gap message).
    let ((bk, bh), (ak, ah)) = (heights[0], heights[1]);
    let (first, first_partial) = if bk == EventKind::BlockCommit.as_u16() {
        (bh + 1, false)
    } else {
        (bh, true)
    };
    let (last, last_partial) = if ak == EventKind::BlockBegin.as_u16() {
        ((ah - 1).max(first), false)
    } else {
        (ah, true)
    };
    assert_eq!(
        lag,
        slipstream_consumer::Missed {
            first_missed: *gone.start(),
            last_missed: *gone.end(),
            first_height: Some(first),
            last_height: Some(last),
            first_partial,
            last_partial,
        }
    );
    match c.next(Duration::from_secs(5)).unwrap() {
        Some(Item::Event(e)) => assert_eq!(e.seq, 2010),
        other => panic!("{other:?}"),
    }
    drop(c);

    let err = RemoteConsumer::builder(server.url(), "NOPE")
        .open()
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"NOPE\" does not exist"), "{err}");
}

#[test]
fn named_remote_consumer_resumes_after_what_it_committed() {
    let (server, _ring) = bridged("remote-named", "10");
    let mut first = RemoteConsumer::builder(server.url(), "EVENTS")
        .name("indexer")
        .open()
        .unwrap();
    let items = remote_items(&mut first, 100);
    first.commit();
    drop(first);
    let last = match &items[99] {
        OwnedItem::Event(e) => e.seq,
        other => panic!("{other:?}"),
    };
    let mut again = RemoteConsumer::builder(server.url(), "EVENTS")
        .name("indexer")
        .start(Start::Oldest)
        .open()
        .unwrap();
    match again.next(Duration::from_secs(5)).unwrap() {
        Some(Item::Event(e)) => assert_eq!(e.seq, last + 1, "resumes after the committed event"),
        other => panic!("{other:?}"),
    }
    drop(again);

    // Dropped without a commit: what the application moved past is
    // acknowledged, the item in flight is not; it comes again.
    let mut c = RemoteConsumer::builder(server.url(), "EVENTS")
        .name("dropper")
        .open()
        .unwrap();
    let items = remote_items(&mut c, 50);
    drop(c);
    let mut c = RemoteConsumer::builder(server.url(), "EVENTS")
        .name("dropper")
        .open()
        .unwrap();
    let again = remote_items(&mut c, 1);
    assert_eq!(again[0], items[49], "the item in flight comes again");
    drop(c);

    // next_block: acknowledged only at block boundaries; the block in
    // flight comes again whole, also after an event API left a cursor inside it.
    let mut c = RemoteConsumer::builder(server.url(), "EVENTS")
        .name("blocks")
        .open()
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        match c.next_block(Duration::from_secs(5)).unwrap() {
            Some(BlockItem::Block(b)) => got.push(b),
            other => panic!("{other:?}"),
        }
    }
    // An event API enters the fourth block; next_block goes back to its
    // begin marker and hands it out whole.
    let part = remote_items(&mut c, 2);
    match &part[0] {
        OwnedItem::Event(e) => assert_eq!(e.seq, got[2].commit_seq + 1),
        other => panic!("{other:?}"),
    }
    let fourth = match c.next_block(Duration::from_secs(5)).unwrap() {
        Some(BlockItem::Block(b)) => b,
        other => panic!("{other:?}"),
    };
    assert_eq!(fourth.begin_seq, got[2].commit_seq + 1);
    assert_eq!(fourth.height, got[2].height + 1);
    drop(c);
    let mut c = RemoteConsumer::builder(server.url(), "EVENTS")
        .name("blocks")
        .open()
        .unwrap();
    match c.next_block(Duration::from_secs(5)).unwrap() {
        Some(BlockItem::Block(b)) => assert_eq!(b, fourth, "the block in flight comes again"),
        other => panic!("{other:?}"),
    }
    drop(c);

    // A cursor acknowledged inside a block: next_block reports the rest of
    // that block as missed, partial, and goes on at the next block.
    let mut c = RemoteConsumer::builder(server.url(), "EVENTS")
        .name("inside")
        .open()
        .unwrap();
    let part = remote_items(&mut c, 3);
    c.commit();
    drop(c);
    let third = match &part[2] {
        OwnedItem::Event(e) => e.seq,
        other => panic!("{other:?}"),
    };
    let mut c = RemoteConsumer::builder(server.url(), "EVENTS")
        .name("inside")
        .open()
        .unwrap();
    let rest = match c.next_block(Duration::from_secs(5)).unwrap() {
        Some(BlockItem::Lagged(m)) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(rest.first_missed, third + 1, "{rest}");
    assert!(rest.first_partial && !rest.last_partial, "{rest}");
    assert_eq!(rest.first_height, rest.last_height, "{rest}");
    match c.next_block(Duration::from_secs(5)).unwrap() {
        Some(BlockItem::Block(b)) => {
            assert_eq!(b.begin_seq, rest.last_missed + 1);
            assert_eq!(Some(b.height), rest.last_height.map(|h| h + 1));
        }
        other => panic!("{other:?}"),
    }
    drop(c);

    let mut reset = RemoteConsumer::builder(server.url(), "EVENTS")
        .name("indexer")
        .reset(true)
        .start(Start::Seq(5))
        .open()
        .unwrap();
    match reset.next(Duration::from_secs(5)).unwrap() {
        Some(Item::Event(e)) => assert_eq!(e.seq, 5),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_lapped_bridge_publishes_the_exact_gap_and_remote_consumers_see_it() {
    let server = NatsServer::start();
    let ring = TempRing::new("bridge-lapped");
    // A small ring, the bridge stopped while the node writes: it is lapped.
    let node = sim(
        ring.path(),
        &[
            "--rate",
            "200",
            "--capacity",
            "1MiB",
            "--max-event",
            "64KiB",
        ],
    );
    wait_for_ring(ring.path());
    let b = ChildGuard::new(
        bridge_cmd(ring.path(), &server.url(), "EVENTS", &[])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Stopped only once it has published: a bridge stopped before it read
    // anything would resume into a gap whose first height it cannot know
    // (`Missed::first_height` is `None` then, as documented).
    wait_until("the bridge publishes its first message", WAIT, || {
        stream_len(&server.url(), "EVENTS") > 0
    });
    b.signal(Signal::SIGSTOP);
    std::thread::sleep(Duration::from_millis(1500));
    b.signal(Signal::SIGCONT);
    // Killed only once the lap is published with an event after it, so that
    // the gap checked below is the running bridge's `lapped` one (a fixed
    // sleep raced this on a loaded machine: the bridge was killed before it
    // ran again, and the drain's gap had no heights to give).
    wait_until(
        "the resumed bridge publishes its lap and an event after it",
        WAIT,
        || {
            let msgs = read_stream(&server.url(), "EVENTS");
            msgs.iter()
                .position(|m| {
                    m.headers.get("Slipstream-Gap-Reason").map(|v| v.as_str()) == Some("lapped")
                })
                .is_some_and(|i| i + 1 < msgs.len())
        },
    );
    b.signal(Signal::SIGKILL);
    drop(b);
    stop_sim(node);
    drain(ring.path(), &server.url(), "EVENTS");
    let msgs = read_stream(&server.url(), "EVENTS");
    let parsed: Vec<_> = msgs
        .iter()
        .map(|m| parse_headers(Some(&m.headers)).unwrap())
        .collect();
    let mut gaps = Vec::new();
    let mut expected = 1;
    for p in &parsed {
        assert_eq!(p.first_seq(), expected, "no duplicate, no hole");
        if let Header::Gap(missed) = p.header {
            gaps.push(missed);
        }
        expected = p.next_seq;
    }
    let last_seq = expected - 1;
    assert!(
        !gaps.is_empty(),
        "the bridge was lapped: a gap message is due"
    );

    // The heights of each `lapped` gap are what the ring consumer's rules
    // (`Missed`'s docs) give from the events on either side of it.
    let event = |p: &slipstream_consumer::remote::Parsed| match p.header {
        Header::Event { kind, height, .. } => Some((kind, height)),
        _ => None,
    };
    let (begin, commit) = (
        EventKind::BlockBegin.as_u16(),
        EventKind::BlockCommit.as_u16(),
    );
    let mut checked = 0;
    for (i, m) in msgs.iter().enumerate() {
        let Header::Gap(g) = parsed[i].header else {
            continue;
        };
        if m.headers.get("Slipstream-Gap-Reason").unwrap().as_str() != "lapped" {
            continue;
        }
        assert!(
            g.first_height.is_some() && g.last_height.is_some(),
            "a lapped gap carries its heights: {g}"
        );
        let before = parsed[..i].iter().rev().find_map(event);
        let after = parsed.get(i + 1).and_then(event);
        if let (Some((bk, bh)), Some((ak, ah))) = (before, after) {
            let (first, first_partial) = if bk == commit {
                (bh + 1, false)
            } else {
                (bh, true)
            };
            let (last, last_partial) = if ak == begin {
                ((ah - 1).max(first), false)
            } else {
                (ah, true)
            };
            assert_eq!(
                (g.first_height, g.first_partial, g.last_height, g.last_partial),
                (Some(first), first_partial, Some(last), last_partial),
                "gap {g}: between an event of kind {bk} at height {bh} and one of kind {ak} at height {ah}"
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no lapped gap between two events: {gaps:?}");

    // The remote consumer's Missed items are the bridge's ring consumer's,
    // heights and partial flags included.
    let mut remote = RemoteConsumer::builder(server.url(), "EVENTS")
        .open()
        .unwrap();
    let mut lags = Vec::new();
    while let Some(item) = remote.next(Duration::from_millis(500)).unwrap() {
        if let Item::Lagged(l) = item {
            lags.push(l);
        }
    }
    assert_eq!(lags, gaps, "the remote consumer reports each gap, exactly");
    eprintln!("gaps published and seen: {gaps:?}");

    // next_block over the gaps: whole blocks or whole-block reports, every
    // ring sequence accounted for once, in order.
    let mut info = std::collections::HashMap::new();
    for p in &parsed {
        if let Header::Event {
            seq, kind, height, ..
        } = p.header
        {
            info.insert(seq, (kind, height));
        }
    }
    let begin_at = |seq: u64| info.get(&seq).filter(|(k, _)| *k == begin).map(|(_, h)| *h);
    let mut remote = RemoteConsumer::builder(server.url(), "EVENTS")
        .open()
        .unwrap();
    let mut next = 1;
    let (mut blocks, mut reports) = (0, 0);
    while let Some(item) = remote.next_block(Duration::from_millis(500)).unwrap() {
        let (first, last) = match &item {
            BlockItem::Block(b) => {
                assert_eq!(begin_at(b.begin_seq), Some(b.height), "{item:?}");
                assert_eq!(info.get(&b.commit_seq), Some(&(commit, b.height)));
                assert_eq!(b.events.len() as u64, b.commit_seq - b.begin_seq - 1);
                for (e, seq) in b.events.iter().zip(b.begin_seq + 1..) {
                    assert_eq!(e.seq, seq, "a block's events are contiguous");
                    assert_eq!(info.get(&seq).map(|i| i.1), Some(b.height));
                }
                blocks += 1;
                (b.begin_seq, b.commit_seq)
            }
            BlockItem::Lagged(m) => {
                reports += 1;
                // Widened to whole blocks: it begins at a begin marker or
                // inside a gap, and ends before a begin marker (or at the end).
                if let Some((_, h)) = info.get(&m.first_missed) {
                    assert_eq!(
                        begin_at(m.first_missed),
                        Some(*h),
                        "a report begins at a block's begin marker: {m}"
                    );
                    assert_eq!(m.first_height, Some(*h), "{m}");
                    assert!(!m.first_partial, "{m}");
                }
                if m.last_missed < last_seq {
                    let h = begin_at(m.last_missed + 1)
                        .unwrap_or_else(|| panic!("{m} ends inside a block"));
                    assert_eq!(m.last_height, Some(h - 1), "{m}");
                }
                assert!(!m.last_partial, "{m}");
                (m.first_missed, m.last_missed)
            }
            BlockItem::Incomplete {
                height,
                first_seq,
                last_seq,
                ..
            } => {
                assert_eq!(begin_at(*first_seq), Some(*height), "{item:?}");
                (*first_seq, *last_seq)
            }
            BlockItem::Producer(_) => continue,
        };
        assert_eq!(first, next, "contiguous, no overlap: {item:?}");
        next = last + 1;
    }
    assert!(
        blocks > 0 && reports > 0,
        "{blocks} blocks, {reports} reports"
    );
    // The tail end: an open block the simulator closed (if any) is not owed yet.
    assert!(next <= last_seq + 1);
    let tail: Vec<_> = (next..=last_seq).filter_map(|s| info.get(&s)).collect();
    assert!(
        tail.first().is_none_or(|(k, _)| *k == begin),
        "what next_block did not hand out is an open block: {tail:?}"
    );
    assert!(tail.iter().all(|(k, _)| *k != commit), "{tail:?}");
}

#[test]
fn tail_nats_prints_what_tail_of_the_ring_prints() {
    let (server, ring) = bridged("tail-nats", "8");
    let out = |args: &[&str]| {
        let o = Command::new(workspace_bin("slipstream-tail"))
            .args(args)
            .args(["--from", "oldest", "--no-follow", "--json"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let local = out(&[ring.path().to_str().unwrap()]);
    let url = server.url();
    let remote = out(&["--nats", &url, "--stream", "EVENTS"]);
    assert!(local.lines().count() > 100);
    // The bridge saw the simulator close the ring; a tail of the ring that
    // does not wait does not: the one line more.
    let (producer, events): (Vec<&str>, Vec<&str>) =
        remote.lines().partition(|l| l.starts_with("{\"producer\""));
    assert_eq!(producer.len(), 1, "{producer:?}");
    assert!(producer[0].contains("\"closed\""));
    assert_eq!(events, local.lines().collect::<Vec<_>>());
}

#[test]
fn json_format_payloads_are_the_lines_tail_json_prints_and_read_back() {
    let server = NatsServer::start();
    let ring = TempRing::new("bridge-json");
    let mut node = sim(ring.path(), &["--blocks", "5", "--flat-out"]);
    assert!(node
        .wait_timeout(Duration::from_secs(60), "slipstream-sim")
        .success());
    let (status, err) = run(
        bridge_cmd(
            ring.path(),
            &server.url(),
            "JSON",
            &["--format", "json", "--exit-when-idle", "1s"],
        ),
        Duration::from_secs(60),
    );
    assert!(status.success(), "{err}");
    let o = Command::new(workspace_bin("slipstream-tail"))
        .arg(ring.path())
        .args(["--from", "oldest", "--no-follow", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let tail = String::from_utf8(o.stdout).unwrap();
    let published: Vec<String> = read_stream(&server.url(), "JSON")
        .into_iter()
        .filter(|m| m.headers.get("Slipstream-Message").unwrap().as_str() == "event")
        .map(|m| {
            assert_eq!(m.headers.get("Slipstream-Format").unwrap().as_str(), "json");
            String::from_utf8(m.payload).unwrap()
        })
        .collect();
    assert!(published.len() > 100);
    assert_eq!(published, tail.lines().collect::<Vec<_>>());
    // A remote consumer reads the json format back into the ring's events.
    let want = ring_events(ring.path());
    let mut remote = RemoteConsumer::builder(server.url(), "JSON")
        .open()
        .unwrap();
    let mut got = Vec::new();
    while got.len() < want.len() {
        match remote.next(Duration::from_secs(5)).unwrap() {
            Some(Item::Event(e)) => got.push(OwnedEvent::from(&e)),
            Some(_) => {}
            None => panic!("only {} of {} events", got.len(), want.len()),
        }
    }
    assert_eq!(got, want);
}

#[test]
fn remote_consumers_go_on_after_the_server_restarts() {
    let (mut server, ring) = bridged("remote-restart", "10");
    let want = ring_events(ring.path());
    for name in [None, Some("durable")] {
        let mut b = RemoteConsumer::builder(server.url(), "EVENTS");
        if let Some(n) = name {
            b = b.name(n);
        }
        let mut c = b.open().unwrap();
        let mut seqs = Vec::new();
        let mut restarted = false;
        while seqs.len() < want.len() {
            if !restarted && seqs.len() == want.len() / 2 {
                server.restart();
                restarted = true;
            }
            match c.next(Duration::from_secs(20)) {
                Ok(Some(Item::Event(e))) => seqs.push(e.seq),
                Ok(Some(Item::Lagged(l))) => panic!("{name:?}: lagged {l:?}"),
                Ok(Some(Item::Producer(_))) => {}
                Ok(None) => panic!("{name:?}: nothing for 20 s after {} events", seqs.len()),
                Err(e) => panic!("{name:?}: after {} events: {e}", seqs.len()),
            }
        }
        let expected: Vec<u64> = want.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs, expected,
            "{name:?}: every event once, in order, across the restart"
        );
    }
}
